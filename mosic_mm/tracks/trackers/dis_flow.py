"""Default point tracker: OpenCV DIS optical flow chained frame to frame.

Needs no weights. Forward flow ``F`` (frame t -> t+1) and backward flow
``B`` (t+1 -> t) are computed with DIS (Kroeger et al., ECCV 2016) on
grayscale frames; a point moves by ``F`` sampled bilinearly at its current
position ``p``. A step is accepted only if it passes both reliability tests
of Sundaram et al. (ECCV 2010):

* forward-backward consistency (occlusions, bad matches)::

      |F(p) + B(p + F(p))|^2 < fb_alpha * (|F(p)|^2 + |B(p + F(p))|^2)
                               + fb_beta

* no motion boundary at ``p``::

      |grad F_x(p)|^2 + |grad F_y(p)|^2 < boundary_thresh

  Dense flow is smoothed across the edge of a moving occluder, so background
  points about to be covered get dragged onto the occluder and then pass
  the forward-backward test; they sit on a steep flow gradient first.
  Affine camera motion has a small, constant gradient (~0.002 for 1.5 deg
  rotation + 2 % zoom per frame), hence an absolute threshold.

Lost-point policy: a point is *lost* at the first step that fails a test
or ends outside the image and stays invisible for the rest of the clip (no
re-acquisition). Chained flow cannot re-identify a point after an
occlusion: a point that rode along on the occluder would come back as
confidently visible but wrong, which harms training more than a missing
observation. A lost point keeps moving with its last accepted displacement
(constant velocity; a step that only left the image counts as accepted),
so its coordinates stay meaningful; they are never clamped.
"""
from typing import Optional, Tuple

import cv2
import numpy as np

from mosic_mm.registry import TRACKERS
from mosic_mm.structures import points_inside

from .base import BaseTracker

__all__ = ['DISFlowTracker']

_PRESETS = {
    'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
    'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# DIS rejects images not larger than its patch size (8 or 12 px): smaller
# flow inputs are edge-padded to this size and the flows cropped back.
_MIN_FLOW_SIDE = 32


def _bilinear(field: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample ``field`` ``[h, w, C]`` at ``xy`` ``[M, 2]`` (x = column,
    y = row, pixel centres at integers) bilinearly; points outside are
    clamped to the border. Returns float32 ``[M, C]``."""
    h, w = field.shape[:2]
    x = np.clip(xy[:, 0], 0.0, w - 1.0)
    y = np.clip(xy[:, 1], 0.0, h - 1.0)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    top = field[y0, x0] * (1.0 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1.0 - fx) + field[y1, x1] * fx
    return (top * (1.0 - fy) + bottom * fy).astype(np.float32, copy=False)


def _gradient_energy(flow: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``|grad u|^2 + |grad v|^2`` of ``flow`` ``[h, w, 2]`` at ``xy``
    ``[M, 2]``, by central differences of bilinear samples 1 px apart.
    Returns float32 ``[M]``."""
    ex = np.array([1.0, 0.0], dtype=np.float32)
    ey = np.array([0.0, 1.0], dtype=np.float32)
    d_dx = (_bilinear(flow, xy + ex) - _bilinear(flow, xy - ex)) * 0.5
    d_dy = (_bilinear(flow, xy + ey) - _bilinear(flow, xy - ey)) * 0.5
    return np.sum(d_dx**2, axis=1) + np.sum(d_dy**2, axis=1)


@TRACKERS.register_module()
class DISFlowTracker(BaseTracker):
    """Track points by chaining OpenCV DIS flow, with occlusion tests.

    Each query is tracked forward from its own frame ``t``. Before ``t`` it
    sits at the query position, invisible; in frame ``t`` it is visible iff
    inside the image; afterwards it is visible until lost (module
    docstring), then invisible for good, moving at its last accepted
    displacement (coordinates never clamped).

    Args:
        preset (str): DIS preset, ``'ultrafast'``, ``'fast'`` or
            ``'medium'``. Defaults to ``'medium'``, the most accurate
            (median drift ~0.1 px over 11 frames of synthetic 224 px
            motion, vs 0.2-0.3 px for the faster ones, whose blockier flow
            may also need a larger ``boundary_thresh``).
        fb_alpha (float): relative tolerance of the forward-backward test.
            Defaults to 0.01.
        fb_beta (float): absolute tolerance of the forward-backward test,
            in squared pixels of the input frames. Defaults to 0.5.
        boundary_thresh (float, optional): motion-boundary threshold on the
            squared flow gradient (pixels per pixel, so independent of
            ``max_side``); None disables the test. Defaults to 0.02.
        max_side (int, optional): if the longer side of the frames exceeds
            it, flow is computed on frames downscaled to this longer side
            (faster, less accurate) and displacements are rescaled to input
            pixels. Defaults to None (full resolution).
    """

    def __init__(self,
                 preset: str = 'medium',
                 fb_alpha: float = 0.01,
                 fb_beta: float = 0.5,
                 boundary_thresh: Optional[float] = 0.02,
                 max_side: Optional[int] = None):
        if preset not in _PRESETS:
            raise ValueError(
                f'preset must be one of {sorted(_PRESETS)}, got {preset!r}')
        if fb_alpha < 0 or fb_beta < 0:
            raise ValueError('fb_alpha and fb_beta must be >= 0, got '
                             f'{fb_alpha}, {fb_beta}')
        if boundary_thresh is not None and boundary_thresh <= 0:
            raise ValueError('boundary_thresh must be > 0 or None, got '
                             f'{boundary_thresh}')
        if max_side is not None and (int(max_side) != max_side
                                     or max_side < 1):
            raise ValueError('max_side must be a positive integer or None, '
                             f'got {max_side!r}')
        self.preset = preset
        self.fb_alpha = float(fb_alpha)
        self.fb_beta = float(fb_beta)
        self.boundary_thresh = (None if boundary_thresh is None else
                                float(boundary_thresh))
        self.max_side = None if max_side is None else int(max_side)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(preset={self.preset!r}, '
                f'fb_alpha={self.fb_alpha}, fb_beta={self.fb_beta}, '
                f'boundary_thresh={self.boundary_thresh}, '
                f'max_side={self.max_side})')

    def _flow_size(self, height: int, width: int) -> Tuple[int, int]:
        """(h, w) at which flow is computed."""
        if self.max_side is None or max(height, width) <= self.max_side:
            return height, width
        scale = self.max_side / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    @staticmethod
    def _prepare(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        """uint8 RGB ``[H, W, 3]`` -> uint8 grey at the flow size ``(h, w)``,
        edge-padded (bottom, right) to at least ``_MIN_FLOW_SIDE``."""
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = size
        if (h, w) != gray.shape:
            gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
        pad_h, pad_w = max(0, _MIN_FLOW_SIDE - h), max(0, _MIN_FLOW_SIDE - w)
        if pad_h or pad_w:
            gray = cv2.copyMakeBorder(gray, 0, pad_h, 0, pad_w,
                                      cv2.BORDER_REPLICATE)
        return gray

    def _track(self, frames: np.ndarray,
               queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        num_frames, height, width = frames.shape[:3]
        num_points = queries.shape[0]
        qt = queries[:, 0].astype(np.int64)
        pos = queries[:, 1:].copy()  # [N, 2] current (x, y), input pixels
        tracks = np.broadcast_to(pos, (num_frames, num_points, 2)).copy()
        visibility = np.zeros((num_frames, num_points), dtype=bool)
        if num_points == 0:
            return tracks, visibility

        fh, fw = self._flow_size(height, width)
        # input -> flow pixels: x_f = (x + 0.5) * scale - 0.5, d_f = d * scale
        scale = np.array([fw / width, fh / height], dtype=np.float32)
        # one DIS object per call: cheap, and safe across threads
        dis = cv2.DISOpticalFlow_create(_PRESETS[self.preset])

        lost = np.zeros(num_points, dtype=bool)
        velocity = np.zeros((num_points, 2), np.float32)  # last accepted step
        first = int(qt.min())
        gray_next = self._prepare(frames[first], (fh, fw))
        for t in range(first, num_frames):
            starting = qt == t
            if starting.any():
                inside = points_inside(pos[starting], (height, width))
                visibility[t, starting] = inside
                lost[starting] = ~inside
            tracks[t] = pos
            if t == num_frames - 1:
                break

            gray, gray_next = gray_next, self._prepare(frames[t + 1],
                                                       (fh, fw))
            moving = qt <= t  # started points, lost ones included
            live = np.flatnonzero(moving & ~lost)
            if live.size:
                fwd = dis.calc(gray, gray_next, None)[:fh, :fw]
                bwd = dis.calc(gray_next, gray, None)[:fh, :fw]
                p = (pos[live] + 0.5) * scale - 0.5  # flow pixels
                f = _bilinear(fwd, p)
                b = _bilinear(bwd, p + f)
                f_in, b_in = f / scale, b / scale  # input pixels
                fb_err = np.sum((f_in + b_in)**2, axis=1)
                fb_tol = self.fb_alpha * (np.sum(f_in**2, axis=1) +
                                          np.sum(b_in**2, axis=1))
                accepted = fb_err < fb_tol + self.fb_beta
                if self.boundary_thresh is not None:
                    accepted &= (_gradient_energy(fwd, p) <
                                 self.boundary_thresh)
                velocity[live[accepted]] = f_in[accepted]
            pos[moving] += velocity[moving]
            if live.size:
                ok = accepted & points_inside(pos[live], (height, width))
                visibility[t + 1, live] = ok
                lost[live[~ok]] = True
        return tracks, visibility
