# Linear probe of a MoSiC DINOv3 ViT-S/16 (configs/mosic_dinov3_vits16_ytvos.py)
# on voc12aug: the ViT-S/14 protocol with the TimmViT backbone (448 crops ->
# 28x28 tokens; width 384). Pass the backbone with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# (tools/export_backbone.py --format mmpretrain, or a training checkpoint:
# prefix 'backbone.' = student, 'teacher.backbone.' = teacher). The official
# DINOv3 file itself (the baseline): add model.backbone.init_cfg.prefix=None.
_base_ = ['../linear_vits14_voc12aug.py']
checkpoint = 'checkpoints/mosic_dinov3_vits16_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.TimmViT',
        model_name='vit_small_patch16_dinov3_qkvb',
        img_size=448,
        frozen_stages=12,  # = number of blocks: everything frozen
        init_cfg=dict(type='ConvertedPretrained', checkpoint=checkpoint,
                      prefix='backbone.')),
    decode_head=dict(in_channels=384))
