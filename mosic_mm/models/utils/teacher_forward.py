"""The teacher's forward over all B*T frames, with the two fast paths that
keep the maths of the recipe: the shared frozen trunk and exact student
rows under a half-precision teacher."""
import contextlib
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from .point_sampling import sample_at_points
from .token_backbone import Grid, TokenViT, dtype_of

__all__ = ['point_scores', 'TeacherForward']


def point_scores(vit: TokenViT, head: nn.Module, tokens: Tensor, hw: Grid,
                 points: Tensor, keep: Optional[Tensor] = None) -> Tensor:
    """Tokens after the last block -> final norm -> feature map -> bilinear
    samples at points [M,N,2] (x, y) -> head scores [M,N,K]."""
    featmap = vit.featmap(tokens, hw, keep)
    with record_function('mosic/sampling'):
        feats = sample_at_points(featmap, points, vit.patch_size)
    with record_function('mosic/projector'):
        return head(feats.to(dtype_of(head, feats)))


class TeacherForward:
    """Teacher scores of frames [M,3,H,W] at tracks [M,N,2], optionally with
    the tokens the student continues from.

    **Shared trunk.** Blocks ``[0, depth)`` below the student's first
    trainable block are frozen, so student and teacher hold equal weights
    there (the EMA of a constant is that constant). With ``student_rows``
    the trunk tokens of those frames are returned as well: the student runs
    only blocks ``[depth, L)`` on them and gets the same loss and gradients
    as running its own trunk (no gradient flows into frozen blocks), at
    the cost of those blocks on B instead of all B*T frames for both.

    **Exact rows.** Under a half-precision teacher (``dtype``), the trunk
    of ``exact_rows`` (the student's frames) runs in fp32 with autocast off,
    in the shared and the unshared path alike: the student then sees
    exactly what an unshared fp32 student sees, and the teacher is the same
    with and without sharing. Sinkhorn and the loss always run in fp32.

    Args:
        depth (int): blocks of the frozen trunk (0: none).
        dtype (torch.dtype, optional): autocast dtype of the teacher; None
            keeps the ambient precision.
        chunk_size (int, optional): frames per forward chunk (memory bound
            for long clips); None runs all frames at once.
    """

    def __init__(self, depth: int, dtype: Optional[torch.dtype] = None,
                 chunk_size: Optional[int] = None):
        self.depth = int(depth)
        self.dtype = dtype
        self.chunk_size = chunk_size

    def _autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    @torch.no_grad()
    def __call__(self, vit: TokenViT, head: nn.Module, frames: Tensor,
                 tracks: Tensor, student_rows: Optional[Tensor] = None,
                 exact_rows: Optional[Tensor] = None
                 ) -> Tuple[Tensor, Optional[Tensor]]:
        """-> (scores [M,N,K], trunk tokens [R,L,C] of ``student_rows``
        (frame indices [R]) or None)."""
        split = student_rows is not None or exact_rows is not None
        depth = self.depth if split else 0
        chunk = self.chunk_size or len(frames)
        scores, trunk = [], []

        def local(rows, start, stop):
            if rows is None:
                return None
            return rows[(rows >= start) & (rows < stop)] - start

        with self._autocast(frames.device):
            for start in range(0, len(frames), chunk):
                x = frames[start:start + chunk]
                with record_function('mosic/teacher'):
                    stop = start + len(x)
                    tokens, hw = self.trunk(vit, x, depth,
                                            local(exact_rows, start, stop))
                    if student_rows is not None:
                        trunk.append(tokens[local(student_rows, start,
                                                  stop)])
                    tokens = vit.blocks(tokens, depth, hw=hw)
                scores.append(point_scores(vit, head, tokens, hw,
                                           tracks[start:start + chunk]))
        return torch.cat(scores), (torch.cat(trunk) if trunk else None)

    @staticmethod
    def trunk(vit: TokenViT, x: Tensor, depth: int,
              exact_rows: Optional[Tensor] = None) -> Tuple[Tensor, Grid]:
        """Embedding and blocks ``[0, depth)`` of frames x [M,3,H,W] ->
        (tokens [M,L,C], hw). Rows ``exact_rows`` [R] run in fp32 with
        autocast off, the others under the ambient (teacher) autocast."""

        def run(frames: Tensor) -> Tuple[Tensor, Grid]:
            tokens, hw = vit.embed(frames)
            return vit.blocks(tokens, 0, depth, hw=hw), hw

        if exact_rows is None or exact_rows.numel() == 0:
            return run(x)
        exact = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        exact[exact_rows] = True
        with torch.autocast(x.device.type, enabled=False):
            exact_tokens, hw = run(x[exact].float())
        if bool(exact.all()):
            return exact_tokens, hw
        rest, _ = run(x[~exact])
        dtype = torch.promote_types(exact_tokens.dtype, rest.dtype)
        tokens = exact_tokens.new_empty((len(x), *exact_tokens.shape[1:]),
                                        dtype=dtype)
        tokens[exact] = exact_tokens.to(dtype)
        tokens[~exact] = rest.to(dtype)
        return tokens, hw
