# MoSiC on a CLIP ViT-S/14 image tower, the paper's "clip-s" (width 384,
# depth 12, 6 heads, patch 14; 224 px -> 16x16 tokens, as the ViT-S/14
# recipe). The official code asks timm for 'vit_small_patch14_224.clip'
# (experiments/exp_mosic_multigpu.py:944-945), a name no timm release has
# (timm 1.0.12, its pin, and 1.0.31 raise "Unknown model"), and no public
# CLIP ViT-S/14 weights exist (OpenAI, open_clip, timm). Built here as timm's
# CLIP image tower (VisionTransformer of vit_base_patch16_clip_224: pre-norm
# ln_pre, class token, learned 1+16x16 position embedding, no patch-embed
# bias, GELU, LayerNorm eps 1e-5, final ln_post; the projection is not used)
# at the S/14 shape. Bring your own weights: an open_clip / OpenAI-layout file
# (visual.conv1..., layout 'openai_clip'), an open_clip timm-trunk file
# (visual.trunk.*) or a timm file; 'auto' detects which. QuickGELU-trained
# towers (OpenAI recipe): model_kwargs=dict(..., act_layer='quick_gelu').
_base_ = './mosic_vits_ytvos.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='vit_base_patch16_clip_224',
        img_size=224,
        model_kwargs=dict(patch_size=14, embed_dim=384, depth=12,
                          num_heads=6),
        init_cfg=dict(
            type='ConvertedPretrained',
            checkpoint='checkpoints/clip_vits14.pth',
            layout='auto')))
