# MoSiC on DINOv3 ViT-B/16 (C=768, 12 blocks), trains the last 2 blocks.
# Weights: checkpoints/dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth (DINOv3
# License; README, "Backbones and pretrained weights").
_base_ = './mosic_dinov3_vits16_ytvos.py'
model = dict(
    backbone=dict(
        model_name='vit_base_patch16_dinov3_qkvb',
        init_cfg=dict(
            checkpoint='checkpoints/dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth')))
