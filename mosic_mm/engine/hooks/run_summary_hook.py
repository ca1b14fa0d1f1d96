"""Counts what a run skipped, and the clips each dataset of a mix gave,
over dataloader workers, ranks and resumes."""
from typing import List, Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook

from mosic_mm.registry import HOOKS
from mosic_mm.structures import DATASET_NAME_KEY, SKIPPED_CLIPS_KEY

SCALAR = 'train/skipped_clips'
CLIPS_KEY = 'clips_per_dataset'  # checkpoint meta: {name: clips}
CLIPS_SCALAR = 'train/clips_{}'


def count_skipped_clips(data_batch) -> int:
    """Sum of ``skipped_clips`` over the batch's data samples' metainfo
    (set by :class:`mosic_mm.datasets.VideoTrajectoryDataset`, in whichever
    worker process loaded the sample); 0 for batches without it."""
    samples = data_batch.get('data_samples') if isinstance(
        data_batch, dict) else None
    total = 0
    for sample in samples or ():
        meta = getattr(sample, 'metainfo', None) or {}
        total += int(meta.get(SKIPPED_CLIPS_KEY, 0))
    return total


def count_clips_per_dataset(data_batch, names: List[str]) -> List[int]:
    """Clips of the batch per dataset of ``names``, from the data samples'
    metainfo ``dataset_name`` (set by
    :class:`mosic_mm.datasets.MixedVideoDataset`)."""
    counts = [0] * len(names)
    samples = data_batch.get('data_samples') if isinstance(
        data_batch, dict) else None
    for sample in samples or ():
        name = (getattr(sample, 'metainfo', None) or {}).get(DATASET_NAME_KEY)
        if name is not None:
            counts[names.index(name)] += 1
    return counts


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

    When the training dataset is a mix (``dataset_names``, e.g.
    :class:`mosic_mm.datasets.MixedVideoDataset`), the clips each dataset
    contributed are counted the same way (data sample metainfo
    ``dataset_name``, same all-reduce, checkpoint meta
    ``clips_per_dataset``), logged as ``train/clips_<name>`` and listed in
    the run summary with their shares.

    The all-reduce runs in ``after_train_iter``, which every rank calls;
    ``before_save_checkpoint`` runs on rank 0 only (``Runner.save_checkpoint``
    is ``master_only``) and must not communicate.
    """
    priority = 'NORMAL'  # after_train_iter before the LoggerHook's

    def __init__(self):
        self._local = 0  # clips skipped for this rank's batches, this process
        self._offset = 0  # total (all ranks) in the resumed checkpoint
        self._total = 0  # offset + all ranks, as of the last iteration
        self._names: Optional[List[str]] = None  # datasets of a mix
        self._clips_local: List[int] = []
        self._clips_offset: dict = {}
        self._clips_total: dict = {}

    def total_skipped_clips(self) -> int:
        """The run's total over all ranks as of the last iteration."""
        return self._total

    def clips_per_dataset(self) -> dict:
        """``{dataset name: clips}`` over all ranks as of the last
        iteration (empty unless the dataset is a mix)."""
        return dict(self._clips_total)

    def _all_reduce_totals(self) -> None:
        """A collective when distributed: every rank must call it."""
        counts = torch.tensor([self._local] + self._clips_local,
                              dtype=torch.int64)
        if dist.get_world_size() > 1:
            dist.all_reduce(counts, op='sum')
        counts = counts.tolist()
        self._total = self._offset + counts[0]
        self._clips_total = {n: self._clips_offset.get(n, 0) + c
                             for n, c in zip(self._names or (), counts[1:])}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        self._offset = int(meta.get(SKIPPED_CLIPS_KEY, 0))
        self._clips_offset = dict(meta.get(CLIPS_KEY) or {})

    def before_train(self, runner) -> None:
        loader = getattr(runner, 'train_dataloader', None)
        names = getattr(getattr(loader, 'dataset', None), 'dataset_names',
                        None)
        self._names = list(names) if names else None
        self._local, self._total = 0, self._offset
        self._clips_local = [0] * len(self._names or ())
        self._clips_total = {n: self._clips_offset.get(n, 0)
                             for n in self._names or ()}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._local += count_skipped_clips(data_batch)
        if self._names:
            for i, c in enumerate(count_clips_per_dataset(data_batch,
                                                          self._names)):
                self._clips_local[i] += c
        self._all_reduce_totals()
        runner.message_hub.update_scalar(SCALAR, self._total)
        for name, count in self._clips_total.items():
            runner.message_hub.update_scalar(CLIPS_SCALAR.format(name),
                                             count)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta[SKIPPED_CLIPS_KEY] = self._total
        if self._names:
            meta[CLIPS_KEY] = dict(self._clips_total)

    def after_train(self, runner) -> None:
        parts = []
        skipped = getattr(runner.optim_wrapper, 'num_skipped', None)
        if skipped is not None:
            parts.append(f'{skipped} optimizer steps skipped for a non-finite '
                         'loss')
        clips = self._total
        parts.append(f'{clips} corrupt clips skipped (all dataloader workers '
                     'and ranks)')
        if self._clips_total:
            total = max(sum(self._clips_total.values()), 1)
            parts.append('clips per dataset: ' + ', '.join(
                f'{n} {c} ({100.0 * c / total:.1f}%)'
                for n, c in self._clips_total.items()))
        runner.logger.info(f'run summary after {runner.iter} iterations: '
                           + ', '.join(parts))
