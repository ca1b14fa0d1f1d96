"""Choosing a fixed number of tracks per clip, spread over the token grid."""
import math
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mosic_mm.registry import TRANSFORMS


def lattice_cells(xy: np.ndarray, hw: Tuple[int, int],
                  grid_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Cell of a ``grid_size x grid_size`` lattice over an ``(H, W)`` image
    holding each point, and the point's squared distance to that cell's
    centre (in pixels).

    Cell ``(i, j)`` covers ``x in [j W/g - 0.5, (j+1) W/g - 0.5)`` (y likewise
    with rows), i.e. the patch tokens of a ViT whose input is the image and
    whose token grid is ``g x g``. Points outside the image go to the nearest
    border cell.

    Args:
        xy: float ``[N, 2]`` (x, y) pixels.
        hw: ``(H, W)`` of the image.
        grid_size: ``g``.

    Returns:
        tuple: int64 ``[N]`` row-major cell index ``i * g + j`` and float64
        ``[N]`` squared distance to the cell centre.
    """
    h, w = hw
    g = int(grid_size)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    col = np.clip(np.floor((xy[:, 0] + 0.5) * g / w), 0, g - 1)
    row = np.clip(np.floor((xy[:, 1] + 0.5) * g / h), 0, g - 1)
    cx = (col + 0.5) * w / g - 0.5
    cy = (row + 0.5) * h / g - 0.5
    d2 = (xy[:, 0] - cx)**2 + (xy[:, 1] - cy)**2
    return (row * g + col).astype(np.int64), d2


def select_track_indices(xy0: np.ndarray, visible0: np.ndarray,
                         num_tracks: int, grid_size: int,
                         hw: Tuple[int, int]) -> np.ndarray:
    """Indices of at most ``num_tracks`` frame-0-visible tracks covering a
    ``grid_size x grid_size`` lattice over the image.

    Each visible track belongs to the lattice cell holding its frame-0
    position; tracks are ranked within their cell by distance to the cell
    centre (ties: lower index first). Rank 0 of every occupied cell is taken
    first (the track nearest each cell's centre), then rank 1 of every cell,
    and so on, so the kept tracks cover as many cells as possible and any
    surplus is spread evenly. When a rank layer does not fit entirely, an
    evenly spaced subset of its cells (row-major) is kept.

    Args:
        xy0: float ``[N, 2]`` frame-0 positions (x, y) in pixels.
        visible0: bool ``[N]`` frame-0 visibility.
        num_tracks: how many to keep.
        grid_size: lattice cells per side (the token grid, e.g. 16 for a
            ViT/14 at 224 px).
        hw: ``(H, W)`` of the image the positions refer to.

    Returns:
        int64 ``[min(num_tracks, visible0.sum())]`` track indices in
        increasing order.
    """
    cand = np.flatnonzero(np.asarray(visible0, dtype=bool))
    if cand.size <= num_tracks:
        return cand.astype(np.int64)
    cell, d2 = lattice_cells(np.asarray(xy0)[cand], hw, grid_size)
    order = np.lexsort((cand, d2, cell))  # by cell, distance, index
    cell_sorted = cell[order]
    first = np.searchsorted(cell_sorted, cell_sorted, side='left')
    rank = np.empty(cand.size, np.int64)
    rank[order] = np.arange(cand.size) - first
    layered = np.lexsort((cell, rank))  # by rank, then cell (row-major)
    rank_sorted = rank[layered]
    # the rank layer that overflows: keep all full layers, spread the last
    last = rank_sorted[num_tracks - 1]
    full = np.searchsorted(rank_sorted, last, side='left')
    layer_end = np.searchsorted(rank_sorted, last, side='right')
    take = num_tracks - full
    pos = np.round(np.linspace(full, layer_end - 1, take)).astype(np.int64)
    keep = np.concatenate([layered[:full], layered[pos]])
    return np.sort(cand[keep]).astype(np.int64)


@TRANSFORMS.register_module()
class SelectTracks(BaseTransform):
    """Keep exactly ``num_tracks`` tracks per clip, covering the token grid.

    Tracks visible in frame 0 are candidates. More than ``num_tracks`` ->
    for each cell of a ``grid_size x grid_size`` lattice over the (network
    input) image, the candidate nearest the cell centre, then further
    candidates cell by cell (:func:`select_track_indices`); fewer -> padded
    at the end with zero coordinates and visibility False in every frame.

    Required keys: ``tracks`` float32 ``[T, N, 2]``, ``visibility`` bool
    ``[T, N]``, ``img_shape`` ``(H, W)`` (or ``imgs`` ``[T, H, W, C]``).
    Modified keys: ``tracks`` ``[T, num_tracks, 2]``, ``visibility``
    ``[T, num_tracks]``.

    Args:
        num_tracks (int): tracks per clip. Defaults to 256.
        grid_size (int, optional): lattice cells per side: the token grid
            of the network input (``input size / patch size``, e.g. 16 for a
            ViT/14 at 224 px). None -> ``ceil(sqrt(num_tracks))`` (one track
            per token when ``num_tracks`` is the token count).
    """

    def __init__(self, num_tracks: int = 256,
                 grid_size: Optional[int] = None):
        if int(num_tracks) != num_tracks or num_tracks < 1:
            raise ValueError('SelectTracks num_tracks must be a positive int, '
                             f'got {num_tracks!r}')
        self.num_tracks = int(num_tracks)
        if grid_size is None:
            grid_size = math.isqrt(self.num_tracks - 1) + 1
        if int(grid_size) != grid_size or grid_size < 1:
            raise ValueError('SelectTracks grid_size must be a positive int, '
                             f'got {grid_size!r}')
        self.grid_size = int(grid_size)

    @staticmethod
    def _image_hw(results: dict) -> Tuple[int, int]:
        if results.get('img_shape') is not None:
            return tuple(int(v) for v in results['img_shape'][:2])
        if results.get('imgs') is not None:
            return tuple(int(v) for v in np.shape(results['imgs'])[1:3])
        raise KeyError('SelectTracks needs results["img_shape"] (H, W) or '
                       'results["imgs"] [T, H, W, C] to lay its lattice over '
                       'the image; put LoadClip before it')

    def transform(self, results: dict) -> dict:
        if 'tracks' not in results or 'visibility' not in results:
            raise KeyError('SelectTracks needs results["tracks"] and '
                           'results["visibility"]; put TrackPoints or '
                           'LoadTracks before it')
        tracks = np.asarray(results['tracks'], dtype=np.float32)
        vis = np.asarray(results['visibility'], dtype=bool)
        if tracks.ndim != 3 or tracks.shape[2] != 2 or \
                vis.shape != tracks.shape[:2]:
            raise ValueError('SelectTracks expects tracks [T, N, 2] and '
                             f'visibility [T, N], got {tracks.shape} and '
                             f'{vis.shape}')
        t = tracks.shape[0]
        keep = select_track_indices(tracks[0], vis[0], self.num_tracks,
                                    self.grid_size, self._image_hw(results))
        out_tracks = np.zeros((t, self.num_tracks, 2), dtype=np.float32)
        out_vis = np.zeros((t, self.num_tracks), dtype=bool)
        out_tracks[:, :keep.size] = tracks[:, keep]
        out_vis[:, :keep.size] = vis[:, keep]
        results['tracks'] = out_tracks
        results['visibility'] = out_vis
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_tracks={self.num_tracks}, '
                f'grid_size={self.grid_size})')
