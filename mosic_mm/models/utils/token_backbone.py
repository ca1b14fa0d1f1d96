"""Step-wise access to a ViT's tokens: the only thing MoSiC knows of a
backbone.

``vit.forward`` runs every block in one go. MoSiC needs the pieces: embed
the frames, drop patch tokens for the student, run a range of blocks (the
frozen trunk once, the trainable ones per network), and read the patch
tokens after the final norm as a feature map. :class:`TokenViT` gives them
for the two ViT families the project builds:

- mmpretrain's ``VisionTransformer`` (and :class:`~mosic_mm.models.
  backbones.DINOVisionTransformer`, which adds DINOv2's register tokens
  after the position embedding): the steps of its ``forward``;
- :class:`~mosic_mm.models.backbones.TimmViT` (timm's Eva family: DINOv3,
  EVA02, and CLIP towers): timm's own modules, RoPE of the kept tokens
  passed to every block.

For both, ``featmap(blocks(*embed(x)))`` equals the backbone's
``out_type='featmap'`` output, and splitting ``blocks`` at any depth gives
the same tokens (the equivalence the shared trunk relies on). Token
layout: ``[E extra tokens (cls, registers / storage tokens), patches]``.
"""
from typing import Optional, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ['TokenViT', 'dtype_of', 'vit_patch_size']

Grid = Tuple[int, int]


def dtype_of(module: nn.Module, like: Tensor) -> torch.dtype:
    """The dtype ``module`` computes in: that of its first floating
    parameter (``like``'s when it has none, e.g. an identity)."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return like.dtype


def vit_patch_size(vit: nn.Module) -> int:
    """Stride of the patch embedding (the token grid's pixel pitch)."""
    if isinstance(getattr(vit, 'patch_size', None), int):
        return vit.patch_size
    projection = vit.patch_embed.projection
    stride = getattr(projection, 'base_layer', projection).stride  # LoRA
    if stride[0] != stride[1]:
        raise ValueError(f'non-square patches {stride} are not supported')
    return int(stride[0])


class TokenViT:
    """The token interface of one backbone module (not a copy of it).

    Blocks may hold their parameters in different dtypes (frozen ones in
    bf16, trainable ones in fp32: MoSiC's ``frozen_dtype``): each step casts
    its input to the dtype of the module it runs.

    Args:
        vit: an mmpretrain ``VisionTransformer`` (``out_type='featmap'``)
            or a ``TimmViT``.
        activation_checkpointing (bool): blocks with trainable parameters
            recompute their activations in the backward pass
            (``torch.utils.checkpoint``, non-reentrant) when grad is on.
    """

    def __init__(self, vit: nn.Module, activation_checkpointing: bool = False):
        self.vit = vit
        self.activation_checkpointing = activation_checkpointing
        self.timm = hasattr(vit, 'model') and hasattr(vit.model, 'blocks')
        self.patch_size = vit_patch_size(vit)
        self.num_extra_tokens = int(vit.num_extra_tokens)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer blocks."""
        return self.vit.model.blocks if self.timm else self.vit.layers

    def grid(self, size: Tuple[int, int]) -> Grid:
        """The token grid (h, w) of an input of ``size`` (H, W)."""
        return tuple(-(-s // self.patch_size) for s in size)

    # -------------------------------------------------------------- steps
    def embed(self, x: Tensor) -> Tuple[Tensor, Grid]:
        """Images [B,3,H,W] -> tokens [B, E+h*w, C], grid (h, w): patch
        embedding, position embedding, extra tokens, pre-norm."""
        if self.timm:
            m = self.vit.model
            x = m.patch_embed(x.to(dtype_of(m.patch_embed, x)))  # [B,h,w,C]
            hw = tuple(x.shape[1:3])
            tokens = m._pos_embed(x)  # Eva: (tokens, rope); CLIP: tokens
            if isinstance(tokens, tuple):
                tokens = tokens[0]
            return m.norm_pre(tokens), hw
        vit = self.vit
        tokens, hw = vit.patch_embed(x.to(dtype_of(vit.patch_embed, x)))
        if vit.cls_token is not None:
            tokens = torch.cat(
                [vit.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
        # pos_embed covers cls + patches; registers (DINOv2) come after it
        pos_extra = getattr(vit, 'num_pos_extra_tokens',
                            vit.num_extra_tokens)
        tokens = tokens + resize_pos_embed(
            vit.pos_embed, vit.patch_resolution, hw,
            mode=vit.interpolate_mode, num_extra_tokens=pos_extra)
        registers = getattr(vit, 'register_tokens', None)
        if registers is not None:
            tokens = torch.cat([tokens[:, :pos_extra],
                                registers.expand(len(tokens), -1, -1),
                                tokens[:, pos_extra:]], dim=1)
        return vit.pre_norm(vit.drop_after_pos(tokens)), tuple(hw)

    def blocks(self, tokens: Tensor, start: int = 0,
               stop: Optional[int] = None, *, hw: Optional[Grid] = None,
               keep: Optional[Tensor] = None) -> Tensor:
        """Blocks ``[start, stop)`` on tokens [B, E+L, C]; ``hw`` is the
        patch grid and ``keep`` [B, L'] the kept patch indices of
        :meth:`keep`, so position-dependent blocks (RoPE) get the positions
        of the tokens they see (mmpretrain blocks ignore both)."""
        layers = self.layers[start:stop]
        rope = self._rope(hw, keep, tokens) if (self.timm
                                                and len(layers)) else None
        for layer in layers:
            tokens = tokens.to(dtype_of(layer, tokens))
            kwargs = {} if rope is None else dict(rope=rope)
            if self.activation_checkpointing and torch.is_grad_enabled() \
                    and any(p.requires_grad for p in layer.parameters()):
                tokens = checkpoint(layer, tokens, use_reentrant=False,
                                    **kwargs)
            else:
                tokens = layer(tokens, **kwargs)
        return tokens

    def _rope(self, hw: Optional[Grid], keep: Optional[Tensor],
              tokens: Tensor) -> Optional[Tensor]:
        """RoPE of the patch tokens ([h*w, D], or [B, 1, L', D] for the kept
        indices); None for a model without RoPE."""
        m = self.vit.model
        rope = getattr(m, 'rope', None)
        if rope is None:
            return None
        if hw is None:
            raise ValueError(f'{self.vit.model_name} uses RoPE: blocks needs '
                             'the patch grid hw=(h, w)')
        if getattr(m, 'rope_mixed', False):
            raise NotImplementedError('depth-dependent (mixed) RoPE is not '
                                      'supported')
        patches = tokens.shape[1] - self.num_extra_tokens
        expected = keep.shape[1] if keep is not None else hw[0] * hw[1]
        if patches != expected:
            raise ValueError(
                f'{patches} patch tokens but hw={tuple(hw)} and keep give '
                f'{expected}: pass the keep indices used by keep()')
        embed = rope.get_embed(shape=tuple(hw))
        return embed if keep is None else embed[keep].unsqueeze(1)

    def keep(self, tokens: Tensor, keep: Tensor) -> Tensor:
        """Drop patch tokens: tokens [B, E+L, C], keep [B, L'] patch
        indices -> [B, E+L', C]; extra tokens are always kept. Pass the
        same ``keep`` to :meth:`blocks` and :meth:`featmap`."""
        extra = self.num_extra_tokens
        patches = torch.gather(
            tokens[:, extra:], 1,
            keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return torch.cat([tokens[:, :extra], patches], dim=1)

    def final_norm(self, tokens: Tensor) -> Tensor:
        """The backbone's final norm (identity if it has none)."""
        norm = self.vit.model.norm if self.timm else (
            self.vit.ln1 if self.vit.final_norm else None)
        if norm is None:
            return tokens
        return norm(tokens.to(dtype_of(norm, tokens)))

    def featmap(self, tokens: Tensor, hw: Grid,
                keep: Optional[Tensor] = None) -> Tensor:
        """Final norm, extra tokens dropped -> feature map [B, C, h, w]; with
        ``keep`` [B, L'] the kept tokens go back to their grid positions
        and dropped positions are zero."""
        patches = self.final_norm(tokens)[:, self.num_extra_tokens:]
        B, _, C = patches.shape
        if keep is not None:
            full = patches.new_zeros(B, hw[0] * hw[1], C)
            patches = full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, C),
                                   patches)
        return patches.transpose(1, 2).reshape(B, C, *hw)

    def features(self, x: Tensor) -> Tensor:
        """Images [B,3,H,W] -> patch features [B, C, h, w] of the last
        block after the final norm (the backbone's featmap output)."""
        tokens, hw = self.embed(x)
        return self.featmap(self.blocks(tokens, hw=hw), hw)
