"""Bilinear sampling of a ViT token grid at track positions."""
import torch
import torch.nn.functional as F
from torch import Tensor


def sample_at_points(featmap: Tensor, points: Tensor,
                     patch_size: int) -> Tensor:
    """Sample token features at continuous pixel positions.

    ``points`` are (x, y) in pixels of the network input (x is the column,
    pixel centres at integers, see ``docs/conventions.md``); token ``(r, c)``
    covers pixels ``[c*p, (c+1)*p) x [r*p, (r+1)*p)`` and its centre is at
    ``x = c*p + (p-1)/2``. Bilinear ``grid_sample`` with
    ``align_corners=False`` and border padding at
    ``gx = 2 * (x + 0.5) / (w * p) - 1``, ``gy = 2 * (y + 0.5) / (h * p) - 1``.

    The grid is computed in fp32; half-precision feature maps are sampled in
    fp32 (a bf16 grid would be off by up to ~1 px) and the result is cast back.

    Args:
        featmap (Tensor): ``[B, C, h, w]`` token grid.
        points (Tensor): ``[B, P, 2]`` (x, y) pixel coordinates.
        patch_size (int): Pixels per token side ``p``.

    Returns:
        Tensor: ``[B, P, C]`` in the dtype of ``featmap``.
    """
    if featmap.dim() != 4:
        raise ValueError(f'featmap must be [B, C, h, w], got '
                         f'{tuple(featmap.shape)}')
    if points.dim() != 3 or points.shape[-1] != 2 \
            or points.shape[0] != featmap.shape[0]:
        raise ValueError(f'points must be [B, P, 2] with B='
                         f'{featmap.shape[0]}, got {tuple(points.shape)}')
    h, w = featmap.shape[-2:]
    extent = points.new_tensor([w * patch_size, h * patch_size],
                               dtype=torch.float32)
    grid = 2 * (points.float() + 0.5) / extent - 1  # [B, P, 2] as (gx, gy)
    sample_dtype = torch.promote_types(featmap.dtype, torch.float32)
    sampled = F.grid_sample(
        featmap.to(sample_dtype),
        grid.to(sample_dtype).unsqueeze(1),  # [B, 1, P, 2]
        mode='bilinear',
        padding_mode='border',
        align_corners=False)  # [B, C, 1, P]
    return sampled.squeeze(2).transpose(1, 2).to(featmap.dtype)
