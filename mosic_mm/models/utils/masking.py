"""Token masking of the student (the paper's ablation): which patch tokens
it keeps and which loss terms survive. Pure functions of the shapes and
the generator's draws."""
from typing import Tuple

import torch
from torch import Tensor

__all__ = ['MASK_COUNTS', 'MASK_RULES', 'kept_token_count',
           'sample_kept_tokens', 'points_in_kept', 'terms_kept']

#: how many of L tokens the student keeps (:func:`kept_token_count`)
MASK_COUNTS = ('floor_dropped', 'round_kept')
#: which loss terms masking drops (:func:`terms_kept`)
MASK_RULES = ('each_frame', 'first_frame')


def kept_token_count(num_tokens: int, mask_ratio: float,
                     rule: str = 'floor_dropped') -> int:
    """Tokens kept when masking ``mask_ratio`` of ``num_tokens`` L:
    'floor_dropped' ``L - int(L * r)`` (the dropped count is truncated, as
    the official code), 'round_kept' ``max(1, round(L * (1 - r)))``; 180 vs
    179 of 256 at 0.3."""
    if rule == 'floor_dropped':
        return num_tokens - int(num_tokens * mask_ratio)
    if rule == 'round_kept':
        return max(1, round(num_tokens * (1.0 - mask_ratio)))
    raise ValueError(f'mask_count must be one of {MASK_COUNTS}, got '
                     f'{rule!r}')


def sample_kept_tokens(batch: int, num_tokens: int, num_keep: int,
                       device) -> Tuple[Tensor, Tensor]:
    """A uniformly random kept set per row (``torch.rand``, the global
    generator): (kept indices [B, num_keep] increasing, kept grid bool
    [B, L])."""
    keep = torch.rand(batch, num_tokens, device=device).argsort(
        1)[:, :num_keep]
    kept_grid = torch.zeros(batch, num_tokens, dtype=torch.bool,
                            device=device)
    kept_grid.scatter_(1, keep, True)
    return keep.sort(1).values, kept_grid


def points_in_kept(points: Tensor, kept_grid: Tensor, hw: Tuple[int, int],
                   patch_size: int) -> Tensor:
    """points [B, P, 2] (x, y) pixels, kept grid bool [B, h*w] -> bool
    [B, P]: the point's token (clamped to the grid) is kept."""
    col = (points[..., 0] / patch_size).floor().long().clamp(0, hw[1] - 1)
    row = (points[..., 1] / patch_size).floor().long().clamp(0, hw[0] - 1)
    return torch.gather(kept_grid, 1, row * hw[1] + col)


def terms_kept(tracks: Tensor, kept_grid: Tensor, hw: Tuple[int, int],
               patch_size: int, rule: str = 'each_frame') -> Tensor:
    """tracks [B,T,N,2], kept grid [B,h*w] -> bool [B,T,N]: the loss terms
    that survive masking. 'each_frame' (the paper's ablation): term (b, t,
    n) is dropped when the point's frame-t position falls in a masked token
    (one kept set for all frames); 'first_frame': when its frame-0
    position does."""
    B, T, N = tracks.shape[:3]
    if rule == 'first_frame':
        return points_in_kept(tracks[:, 0], kept_grid, hw,
                              patch_size).unsqueeze(1).expand(B, T, N)
    if rule != 'each_frame':
        raise ValueError(f'mask_rule must be one of {MASK_RULES}, got '
                         f'{rule!r}')
    return points_in_kept(tracks.reshape(B, T * N, 2), kept_grid, hw,
                          patch_size).view(B, T, N)
