# MoSiC starting from TimeT ViT-S/16 (the paper's "TimeT-s"): timm's
# vit_small_patch16_224; the official code loads paneco_models/TimeT.pth after
# stripping the first two key components; here strictly.
# Weights: checkpoints/TimeT.pth (github.com/SMSD75/Timetuning).
_base_ = '../mosic_dino_vits16_ytvos.py'
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='checkpoints/TimeT.pth', layout='timm',
                      strip_components=2)))
