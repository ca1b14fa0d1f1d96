"""Saves the random number generator states in checkpoints and restores them
on resume, so a resumed run draws the same random numbers as an
uninterrupted one (mmengine only re-seeds)."""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine import dist
from mmengine.hooks import CheckpointHook, Hook

from mosic_mm.registry import HOOKS

CHECKPOINT_KEY = 'rng_state'


def capture_rng_state() -> dict:
    """The python, numpy, torch (and CUDA, when used) RNG states of this
    process."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreAfter:
    """Dataloader iterator wrapper restoring the RNG states right before the
    fetch of batch ``skip`` (after mmengine's resume advance has replayed the
    ``skip`` batches already trained on), then unwrapping itself."""

    def __init__(self, loop, skip: int, state: dict):
        self.loop, self.iterator = loop, loop.dataloader_iterator
        self.skip, self.state = skip, state

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip == 0:
            restore_rng_state(self.state)
            self.loop.dataloader_iterator = self.iterator
            return next(self.iterator)
        self.skip -= 1
        return next(self.iterator)


class _RestoreOnIter:
    """Dataloader wrapper for an epoch-based loop resumed from a mid-epoch
    checkpoint: restores the RNG states right after the epoch's iterator is
    made (making it draws the loader's base seed, which the interrupted run
    did before the checkpoint), before its first batch; then unwraps
    itself. Attributes (``sampler``, ``dataset``, ...) are the loader's."""

    def __init__(self, loop, state: dict):
        self._loop, self._loader, self._state = loop, loop.dataloader, state

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        iterator = iter(self._loader)
        restore_rng_state(self._state)
        self._loop.dataloader = self._loader
        return iterator


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Stores every rank's RNG states in the checkpoint (key ``rng_state``)
    and restores them on resume.

    Where they are restored matters: on resume mmengine's
    ``IterBasedTrainLoop`` first replays the data of the iterations already
    done (which draws random numbers when ``num_workers=0``), so the states
    are restored after that replay, right before the first new batch is
    fetched: the point at which they were saved. ``EpochBasedTrainLoop``
    resumes at an epoch start; the states are restored before it starts, or,
    from a checkpoint saved mid-epoch (continued by ``SamplerResumeHook``),
    right after the epoch's dataloader iterator is made.

    With several ranks the states are gathered to rank 0 on the iterations at
    which the ``CheckpointHook`` saves. A checkpoint from a run with another
    number of ranks (or without states) resumes with fresh seeding and a
    warning.
    """
    priority = 'LOW'  # after_train_iter before CheckpointHook (VERY_LOW)

    def __init__(self):
        self._gathered: Optional[List[dict]] = None
        self._pending: Optional[dict] = None

    # ----------------------------------------------------------------- save
    def _save_due(self, runner, end_of_epoch: bool) -> bool:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                if hook.by_epoch != end_of_epoch:
                    return False
                if end_of_epoch:
                    return self.every_n_epochs(runner, hook.interval) or (
                        hook.save_last and self.is_last_train_epoch(runner))
                return self.every_n_train_iters(runner, hook.interval) or (
                    hook.save_last and self.is_last_train_iter(runner))
        return False

    def _gather_if_due(self, runner, end_of_epoch: bool) -> None:
        if dist.get_world_size() > 1 and self._save_due(runner, end_of_epoch):
            self._gathered = dist.all_gather_object(capture_rng_state())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._gather_if_due(runner, end_of_epoch=False)

    def after_train_epoch(self, runner) -> None:
        self._gather_if_due(runner, end_of_epoch=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        world_size = dist.get_world_size()
        states = self._gathered if world_size > 1 else [capture_rng_state()]
        self._gathered = None
        if states is None:  # a save not announced by the CheckpointHook
            runner.logger.warning(
                'RNGStateHook: RNG states of the other ranks were not gathered'
                ' for this checkpoint; a resume from it re-seeds instead.')
            return
        checkpoint[CHECKPOINT_KEY] = dict(world_size=world_size,
                                          states=states)

    # ----------------------------------------------------------------- load
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        world_size, rank = dist.get_world_size(), dist.get_rank()
        if saved is None:
            runner.logger.warning(
                'RNGStateHook: the checkpoint holds no RNG states (saved '
                'without RNGStateHook); random numbers after resuming differ '
                'from an uninterrupted run.')
            return
        if saved['world_size'] != world_size:
            runner.logger.warning(
                f'RNGStateHook: the checkpoint holds RNG states of '
                f'{saved["world_size"]} ranks but this run has {world_size};'
                ' random numbers after resuming differ from an uninterrupted '
                'run.')
            return
        self._pending = saved['states'][rank]

    def before_train(self, runner) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop
            loop.dataloader_iterator = _RestoreAfter(loop, runner.iter, state)
        elif runner.iter > runner.epoch * len(loop.dataloader):  # mid-epoch
            loop.dataloader = _RestoreOnIter(loop, state)
        else:
            restore_rng_state(state)
