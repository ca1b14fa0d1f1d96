from .hooks import (
                    CheckpointCheckHook,
                    MoSiCTeacherHook,
                    MoSiCVisualizationHook,
                    RNGStateHook,
                    RunSummaryHook,
)
from .optim_constructors import TrainableParamsOptimWrapperConstructor
from .optim_wrappers import (
                    SkipNonFiniteAmpOptimWrapper,
                    SkipNonFiniteOptimWrapper,
                    amp_optim_wrapper_type,
)

__all__ = ['CheckpointCheckHook', 'MoSiCTeacherHook', 'MoSiCVisualizationHook',
           'RNGStateHook', 'RunSummaryHook', 'SkipNonFiniteAmpOptimWrapper',
           'SkipNonFiniteOptimWrapper', 'TrainableParamsOptimWrapperConstructor',
           'amp_optim_wrapper_type']
