"""CoTracker3 (Karaev et al., 2024), the paper's tracker, as a mosic_mm
tracker.

An adapter over the official ``cotracker`` package, which is not on PyPI and
whose code and weights are CC-BY-NC 4.0: mosic_mm neither copies nor vendors
it. Install it and fetch a checkpoint with::

    pip install git+https://github.com/facebookresearch/co-tracker.git
    mkdir -p checkpoints && wget -P checkpoints \\
        https://huggingface.co/facebook/cotracker3/resolve/main/scaled_offline.pth
"""
import importlib
import math
import os.path as osp
from typing import Optional, Tuple

import numpy as np

from mosic_mm.registry import TRACKERS
from .base import BaseTracker, grid_queries

__all__ = ['CoTracker3', 'COTRACKER_INSTALL', 'COTRACKER_CHECKPOINTS',
           'regular_grid_size']

COTRACKER_INSTALL = (
    "the optional 'cotracker' package (not on PyPI; code and weights are "
    'CC-BY-NC 4.0). Install it from '
    'https://github.com/facebookresearch/co-tracker with '
    '`pip install git+https://github.com/facebookresearch/co-tracker.git` '
    '(or `pip install -e ".[cotracker]"` in mosic_mm, which does the same)')
COTRACKER_CHECKPOINTS = (
    'download a CoTracker3 checkpoint, e.g. `mkdir -p checkpoints && wget -P '
    'checkpoints https://huggingface.co/facebook/cotracker3/resolve/main/'
    'scaled_offline.pth` (offline model; scaled_online.pth for '
    'offline=False), and pass checkpoint=PATH (tools: --checkpoint PATH)')


def _import_predictor():
    """``cotracker.predictor.CoTrackerPredictor``, or ImportError saying
    how to install it."""
    try:
        module = importlib.import_module('cotracker.predictor')
        return module.CoTrackerPredictor
    except (ImportError, AttributeError) as e:
        raise ImportError(f'CoTracker3 needs {COTRACKER_INSTALL} ({e})') \
            from None


def regular_grid_size(queries: np.ndarray, height: int,
                      width: int) -> Optional[int]:
    """``g`` if ``queries`` ``[N, 3]`` are exactly the frame-0 grid
    ``grid_queries(height, width, g, t=0)`` (row-major), else None."""
    num = queries.shape[0]
    g = math.isqrt(num)
    if num == 0 or g * g != num:
        return None
    grid = grid_queries(height, width, g, t=0)
    if np.allclose(queries, grid, rtol=0, atol=1e-3):
        return g
    return None


_QUERY_MODES = ('grid', 'queries')


@TRACKERS.register_module()
class CoTracker3(BaseTracker):
    """CoTracker3 through ``cotracker.predictor.CoTrackerPredictor``.

    One clip per predictor call (the offline model fails with more than one
    clip per call, co-tracker issue #163). Visibility is the predictor's
    (``sigmoid(vis) > 0.9``). Coordinates need no conversion: CoTracker uses
    pixel centres at integers, as mosic_mm does.

    Two ways to call the predictor (``query_mode``):

    - ``'grid'`` (default): when the queries are the regular frame-0 grid
      (``grid_queries(H, W, g, t=0)``, what ``track_grid`` / the track cache
      ask for), call it as the reference does,
      ``predictor(video, grid_size=g, grid_query_frame=0)``: the g x g points
      are tracked jointly with no extra points. The predictor lays its own
      grid (in its 384x512 working resolution, a margin of 1/64 of the width
      from the border instead of half a cell), so the frame-0 positions
      returned are CoTracker's grid points, within half a grid cell of the
      requested ones and in the same row-major order. Other queries are
      passed explicitly as in ``'queries'``.
    - ``'queries'``: always pass the queries explicitly
      (``predictor(video, queries=q)``), split into chunks of ``max_points``
      to bound memory (chunks are tracked independently). The predictor then
      adds its 6x6 support grid to every call and tracks it jointly with the
      queries (a slightly different model input than the reference's).

    Args:
        checkpoint (str): local ``scaled_offline.pth`` / ``scaled_online.pth``.
        offline (bool): offline (bidirectional, one window) model. Defaults
            to True.
        window_len (int, optional): model window; None -> 60 offline, 16
            online.
        max_points (int): explicit queries per predictor call (a regular
            grid in ``'grid'`` mode is one call, as the reference).
            Defaults to 1024.
        device (str, optional): None -> ``'cuda'`` when available, else
            ``'cpu'``.
        query_mode (str): ``'grid'`` (default, the reference call for a
            regular frame-0 grid) or ``'queries'`` (explicit queries with
            the predictor's support grid), see above.
    """

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 offline: bool = True,
                 window_len: Optional[int] = None,
                 max_points: int = 1024,
                 device: Optional[str] = None,
                 query_mode: str = 'grid'):
        self.check_cfg(dict(checkpoint=checkpoint))
        if query_mode not in _QUERY_MODES:
            raise ValueError(f'CoTracker3: query_mode must be one of '
                             f'{_QUERY_MODES}, got {query_mode!r}')
        self.query_mode = query_mode
        if int(max_points) != max_points or max_points < 1:
            raise ValueError('CoTracker3: max_points must be a positive int, '
                             f'got {max_points!r}')
        self.checkpoint = checkpoint
        self.offline = bool(offline)
        self.window_len = int(window_len) if window_len is not None else (
            60 if self.offline else 16)
        self.max_points = int(max_points)
        self.device = device
        self._model = None

    @staticmethod
    def check_cfg(cfg) -> None:
        """Raise ImportError / FileNotFoundError, saying how to get them,
        when the package or the checkpoint is missing (cheap; called when a
        pipeline is built)."""
        _import_predictor()
        ckpt = cfg.get('checkpoint')
        if ckpt is None:
            raise FileNotFoundError(
                f'CoTracker3 needs checkpoint=PATH: {COTRACKER_CHECKPOINTS}')
        if not osp.isfile(ckpt):
            raise FileNotFoundError(
                f'CoTracker3 checkpoint {ckpt} does not exist: '
                f'{COTRACKER_CHECKPOINTS}')

    def _device(self):
        import torch
        if self.device is not None:
            return torch.device(self.device)
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    @property
    def model(self):
        """The predictor, built on first use on ``device``, in eval mode."""
        if self._model is None:
            predictor = _import_predictor()
            model = predictor(checkpoint=self.checkpoint,
                              offline=self.offline,
                              window_len=self.window_len)
            self._model = model.to(self._device()).eval()
        return self._model

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_model'] = None  # rebuilt lazily in each worker
        return state

    def _track(self, frames: np.ndarray,
               queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        import torch
        num_frames, num_points = frames.shape[0], queries.shape[0]
        tracks = np.zeros((num_frames, num_points, 2), np.float32)
        visibility = np.zeros((num_frames, num_points), bool)
        if num_points == 0:
            return tracks, visibility
        model = self.model
        device = self._device()
        # [T,H,W,3] uint8 -> [1,T,3,H,W] float 0..255, one clip per call
        video = torch.from_numpy(frames).to(device).permute(
            0, 3, 1, 2)[None].float()
        grid = None
        if self.query_mode == 'grid':
            grid = regular_grid_size(queries, *frames.shape[1:3])
        if grid is not None:
            # the reference call: no support grid, one call for the grid
            calls = [((0, num_points),
                      dict(grid_size=grid, grid_query_frame=0))]
        else:
            calls = []
            for lo in range(0, num_points, self.max_points):
                hi = min(lo + self.max_points, num_points)
                q = torch.from_numpy(queries[lo:hi]).to(device)[None]
                calls.append(((lo, hi), dict(queries=q)))
        with torch.no_grad():
            for (lo, hi), kwargs in calls:
                out_tracks, out_vis = model(video, **kwargs)[:2]
                out_tracks = out_tracks[0]
                vis = out_vis[0]
                if vis.dim() == 3:  # [T, N, 1] in some versions
                    vis = vis[..., 0]
                if tuple(out_tracks.shape) != (num_frames, hi - lo, 2) or \
                        tuple(vis.shape) != (num_frames, hi - lo):
                    raise RuntimeError(
                        f'CoTracker3: the predictor called with '
                        f'{sorted(kwargs)} returned tracks '
                        f'{tuple(out_tracks.shape)} and visibility '
                        f'{tuple(vis.shape)}, expected {hi - lo} points in '
                        f'{num_frames} frames')
                tracks[:, lo:hi] = out_tracks.float().cpu().numpy()
                visibility[:, lo:hi] = vis.cpu().numpy().astype(bool)
        return tracks, visibility

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(checkpoint={self.checkpoint!r}, '
                f'offline={self.offline}, window_len={self.window_len}, '
                f'max_points={self.max_points}, device={self.device!r}, '
                f'query_mode={self.query_mode!r})')
