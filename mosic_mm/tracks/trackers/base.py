"""Point-tracker interface shared by every tracker in mosic_mm.

Conventions (``docs/conventions.md``): coordinates are ``(x, y)`` pixels,
x the column and y the row; the centre of pixel (row i, column j) is at
``(x=j, y=i)``, so an ``(H, W)`` image covers ``[-0.5, W-0.5) x
[-0.5, H-0.5)``.
"""
from abc import ABCMeta, abstractmethod
from typing import Tuple

import numpy as np

from mosic_mm.structures import grid_queries

__all__ = ['BaseTracker']


class BaseTracker(metaclass=ABCMeta):
    """Abstract point tracker: one call tracks query points through a clip.

    Subclasses implement :meth:`_track`. :meth:`track` validates the inputs,
    calls it and checks the outputs, so every tracker rejects bad inputs
    with the same clear errors.
    """

    def track(self, frames: np.ndarray,
              queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Track query points through a clip.

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB frames.
            queries: ``[N, 3]`` rows ``(t, x, y)``: the frame index ``t``
                (a whole number in ``[0, T)``) where the point is given and
                its position in pixels. Any real dtype; used as float32.

        Returns:
            tuple: ``tracks`` float32 ``[T, N, 2]`` (x, y) pixels in every
            frame and ``visibility`` bool ``[T, N]``.
        """
        frames, queries = self.check_inputs(frames, queries)
        num_frames, num_points = frames.shape[0], queries.shape[0]
        tracks, visibility = self._track(frames, queries)
        tracks = np.asarray(tracks, dtype=np.float32)
        visibility = np.asarray(visibility).astype(bool, copy=False)
        name = type(self).__name__
        if tracks.shape != (num_frames, num_points, 2):
            raise RuntimeError(
                f'{name}._track returned tracks of shape {tracks.shape}, '
                f'expected {(num_frames, num_points, 2)}')
        if visibility.shape != (num_frames, num_points):
            raise RuntimeError(
                f'{name}._track returned visibility of shape '
                f'{visibility.shape}, expected {(num_frames, num_points)}')
        return tracks, visibility

    def query_grid(self, height: int, width: int,
                   grid_size: int) -> np.ndarray:
        """The frame-0 queries ``[grid_size**2, 3]`` ``(0, x, y)`` this
        tracker tracks when a clip is tracked on a regular grid
        (``track_grid``: :class:`TrackPoints`, the track cache): the cell
        centres of :func:`grid_queries`. A tracker whose native grid call
        places its own points (:class:`CoTracker3`) returns those, so the
        queries stay the points tracked."""
        return grid_queries(height, width, grid_size, t=0)

    def for_clip(self, results: dict) -> 'BaseTracker':
        """The tracker to use for the clip of pipeline ``results``
        (``video_id``, ``frame_inds``, ``data_root``, ...). Trackers see
        only pixels and return themselves; an oracle that knows the video
        (:class:`SyntheticGroundTruthTracker`) returns a copy bound to it."""
        return self

    @abstractmethod
    def _track(self, frames: np.ndarray,
               queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Tracker-specific work on validated inputs: frames uint8
        ``[T,H,W,3]``, queries float32 ``[N,3]`` with whole, in-range ``t``.
        Returns ``(tracks [T,N,2], visibility [T,N])``."""

    @staticmethod
    def check_inputs(frames, queries) -> Tuple[np.ndarray, np.ndarray]:
        """Validate ``frames`` and ``queries``.

        Returns:
            tuple: C-contiguous uint8 ``[T,H,W,3]`` frames and float32
            ``[N,3]`` queries.

        Raises:
            TypeError: not numpy arrays, or wrong dtype.
            ValueError: wrong shape, non-finite queries, or a query frame
                index that is not a whole number in ``[0, T)``.
        """
        if not isinstance(frames, np.ndarray):
            raise TypeError('frames must be a numpy array of dtype uint8 and '
                            'shape [T, H, W, 3] (RGB), got '
                            f'{type(frames).__name__}')
        if frames.dtype != np.uint8:
            raise TypeError(
                f'frames must have dtype uint8, got {frames.dtype}')
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError('frames must have shape [T, H, W, 3] (RGB), got '
                             f'{frames.shape}')
        num_frames, height, width = frames.shape[:3]
        if num_frames < 1 or height < 1 or width < 1:
            raise ValueError(
                f'frames must be non-empty, got shape {frames.shape}')

        if not isinstance(queries, np.ndarray):
            raise TypeError('queries must be a numpy array of shape [N, 3] '
                            f'holding (t, x, y), got {type(queries).__name__}')
        real = (np.issubdtype(queries.dtype, np.floating)
                or np.issubdtype(queries.dtype, np.integer))
        if queries.dtype == bool or not real:
            raise TypeError('queries must have a real numeric dtype '
                            f'(float32 preferred), got {queries.dtype}')
        if queries.ndim != 2 or queries.shape[1] != 3:
            raise ValueError('queries must have shape [N, 3] holding '
                             f'(t, x, y), got {queries.shape}')
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if not np.isfinite(queries).all():
            raise ValueError('queries must be finite (found NaN or inf)')
        t = queries[:, 0]
        fractional = t != np.round(t)
        if fractional.any():
            raise ValueError('query frame indices (column 0 of queries) must '
                             f'be whole numbers, got {t[fractional][:5]}')
        bad = (t < 0) | (t >= num_frames)
        if bad.any():
            raise ValueError(
                f'query frame index out of range [0, {num_frames}) for a '
                f'clip of {num_frames} frames: {t[bad][:5].astype(int)}')
        return np.ascontiguousarray(frames), queries

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'
