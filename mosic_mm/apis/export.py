"""Exporting a trained backbone (``tools/export_backbone.py``)."""
from typing import Dict, Optional

import torch

from mosic_mm.models.backbones.export import FORMATS
from mosic_mm.models.backbones.export import (
    export_backbone as _export_backbone,
)

__all__ = ['FORMATS', 'export_backbone']


def export_backbone(checkpoint: str, out: str, *, which: str = 'teacher',
                    format: str = 'mmpretrain',
                    lora_scaling: Optional[float] = None
                    ) -> Dict[str, torch.Tensor]:
    """Write the ``which`` ('teacher' or 'student') backbone of the MoSiC
    training checkpoint ``checkpoint`` to ``out`` in ``format`` (one of
    :data:`FORMATS`: ``mmpretrain`` for mmpretrain / mmsegmentation
    configs, or the key layout of the official code base); returns the
    written tensors (:func:`mosic_mm.models.backbones.export.
    export_backbone` says what each format holds). LoRA adapters are
    merged (``lora_scaling``: alpha / r, by default from the checkpoint's
    saved config)."""
    return _export_backbone(checkpoint, out, which, format, lora_scaling)
