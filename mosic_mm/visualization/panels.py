"""Assemble the pictures of one clip from frames, tracks and model outputs."""
from typing import Dict, Optional

import numpy as np

from .drawing import (
    colorize_clusters,
    draw_tracks,
    overlay,
    pca_rgb,
    tile,
    upsample,
)


def clip_panels(frames: np.ndarray, tracks: np.ndarray,
                visibility: np.ndarray, outputs: dict, scale: int = 2,
                max_frames: Optional[int] = None,
                ncols: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Per-frame pictures of one clip.

    Args:
        frames: uint8 ``[T, H, W, 3]`` RGB (the network input, unnormalised).
        tracks, visibility: ``[T, N, 2]`` and bool ``[T, N]``.
        outputs: :func:`mosic_mm.visualization.clip_outputs` of the clip.
        scale: integer upscaling, for readability.
        max_frames: keep at most this many frames (evenly spaced).

    Returns:
        dict of uint8 RGB arrays ``[T', H*scale, W*scale, 3]``: ``tracks``
        (tracks coloured by the teacher cluster of the point in that frame,
        i.e. the training target; a track keeping its colour means a
        temporally consistent assignment), ``pca`` (PCA-RGB of the student's
        patch features, fitted over the clip), ``clusters`` (teacher cluster
        of every patch over the frame), ``frames`` (the input).
    """
    T = len(frames)
    keep = np.arange(T) if max_frames is None or T <= max_frames else \
        np.unique(np.linspace(0, T - 1, max_frames).round().astype(int))
    K = int(outputs['num_clusters'])
    big = [upsample(f, (f.shape[0] * scale, f.shape[1] * scale))
           for f in frames]
    colors = colorize_clusters(outputs['track_clusters'], K)  # [T,N,3]
    drawn = draw_tracks(frames, tracks, visibility, colors, scale=scale)
    pca = pca_rgb(outputs['features'])  # [T,h,w,3]
    cmap = colorize_clusters(outputs['patch_clusters'], K)
    hw = big[0].shape[:2]
    return dict(
        frames=np.stack([big[t] for t in keep]),
        tracks=drawn[keep],
        pca=np.stack([upsample(pca[t], hw) for t in keep]),
        clusters=np.stack([overlay(big[t], cmap[t], 0.65) for t in keep]))


def panel_grid(panels: Dict[str, np.ndarray], ncols: Optional[int] = None,
               names=('tracks', 'pca', 'clusters')) -> Dict[str, np.ndarray]:
    """One tiled image per panel name (frames side by side)."""
    return {n: tile(list(panels[n]), ncols) for n in names}
