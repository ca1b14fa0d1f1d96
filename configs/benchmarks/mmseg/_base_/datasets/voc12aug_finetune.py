# Pascal VOC 2012 + SBD aug (10582 train, 1449 val images, 21 classes).
# Fine-tuning: random rescale, 448 crops, photometric jitter; scored on the
# full-resolution ground truth.
_base_ = ['./voc12aug.py']
ft_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 448), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(448, 448), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
ft_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True, type='ConcatDataset', datasets=[
        dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt',
             pipeline=ft_train_pipeline),
        dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt',
             pipeline=ft_train_pipeline)]))
val_dataloader = dict(dataset=dict(
        _delete_=True, type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
                 data_prefix=dict(img_path='JPEGImages',
                                  seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt',
                 pipeline=ft_test_pipeline))
test_dataloader = val_dataloader
