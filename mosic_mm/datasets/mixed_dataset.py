"""Several video collections trained on as one (:class:`MixedVideoDataset`).

The official ``MixedDataset`` (MoSiC ``dataset/data_loader.py``) is a plain
concatenation: its ratio draw is commented out, so each dataset contributes
in proportion to its size. This is that concatenation (mmengine's
``ConcatDataset``), with names for the log and the run summary and checks
that two datasets do not silently overlap; the ratios are drawn by
:class:`mosic_mm.datasets.MixedRatioSampler`.
"""
import os.path as osp
import re
from typing import Iterator, List, Sequence, Union

from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.logging import MMLogger

from mosic_mm.datasets.video_dataset import video_id_getter
from mosic_mm.registry import DATASETS
from mosic_mm.structures import DATASET_NAME_KEY, set_sample_metainfo

_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')


def cache_identity(dataset) -> str:
    """Where a dataset's per-video caches live: the explicit cache folders of
    its pipeline's steps (``cache_dir``, ``frame_cache_dir``), else its
    ``data_root`` (the caches' default home). Two datasets of one identity
    must not share video ids, or one's cached tracks serve the other."""
    explicit = sorted(
        osp.realpath(v) for t in getattr(dataset.pipeline, 'transforms', ())
        for k, v in vars(t).items()
        if k.endswith('cache_dir') and isinstance(v, str) and v)
    if explicit:
        return '|'.join(explicit)
    return osp.realpath(getattr(dataset, 'data_root', '') or '.')


def iter_video_ids(dataset) -> Iterator[str]:
    """The video ids of a dataset (``video_id(i)`` where it has it)."""
    get = video_id_getter(dataset)
    return (get(i) for i in range(len(dataset)))


def shared_ids(a, b) -> List[str]:
    """Video ids of both datasets (a set of the smaller one's ids only)."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    ids = set(iter_video_ids(small))
    return [v for v in iter_video_ids(large) if v in ids]


@DATASETS.register_module()
class MixedVideoDataset(ConcatDataset):
    """Named video datasets concatenated.

    Each returned clip's data sample carries its dataset's name in its
    metainfo (``dataset_name``), so :class:`mosic_mm.engine.hooks.
    RunSummaryHook` counts the clips each dataset contributed (log line,
    tensorboard, run summary). A corrupt clip is replaced from the same
    dataset (``BaseDataset.__getitem__``), so skips do not change the mix.

    Checks at start-up (errors name the datasets): one name per dataset,
    unique, ``[A-Za-z0-9_.-]``; datasets sharing a cache identity
    (:func:`cache_identity`: the same ``data_root`` or explicit cache folder,
    e.g. one collection listed twice) must not share a video id -- a
    dataset listed twice would double its weight, and their caches would
    collide. Ids shared by datasets with separate caches are legal (each
    clip is read and tracked from its own collection) and are logged with
    their count.

    Args:
        datasets (list[dict | BaseDataset]): the datasets.
        names (list[str]): their names, e.g. ``['ytvos', 'mose']``.
        lazy_init (bool): as ``ConcatDataset``.
    """

    def __init__(self, datasets: Sequence[Union[dict, BaseDataset]],
                 names: Sequence[str], lazy_init: bool = False):
        names = list(names or ())
        if len(names) != len(datasets) or not datasets:
            raise ValueError(
                f'MixedVideoDataset: {len(datasets)} datasets but names '
                f'{names}: give one name per dataset')
        bad = [n for n in names if not isinstance(n, str)
               or not _NAME.match(n)]
        if bad:
            raise ValueError(f'MixedVideoDataset: names must match '
                             f'[A-Za-z0-9_.-]+, got {bad}')
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f'MixedVideoDataset: duplicate dataset names '
                             f'{dup} in {names}: the clip counts are per name')
        self.dataset_names = names
        datasets = [DATASETS.build(d) if isinstance(d, dict) else d
                    for d in datasets]
        super().__init__(datasets, lazy_init=lazy_init)

    def full_init(self):
        if self._fully_initialized:
            return
        super().full_init()
        self._check_overlaps()
        sizes = ', '.join(f'{n} {len(d)}' for n, d in
                          zip(self.dataset_names, self.datasets))
        MMLogger.get_current_instance().info(
            f'MixedVideoDataset: {len(self)} videos ({sizes})')

    def _check_overlaps(self) -> None:
        names, logger = self.dataset_names, MMLogger.get_current_instance()
        idents = [cache_identity(d) for d in self.datasets]
        for a in range(len(self.datasets)):
            for b in range(a + 1, len(self.datasets)):
                shared = shared_ids(self.datasets[a], self.datasets[b])
                if not shared:
                    continue
                shown = ', '.join(f'"{v}"' for v in shared[:5])
                if idents[a] == idents[b]:
                    raise ValueError(
                        f'MixedVideoDataset: datasets {names[a]} and '
                        f'{names[b]} read and cache from {idents[a]} and share'
                        f' {len(shared)} video ids: {shown}. A collection '
                        "listed twice doubles its weight (use the sampler's "
                        'ratios instead) and its caches collide; give each '
                        'dataset its own videos')
                logger.info(
                    f'MixedVideoDataset: {len(shared)} video ids occur in '
                    f'both {names[a]} and {names[b]} (e.g. {shown}); each is '
                    'read and cached from its own data_root and counted '
                    'under its own dataset')

    def __getitem__(self, idx: int):
        d, i = self._get_ori_dataset_idx(idx)
        data = self.datasets[d][i]
        set_sample_metainfo(data, **{DATASET_NAME_KEY: self.dataset_names[d]})
        return data
