"""Optimizer wrappers that skip the update of a step whose loss is NaN/Inf."""
from typing import Dict, Optional

import torch
from mmengine import dist
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

#: ``--amp`` in tools/train.py replaces a wrapper type by its AMP variant.
AMP_VARIANTS = {
    'OptimWrapper': 'AmpOptimWrapper',
    'SkipNonFiniteOptimWrapper': 'SkipNonFiniteAmpOptimWrapper',
}


def amp_optim_wrapper_type(wrapper_type: str) -> str:
    """The AMP variant of an optimizer wrapper type (for ``--amp``)."""
    if wrapper_type in AMP_VARIANTS.values():
        return wrapper_type
    if wrapper_type not in AMP_VARIANTS:
        raise ValueError(
            f'--amp: no AMP variant known for optim_wrapper.type='
            f'{wrapper_type!r}; known: {sorted(AMP_VARIANTS)}')
    return AMP_VARIANTS[wrapper_type]


class SkipNonFiniteMixin:
    """Skips backward and update when the loss is not finite (on any rank:
    the decision is all-reduced so every rank skips together and DDP's
    gradient all-reduce never waits for a rank that skipped).

    A skipped step logs a warning with the running counts and leaves the
    parameters, gradients and optimizer state untouched. Training stops with
    a ``FloatingPointError`` after ``max_consecutive_skips`` non-finite steps
    in a row (a diverged run: every later step would be skipped too), or
    after ``max_total_skips`` in the whole run when that is set. Isolated
    spikes are tolerated. ``num_skipped`` (saved in the optimizer state, so
    it counts over resumes) is logged as ``train/skipped_steps``.

    With gradient accumulation a skipped micro-batch contributes nothing; the
    update at the end of the window uses the other micro-batches, and is
    skipped when all of them were skipped.

    Args:
        max_consecutive_skips (int): stop after this many non-finite steps in
            a row. Defaults to 5.
        max_total_skips (int, optional): stop after this many in the run.
            None (default) for no limit.
        **kwargs: arguments of the wrapped optimizer wrapper.
    """

    def __init__(self, *args, max_consecutive_skips: int = 5,
                 max_total_skips: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        for name, value in (('max_consecutive_skips', max_consecutive_skips),
                            ('max_total_skips', max_total_skips)):
            if value is not None and (int(value) != value or value < 1):
                raise ValueError(f'optim_wrapper.{name} must be a positive '
                                 f'int, got {value!r}')
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.max_total_skips = max_total_skips
        self.num_skipped = 0
        self.num_consecutive_skipped = 0
        #: True when the latest call of ``update_params`` was skipped.
        self.last_step_skipped = False
        self._window_has_grads = False

    def _loss_is_finite(self, loss: torch.Tensor) -> bool:
        bad = (~torch.isfinite(loss.detach())).any().float().reshape(1)
        dist.all_reduce(bad, op='max')
        return not bool(bad.item())

    def update_params(self, loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        if self._loss_is_finite(loss):
            self.last_step_skipped = False
            self.num_consecutive_skipped = 0
            self._window_has_grads = True
            super().update_params(loss, step_kwargs, zero_kwargs)
            if self.should_update():
                self._window_has_grads = False
        else:
            self._skip(loss, step_kwargs or {}, zero_kwargs or {})
        self.message_hub.update_scalar('train/skipped_steps',
                                       self.num_skipped)

    def _skip(self, loss, step_kwargs: dict, zero_kwargs: dict) -> None:
        self.last_step_skipped = True
        self.num_skipped += 1
        self.num_consecutive_skipped += 1
        self._inner_count += 1  # as backward() would, keeps windows aligned
        if self.should_update():
            if self._window_has_grads:  # the rest of an accumulation window
                self.step(**step_kwargs)
            self.zero_grad(**zero_kwargs)
            self._window_has_grads = False
        iteration = self.message_hub.get_info('iter')
        where = '' if iteration is None else f' at iteration {iteration + 1}'
        limits = f'optim_wrapper.max_consecutive_skips=' \
                 f'{self.max_consecutive_skips}'
        if self.max_total_skips is not None:
            limits += f', optim_wrapper.max_total_skips={self.max_total_skips}'
        value = loss.detach().float().flatten()[:1].item()
        MMLogger.get_current_instance().warning(
            f'non-finite loss ({value}){where}: skipped the optimizer step '
            f'({self.num_consecutive_skipped} in a row, {self.num_skipped} '
            f'in this run; limits {limits})')
        if self.num_consecutive_skipped >= self.max_consecutive_skips or (
                self.max_total_skips is not None
                and self.num_skipped >= self.max_total_skips):
            raise FloatingPointError(
                f'training stopped{where}: {self.num_consecutive_skipped} '
                f'consecutive and {self.num_skipped} total optimizer steps '
                f'skipped because the loss was NaN/Inf (limits {limits}). '
                'The run has probably diverged: lower the learning rate, '
                'check the data, or resume from an earlier checkpoint.')

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['num_skipped_nonfinite'] = self.num_skipped
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self.num_skipped = int(state_dict.pop('num_skipped_nonfinite', 0))
        super().load_state_dict(state_dict)


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(SkipNonFiniteMixin, OptimWrapper):
    """:class:`mmengine.optim.OptimWrapper` that skips non-finite steps (see
    :class:`SkipNonFiniteMixin`)."""


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteAmpOptimWrapper(SkipNonFiniteMixin, AmpOptimWrapper):
    """:class:`mmengine.optim.AmpOptimWrapper` that skips non-finite steps
    (see :class:`SkipNonFiniteMixin`); what ``--amp`` selects for a
    ``SkipNonFiniteOptimWrapper`` config. The loss scaler still handles
    overflowing gradients of finite losses itself."""
