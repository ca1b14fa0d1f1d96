"""Refuses a checkpoint that does not fit the model, before anything loads."""
import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mosic_mm.registry import HOOKS


def state_dict_mismatch(model_state: dict, ckpt_state: dict,
                        limit: int = 10) -> str:
    """A readable list of missing / unexpected keys and shape mismatches
    ('' when the two state dicts fit)."""
    missing = [k for k in model_state if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state]
    shapes = [f'{k}: checkpoint {tuple(ckpt_state[k].shape)} vs model '
              f'{tuple(model_state[k].shape)}'
              for k in model_state if k in ckpt_state
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


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """mmengine's ``resume`` and ``load_from`` load model weights with
    ``strict=False``: a checkpoint of another architecture loads partially,
    then fails later with an unrelated error (or trains silently from a
    half-loaded model). This hook compares the checkpoint's ``state_dict``
    with the model's keys and shapes right after the file is read and raises
    a ``ValueError`` naming the file and the mismatching keys/shapes."""
    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        problems = state_dict_mismatch(model.state_dict(), state)
        if problems:
            source = runner.cfg.get('load_from') or osp.join(
                runner.work_dir, 'last_checkpoint')
            raise ValueError(
                f'checkpoint {source} (load_from / --resume) does not fit '
                f'the model '
                f'{type(model).__name__} of this config (another '
                f'architecture or width?):\n  {problems}')
