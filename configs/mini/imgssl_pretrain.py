# The image-pretrained start of the mini reproduction (docs/mini_reproduction.md):
# mmpretrain's MoCoV3 (its algorithm, neck, head and augmentations) trains the
# demo's small ViT on the synthetic *train* frames treated as independent
# images (no motion). tools/reproduce_mini.py runs it once and caches the
# checkpoint; the MoSiC configs of this folder start from it.
# Deviations from mmpretrain's MoCoV3 ViT recipe, all for the CPU budget:
# the inherited backbone (ViT/14, 96 wide, 4 blocks, 112 px, learned pos
# embedding) pooled over its patch tokens (with_avg_pool) instead of the
# class token (MoSiC uses patch tokens), 512/128-wide projector and predictor,
# batch 32, 1000 iterations, lr 1e-3 with a short linear warm-up, fp32; no hue jitter
# (mmcv 2.1.0's adjust_hue overflows uint8 under numpy 2 for hue < 0).
_base_ = ['../mosic_vits_synthetic.py']

# The 'crowd' synthetic videos (mosic_from_imgssl.py writes them): the
# demo's classes, crowded, bending, under a panning camera and moving lights.
data_root = 'data/synthetic_crowd'
# One frame per line, relative to JPEGImages/, written by
# tools/reproduce_mini.py (write_frame_list) from ImageSets/train.txt.
frame_list = 'ImageSets/train_frames.txt'
imgssl_iters = 1000
temperature = 0.2

model = dict(
    _delete_=True,
    type='MoCoV3',
    base_momentum=0.01,
    backbone={{_base_.model.backbone}},
    neck=dict(
        type='NonLinearNeck', in_channels=96, hid_channels=512,
        out_channels=128, num_layers=3, with_bias=False, with_last_bn=True,
        with_last_bn_affine=False, with_last_bias=False, with_avg_pool=True),
    head=dict(
        type='MoCoV3Head',
        predictor=dict(
            type='NonLinearNeck', in_channels=128, hid_channels=512,
            out_channels=128, num_layers=2, with_bias=False,
            with_last_bn=True, with_last_bn_affine=False,
            with_last_bias=False, with_avg_pool=False),
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * temperature),
        temperature=temperature),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))

# mmpretrain's MoCoV3 ViT views (asymmetric blur / solarize) at 112 px
_view = [
    dict(type='RandomResizedCrop', scale=112, crop_ratio_range=(0.2, 1.),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[
        _view + [dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                      magnitude_std='inf', prob=1.),
                 dict(type='RandomFlip', prob=0.5)],
        _view + [dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
                      magnitude_std='inf', prob=0.1),
                 dict(type='Solarize', thr=128, prob=0.2),
                 dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 data_prefix='JPEGImages', ann_file=frame_list,
                 with_label=False, pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.1),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0,
                       flat_decay_mult=0.0))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=imgssl_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=imgssl_iters // 10),
    dict(type='CosineAnnealingLR', T_max=imgssl_iters - imgssl_iters // 10,
         eta_min=0.0, by_epoch=False, begin=imgssl_iters // 10,
         end=imgssl_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=imgssl_iters,
                                     max_keep_ckpts=1))
# MoCoV3 keeps its momentum encoder itself: no MoSiC teacher or
# visualisation hooks.
custom_hooks = [
    dict(type='CheckpointCheckHook'),
    dict(type='RNGStateHook'),
    dict(type='RunSummaryHook'),
]
find_unused_parameters = True  # the class token gets no gradient
