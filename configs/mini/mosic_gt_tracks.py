# MoSiC of mosic_from_imgssl.py on exact tracks (SyntheticGroundTruthTracker:
# the synthetic videos' ground truth for the same frame-0 query grid), the
# stand-in for the paper's CoTracker3, whose weights cannot be downloaded
# here. DIS flow, the default tracker, drifts on this data (TAP-Vid AJ 13 /
# <delta_avg 22 on 'crowd', static tracks 2 / 6; docs/mini_reproduction.md).
# Same loss, schedule and compute. Tracks are cached in
# <data_root>/track_cache/SyntheticGroundTruthTracker.
_base_ = ['./mosic_from_imgssl.py']

tracker = dict(type='SyntheticGroundTruthTracker')
# the inherited pipeline (mmengine's Python-syntax base access), with its
# LoadTracks (index 2) reading this tracker's cache
train_pipeline = _base_.train_pipeline
train_pipeline[2].update(
    tracker=tracker,
    extract_cmd='python tools/extract_tracks.py '
    'configs/mini/mosic_gt_tracks.py')
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
