"""mmsegmentation-only modules for the benchmark configs
(``configs/benchmarks/mmseg``), registered into mmseg's registries.

Only those configs import this submodule (``custom_imports``); the main
``mosic_mm`` package never imports mmseg. Importing it also imports
``mosic_mm`` so that ``type='mmpretrain.VisionTransformer'`` resolves.
"""
import mosic_mm  # noqa: F401

from .linear_head import BNLinearHead
from .synthetic_seg_dataset import SyntheticSegDataset
from .transforms import ResizeSegMap

__all__ = ['BNLinearHead', 'SyntheticSegDataset', 'ResizeSegMap']
