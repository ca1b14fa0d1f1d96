"""Overclustering of frozen patch features (DESIGN.md §6).

Patch features of a dataset -> PCA to 50 dims -> K-means (faiss). With
K = #classes the clusters are matched one-to-one to classes (Hungarian);
with K > #classes many-to-one (each cluster to its majority class). Cluster
maps are upsampled (nearest) to the mask resolution; mIoU is averaged over
seeds.
"""
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .clustering import kmeans, pca
from .matching import hungarian_match, many_to_one_match, remap_confusion
from .segmentation_metrics import confusion_matrix, iou_from_confusion

__all__ = ['upsample_labels', 'cluster_miou', 'overcluster']


def upsample_labels(labels: np.ndarray, size) -> np.ndarray:
    """Nearest upsampling of label maps [N, h, w] -> [N, *size]."""
    t = torch.from_numpy(np.asarray(labels, np.float32))[:, None]
    return F.interpolate(t, size=tuple(size), mode='nearest')[:, 0].numpy(
    ).astype(np.int64)


def cluster_miou(clusters: np.ndarray, masks: np.ndarray, num_clusters: int,
                 num_classes: int, ignore_index: int = 255,
                 many_to_one: bool = False) -> float:
    """mIoU of cluster maps after matching.

    Args:
        clusters: int [N, H, W] cluster ids in [0, num_clusters).
        masks: int [N, H, W] class ids in [0, num_classes) or ignore_index.
        many_to_one: majority matching instead of Hungarian.
    """
    conf = confusion_matrix(clusters, masks, num_clusters, num_classes,
                            ignore_index)
    mapping = many_to_one_match(conf) if many_to_one else hungarian_match(
        conf)
    return iou_from_confusion(remap_confusion(conf, mapping, num_classes))[0]


def overcluster(features: np.ndarray, masks: np.ndarray, num_classes: int,
                ks: Sequence[int], seeds: Sequence[int] = (0, 1, 2, 3, 4),
                pca_dim: int = 50, ignore_index: int = 255,
                niter: int = 50, nredo: int = 1) -> Dict[int, Dict[str, float]]:
    """Cluster patch features and score them against masks.

    Args:
        features: float [N, C, h, w] patch features of N images.
        masks: int [N, H, W] class ids (ignore_index = unlabeled).
        ks: cluster counts; K == num_classes uses Hungarian matching,
            K > num_classes many-to-one, K < num_classes is an error.
        seeds: K-means seeds; the mIoU is averaged over them.
        niter, nredo: K-means iterations and restarts (best objective kept).

    Returns:
        {K: {'mIoU': mean, 'std': std over seeds}}, mIoU in [0, 1].
    """
    features = np.asarray(features, np.float32)
    N, C, h, w = features.shape
    if len(masks) != N:
        raise ValueError(f'{N} feature maps but {len(masks)} masks')
    rows = features.transpose(0, 2, 3, 1).reshape(-1, C)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True),
                             1e-12)
    rows = pca(rows, pca_dim)
    out = {}
    for k in ks:
        if k < num_classes:
            raise ValueError(f'K={k} is below the number of classes '
                             f'{num_classes}')
        scores = []
        for seed in seeds:
            labels, _ = kmeans(rows, k, seed=seed, niter=niter, nredo=nredo)
            clusters = upsample_labels(labels.reshape(N, h, w),
                                       masks.shape[1:])
            scores.append(cluster_miou(clusters, masks, k, num_classes,
                                       ignore_index, many_to_one=k >
                                       num_classes))
        out[int(k)] = dict(mIoU=float(np.mean(scores)),
                           std=float(np.std(scores)))
    return out
