"""Pure state-dict conversions for timm ``Eva``-family ViTs (DINOv3,
EVA02-CLIP), the layouts :class:`~mosic_mm.models.backbones.TimmViT` loads.

Layouts (C = width, R = storage / register tokens, D = head width):

- ``'timm'``: timm's ``Eva`` (``vit_*_patch16_dinov3[_qkvb]``,
  ``eva02_base_patch16_clip_224``): ``reg_token`` [1,R,C],
  ``blocks.i.gamma_1/gamma_2``, split ``attn.q_bias`` / ``attn.v_bias`` (the
  k bias is a fixed zero buffer), no RoPE buffer in the file.
- ``'dinov3'``: the official facebookresearch/dinov3 files
  (``dinov3_vits16_pretrain_lvd1689m-*.pth``): ``storage_tokens`` [1,R,C],
  ``mask_token`` [1,C], ``rope_embed.periods`` [D/4],
  ``blocks.i.attn.qkv.{weight,bias,bias_mask}`` (bias [3C], the k third
  masked to zero by ``bias_mask``), ``blocks.i.ls{1,2}.gamma``, the rest as
  timm.
- ``'open_clip'``: an open_clip checkpoint whose image tower is a timm trunk
  (the file timm's ``eva02_base_patch16_clip_224`` loads): ``visual.trunk.``
  + timm keys; every other key (text tower, projections) is dropped.
- ``'openai_clip'``: a CLIP ViT image tower in OpenAI / open_clip's own
  layout (open_clip ``VisionTransformer``: ``open_clip_pytorch_model.bin``,
  ``open_clip_model.safetensors``), with or without the ``visual.`` prefix:
  ``conv1``, ``class_embedding`` [C], ``positional_embedding`` [1+h*w, C],
  ``ln_pre``, ``transformer.resblocks.i.{ln_1, attn.in_proj_*,
  attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj, ls_1/ls_2.gamma}``, ``ln_post``
  and the projection ``proj`` [C, E] (dropped: patch features are read after
  ``ln_post``, as timm's ``forward_features``). Loads into timm's CLIP
  ``VisionTransformer`` (``pre_norm=True``).
- ``'native'``: our own module's keys (``model.`` + timm keys), e.g. the
  backbone of a MoSiC training checkpoint.
"""
import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]
EVA_LAYOUTS = ('timm', 'dinov3', 'open_clip', 'openai_clip', 'native')
#: official DINOv3 key of the RoPE periods buffer
DINOV3_PERIODS = 'rope_embed.periods'
_OPEN_CLIP = 'visual.trunk.'
# OpenAI / open_clip CLIP ViT (image tower) <-> timm VisionTransformer names
_CLIP_TOP = [('conv1.', 'patch_embed.proj.'), ('ln_pre.', 'norm_pre.'),
             ('ln_post.', 'norm.')]
_CLIP_BLOCK = [('ln_1.', 'norm1.'), ('ln_2.', 'norm2.'),
               ('attn.in_proj_weight', 'attn.qkv.weight'),
               ('attn.in_proj_bias', 'attn.qkv.bias'),
               ('attn.out_proj.', 'attn.proj.'), ('mlp.c_fc.', 'mlp.fc1.'),
               ('mlp.c_proj.', 'mlp.fc2.'), ('ls_1.', 'ls1.'),
               ('ls_2.', 'ls2.')]
_CLIP_TOP_INV = [(dst, src) for src, dst in _CLIP_TOP]
_CLIP_BLOCK_INV = [(dst, src) for src, dst in _CLIP_BLOCK]
# keys of the source layouts not used for patch features (DINOv3 ViT-7B's
# local_cls_norm normalises the cls token of local crops in training only)
_DROPPED = re.compile(r'^(mask_token$|head\.|fc_norm\.|local_cls_norm\.)')
# official DINOv3 <-> timm per-block names (besides the qkv bias)
_DINOV3_BLOCK = [('ls1.gamma', 'gamma_1'), ('ls2.gamma', 'gamma_2'),
                 ('mlp.w1.', 'mlp.fc1_g.'), ('mlp.w2.', 'mlp.fc1_x.'),
                 ('mlp.w3.', 'mlp.fc2.')]



def _swap_prefix(name: str, rules) -> str:
    """``dst + rest`` for the first ``(src, dst)`` of ``rules`` whose ``src``
    starts ``name``; ``name`` unchanged if none does."""
    for src, dst in rules:
        if name.startswith(src):
            return dst + name[len(src):]
    return name


def detect_eva_layout(state_dict: StateDict) -> str:
    """Guess the layout of an Eva-family state dict (see module doc)."""
    keys = list(state_dict)
    if any(k.startswith(('visual.transformer.resblocks.', 'transformer.'
                         'resblocks.')) for k in keys) and any(
                             k.endswith('conv1.weight') for k in keys):
        return 'openai_clip'
    if any(k.startswith(_OPEN_CLIP) for k in keys):
        return 'open_clip'
    if any(k.startswith('model.blocks.') for k in keys):
        return 'native'
    if 'storage_tokens' in state_dict or DINOV3_PERIODS in state_dict or any(
            k.endswith(('attn.qkv.bias_mask', '.ls1.gamma')) for k in keys):
        return 'dinov3'
    if any(k.startswith('blocks.') for k in keys):
        return 'timm'
    raise KeyError(
        'cannot recognise the checkpoint layout: no "blocks.*" (timm / '
        'dinov3), "model.blocks.*" (ours) or "visual.trunk.*" (open_clip) '
        f'keys; first keys: {keys[:8]}. Is a prefix missing (e.g. '
        'prefix="backbone." or "teacher.backbone.")?')


def _check_bias_mask(key: str, mask: Tensor) -> None:
    """The official k-masked qkv bias: mask = [1]*C + [0]*C + [1]*C."""
    if mask.is_meta:  # shapes only (config checks on the meta device)
        return
    q, k, v = mask.float().chunk(3)
    if not (bool((q == 1).all()) and bool((k == 0).all())
            and bool((v == 1).all())):
        raise ValueError(
            f'{key}: expected the DINOv3 k-bias mask (ones for q and v, '
            'zeros for k); this bias cannot be represented by timm\'s '
            'q_bias/v_bias blocks')


def dinov3_to_timm(state_dict: StateDict
                   ) -> Tuple[StateDict, List[str], Optional[Tensor]]:
    """Official DINOv3 -> timm layout.

    Returns (timm state dict, dropped source keys, RoPE periods or None).
    The k third of ``attn.qkv.bias`` is dropped: ``bias_mask`` (checked)
    zeroes it in the official model, timm keeps it as a zero buffer.
    """
    out, dropped, periods = {}, [], None
    for key, value in state_dict.items():
        if key == DINOV3_PERIODS:
            periods = value
            continue
        if _DROPPED.match(key):
            dropped.append(key)
            continue
        if key.endswith('attn.qkv.bias_mask'):
            _check_bias_mask(key, value)
            dropped.append(key)
            continue
        if key.endswith('attn.qkv.bias'):
            mask = state_dict.get(key + '_mask')
            if mask is not None:
                _check_bias_mask(key + '_mask', mask)
            q, _, v = value.chunk(3)
            stem = key[:-len('qkv.bias')]
            out[stem + 'q_bias'], out[stem + 'v_bias'] = q, v
            dropped.append(key + '[k third, masked]')
            continue
        if key == 'storage_tokens':
            key = 'reg_token'
        match = re.match(r'^(blocks\.\d+\.)(.*)$', key)
        if match:
            key = match.group(1) + _swap_prefix(match.group(2), _DINOV3_BLOCK)
        out[key] = value
    return out, dropped, periods


#: the width of DINOv3 ViT-7B/16, the only official DINOv3 backbone built
#: with ``untie_global_and_local_cls_norm=True`` (a ``local_cls_norm``)
_UNTIED_CLS_NORM_WIDTH = 4096


def timm_to_dinov3(state_dict: StateDict, periods: Tensor) -> StateDict:
    """timm layout -> official DINOv3 layout (inverse of
    :func:`dinov3_to_timm`): ``qkv.bias`` = [q, 0, v] with its
    ``bias_mask``, a zero ``mask_token`` [1,C] and ``rope_embed.periods``.
    ViT-7B/16 files also hold ``local_cls_norm``, which DINOv3 applies only
    to the class token of local crops in its own training (dropped on
    loading): it is written as a copy of ``norm``, so the file loads
    strictly into the official model and every output of it at inference
    is the exported backbone's."""
    out = {}
    for key, value in state_dict.items():
        if _DROPPED.match(key):
            continue
        if key.endswith('attn.q_bias'):
            stem = key[:-len('q_bias')]
            v = state_dict[stem + 'v_bias']
            out[stem + 'qkv.bias'] = torch.cat([value, torch.zeros_like(value),
                                                v])
            mask = torch.ones(3 * len(value), dtype=value.dtype)
            mask[len(value):2 * len(value)] = 0
            out[stem + 'qkv.bias_mask'] = mask
            continue
        if key.endswith('attn.v_bias'):
            continue
        if key == 'reg_token':
            key = 'storage_tokens'
        match = re.match(r'^(blocks\.\d+\.)(.*)$', key)
        if match:
            swiglu = f'{match.group(1)}mlp.fc1_g.weight' in state_dict
            key = match.group(1) + _swap_prefix(match.group(2), [
                (src, dst) for dst, src in _DINOV3_BLOCK
                if swiglu or not dst.startswith('mlp.')])
        out[key] = value
    width = state_dict['cls_token'].shape[-1]
    out['mask_token'] = state_dict['cls_token'].new_zeros(1, width)
    if width == _UNTIED_CLS_NORM_WIDTH:
        for name in ('weight', 'bias'):
            out[f'local_cls_norm.{name}'] = state_dict[f'norm.{name}'].clone()
    out[DINOV3_PERIODS] = periods.detach().clone().float()
    return out


def open_clip_to_timm(state_dict: StateDict) -> Tuple[StateDict, List[str]]:
    """open_clip (timm trunk) -> timm: keep ``visual.trunk.*`` without the
    prefix; the dropped list names every other key."""
    out, dropped = {}, []
    for key, value in state_dict.items():
        if key.startswith(_OPEN_CLIP) and not _DROPPED.match(
                key[len(_OPEN_CLIP):]):
            out[key[len(_OPEN_CLIP):]] = value
        else:
            dropped.append(key)
    return out, dropped


def openai_clip_to_timm(state_dict: StateDict
                        ) -> Tuple[StateDict, List[str]]:
    """OpenAI / open_clip CLIP ViT -> timm CLIP ``VisionTransformer``.

    With a ``visual.`` prefix every key outside it (text tower,
    ``logit_scale``) is dropped; ``proj`` (the image-text projection) is
    dropped too. Image-tower keys without a known name are kept as they are,
    so the strict load names them as unexpected.
    """
    prefixed = any(k.startswith('visual.') for k in state_dict)
    out, dropped = {}, []
    for key, value in state_dict.items():
        if prefixed:
            if not key.startswith('visual.'):
                dropped.append(key)
                continue
            key = key[len('visual.'):]
        if key == 'proj':
            dropped.append(('visual.' if prefixed else '') + key)
            continue
        if key == 'class_embedding':
            key, value = 'cls_token', value.reshape(1, 1, -1)
        elif key == 'positional_embedding':
            key, value = 'pos_embed', value.unsqueeze(0)
        match = re.match(r'^transformer\.resblocks\.(\d+)\.(.*)$', key)
        if match:
            key = (f'blocks.{match.group(1)}.'
                   + _swap_prefix(match.group(2), _CLIP_BLOCK))
        out[_swap_prefix(key, _CLIP_TOP)] = value
    return out, dropped


def timm_to_openai_clip(state_dict: StateDict) -> StateDict:
    """timm CLIP ``VisionTransformer`` -> OpenAI / open_clip image tower
    (``visual.*``; inverse of :func:`openai_clip_to_timm` without ``proj``,
    which the backbone does not have)."""
    out = {}
    for key, value in state_dict.items():
        if _DROPPED.match(key):
            continue
        if key == 'cls_token':
            key, value = 'class_embedding', value.reshape(-1)
        elif key == 'pos_embed':
            key, value = 'positional_embedding', value.squeeze(0)
        match = re.match(r'^blocks\.(\d+)\.(.*)$', key)
        if match:
            key = (f'transformer.resblocks.{match.group(1)}.'
                   + _swap_prefix(match.group(2), _CLIP_BLOCK_INV))
        out['visual.' + _swap_prefix(key, _CLIP_TOP_INV)] = value
    return out


def to_timm(state_dict: StateDict, layout: str = 'auto'
            ) -> Tuple[str, StateDict, List[str], Optional[Tensor]]:
    """Any Eva layout -> (layout, timm state dict, dropped keys, RoPE periods
    from the file or None)."""
    if layout == 'auto':
        layout = detect_eva_layout(state_dict)
    if layout not in EVA_LAYOUTS:
        raise ValueError(f'unknown layout {layout!r} for a timm Eva backbone;'
                         f" choose from {EVA_LAYOUTS} or 'auto'")
    if layout == 'dinov3':
        return (layout, *dinov3_to_timm(state_dict))
    if layout == 'open_clip':
        return (layout, *open_clip_to_timm(state_dict), None)
    if layout == 'openai_clip':
        return (layout, *openai_clip_to_timm(state_dict), None)
    if layout == 'native':
        state_dict = {k[len('model.'):] if k.startswith('model.') else k: v
                      for k, v in state_dict.items()}
    out, dropped, periods = {}, [], None
    for key, value in state_dict.items():
        if key == 'rope.periods':  # our native files keep the used periods
            periods = value
        elif _DROPPED.match(key):
            dropped.append(key)
        else:
            out[key] = value
    return layout, out, dropped, periods


def from_native(state_dict: StateDict, layout: str) -> StateDict:
    """Our module's state dict (``model.`` + timm keys, with
    ``model.rope.periods`` for DINOv3) -> ``'timm'``, ``'dinov3'`` or
    ``'open_clip'`` (image trunk only) layout."""
    sd = {k[len('model.'):]: v for k, v in state_dict.items()
          if k.startswith('model.')}
    other = [k for k in state_dict if not k.startswith('model.')]
    if other:
        raise KeyError('expected only "model.*" keys (a TimmViT state dict);'
                       f' got {other[:8]}')
    periods = sd.pop('rope.periods', None)
    if layout == 'timm':
        return sd
    if layout == 'open_clip':
        return {_OPEN_CLIP + k: v for k, v in sd.items()}
    if layout == 'openai_clip':
        if 'norm_pre.weight' not in sd or periods is not None:
            raise ValueError("only CLIP image towers (pre-norm timm ViTs "
                             "without RoPE) export to the 'openai_clip' "
                             'layout')
        return timm_to_openai_clip(sd)
    if layout == 'dinov3':
        if periods is None or 'reg_token' not in sd:
            raise ValueError("only DINOv3-shaped models (RoPE periods and "
                             "storage tokens) export to the 'dinov3' layout")
        return timm_to_dinov3(sd, periods)
    raise ValueError(f"layout must be 'timm', 'dinov3', 'open_clip' or "
                     f"'openai_clip', got {layout!r}")
