# Control (b) of the mini reproduction: the image-SSL method (MoCoV3 of
# imgssl_pretrain.py) continued from the cached start for as many steps as
# the MoSiC run, with MoSiC's optimiser: the last 2 of 4 blocks trainable
# (frozen_stages=2; the final norm stays trainable here), backbone lr 10x
# below the neck/head's, cosine from 2e-3 to 0, no warm-up. More of the same
# training, no video.
_base_ = ['./imgssl_pretrain.py']

start_checkpoint = 'work_dirs/mini/imgssl_start.pth'
mini_iters = 400
load_from = start_checkpoint
model = dict(backbone=dict(frozen_stages=2))
optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
train_cfg = dict(max_iters=mini_iters)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=mini_iters,
         eta_min=0.0, by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=mini_iters, max_keep_ckpts=1))
