# MoSiC on DINOv2 ViT-L/14 with 4 registers (the paper's dinov2r-l).
# Weights: checkpoints/dinov2_vitl14_reg4_pretrain.pth.
_base_ = './mosic_vitl_ytvos.py'
model = dict(
    backbone=dict(
        num_register_tokens=4,
        init_cfg=dict(
            checkpoint='checkpoints/dinov2_vitl14_reg4_pretrain.pth')))
