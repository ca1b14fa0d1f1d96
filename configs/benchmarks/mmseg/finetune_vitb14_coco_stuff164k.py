# finetune ViT-B/14 on coco_stuff164k: every width-dependent key is overridden.
_base_ = ['./finetune_vits14_coco_stuff164k.py']
checkpoint = 'checkpoints/mosic_vitb14_backbone.pth'
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=768))
