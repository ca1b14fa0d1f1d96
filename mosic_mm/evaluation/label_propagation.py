"""Semi-supervised video object segmentation by label propagation with
frozen patch features (DINO's protocol, Caron et al. 2021).

Each frame's patch labels are a weighted vote of the labels of the first
frame and the ``n_context`` previous frames: affinities exp(cos / T),
restricted to a square neighbourhood of ``radius`` patches, keeping the
``topk`` strongest sources per target patch. Soft labels are upsampled
bilinearly to the mask size, min-max normalised per object and the argmax
taken.
"""
from collections import deque
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['neighbourhood_mask', 'downsample_onehot', 'propagate_labels']


def neighbourhood_mask(h: int, w: int, radius: int) -> Tensor:
    """bool [h*w (target), h*w (source)]: |dy| <= radius and |dx| <= radius.
    radius <= 0 allows everything."""
    if radius <= 0:
        return torch.ones(h * w, h * w, dtype=torch.bool)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    yy, xx = yy.reshape(-1), xx.reshape(-1)
    return ((yy[:, None] - yy[None]).abs() <= radius) & (
        (xx[:, None] - xx[None]).abs() <= radius)


def downsample_onehot(mask: np.ndarray, grid: Tuple[int, int],
                      ids: np.ndarray) -> Tensor:
    """Label map [H, W] -> one-hot [len(ids), h, w] after nearest resizing
    to the grid (h, w); channel i is label ids[i]."""
    t = torch.from_numpy(np.asarray(mask, np.float32))[None, None]
    small = F.interpolate(t, size=tuple(grid), mode='nearest')[0, 0].long()
    ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    return (small[None] == ids_t[:, None, None]).float()


@torch.no_grad()
def propagate_labels(features: Tensor, first_mask: np.ndarray,
                     n_context: int = 7, radius: int = 12, topk: int = 5,
                     temperature: float = 0.1) -> np.ndarray:
    """Propagate the first frame's labels through a video.

    Args:
        features: float [T, C, h, w] patch features of the frames.
        first_mask: int [H, W] labels of frame 0 (0 = background).

    Returns:
        int64 [T, H, W] predicted labels (frame 0 = ``first_mask``).
    """
    features = torch.as_tensor(features, dtype=torch.float32)
    T, C, h, w = features.shape
    H, W = first_mask.shape
    ids = np.unique(first_mask)
    feats = F.normalize(features.flatten(2), dim=1)  # [T, C, hw]
    allowed = neighbourhood_mask(h, w, radius)
    first = (feats[0], downsample_onehot(first_mask, (h, w), ids).flatten(1))
    queue = deque(maxlen=n_context)
    out = np.empty((T, H, W), np.int64)
    out[0] = first_mask
    for t in range(1, T):
        ctx = [first, *queue]
        src = torch.stack([f for f, _ in ctx])  # [n, C, hw]
        labels = torch.cat([s for _, s in ctx], 1)  # [K, n*hw]
        aff = torch.exp(torch.einsum('ct,ncs->nst', feats[t], src) /
                        temperature)  # [n, hw_src, hw_tar]
        aff = aff * allowed.T[None]
        aff = aff.reshape(-1, h * w)
        k = min(topk, aff.shape[0])
        kth = aff.topk(k, dim=0).values.min(0, keepdim=True).values
        aff = torch.where(aff < kth, torch.zeros_like(aff), aff)
        aff = aff / aff.sum(0, keepdim=True).clamp_min(1e-30)
        soft = labels @ aff  # [K, hw]
        queue.append((feats[t], soft))
        up = F.interpolate(soft.view(1, -1, h, w), size=(H, W),
                           mode='bilinear', align_corners=False)[0]
        lo = up.flatten(1).min(1).values[:, None, None]
        hi = up.flatten(1).max(1).values[:, None, None]
        up = torch.where(hi > 0, (up - lo) / (hi - lo).clamp_min(1e-12), up)
        out[t] = ids[up.argmax(0).numpy()]
    return out
