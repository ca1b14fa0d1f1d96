"""Export the student or EMA-teacher backbone of a MoSiC training checkpoint
as a tensors-only file: mmpretrain, DINOv2, DINO or timm layout for
:class:`DINOVisionTransformer` backbones; timm, official DINOv3 or open_clip
layout (and our own, 'mmpretrain') for :class:`TimmViT` backbones."""
import os
import os.path as osp
from typing import Dict, Optional

import torch

from .convert import from_mmpretrain, split_training_checkpoint
from .convert_eva import from_native
from .weight_init import read_checkpoint

FORMATS = ('mmpretrain', 'dinov2', 'dino', 'timm', 'dinov3', 'open_clip',
           'openai_clip')
#: formats of TimmViT (Eva-family) backbones
EVA_FORMATS = ('mmpretrain', 'timm', 'dinov3', 'open_clip', 'openai_clip')


def _lora_scaling(ckpt: dict, checkpoint: str,
                  given: Optional[float]) -> float:
    """``alpha / r`` of the adapters in ``ckpt``: ``given``, else from the
    ``model.lora`` of the config mmengine saves in ``meta['cfg']``."""
    if given is not None:
        return float(given)
    from mmengine.config import Config

    from mosic_mm.models.utils.lora import LoRASettings
    text = (ckpt.get('meta') or {}).get('cfg')
    if not isinstance(text, str):
        raise KeyError(f'{checkpoint!r} holds LoRA adapters but no config '
                       "in meta['cfg'] to read their alpha / r from: pass "
                       'lora_scaling (--lora-scaling)')
    lora = Config.fromstring(text, '.py').model.get('lora')
    if lora is None:
        raise KeyError(f'{checkpoint!r} holds LoRA adapters but its config '
                       'has no model.lora: pass lora_scaling '
                       '(--lora-scaling)')
    return LoRASettings.from_cfg(dict(lora)).scaling


def export_backbone(checkpoint: str, out: str, which: str = 'teacher',
                    fmt: str = 'mmpretrain',
                    lora_scaling: Optional[float] = None
                    ) -> Dict[str, torch.Tensor]:
    """Write the backbone of ``checkpoint`` (a MoSiC training checkpoint:
    student under ``backbone.``, teacher under ``teacher.backbone.``) to
    ``out`` and return the written tensors.

    - ``fmt='mmpretrain'``: ``{'state_dict': {'backbone.<key>': T}, 'meta':
      {...}}``, for ``init_cfg=dict(type='Pretrained', checkpoint=out,
      prefix='backbone.')`` on ``mmpretrain.VisionTransformer`` (or
      ``DINOVisionTransformer`` with registers).
    - ``'dinov2'`` / ``'dino'`` / ``'timm'``: a plain ``{key: T}`` state dict
      in that layout (``pos_embed`` stays at the training grid).
    - :class:`TimmViT` backbones (keys ``model.*``): ``'timm'`` (loads into
      ``timm.create_model(name)`` strictly), ``'dinov3'`` (official DINOv3
      files: k-masked ``qkv.bias``, ``rope_embed.periods``), ``'open_clip'``
      (``visual.trunk.*``), ``'openai_clip'`` (CLIP ViT image tower in
      OpenAI / open_clip keys, ``visual.conv1``...) or ``'mmpretrain'``
      (our keys under ``backbone.``, for
      ``ConvertedPretrained(prefix='backbone.')``).

    LoRA adapters are merged into the weights they adapt (``W + alpha / r
    * B A``; ``lora_scaling`` = alpha / r, read from the checkpoint's saved
    config when not given), so every format is a plain backbone.
    """
    if fmt not in FORMATS:
        raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')
    ckpt = read_checkpoint(checkpoint)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'),
                                                     dict):
        raise KeyError(f'{checkpoint!r} has no "state_dict": not an mmengine '
                       'training checkpoint')
    backbone = split_training_checkpoint(ckpt['state_dict'], which)
    if any('.lora_A.' in k for k in backbone):  # merged: a plain backbone
        from mosic_mm.models.utils.lora import merge_lora_state_dict
        backbone = merge_lora_state_dict(
            backbone, _lora_scaling(ckpt, checkpoint, lora_scaling))
    eva = all(k.startswith('model.') for k in backbone)
    if eva and fmt not in EVA_FORMATS:
        raise ValueError(f'{checkpoint!r} holds a TimmViT backbone: export '
                         f'it as one of {EVA_FORMATS}, not {fmt!r}')
    if not eva and fmt in ('dinov3', 'open_clip', 'openai_clip'):
        raise ValueError(f'{checkpoint!r} holds a DINOVisionTransformer '
                         f'backbone: {fmt!r} is for TimmViT backbones')
    if eva:
        converted = backbone if fmt == 'mmpretrain' else from_native(
            backbone, fmt)
    else:
        converted = from_mmpretrain(backbone, fmt)
    tensors = {k: v.detach().clone().contiguous()
               for k, v in converted.items()}
    if fmt == 'mmpretrain':
        meta = dict(source=osp.abspath(checkpoint), which=which, format=fmt,
                    num_register_tokens=int(tensors['register_tokens'].shape[1])
                    if 'register_tokens' in tensors else 0,
                    backbone='TimmViT' if eva else 'DINOVisionTransformer')
        if isinstance(ckpt.get('meta'), dict):
            for key in ('epoch', 'iter'):
                if isinstance(ckpt['meta'].get(key), int):
                    meta[key] = ckpt['meta'][key]
        obj = dict(state_dict={f'backbone.{k}': v for k, v in tensors.items()},
                   meta=meta)
    else:
        obj = tensors
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = out + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, out)
    return tensors
