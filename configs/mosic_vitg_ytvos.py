# MoSiC on DINOv2 ViT-g/14 (40 blocks, C=1536, SwiGLU FFN), trains the last
# 2 blocks. Weights: checkpoints/dinov2_vitg14_pretrain.pth.
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        type='DINOVisionTransformer',
        arch='dinov2-g',
        layer_cfgs=dict(ffn_type='swiglu_fused'),
        init_cfg=dict(
            _delete_=True,
            type='ConvertedPretrained',
            checkpoint='checkpoints/dinov2_vitg14_pretrain.pth',
            layout='dinov2')))
