"""Point coordinates, as docs/conventions.md defines them.

Points are ``(x, y)`` pixels, x the column and y the row; the centre of
pixel (row i, column j) is at ``(x=j, y=i)``, so an ``(H, W)`` image covers
``[-0.5, W-0.5) x [-0.5, H-0.5)``. Transforms map points, never clamp
them: a point that leaves the image keeps meaningful coordinates.
"""
from typing import Sequence, Tuple

import numpy as np

__all__ = ['points_inside', 'flip_points', 'crop_resize_points',
           'grid_queries']


def points_inside(points: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """bool ``[...]``: points ``[..., 2]`` (x, y) inside an ``(H, W)``
    image, i.e. ``-0.5 <= x < W - 0.5`` and ``-0.5 <= y < H - 0.5``."""
    h, w = hw
    x, y = points[..., 0], points[..., 1]
    return (x >= -0.5) & (x < w - 0.5) & (y >= -0.5) & (y < h - 0.5)


def flip_points(points: np.ndarray, width: int) -> np.ndarray:
    """Horizontal flip in an image of ``width`` columns: ``x' = W - 1 - x``.
    Returns float32 ``[..., 2]``."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = width - 1 - out[..., 0]
    return out


def crop_resize_points(points: np.ndarray, bbox: Sequence[float],
                       out_hw: Tuple[int, int]) -> np.ndarray:
    """Map points through a crop ``bbox`` followed by a resize.

    Args:
        points: float ``[..., 2]`` (x, y) in pixels of the source image.
        bbox: ``(x0, y0, x1, y1)`` pixel edges of the crop in the source
            image (x1, y1 exclusive; ``(0, 0, W, H)`` is the whole image,
            i.e. a plain resize).
        out_hw: ``(H', W')`` of the output image.

    Returns:
        float32 ``[..., 2]``: ``x' = (x - x0 + 0.5) * W' / (x1 - x0) - 0.5``
        (y likewise).
    """
    x0, y0, x1, y1 = (float(v) for v in bbox)
    out_h, out_w = out_hw
    scale = np.array([out_w / (x1 - x0), out_h / (y1 - y0)], dtype=np.float64)
    offset = np.array([x0, y0], dtype=np.float64)
    out = (np.asarray(points, dtype=np.float64) - offset + 0.5) * scale - 0.5
    return out.astype(np.float32)


def grid_queries(height: int, width: int, grid_size: int,
                 t: int = 0) -> np.ndarray:
    """Queries at the cell centres of a ``grid_size x grid_size`` grid.

    The image is split into ``grid_size`` equal cells per axis, one point
    at the centre of each: ``x = (j + 0.5) * width / grid_size - 0.5``
    (y likewise with the height). Row-major order: y is the outer loop and
    x the inner one, so point ``k`` is grid row ``k // grid_size``, grid
    column ``k % grid_size``.

    Returns:
        float32 ``[grid_size**2, 3]`` of ``(t, x, y)``.
    """
    for name, value in (('height', height), ('width', width),
                        ('grid_size', grid_size)):
        if int(value) != value or value < 1:
            raise ValueError(
                f'{name} must be a positive integer, got {value!r}')
    if int(t) != t or t < 0:
        raise ValueError(f't must be a non-negative integer, got {t!r}')
    g = int(grid_size)
    xs = (np.arange(g, dtype=np.float64) + 0.5) * width / g - 0.5
    ys = (np.arange(g, dtype=np.float64) + 0.5) * height / g - 0.5
    yy, xx = np.meshgrid(ys, xs, indexing='ij')  # [g (y), g (x)]
    out = np.empty((g * g, 3), dtype=np.float32)
    out[:, 0] = t
    out[:, 1] = xx.reshape(-1)
    out[:, 2] = yy.reshape(-1)
    return out
