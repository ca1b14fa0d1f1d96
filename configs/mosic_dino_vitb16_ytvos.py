# MoSiC on DINO (v1) ViT-B/16: patch 16, no layer scale, 224 px -> 14x14
# tokens. Weights: checkpoints/dino_vitbase16_pretrain.pth.
_base_ = './mosic_vitb_ytvos.py'
model = dict(
    backbone=dict(
        patch_size=16,
        layer_scale_init_value=0.,
        init_cfg=dict(checkpoint='checkpoints/dino_vitbase16_pretrain.pth',
                      layout='dino')))
