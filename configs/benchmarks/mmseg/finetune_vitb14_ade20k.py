# finetune ViT-B/14 on ade20k: every width-dependent key is overridden.
_base_ = ['./finetune_vits14_ade20k.py']
checkpoint = 'checkpoints/mosic_vitb14_backbone.pth'
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=768))
