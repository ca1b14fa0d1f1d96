# MoSiC on DINOv2 ViT-L/14 (24 blocks, C=1024), trains the last 2 blocks.
# The reference code matches the names "blocks.10"/"blocks.11", which on
# this depth trains two middle blocks; --cfg-options
# model.trainable_blocks="(10, 11)" reproduces it (docs/reproduction.md).
# Weights: checkpoints/dinov2_vitl14_pretrain.pth (README, "Backbones and
# pretrained weights"); another path: --cfg-options
# model.backbone.init_cfg.checkpoint=PATH
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        arch='large',
        init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
