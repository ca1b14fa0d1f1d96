"""MoSiC: a momentum teacher clusters point tracks, the student predicts them."""
import contextlib
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmpretrain.models import BaseSelfSupervisor
from torch.profiler import record_function
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mosic_mm.models.utils.track_sampling import sample_at_points
from mosic_mm.models.utils.vit_tokens import (embed_tokens, forward_blocks,
                                              keep_tokens, patch_featmap,
                                              vit_patch_size)
from mosic_mm.registry import MODELS


def trainable_block_indices(num_layers: int,
                            num_last: Optional[int],
                            indices: Optional[Sequence[int]] = None
                            ) -> Optional[Tuple[int, ...]]:
    """The student's trainable blocks, increasing: ``indices`` (negative
    ones from the end) when given, else the last ``num_last``; None (the
    whole backbone trains) when both are None."""
    if indices is not None:
        if isinstance(indices, int) or any(
                int(i) != i or not -num_layers <= i < num_layers
                for i in indices):
            raise ValueError(f'trainable_blocks={indices!r} must be a '
                             'sequence of block indices of a backbone with '
                             f'{num_layers} blocks')
        return tuple(sorted({int(i) % num_layers for i in indices}))
    if num_last is None:
        return None
    if int(num_last) != num_last or not 0 <= num_last <= num_layers:
        raise ValueError(f'num_trainable_blocks={num_last} but the backbone '
                         f'has {num_layers} blocks')
    return tuple(range(num_layers - int(num_last), num_layers))


def kept_token_count(num_tokens: int, mask_ratio: float,
                     rule: str = 'reference') -> int:
    """Tokens the student keeps when masking ``mask_ratio`` of
    ``num_tokens``: 'reference' ``L - int(L * r)``, 'round'
    ``max(1, round(L * (1 - r)))``."""
    if rule == 'reference':
        return num_tokens - int(num_tokens * mask_ratio)
    if rule == 'round':
        return max(1, round(num_tokens * (1.0 - mask_ratio)))
    raise ValueError(f"mask_count must be 'reference' or 'round', got "
                     f'{rule!r}')


@MODELS.register_module()
class MoSiC(BaseSelfSupervisor):
    """MoSiC (Salehi et al., ICCV 2025), arXiv 2506.08694.

    For clips x [B,T,3,H,W] with tracks p [B,T,N,2] (x, y) and visibility
    v [B,T,N]:

    - teacher (EMA copy of backbone and head, no grad) on all B*T frames:
      scores z_t = head_t(sample(f_t(x_t), p_t)) [B,T,N,K], clustered by
      Sinkhorn-Knopp into hard targets y [B,T,N];
    - student on frame 0 only: s = head(sample(f(x_0), p_0)) [B,N,K];
    - loss = sum v * CE(s / tau, y) / (B*T*N)  (see the head).

    Running the student on frame 0 only gives the same gradients as running it
    on all T frames (the loss never reads the others), at ~1/T of the cost.
    Features are sampled bilinearly on the token grid (x is the column).

    Args:
        backbone (dict): an mmpretrain ``VisionTransformer`` config with
            ``out_type='featmap'``.
        head (dict): a ``SinkhornClusteringHead`` config; ``in_channels``
            defaults to the backbone's width.
        num_trainable_blocks (int, optional): train only the last this many
            transformer blocks of the student backbone (the rest, embeddings
            and final norm included, stay frozen). None trains the whole
            backbone. Defaults to 2.
        trainable_blocks (Sequence[int], optional): train exactly these
            blocks, by index (negative indices count from the end); when
            given it replaces ``num_trainable_blocks``. ``(10, 11)`` is what
            the reference's name match (``"blocks.10"``, ``"blocks.11"``)
            trains on any depth: the last two of a 12-block ViT, middle
            blocks of ViT-L/g. Frozen blocks after a trainable one stay
            frozen but carry the gradient. Defaults to None.
        mask_ratio (float): fraction of the student's frame-0 patch tokens
            dropped (same kept set for every track of a clip); tracks starting
            in a dropped token are left out of the loss. Defaults to 0.
        mask_count (str): how many of the L tokens are kept.
            'reference': ``L - int(L * mask_ratio)`` (the dropped count is
            truncated, as the reference); 'round':
            ``round(L * (1 - mask_ratio))``. 180 vs 179 of 256 at 0.3.
        teacher_chunk_size (int, optional): teacher frames per forward chunk,
            bounding memory for long clips. None runs all B*T frames at once.
        share_frozen_trunk (bool): the frozen lower blocks are identical in
            student and teacher (the EMA of a constant is that constant), so
            without masking run them once, without grad, for all B*T frames
            and hand frame 0's tokens to the student's blocks from the first
            trainable one on. Same loss and gradients, the student then costs
            those blocks on B frames. Defaults to True.
        teacher_dtype (str, optional): autocast dtype of the teacher forward
            (e.g. 'bfloat16'); None keeps the ambient precision. Sinkhorn and
            the loss always run in fp32.
        exact_student (bool): with ``teacher_dtype``, run the frozen trunk
            of the frame-0 rows (the student's inputs when shared) in fp32
            with autocast off, so the student sees exactly what an unshared
            fp32 student sees (and the teacher is the same with and without
            sharing); only the other frames' trunk runs in ``teacher_dtype``. False runs the whole shared trunk under the
            teacher's autocast (bf16-rounded student inputs). Defaults to True.
        mask_rule (str): which loss terms masking drops. 'reference' (the
            paper's ablation): term (b, t, n) is dropped when the point's
            frame-t position falls in a masked token (one kept set for all
            frames). 'frame0': dropped when its frame-0 position is masked.

    The stages of :meth:`loss` are labelled for ``torch.profiler``
    (``mosic/teacher``, ``mosic/student``, ``mosic/sampling``,
    ``mosic/projector``, ``mosic/sinkhorn``, ``mosic/loss``).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 num_trainable_blocks: Optional[int] = 2,
                 trainable_blocks: Optional[Sequence[int]] = None,
                 mask_ratio: float = 0.0,
                 mask_count: str = 'reference',
                 teacher_chunk_size: Optional[int] = None,
                 share_frozen_trunk: bool = True,
                 teacher_dtype: Optional[str] = None,
                 exact_student: bool = True,
                 mask_rule: str = 'reference',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        backbone = MODELS.build(backbone) if isinstance(backbone, dict) \
            else backbone
        if getattr(backbone, 'out_type', None) != 'featmap':
            raise ValueError('MoSiC needs a VisionTransformer backbone with '
                             "out_type='featmap' (patch tokens); got "
                             f'{type(backbone).__name__} with out_type='
                             f"{getattr(backbone, 'out_type', None)!r}")
        if isinstance(head, dict):
            head = dict(head)
            width = head.setdefault('in_channels', backbone.embed_dims)
            if width != backbone.embed_dims:
                raise ValueError(
                    f'model.head.in_channels={width} does not match the '
                    f'backbone width embed_dims={backbone.embed_dims}; drop '
                    'head.in_channels from the config to infer it.')
        if mask_rule not in ('reference', 'frame0'):
            raise ValueError("mask_rule must be 'reference' or 'frame0', "
                             f'got {mask_rule!r}')
        if mask_count not in ('reference', 'round'):
            raise ValueError("mask_count must be 'reference' or 'round', "
                             f'got {mask_count!r}')
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
        trainable_ids = trainable_block_indices(
            len(backbone.layers), num_trainable_blocks, trainable_blocks)
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClipDataPreprocessor')
        super().__init__(backbone=backbone, head=head,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.num_trainable_blocks = num_trainable_blocks
        self.trainable_block_ids = trainable_ids
        self.mask_ratio = mask_ratio
        self.mask_count = mask_count
        self.teacher_chunk_size = teacher_chunk_size
        self.share_frozen_trunk = share_frozen_trunk
        self.exact_student = exact_student
        self.mask_rule = mask_rule
        self.teacher_dtype = getattr(torch, teacher_dtype) \
            if teacher_dtype else None
        self.patch_size = vit_patch_size(self.backbone)
        self.teacher = nn.ModuleDict(
            dict(backbone=copy.deepcopy(self.backbone),
                 head=copy.deepcopy(self.head)))
        self.teacher.requires_grad_(False)
        self._freeze_student()

    # ------------------------------------------------------------ parameters
    def _freeze_student(self) -> None:
        if self.trainable_block_ids is None:
            return
        self.backbone.requires_grad_(False)
        for i in self.trainable_block_ids:
            self.backbone.layers[i].requires_grad_(True)

    def _student_teacher_pairs(self) -> Tuple[List[Tensor], List[Tensor]]:
        teacher = dict(self.teacher.named_parameters())
        student, paired = [], []
        for name, param in [*self.backbone.named_parameters('backbone'),
                            *self.head.named_parameters('head')]:
            if param.requires_grad:  # frozen ones are equal in both
                student.append(param)
                paired.append(teacher[name])
        return student, paired

    def init_weights(self) -> None:
        """Initialise the student (e.g. load pretrained weights), then copy
        it into the teacher so both start identical."""
        super().init_weights()
        self.teacher['backbone'].load_state_dict(self.backbone.state_dict())
        self.teacher['head'].load_state_dict(self.head.state_dict())

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher = momentum * teacher + (1 - momentum) * student."""
        student, teacher = self._student_teacher_pairs()
        if student:
            torch._foreach_lerp_(teacher, student, 1.0 - momentum)

    def train(self, mode: bool = True) -> 'MoSiC':
        """Frozen student parts and the teacher always run in eval mode."""
        super().train(mode)
        self.teacher.eval()
        if self.trainable_block_ids is not None:
            self.backbone.eval()
            for i in self.trainable_block_ids:
                self.backbone.layers[i].train(mode)
        return self

    @property
    def _trunk_depth(self) -> int:
        """Number of frozen blocks below the first trainable one (0 when
        the backbone trains; all blocks when none trains)."""
        if self.trainable_block_ids is None:
            return 0
        return min(self.trainable_block_ids,
                   default=len(self.backbone.layers))

    # ------------------------------------------------------------- features
    def _teacher_context(self, device: torch.device):
        if self.teacher_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.teacher_dtype)

    def _scores(self, vit: nn.Module, head: nn.Module, tokens: Tensor,
                hw: Tuple[int, int], points: Tensor,
                keep: Optional[Tensor] = None) -> Tensor:
        """Final norm -> feature map -> sample at points [M,N,2] -> head."""
        featmap = patch_featmap(vit, tokens, hw, keep)
        with record_function('mosic/sampling'):
            feats = sample_at_points(featmap, points, self.patch_size)
        with record_function('mosic/projector'):
            return head(feats)

    @torch.no_grad()
    def teacher_scores(self, frames: Tensor, tracks: Tensor,
                       trunk_rows: Optional[Tensor] = None,
                       exact_rows: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Optional[Tensor]]:
        """frames [M,3,H,W], tracks [M,N,2] -> (teacher scores [M,N,K],
        trunk tokens or None).

        With ``trunk_rows`` (frame indices [R]), the second value holds the
        tokens of those frames after the frozen trunk ([R, L, C]) for the
        student; otherwise it is None. The trunk of ``exact_rows`` (frame
        indices) runs in fp32 with autocast off (see ``exact_student``), in
        the shared and the unshared path alike, so both see one teacher.
        """
        vit, head = self.teacher['backbone'], self.teacher['head']
        split = trunk_rows is not None or exact_rows is not None
        depth = self._trunk_depth if split else 0
        chunk = self.teacher_chunk_size or len(frames)
        scores, trunk = [], []

        def local(rows, start, stop):
            if rows is None:
                return None
            return rows[(rows >= start) & (rows < stop)] - start

        with self._teacher_context(frames.device):
            for start in range(0, len(frames), chunk):
                x = frames[start:start + chunk]
                with record_function('mosic/teacher'):
                    stop = start + len(x)
                    tokens, hw = self._trunk(
                        vit, x, depth, local(exact_rows, start, stop))
                    if trunk_rows is not None:
                        trunk.append(tokens[local(trunk_rows, start, stop)])
                    tokens = forward_blocks(vit, tokens, depth, hw=hw)
                scores.append(
                    self._scores(vit, head, tokens, hw,
                                 tracks[start:start + chunk]))
        return torch.cat(scores), (torch.cat(trunk) if trunk else None)

    def _trunk(self, vit: nn.Module, x: Tensor, depth: int,
               exact_rows: Optional[Tensor] = None
               ) -> Tuple[Tensor, Tuple[int, int]]:
        """Embedding and blocks ``[0, depth)`` of frames x [M,3,H,W] ->
        (tokens [M,L,C], hw). Rows ``exact_rows`` [R] run in fp32 with
        autocast off (the student's inputs); the others under the ambient
        (teacher) autocast."""

        def run(frames: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
            tokens, hw = embed_tokens(vit, frames)
            return forward_blocks(vit, tokens, 0, depth, hw=hw), hw

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

    def student_scores(self, frames: Tensor, points: Tensor,
                       trunk_tokens: Optional[Tensor] = None
                       ) -> Tuple[Tensor, Optional[Tensor]]:
        """frames [B,3,H,W], points [B,N,2] -> scores [B,N,K] and, with
        masking, the kept-token grid bool [B, h*w] (None without masking).

        ``trunk_tokens`` [B,L,C]: the frames' tokens after the frozen trunk
        (see ``share_frozen_trunk``); only the trainable blocks then run.
        """
        vit = self.backbone
        hw = tuple(-(-s // self.patch_size) for s in frames.shape[-2:])
        keep = kept_grid = None
        with record_function('mosic/student'):
            if trunk_tokens is not None:
                tokens = forward_blocks(vit, trunk_tokens.to(frames.dtype),
                                        self._trunk_depth, hw=hw)
            else:
                tokens, hw = embed_tokens(vit, frames)
                if self.training and self.mask_ratio > 0:
                    keep, kept_grid = self._sample_kept_tokens(
                        len(frames), hw, frames.device)
                    tokens = keep_tokens(vit, tokens, keep)
                tokens = forward_blocks(vit, tokens, hw=hw, keep=keep)
        return self._scores(vit, self.head, tokens, hw, points,
                            keep), kept_grid

    def _uses_shared_trunk(self) -> bool:
        masked = self.training and self.mask_ratio > 0
        return (self.share_frozen_trunk and self._trunk_depth > 0
                and not masked)

    def _sample_kept_tokens(self, batch: int, hw: Tuple[int, int],
                            device) -> Tuple[Tensor, Tensor]:
        num = hw[0] * hw[1]
        num_keep = kept_token_count(num, self.mask_ratio, self.mask_count)
        keep = torch.rand(batch, num, device=device).argsort(1)[:, :num_keep]
        kept_grid = torch.zeros(batch, num, dtype=torch.bool, device=device)
        kept_grid.scatter_(1, keep, True)
        return keep.sort(1).values, kept_grid

    def _points_in_kept(self, points: Tensor, kept_grid: Tensor,
                        hw: Tuple[int, int]) -> Tensor:
        col = (points[..., 0] / self.patch_size).floor().long().clamp(
            0, hw[1] - 1)
        row = (points[..., 1] / self.patch_size).floor().long().clamp(
            0, hw[0] - 1)
        return torch.gather(kept_grid, 1, row * hw[1] + col)

    def _terms_kept(self, tracks: Tensor, kept_grid: Tensor,
                    size: Tuple[int, int]) -> Tensor:
        """tracks [B,T,N,2], kept grid [B,h*w] -> bool [B,T,N]: which loss
        terms survive masking (see ``mask_rule``)."""
        B, T, N = tracks.shape[:3]
        hw = tuple(-(-s // self.patch_size) for s in size)
        if self.mask_rule == 'frame0':
            return self._points_in_kept(tracks[:, 0], kept_grid,
                                        hw).unsqueeze(1).expand(B, T, N)
        return self._points_in_kept(tracks.reshape(B, T * N, 2), kept_grid,
                                    hw).view(B, T, N)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """Student features of frames [B,3,H,W] or clips [B,T,3,H,W]."""
        if inputs.dim() == 5:
            inputs = inputs.flatten(0, 1)
        return self.backbone(inputs)

    # ----------------------------------------------------------------- loss
    def loss(self, inputs: Tensor,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """inputs [B,T,3,H,W]; each sample holds tracks [T,N,2] and
        visibility [T,N]."""
        tracks = torch.stack([s.tracks for s in data_samples]).to(
            inputs.device, torch.float32)
        visibility = torch.stack([s.visibility for s in data_samples]).to(
            inputs.device)
        B, T = inputs.shape[:2]
        N = tracks.shape[2]
        if tracks.shape[:2] != (B, T) or visibility.shape != (B, T, N):
            raise ValueError(
                f'tracks {tuple(tracks.shape)} / visibility '
                f'{tuple(visibility.shape)} do not match clips '
                f'{tuple(inputs.shape)}; expected [B,T,N,2] and [B,T,N]')
        self.head.normalize_prototypes_()
        self.teacher['head'].normalize_prototypes_()
        frame0_rows = torch.arange(0, B * T, T, device=inputs.device)
        exact = self.exact_student and self.teacher_dtype is not None
        teacher, trunk = self.teacher_scores(
            inputs.flatten(0, 1), tracks.flatten(0, 1),
            frame0_rows if self._uses_shared_trunk() else None,
            frame0_rows if exact else None)
        student, kept_grid = self.student_scores(inputs[:, 0], tracks[:, 0],
                                                 trunk)
        if kept_grid is not None:
            visibility = visibility & self._terms_kept(tracks, kept_grid,
                                                       inputs.shape[-2:])
        return self.head.loss(student, teacher.view(B, T, N, -1), visibility)
