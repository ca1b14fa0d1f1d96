"""Pure drawing functions (numpy in, uint8 RGB numpy out)."""
import colorsys
from typing import Optional, Sequence

import cv2
import numpy as np


def cluster_palette(num_colors: int) -> np.ndarray:
    """``[num_colors, 3]`` uint8 RGB colours, well separated (golden-ratio
    hues, alternating saturation/value)."""
    colors = []
    for i in range(num_colors):
        hue = (i * 0.618033988749895) % 1.0
        sat, val = (0.85, 0.95) if i % 2 == 0 else (0.6, 0.75)
        colors.append([round(255 * c) for c in colorsys.hsv_to_rgb(hue, sat,
                                                                     val)])
    return np.asarray(colors, dtype=np.uint8).reshape(num_colors, 3)


def colorize_clusters(ids: np.ndarray, num_clusters: int) -> np.ndarray:
    """Integer cluster ids ``[...]`` -> uint8 RGB ``[..., 3]``."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= num_clusters):
        raise ValueError(f'cluster ids must be in [0, {num_clusters}), got '
                         f'[{ids.min()}, {ids.max()}]')
    return cluster_palette(num_clusters)[ids]


def pca_rgb(features: np.ndarray, low: float = 1.0,
            high: float = 99.0) -> np.ndarray:
    """Features ``[..., C]`` -> uint8 RGB ``[..., 3]`` from their first three
    principal components, fitted jointly over all positions (so colours are
    comparable across the frames of a clip); each component is stretched
    between its ``low`` and ``high`` percentiles."""
    feats = np.asarray(features, dtype=np.float64)
    shape = feats.shape[:-1]
    flat = feats.reshape(-1, feats.shape[-1])
    flat = flat - flat.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(flat, full_matrices=False)
    comps = flat @ vt[:3].T
    if comps.shape[1] < 3:  # fewer than 3 channels or positions
        comps = np.pad(comps, ((0, 0), (0, 3 - comps.shape[1])))
    lo = np.percentile(comps, low, axis=0)
    hi = np.percentile(comps, high, axis=0)
    rgb = (comps - lo) / np.maximum(hi - lo, 1e-8)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8).reshape(
        *shape, 3)


def upsample(img: np.ndarray, hw: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of ``[h, w, C]`` to ``hw`` (token maps keep
    their blocks)."""
    return cv2.resize(img, (int(hw[1]), int(hw[0])),
                      interpolation=cv2.INTER_NEAREST)


def overlay(frame: np.ndarray, color_map: np.ndarray,
            alpha: float = 0.6) -> np.ndarray:
    """Blend a colour map (any size, upsampled) over an RGB frame."""
    color_map = upsample(color_map, frame.shape[:2])
    out = (1 - alpha) * frame.astype(np.float32) + alpha * color_map
    return out.round().clip(0, 255).astype(np.uint8)


def draw_tracks(frames: np.ndarray, tracks: np.ndarray,
                visibility: np.ndarray, colors: Optional[np.ndarray] = None,
                scale: int = 1, trail: int = 4) -> np.ndarray:
    """Draw point tracks over a clip.

    Args:
        frames: uint8 ``[T, H, W, 3]`` RGB.
        tracks: ``[T, N, 2]`` (x, y) pixels of ``frames``.
        visibility: bool ``[T, N]``; invisible points are not drawn.
        colors: uint8 ``[N, 3]`` or ``[T, N, 3]`` (per frame, e.g. cluster
            colours); defaults to one colour per track.
        scale: integer upscaling of the output, for readability.
        trail: frames of past positions drawn as a line.

    Returns:
        uint8 ``[T, H*scale, W*scale, 3]``.
    """
    frames = np.asarray(frames)
    tracks = np.asarray(tracks, dtype=np.float64)
    visibility = np.asarray(visibility, dtype=bool)
    T, N = visibility.shape
    if frames.shape[0] != T or tracks.shape != (T, N, 2):
        raise ValueError(f'frames {frames.shape}, tracks {tracks.shape} and '
                         f'visibility {visibility.shape} disagree')
    if colors is None:
        colors = cluster_palette(max(N, 1))[:N]
    colors = np.asarray(colors, dtype=np.uint8)
    if colors.ndim == 2:
        colors = np.broadcast_to(colors, (T, N, 3))
    shift = 4  # sub-pixel precision of cv2 drawing
    pts = np.round(((tracks + 0.5) * scale - 0.5) * (1 << shift)).astype(
        np.int64)
    radius = max(1, scale) * (1 << shift)
    out = []
    for t in range(T):
        img = np.ascontiguousarray(frames[t])
        if scale != 1:
            img = cv2.resize(img, None, fx=scale, fy=scale,
                             interpolation=cv2.INTER_NEAREST)
        img = img.copy()
        for n in range(N):
            color = tuple(int(c) for c in colors[t, n])
            for s in range(max(0, t - trail), t):
                if visibility[s, n] and visibility[s + 1, n]:
                    cv2.line(img, tuple(pts[s, n]), tuple(pts[s + 1, n]),
                             color, 1, cv2.LINE_AA, shift)
            if visibility[t, n]:
                cv2.circle(img, tuple(pts[t, n]), radius, color, -1,
                           cv2.LINE_AA, shift)
        out.append(img)
    return np.stack(out)


def tile(images: Sequence[np.ndarray], ncols: Optional[int] = None,
         pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Images of one size ``[H, W, 3]`` -> one grid image (row-major)."""
    images = [np.asarray(i) for i in images]
    if not images:
        raise ValueError('tile needs at least one image')
    h, w = images[0].shape[:2]
    if any(i.shape[:2] != (h, w) for i in images):
        raise ValueError('tile needs images of one size, got '
                         f'{sorted({i.shape[:2] for i in images})}')
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3),
                   pad_value, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid
