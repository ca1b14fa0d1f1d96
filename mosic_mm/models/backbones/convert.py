"""Pure state-dict conversions between ViT checkpoint layouts.

Layouts (all tensors; C = width, R = registers, (h, w) = patch grid):

- ``'dinov2'``: the official DINOv2 hub files (``dinov2_vit{s,b,l,g}14[_reg4]
  _pretrain.pth``): ``cls_token`` [1,1,C], ``pos_embed`` [1,1+h*w,C],
  ``mask_token`` [1,C], ``register_tokens`` [1,R,C], ``patch_embed.proj.*``,
  ``blocks.i.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,ls2.gamma}``,
  ``blocks.i.mlp.fc1/fc2`` (or ``mlp.w12/w3``, SwiGLU, ViT-g), ``norm.*``.
  FSDP-chunked files (``blocks.<chunk>.i.*``) are accepted too.
- ``'dino'``: DINO v1 (``dino_deitsmall16_pretrain.pth``, ...): as dinov2
  without layer scale, mask token or registers.
- ``'timm'``: timm's ``VisionTransformer``: as dinov2, but registers are
  ``reg_token`` and then (``no_embed_class``) ``pos_embed`` covers patches
  only [1,h*w,C] with the cls position folded into ``cls_token``; SwiGLU is
  packed as ``mlp.fc1`` [2H,C] / ``mlp.fc2`` [C,H].
- ``'mmpretrain'``: ``mmpretrain.models.VisionTransformer`` /
  :class:`DINOVisionTransformer` (the target): ``patch_embed.projection``,
  ``layers.i.{ln1,attn.qkv,attn.proj,attn.gamma1.weight,ln2,
  ffn.layers.0.0,ffn.layers.1,ffn.w12,ffn.w3,ffn.gamma2.weight}``, ``ln1``,
  ``register_tokens``; ``pos_embed`` [1,1+h*w,C].
"""
import math
import re
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

LAYOUTS = ('dinov2', 'dino', 'timm', 'mmpretrain')
StateDict = Dict[str, Tensor]

# per-block suffixes: source layout (dinov2/dino/timm) -> mmpretrain
_BLOCK_KEYS = [
    ('norm1.', 'ln1.'),
    ('norm2.', 'ln2.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('ls1.gamma', 'attn.gamma1.weight'),
    ('ls2.gamma', 'ffn.gamma2.weight'),
    ('mlp.w12.', 'ffn.w12.'),
    ('mlp.w3.', 'ffn.w3.'),
]
_MLP_KEYS = [('mlp.fc1.', 'ffn.layers.0.0.'), ('mlp.fc2.', 'ffn.layers.1.')]
_SWIGLU_PACKED_KEYS = [('mlp.fc1.', 'ffn.w12.'), ('mlp.fc2.', 'ffn.w3.')]
# top-level keys of the source layouts that are not part of the patch-feature
# backbone: DINOv2's mask token (training only), timm's classifier/pooling.
_DROPPED = re.compile(r'^(mask_token$|head\.|fc_norm\.)')


def detect_layout(state_dict: StateDict) -> str:
    """Guess the layout of a backbone state dict (see module doc)."""
    keys = list(state_dict)
    if any(k.startswith(('layers.', 'patch_embed.projection.', 'ln1.'))
           for k in keys):
        return 'mmpretrain'
    if 'reg_token' in state_dict:
        return 'timm'
    if not any(k.startswith('blocks.') for k in keys):
        raise KeyError(
            'cannot recognise the checkpoint layout: no "blocks.*" '
            '(dinov2/dino/timm) or "layers.*" (mmpretrain) keys; first keys: '
            f'{keys[:8]}. Is a prefix missing (e.g. prefix="backbone." or '
            '"teacher.backbone.")?')
    if 'register_tokens' in state_dict or 'mask_token' in state_dict or any(
            re.search(r'\.(ls1\.gamma|mlp\.w12\.)', k) for k in keys):
        return 'dinov2'
    return 'dino'


def _is_swiglu_packed(state_dict: StateDict, block: str) -> bool:
    """timm packs SwiGLU as fc1 [2H,C], fc2 [C,H]; a plain MLP has fc1
    [H,C]."""
    fc1 = state_dict.get(f'{block}mlp.fc1.weight')
    fc2 = state_dict.get(f'{block}mlp.fc2.weight')
    return (fc1 is not None and fc2 is not None
            and fc1.shape[0] == 2 * fc2.shape[1])


def _unchunk(key: str) -> str:
    """``blocks.<chunk>.<i>.x`` (DINOv2 FSDP chunks) -> ``blocks.<i>.x``."""
    return re.sub(r'^blocks\.\d+\.(\d+)\.', r'blocks.\1.', key)


def to_mmpretrain(state_dict: StateDict,
                  layout: str = 'auto') -> Tuple[StateDict, List[str]]:
    """Convert a backbone state dict to the mmpretrain ViT layout.

    Returns the converted dict and the source keys deliberately dropped
    (``mask_token``, timm's ``head.*`` / ``fc_norm.*``). Keys that match no
    rule are passed through unchanged (a loader reports them as
    unexpected). ``pos_embed`` is not resampled here (see
    :func:`resample_pos_embed`).
    """
    if layout == 'auto':
        layout = detect_layout(state_dict)
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; choose from {LAYOUTS} '
                         "or 'auto'")
    if layout == 'mmpretrain':
        return dict(state_dict), []
    sd = {_unchunk(k): v for k, v in state_dict.items()}
    out, dropped = {}, []
    for key, value in sd.items():
        if _DROPPED.match(key):
            dropped.append(key)
            continue
        match = re.match(r'^blocks\.(\d+)\.(.*)$', key)
        if match:
            block, rest = f'blocks.{match.group(1)}.', match.group(2)
            rules = _BLOCK_KEYS + (_SWIGLU_PACKED_KEYS if _is_swiglu_packed(
                sd, block) else _MLP_KEYS)
            for src, dst in rules:
                if rest.startswith(src):
                    key = f'layers.{match.group(1)}.{dst}{rest[len(src):]}'
                    break
        elif key.startswith('patch_embed.proj.'):
            key = 'patch_embed.projection.' + key[len('patch_embed.proj.'):]
        elif key.startswith('norm.'):
            key = 'ln1.' + key[len('norm.'):]
        elif key == 'reg_token':
            key = 'register_tokens'
        out[key] = value
    pos, cls = out.get('pos_embed'), out.get('cls_token')
    if pos is not None and cls is not None and _is_square(pos.shape[1]):
        # timm no_embed_class: pos_embed covers patches only and the cls
        # position is folded into cls_token; give cls a zero position.
        out['pos_embed'] = torch.cat([pos.new_zeros(1, 1, pos.shape[2]), pos],
                                     dim=1)
    return out, dropped


def from_mmpretrain(state_dict: StateDict, layout: str) -> StateDict:
    """Inverse of :func:`to_mmpretrain`: mmpretrain layout -> ``layout``.

    ``'dinov2'`` adds a zero ``mask_token`` [1,C] (the DINOv2 model has one;
    it is only used for masked training); ``'timm'`` folds the cls position
    into ``cls_token`` when there are registers (timm ``no_embed_class``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; choose from {LAYOUTS}')
    if layout == 'mmpretrain':
        return dict(state_dict)
    has_registers = 'register_tokens' in state_dict
    if layout == 'dino' and has_registers:
        raise ValueError("the 'dino' layout has no register tokens; export "
                         "to 'dinov2' or 'timm' instead")
    out = {}
    for key, value in state_dict.items():
        match = re.match(r'^layers\.(\d+)\.(.*)$', key)
        if match:
            rest = match.group(2)
            packed = layout == 'timm'  # timm names SwiGLU w12/w3 fc1/fc2
            rules = [(d, s) for s, d in _BLOCK_KEYS if not (
                packed and s.startswith('mlp.w'))]
            rules += [(d, s) for s, d in (_SWIGLU_PACKED_KEYS if packed
                                          else []) + _MLP_KEYS]
            for src, dst in rules:
                if rest.startswith(src):
                    key = f'blocks.{match.group(1)}.{dst}{rest[len(src):]}'
                    break
            else:
                raise KeyError(f'no {layout} name for block key {key!r}')
        elif key.startswith('patch_embed.projection.'):
            key = 'patch_embed.proj.' + key[len('patch_embed.projection.'):]
        elif key.startswith('ln1.'):
            key = 'norm.' + key[len('ln1.'):]
        elif key == 'register_tokens' and layout == 'timm':
            key = 'reg_token'
        elif key not in ('cls_token', 'pos_embed', 'register_tokens'):
            raise KeyError(f'no {layout} name for key {key!r}')
        out[key] = value
    if layout == 'timm' and has_registers:
        pos = out['pos_embed']
        out['cls_token'] = out['cls_token'] + pos[:, :1]
        out['pos_embed'] = pos[:, 1:]
    if layout == 'dinov2':
        width = out['cls_token'].shape[-1]
        out['mask_token'] = out['cls_token'].new_zeros(1, width)
    return out


def _is_square(n: int) -> bool:
    return n > 0 and math.isqrt(n)**2 == n


def grid_of(pos_embed: Tensor, num_prefix: int) -> Tuple[int, int]:
    """Square patch grid (s, s) of pos_embed [1, num_prefix+s*s, C]."""
    n = pos_embed.shape[1] - num_prefix
    if not _is_square(n):
        raise ValueError(
            f'pos_embed {tuple(pos_embed.shape)} minus {num_prefix} prefix '
            'token(s) is not a square grid')
    s = math.isqrt(n)
    return s, s


def resample_pos_embed(pos_embed: Tensor, dst_hw: Tuple[int, int],
                       num_prefix: int = 1, offset: float = 0.0,
                       antialias: bool = False) -> Tensor:
    """Bicubic resampling of pos_embed [1, P+s*s, C] -> [1, P+h*w, C].

    ``offset=0``: interpolate to size (h, w) (mmpretrain, timm with
    ``antialias=True``). ``offset>0``: scale factor ``(h+offset)/s``, the
    DINO / DINOv2 (no registers) ``interpolate_pos_encoding`` (offset 0.1);
    DINOv2 with registers uses offset 0 with antialias.
    """
    src_hw = grid_of(pos_embed, num_prefix)
    if tuple(src_hw) == tuple(dst_hw):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix], pos_embed[:, num_prefix:]
    C = grid.shape[-1]
    grid = grid.float().reshape(1, *src_hw, C).permute(0, 3, 1, 2)
    if offset:
        scale = ((dst_hw[0] + offset) / src_hw[0],
                 (dst_hw[1] + offset) / src_hw[1])
        grid = F.interpolate(grid, scale_factor=scale, mode='bicubic',
                             antialias=antialias)
    else:
        grid = F.interpolate(grid, size=tuple(dst_hw), mode='bicubic',
                             align_corners=False, antialias=antialias)
    if tuple(grid.shape[-2:]) != tuple(dst_hw):
        raise RuntimeError(f'resampled grid {tuple(grid.shape[-2:])} != '
                           f'{tuple(dst_hw)}')
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, C).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=1)


def default_interp(layout: str, has_registers: bool) -> Dict[str, object]:
    """The source model's own pos_embed interpolation (offset, antialias)."""
    if layout in ('dinov2', 'dino') and not has_registers:
        return dict(offset=0.1, antialias=False)
    if layout in ('dinov2', 'timm'):
        return dict(offset=0.0, antialias=True)
    return dict(offset=0.0, antialias=False)  # mmpretrain resize_pos_embed


#: where a MoSiC training checkpoint keeps each backbone
CHECKPOINT_PREFIXES = dict(student='backbone.', teacher='teacher.backbone.')


def split_training_checkpoint(state_dict: StateDict,
                              which: str = 'student') -> StateDict:
    """Backbone of a MoSiC training checkpoint's ``state_dict``: the student
    (``backbone.*``) or the EMA teacher (``teacher.backbone.*``).

    A teacher that shares the student's frozen parameters
    (``model.share_frozen_weights``) is saved with its own entries only:
    the shared ones are read from the student's (they are the same
    tensors), so both kinds of checkpoint give the whole teacher."""
    if which not in CHECKPOINT_PREFIXES:
        raise ValueError(f'which must be one of {list(CHECKPOINT_PREFIXES)}, '
                         f'got {which!r}')
    prefix = CHECKPOINT_PREFIXES[which]
    if not any(k.startswith(prefix) for k in state_dict):
        names = sorted({k.split('.')[0] for k in state_dict})
        raise KeyError(f'no "{prefix}*" keys in the checkpoint; top-level '
                       f'names: {names}')
    own = strip_prefix(state_dict, prefix)
    if which == 'teacher':
        shared = {k[len(CHECKPOINT_PREFIXES['student']):]: v
                  for k, v in state_dict.items()
                  if k.startswith(CHECKPOINT_PREFIXES['student'])}
        own = {**shared, **own}
    return own


def strip_prefix(state_dict: StateDict, prefix: Optional[str]) -> StateDict:
    """Keep the keys under ``prefix`` (e.g. 'backbone.'), without it."""
    if not prefix:
        return dict(state_dict)
    out = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix)}
    if not out:
        raise KeyError(f'no key starts with prefix {prefix!r}; first keys: '
                       f'{list(state_dict)[:8]}')
    return out
