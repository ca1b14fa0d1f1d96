# MoSiC on DINOv3 ViT-S/16 (2-D RoPE, 1 cls + 4 storage tokens, k-masked qkv
# bias; 224 px -> 14x14 tokens), trains the last 2 blocks. timm's Eva blocks
# (vit_small_patch16_dinov3_qkvb), built without download.
# Weights (DINOv3 License, download them yourself; README, "Backbones and
# pretrained weights"): checkpoints/dinov3_vits16_pretrain_lvd1689m-08c60483.pth
# (official layout; a timm file loads with layout='timm' or 'auto').
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='vit_small_patch16_dinov3_qkvb',
        img_size=224,
        init_cfg=dict(
            type='ConvertedPretrained',
            checkpoint='checkpoints/dinov3_vits16_pretrain_lvd1689m-08c60483.pth',
            layout='dinov3')))
