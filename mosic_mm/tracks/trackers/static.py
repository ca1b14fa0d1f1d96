"""The motion ablation of MoSiC: a tracker that sees no motion."""
from typing import Tuple

import numpy as np

from mosic_mm.registry import TRACKERS

from .base import BaseTracker


@TRACKERS.register_module()
class StaticTracker(BaseTracker):
    """Every query point stays where it was given, visible in every frame.

    With this tracker MoSiC's targets tie each frame-0 token to the token at
    the *same pixel* in the other frames (whatever moved there), so a run with
    it has MoSiC's loss, schedule and compute but no motion signal: the
    control of ``configs/mini/mosic_static.py`` (docs/mini_reproduction.md).

    Returns ``tracks[t, n] = queries[n, 1:]`` (x, y) and
    ``visibility[t, n] = True`` for every frame ``t`` of the clip.
    """

    def _track(self, frames: np.ndarray,
               queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        num_frames, num_points = frames.shape[0], queries.shape[0]
        tracks = np.broadcast_to(queries[None, :, 1:3],
                                 (num_frames, num_points, 2)).copy()
        visibility = np.ones((num_frames, num_points), dtype=bool)
        return tracks, visibility
