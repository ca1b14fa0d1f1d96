"""Frozen backbones from training configs / checkpoints, and their patch
features.

A training checkpoint holds the student under ``backbone.`` and the EMA
teacher under ``teacher.backbone.``; an exported backbone file (mmpretrain
format) holds ``backbone.<key>`` only. Without a checkpoint the backbone is
the config's initialisation under its seed (``randomness.seed``): the
starting point of training.
"""
import os.path as osp
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger
from torch import nn

__all__ = ['load_state_dict_file', 'load_config', 'build_backbone',
           'detect_arch', 'input_size', 'backbone_device', 'featmap',
           'extract_features', 'shard_range']


def load_state_dict_file(path: str) -> dict:
    """Checkpoint -> dict (tensors-only load; mmengine checkpoints pass via
    the allow-list in :mod:`mosic_mm.compat`)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a dict checkpoint, got '
                         f'{type(ckpt).__name__}')
    return ckpt


def load_config(config: Optional[str], ckpt: Optional[dict]) -> Config:
    """The training config: a file, or the text mmengine stores in a
    checkpoint's ``meta['cfg']``."""
    if config is not None:
        return Config.fromfile(config)
    text = (ckpt or {}).get('meta', {}).get('cfg')
    if not isinstance(text, str):
        raise ValueError('no config given and the checkpoint has no '
                         "meta['cfg'] (exported backbone files have none): "
                         'pass --config TRAINING_CONFIG')
    return Config.fromstring(text, '.py')


def build_backbone(config: Optional[str] = None,
                   checkpoint: Optional[str] = None,
                   which: str = 'student') -> Tuple[nn.Module, dict]:
    """Build the MoSiC model's backbone and load its weights strictly.

    Args:
        config: training config path; default: the one in the checkpoint.
        checkpoint: training checkpoint or exported backbone; None = the
            config's initialisation with its seed.
        which: 'student' (``backbone.``) or 'teacher' (``teacher.backbone.``).

    Returns:
        (backbone in eval mode, info) with info = dict(mean, std, img_size,
        patch_size, source).
    """
    from mmengine.runner import set_random_seed

    from mosic_mm.models.backbones.convert import (
        CHECKPOINT_PREFIXES,
        split_training_checkpoint,
    )
    from mosic_mm.models.utils import vit_patch_size
    from mosic_mm.registry import MODELS
    from mosic_mm.utils.config import registry_scope
    if which not in CHECKPOINT_PREFIXES:
        raise ValueError(f'which must be student or teacher, got {which!r}')
    ckpt = load_state_dict_file(checkpoint) if checkpoint else None
    cfg = load_config(config, ckpt)
    # a quiet current logger: init_weights logs every parameter at INFO
    name = 'mosic_mm.evaluation'
    if MMLogger.check_instance_created(name):
        MMLogger.get_instance(name)  # make it current again
    else:
        MMLogger.get_instance(name, log_level='WARNING')
    model_cfg = cfg.model.copy()
    if ckpt is not None:  # weights come from the checkpoint
        model_cfg.backbone.init_cfg = None
    set_random_seed(cfg.get('randomness', {}).get('seed', 0) or 0)
    with registry_scope(cfg):
        model = MODELS.build(model_cfg)
        if ckpt is None:
            model.init_weights()
        source = f'init (seed {cfg.get("randomness", {}).get("seed")})'
    vit = model.teacher['backbone'] if which == 'teacher' else model.backbone
    if ckpt is not None:
        state = ckpt.get('state_dict', ckpt)
        try:
            sub = split_training_checkpoint(state, which)
        except KeyError as e:
            raise KeyError(f'{checkpoint} has no {which} weights: '
                           f'{e.args[0]}') from None
        missing, unexpected = vit.load_state_dict(sub, strict=False)
        if missing or unexpected:
            raise KeyError(f'{checkpoint} ({which}) does not match the '
                           f'config backbone: missing {missing}, unexpected '
                           f'{unexpected}')
        source = f'{osp.basename(checkpoint)} ({which})'
    vit.eval()  # (mmpretrain ViT.train returns None)
    vit.requires_grad_(False)
    pre = cfg.model.get('data_preprocessor') or {}
    info = dict(mean=tuple(pre.get('mean', (123.675, 116.28, 103.53))),
                std=tuple(pre.get('std', (58.395, 57.12, 57.375))),
                img_size=cfg.model.backbone.get('img_size', 224),
                patch_size=vit_patch_size(vit), source=source,
                backbone_cfg=cfg.model.backbone.to_dict())
    return vit, info


def shard_range(n: int, rank: int, world_size: int) -> range:
    """Rank ``rank``'s contiguous shard of ``range(n)``: shard sizes differ
    by at most one, earlier ranks take the larger ones, the shards in rank
    order concatenate to ``range(n)``."""
    if not 0 <= rank < world_size:
        raise ValueError(f'rank {rank} outside world size {world_size}')
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


def detect_arch(vit: nn.Module) -> Optional[str]:
    """'ViT-S/14' (width 384), 'ViT-B/14' (768) for a patch-14 ViT, else
    None (no paper reference applies)."""
    from mosic_mm.models.utils import vit_patch_size
    width = getattr(vit, 'embed_dims', None) or getattr(vit, 'embed_dim',
                                                        None)
    try:
        patch = vit_patch_size(vit)
    except Exception:  # noqa: BLE001  (not a ViT we know: no reference)
        return None
    patch = patch[0] if isinstance(patch, (tuple, list)) else patch
    if patch != 14:
        return None
    return {384: 'ViT-S/14', 768: 'ViT-B/14'}.get(int(width) if width else -1)


def input_size(settings: dict, info: dict, key: str = 'input_size'):
    """A protocol's input size: ``settings[key]``, or the backbone's own
    ``img_size`` (``info`` of :func:`build_backbone`) when it is None."""
    return info['img_size'] if settings.get(key) is None else settings[key]


def backbone_device(vit: nn.Module) -> torch.device:
    """The device of the backbone's parameters (CPU without any)."""
    p = next(vit.parameters(), None)
    return p.device if p is not None else torch.device('cpu')


@torch.no_grad()
def featmap(vit: nn.Module, x: torch.Tensor, mean, std,
            amp: bool = False) -> torch.Tensor:
    """The one forward of every protocol: images float [B, 3, H, W] on the
    0..255 scale (any device; H, W multiples of the patch) -> moved to the
    backbone's device, normalised ``(x - mean) / std`` -> patch tokens of
    the last block after the final norm, float32 [B, C, H/p, W/p] on the
    backbone's device. ``amp``: autocast on CUDA."""
    from mosic_mm.models.utils import TokenViT
    dev = backbone_device(vit)
    x = x.to(dev).float()
    f32 = dict(dtype=torch.float32, device=dev)
    x = (x - torch.tensor(mean, **f32).view(1, 3, 1, 1)) / \
        torch.tensor(std, **f32).view(1, 3, 1, 1)
    with torch.autocast(dev.type, enabled=amp and dev.type == 'cuda'):
        fmap = TokenViT(vit).features(x)
    return fmap.float()


@torch.no_grad()
def extract_features(vit: nn.Module, images: np.ndarray, size,
                     mean, std, batch_size: int = 16,
                     progress: bool = False,
                     distributed: bool = False) -> np.ndarray:
    """Patch tokens after the final norm.

    Args:
        images: uint8 [N, H, W, 3] RGB (or a list of such arrays of
            different sizes).
        size: network input, an int (square) or (height, width), multiples
            of the patch size; images are resized to it bilinearly.
        distributed: under an initialised process group, each rank extracts
            its contiguous shard (:func:`shard_range`) and the shards are
            all-gathered (``mmengine.dist.all_gather_object``), so every rank
            returns the same array as one process would; the progress bar is
            rank 0's. No effect without a process group.

    Returns:
        float32 [N, C, H/p, W/p].
    """
    from mmengine import dist

    from mosic_mm.models.utils import vit_patch_size
    if len(images) == 0:
        raise ValueError('extract_features got no image')
    rank, ws = dist.get_rank(), dist.get_world_size()
    if distributed and ws > 1:
        mine = shard_range(len(images), rank, ws)
        local = extract_features(vit, images[mine.start:mine.stop], size,
                                 mean, std, batch_size,
                                 progress and rank == 0) if len(mine) \
            else None
        shards = dist.all_gather_object(local)
        return np.concatenate([s for s in shards if s is not None])
    p = vit_patch_size(vit)
    p = p[0] if isinstance(p, (tuple, list)) else p
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if hw[0] % p or hw[1] % p:
        raise ValueError(f'input size {size} is not a multiple of the patch '
                         f'size {p}')
    chunks = range(0, len(images), batch_size)
    if progress:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc='features', unit='batch', leave=False)
    out = []
    for i in chunks:
        batch = [torch.from_numpy(np.ascontiguousarray(im)).permute(
            2, 0, 1)[None].float() for im in images[i:i + batch_size]]
        x = torch.cat([F.interpolate(b, size=hw, mode='bilinear',
                                     align_corners=False, antialias=True)
                       for b in batch])
        out.append(featmap(vit, x, mean, std).cpu())
    return torch.cat(out).numpy()
