# MoSiC of mosic_from_imgssl.py on exact tracks (SyntheticGroundTruthTracker:
# the synthetic videos' ground truth for the same frame-0 query grid), the
# stand-in for the paper's CoTracker3, whose weights cannot be downloaded
# here. DIS flow, the default tracker, drifts on this data (TAP-Vid AJ 13 /
# <delta_avg 22 on 'crowd', static tracks 2 / 6; docs/mini_reproduction.md).
# Same loss, schedule and compute. Tracks are cached in
# <data_root>/track_cache/SyntheticGroundTruthTracker.
_base_ = ['./mosic_from_imgssl.py']

tracker = dict(type='SyntheticGroundTruthTracker')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadClip'),
    dict(type='LoadTracks', tracker=tracker, grid_size=16,
         on_missing='track', extract_cmd='python tools/extract_tracks.py '
         'configs/mini/mosic_gt_tracks.py'),
    dict(type='ClipRandomResizedCrop', size=112, scale=(0.4, 1.0),
         ratio=(3 / 4, 4 / 3), interpolation='bilinear'),
    dict(type='ClipFlip', prob=0.5),
    dict(type='SelectTracks', num_tracks=64, grid_size=8),
    dict(type='PackTrackInputs'),
]))
