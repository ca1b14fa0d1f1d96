"""Export the student or EMA-teacher backbone of a MoSiC training checkpoint
as a tensors-only file in the mmpretrain, DINOv2, DINO or timm layout."""
import os
import os.path as osp
from typing import Dict

import torch

from .convert import from_mmpretrain, split_training_checkpoint
from .weight_init import read_checkpoint

FORMATS = ('mmpretrain', 'dinov2', 'dino', 'timm')


def export_backbone(checkpoint: str, out: str, which: str = 'teacher',
                    fmt: str = 'mmpretrain') -> Dict[str, torch.Tensor]:
    """Write the backbone of ``checkpoint`` (a MoSiC training checkpoint:
    student under ``backbone.``, teacher under ``teacher.backbone.``) to
    ``out`` and return the written tensors.

    - ``fmt='mmpretrain'``: ``{'state_dict': {'backbone.<key>': T}, 'meta':
      {...}}``, for ``init_cfg=dict(type='Pretrained', checkpoint=out,
      prefix='backbone.')`` on ``mmpretrain.VisionTransformer`` (or
      ``DINOVisionTransformer`` with registers).
    - ``'dinov2'`` / ``'dino'`` / ``'timm'``: a plain ``{key: T}`` state dict
      in that layout (``pos_embed`` stays at the training grid).
    """
    if fmt not in FORMATS:
        raise ValueError(f'format must be one of {FORMATS}, got {fmt!r}')
    ckpt = read_checkpoint(checkpoint)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'),
                                                     dict):
        raise KeyError(f'{checkpoint!r} has no "state_dict": not an mmengine '
                       'training checkpoint')
    backbone = split_training_checkpoint(ckpt['state_dict'], which)
    tensors = {k: v.detach().clone().contiguous()
               for k, v in from_mmpretrain(backbone, fmt).items()}
    if fmt == 'mmpretrain':
        meta = dict(source=osp.abspath(checkpoint), which=which, format=fmt,
                    num_register_tokens=int(tensors['register_tokens'].shape[1])
                    if 'register_tokens' in tensors else 0)
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
