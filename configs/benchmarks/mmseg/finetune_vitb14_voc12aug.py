# finetune ViT-B/14 on voc12aug: every width-dependent key is overridden.
_base_ = ['./finetune_vits14_voc12aug.py']
checkpoint = 'checkpoints/mosic_vitb14_backbone.pth'
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=768))
