# MoSiC on DINOv3 ViT-L/16 (C=1024, 24 blocks), trains the last 2 blocks.
# Weights: checkpoints/dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth (DINOv3
# License; README, "Backbones and pretrained weights").
_base_ = './mosic_dinov3_vits16_ytvos.py'
model = dict(
    backbone=dict(
        model_name='vit_large_patch16_dinov3_qkvb',
        init_cfg=dict(
            checkpoint='checkpoints/dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth')))
