"""Refuses a checkpoint that does not fit the model, before anything loads."""
import os.path as osp
import pickle
import zipfile
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mosic_mm.registry import HOOKS

RESUME_KEYS = ('meta', 'state_dict', 'optimizer')


def check_checkpoint_file(path: str, resume: bool) -> None:
    """Raise a clear error if ``path`` is not a loadable checkpoint: missing,
    empty, truncated or not a PyTorch file, refused by the safe unpickler,
    or (``resume``) not a training checkpoint of mmengine's Runner (keys
    ``meta``, ``state_dict``, ``optimizer``). Reads the file memory-mapped
    (cheap); the model fit is checked after loading
    (:meth:`CheckpointCheckHook.after_load_checkpoint`).

    Raises:
        FileNotFoundError: missing file.
        ValueError: anything else above; the message names the file.
    """
    what = '--resume' if resume else 'load_from'
    if '://' in path or '::' in path:  # URLs / package paths: mmengine's
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} ({what}) does not exist')
    size = osp.getsize(path)
    if size == 0 or not zipfile.is_zipfile(path):
        raise ValueError(
            f'checkpoint {path} ({what}, {size} bytes) is not a readable '
            'PyTorch checkpoint: empty, truncated (an interrupted copy?) or '
            'another file format')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True,
                          mmap=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f'checkpoint {path} ({what}) holds objects the safe loader '
            f'refuses (weights_only=True): {e}') from e
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(
            f'checkpoint {path} ({what}) cannot be read, truncated or '
            f'corrupt: {type(e).__name__}: {e}') from e
    if not resume:
        return
    missing = [k for k in RESUME_KEYS
               if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt)
        raise ValueError(
            f'checkpoint {path} (--resume) is not a training checkpoint of '
            f'tools/train.py: it has no {", ".join(missing)} (top-level keys: '
            f'{keys}). Resume needs the iter_N.pth a training run wrote; to '
            'start from weights (an exported backbone, DINOv2) set load_from '
            'or model.backbone.init_cfg instead.')


def checkpoint_to_load(runner) -> Optional[str]:
    """The file ``runner.load_or_resume()`` is about to read (None if
    none), as mmengine decides it."""
    if getattr(runner, '_has_loaded', False):
        return None
    if runner._resume and runner._load_from is None:
        from mmengine.runner import find_latest_checkpoint
        return find_latest_checkpoint(runner.work_dir)
    return runner._load_from


def state_dict_mismatch(model_state: dict, ckpt_state: dict,
                        limit: int = 10, shapes: bool = True) -> str:
    """A readable list of missing / unexpected keys and (with ``shapes``)
    shape mismatches ('' when the two state dicts fit)."""
    missing = [k for k in model_state if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state]
    shapes = [f'{k}: checkpoint {tuple(ckpt_state[k].shape)} vs model '
              f'{tuple(model_state[k].shape)}'
              for k in model_state if shapes and k in ckpt_state
              and hasattr(ckpt_state[k], 'shape')
              and tuple(ckpt_state[k].shape) != tuple(model_state[k].shape)]
    parts = []
    for title, items in (('shape mismatches', shapes),
                         ('missing in the checkpoint', missing),
                         ('unexpected in the checkpoint', unexpected)):
        if items:
            more = f' ... ({len(items) - limit} more)' \
                if len(items) > limit else ''
            parts.append(f'{len(items)} {title}: '
                         + '; '.join(items[:limit]) + more)
    return '\n  '.join(parts)


def sharded_state_keys(module: nn.Module) -> dict:
    """``{state-dict key: None}`` of a module whose units FSDP wrapped:
    parameters and persistent buffers under their unwrapped names."""
    from torch.distributed.fsdp._common_utils import clean_tensor_name
    keys = {}
    for prefix, mod in module.named_modules():
        stem = f'{prefix}.' if prefix else ''
        for name, param in mod._parameters.items():
            if param is not None:
                keys[clean_tensor_name(stem + name)] = None
        for name, buf in mod._buffers.items():
            if buf is not None and \
                    name not in mod._non_persistent_buffers_set:
                keys[clean_tensor_name(stem + name)] = None
    return keys


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """mmengine's ``resume`` and ``load_from`` load model weights with
    ``strict=False``: a checkpoint of another architecture loads partially,
    then fails later with an unrelated error (or trains silently from a
    half-loaded model). This hook compares the checkpoint's ``state_dict``
    with the model's keys and shapes right after the file is read and raises
    a ``ValueError`` naming the file and the mismatching keys/shapes. Before
    the run it refuses a file that is missing, empty, truncated, not a
    PyTorch file, or (for resume) not a training checkpoint
    (:func:`check_checkpoint_file`)."""
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Refuse an unreadable or non-training checkpoint before the run
        touches anything (``Runner.train``/``test`` call ``before_run``
        right before ``load_or_resume``)."""
        path = checkpoint_to_load(runner)
        if path is not None:
            check_checkpoint_file(path, resume=bool(runner._resume))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        shared = getattr(model, 'shared_weights', None)
        if shared is not None:  # a file with two copies of shared tensors
            state = shared.checkpoint_view(state)
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        if isinstance(runner.model, FSDP):
            # local shards: compare keys only (FSDP's load refuses a shape
            # that does not fit)
            problems = state_dict_mismatch(sharded_state_keys(model), state,
                                           shapes=False)
        else:
            problems = state_dict_mismatch(model.state_dict(), state)
        if problems:
            source = runner.cfg.get('load_from') or osp.join(
                runner.work_dir, 'last_checkpoint')
            raise ValueError(
                f'checkpoint {source} (load_from / --resume) does not fit '
                f'the model '
                f'{type(model).__name__} of this config (another '
                f'architecture or width?):\n  {problems}')
