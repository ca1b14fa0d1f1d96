"""PCA and K-means (faiss) on feature rows."""
from typing import Tuple

import numpy as np

__all__ = ['pca', 'kmeans']


def pca(x: np.ndarray, dim: int) -> np.ndarray:
    """Project rows x [N, C] on their top ``dim`` principal components
    -> float32 [N, min(dim, C)] (centred; no whitening)."""
    x = np.asarray(x, np.float64)
    if dim >= x.shape[1]:
        return (x - x.mean(0)).astype(np.float32)
    xc = x - x.mean(0)
    cov = xc.T @ xc / max(len(x) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)
    top = vecs[:, np.argsort(vals)[::-1][:dim]]
    return (xc @ top).astype(np.float32)


def kmeans(x: np.ndarray, k: int, seed: int = 0, niter: int = 50,
           nredo: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """K-means with faiss: x [N, D] -> (labels int64 [N], centroids
    float32 [k, D])."""
    import faiss
    x = np.ascontiguousarray(x, np.float32)
    if len(x) < k:
        raise ValueError(f'K-means with k={k} needs at least k points, got '
                         f'{len(x)}')
    km = faiss.Kmeans(x.shape[1], int(k), niter=niter, nredo=nredo,
                      seed=int(seed), verbose=False,
                      min_points_per_centroid=1,
                      max_points_per_centroid=max(256, len(x) // k + 1))
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64), km.centroids.copy()
