# ViT-B/14 (DINOv2): only the architecture and its weights file change; the
# head's width follows the backbone (768).
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        arch='base',
        init_cfg=dict(checkpoint='checkpoints/dinov2_vitb14_pretrain.pth')))
