# MoSiC on DINOv3 ViT-H+/16 (C=1280, 32 blocks, SwiGLU FFN, 841 M
# parameters), trains the last 2 blocks.
# Weights: checkpoints/dinov3_vith16plus_pretrain_lvd1689m-7c1da9a5.pth
# (DINOv3 License; README, "Backbones and pretrained weights").
_base_ = './mosic_dinov3_vits16_ytvos.py'
model = dict(
    backbone=dict(
        model_name='vit_huge_plus_patch16_dinov3_qkvb',
        init_cfg=dict(
            checkpoint='checkpoints/dinov3_vith16plus_pretrain_lvd1689m-7c1da9a5.pth')))
