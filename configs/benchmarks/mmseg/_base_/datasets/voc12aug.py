# Pascal VOC 2012 + SBD aug (10582 train, 1449 val images, 21 classes).
# Linear protocol (NeCo): 448x448 inputs, ground truth scored at 100x100.
# Layout: docs/datasets.md.
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
num_classes = 21
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(448, 448), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448), keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='ResizeSegMap', size=100),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ConcatDataset', datasets=[
        dict(type=dataset_type, data_root=data_root,
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt',
             pipeline=train_pipeline),
        dict(type=dataset_type, data_root=data_root,
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt',
             pipeline=train_pipeline)]))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages',
                                  seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
