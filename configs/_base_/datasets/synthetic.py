# The project's synthetic videos (generated into data_root on first use):
# textured objects of several classes moving over textured backgrounds.
dataset_type = 'SyntheticVideoDataset'
data_root = 'data/synthetic'

train_pipeline = [
    dict(type='LoadClip'),
    dict(type='TrackPoints', tracker=dict(type='DISFlowTracker'), grid_size=16),
    dict(type='ClipRandomResizedCrop', size=112, scale=(0.4, 1.0),
         ratio=(3 / 4, 4 / 3)),
    dict(type='ClipFlip', prob=0.5),
    dict(type='SelectTracks', num_tracks=64),
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
        clip_len=6,
        frame_stride=3,
        pipeline=train_pipeline))
