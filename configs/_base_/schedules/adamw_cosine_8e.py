# AdamW, lr 1e-4 for head and prototypes, 1e-5 (x0.1) for the backbone,
# weight decay 0.01 except biases, norms and other 1-D parameters; cosine to 0
# per iteration, no warm-up, no clipping (docs/recipe.md). Batch 64 = 8 x 8 GPUs.
# A step with a NaN/Inf loss is skipped and logged; training stops after
# max_consecutive_skips of them in a row (--amp: SkipNonFiniteAmpOptimWrapper).
optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',
    max_consecutive_skips=5,
    max_total_skips=None,
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.01),
    # mmengine's default constructor, minus a warning per frozen tensor
    constructor='TrainableParamsOptimWrapperConstructor',
    paramwise_cfg=dict(
        # force_default_settings: without it mmengine skips the bias/norm/
        # flat decay mults for every parameter matching a custom key, i.e.
        # backbone biases, LayerNorm and LayerScale weights would be decayed.
        custom_keys={'backbone': dict(lr_mult=0.1,
                                      force_default_settings=True)},
        bias_decay_mult=0.0,
        norm_decay_mult=0.0,
        flat_decay_mult=0.0))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=8, eta_min=0.0, by_epoch=True,
         convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=64)
