# Control (a) of the mini reproduction: mosic_from_imgssl.py with static
# tracks (StaticTracker: every point stays at its frame-0 position, visible in
# every frame). Same loss, schedule and compute; no motion signal. Tracks are
# cached in <data_root>/track_cache/StaticTracker.
_base_ = ['./mosic_from_imgssl.py']

tracker = dict(type='StaticTracker')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadClip'),
    dict(type='LoadTracks', tracker=tracker, grid_size=16,
         on_missing='track', extract_cmd='python tools/extract_tracks.py '
         'configs/mini/mosic_static.py'),
    dict(type='ClipRandomResizedCrop', size=112, scale=(0.4, 1.0),
         ratio=(3 / 4, 4 / 3), interpolation='bilinear'),
    dict(type='ClipFlip', prob=0.5),
    dict(type='SelectTracks', num_tracks=64, grid_size=8),
    dict(type='PackTrackInputs'),
]))
