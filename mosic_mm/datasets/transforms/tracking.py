"""Tracking points on the fly inside the data pipeline."""
import copy
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mosic_mm.registry import TRANSFORMS
from mosic_mm.trackers import build_tracker, check_tracker_cfg, grid_queries


@TRANSFORMS.register_module()
class TrackPoints(BaseTransform):
    """Track a ``grid_size x grid_size`` query grid on frame 0 through the
    clip.

    Required keys: ``imgs`` (uint8 ``[T, H, W, 3]`` RGB).

    Added keys: ``tracks`` (float32 ``[T, N, 2]`` (x, y) pixels,
    ``N = grid_size**2``, row-major as :func:`mosic_mm.trackers.grid_queries`)
    and ``visibility`` (bool ``[T, N]``; frame 0 forced visible, as in the
    reference recipe).

    The tracker is built on first use and dropped when pickled, so each
    dataloader worker builds its own. Prefer cached tracks (``LoadTracks``)
    for training: on the fly, the pipeline is as slow as the tracker.

    Args:
        tracker (dict): config for :func:`mosic_mm.trackers.build_tracker`.
            Defaults to ``dict(type='DISFlowTracker')``.
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
        imgs = results['imgs']
        if not isinstance(imgs, np.ndarray) or imgs.ndim != 4:
            shape = getattr(imgs, 'shape', type(imgs).__name__)
            raise ValueError("TrackPoints: results['imgs'] must be a uint8 "
                             f'array [T, H, W, 3], got {shape}')
        height, width = imgs.shape[1:3]
        queries = grid_queries(height, width, self.grid_size, t=0)
        tracks, visibility = self.tracker.track(imgs, queries)
        visibility = np.array(visibility, dtype=bool)
        visibility[0] = True
        results['tracks'] = np.asarray(tracks, dtype=np.float32)
        results['visibility'] = visibility
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tracker={self.tracker_cfg!r}, '
                f'grid_size={self.grid_size})')
