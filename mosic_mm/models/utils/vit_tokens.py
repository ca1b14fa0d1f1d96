"""Step-wise forward of a ViT: the token-backbone interface of MoSiC.

``VisionTransformer.forward`` runs all blocks in one go. MoSiC needs the pieces:
run the embedding, drop tokens for the student, run a range of blocks, and read
the patch tokens after the final norm as a feature map. For mmpretrain's
``VisionTransformer`` these functions follow its ``forward`` step by step, so
``patch_featmap(vit, forward_blocks(vit, *embed_tokens(vit, x)))`` equals
``vit(x)[-1]`` for ``out_type='featmap'``.

Any other backbone plugs in by providing the same pieces as methods (see
:class:`mosic_mm.models.backbones.TimmViT` for RoPE models):

- ``embed_tokens(x) -> (tokens [B, E+h*w, C], (h, w))``
- ``forward_blocks(tokens, start, stop, hw=None, keep=None) -> tokens``:
  blocks ``[start, stop)``; ``hw`` is the patch grid and ``keep`` [B, L'] the
  kept patch indices (after :func:`keep_tokens`), so position-dependent
  blocks (RoPE) get the positions of the tokens they see.
- ``final_norm_tokens(tokens) -> tokens``: the final norm.
- attributes ``layers`` (the blocks), ``num_extra_tokens`` (E: cls,
  registers / storage tokens, all before the patches), ``embed_dims``,
  ``patch_size`` (int).
"""
from typing import Optional, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn


def vit_patch_size(vit: nn.Module) -> int:
    """Stride of the patch embedding (the token grid's pixel pitch)."""
    if isinstance(getattr(vit, 'patch_size', None), int):
        return vit.patch_size
    stride = vit.patch_embed.projection.stride
    if stride[0] != stride[1]:
        raise ValueError(f'non-square patches {stride} are not supported')
    return int(stride[0])


def embed_tokens(vit: nn.Module, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
    """Images [B,3,H,W] -> tokens [B, E+h*w, C] (E = ``vit.num_extra_tokens``
    extra tokens first), (h, w).

    A backbone whose embedding differs from mmpretrain's (e.g. register
    tokens) provides its own ``embed_tokens(x)`` method, used here.
    """
    if hasattr(vit, 'embed_tokens'):
        return vit.embed_tokens(x)
    tokens, hw = vit.patch_embed(x)
    if vit.cls_token is not None:
        tokens = torch.cat([vit.cls_token.expand(len(tokens), -1, -1), tokens],
                           dim=1)
    tokens = tokens + resize_pos_embed(
        vit.pos_embed, vit.patch_resolution, hw,
        mode=vit.interpolate_mode, num_extra_tokens=vit.num_extra_tokens)
    tokens = vit.pre_norm(vit.drop_after_pos(tokens))
    return tokens, tuple(hw)


def forward_blocks(vit: nn.Module, tokens: Tensor, start: int = 0,
                   stop: Optional[int] = None, *,
                   hw: Optional[Tuple[int, int]] = None,
                   keep: Optional[Tensor] = None) -> Tensor:
    """Run blocks ``vit.layers[start:stop]`` on tokens [B, L, C].

    ``hw``: the patch grid of the frames (needed by position-dependent
    blocks, e.g. RoPE); ``keep`` [B, L']: the patch indices kept by
    :func:`keep_tokens` (their positions are used). Blocks of an
    mmpretrain ViT ignore both.
    """
    if hasattr(vit, 'forward_blocks'):
        return vit.forward_blocks(tokens, start, stop, hw=hw, keep=keep)
    for layer in vit.layers[start:stop]:
        tokens = layer(tokens)
    return tokens


def keep_tokens(vit: nn.Module, tokens: Tensor, keep: Tensor) -> Tensor:
    """Drop patch tokens: tokens [B, E+L, C], keep [B, L'] patch indices
    -> [B, E+L', C]. Extra (cls/register) tokens are always kept. Pass the
    same ``keep`` to :func:`forward_blocks` and :func:`patch_featmap`."""
    extra = vit.num_extra_tokens
    patches = torch.gather(
        tokens[:, extra:], 1,
        keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return torch.cat([tokens[:, :extra], patches], dim=1)


def final_norm(vit: nn.Module, tokens: Tensor) -> Tensor:
    """The backbone's final norm on tokens [B, L, C] (identity if none)."""
    if hasattr(vit, 'final_norm_tokens'):
        return vit.final_norm_tokens(tokens)
    return vit.ln1(tokens) if vit.final_norm else tokens


def patch_featmap(vit: nn.Module, tokens: Tensor, hw: Tuple[int, int],
                  keep: Optional[Tensor] = None) -> Tensor:
    """Final norm, drop extra tokens, -> feature map [B, C, h, w].

    With ``keep`` [B, L'] (from :func:`keep_tokens`), the kept tokens are put
    back at their grid positions and dropped positions are zero.
    """
    tokens = final_norm(vit, tokens)
    patches = tokens[:, vit.num_extra_tokens:]
    B, _, C = patches.shape
    if keep is not None:
        full = patches.new_zeros(B, hw[0] * hw[1], C)
        patches = full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, C), patches)
    return patches.transpose(1, 2).reshape(B, C, *hw)
