"""mmsegmentation-only modules for the benchmark configs
(``configs/benchmarks/mmseg``), registered into mmseg's registries.

Only those configs import this submodule (``custom_imports``); the main
``mosic_mm`` package never imports mmseg. Importing it also imports
``mosic_mm`` so that ``type='mmpretrain.VisionTransformer'`` resolves, and,
under mmcv-lite, first installs the stand-in for mmcv's compiled ops that
mmseg needs to import (:mod:`mosic_mm.compat_mmcv_ext`).
"""
from mosic_mm import compat_mmcv_ext

compat_mmcv_ext.install()

from .linear_head import BNLinearHead  # noqa: E402
from .synthetic_seg_dataset import SyntheticSegDataset  # noqa: E402
from .transforms import ResizeSegMap  # noqa: E402

__all__ = ['BNLinearHead', 'SyntheticSegDataset', 'ResizeSegMap']
