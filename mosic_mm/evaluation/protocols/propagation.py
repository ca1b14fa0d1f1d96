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
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mosic_mm.models.utils.token_backbone import vit_patch_size

from ..features import extract_features
from ..metrics.davis import evaluate_video, jf_summary
from ..protocol import (
    EvalData,
    Protocol,
    ProtocolSettings,
    resolve_input_size,
    setting,
)

__all__ = ['PropagationSettings', 'LabelPropagation', 'neighbourhood_mask',
           'downsample_onehot', 'propagate_labels']

_DINO = 'facebookresearch/dino@7c446df eval_video_segmentation.py'


@dataclass(frozen=True)
class PropagationSettings(ProtocolSettings):
    """DINO's label propagation (paper values)."""
    input_size: Union[int, str, None] = setting(
        'native', "ours: 'native' = the frames' own size (DAVIS 480p) "
        'rounded down to a multiple of the patch (DINO floors the long side '
        f'to a multiple of 64, {_DINO}:207); an int: square; None: the '
        "backbone's img_size", size=True)
    n_context: int = setting(7, f'{_DINO}:260')
    radius: int = setting(12, f'{_DINO}:261')
    topk: int = setting(5, f'{_DINO}:263')
    temperature: float = setting(0.1, f'{_DINO}:129 (hard-coded)')
    batch_size: int = setting(8, 'ours: frames per feature batch (no effect '
                              'on the result)', size=True)

    FAST = dict(input_size=56)


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


class LabelPropagation(Protocol):
    """Frame 0's labels propagated through each ``val`` video with the
    frozen features; metrics ``J&F``, ``J``, ``F`` (davis2017-evaluation,
    first and last frames not scored)."""
    name = 'propagate'
    Settings = PropagationSettings

    def run(self, vit, info: dict, data: EvalData, progress: bool = True,
            work_dir: Optional[str] = None
            ) -> Tuple[Dict[str, float], List[str]]:
        from tqdm import tqdm
        s = self.settings
        vs = data.load('val')
        p = vit_patch_size(vit)
        per_video = {}
        for v in tqdm(vs.videos, desc='propagate: videos', unit='video',
                      leave=False, disable=not progress):
            frames, masks = vs.load(v)
            size = resolve_input_size(s.input_size, info)
            if size == 'native':
                H, W = frames.shape[1:3]
                size = (max(p, H // p * p), max(p, W // p * p))
            feats = extract_features(vit, frames, size, info['mean'],
                                     info['std'], s.batch_size)
            pred = propagate_labels(feats, masks[0], s.n_context, s.radius,
                                    s.topk, s.temperature)
            per_video[v] = evaluate_video(masks, pred)
        js = jf_summary(per_video)
        return {'J&F': js['J&F'], 'J': js['J'], 'F': js['F']}, [
            f'{len(vs)} videos']
