"""Frozen-feature evaluations (docs/evaluation.md): one implementation per
protocol (paper settings and fast presets are settings of it), one home
per primitive (:mod:`.predsmiou`: pixel counts and matching,
:mod:`.clustering`: standardise + PCA and K-means, :mod:`.features`: the
backbone forward; crops come from ``mosic_mm.datasets.transforms.geometry``).
"""
from .benchmarks import (BENCHMARKS, SYNTHETIC_BENCHMARKS, reference_numbers,
                         run_benchmark, settings_of)
from .davis_metrics import (boundary_f_measure, evaluate_video, jf_summary,
                            region_similarity)
from .hummingbird_paper import HUMMINGBIRD_PAPER, hummingbird_paper_miou
from .label_propagation import propagate_labels
from .overclustering import overcluster_paper
from .paper_data import (SegImageSet, SegVideoSet, ade20k, davis2017,
                         synthetic_frames, synthetic_videos, voc2012,
                         ytvos2019)
from .predsmiou import (greedy_precision_match, hungarian_iou_match,
                        pair_counts, predsmiou, predsmiou_from_counts)
from .tracking_metrics import average_metrics, tapvid_metrics
from .video_clustering import (TIMET_VIDEO_CLUSTERING, timet_miou,
                               video_clustering_paper)

__all__ = [
    'BENCHMARKS', 'SYNTHETIC_BENCHMARKS', 'reference_numbers',
    'run_benchmark', 'settings_of', 'boundary_f_measure', 'evaluate_video',
    'jf_summary', 'region_similarity', 'HUMMINGBIRD_PAPER',
    'hummingbird_paper_miou', 'propagate_labels', 'overcluster_paper',
    'SegImageSet', 'SegVideoSet', 'ade20k', 'davis2017', 'synthetic_frames',
    'synthetic_videos', 'voc2012', 'ytvos2019', 'greedy_precision_match',
    'hungarian_iou_match', 'pair_counts', 'predsmiou',
    'predsmiou_from_counts', 'average_metrics', 'tapvid_metrics',
    'TIMET_VIDEO_CLUSTERING', 'timet_miou', 'video_clustering_paper'
]
