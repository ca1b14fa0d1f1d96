# MoSiC on DINOv2 ViT-g/14 (40 blocks, C=1536, SwiGLU FFN), trains the last
# 2 blocks. Weights: checkpoints/dinov2_vitg14_pretrain.pth.
# The reference code matches the names "blocks.10"/"blocks.11", which on
# this depth trains two middle blocks; --cfg-options
# model.trainable_blocks="(10, 11)" reproduces it (docs/reproduction.md).
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        arch='dinov2-g',
        layer_cfgs=dict(ffn_type='swiglu_fused'),
        init_cfg=dict(checkpoint='checkpoints/dinov2_vitg14_pretrain.pth')))
