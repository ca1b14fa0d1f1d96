# MoSiC on DINO (v1) ViT-S/16: patch 16, no layer scale, 224 px -> 14x14
# tokens. Weights: checkpoints/dino_deitsmall16_pretrain.pth.
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        arch='deit-small',
        patch_size=16,
        layer_scale_init_value=0.,
        init_cfg=dict(checkpoint='checkpoints/dino_deitsmall16_pretrain.pth',
                      layout='dino')))
