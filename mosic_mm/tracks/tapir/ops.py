"""Pure tensor functions behind the TAPIR trackers.

Coordinate convention of this package (the one TAPIR was trained with):
positions are in pixels with the origin at the top-left *corner* of the
top-left pixel, so the centre of pixel (row i, column j) is at
``(y, x) = (i + 0.5, j + 0.5)`` and an ``H x W`` image spans
``[0, H] x [0, W]``. Frame indices are whole numbers (frame ``t`` is the
``t``-th image); a fractional ``t`` interpolates between frames.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = [
    'same_padding', 'pad_same', 'default_refinement_resolutions',
    'resize_video', 'l2_normalize', 'rescale', 'sample_query_features',
    'sample_neighbourhoods', 'soft_argmax', 'avg_pool_2x2',
    'depthwise_conv1d'
]


def same_padding(size: int, kernel: int, stride: int) -> Tuple[int, int]:
    """(before, after) zero padding of one axis that gives ``ceil(size /
    stride)`` outputs, the extra pixel going after (XLA/TensorFlow "SAME",
    which the released weights were trained with)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad the last two axes of NCHW ``x`` for a "SAME" convolution."""
    top, bottom = same_padding(x.shape[-2], kernel, stride)
    left, right = same_padding(x.shape[-1], kernel, stride)
    return F.pad(x, (left, right, top, bottom))


def default_refinement_resolutions(
        video_hw: Sequence[int],
        initial_hw: Sequence[int],
        num_levels: Optional[int] = None) -> List[Tuple[int, int]]:
    """Refinement resolutions, geometrically spaced from ``initial_hw`` up to
    ``video_hw`` and rounded down to multiples of 8.

    Without ``num_levels`` there are ``ceil(log2(max ratio)) + 1`` levels, so
    consecutive levels differ by less than a factor of two: a 256 x 256 video
    gets ``[(256, 256)]``, 320 x 320 or 512 x 512 ``[(256, 256), (320, 320)]``
    / ``[(256, 256), (512, 512)]``, 1024 x 1024 three levels. A video no
    larger than ``initial_hw`` gets ``[initial_hw]``.
    """
    initial = (int(initial_hw[0]), int(initial_hw[1]))
    full = (int(video_hw[0]), int(video_hw[1]))
    if full == initial:
        return [initial]
    if num_levels is None:
        ratio = max(math.log2(f / i) for f, i in zip(full, initial))
        num_levels = int(math.ceil(ratio)) + 1
    if num_levels <= 1:
        return [initial]
    levels = []
    for level in range(num_levels):
        frac = level / (num_levels - 1)
        levels.append(tuple(
            int(i * (f / i)**frac // 8) * 8 for f, i in zip(full, initial)))
    return levels


def resize_video(video: torch.Tensor, hw: Sequence[int]) -> torch.Tensor:
    """Bilinear resize (half-pixel centres, no antialiasing) of
    ``[B, T, H, W, C]`` to ``[B, T, h, w, C]``."""
    b, t, h, w, c = video.shape
    x = video.permute(0, 1, 4, 2, 3).reshape(b, t * c, h, w)
    x = F.interpolate(x, size=tuple(int(s) for s in hw), mode='bilinear',
                      align_corners=False)
    return x.reshape(b, t, c, x.shape[-2], x.shape[-1]).permute(0, 1, 3, 4, 2)


def l2_normalize(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``x / max(||x||, 1e-6)`` along ``dim``."""
    return F.normalize(x, dim=dim, eps=1e-6)


def rescale(coords: torch.Tensor, from_size: Sequence[float],
            to_size: Sequence[float]) -> torch.Tensor:
    """Map positions ``[..., K]`` from a grid of ``from_size`` to one of
    ``to_size`` (K entries each, in the order of the last axis of
    ``coords``, e.g. (x, y) with (width, height))."""
    to = torch.tensor([float(s) for s in to_size], dtype=coords.dtype,
                      device=coords.device)
    frm = torch.tensor([float(s) for s in from_size], dtype=coords.dtype,
                       device=coords.device)
    return coords * to / frm


def sample_query_features(grid: torch.Tensor,
                          tyx: torch.Tensor) -> torch.Tensor:
    """Trilinear sample of ``grid`` [B, T, h, w, C] at ``tyx`` [B, N, 3]
    (frame, row, column in grid cells, corner origin; positions outside
    are clamped to the border). Returns [B, N, C]."""
    b, t, h, w, c = grid.shape
    size = torch.tensor([t, h, w], dtype=tyx.dtype, device=tyx.device)
    centred = tyx + torch.tensor([0.5, 0.0, 0.0], dtype=tyx.dtype,
                                 device=tyx.device)
    unit = 2 * (centred / size) - 1
    xyt = unit.flip(-1)[:, :, None, None, :]  # grid_sample wants (x, y, t)
    out = F.grid_sample(grid.permute(0, 4, 1, 2, 3), xyt, mode='bilinear',
                        padding_mode='border', align_corners=False)
    return out[:, :, :, 0, 0].transpose(1, 2)


def sample_neighbourhoods(grid: torch.Tensor,
                          centres_xy: torch.Tensor,
                          radius: int = 3,
                          normalize_x_by_height: bool = False
                          ) -> torch.Tensor:
    """Bilinear samples of ``grid`` [B, T, h, w, C] on the
    ``(2 * radius + 1)**2`` whole-cell offsets around ``centres_xy``
    [B, N, T, 2] ((x, y) in grid cells, corner origin); zero outside.

    Returns [B, N, T, S, C], offsets row-major (dy outer, dx inner).
    ``normalize_x_by_height`` scales x by the grid height instead of its
    width, which is what tapnet's PyTorch port does (identical on square
    grids, wrong on others); only for reproducing it.
    """
    b, t, h, w, c = grid.shape
    n = centres_xy.shape[1]
    steps = torch.arange(-radius, radius + 1, dtype=centres_xy.dtype,
                         device=centres_xy.device)
    dy, dx = torch.meshgrid(steps, steps, indexing='ij')
    offsets = torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=-1)
    points = centres_xy[:, :, :, None, :] + offsets  # [B, N, T, S, 2]
    size = torch.tensor([h if normalize_x_by_height else w, h],
                        dtype=points.dtype, device=points.device)
    unit = 2 * (points / size) - 1
    unit = unit.transpose(1, 2).reshape(b * t, n, -1, 2)
    frames = grid.permute(0, 1, 4, 2, 3).reshape(b * t, c, h, w)
    out = F.grid_sample(frames, unit, mode='bilinear', padding_mode='zeros',
                        align_corners=False)  # [B*T, C, N, S]
    out = out.reshape(b, t, c, n, -1).permute(0, 3, 1, 4, 2)
    return out


def soft_argmax(heatmap: torch.Tensor, radius: float = 5.0) -> torch.Tensor:
    """Position of the mode of ``heatmap`` [..., h, w] (non-negative
    weights): the weighted mean of the cell centres closer than
    ``radius`` cells to the arg-max cell. Returns [..., 2] (x, y) in grid
    cells, corner origin."""
    h, w = heatmap.shape[-2:]
    idx = heatmap.flatten(-2).argmax(dim=-1)
    ys = torch.arange(h, device=heatmap.device, dtype=heatmap.dtype)
    xs = torch.arange(w, device=heatmap.device, dtype=heatmap.dtype)
    peak_y = torch.div(idx, w, rounding_mode='floor').to(heatmap.dtype)
    peak_x = (idx % w).to(heatmap.dtype)
    dist2 = ((ys - peak_y[..., None])**2)[..., :, None] + (
        (xs - peak_x[..., None])**2)[..., None, :]
    weights = heatmap * (dist2 < radius**2)
    total = weights.sum(dim=(-2, -1)).clamp_min(1e-12)
    x = (weights * (xs + 0.5)).sum(dim=(-2, -1)) / total
    y = (weights * (ys + 0.5)[:, None]).sum(dim=(-2, -1)) / total
    return torch.stack([x, y], dim=-1)


def avg_pool_2x2(grid: torch.Tensor) -> torch.Tensor:
    """Average 2 x 2 spatial blocks of ``[B, T, h, w, C]`` (an odd last row
    or column is dropped)."""
    b, t, h, w, c = grid.shape
    g = grid[:, :, :h - h % 2, :w - w % 2]
    return g.reshape(b, t, h // 2, 2, w // 2, 2, c).mean(dim=(3, 5))


def depthwise_conv1d(x: torch.Tensor, weight: torch.Tensor,
                     bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Depthwise temporal convolution without padding, channels last.

    ``x`` [M, L, C]; ``weight`` [C * m, 1, k] (``m`` outputs per input
    channel, output ``c * m + j`` reading input ``c``); returns
    [M, L - k + 1, C * m]. Short outputs (online steps) are an explicit
    sum over the k taps, where CPU grouped convolutions are slow; longer
    ones use ``F.conv1d``. Both compute the same sums.
    """
    c = x.shape[-1]
    out_channels, _, k = weight.shape
    length = x.shape[1] - k + 1
    if length > 8:
        y = F.conv1d(x.transpose(1, 2), weight, bias, groups=c)
        return y.transpose(1, 2)
    taps = weight[:, 0].reshape(c, out_channels // c, k)
    y = x.new_zeros(()) if bias is None else bias.reshape(c, -1)
    for j in range(k):
        y = y + x[:, j:j + length, :, None] * taps[..., j]
    return y.flatten(-2)
