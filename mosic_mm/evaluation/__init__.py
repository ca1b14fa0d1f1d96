"""Frozen-feature evaluation (docs/evaluation.md).

- :mod:`.protocols`: one class per protocol (Hummingbird, linear probe,
  overclustering, video clustering, label propagation), each with a frozen
  settings dataclass whose defaults are the paper protocol's values;
- :mod:`.data`: the one registry of evaluation datasets (VOC 2012, ADE20K,
  DAVIS 2017, YT-VOS 2019 and the synthetic layouts);
- :mod:`.benchmarks`: the one table of benchmarks (protocol x dataset x
  settings) and :func:`run_benchmark`; :mod:`.references`: the paper's
  numbers with their sources;
- :mod:`.metrics`: the primitives (PredsmIoU and matching, DAVIS J&F,
  standardise + PCA and K-means, nearest-neighbour retrieval);
- :mod:`.features`: backbones from configs / checkpoints and their patch
  features.
"""
from .benchmarks import (
                         BENCHMARKS,
                         PRESETS,
                         Benchmark,
                         benchmark_settings,
                         get_benchmark,
                         run_benchmark,
)
from .data import EVAL_DATASETS, build_eval_dataset
from .features import build_backbone, extract_features
from .protocol import EvalData, Protocol, ProtocolSettings
from .protocols import PROTOCOLS
from .references import REFERENCES, reference_numbers, reference_sources

__all__ = [
    'BENCHMARKS', 'PRESETS', 'Benchmark', 'benchmark_settings',
    'get_benchmark', 'run_benchmark', 'EVAL_DATASETS', 'build_eval_dataset',
    'build_backbone', 'extract_features', 'EvalData', 'Protocol',
    'ProtocolSettings', 'PROTOCOLS', 'REFERENCES', 'reference_numbers',
    'reference_sources'
]
