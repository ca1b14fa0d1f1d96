# MoSiC on DINOv2 ViT-S/14 with 4 registers.
# Weights: checkpoints/dinov2_vits14_reg4_pretrain.pth.
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        num_register_tokens=4,
        init_cfg=dict(
            checkpoint='checkpoints/dinov2_vits14_reg4_pretrain.pth')))
