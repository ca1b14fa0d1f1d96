from .hooks import (
                    CheckpointCheckHook,
                    MoSiCTeacherHook,
                    MoSiCVisualizationHook,
                    RNGStateHook,
                    RunSummaryHook,
)
from .model_wrappers import MoSiCFSDP
from .optim_constructors import TrainableParamsOptimWrapperConstructor
from .optim_wrappers import (
                    SkipNonFiniteAmpOptimWrapper,
                    SkipNonFiniteOptimWrapper,
                    amp_optim_wrapper_type,
)
from .strategies import PortableFSDPStrategy

__all__ = [
    'CheckpointCheckHook', 'MoSiCFSDP', 'MoSiCTeacherHook',
    'MoSiCVisualizationHook', 'PortableFSDPStrategy', 'RNGStateHook',
    'RunSummaryHook', 'SkipNonFiniteAmpOptimWrapper',
    'SkipNonFiniteOptimWrapper', 'TrainableParamsOptimWrapperConstructor',
    'amp_optim_wrapper_type'
]
