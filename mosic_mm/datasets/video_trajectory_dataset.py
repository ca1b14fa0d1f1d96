"""Videos (frame folders or video files) sampled as fixed-length clips."""
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dataset.base_dataset import force_full_init
from mmengine.logging import MMLogger

from mosic_mm.datasets.video_index import count_all, load_or_build
from mosic_mm.datasets.video_io import CorruptVideoError
from mosic_mm.datasets.video_lists import listed_frame_folders
from mosic_mm.registry import DATASETS


def effective_stride(total_frames: int, clip_len: int, stride: int) -> int:
    """The step between clip frames: ``stride``, or ``max(1, total_frames //
    clip_len)`` if the video is shorter than ``clip_len * stride`` frames
    (reference recipe)."""
    if clip_len < 1 or stride < 1:
        raise ValueError(f'clip_len and stride must be >= 1, got {clip_len} '
                         f'and {stride}')
    if total_frames < clip_len:
        raise ValueError(f'cannot sample {clip_len} frames from a video of '
                         f'{total_frames} frames')
    if total_frames < clip_len * stride:
        stride = max(1, total_frames // clip_len)
    return int(stride)


START_RULES = ('reference', 'fit')


def clip_starts(total_frames: int, clip_len: int, stride: int,
                window_step: Optional[int] = None,
                start_rule: str = 'reference') -> np.ndarray:
    """Every start frame a training clip may have.

    The single definition shared by :func:`sample_clip_indices` (training)
    and ``tools/extract_tracks.py`` (the track cache holds exactly these
    windows).

    Args:
        total_frames: frames in the video (>= clip_len).
        clip_len: frames per clip (T).
        stride: preferred step (see :func:`effective_stride`).
        window_step: None -> every start ``0 .. max_start``; an int k
            -> the multiples of k up to ``max_start``.
        start_rule: the last start ``max_start``. 'reference' (the official
            sampler, ``randint(0, total - T * step)``): ``total_frames -
            clip_len * step``; 'fit': every start whose clip fits,
            ``total_frames - 1 - (clip_len - 1) * step`` (``step - 1`` more
            starts), with ``step`` the :func:`effective_stride`.

    Returns:
        int64 ``[S]``, increasing, ``S >= 1`` (always contains 0).
    """
    if window_step is not None and (int(window_step) != window_step
                                    or window_step < 1):
        raise ValueError('window_step must be None or a positive int, got '
                         f'{window_step!r}')
    if start_rule not in START_RULES:
        raise ValueError(f'start_rule must be one of {START_RULES}, got '
                         f'{start_rule!r}')
    step = effective_stride(total_frames, clip_len, stride)
    max_start = total_frames - clip_len * step
    if start_rule == 'fit':
        max_start += step - 1
    return np.arange(0, max_start + 1, 1 if window_step is None else
                     int(window_step), dtype=np.int64)


def sample_clip_indices(total_frames: int, clip_len: int, stride: int,
                        rng=None, random_start: bool = True,
                        window_step: Optional[int] = None,
                        start_rule: str = 'reference') -> np.ndarray:
    """Frame indices of one clip: ``clip_len`` frames ``stride`` apart.

    If ``total_frames < clip_len * stride`` the stride becomes
    ``max(1, total_frames // clip_len)`` (reference recipe). The start is
    uniform over :func:`clip_starts` when ``random_start`` (training), else 0.

    Args:
        total_frames: frames in the video (>= clip_len).
        clip_len: frames per clip (T).
        stride: preferred step between frames.
        rng: ``np.random`` (default, global state), a ``RandomState`` or a
            ``Generator``.
        random_start: draw the start (True) or use 0 (False).
        window_step: restrict starts to multiples of it (the windows of a
            track cache); None allows every start.
        start_rule: the last start, see :func:`clip_starts`.

    Returns:
        int64 ``[clip_len]``, increasing, within ``[0, total_frames)``.
    """
    stride = effective_stride(total_frames, clip_len, stride)
    starts = clip_starts(total_frames, clip_len, stride, window_step,
                         start_rule)
    start = 0
    if random_start and starts.size > 1:
        rng = np.random if rng is None else rng
        draw = rng.integers if hasattr(rng, 'integers') else rng.randint
        start = int(starts[int(draw(0, starts.size))])
    return start + stride * np.arange(clip_len, dtype=np.int64)


def set_sample_metainfo(data, **meta) -> None:
    """Add ``meta`` to ``data['data_samples']``' metainfo when the pipeline
    packed a data sample (e.g. :class:`PackTrackInputs`); other outputs are
    left unchanged."""
    sample = data.get('data_samples') if isinstance(data, dict) else None
    if hasattr(sample, 'set_metainfo'):
        sample.set_metainfo(meta)


def video_id_getter(dataset) -> Callable[[int], str]:
    """``idx -> video id`` of ``dataset``: its ``video_id`` (no data info
    built, :meth:`VideoTrajectoryDataset.video_id`) where it has one, else
    the ``video_id`` of ``get_data_info(idx)``."""
    return getattr(dataset, 'video_id', None) or (
        lambda i: dataset.get_data_info(i)['video_id'])


def add_skip_count(data, count: int) -> None:
    """Record ``count`` skipped clips in the data sample's metainfo (key
    ``skipped_clips``, :func:`set_sample_metainfo`)."""
    set_sample_metainfo(data, skipped_clips=int(count))


def _has_ext(name: str, exts: Tuple[str, ...]) -> bool:
    return not name.startswith('.') and name.lower().endswith(exts)


@DATASETS.register_module()
class VideoTrajectoryDataset(BaseDataset):
    """One clip per video per epoch, from frame folders or video files.

    Layouts (checked in this order):

    - frame folders: ``data_root/<data_prefix.img>/<video>/<frame>.jpg``
      (YouTube-VOS / DAVIS ``JPEGImages``), frames sorted by file name;
    - video files (``video_exts``) anywhere under ``data_root/<prefix>`` if
      that folder exists, else under ``data_root``; frame counts via decord.

    data_info: ``video_id`` (folder name / relative path without extension),
    ``frame_paths`` (list[str]) or ``video_path`` (str), ``total_frames``.
    Each ``__getitem__`` adds a fresh ``frame_inds`` (int64 ``[clip_len]``,
    :func:`sample_clip_indices`, ``np.random`` global state; start 0 in
    ``test_mode``; starts restricted by ``window_step``) and ``data_root``
    before the pipeline runs. Videos with fewer than
    ``clip_len`` frames are skipped with one warning. A clip whose pipeline
    raises :class:`CorruptVideoError` is skipped in training (warning,
    another index is fetched) and re-raised in ``test_mode``. The skips are
    counted in ``self.num_skipped`` (this process: a dataloader worker has
    its own copy) and travel with the batch: the clip returned after ``n``
    skips carries ``skipped_clips=n`` in its data sample's metainfo, so the
    main process can sum them exactly whatever ``num_workers`` is
    (:class:`mosic_mm.engine.hooks.RunSummaryHook`).

    Args:
        data_root (str): dataset root.
        pipeline (list): transforms.
        clip_len (int): frames per clip (T).
        frame_stride (int): preferred step between sampled frames.
        ann_file (str): optional list of videos, one folder name or relative
            video path per line; blank lines and ``#`` comments are ignored.
            Frame folders at other depths are named by their relative path
            (``<video>/origin``; :mod:`~mosic_mm.datasets.video_lists`).
        data_prefix (dict, optional): ``img`` sub-folder of ``data_root``;
            defaults to ``dict(img='JPEGImages')``.
        frame_exts, video_exts (tuple[str]): recognised file extensions.
        test_mode (bool): deterministic clips; corrupt data raises.
        window_step (int, optional): clip starts are restricted to multiples
            of it (:func:`clip_starts`): the windows a track cache holds
            (``LoadTracks``, ``tools/extract_tracks.py``). None (default)
            allows every start.
        start_rule (str): the last start a clip may have
            (:func:`clip_starts`): 'reference' (default, the official
            sampler: ``total - clip_len * stride``) or 'fit' (every start
            whose clip fits: ``total - 1 - (clip_len - 1) * stride``).
        index_file (str, optional): cache the list of videos and their frame
            counts in this file (relative: under ``data_root``), a
            :class:`~mosic_mm.datasets.video_index.VideoIndex` mapped
            read-only by every process, rebuilt when the collection changed
            (docs/datasets.md, "Large collections"). None (default): list
            and count at every start.
        **kwargs: other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 data_root: str,
                 pipeline: Sequence = (),
                 clip_len: int = 12,
                 frame_stride: int = 6,
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 frame_exts: Sequence[str] = ('.jpg', '.jpeg', '.png'),
                 video_exts: Sequence[str] = ('.mp4', '.avi', '.mkv', '.mov',
                                              '.webm'),
                 test_mode: bool = False,
                 window_step: Optional[int] = None,
                 start_rule: str = 'reference',
                 index_file: Optional[str] = None,
                 **kwargs):
        if int(clip_len) != clip_len or clip_len < 1:
            raise ValueError('clip_len must be a positive int, got '
                             f'{clip_len}')
        if int(frame_stride) != frame_stride or frame_stride < 1:
            raise ValueError('frame_stride must be a positive int, got '
                             f'{frame_stride}')
        if window_step is not None and (int(window_step) != window_step
                                        or window_step < 1):
            raise ValueError('window_step must be None or a positive int, '
                             f'got {window_step!r}')
        self.clip_len = int(clip_len)
        self.frame_stride = int(frame_stride)
        self.window_step = None if window_step is None else int(window_step)
        if start_rule not in START_RULES:
            raise ValueError(f'start_rule must be one of {START_RULES}, got '
                             f'{start_rule!r}')
        self.start_rule = start_rule
        self.frame_exts = tuple(e.lower() for e in frame_exts)
        self.video_exts = tuple(e.lower() for e in video_exts)
        self.num_skipped = 0
        if index_file and data_root and not osp.isabs(index_file):
            index_file = osp.join(data_root, index_file)
        self.index_file = index_file or None
        self._index, self._rows = None, None
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=dict(data_prefix or
                                          dict(img='JPEGImages')),
                         pipeline=list(pipeline),
                         test_mode=test_mode, **kwargs)

    # ------------------------------------------------------------- indexing
    def _img_dir(self) -> str:
        return self.data_prefix.get('img', '') or self.data_root

    def load_data_list(self) -> List[dict]:
        infos, skipped = self._scan()
        self._warn_skipped(skipped)
        rows = self._usable(np.array([i['total_frames'] for i in infos],
                                     dtype=np.int64),
                            lambda i: infos[i]['video_id'])
        return [infos[i] for i in rows]

    def _scan(self) -> Tuple[List[dict], dict]:
        """``(infos, skipped)``: every video of the collection, short ones
        included, and what the listing left out: ``{reason: dict(count=n,
        shown=[first five])}``, reasons ``'unreadable'`` (video files decord
        cannot open, empty ones too) and ``'empty'`` (folders without
        frames)."""
        img_dir = self._img_dir()
        if not img_dir:
            raise ValueError('VideoTrajectoryDataset: data_root is empty; set '
                             'it to the folder holding the videos')
        if self.data_root and not osp.isdir(self.data_root):
            raise FileNotFoundError(
                f'VideoTrajectoryDataset: data_root "{self.data_root}" is not '
                'a directory; expected <data_root>/'
                f'{osp.basename(img_dir) or "JPEGImages"}/<video>/<frames> '
                'or video files under it')
        names = self._read_ann_file()
        infos, empty = self._index_frame_folders(img_dir, names)
        skipped = dict(empty=empty)
        if infos is None:
            video_dir = img_dir if osp.isdir(img_dir) else self.data_root
            infos, skipped = self._index_video_files(video_dir, names)
        return infos, {k: dict(count=len(v), shown=v[:5])
                       for k, v in skipped.items() if v}

    def _warn_skipped(self, skipped: dict) -> None:
        """One warning per reason of :meth:`_scan`'s ``skipped``."""
        what = dict(unreadable='videos decord cannot open',
                    empty=f'folders without frames {self.frame_exts} in '
                    f'"{self._img_dir()}"')
        for reason, rec in skipped.items():
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped {rec["count"]} '
                f'{what[reason]}: {", ".join(rec["shown"])}'
                f'{", ..." if rec["count"] > len(rec["shown"]) else ""}')

    def _usable(self, totals: np.ndarray, video_id) -> np.ndarray:
        """Positions of the videos with at least ``clip_len`` frames
        (``totals`` int ``[V]``); one warning naming the others, an error if
        none is left."""
        short = np.flatnonzero(totals < self.clip_len)
        if short.size:
            shown = ', '.join(f'{video_id(i)} ({totals[i]})'
                              for i in short[:5])
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped {short.size} of '
                f'{totals.size} videos with fewer than clip_len='
                f'{self.clip_len} frames: {shown}'
                f'{", ..." if short.size > 5 else ""}')
        rows = np.flatnonzero(totals >= self.clip_len)
        if not rows.size:
            raise ValueError(
                f'VideoTrajectoryDataset: no usable videos under '
                f'"{self._img_dir()}" (data_root "{self.data_root}"): of '
                f'{totals.size} readable videos, {short.size} are shorter '
                f'than clip_len={self.clip_len} frames, none longer')
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
            return super().get_data_info(idx)
        info = self._index.info(int(self._rows[idx]))
        info['sample_idx'] = idx if idx >= 0 else len(self) + idx
        return info

    @force_full_init
    def __len__(self) -> int:
        return super().__len__() if self._index is None else len(self._rows)

    def video_id(self, idx: int) -> str:
        """``get_data_info(idx)['video_id']`` without building the info."""
        if self._index is None:
            return self.get_data_info(idx)['video_id']
        return self._index.video_id(int(self._rows[idx]))

    def _read_ann_file(self) -> Optional[List[str]]:
        if not self.ann_file:
            return None
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'VideoTrajectoryDataset: ann_file "{self.ann_file}" does not '
                'exist (expected a text file with one video per line)')
        names = []
        with open(self.ann_file, encoding='utf-8') as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if line:
                    names.append(line.replace('\\', '/').strip('/'))
        if not names:
            raise ValueError(f'VideoTrajectoryDataset: ann_file '
                             f'"{self.ann_file}" lists no videos')
        return names

    def _missing(self, name: str, where: str) -> FileNotFoundError:
        return FileNotFoundError(
            f'VideoTrajectoryDataset: ann_file "{self.ann_file}" names video '
            f'"{name}", which is not in {where}')

    def _list_frames(self, folder: str) -> List[str]:
        with os.scandir(folder) as it:
            files = sorted(e.name for e in it if e.is_file()
                           and _has_ext(e.name, self.frame_exts))
        return [osp.join(folder, f) for f in files]

    def _index_frame_folders(
            self, img_dir: str, names: Optional[List[str]]
    ) -> Tuple[Optional[List[dict]], List[str]]:
        """``(frame-folder infos, names of folders without frames)``; infos
        None if ``img_dir`` holds no folder with frames."""
        if not osp.isdir(img_dir):
            return None, []
        if names is not None and any('/' in n for n in names):
            # a list of nested paths (VSPW, CO3D, EPIC; video_lists.py)
            return listed_frame_folders(img_dir, names, self.frame_exts,
                                        self.ann_file), []
        with os.scandir(img_dir) as it:
            subdirs = sorted(e.name for e in it
                             if e.is_dir() and not e.name.startswith('.'))
        infos, empty = {}, []
        for name in subdirs:
            frames = self._list_frames(osp.join(img_dir, name))
            if frames:
                infos[name] = dict(video_id=name, frame_paths=frames,
                                   total_frames=len(frames))
            elif names is None:
                empty.append(name)
        if not infos:
            return None, []
        if names is None:
            return list(infos.values()), empty
        out = []
        for name in names:
            if name not in infos:
                raise self._missing(name, f'the frame folders of "{img_dir}"'
                                    + (' (it has no frames)' if name in
                                       subdirs else ''))
            out.append(infos[name])
        return out, empty

    def _index_video_files(self, video_dir: str, names: Optional[List[str]]
                           ) -> Tuple[List[dict], dict]:
        paths = {}
        for root, dirs, files in os.walk(video_dir, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            for f in sorted(files):
                if _has_ext(f, self.video_exts):
                    rel = osp.relpath(osp.join(root, f), video_dir)
                    paths[rel.replace(os.sep, '/')] = osp.join(root, f)
        if not paths:
            raise ValueError(
                f'VideoTrajectoryDataset: no videos found under "{video_dir}";'
                f' expected frame folders <video>/<frame>{self.frame_exts} or '
                f'video files {self.video_exts}')
        if names is not None:
            by_id = {osp.splitext(r)[0]: r for r in paths}
            chosen = []
            for name in names:
                rel = name if name in paths else by_id.get(name)
                if rel is None:
                    raise self._missing(name,
                                        f'the videos under "{video_dir}"')
                chosen.append((rel, paths[rel]))
        else:
            chosen = list(paths.items())

        infos, unreadable = [], []
        counts = count_all([path for _, path in chosen], self._count_frames)
        for (rel, path), n in zip(chosen, counts):
            if isinstance(n, str):  # the error's type name
                unreadable.append(f'{rel} ({n})')
            else:
                infos.append(dict(video_id=osp.splitext(rel)[0],
                                  video_path=path, total_frames=n))
        return infos, dict(unreadable=unreadable)

    @staticmethod
    def _count_frames(path: str) -> int:
        import decord
        return len(decord.VideoReader(path, num_threads=1))

    # ------------------------------------------------------------- sampling
    def __getitem__(self, idx: int):
        """``BaseDataset.__getitem__`` (refetching after a skipped clip),
        with the number of clips skipped on the way in the data sample's
        metainfo (``skipped_clips``)."""
        before = self.num_skipped
        data = super().__getitem__(idx)
        add_skip_count(data, self.num_skipped - before)
        return data

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Sample a clip of video ``idx`` and run the pipeline; None (so
        BaseDataset refetches) if the data is corrupt in training."""
        info = self.get_data_info(idx)
        info['frame_inds'] = sample_clip_indices(
            info['total_frames'], self.clip_len, self.frame_stride,
            rng=np.random, random_start=not self.test_mode,
            window_step=self.window_step, start_rule=self.start_rule)
        info.setdefault('data_root', self.data_root)  # default track cache
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
