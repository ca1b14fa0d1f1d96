"""Released TAPIR configurations and strict checkpoint loading."""
import os
from typing import Dict, Mapping, Optional, Union

import torch

from .model import TAPIR

__all__ = [
    'TAPIR_VARIANTS', 'CHECKPOINT_FILES', 'CheckpointMismatchError',
    'build_tapir', 'load_tapir_weights', 'check_state_dict'
]

# Constructor settings of the released PyTorch checkpoints.
TAPIR_VARIANTS: Dict[str, dict] = {
    'tapir': dict(pyramid_level=0, extra_convs=False, causal=False),
    'bootstapir': dict(pyramid_level=1, extra_convs=True, causal=False),
    'causal_bootstapir': dict(pyramid_level=1, extra_convs=True,
                              causal=True),
}

# File names as published by google-deepmind/tapnet.
CHECKPOINT_FILES: Dict[str, str] = {
    'tapir': 'tapir_checkpoint_panning.pt',
    'bootstapir': 'bootstapir_checkpoint_v2.pt',
    'causal_bootstapir': 'causal_bootstapir_checkpoint.pt',
}

_SHOWN = 5  # differing keys named in an error message, per kind


class CheckpointMismatchError(RuntimeError):
    """A state dict that does not fit the model exactly."""


def _shape(t) -> tuple:
    return tuple(t.shape) if hasattr(t, 'shape') else type(t).__name__


def check_state_dict(model: torch.nn.Module,
                     state_dict: Mapping[str, torch.Tensor],
                     source: str = 'state dict') -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state_dict`` has
    exactly ``model``'s keys with the same shapes. The message names
    ``source`` and the first missing / unexpected / mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [(k, _shape(state_dict[k]), tuple(v.shape))
             for k, v in expected.items()
             if k in state_dict and _shape(state_dict[k]) != tuple(v.shape)]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing key(s): ' +
                     ', '.join(missing[:_SHOWN]))
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected key(s): ' +
                     ', '.join(unexpected[:_SHOWN]))
    if wrong:
        parts.append(f'{len(wrong)} shape mismatch(es): ' + ', '.join(
            f'{k} is {got} in the checkpoint, {want} in the model'
            for k, got, want in wrong[:_SHOWN]))
    raise CheckpointMismatchError(
        f'{source} does not match {type(model).__name__}('
        f'pyramid_level={getattr(model, "pyramid_level", "?")}, '
        f'extra_convs={getattr(model, "extra_convs", None) is not None}, '
        f'causal={getattr(model, "causal", "?")}): ' + '; '.join(parts))


def load_tapir_weights(
        model: torch.nn.Module,
        checkpoint: Union[str, os.PathLike, Mapping[str, torch.Tensor]]
) -> torch.nn.Module:
    """Load a released tapnet PyTorch checkpoint (a file path, read with
    ``torch.load(weights_only=True)``, or a state dict) into ``model``
    strictly. Raises ``FileNotFoundError`` for a missing file and
    :class:`CheckpointMismatchError` for any key or shape difference
    (message: the file, then the first differing keys). Returns
    ``model``."""
    if isinstance(checkpoint, Mapping):
        source = 'state dict'
        state_dict = checkpoint
    else:
        source = os.fspath(checkpoint)
        if not os.path.isfile(source):
            raise FileNotFoundError(f'TAPIR checkpoint not found: {source}')
        state_dict = torch.load(source, map_location='cpu', weights_only=True)
        if not isinstance(state_dict, Mapping):
            raise CheckpointMismatchError(
                f'{source} holds a {type(state_dict).__name__}, '
                'not a state dict')
    check_state_dict(model, state_dict, source)
    model.load_state_dict(state_dict, strict=True)
    return model


def build_tapir(variant: str = 'bootstapir',
                checkpoint: Optional[Union[str, os.PathLike,
                                           Mapping[str, torch.Tensor]]] = None,
                **overrides) -> TAPIR:
    """A :class:`TAPIR` in one of :data:`TAPIR_VARIANTS` (``'tapir'``,
    ``'bootstapir'``, ``'causal_bootstapir'``), in eval mode, with
    ``checkpoint`` loaded strictly if given. ``overrides`` go to the
    constructor (e.g. ``feature_chunk_size``)."""
    if variant not in TAPIR_VARIANTS:
        raise ValueError(f'unknown TAPIR variant {variant!r}; choose from '
                         f'{sorted(TAPIR_VARIANTS)}')
    model = TAPIR(**{**TAPIR_VARIANTS[variant], **overrides})
    if checkpoint is not None:
        load_tapir_weights(model, checkpoint)
    return model.eval()
