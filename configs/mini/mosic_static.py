# Control (a) of the mini reproduction: mosic_from_imgssl.py with static
# tracks (StaticTracker: every point stays at its frame-0 position, visible in
# every frame). Same loss, schedule and compute; no motion signal. Tracks are
# cached in <data_root>/track_cache/StaticTracker.
_base_ = ['./mosic_from_imgssl.py']

tracker = dict(type='StaticTracker')
# the inherited pipeline (mmengine's Python-syntax base access), with its
# LoadTracks (index 2) reading this tracker's cache
train_pipeline = _base_.train_pipeline
train_pipeline[2].update(
    tracker=tracker,
    extract_cmd='python tools/extract_tracks.py configs/mini/mosic_static.py')
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
