# MoSiC as the paper runs it, in miniature (docs/mini_reproduction.md): the
# demo's small ViT starts from the cached image-SSL checkpoint of
# imgssl_pretrain.py (tools/reproduce_mini.py makes it on first use), only the
# last num_trainable_blocks blocks train, the backbone lr is 10x below the
# head's (reference optimiser), tracks come from the DIS track cache.
# Deviation for the CPU budget: lr 2e-2 head / 2e-3 backbone, the reference's
# 10x ratio (reference 1e-4 / 1e-5 at batch 64 over ~440 iterations; here
# batch 8, mini_iters; at 2e-3 / 2e-4 the backbone's features barely move:
# cosine 0.9998 to the start after 400 steps).
_base_ = ['../mosic_vits_synthetic.py']

start_checkpoint = 'work_dirs/mini/imgssl_start.pth'
mini_iters = 400
# The demo's classes, crowded (8-11 large objects, about half the frame) and
# filmed by a fast-panning camera under two moving lights, one of which turns
# the hue; the objects bend non-rigidly (style 'crowd'). A pixel position
# passes over several classes, so the static-track control (mosic_static.py)
# pairs different classes half of the time (82 % same class in the 'camera'
# style, whose frames are ~87 % background), and a tracked point's shape,
# brightness and colour change along its track.
# 32 val videos (the synthetic default: 8): with 8 the temporal metrics'
# seed spreads were mostly the few videos' noise (docs/mini_reproduction.md).
data_root = 'data/synthetic_crowd'
# the demo's pipeline; its hint for filling the DIS track cache names this
# config (the demo's config would fill data/synthetic's cache)
train_pipeline = _base_.train_pipeline
train_pipeline[2].update(
    extract_cmd='python tools/extract_tracks.py '
    'configs/mini/mosic_from_imgssl.py')
train_dataloader = dict(
    dataset=dict(data_root=data_root, style='crowd', num_val=32,
                 pipeline=train_pipeline))
model = dict(
    backbone=dict(
        type='DINOVisionTransformer',
        init_cfg=dict(_delete_=True, type='ConvertedPretrained',
                      checkpoint=start_checkpoint, layout='mmpretrain',
                      prefix='backbone.')),
    num_trainable_blocks=2)
optim_wrapper = dict(
    optimizer=dict(lr=2e-2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
train_cfg = dict(max_iters=mini_iters)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=mini_iters, eta_min=0.0,
         by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=mini_iters, max_keep_ckpts=1))
