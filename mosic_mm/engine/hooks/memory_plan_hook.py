"""Logs the per-rank memory plan of the run at start-up."""
from typing import Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook

from mosic_mm.registry import HOOKS
from mosic_mm.utils.memory_plan import plan_memory


def gpu_memory_gib() -> Optional[float]:
    """Total memory of this rank's CUDA device in GiB; None without one."""
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return props.total_memory / (1 << 30)


@HOOKS.register_module()
class MemoryPlanHook(Hook):
    """``before_train``: logs the plan of :func:`mosic_mm.utils.memory_plan.
    plan_memory` for ``runner.cfg`` on the world size, against this GPU's
    memory (on rank 0; a fake step, no real allocation). A model the plan
    cannot run is a warning, never an error.

    Args:
        suggest (bool): when it does not fit, also try the settings that
            would (one more fake step each). Defaults to False:
            ``tools/plan_memory.py`` does it.
        reserve (float): fraction of the GPU kept free.
    """

    priority = 'VERY_LOW'

    def __init__(self, suggest: bool = False, reserve: float = 0.1):
        self.suggest = suggest
        self.reserve = reserve

    def before_train(self, runner) -> None:
        if dist.get_rank() != 0:
            return
        gpus = dist.get_world_size()
        try:
            plan = plan_memory(runner.cfg, gpus=gpus,
                               gpu_mem_gb=gpu_memory_gib(),
                               suggest=self.suggest, reserve=self.reserve)
        except Exception as e:  # the plan must never stop a run
            runner.logger.warning(f'memory plan skipped: {type(e).__name__}: '
                                  f'{e}')
            return
        text = plan.format()
        if plan.fits is False and not plan.suggestions:
            text += ('\n  settings that fit: python tools/plan_memory.py '
                     f'CONFIG --gpus {gpus} --gpu-mem '
                     f'{plan.gpu_mem / (1 << 30):.0f}')
        runner.logger.info(text)
