"""Videos (frame folders or video files) sampled as fixed-length clips."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

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


def add_skip_count(data, count: int) -> None:
    """Record ``count`` skipped clips in ``data['data_samples']``' metainfo
    (key ``skipped_clips``) when the pipeline packed a data sample (e.g.
    :class:`PackTrackInputs`); other outputs are left unchanged."""
    sample = data.get('data_samples') if isinstance(data, dict) else None
    if hasattr(sample, 'set_metainfo'):
        sample.set_metainfo(dict(skipped_clips=int(count)))


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
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=dict(data_prefix or
                                          dict(img='JPEGImages')),
                         pipeline=list(pipeline),
                         test_mode=test_mode, **kwargs)

    # ------------------------------------------------------------- indexing
    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix.get('img', '') or self.data_root
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

        infos = self._index_frame_folders(img_dir, names)
        if infos is None:
            video_dir = img_dir if osp.isdir(img_dir) else self.data_root
            infos = self._index_video_files(video_dir, names)

        short = [i for i in infos if i['total_frames'] < self.clip_len]
        if short:
            shown = ', '.join(f"{i['video_id']} ({i['total_frames']})"
                              for i in short[:5])
            more = ', ...' if len(short) > 5 else ''
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped {len(short)} of '
                f'{len(infos)} videos with fewer than clip_len='
                f'{self.clip_len} frames: {shown}{more}')
        infos = [i for i in infos if i['total_frames'] >= self.clip_len]
        if not infos:
            raise ValueError(
                f'VideoTrajectoryDataset: no usable videos under "{img_dir}"'
                f' (data_root "{self.data_root}"): {len(short)} videos '
                f'shorter than clip_len={self.clip_len} frames, none longer')
        return infos

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
            self, img_dir: str,
            names: Optional[List[str]]) -> Optional[List[dict]]:
        """Frame-folder infos, or None if ``img_dir`` holds no such folder."""
        if not osp.isdir(img_dir):
            return None
        if names is not None and any('/' in n for n in names):
            # a list of nested paths (VSPW, CO3D, EPIC; video_lists.py)
            return listed_frame_folders(img_dir, names, self.frame_exts,
                                        self.ann_file)
        with os.scandir(img_dir) as it:
            subdirs = sorted(e.name for e in it
                             if e.is_dir() and not e.name.startswith('.'))
        infos = {}
        for name in subdirs:
            frames = self._list_frames(osp.join(img_dir, name))
            if frames:
                infos[name] = dict(video_id=name, frame_paths=frames,
                                   total_frames=len(frames))
        if not infos:
            return None
        if names is None:
            return list(infos.values())
        out = []
        for name in names:
            if name not in infos:
                raise self._missing(name, f'the frame folders of "{img_dir}"')
            out.append(infos[name])
        return out

    def _index_video_files(self, video_dir: str,
                           names: Optional[List[str]]) -> List[dict]:
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
        for rel, path in chosen:
            try:
                n = self._count_frames(path)
            except Exception as e:  # decord raises several error types
                unreadable.append(f'{rel} ({type(e).__name__})')
                continue
            infos.append(dict(video_id=osp.splitext(rel)[0], video_path=path,
                              total_frames=n))
        if unreadable:
            MMLogger.get_current_instance().warning(
                f'VideoTrajectoryDataset: skipped {len(unreadable)} videos '
                f'decord cannot open: {", ".join(unreadable[:5])}'
                f'{", ..." if len(unreadable) > 5 else ""}')
        return infos

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
