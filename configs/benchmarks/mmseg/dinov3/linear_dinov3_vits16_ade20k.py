# Linear probe of a MoSiC DINOv3 ViT-S/16 on ADE20K (see the voc12aug file).
_base_ = ['../linear_vits14_ade20k.py']
checkpoint = 'checkpoints/mosic_dinov3_vits16_backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.TimmViT',
        model_name='vit_small_patch16_dinov3_qkvb',
        img_size=448,
        frozen_stages=12,
        init_cfg=dict(type='ConvertedPretrained', checkpoint=checkpoint,
                      prefix='backbone.')),
    decode_head=dict(in_channels=384))
