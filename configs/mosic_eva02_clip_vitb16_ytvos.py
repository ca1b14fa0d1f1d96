# MoSiC on EVA02-CLIP ViT-B/16 (abs. position embedding + RoPE, SwiGLU,
# sub-LN; 224 px -> 14x14 tokens), the paper's "clip-b": the official code
# builds timm's eva02_base_patch16_clip_224 (pretrained tag merged2b).
# Weights: checkpoints/eva02_base_patch16_clip_224.merged2b_s8b_b131k.bin =
# open_clip_pytorch_model.bin of timm/eva02_base_patch16_clip_224.
# merged2b_s8b_b131k (Hugging Face); only the image trunk
# (visual.trunk.*) is loaded, the rest is listed as dropped.
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='eva02_base_patch16_clip_224',
        img_size=224,
        init_cfg=dict(
            type='ConvertedPretrained',
            checkpoint='checkpoints/eva02_base_patch16_clip_224.merged2b_s8b_b131k.bin',
            layout='open_clip')))
