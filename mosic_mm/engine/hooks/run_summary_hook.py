"""Counts what a run skipped, over dataloader workers, ranks and resumes."""
import torch
from mmengine import dist
from mmengine.hooks import Hook

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
    samples' metainfo), so it is exact with any ``num_workers``. After every
    iteration the counts of all ranks are summed (one all-reduce of an int)
    and the total since the start of training (resumes included: it is
    stored in the checkpoints' ``meta``) goes to the message hub as
    ``train/skipped_clips``: the log line and tensorboard show it. At the end
    of training, logs the total and how many optimizer steps were skipped for
    a non-finite loss (``optim_wrapper.num_skipped``, counted over resumes).

    The all-reduce runs in ``after_train_iter``, which every rank calls;
    ``before_save_checkpoint`` runs on rank 0 only (``Runner.save_checkpoint``
    is ``master_only``) and must not communicate.
    """
    priority = 'NORMAL'  # after_train_iter before the LoggerHook's

    def __init__(self):
        self._local = 0  # clips skipped for this rank's batches, this process
        self._offset = 0  # total (all ranks) in the resumed checkpoint
        self._total = 0  # offset + all ranks, as of the last iteration

    def total_skipped_clips(self) -> int:
        """The run's total over all ranks as of the last iteration."""
        return self._total

    def _all_reduce_total(self) -> int:
        """A collective when distributed: every rank must call it."""
        count = torch.tensor(self._local, dtype=torch.int64)
        if dist.get_world_size() > 1:
            dist.all_reduce(count, op='sum')
        return self._offset + int(count.item())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._offset = int(checkpoint.get('meta', {}).get(META_KEY, 0))

    def before_train(self, runner) -> None:
        self._local, self._total = 0, self._offset

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._local += count_skipped_clips(data_batch)
        self._total = self._all_reduce_total()
        runner.message_hub.update_scalar(SCALAR, self._total)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[META_KEY] = self._total

    def after_train(self, runner) -> None:
        parts = []
        skipped = getattr(runner.optim_wrapper, 'num_skipped', None)
        if skipped is not None:
            parts.append(f'{skipped} optimizer steps skipped for a non-finite '
                         'loss')
        clips = self._total
        parts.append(f'{clips} corrupt clips skipped (all dataloader workers '
                     'and ranks)')
        runner.logger.info(f'run summary after {runner.iter} iterations: '
                           + ', '.join(parts))
