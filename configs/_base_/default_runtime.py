# Runtime shared by every mosic_mm config (vendored, no 'mmpretrain::' base).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mosic_mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# The momentum teacher lives inside the model; MoSiCTeacherHook updates it.
# RNGStateHook saves/restores the RNG states in checkpoints (exact resume);
# MoSiCVisualizationHook adds tracks / PCA-RGB features / cluster maps to
# tensorboard; RunSummaryHook logs what the run skipped; CheckpointCheckHook
# refuses a resume/load_from checkpoint whose keys or shapes do not fit;
# BatchScaleHook logs the batch and Sinkhorn pool at start-up and warns when
# they differ from auto_scale_lr.base_batch_size (the recipe's batch);
# SamplerResumeHook continues an epoch from a mid-epoch checkpoint (exactly
# with MixedRatioSampler; other samplers restart the epoch, with a warning).
custom_hooks = [
    dict(type='BatchScaleHook'),
    dict(type='CheckpointCheckHook'),
    dict(type='MoSiCTeacherHook', teacher_weight=0.99),
    dict(type='RNGStateHook'),
    dict(type='MoSiCVisualizationHook', interval=50),
    dict(type='RunSummaryHook'),
    dict(type='SamplerResumeHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo on hosts without CUDA.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_processor = dict(by_epoch=False, window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
