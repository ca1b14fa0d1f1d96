# MoSiC on DINOv2 ViT-S/14 (docs/recipe.md). The head's input width is taken
# from the backbone, so children only change the backbone.
model = dict(
    type='MoSiC',
    backbone=dict(
        type='VisionTransformer',
        arch='dinov2-s',
        img_size=224,
        patch_size=14,
        layer_scale_init_value=1e-5,
        out_type='featmap',
        final_norm=True,
        init_cfg=None),  # set to dict(type='Pretrained', ...) for DINOv2
    head=dict(
        type='SinkhornClusteringHead',
        hidden_channels=(1024, 1024, 512),
        out_channels=256,
        num_prototypes=100,
        epsilon=0.05,
        num_iters=10,
        temperature=0.1),
    num_trainable_blocks=2,
    mask_ratio=0.0,
    # The no-grad teacher runs under bf16 autocast (docs/reproduction.md): 1.4x
    # faster per step on this CPU (docs/benchmarks.md), more on GPUs with bf16
    # tensor cores. Sinkhorn and the loss stay fp32. None: fp32 teacher.
    teacher_dtype='bfloat16',
    data_preprocessor=dict(
        type='ClipDataPreprocessor',
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375)),
)
