# ViT-B/14 (DINOv2): only the architecture changes; widths follow the backbone.
_base_ = './mosic_vits_ytvos.py'
model = dict(backbone=dict(arch='base'))
