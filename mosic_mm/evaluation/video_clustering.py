"""Unsupervised video segmentation by clustering frozen patch features,
per frame or per clip, scored with Hungarian matching (as in TimeT / MoSiC).

Per frame: K-means on one frame's patches with K = #labels in that frame's
mask, one matching per frame. Per clip: K-means on all patches of the clip
with K = #labels in the clip, one matching for the whole clip (clusters must
then be consistent over time). Scores: mIoU over the labels present in the
unit, averaged over units (frames or clips).
"""
from typing import Optional, Sequence

import numpy as np

from .clustering import kmeans
from .matching import hungarian_match, remap_confusion
from .overclustering import upsample_labels
from .segmentation_metrics import confusion_matrix, iou_from_confusion

__all__ = ['matched_miou', 'cluster_unit', 'video_clustering_miou']


def matched_miou(clusters: np.ndarray, labels: np.ndarray,
                 num_clusters: int, ignore_index: int = 255) -> float:
    """Hungarian-matched mIoU over the labels present in ``labels``.

    clusters: int [...] in [0, num_clusters); labels: int [...] arbitrary
    ids (ignore_index skipped)."""
    ids = np.unique(labels[labels != ignore_index])
    dense = np.full(labels.shape, ignore_index, np.int64)
    for i, v in enumerate(ids):
        dense[labels == v] = i
    conf = confusion_matrix(clusters, dense, num_clusters, len(ids),
                            ignore_index)
    mapping = hungarian_match(conf)
    return iou_from_confusion(remap_confusion(conf, mapping, len(ids)))[0]


def cluster_unit(features: np.ndarray, out_size, num_clusters: int,
                 seed: int = 0) -> np.ndarray:
    """K-means on the L2-normalised patches of features [N, C, h, w]
    -> cluster maps int64 [N, *out_size] (nearest upsampling)."""
    N, C, h, w = features.shape
    rows = features.transpose(0, 2, 3, 1).reshape(-1, C)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True),
                             1e-12)
    labels, _ = kmeans(rows, num_clusters, seed=seed)
    return upsample_labels(labels.reshape(N, h, w), out_size)


def video_clustering_miou(features: np.ndarray, masks: np.ndarray,
                          mode: str = 'frame',
                          num_clusters: Optional[int] = None,
                          seeds: Sequence[int] = (0, ),
                          ignore_index: int = 255) -> float:
    """Mean matched mIoU of one video.

    Args:
        features: float [T, C, h, w]; masks: int [T, H, W].
        mode: 'frame' (cluster and match each frame) or 'clip'.
        num_clusters: K; default the number of labels in the unit.
    """
    if mode not in ('frame', 'clip'):
        raise ValueError(f"mode must be 'frame' or 'clip', got {mode!r}")
    features = np.asarray(features, np.float32)
    masks = np.asarray(masks)
    units = [slice(t, t + 1) for t in range(len(masks))] \
        if mode == 'frame' else [slice(0, len(masks))]
    scores = []
    for sl in units:
        m = masks[sl]
        k = num_clusters or len(np.unique(m[m != ignore_index]))
        if k == 0:
            continue
        for seed in seeds:
            clusters = cluster_unit(features[sl], m.shape[1:], k, seed)
            scores.append(matched_miou(clusters, m, k, ignore_index))
    return float(np.mean(scores))
