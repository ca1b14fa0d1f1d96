"""Updates MoSiC's momentum teacher after every optimizer step."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mosic_mm.registry import HOOKS


@HOOKS.register_module()
class MoSiCTeacherHook(Hook):
    """Calls ``model.update_teacher(m)`` after each optimizer step, with

        m_i = m_end - (m_end - m_0) * (cos(pi * i / I) + 1) / 2

    for iteration i of I (``runner.iter / runner.max_iters``); constant
    ``m_0`` when ``end_momentum`` is None (the reference recipe: 0.99).
    It only updates on iterations whose optimizer stepped: not between the
    steps of gradient accumulation, nor after a step skipped for a
    non-finite loss (``SkipNonFiniteOptimWrapper``).

    Args:
        momentum (float): m_0. Defaults to 0.99.
        end_momentum (float, optional): m_end of a cosine schedule.
    """
    priority = 'NORMAL'

    def __init__(self, momentum: float = 0.99,
                 end_momentum: Optional[float] = None):
        for name, value in (('momentum', momentum),
                            ('end_momentum', end_momentum)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        self.momentum = momentum
        self.end_momentum = end_momentum

    def momentum_at(self, cur_iter: int, max_iters: int) -> float:
        if self.end_momentum is None:
            return self.momentum
        progress = min(cur_iter / max(max_iters, 1), 1.0)
        return self.end_momentum - (self.end_momentum - self.momentum) * (
            math.cos(math.pi * progress) + 1) / 2

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        optim_wrapper = runner.optim_wrapper
        should_update = getattr(optim_wrapper, 'should_update', None)
        if should_update is not None and not should_update():
            return
        if getattr(optim_wrapper, 'last_step_skipped', False):
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        momentum = self.momentum_at(runner.iter, runner.max_iters)
        model.update_teacher(momentum)
        runner.message_hub.update_scalar('train/teacher_momentum', momentum)
