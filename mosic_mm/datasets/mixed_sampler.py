"""Drawing a mix of datasets with fixed ratios (:class:`MixedRatioSampler`).

Each epoch's order of global indices into a concatenation
(:class:`mosic_mm.datasets.MixedVideoDataset`) is a pure function of
``(seed, epoch)`` (:func:`epoch_order`), so every rank computes the same
order, takes its own slice of it and can start anywhere in it: a run resumed
mid-epoch continues with the batches the interrupted run would have drawn.
"""
import math
from typing import Iterator, List, Optional, Sequence

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import MMLogger
from torch.utils.data import Sampler

from mosic_mm.registry import DATA_SAMPLERS


def check_ratios(ratios: Sequence[float], names: Sequence[str]) -> np.ndarray:
    """``ratios`` normalised to sum 1 (float64 ``[D]``); a clear error for a
    wrong count or a ratio that is not a finite number > 0 (a dataset the mix
    should not draw from is removed from the config, not given 0)."""
    if isinstance(ratios, (str, bytes)) or not hasattr(ratios, '__len__'):
        raise TypeError(f'ratios must be a list of numbers, got {ratios!r}')
    if len(ratios) != len(names):
        raise ValueError(
            f'{len(ratios)} ratios {list(ratios)} for {len(names)} datasets '
            f'{list(names)}: give one ratio per dataset')
    out = []
    for name, r in zip(names, ratios):
        try:
            value = float(r)
        except (TypeError, ValueError):
            raise TypeError(f'ratio of dataset {name!r} is {r!r}, not a '
                            'number') from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f'ratio of dataset {name!r} is {r!r}; every ratio must be a '
                'finite number > 0 (to leave a dataset out of the mix, remove '
                'it from the datasets list)')
        out.append(value)
    out = np.asarray(out, dtype=np.float64)
    return out / out.sum()


def ratio_quotas(probs: np.ndarray, total: int) -> np.ndarray:
    """Clips per dataset in an epoch of ``total`` clips: ``total * probs``
    rounded by largest remainder (ties to the earlier dataset), int64 ``[D]``
    summing to ``total``."""
    exact = np.asarray(probs, dtype=np.float64) * int(total)
    quotas = np.floor(exact).astype(np.int64)
    short = int(total) - int(quotas.sum())
    if short > 0:
        order = np.argsort(-(exact - quotas), kind='stable')
        quotas[order[:short]] += 1
    return quotas


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        [int(k) & 0xFFFFFFFFFFFFFFFF for k in key])))


def dataset_stream(size: int, start: int, count: int, seed: int,
                   dataset: int, shuffle: bool = True) -> np.ndarray:
    """Positions ``start .. start + count - 1`` of one dataset's endless
    stream of local indices: successive random permutations of
    ``range(size)`` (permutation ``k`` seeded by ``(seed, dataset, k)``),
    or ``0 .. size - 1`` repeated when not ``shuffle``. Every video comes
    once before any comes twice. int64 ``[count]``."""
    out = np.empty(int(count), dtype=np.int64)
    pos, filled = int(start), 0
    while filled < count:
        cycle, offset = divmod(pos, size)
        perm = (_rng(seed, 1, dataset, cycle).permutation(size) if shuffle
                else np.arange(size, dtype=np.int64))
        take = min(size - offset, count - filled)
        out[filled:filled + take] = perm[offset:offset + take]
        filled, pos = filled + take, pos + take
    return out


def epoch_order(sizes: Sequence[int], probs: Optional[np.ndarray],
                epoch_len: int, seed: int, epoch: int,
                shuffle: bool = True) -> np.ndarray:
    """Global indices (into the concatenation of datasets of ``sizes``) of
    one epoch, int64 ``[epoch_len]``.

    ``probs`` None: the concatenation itself, each clip once, shuffled
    (``epoch_len`` must be the total size): what the official
    ``MixedDataset`` does, so each dataset contributes in proportion to its
    size. Else dataset ``d`` fills ``ratio_quotas(probs, epoch_len)[d]``
    slots, continuing its :func:`dataset_stream` where the previous epoch
    stopped, and the slots are shuffled.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if probs is None:
        total = int(sizes.sum())
        if epoch_len != total:
            raise ValueError(f'epoch_len {epoch_len} != {total} clips: '
                             'without ratios an epoch is the concatenation')
        return (_rng(seed, 0, epoch).permutation(total) if shuffle
                else np.arange(total, dtype=np.int64))
    quotas = ratio_quotas(probs, epoch_len)
    parts = [offsets[d] + dataset_stream(int(sizes[d]), int(epoch) * int(q),
                                         int(q), seed, d, shuffle)
             for d, q in enumerate(quotas)]
    order = np.concatenate(parts) if parts else np.empty(0, np.int64)
    if shuffle:
        order = order[_rng(seed, 2, epoch).permutation(order.size)]
    return order


def dataset_sizes(dataset) -> List[int]:
    """Sizes of the datasets of a concatenation (``cumulative_sizes``), or
    ``[len(dataset)]``."""
    cum = getattr(dataset, 'cumulative_sizes', None)
    if cum is None:
        return [len(dataset)]
    return [int(b - a) for a, b in zip([0] + list(cum[:-1]), cum)]


@DATA_SAMPLERS.register_module()
class MixedRatioSampler(Sampler):
    """Epoch sampler over a concatenation of datasets, each drawn with its
    ratio, sharded over ranks and resumable mid-epoch.

    - ``ratios=None`` (default): every clip of the concatenation once per
      epoch, shuffled: each dataset contributes in proportion to its size,
      as the official ``MixedDataset`` (whose ratio draw is commented out)
      and mmengine's ``DefaultSampler``.
    - ``ratios=[r0, r1, ...]``: of the ``epoch_length`` clips of an epoch,
      dataset ``d`` gives ``epoch_length * r_d / sum(r)`` (rounded), whatever
      the datasets' sizes (what the official ``--sampling_ratios`` promises):
      a small dataset is repeated, a large one is seen in part, continuing
      next epoch where this one stopped (:func:`dataset_stream`).

    The epoch's order is a function of ``(seed, epoch)`` only
    (:func:`epoch_order`; ``seed`` is the run's seed, passed by the Runner).
    It is padded to a multiple of the world size with its first indices (as
    ``DefaultSampler``) and rank ``r`` takes positions ``r, r + W, ...``: the
    clips of one step of all ranks are consecutive, distinct positions.
    :meth:`resume_from` makes the next epoch start after the clips this rank
    already trained on (:class:`mosic_mm.engine.hooks.SamplerResumeHook`).

    Args:
        dataset: the dataset (a :class:`MixedVideoDataset`; any dataset with
            ``ratios=None``).
        ratios (list[float], optional): one finite ratio > 0 per dataset.
        shuffle (bool): shuffle the epoch (and the datasets' streams).
        seed (int, optional): None -> a seed shared by the ranks.
        epoch_length (int, optional): clips per epoch (all ranks) with
            ratios; default the concatenation's size, so an epoch has as many
            steps as without ratios.
    """

    def __init__(self, dataset, ratios: Optional[Sequence[float]] = None,
                 shuffle: bool = True, seed: Optional[int] = None,
                 epoch_length: Optional[int] = None):
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.sizes = dataset_sizes(dataset)
        self.names = list(getattr(dataset, 'dataset_names', None) or
                          [f'dataset{i}' for i in range(len(self.sizes))])
        self.probs = None if ratios is None else check_ratios(ratios,
                                                              self.names)
        total = int(sum(self.sizes))
        if epoch_length is None:
            epoch_length = total
        elif ratios is None:
            raise ValueError('epoch_length needs ratios: without them an '
                             'epoch is the whole concatenation')
        if int(epoch_length) != epoch_length or epoch_length < 1:
            raise ValueError(f'epoch_length must be a positive int, got '
                             f'{epoch_length!r}')
        self.epoch_length = int(epoch_length)
        self.shuffle = bool(shuffle)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        self.num_samples = math.ceil(self.epoch_length / self.world_size)
        self.total_size = self.num_samples * self.world_size
        self._skip = 0
        MMLogger.get_current_instance().info(self.describe())

    def describe(self) -> str:
        """One line: clips per epoch of each dataset and its share."""
        quotas = (self.sizes if self.probs is None else
                  ratio_quotas(self.probs, self.epoch_length).tolist())
        parts = [f'{n} {q} ({100.0 * q / self.epoch_length:.1f}%, '
                 f'{q / s:.2f} passes over its {s} videos)'
                 for n, q, s in zip(self.names, quotas, self.sizes)]
        rule = ('proportional to size (the official MixedDataset)'
                if self.probs is None else 'ratios ' + ' : '.join(
                    f'{p:.4g}' for p in self.probs))
        return (f'MixedRatioSampler: {rule}; clips per epoch: '
                + ', '.join(parts))

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's indices of ``epoch``, int64 ``[num_samples]``."""
        order = epoch_order(self.sizes, self.probs, self.epoch_length,
                            self.seed, epoch, self.shuffle)
        if order.size < self.total_size:
            reps = -(-self.total_size // order.size)
            order = np.tile(order, reps)[:self.total_size]
        return order[self.rank:self.total_size:self.world_size]

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        return iter(self.indices(self.epoch)[skip:].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume_from(self, num_done: int) -> None:
        """The next epoch iterated starts after its first ``num_done``
        indices of this rank (the clips trained on before the checkpoint)."""
        if int(num_done) != num_done or not 0 <= num_done <= self.num_samples:
            raise ValueError(f'num_done must be in [0, {self.num_samples}], '
                             f'got {num_done!r}')
        self._skip = int(num_done)
