# YouTube-VOS train, all frames: data/ytvos/train/JPEGImages/<video>/<frame>.jpg
# One 12-frame clip (stride 6, random start) per video per epoch; 224 px.
dataset_type = 'VideoTrajectoryDataset'
data_root = 'data/ytvos/train'
# The tracker the cache is extracted with. The paper's: CoTracker3, e.g.
# tracker = dict(type='CoTracker3', checkpoint='checkpoints/scaled_offline.pth')
# (docs/tracks.md; its cache goes to <data_root>/track_cache/CoTracker3).
tracker = dict(type='DISFlowTracker')

train_pipeline = [
    # 12 frames 6 apart from a random start; starts at multiples of 12 frames
    # (~10 cached windows per YT-VOS video) instead of every frame
    # (docs/tracks.md)
    dict(type='SampleClip', clip_len=12, frame_stride=6, window_step=12),
    dict(type='LoadClip'),
    # 720p -> 224x224 with PIL's antialiased bilinear, as the reference.
    dict(type='ClipResize', scale=(224, 224), interpolation='bilinear'),
    # Cached tracks (<data_root>/track_cache/<tracker type>), extracted once
    # with the command below; a missing file is an error naming it.
    # A 32x32 grid (7 px spacing at 224) is twice as dense as the 16x16 token
    # grid: the smallest crop (area 0.4, aspect 3/4) spans 123 px, i.e. 7.7 px
    # per token row, so every token of every crop holds a cached track in
    # frame 0 and SelectTracks can give each its own (docs/tracks.md).
    dict(type='LoadTracks', tracker=tracker, grid_size=32, on_missing='error',
         extract_cmd='python tools/extract_tracks.py configs/mosic_vits_ytvos.py'
         ' (multi-GPU: torchrun --nproc_per_node 8 tools/extract_tracks.py '
         'configs/mosic_vits_ytvos.py --launcher pytorch)'),
    dict(type='ClipRandomResizedCrop', size=224, scale=(0.4, 1.0),
         ratio=(3 / 4, 4 / 3), interpolation='bilinear'),
    dict(type='ClipFlip', prob=0.5),
    # One track per token of the 16x16 grid of a ViT/14 at 224 (the nearest
    # to the token centre), as the reference's 16x16 query grid on the crop.
    dict(type='SelectTracks', num_tracks=256, grid_size=16),
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
        pipeline=train_pipeline))
