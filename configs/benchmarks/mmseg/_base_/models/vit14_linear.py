# Linear probe (docs/evaluation.md): frozen MoSiC/DINOv2 ViT-S/14 patch tokens after
# the final norm -> BN -> 1x1 conv. Pass the backbone file with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# (exported mmpretrain format, prefix 'backbone.'; a training checkpoint works
# too: prefix 'backbone.' = student, 'teacher.backbone.' = teacher).
checkpoint = 'checkpoints/mosic_vits14_backbone.pth'
crop_size = (448, 448)
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='dinov2-s',
        img_size=448,
        patch_size=14,
        layer_scale_init_value=1e-5,
        out_type='featmap',
        final_norm=True,
        frozen_stages=12,  # = number of blocks: everything frozen
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                      prefix='backbone.')),
    decode_head=dict(
        type='BNLinearHead',
        in_channels=384,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
