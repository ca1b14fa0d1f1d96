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

from .base import BaseTracker

__all__ = ['CoTracker3', 'COTRACKER_INSTALL', 'COTRACKER_CHECKPOINTS',
           'cotracker_grid']

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


def cotracker_grid(height: int, width: int, grid_size: int,
                   working_hw: Tuple[int, int] = (384, 512)) -> np.ndarray:
    """The points ``predictor(video, grid_size=g, grid_query_frame=0)``
    tracks on a ``(height, width)`` clip, as queries ``[g*g, 3]`` ``(0, x,
    y)``, row-major (y outer).

    Co-tracker's documented layout (``get_points_on_a_grid``), computed in
    the predictor's working resolution ``working_hw = (h', w')``
    (``CoTrackerPredictor.interp_shape``): g evenly spaced values per axis,
    from a margin ``m = w' / 64`` (the width's, on both axes) to the
    opposite margin (``x`` in ``[m, w' - m]``, ``y`` in ``[m, h' - m]``);
    one point (g = 1) sits at ``(w'/2, h'/2)``. The predictor returns them
    in clip pixels: ``x * (W-1)/(w'-1)``, ``y * (H-1)/(h'-1)``. On a 96x128
    clip with g = 8, x runs from 1.99 to 125.26 (:func:`grid_queries`: 7.5
    to 119.5).
    """
    hp, wp = (float(v) for v in working_hw)
    g = int(grid_size)
    if g == 1:
        xs, ys = np.array([wp / 2]), np.array([hp / 2])
    else:
        m = wp / 64
        xs = np.linspace(m, wp - m, g)
        ys = np.linspace(m, hp - m, g)
    yy, xx = np.meshgrid(ys * (height - 1) / (hp - 1),
                         xs * (width - 1) / (wp - 1), indexing='ij')
    out = np.zeros((g * g, 3), dtype=np.float32)
    out[:, 1] = xx.reshape(-1)
    out[:, 2] = yy.reshape(-1)
    return out


_QUERY_MODES = ('grid', 'queries')


@TRACKERS.register_module()
class CoTracker3(BaseTracker):
    """CoTracker3 through ``cotracker.predictor.CoTrackerPredictor``.

    One clip per predictor call (the offline model fails with more than one
    clip per call, co-tracker issue #163). Visibility is the predictor's
    (``sigmoid(vis) > 0.9``). Coordinates need no conversion: CoTracker uses
    pixel centres at integers, as mosic_mm does.

    Two ways to call the predictor (``query_mode``):

    - ``'grid'`` (default): the regular grid of ``track_grid`` / the track
      cache is CoTracker's own (:meth:`query_grid` returns
      :func:`cotracker_grid`, not the cell centres of ``grid_queries``), and
      queries equal to it are tracked as the reference does,
      ``predictor(video, grid_size=g, grid_query_frame=0)``: the g x g points
      jointly, with no extra points. Track k starts at query k (checked on
      every call). Other queries are passed explicitly as in ``'queries'``.
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
        max_points (int): explicit queries per predictor call (the grid in
            ``'grid'`` mode is one call, as the reference).
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

    def _working_hw(self) -> Tuple[int, int]:
        shape = getattr(self.model, 'interp_shape', None)
        if shape is None or len(shape) != 2:
            raise RuntimeError(
                'CoTracker3: the predictor has no interp_shape (its working '
                "resolution), needed to lay its grid; use query_mode="
                "'queries'")
        return int(shape[0]), int(shape[1])

    def query_grid(self, height: int, width: int,
                   grid_size: int) -> np.ndarray:
        """``'grid'`` mode: the points the predictor's grid call tracks
        (:func:`cotracker_grid` at the model's working resolution; builds
        the model). ``'queries'``: the cell centres of ``grid_queries``."""
        if self.query_mode != 'grid':
            return super().query_grid(height, width, grid_size)
        return cotracker_grid(height, width, grid_size, self._working_hw())

    def _own_grid_size(self, queries: np.ndarray, height: int,
                       width: int) -> Optional[int]:
        """``g`` if ``queries`` are exactly :meth:`query_grid` of a g x g
        grid in ``'grid'`` mode, else None."""
        g = math.isqrt(queries.shape[0])
        if self.query_mode != 'grid' or g == 0 or g * g != queries.shape[0]:
            return None
        grid = self.query_grid(height, width, g)
        return g if np.allclose(queries, grid, rtol=0, atol=1e-3) else None

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
        grid = self._own_grid_size(queries, *frames.shape[1:3])
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
        if grid is not None:
            gap = np.abs(tracks[0] - queries[:, 1:]).max()
            if gap > 1e-2:
                raise RuntimeError(
                    f'CoTracker3: the predictor\'s grid_size={grid} call '
                    f'tracked points up to {gap:.2f} px from the queries '
                    '(cotracker_grid); its grid layout differs from the '
                    "documented one: use query_mode='queries'")
        return tracks, visibility

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(checkpoint={self.checkpoint!r}, '
                f'offline={self.offline}, window_len={self.window_len}, '
                f'max_points={self.max_points}, device={self.device!r}, '
                f'query_mode={self.query_mode!r})')
