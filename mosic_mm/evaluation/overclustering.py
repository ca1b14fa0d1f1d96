"""Overclustering of frozen patch features (docs/evaluation.md) as the
official MoSiC code runs it (utils/clustering.py + evaluation.py
``overclustering``; Leopart instead clusters the tokens and upsamples the
cluster maps, nearest); the fast presets change sizes only.

Patch features -> bilinear upsampling to the mask size -> standardisation
+ faiss PCA to 50 dims -> faiss K-means. With K = #classes the clusters are
matched one-to-one to classes (Hungarian on IoU); with K > #classes
many-to-one (by precision); ``PredsmIoU`` over all classes.
"""
from typing import Dict, Sequence

import numpy as np

from .clustering import faiss_kmeans, standardize_pca, upsample_rows
from .predsmiou import predsmiou

__all__ = ['overcluster_paper', 'OFFICIAL_KMEANS_CENTROIDS']

# The official evaluation (MoSiC evaluation/evaluation.py ``overclustering``)
# reports "K = 100 / 300 / 500" but runs faiss K-means with 50 / 100 / 200
# centroids and scores them with PredsmIoU(100 / 300 / 500, C); K = C (21 on
# VOC) is clustered with C centroids. ``nominal_k=True`` clusters with the
# reported K instead.
OFFICIAL_KMEANS_CENTROIDS = {100: 50, 300: 100, 500: 200}


def overcluster_paper(features: np.ndarray, masks: np.ndarray,
                      num_classes: int, ks: Sequence[int] = (21, 100, 300,
                                                             500),
                      pca_dim: int = 50, niter: int = 20, seed: int = 1234,
                      ignore_index: int = 255, nominal_k: bool = False,
                      pca_max_points_per_dim: int = 1000,
                      pca_subsample: str = 'faiss', chunk: int = 8
                      ) -> Dict[int, Dict[str, float]]:
    """Overclustering as the official MoSiC code runs it (not Leopart's:
    there the tokens are clustered and the cluster maps upsampled).

    Patch features are bilinearly upsampled to the mask size, standardised
    (per-dimension mean / std over all pixels), projected with a faiss PCA
    to ``pca_dim`` dims (trained on at most ``pca_max_points_per_dim * C``
    rows) and clustered with faiss K-means
    (``niter`` iterations, faiss's default 256-points-per-centroid
    subsampling). Only pixels whose mask is not ``ignore_index`` are scored
    with :func:`predsmiou`: K == num_classes by Hungarian matching on IoU,
    larger K many-to-one by precision.

    Args:
        features: float [N, C, h, w]; masks: int [N, S, S'].
        ks: reported cluster counts; K-means runs with
            ``OFFICIAL_KMEANS_CENTROIDS.get(K, K)`` centroids unless
            ``nominal_k``.
        pca_subsample: who picks the PCA training rows when there are more
            than ``pca_max_points_per_dim * C``: 'faiss' (default, the
            official ``utils/clustering.py`` call: every standardised row
            goes to ``PCAMatrix.train``, which subsamples with its own RNG,
            seed 1234; needs every row in memory) or 'numpy' (rows drawn
            with ``default_rng(seed)`` before faiss sees them; streamed).

    Returns:
        {K: {'mIoU': ..., 'centroids': n}} (mIoU in [0, 1]).
    """
    features = np.asarray(features, np.float32)
    masks = np.asarray(masks, np.int64)
    N, C = features.shape[:2]
    if len(masks) != N:
        raise ValueError(f'{N} feature maps but {len(masks)} masks')
    size = masks.shape[1:]

    def chunks():
        for i in range(0, N, chunk):
            yield upsample_rows(features[i:i + chunk], size)

    if pca_subsample not in ('faiss', 'numpy'):
        raise ValueError(f"pca_subsample must be 'faiss' or 'numpy', got "
                         f'{pca_subsample!r}')
    project = standardize_pca(
        chunks, pca_dim, seed=seed,
        max_train_rows=(pca_max_points_per_dim * C
                        if pca_subsample == 'numpy' else None),
        faiss_max_points_per_d=pca_max_points_per_dim)
    x = np.concatenate([project(rows) for rows in chunks()])
    valid = masks.reshape(-1) != ignore_index
    gt = masks.reshape(-1)[valid]
    out = {}
    for k in ks:
        if k < num_classes:
            raise ValueError(f'K={k} is below the number of classes '
                             f'{num_classes}')
        n_cent = k if nominal_k else OFFICIAL_KMEANS_CENTROIDS.get(k, k)
        labels = faiss_kmeans(x, n_cent, niter, seed=seed)
        miou = predsmiou(labels[valid], gt, k, num_classes,
                         many_to_one=k > num_classes)[0]
        out[int(k)] = dict(mIoU=miou, centroids=int(n_cent))
    return out
