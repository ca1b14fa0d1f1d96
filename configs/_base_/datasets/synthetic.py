# The project's synthetic videos (generated into data_root on first use):
# textured objects of several classes moving over textured backgrounds.
dataset_type = 'SyntheticVideoDataset'
data_root = 'data/synthetic'
tracker = dict(type='DISFlowTracker')

train_pipeline = [
    # clip starts 0, 2, ..., 8 (the cached windows): every start whose clip's
    # frames fit (last 8; the recipe's rule stops at 6), kept for the
    # measured mini runs (docs/reproduction.md)
    dict(type='SampleClip', clip_len=6, frame_stride=3, window_step=2,
         start_rule='frames_fit'),
    dict(type='LoadClip'),
    # Tracks from the cache <data_root>/track_cache/DISFlowTracker, filled by
    # `python tools/extract_tracks.py configs/mosic_vits_synthetic.py`
    # (tools/demo.sh does it); clips of videos not cached yet are tracked on
    # the fly, so a clean clone trains with no manual step.
    dict(type='LoadTracks', tracker=tracker, grid_size=16, on_missing='track',
         extract_cmd='python tools/extract_tracks.py '
         'configs/mosic_vits_synthetic.py'),
    dict(type='ClipRandomResizedCrop', size=112, scale=(0.4, 1.0),
         ratio=(3 / 4, 4 / 3), interpolation='bilinear'),
    dict(type='ClipFlip', prob=0.5),
    # one track per token of the 8x8 grid of a ViT/14 at 112 px
    dict(type='SelectTracks', num_tracks=64, grid_size=8),
    dict(type='PackTrackInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),  # iteration-based
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_train=32,
        num_val=8,
        num_frames=24,
        size=(128, 128),
        pipeline=train_pipeline))
