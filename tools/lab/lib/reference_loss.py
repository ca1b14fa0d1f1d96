"""The official MoSiC code's way of computing the same loss, for benchmarks.

It runs the student on all T frames (only frame 0 is used), upsamples both
networks' feature maps to the input resolution and indexes them at the rounded
track positions. With correct axes (x = column) and integer track positions
this equals :meth:`MoSiC.loss`, since bilinear upsampling with
``align_corners=False`` evaluated at pixel centres is exactly our bilinear
token-grid sampling there.
"""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _upsampled_points(featmap: Tensor, size, points: Tensor) -> Tensor:
    """featmap [M,C,h,w] -> upsampled [M,C,H,W] -> values at rounded points
    [M,N,2] (x, y) -> [M,N,C]."""
    dense = F.interpolate(featmap, size=size, mode='bilinear',
                          align_corners=False)
    H, W = size
    x = points[..., 0].round().long().clamp(0, W - 1)
    y = points[..., 1].round().long().clamp(0, H - 1)
    flat = dense.flatten(2)  # [M,C,H*W]
    idx = (y * W + x).unsqueeze(1).expand(-1, flat.shape[1], -1)
    return flat.gather(2, idx).transpose(1, 2)


def reference_loss(model: nn.Module, inputs: Tensor, tracks: Tensor,
                   visibility: Tensor) -> Dict[str, Tensor]:
    """inputs [B,T,3,H,W], tracks [B,T,N,2], visibility [B,T,N] -> the
    head's loss dict, computed the reference way with ``model``'s weights."""
    B, T = inputs.shape[:2]
    N = tracks.shape[2]
    size = tuple(inputs.shape[-2:])
    frames = inputs.flatten(0, 1)
    with torch.no_grad():
        t_map = model.teacher['backbone'](frames)[-1]
        teacher = model.teacher['head'](
            _upsampled_points(t_map, size, tracks.flatten(0, 1)))
    s_map = model.backbone(frames)[-1]  # all T frames, as the reference
    s_points = _upsampled_points(s_map, size, tracks.flatten(0, 1))
    student = model.head(s_points).view(B, T, N, -1)[:, 0]
    return model.head.loss(student, teacher.view(B, T, N, -1), visibility)
