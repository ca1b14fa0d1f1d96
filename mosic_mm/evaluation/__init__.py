"""Frozen-feature evaluations (docs/evaluation.md): pure functions on arrays."""
from .davis_metrics import (boundary_f_measure, evaluate_video, jf_summary,
                            region_similarity)
from .hummingbird import hummingbird_miou
from .hummingbird_paper import HUMMINGBIRD_PAPER, hummingbird_paper_miou
from .label_propagation import propagate_labels
from .linear_probe import linear_probe_miou
from .matching import hungarian_match, many_to_one_match
from .overclustering import overcluster
from .segmentation_metrics import confusion_matrix, iou_from_confusion
from .video_clustering import video_clustering_miou

__all__ = [
    'boundary_f_measure', 'evaluate_video', 'jf_summary',
    'region_similarity', 'hummingbird_miou', 'HUMMINGBIRD_PAPER',
    'hummingbird_paper_miou', 'linear_probe_miou',
    'propagate_labels',
    'hungarian_match', 'many_to_one_match', 'overcluster',
    'confusion_matrix', 'iou_from_confusion', 'video_clustering_miou',
]

from .tracking_metrics import average_metrics, tapvid_metrics  # noqa: E402

__all__ += ['average_metrics', 'tapvid_metrics']

from .paper_data import (SegImageSet, SegVideoSet, ade20k,  # noqa: E402
                         davis2017, voc2012, ytvos2019)
from .video_clustering import (TIMET_VIDEO_CLUSTERING,  # noqa: E402
                               video_clustering_paper)

__all__ += ['SegImageSet', 'SegVideoSet', 'ade20k', 'davis2017', 'voc2012',
            'ytvos2019', 'TIMET_VIDEO_CLUSTERING', 'video_clustering_paper']

from .benchmarks import (BENCHMARKS, reference_numbers,  # noqa: E402
                         run_benchmark)

__all__ += ['BENCHMARKS', 'reference_numbers', 'run_benchmark']
