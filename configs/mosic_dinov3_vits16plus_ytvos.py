# MoSiC on DINOv3 ViT-S+/16 (C=384, 12 blocks, SwiGLU FFN of 6x width,
# 29 M parameters), trains the last 2 blocks.
# Weights: checkpoints/dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth
# (DINOv3 License; README, "Backbones and pretrained weights").
_base_ = './mosic_dinov3_vits16_ytvos.py'
model = dict(
    backbone=dict(
        model_name='vit_small_plus_patch16_dinov3_qkvb',
        init_cfg=dict(
            checkpoint='checkpoints/dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth')))
