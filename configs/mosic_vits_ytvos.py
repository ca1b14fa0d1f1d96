# The reference MoSiC recipe (docs/recipe.md): DINOv2 ViT-S/14 on YouTube-VOS,
# 8 GPUs x 8 clips, 8 epochs, starting from the official DINOv2 weights in
# checkpoints/dinov2_vits14_pretrain.pth (README, "Backbones and pretrained
# weights"); another path: --cfg-options model.backbone.init_cfg.checkpoint=P
_base_ = [
    '_base_/models/mosic_vits14.py',
    '_base_/datasets/ytvos.py',
    '_base_/schedules/adamw_cosine_8e.py',
    '_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        type='DINOVisionTransformer',
        init_cfg=dict(
            _delete_=True,  # the base has init_cfg=None (random init)
            type='ConvertedPretrained',
            checkpoint='checkpoints/dinov2_vits14_pretrain.pth',
            layout='dinov2',
            # As the reference, which builds DINOv2 through timm at
            # img_size=224: the 37x37 pos_embed resampled once to 16x16,
            # bicubic with antialiasing (timm's loader). DINOv2's own
            # interpolation: pos_embed_interp=None (offset 0.1, no antialias).
            pos_embed_interp=dict(offset=0.0, antialias=True))),
    # The reference normalises training clips with std 0.228 for red (its
    # ClipToTensor call; 0.229 is ImageNet's): 0.228 * 255 = 58.14.
    # ImageNet's std: std=(58.395, 57.12, 57.375).
    data_preprocessor=dict(std=(58.14, 57.12, 57.375)))
