"""Counts what a run skipped, over dataloader workers, ranks and resumes."""
from typing import Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook, LoggerHook

from mosic_mm.registry import HOOKS

SCALAR = 'train/skipped_clips'
META_KEY = 'skipped_clips'


def count_skipped_clips(data_batch) -> int:
    """Sum of ``skipped_clips`` over the batch's data samples' metainfo
    (set by :class:`mosic_mm.datasets.VideoTrajectoryDataset`, in whichever
    worker process loaded the sample); 0 for batches without it."""
    samples = data_batch.get('data_samples') if isinstance(
        data_batch, dict) else None
    total = 0
    for sample in samples or ():
        meta = getattr(sample, 'metainfo', None) or {}
        total += int(meta.get(META_KEY, 0))
    return total


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """Counts corrupt clips the training dataset skipped and logs what the
    run skipped.

    The count travels with the batches (``skipped_clips`` in the data
    samples' metainfo), so it is exact with any ``num_workers``. Whenever the
    ``LoggerHook`` logs, the counts of all ranks are summed (all-reduce) and
    the total since the start of training (resumes included: it is stored in
    the checkpoints' ``meta``) goes to the message hub as
    ``train/skipped_clips``: the log line and tensorboard show it. At the end
    of training, logs the total and how many optimizer steps were skipped for
    a non-finite loss (``optim_wrapper.num_skipped``, counted over resumes).

    Every rank must run the hook's collective points in step (they do: all
    ranks call the same hooks at the same iterations).
    """
    priority = 'NORMAL'  # after_train_iter before the LoggerHook

    def __init__(self):
        self._local = 0  # clips skipped for this rank's batches, this process
        self._offset = 0  # total (all ranks) in the resumed checkpoint

    def total_skipped_clips(self) -> int:
        """The run's total over all ranks (a collective when distributed)."""
        count = torch.tensor(self._local, dtype=torch.int64)
        if dist.get_world_size() > 1:
            dist.all_reduce(count, op='sum')
        return self._offset + int(count.item())

    def _log_interval(self, runner) -> Optional[int]:
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook):
                return hook.interval
        return None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._offset = int(checkpoint.get('meta', {}).get(META_KEY, 0))

    def before_train(self, runner) -> None:
        self._local = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._local += count_skipped_clips(data_batch)
        interval = self._log_interval(runner)
        if interval is None:
            return
        # the iterations at which LoggerHook.after_train_iter logs
        if (self.every_n_inner_iters(batch_idx, interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx)):
            runner.message_hub.update_scalar(SCALAR,
                                             self.total_skipped_clips())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[META_KEY] = \
            self.total_skipped_clips()

    def after_train(self, runner) -> None:
        parts = []
        skipped = getattr(runner.optim_wrapper, 'num_skipped', None)
        if skipped is not None:
            parts.append(f'{skipped} optimizer steps skipped for a non-finite '
                         'loss')
        clips = self.total_skipped_clips()
        runner.message_hub.update_scalar(SCALAR, clips)
        parts.append(f'{clips} corrupt clips skipped (all dataloader workers '
                     'and ranks)')
        runner.logger.info(f'run summary after {runner.iter} iterations: '
                           + ', '.join(parts))
