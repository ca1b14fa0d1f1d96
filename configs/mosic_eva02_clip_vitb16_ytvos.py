# MoSiC on EVA02-CLIP ViT-B/16 (abs. position embedding + RoPE, SwiGLU,
# sub-LN; 224 px -> 14x14 tokens), the paper's "clip-b": the official code
# builds timm.create_model('eva02_base_patch16_clip_224', pretrained=True),
# i.e. the Hugging Face file timm/eva02_base_patch16_clip_224.merged2b
# (model.safetensors, timm layout; its CLIP projection head.* is dropped).
# Saved as checkpoints/eva02_base_patch16_clip_224.merged2b.safetensors.
# The open_clip file (open_clip_pytorch_model.bin of timm/eva02_base_patch16_
# clip_224.merged2b_s8b_b131k) loads too: layout 'auto' takes visual.trunk.*.
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='eva02_base_patch16_clip_224',
        img_size=224,
        init_cfg=dict(
            type='ConvertedPretrained',
            checkpoint='checkpoints/'
            'eva02_base_patch16_clip_224.merged2b.safetensors',
            layout='auto')))
