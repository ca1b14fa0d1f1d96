"""Updates MoSiC's momentum teacher after every optimizer step."""
import contextlib
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mosic_mm.registry import HOOKS


def _root_gathered(model):
    """Under FSDP, the root unit's parameters in full (written back after);
    the block units' local shards line up between student and teacher and
    are updated in place as they are. A no-op context otherwise."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    if isinstance(model, FSDP):
        return FSDP.summon_full_params(model, recurse=False, writeback=True)
    return contextlib.nullcontext()


@HOOKS.register_module()
class MoSiCTeacherHook(Hook):
    """After each optimizer step, ``model.update_teacher(w)``:

        teacher = w * teacher + (1 - w) * student

    ``w`` is the weight kept on the *teacher* (0.99 in the recipe; the
    opposite side of mmengine's ``EMAHook`` / mmpretrain's ``momentum``,
    which weigh the new model), constant, or on the cosine schedule

        w_i = w_end - (w_end - w_0) * (cos(pi * i / I) + 1) / 2

    for iteration i of I (``runner.iter / runner.max_iters``) when
    ``end_teacher_weight`` is set. Under FSDP (:class:`~mosic_mm.engine.
    MoSiCFSDP`) the update runs on the local shards. Only iterations whose optimizer stepped
    update: not between the steps of gradient accumulation, nor after a
    step skipped for a non-finite loss (``SkipNonFiniteOptimWrapper``).

    Args:
        teacher_weight (float): w_0. Defaults to 0.99.
        end_teacher_weight (float, optional): w_end of a cosine schedule.
    """
    priority = 'NORMAL'

    def __init__(self,
                 teacher_weight: float = 0.99,
                 end_teacher_weight: Optional[float] = None,
                 **kwargs):
        if kwargs:
            renamed = {
                'momentum': 'teacher_weight',
                'end_momentum': 'end_teacher_weight'
            }
            hint = '; '.join(f'{k} is now {renamed[k]} (the weight kept on '
                             'the teacher, as before)' for k in kwargs
                             if k in renamed)
            raise TypeError(f'MoSiCTeacherHook got unknown arguments '
                            f'{sorted(kwargs)}'
                            + (f': {hint}' if hint else ''))
        for name, value in (('teacher_weight', teacher_weight),
                            ('end_teacher_weight', end_teacher_weight)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        self.teacher_weight = teacher_weight
        self.end_teacher_weight = end_teacher_weight

    def teacher_weight_at(self, cur_iter: int, max_iters: int) -> float:
        if self.end_teacher_weight is None:
            return self.teacher_weight
        progress = min(cur_iter / max(max_iters, 1), 1.0)
        return self.end_teacher_weight - (
            self.end_teacher_weight
            - self.teacher_weight) * (math.cos(math.pi * progress) + 1) / 2

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        optim_wrapper = runner.optim_wrapper
        should_update = getattr(optim_wrapper, 'should_update', None)
        if should_update is not None and not should_update():
            return
        if getattr(optim_wrapper, 'last_step_skipped', False):
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        weight = self.teacher_weight_at(runner.iter, runner.max_iters)
        with _root_gathered(runner.model):
            model.update_teacher(weight)
        runner.message_hub.update_scalar('train/teacher_weight', weight)
