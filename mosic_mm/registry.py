"""Registries. mosic_mm registers into mmpretrain's registries (configs use
``default_scope='mmpretrain'``) and adds one of its own for point trackers."""
from mmengine.registry import Registry
from mmpretrain.registry import (
                                 DATA_SAMPLERS,
                                 DATASETS,
                                 HOOKS,
                                 MODEL_WRAPPERS,
                                 MODELS,
                                 OPTIM_WRAPPER_CONSTRUCTORS,
                                 OPTIM_WRAPPERS,
                                 TRANSFORMS,
)

TRACKERS = Registry('tracker', locations=['mosic_mm.tracks'])

__all__ = [
    'DATA_SAMPLERS', 'DATASETS', 'HOOKS', 'MODEL_WRAPPERS', 'MODELS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS', 'TRANSFORMS', 'TRACKERS'
]
