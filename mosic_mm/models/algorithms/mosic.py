"""MoSiC: a momentum teacher clusters point tracks, the student predicts them."""
import contextlib
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor, nn
from torch.profiler import record_function

from mosic_mm.models.utils.lora import ADAPTER, LoRASettings, add_lora
from mosic_mm.models.utils.masking import (
    MASK_COUNTS,
    MASK_RULES,
    kept_token_count,
    sample_kept_tokens,
    terms_kept,
)
from mosic_mm.models.utils.shared_weights import (
    SharedWeightsState,
    cast_frozen_,
    shared_keys,
    teacher_copy,
)
from mosic_mm.models.utils.teacher_forward import TeacherForward, point_scores
from mosic_mm.models.utils.token_backbone import TokenViT
from mosic_mm.registry import MODELS


def trainable_block_indices(
        num_layers: int,
        num_last: Optional[int],
        indices: Optional[Sequence[int]] = None) -> Optional[Tuple[int, ...]]:
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


def _dtype(name: str, value: Optional[str]) -> Optional[torch.dtype]:
    """'bfloat16' -> torch.bfloat16 (None stays None)."""
    if value is None:
        return None
    dtype = getattr(torch, str(value), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f'{name} must name a floating torch dtype '
                         f"('bfloat16', 'float16', 'float32'), got {value!r}")
    return dtype


@MODELS.register_module()
class MoSiC(BaseSelfSupervisor):
    """MoSiC (Salehi et al., ICCV 2025), arXiv 2506.08694.

    For clips x [B,T,3,H,W] with tracks p [B,T,N,2] (x, y) and visibility
    v [B,T,N]:

    - teacher (EMA of backbone and head, no grad) on all B*T frames:
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
        mask_count (str): how many of the L tokens are kept
            (:func:`~mosic_mm.models.utils.kept_token_count`):
            'floor_dropped' ``L - int(L * mask_ratio)`` (the official
            code's) or 'round_kept' ``round(L * (1 - mask_ratio))``.
        teacher_chunk_size (int, optional): teacher frames per forward chunk,
            bounding memory for long clips. None runs all B*T frames at once.
        share_frozen_trunk (bool): without masking, run the frozen trunk
            once for all B*T frames and continue the student from frame 0's
            trunk tokens (:class:`~mosic_mm.models.utils.TeacherForward`:
            same loss and gradients). Defaults to True.
        teacher_dtype (str, optional): autocast dtype of the teacher forward
            (e.g. 'bfloat16'); None keeps the ambient precision. Sinkhorn and
            the loss always run in fp32.
        exact_student (bool): with ``teacher_dtype``, the frame-0 rows' trunk
            runs in fp32 (:class:`~mosic_mm.models.utils.TeacherForward`),
            so the student sees exactly what an fp32 student sees; False
            runs the whole shared trunk under the teacher's autocast.
            Defaults to True.
        mask_rule (str): which loss terms masking drops
            (:func:`~mosic_mm.models.utils.terms_kept`): 'each_frame' (the
            paper's ablation: a term whose frame-t point falls in a masked
            token) or 'first_frame' (a track whose frame-0 point does).
        share_frozen_weights (bool): the teacher uses the student's frozen
            parameters themselves (one copy in memory and in checkpoints;
            exact, as the EMA of a constant is that constant) and holds its
            own copy only of what trains. False: a full copy. Defaults to
            True.
        frozen_dtype (str, optional): dtype the frozen backbone parameters
            are kept in (e.g. 'bfloat16'; trainable ones, adapters and the
            head stay fp32). Backbones that can initialise on the meta
            device (``materialize_``: the timm ones) are then built there
            and materialised block by block in their kept dtypes, so a
            frozen fp32 copy never exists. None keeps fp32 (the recipe's).
        activation_checkpointing (bool): recompute the student's trainable
            blocks in the backward pass instead of storing their
            activations (same gradients). Defaults to False.
        lora (dict, optional): LoRA adapters on the student backbone through
            peft (:class:`~mosic_mm.models.utils.lora.LoRASettings`: r,
            alpha, dropout, target_modules; ``dict()`` gives the official
            r=8, alpha=32, dropout 0.1 on qkv, proj, mlp.fc1, mlp.fc2).
            The base weights freeze; the blocks of ``num_trainable_blocks``
            / ``trainable_blocks`` still train in full (0 trains only the
            adapters and the head, as the official does). The teacher holds
            its own adapters and follows them by EMA.
        materialize (bool): False leaves the model on the meta device
            (shapes and dtypes, no weights loaded: memory plans). Defaults
            to True.

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
                 mask_count: str = 'floor_dropped',
                 teacher_chunk_size: Optional[int] = None,
                 share_frozen_trunk: bool = True,
                 teacher_dtype: Optional[str] = None,
                 exact_student: bool = True,
                 mask_rule: str = 'each_frame',
                 share_frozen_weights: bool = True,
                 frozen_dtype: Optional[str] = None,
                 activation_checkpointing: bool = False,
                 lora: Optional[dict] = None,
                 materialize: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        lora = LoRASettings.from_cfg(lora) if isinstance(lora, dict) \
            else lora
        frozen = _dtype('frozen_dtype', frozen_dtype)
        on_meta = not materialize or (
            frozen is not None and isinstance(backbone, dict)
            and hasattr(MODELS.get(backbone['type']), 'materialize_'))
        if isinstance(backbone, dict):
            with torch.device('meta') if on_meta else contextlib.nullcontext():
                backbone = MODELS.build(backbone)
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
        if mask_rule not in MASK_RULES:
            raise ValueError(f'mask_rule must be one of {MASK_RULES}, got '
                             f'{mask_rule!r}')
        if mask_count not in MASK_COUNTS:
            raise ValueError(f'mask_count must be one of {MASK_COUNTS}, got '
                             f'{mask_count!r}')
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
        trainable_ids = trainable_block_indices(len(TokenViT(backbone).layers),
                                                num_trainable_blocks,
                                                trainable_blocks)
        if lora is not None and trainable_ids is None:
            raise ValueError('model.lora adapts a frozen backbone, but '
                             'num_trainable_blocks=None trains all of it: '
                             'set num_trainable_blocks=0 (adapters only, as '
                             'the official) or the blocks to train in full')
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClipDataPreprocessor')
        super().__init__(backbone=backbone,
                         head=head,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.num_trainable_blocks = num_trainable_blocks
        self.trainable_block_ids = trainable_ids
        self.mask_ratio = mask_ratio
        self.mask_count = mask_count
        self.share_frozen_trunk = share_frozen_trunk
        self.exact_student = exact_student
        self.mask_rule = mask_rule
        self.teacher_dtype = _dtype('teacher_dtype', teacher_dtype)
        self.share_frozen_weights = share_frozen_weights
        self.frozen_dtype = frozen
        self.lora = lora
        self._trunk = None
        self._freeze_student()
        if on_meta and materialize:
            self.backbone.materialize_(lambda p: torch.float32
                                       if p.requires_grad else frozen)
        else:
            cast_frozen_(self.backbone, frozen)
        if lora is not None:
            if materialize:  # pretrained weights go in under plain names
                self.backbone.init_weights()
            add_lora(self.backbone, lora)
            self._freeze_student()
        self._trunk = None  # the trainable set is final from here
        self.teacher = nn.ModuleDict(
            dict(backbone=teacher_copy(self.backbone, share_frozen_weights),
                 head=copy.deepcopy(self.head)))
        self.teacher.requires_grad_(False)
        self.shared_weights = SharedWeightsState(
            shared_keys(self, 'backbone', 'teacher.backbone'))
        self.shared_weights.attach(self)
        self.student_tokens = TokenViT(
            self.backbone, activation_checkpointing=activation_checkpointing)
        self.teacher_tokens = TokenViT(self.teacher['backbone'])
        self.patch_size = self.student_tokens.patch_size
        self.teacher_forward = TeacherForward(self._trunk_depth,
                                              self.teacher_dtype,
                                              teacher_chunk_size)

    @property
    def teacher_chunk_size(self) -> Optional[int]:
        return self.teacher_forward.chunk_size

    # ------------------------------------------------------------ parameters
    def _freeze_student(self) -> None:
        """Only the trainable blocks and the adapters of the student
        backbone train (all of it when ``trainable_block_ids`` is None)."""
        if self.trainable_block_ids is None:
            return
        self.backbone.requires_grad_(False)
        layers = TokenViT(self.backbone).layers
        for i in self.trainable_block_ids:
            layers[i].requires_grad_(True)
        for name, param in self.backbone.named_parameters():
            if '.lora_' in name:
                param.requires_grad_(True)

    def _student_teacher_pairs(self) -> Tuple[List[Tensor], List[Tensor]]:
        teacher = dict(self.teacher.named_parameters())
        student, paired = [], []
        for name, param in [
                *self.backbone.named_parameters('backbone'),
                *self.head.named_parameters('head')
        ]:
            if param.requires_grad:  # frozen ones are equal in both
                student.append(param)
                paired.append(teacher[name])
        return student, paired

    def init_weights(self) -> None:
        """Initialise the student (e.g. load pretrained weights), then copy
        it into the teacher so both start identical."""
        super().init_weights()
        with torch.no_grad():
            for student, teacher in ((self.backbone, self.teacher['backbone']),
                                     (self.head, self.teacher['head'])):
                own = dict(teacher.named_parameters(remove_duplicate=False))
                own.update(teacher.named_buffers(remove_duplicate=False))
                for name, value in [
                        *student.named_parameters(remove_duplicate=False),
                        *student.named_buffers(remove_duplicate=False)
                ]:
                    if own[name] is not value:  # shared ones are the same
                        own[name].copy_(value)

    @torch.no_grad()
    def update_teacher(self, teacher_weight: float) -> None:
        """teacher = w * teacher + (1 - w) * student, for every trainable
        parameter (``w`` = ``teacher_weight``, 0.99 in the recipe)."""
        student, teacher = self._student_teacher_pairs()
        if student:
            torch._foreach_lerp_(teacher, student, 1.0 - teacher_weight)

    def train(self, mode: bool = True) -> 'MoSiC':
        """Frozen student parts and the teacher always run in eval mode."""
        super().train(mode)
        self.teacher.eval()
        if self.trainable_block_ids is not None:
            self.backbone.eval()
            for i in self.trainable_block_ids:
                self.student_tokens.layers[i].train(mode)
        if self.lora is not None:  # the student's adapter dropout
            from peft.functional import set_training
            set_training(self.backbone, ADAPTER, mode)
        return self

    @property
    def _trunk_depth(self) -> int:
        """Number of blocks of the frozen trunk, where student and teacher
        compute the same: the blocks below the first one with a trainable
        parameter (block or adapter); 0 when anything before the blocks
        trains (e.g. an adapter on the patch embedding) or the whole
        backbone does; all blocks when none trains."""
        if self._trunk is None:
            layers = TokenViT(self.backbone).layers
            in_layers = {id(p) for p in layers.parameters()}
            if any(p.requires_grad for p in self.backbone.parameters()
                   if id(p) not in in_layers) or \
                    self.trainable_block_ids is None:
                self._trunk = 0
            else:
                self._trunk = next((i for i, layer in enumerate(layers) if any(
                    p.requires_grad for p in layer.parameters())), len(layers))
        return self._trunk

    def _uses_shared_trunk(self) -> bool:
        masked = self.training and self.mask_ratio > 0
        return (self.share_frozen_trunk and self._trunk_depth > 0
                and not masked)

    # ------------------------------------------------------------- features
    def teacher_scores(self, frames: Tensor, points: Tensor) -> Tensor:
        """The teacher's prototype scores [M,N,K] of frames [M,3,H,W] at
        points [M,N,2] (x, y) pixels, no grad."""
        return self.teacher_forward(self.teacher_tokens, self.teacher['head'],
                                    frames, points)[0]

    def student_scores(
        self,
        frames: Tensor,
        points: Tensor,
        trunk_tokens: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """frames [B,3,H,W], points [B,N,2] -> scores [B,N,K] and, with
        masking, the kept-token grid bool [B, h*w] (None without masking).

        ``trunk_tokens`` [B,L,C]: the frames' tokens after the frozen trunk
        (``share_frozen_trunk``); only the trainable blocks then run.
        """
        vit = self.student_tokens
        hw = vit.grid(frames.shape[-2:])
        keep = kept_grid = None
        with record_function('mosic/student'):
            if trunk_tokens is not None:
                tokens = vit.blocks(trunk_tokens.to(frames.dtype),
                                    self._trunk_depth,
                                    hw=hw)
            else:
                tokens, hw = vit.embed(frames)
                if self.training and self.mask_ratio > 0:
                    num = hw[0] * hw[1]
                    keep, kept_grid = sample_kept_tokens(
                        len(frames), num,
                        kept_token_count(num, self.mask_ratio,
                                         self.mask_count), frames.device)
                    tokens = vit.keep(tokens, keep)
                tokens = vit.blocks(tokens, hw=hw, keep=keep)
        return point_scores(vit, self.head, tokens, hw, points,
                            keep), kept_grid

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
        tracks, visibility = self._tracks(inputs, data_samples)
        B, T, N = visibility.shape
        self.head.normalize_prototypes_()
        self.teacher['head'].normalize_prototypes_()
        frame0 = torch.arange(0, B * T, T, device=inputs.device)
        exact = self.exact_student and self.teacher_dtype is not None
        teacher, trunk = self.teacher_forward(
            self.teacher_tokens,
            self.teacher['head'],
            inputs.flatten(0, 1),
            tracks.flatten(0, 1),
            student_rows=frame0 if self._uses_shared_trunk() else None,
            exact_rows=frame0 if exact else None)
        student, kept_grid = self.student_scores(inputs[:, 0], tracks[:, 0],
                                                 trunk)
        if kept_grid is not None:
            visibility = visibility & terms_kept(
                tracks, kept_grid, self.student_tokens.grid(inputs.shape[-2:]),
                self.patch_size, self.mask_rule)
        return self.head.loss(student, teacher.view(B, T, N, -1), visibility)

    @staticmethod
    def _tracks(inputs: Tensor,
                data_samples: List[DataSample]) -> Tuple[Tensor, Tensor]:
        """tracks [B,T,N,2] fp32 and visibility [B,T,N] on the inputs'
        device, checked against the clips [B,T,3,H,W]."""
        tracks = torch.stack([s.tracks for s in data_samples
                              ]).to(inputs.device, torch.float32)
        visibility = torch.stack([s.visibility
                                  for s in data_samples]).to(inputs.device)
        B, T = inputs.shape[:2]
        N = tracks.shape[2]
        if tracks.shape[:2] != (B, T) or visibility.shape != (B, T, N):
            raise ValueError(
                f'tracks {tuple(tracks.shape)} / visibility '
                f'{tuple(visibility.shape)} do not match clips '
                f'{tuple(inputs.shape)}; expected [B,T,N,2] and [B,T,N]')
        return tracks, visibility
