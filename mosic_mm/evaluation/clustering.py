"""PCA and K-means (faiss) on feature rows."""
from typing import Tuple

import numpy as np

__all__ = ['pca', 'kmeans', 'RunningStandardScaler', 'train_faiss_pca',
           'faiss_kmeans_default']


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


class RunningStandardScaler:
    """Per-dimension mean / std accumulated over row chunks (float64), as
    scikit-learn's ``StandardScaler.partial_fit``: population std (ddof 0),
    a dimension of zero variance is scaled by 1."""

    def __init__(self):
        self.n = 0
        self.sum = None
        self.sumsq = None

    def update(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, np.float64)
        if self.sum is None:
            self.sum = np.zeros(rows.shape[1])
            self.sumsq = np.zeros(rows.shape[1])
        self.n += len(rows)
        self.sum += rows.sum(0)
        self.sumsq += (rows * rows).sum(0)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.n, 1)

    @property
    def scale(self) -> np.ndarray:
        var = np.maximum(self.sumsq / max(self.n, 1) - self.mean ** 2, 0)
        std = np.sqrt(var)
        return np.where(std > 0, std, 1.0)

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """rows [N, C] -> float32 [N, C] standardised."""
        return ((np.asarray(rows, np.float64) - self.mean) /
                self.scale).astype(np.float32)


def train_faiss_pca(rows: np.ndarray, dim: int):
    """faiss ``PCAMatrix(C, dim)`` (centred, no whitening, no rotation)
    trained on rows [N, C]; apply with ``.apply_py(x)`` -> [N, dim]."""
    import faiss
    rows = np.ascontiguousarray(rows, np.float32)
    if dim > rows.shape[1]:
        raise ValueError(f'PCA to {dim} dims needs at least {dim} feature '
                         f'dims, got {rows.shape[1]}')
    pca = faiss.PCAMatrix(rows.shape[1], int(dim))
    pca.train(rows)
    return pca


def faiss_kmeans_default(x: np.ndarray, k: int, niter: int = 20,
                         seed: int = 1234) -> np.ndarray:
    """faiss ``Kmeans(d, k, niter)`` with faiss's defaults otherwise
    (training subsample of at most 256 points per centroid, one run,
    seed 1234) as the official code runs it; x [N, D] -> labels int64 [N]."""
    import faiss
    x = np.ascontiguousarray(x, np.float32)
    if len(x) < k:
        raise ValueError(f'K-means with k={k} needs at least k points, got '
                         f'{len(x)}')
    km = faiss.Kmeans(x.shape[1], int(k), niter=int(niter), seed=int(seed),
                      verbose=False)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64)
