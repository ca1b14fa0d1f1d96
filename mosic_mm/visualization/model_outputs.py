"""What a MoSiC model sees in a clip: patch features and cluster assignments
(inputs of the drawing functions)."""
from typing import Dict

import numpy as np
import torch
from torch import Tensor


def patch_centers(h: int, w: int, patch_size: int) -> Tensor:
    """``[h*w, 2]`` (x, y) pixel centres of an ``h x w`` token grid,
    row-major (``docs/conventions.md``)."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    return torch.stack([(xs.flatten() + 0.5) * patch_size - 0.5,
                        (ys.flatten() + 0.5) * patch_size - 0.5], -1).float()


@torch.no_grad()
def clip_outputs(model,
                 inputs: Tensor,
                 tracks: Tensor,
                 assign: str = 'sinkhorn',
                 chunk: int = 16) -> Dict[str, np.ndarray]:
    """Student patch features and teacher cluster assignments of one clip.

    Args:
        model: a :class:`mosic_mm.models.MoSiC` (unwrapped).
        inputs: normalised frames ``[T, 3, H, W]`` (after the data
            preprocessor).
        tracks: ``[T, N, 2]`` (x, y) pixels of ``inputs``.
        assign: 'sinkhorn' (the training targets: Sinkhorn-Knopp over the
            points of the clip, then argmax) or 'argmax' (nearest prototype).
        chunk: frames per backbone call.

    Returns:
        dict of numpy arrays: ``features`` ``[T, h, w, C]`` (student
        backbone), ``patch_clusters`` int ``[T, h, w]`` (teacher, every
        token centre), ``track_clusters`` int ``[T, N]`` (teacher, at the
        tracks) and ``num_clusters``.
    """
    if assign not in ('sinkhorn', 'argmax'):
        raise ValueError(f"assign must be 'sinkhorn' or 'argmax', got "
                         f'{assign!r}')
    was_training = model.training
    model.eval()
    try:
        feats = torch.cat([model.backbone(x)[-1]
                           for x in inputs.split(chunk)])  # [T,C,h,w]
        T, _, h, w = feats.shape
        grid = patch_centers(h, w, model.patch_size).to(inputs.device)
        # one teacher pass for the token centres and the tracks together
        points = torch.cat([grid.expand(T, -1, -1), tracks.to(inputs)], 1)
        scores = model.teacher_scores(inputs, points)
        grid_scores, track_scores = scores.split([h * w, tracks.shape[1]], 1)
        K = scores.shape[-1]

        def ids(scores: Tensor) -> Tensor:
            flat = scores.reshape(-1, K)
            if assign == 'sinkhorn':
                return model.head.targets(flat).view(scores.shape[:-1])
            return flat.argmax(1).view(scores.shape[:-1])

        return dict(features=feats.permute(0, 2, 3, 1).float().cpu().numpy(),
                    patch_clusters=ids(grid_scores).view(T, h,
                                                         w).cpu().numpy(),
                    track_clusters=ids(track_scores).cpu().numpy(),
                    num_clusters=K)
    finally:
        model.train(was_training)
