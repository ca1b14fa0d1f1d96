from .batch_scale_hook import BatchScaleHook
from .checkpoint_check_hook import CheckpointCheckHook
from .memory_plan_hook import MemoryPlanHook
from .rng_state_hook import RNGStateHook
from .run_summary_hook import RunSummaryHook
from .sampler_resume_hook import SamplerResumeHook
from .teacher_ema_hook import MoSiCTeacherHook
from .visualization_hook import MoSiCVisualizationHook

__all__ = ['BatchScaleHook', 'CheckpointCheckHook', 'MemoryPlanHook',
           'MoSiCTeacherHook', 'MoSiCVisualizationHook', 'RNGStateHook',
           'RunSummaryHook', 'SamplerResumeHook']
