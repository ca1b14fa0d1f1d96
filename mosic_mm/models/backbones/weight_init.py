"""Load DINOv2 / DINO / timm / mmpretrain ViT checkpoints into an mmpretrain
ViT, with key conversion, pos_embed resampling and a strict load report.

Config use (backbone ``type='DINOVisionTransformer'``)::

    init_cfg=dict(type='ConvertedPretrained',
                  checkpoint='checkpoints/dinov2_vits14_pretrain.pth',
                  layout='auto')  # 'dinov2' | 'dino' | 'timm' | 'mmpretrain'

Every parameter of the backbone must come from the file with the right shape
(after resampling ``pos_embed`` to the backbone's grid); otherwise
:class:`CheckpointMismatchError` names the missing / unexpected keys and the
mismatching shapes. Files are read with ``torch.load(weights_only=True)``
(or safetensors).
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import Tensor, nn

from .convert import (
    StateDict,
    default_interp,
    detect_layout,
    grid_of,
    resample_pos_embed,
    strip_prefix,
    to_mmpretrain,
)

README_HINT = ('see README.md, section "Backbones and pretrained weights", '
               'for where to download it')


def pos_embed_grid(module: nn.Module) -> Tuple[int, Tuple[int, int]]:
    """(number of tokens covered by pos_embed before the patches, (h, w))
    of an mmpretrain ViT (ours or the plain one)."""
    extra = getattr(module, 'num_pos_extra_tokens', module.num_extra_tokens)
    return extra, tuple(module.patch_resolution)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fill the backbone exactly."""


@dataclass
class LoadReport:
    """What a converted load did. Shapes are tuples."""
    source: str
    layout: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    resampled: Optional[Tuple[tuple, tuple]] = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def format(self) -> str:
        lines = [f'load {self.source} (layout {self.layout!r}): '
                 f'{len(self.loaded)} tensors loaded, {len(self.missing)} '
                 f'missing, {len(self.unexpected)} unexpected, '
                 f'{len(self.mismatched)} shape mismatches']
        if self.resampled:
            lines.append(f'  pos_embed resampled from grid {self.resampled[0]}'
                         f' to {self.resampled[1]}')
        if self.dropped:
            lines.append(f'  dropped (not used for patch features): '
                         f'{self.dropped}')
        if self.missing:
            lines.append(f'  missing in the checkpoint: {self.missing}')
        if self.unexpected:
            lines.append(f'  unexpected (not in the backbone): '
                         f'{self.unexpected}')
        for key, ckpt, model in self.mismatched:
            lines.append(f'  shape mismatch {key}: checkpoint {ckpt} vs '
                         f'backbone {model}')
        return '\n'.join(lines)


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Read a checkpoint: local ``.pth`` / ``.safetensors`` or an http(s)
    URL, always with ``weights_only=True``."""
    if path.startswith(('http://', 'https://')):
        return torch.hub.load_state_dict_from_url(
            path, map_location=map_location, weights_only=True)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} not found; '
                                f'{README_HINT}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path, device=str(map_location))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 (re-raised with the file name)
        raise RuntimeError(
            f'cannot read {path!r} with torch.load(weights_only=True): {e}. '
            'Use a tensors-only backbone file (the official *_pretrain.pth '
            'files are) or export one with tools/export_backbone.py.') from e


def _flatten(obj: dict, prefix: str = '') -> StateDict:
    out = {}
    for key, value in obj.items():
        if isinstance(value, Tensor):
            out[prefix + key] = value
        elif isinstance(value, dict):
            out.update(_flatten(value, f'{prefix}{key}.'))
    return out


def backbone_state_dict(checkpoint: dict,
                        prefix: Optional[str] = None) -> StateDict:
    """Tensors of a checkpoint, unwrapped from ``state_dict`` / ``model``
    and restricted to ``prefix`` (nested dicts join with '.', so
    ``prefix='teacher.backbone.'`` also reads a DINO training file)."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'expected a dict checkpoint, got {type(checkpoint)}')
    if not all(isinstance(v, Tensor) for v in checkpoint.values()):
        for name in ('state_dict', 'model'):
            if isinstance(checkpoint.get(name), dict):
                checkpoint = checkpoint[name]
                break
    return strip_prefix(_flatten(checkpoint), prefix)


def strip_components(state_dict: StateDict, n: int,
                     source: str = '<state dict>') -> StateDict:
    """Drop the first ``n`` dot-separated components of every key
    (``'module.backbone.blocks.0.x'`` -> ``'blocks.0.x'`` for n=2)."""
    out = {}
    for key, value in state_dict.items():
        parts = key.split('.')
        if len(parts) <= n:
            raise KeyError(f'{source}: key {key!r} has no more than {n} '
                           'components to strip (strip_components)')
        new = '.'.join(parts[n:])
        if new in out:
            raise KeyError(f'{source}: stripping {n} component(s) maps two '
                           f'keys to {new!r}')
        out[new] = value
    return out


def load_state_dict_converted(module: nn.Module,
                              state_dict: StateDict,
                              layout: str = 'auto',
                              source: str = '<state dict>',
                              pos_embed_interp: Optional[dict] = None
                              ) -> LoadReport:
    """Convert ``state_dict`` to the mmpretrain layout, resample pos_embed to
    ``module``'s grid and load it strictly.

    Args:
        module: an mmpretrain ``VisionTransformer`` (or ours).
        state_dict: backbone tensors in ``layout``.
        layout: 'auto' | 'dinov2' | 'dino' | 'timm' | 'mmpretrain'.
        pos_embed_interp: ``dict(offset=float, antialias=bool)``; None uses
            the source model's own interpolation (see ``default_interp``).

    Raises:
        CheckpointMismatchError: missing / unexpected keys or shape
            mismatches (all named in the message); nothing is loaded then.
    """
    if hasattr(module, 'convert_checkpoint'):  # e.g. TimmViT (own layouts)
        layout, converted, dropped, resampled = module.convert_checkpoint(
            state_dict, layout)
        report = LoadReport(source=source, layout=layout, dropped=dropped,
                            resampled=resampled)
        return _load_strict(module, converted, report)
    if layout == 'auto':
        layout = detect_layout(state_dict)
    converted, dropped = to_mmpretrain(state_dict, layout)
    target = module.state_dict()
    report = LoadReport(source=source, layout=layout, dropped=dropped)
    pos, own = converted.get('pos_embed'), target.get('pos_embed')
    if pos is not None and own is not None and pos.shape != own.shape \
            and pos.shape[-1] == own.shape[-1]:
        extra, dst_hw = pos_embed_grid(module)
        try:
            src_hw = grid_of(pos, extra)
        except ValueError:
            src_hw = None  # reported as a shape mismatch below
        if src_hw is not None:
            interp = pos_embed_interp or default_interp(
                layout, 'register_tokens' in converted)
            converted['pos_embed'] = resample_pos_embed(
                pos, dst_hw, extra, **interp)
            report.resampled = (tuple(src_hw), tuple(dst_hw))
    return _load_strict(module, converted, report)


def _load_strict(module: nn.Module, converted: StateDict,
                 report: LoadReport) -> LoadReport:
    """Load ``converted`` only if it fills ``module`` exactly."""
    target = module.state_dict()
    report.missing = [k for k in target if k not in converted]
    report.unexpected = [k for k in converted if k not in target]
    report.mismatched = [(k, tuple(v.shape), tuple(target[k].shape))
                         for k, v in converted.items()
                         if k in target and v.shape != target[k].shape]
    if not report.ok:
        raise CheckpointMismatchError(
            report.format() + f'\nThe checkpoint does not match the backbone '
            f'{type(module).__name__}: check model.backbone (arch / '
            'model_name, patch_size, layer_scale_init_value, '
            'num_register_tokens, layer_cfgs) and the checkpoint prefix / '
            'layout.')
    module.load_state_dict(converted, strict=True)
    report.loaded = list(converted)
    MMLogger.get_current_instance().info(report.format())
    return report


@WEIGHT_INITIALIZERS.register_module(name='ConvertedPretrained')
class ConvertedPretrainedInit:
    """Initialiser: load a DINOv2 / DINO / timm / mmpretrain checkpoint into
    a :class:`DINOVisionTransformer` (key conversion, pos_embed resampling,
    strict load report).

    Args:
        checkpoint (str): local path (``.pth`` / ``.safetensors``) or URL.
        layout (str): 'auto' | 'dinov2' | 'dino' | 'timm' | 'mmpretrain'.
        prefix (str, optional): keep only keys under it, e.g. 'backbone.'
            (mmpretrain export) or 'teacher.backbone.' (MoSiC training
            checkpoint, EMA teacher).
        map_location: passed to ``torch.load``. Defaults to 'cpu'.
        pos_embed_interp (dict, optional): ``dict(offset, antialias)``;
            None follows the source model. ``dict(offset=0.,
            antialias=True)`` is timm's loader (bicubic to the target size,
            antialiased).
        strip_components (int): drop this many leading dot-separated key
            components after ``prefix`` (Leopart files: 1, TimeT: 2, as
            the official MoSiC code loads them). Defaults to 0.

    With a :class:`TimmViT` backbone the layouts are those of
    :mod:`mosic_mm.models.backbones.convert_eva` ('dinov3', 'timm',
    'open_clip', 'native').
    """

    def __init__(self, checkpoint: str, layout: str = 'auto',
                 prefix: Optional[str] = None, map_location='cpu',
                 pos_embed_interp: Optional[Dict] = None,
                 strip_components: int = 0):
        if not checkpoint:
            raise ValueError('ConvertedPretrained needs checkpoint=PATH')
        self.checkpoint = checkpoint
        self.layout = layout
        self.prefix = prefix
        self.map_location = map_location
        self.pos_embed_interp = pos_embed_interp
        if strip_components < 0:
            raise ValueError(f'strip_components={strip_components} < 0')
        self.strip_components = strip_components

    def load(self, module: nn.Module) -> LoadReport:
        """Load into ``module`` now; returns the report."""
        state_dict = backbone_state_dict(
            read_checkpoint(self.checkpoint, self.map_location), self.prefix)
        if self.strip_components:
            state_dict = strip_components(state_dict, self.strip_components,
                                          self.checkpoint)
        report = load_state_dict_converted(
            module, state_dict, self.layout, source=self.checkpoint,
            pos_embed_interp=self.pos_embed_interp)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'ConvertedPretrained: '
                             f'{self.checkpoint} ({report.layout})')
        return report

    def __call__(self, module: nn.Module) -> None:
        # mmengine applies initialisers other than 'Pretrained' before the
        # submodules' own init_weights, which would overwrite what we load.
        raise TypeError(
            "init_cfg type 'ConvertedPretrained' needs the backbone "
            "type='DINOVisionTransformer' (it loads after the default "
            f'initialisation); got {type(module).__name__}. Or call '
            'ConvertedPretrainedInit(...).load(module) directly.')


def is_converted_cfg(cfg: dict) -> bool:
    """Whether ``cfg`` is a ``ConvertedPretrained`` init_cfg (by name or
    class); backbones apply it after their default initialisation."""
    return cfg.get('type') in ('ConvertedPretrained', ConvertedPretrainedInit)


__all__ = [
    'CheckpointMismatchError', 'LoadReport', 'read_checkpoint',
    'backbone_state_dict', 'load_state_dict_converted',
    'ConvertedPretrainedInit', 'strip_components', 'is_converted_cfg',
    'pos_embed_grid'
]
