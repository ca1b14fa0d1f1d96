from .algorithms import MoSiC
from .data_preprocessor import ClipDataPreprocessor
from .heads import SinkhornClusteringHead

__all__ = ['MoSiC', 'ClipDataPreprocessor', 'SinkhornClusteringHead']
