# MoSiC on DINOv2 ViT-B/14 with 4 registers.
# Weights: checkpoints/dinov2_vitb14_reg4_pretrain.pth.
_base_ = './mosic_vitb_ytvos.py'
model = dict(
    backbone=dict(
        num_register_tokens=4,
        init_cfg=dict(
            checkpoint='checkpoints/dinov2_vitb14_reg4_pretrain.pth')))
