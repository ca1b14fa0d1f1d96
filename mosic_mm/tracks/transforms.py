"""Point tracks in the data pipeline: on the fly (``TrackPoints``) or from
the track cache (``LoadTracks``, written by ``tools/extract_tracks.py``)."""
import copy
import os.path as osp
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger

from mosic_mm.registry import TRANSFORMS
from mosic_mm.tracks.cache import (
    TrackCacheError,
    cache_path,
    default_cache_dir,
    header_mismatch,
    read_track_file,
)
from mosic_mm.tracks.trackers import build_tracker, check_tracker_cfg


def track_grid(tracker, imgs: np.ndarray, grid_size: int,
               clip: Optional[dict] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Track a ``grid_size x grid_size`` query grid on frame 0 of ``imgs``.

    The one definition of on-the-fly supervision, shared by
    :class:`TrackPoints` and ``tools/extract_tracks.py``.

    Args:
        tracker: a built tracker (``track(frames, queries)``).
        imgs: uint8 ``[T, H, W, 3]`` RGB.
        grid_size: points per side.
        clip: the pipeline results of the clip, passed to the tracker's
            ``for_clip`` (an oracle tracker needs to know the video).

    The queries are the tracker's :meth:`~BaseTracker.query_grid` (the
    cell centres of :func:`mosic_mm.structures.grid_queries`, or CoTracker3's
    own grid), so frame 0 of the tracks holds the points tracked.

    Returns:
        float32 ``[T, N, 2]`` tracks (x, y) and bool ``[T, N]`` visibility,
        ``N = grid_size**2``, frame 0 forced visible (reference recipe).
    """
    if not isinstance(imgs, np.ndarray) or imgs.ndim != 4:
        shape = getattr(imgs, 'shape', type(imgs).__name__)
        raise ValueError("results['imgs'] must be a uint8 array "
                         f'[T, H, W, 3], got {shape}')
    height, width = imgs.shape[1:3]
    if clip is not None:
        tracker = tracker.for_clip(clip)
    queries = tracker.query_grid(height, width, grid_size)
    tracks, visibility = tracker.track(imgs, queries)
    visibility = np.array(visibility, dtype=bool)
    visibility[0] = True
    return np.asarray(tracks, dtype=np.float32), visibility


@TRANSFORMS.register_module()
class TrackPoints(BaseTransform):
    """Track a ``grid_size x grid_size`` query grid on frame 0 through the
    clip.

    Required keys: ``imgs`` (uint8 ``[T, H, W, 3]`` RGB).

    Added keys: ``tracks`` (float32 ``[T, N, 2]`` (x, y) pixels,
    ``N = grid_size**2``, row-major, starting at the tracker's
    ``query_grid``, see :func:`track_grid`) and ``visibility`` (bool
    ``[T, N]``; frame 0 forced visible, as in the reference recipe).

    The tracker is built on first use and dropped when pickled, so each
    dataloader worker builds its own. Prefer cached tracks (``LoadTracks``)
    for training: on the fly, the pipeline is as slow as the tracker.

    Args:
        tracker (dict): config for
            :func:`mosic_mm.tracks.trackers.build_tracker`. Defaults to
            ``dict(type='DISFlowTracker')``.
        grid_size (int): points per side of the query grid. Defaults to 16.
    """

    def __init__(self,
                 tracker: Optional[dict] = None,
                 grid_size: int = 16):
        if tracker is None:
            tracker = dict(type='DISFlowTracker')
        if not isinstance(tracker, dict) or 'type' not in tracker:
            raise TypeError('TrackPoints: tracker must be a config dict with '
                            f"a 'type' key, got {tracker!r}")
        check_tracker_cfg(tracker)
        if int(grid_size) != grid_size or grid_size < 1:
            raise ValueError('TrackPoints: grid_size must be a positive '
                             f'integer, got {grid_size!r}')
        self.tracker_cfg = copy.deepcopy(tracker)
        self.grid_size = int(grid_size)
        self._tracker = None

    @property
    def tracker(self):
        """The tracker, built from ``tracker_cfg`` on first access."""
        if self._tracker is None:
            self._tracker = build_tracker(copy.deepcopy(self.tracker_cfg))
        return self._tracker

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_tracker'] = None  # may hold models or handles; rebuilt lazily
        return state

    def transform(self, results: dict) -> dict:
        try:
            tracks, visibility = track_grid(self.tracker, results['imgs'],
                                            self.grid_size, clip=results)
        except ValueError as e:
            if "results['imgs']" in str(e):
                raise ValueError(f'TrackPoints: {e}') from None
            raise
        results['tracks'] = tracks
        results['visibility'] = visibility
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tracker={self.tracker_cfg!r}, '
                f'grid_size={self.grid_size})')


@TRANSFORMS.register_module()
class LoadTracks(BaseTransform):
    """Read the tracks of the sampled clip from the track cache.

    Put it where :class:`TrackPoints` would be: the cache
    (``tools/extract_tracks.py``) holds tracks in the coordinates of the
    images at this pipeline position, so the random crop / flip after it
    give exactly the supervision of on-the-fly tracking. The pipeline's
    :class:`~mosic_mm.datasets.transforms.SampleClip` must pick clip starts
    from the cached windows (its ``window_step`` equal to the one used at
    extraction).

    Required keys: ``video_id``, ``frame_inds`` int ``[T]``,
    ``total_frames``, ``imgs`` uint8 ``[T, H, W, 3]`` (frame size check and
    fallback); ``data_root`` when ``cache_dir`` is None.
    Added keys: ``tracks`` float32 ``[T, N, 2]``, ``visibility`` bool
    ``[T, N]`` (``N = grid_size**2``, frame 0 visible).

    Args:
        cache_dir (str, optional): folder of the cache files. None ->
            ``<data_root>/track_cache/<tracker type>``.
        tracker (dict): the tracker the cache was extracted with (its
            ``type`` must match the files' header) and the one used for the
            fallback. Defaults to ``dict(type='DISFlowTracker')``.
        grid_size (int): points per side of the query grid (checked against
            the header). Defaults to 16.
        on_missing (str): a video without a cache file -> ``'error'``
            (default; :class:`FileNotFoundError` naming the file and
            ``extract_cmd``) or ``'track'`` (track the clip on the fly with
            ``tracker``; counted in ``num_tracked`` and logged).
            A file extracted with other settings is always an error.
        extract_cmd (str, optional): the command that fills the cache, shown
            in the missing-file error.
    """

    def __init__(self,
                 cache_dir: Optional[str] = None,
                 tracker: Optional[dict] = None,
                 grid_size: int = 16,
                 on_missing: str = 'error',
                 extract_cmd: Optional[str] = None):
        if tracker is None:
            tracker = dict(type='DISFlowTracker')
        if not isinstance(tracker, dict) or not isinstance(
                tracker.get('type'), str):
            raise TypeError('LoadTracks: tracker must be a config dict with '
                            f"a string 'type', got {tracker!r}")
        if on_missing not in ('error', 'track'):
            raise ValueError("LoadTracks: on_missing must be 'error' or "
                             f"'track', got {on_missing!r}")
        if on_missing == 'track':
            check_tracker_cfg(tracker)  # fail when built, not in a worker
        if int(grid_size) != grid_size or grid_size < 1:
            raise ValueError('LoadTracks: grid_size must be a positive '
                             f'integer, got {grid_size!r}')
        self.cache_dir = cache_dir
        self.on_missing = on_missing
        self.extract_cmd = extract_cmd
        self.tracker_cfg = copy.deepcopy(tracker)
        self.grid_size = int(grid_size)
        # on-the-fly tracking for on_missing='track' (builds its tracker on
        # first use, so 'error' needs no tracker package)
        self._fallback = None if on_missing == 'error' else TrackPoints(
            tracker=tracker, grid_size=grid_size)
        self.num_tracked = 0  # clips tracked on the fly in this process

    def resolve_cache_dir(self, results: dict) -> str:
        """``cache_dir``, or the default one under ``results['data_root']``."""
        if self.cache_dir is not None:
            return self.cache_dir
        if not results.get('data_root'):
            raise KeyError('LoadTracks: cache_dir is None and results has no '
                           '"data_root" (set by VideoTrajectoryDataset); '
                           'set cache_dir')
        return default_cache_dir(results['data_root'],
                                 self.tracker_cfg['type'])

    def _missing(self, results: dict, path: str) -> dict:
        if self.on_missing == 'error':
            cmd = self.extract_cmd or ('python tools/extract_tracks.py '
                                       'CONFIG (your training config)')
            raise FileNotFoundError(
                f'LoadTracks: no cached tracks for video '
                f'"{results["video_id"]}": {path} does not exist. Fill the '
                f'track cache first: {cmd}. Or set on_missing="track" to '
                'track missing clips on the fly (slow).')
        self.num_tracked += 1
        n = self.num_tracked
        if n == 1 or n in (10, 100, 1000) or n % 10000 == 0:
            MMLogger.get_current_instance().warning(
                f'LoadTracks: {n} clip(s) tracked on the fly so far in this '
                f'process (no cache file, e.g. {path}); run '
                'tools/extract_tracks.py to cache them')
        return self._fallback.transform(results)

    def transform(self, results: dict) -> dict:
        for key in ('video_id', 'frame_inds', 'total_frames', 'imgs'):
            if key not in results:
                raise KeyError(f'LoadTracks needs results["{key}"]; use it in '
                               'a VideoTrajectoryDataset pipeline after '
                               'LoadClip')
        path = cache_path(self.resolve_cache_dir(results), results['video_id'])
        if not osp.isfile(path):
            return self._missing(results, path)

        inds = np.asarray(results['frame_inds'], dtype=np.int64).reshape(-1)
        imgs = results['imgs']
        stride = int(inds[1] - inds[0]) if inds.size > 1 else None
        header, all_tracks, all_vis = read_track_file(
            path, extract_cmd=self.extract_cmd)
        expected = dict(video_id=results['video_id'],
                        grid_size=self.grid_size,
                        total_frames=int(results['total_frames']),
                        clip_len=int(inds.size),
                        frame_size=list(imgs.shape[1:3]))
        if stride is not None:
            expected['stride'] = stride
        diff = header_mismatch(header, expected)
        cached_type = (header.get('tracker') or {}).get('type')
        if cached_type != self.tracker_cfg['type']:
            diff.append(f'tracker type: file has {cached_type!r}, expected '
                        f'{self.tracker_cfg["type"]!r}')
        if diff:
            raise TrackCacheError(
                f'LoadTracks: track cache file {path} was extracted with '
                f'other settings: {"; ".join(diff)}. Re-extract with '
                'tools/extract_tracks.py --overwrite (or point cache_dir '
                'elsewhere).')
        if stride is not None and not (np.diff(inds) == stride).all():
            raise ValueError(f'LoadTracks: frame_inds {inds.tolist()} are not '
                             'evenly spaced')
        starts = header['window_starts']
        if int(inds[0]) not in starts:
            raise TrackCacheError(
                f'LoadTracks: clip start {int(inds[0])} of video '
                f'"{results["video_id"]}" is not a cached window start in '
                f'{path} (starts {starts[:8]}'
                f'{"..." if len(starts) > 8 else ""}); set SampleClip\'s '
                'window_step to '
                f'{header.get("window_step")} as at extraction')
        window = starts.index(int(inds[0]))
        results['tracks'] = all_tracks[window]
        results['visibility'] = all_vis[window]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(cache_dir={self.cache_dir!r}, '
                f'tracker={self.tracker_cfg!r}, grid_size={self.grid_size}, '
                f'on_missing={self.on_missing!r})')
