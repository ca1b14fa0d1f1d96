"""Videos (frame folders or video files) read as clips."""
import os.path as osp
from typing import Callable, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dataset.base_dataset import force_full_init
from mmengine.logging import MMLogger

from mosic_mm.registry import DATASETS
from mosic_mm.structures import SKIPPED_CLIPS_KEY, set_sample_metainfo

from .sources.listing import scan_videos
from .sources.video_index import load_or_build
from .sources.video_io import CorruptVideoError
from .transforms.sampling import SampleClip

__all__ = ['VideoTrajectoryDataset', 'video_id_getter']


def video_id_getter(dataset) -> Callable[[int], str]:
    """``idx -> video id`` of ``dataset``: its ``video_id`` (no data info
    built, :meth:`VideoTrajectoryDataset.video_id`) where it has one, else
    the ``video_id`` of ``get_data_info(idx)``."""
    return getattr(dataset, 'video_id', None) or (
        lambda i: dataset.get_data_info(i)['video_id'])


@DATASETS.register_module()
class VideoTrajectoryDataset(BaseDataset):
    """The videos of a collection; item ``i`` is a clip of video ``i``
    through ``pipeline`` (one clip per video per epoch).

    Layouts (:func:`~.sources.listing.scan_videos`): frame folders
    ``data_root/<data_prefix.img>/<video>/<frame>.jpg`` (YouTube-VOS /
    DAVIS), else video files under that folder (or ``data_root``); an
    ``ann_file`` restricts and orders them (nested folders are named by
    their relative path, :mod:`~.sources.video_lists`).

    data_info: ``video_id``, ``frame_paths`` (list[str]) or ``video_path``
    (str), ``total_frames``, and ``data_root`` (the default home of the
    caches). The pipeline's first step, :class:`SampleClip`, picks the
    clip's ``frame_inds``; videos with fewer frames than its ``clip_len``
    are left out with one warning naming them.

    A clip whose pipeline raises :class:`CorruptVideoError` is skipped in
    training (warning; another index is fetched) and re-raised in
    ``test_mode``. Skips are counted in ``self.num_skipped`` (this process)
    and travel with the batch: the clip returned after ``n`` skips carries
    ``skipped_clips=n`` in its data sample's metainfo, so the main process
    sums them whatever ``num_workers`` is
    (:class:`mosic_mm.engine.hooks.RunSummaryHook`).

    Args:
        data_root (str): dataset root.
        pipeline (list): transforms, :class:`SampleClip` first.
        ann_file (str): optional list of videos, one folder name or
            relative video path per line.
        data_prefix (dict, optional): ``img`` sub-folder of ``data_root``;
            defaults to ``dict(img='JPEGImages')``.
        frame_exts, video_exts (tuple[str]): recognised file extensions.
        min_frames (int, optional): the shortest video kept; None takes the
            pipeline's ``SampleClip.clip_len`` (1 without one).
        test_mode (bool): corrupt data raises.
        index_file (str, optional): list and count the collection once
            into this file (relative: under ``data_root``), a
            :class:`~.sources.video_index.VideoIndex` mapped read-only by
            every process and rebuilt when the collection changes
            (docs/datasets.md, "Large collections"). None: list and count at
            every start.
        **kwargs: other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 data_root: str,
                 pipeline: Sequence = (),
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 frame_exts: Sequence[str] = ('.jpg', '.jpeg', '.png'),
                 video_exts: Sequence[str] = ('.mp4', '.avi', '.mkv', '.mov',
                                              '.webm'),
                 min_frames: Optional[int] = None,
                 test_mode: bool = False,
                 index_file: Optional[str] = None,
                 **kwargs):
        self.frame_exts = tuple(e.lower() for e in frame_exts)
        self.video_exts = tuple(e.lower() for e in video_exts)
        self.num_skipped = 0
        if index_file and data_root and not osp.isabs(index_file):
            index_file = osp.join(data_root, index_file)
        self.index_file = index_file or None
        self._index, self._rows = None, None
        self._min_frames = min_frames
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=dict(data_prefix or
                                          dict(img='JPEGImages')),
                         pipeline=list(pipeline),
                         test_mode=test_mode, **kwargs)

    @property
    def clip_sampler(self) -> Optional[SampleClip]:
        """The pipeline's :class:`SampleClip` step, if any."""
        return next((t for t in getattr(self.pipeline, 'transforms', ())
                     if isinstance(t, SampleClip)), None)

    @property
    def min_frames(self) -> int:
        if self._min_frames is not None:
            return int(self._min_frames)
        sampler = self.clip_sampler
        return sampler.clip_len if sampler is not None else 1

    # ------------------------------------------------------------- listing
    def _img_dir(self) -> str:
        return self.data_prefix.get('img', '') or self.data_root

    def _scan(self):
        return scan_videos(self._img_dir(), self.data_root, self.ann_file,
                           self.frame_exts, self.video_exts)

    def load_data_list(self) -> List[dict]:
        infos, skipped = self._scan()
        self._warn_skipped(skipped)
        rows = self._usable(np.array([i['total_frames'] for i in infos],
                                     dtype=np.int64),
                            lambda i: infos[i]['video_id'])
        return [infos[i] for i in rows]

    def _warn_skipped(self, skipped: dict) -> None:
        """One warning per reason of :func:`scan_videos`' ``skipped``."""
        what = dict(unreadable='videos decord cannot open',
                    empty=f'folders without frames {self.frame_exts} in '
                    f'"{self._img_dir()}"')
        for reason, rec in skipped.items():
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped {rec["count"]} '
                f'{what[reason]}: {", ".join(rec["shown"])}'
                f'{", ..." if rec["count"] > len(rec["shown"]) else ""}')

    def _usable(self, totals: np.ndarray, video_id) -> np.ndarray:
        """Positions of the videos with at least ``min_frames`` frames
        (``totals`` int ``[V]``); one warning naming the others, an error if
        none is left."""
        need = self.min_frames
        short = np.flatnonzero(totals < need)
        if short.size:
            shown = ', '.join(f'{video_id(i)} ({totals[i]})'
                              for i in short[:5])
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped {short.size} of '
                f'{totals.size} videos with fewer than clip_len={need} '
                f'frames: {shown}{", ..." if short.size > 5 else ""}')
        rows = np.flatnonzero(totals >= need)
        if not rows.size:
            raise ValueError(
                f'VideoTrajectoryDataset: no usable videos under '
                f'"{self._img_dir()}" (data_root "{self.data_root}"): of '
                f'{totals.size} readable videos, {short.size} are shorter '
                f'than clip_len={need} frames, none longer')
        return rows

    # ------------------------------------------------ indexed (index_file)
    def full_init(self):
        """``BaseDataset.full_init``, or with ``index_file``: map the index
        (built first if missing or stale, :func:`load_or_build`) instead of
        holding a data list."""
        if self._fully_initialized or not self.index_file:
            return super().full_init()
        if self._indices is not None:
            raise ValueError('VideoTrajectoryDataset: indices (a subset) '
                             'cannot be combined with index_file')
        img_dir = self._img_dir()
        key = dict(dataset=type(self).__name__,
                   data_root=osp.abspath(self.data_root or '.'),
                   img_dir=osp.abspath(img_dir),
                   ann_file=self.ann_file and osp.abspath(self.ann_file),
                   frame_exts=list(self.frame_exts),
                   video_exts=list(self.video_exts))
        index = load_or_build(
            self.index_file, key, [self.ann_file, img_dir, self.data_root],
            self._scan, base=img_dir if osp.isdir(img_dir) else
            self.data_root, logger=MMLogger.get_current_instance())
        self._warn_skipped(index.meta.get('skipped', {}))
        self._rows = self._usable(np.asarray(index.total_frames),
                                  index.video_id)
        self._index, self.data_list = index, []
        self._fully_initialized = True

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        if self._index is None:
            info = super().get_data_info(idx)
        else:
            info = self._index.info(int(self._rows[idx]))
            info['sample_idx'] = idx if idx >= 0 else len(self) + idx
        info.setdefault('data_root', self.data_root)  # the caches' home
        return info

    @force_full_init
    def __len__(self) -> int:
        return super().__len__() if self._index is None else len(self._rows)

    def video_id(self, idx: int) -> str:
        """``get_data_info(idx)['video_id']`` without building the info."""
        if self._index is None:
            return self.get_data_info(idx)['video_id']
        return self._index.video_id(int(self._rows[idx]))

    # ------------------------------------------------------------- reading
    def __getitem__(self, idx: int):
        """``BaseDataset.__getitem__`` (refetching after a skipped clip),
        with the number of clips skipped on the way in the data sample's
        metainfo (``skipped_clips``)."""
        before = self.num_skipped
        data = super().__getitem__(idx)
        set_sample_metainfo(
            data, **{SKIPPED_CLIPS_KEY: int(self.num_skipped - before)})
        return data

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on video ``idx``; None (so BaseDataset
        refetches) if the data is corrupt in training."""
        info = self.get_data_info(idx)
        try:
            return self.pipeline(info)
        except CorruptVideoError as e:
            if self.test_mode:
                raise
            self.num_skipped += 1
            src = info.get('video_path') or osp.dirname(
                info['frame_paths'][0])
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped a corrupt clip of '
                f'"{info["video_id"]}" ({src}): {e} '
                f'[{self.num_skipped} clips skipped so far in this process; '
                'the run summary counts all workers and ranks]')
            return None
