# The embedded default: a small random-init ViT/14 on the synthetic videos,
# 1000 iterations (about 2-3 minutes on 2 CPU cores with cached tracks).
# No downloads.
_base_ = [
    '_base_/models/mosic_vits14.py',
    '_base_/datasets/synthetic.py',
    '_base_/schedules/adamw_cosine_8e.py',
    '_base_/default_runtime.py',
]

max_iters = 1000
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3,
                  feedforward_channels=384),
        img_size=112),
    head=dict(hidden_channels=(256, 256), out_channels=64, num_prototypes=32),
    num_trainable_blocks=None)  # random init: train the whole backbone

# its learning rates are set for 8 clips (1 process), not the recipe's 64
auto_scale_lr = dict(base_batch_size=8)
optim_wrapper = dict(optimizer=dict(lr=1e-3),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=0.0, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=250))
