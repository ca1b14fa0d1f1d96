from .algorithms import MoSiC
from .backbones import DINOVisionTransformer  # noqa: F401 (registers it)
from .data_preprocessor import ClipDataPreprocessor
from .heads import SinkhornClusteringHead

__all__ = ['MoSiC', 'ClipDataPreprocessor', 'SinkhornClusteringHead']
