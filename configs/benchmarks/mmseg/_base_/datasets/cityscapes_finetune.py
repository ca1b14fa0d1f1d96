# Cityscapes fine (19 classes, *_labelTrainIds.png from mmseg's cityscapes.py converter).
# Fine-tuning: random rescale, 448 crops, photometric jitter; scored on the
# full-resolution ground truth.
_base_ = ['./cityscapes.py']
ft_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(448, 448), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
ft_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True, type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
                 data_prefix=dict(img_path='leftImg8bit/train',
                                  seg_map_path='gtFine/train'),
                 pipeline=ft_train_pipeline))
val_dataloader = dict(dataset=dict(
        _delete_=True, type={{_base_.dataset_type}},
        data_root={{_base_.data_root}},
                 data_prefix=dict(img_path='leftImg8bit/val',
                                  seg_map_path='gtFine/val'),
                 pipeline=ft_test_pipeline))
test_dataloader = val_dataloader
