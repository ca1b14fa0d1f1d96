# MoSiC on DINOv3 ViT-7B/16 (C=4096, 40 blocks, SwiGLU FFN, no qkv bias,
# 6.7 B parameters), trains the last 2 blocks. The model is built on the
# meta device and materialised in the dtype each part is kept in: the
# frozen 38 blocks in bf16 (model.frozen_dtype, a deviation from the
# official fp32: docs/reproduction.md), held once and shared by student and
# teacher; the trainable blocks and the head in fp32. Plan the memory of a
# run first: python tools/plan_memory.py CONFIG --gpus 8 --gpu-mem 80
# Weights: checkpoints/dinov3_vit7b16_pretrain_lvd1689m-a955f4ea.pth
# (DINOv3 License; README, "Backbones and pretrained weights").
_base_ = './mosic_dinov3_vits16_ytvos.py'
model = dict(
    frozen_dtype='bfloat16',
    backbone=dict(
        model_name='vit_7b_patch16_dinov3',
        init_cfg=dict(
            checkpoint='checkpoints/dinov3_vit7b16_pretrain_lvd1689m-a955f4ea.pth')))
