# YouTube-VOS train, all frames: data/ytvos/train/JPEGImages/<video>/<frame>.jpg
# One 12-frame clip (stride 6, random start) per video per epoch; 224 px.
dataset_type = 'VideoTrajectoryDataset'
data_root = 'data/ytvos/train'

train_pipeline = [
    dict(type='LoadClip'),
    dict(type='ClipResize', scale=(224, 224)),
    # A denser grid than the 16x16 = 256 tracks used, so that after the random
    # crop SelectTracks still finds 256 tracks spread over frame 0.
    dict(type='TrackPoints', tracker=dict(type='DISFlowTracker'), grid_size=32),
    dict(type='ClipRandomResizedCrop', size=224, scale=(0.4, 1.0),
         ratio=(3 / 4, 4 / 3)),
    dict(type='ClipFlip', prob=0.5),
    dict(type='SelectTracks', num_tracks=256),
    dict(type='PackTrackInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        clip_len=12,
        frame_stride=6,
        pipeline=train_pipeline))
