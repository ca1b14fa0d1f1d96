"""The clustering primitives of the protocols, one home each: feature maps
upsampled to pixel rows, per-dimension standardisation + faiss PCA, and
faiss K-means (with faiss's defaults, as the official code runs it)."""
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np

__all__ = ['upsample_rows', 'RunningStandardScaler', 'train_faiss_pca',
           'standardize_pca', 'faiss_kmeans']


def upsample_rows(maps: np.ndarray, size: Union[int, Sequence[int]],
                  dtype=np.float32) -> np.ndarray:
    """Feature maps float [n, D, h, w] -> bilinearly upsampled
    (align_corners=False, computed in ``dtype``) pixel rows float32
    [n * H * W, D] for ``size`` = H (square) or (H, W)."""
    import torch
    import torch.nn.functional as F
    size = (size, size) if isinstance(size, int) else tuple(size)
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype))
    up = F.interpolate(t, size=size, mode='bilinear', align_corners=False)
    return up.permute(0, 2, 3, 1).reshape(-1, t.shape[1]).float().numpy()


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


def train_faiss_pca(rows: np.ndarray, dim: int,
                    max_points_per_d: Optional[int] = None):
    """faiss ``PCAMatrix(C, dim)`` (centred, no whitening, no rotation)
    trained on rows [N, C]; apply with ``.apply_py(x)`` -> [N, dim].
    faiss trains on a subsample of ``max_points_per_d * C`` rows when N is
    larger (its own RNG, seed 1234; None keeps faiss's default, 1000)."""
    import faiss
    rows = np.ascontiguousarray(rows, np.float32)
    if dim > rows.shape[1]:
        raise ValueError(f'PCA to {dim} dims needs at least {dim} feature '
                         f'dims, got {rows.shape[1]}')
    pca = faiss.PCAMatrix(rows.shape[1], int(dim))
    if max_points_per_d is not None:
        pca.max_points_per_d = int(max_points_per_d)
    pca.train(rows)
    return pca


def standardize_pca(chunks: Callable[[], Iterable[np.ndarray]], dim: int,
                    standardize: bool = True,
                    max_train_rows: Optional[int] = None, seed: int = 0,
                    faiss_max_points_per_d: Optional[int] = None
                    ) -> Callable[[np.ndarray], np.ndarray]:
    """Fit the per-dimension standardisation (over every row) and a faiss
    PCA to ``dim`` dims, as the official protocols do before K-means.

    Args:
        chunks: called once per pass, yields the rows float [n_i, C] in a
            fixed order (one array, or chunks of a larger set).
        standardize: False skips the standardisation (PCA on raw rows).
        max_train_rows: the PCA is trained on at most this many rows, drawn
            without replacement with ``default_rng(seed)`` (None: every
            row).
        faiss_max_points_per_d: passed to :func:`train_faiss_pca` (faiss's
            own subsampling of the rows it is given).

    Returns:
        ``project(rows float [n, C]) -> float32 [n, dim]``.
    """
    scaler = RunningStandardScaler() if standardize else None
    total = 0
    for rows in chunks():
        total += len(rows)
        if scaler is not None:
            scaler.update(rows)

    def norm(rows: np.ndarray) -> np.ndarray:
        return scaler.transform(rows) if scaler is not None else \
            np.asarray(rows, np.float32)

    if max_train_rows is None or total <= max_train_rows:
        train = [norm(rows) for rows in chunks()]
    else:
        pick = np.sort(np.random.default_rng(seed).choice(
            total, max_train_rows, replace=False))
        train, start = [], 0
        for rows in chunks():
            sel = pick[(pick >= start) & (pick < start + len(rows))] - start
            train.append(norm(np.asarray(rows)[sel]))
            start += len(rows)
    pca = train_faiss_pca(np.concatenate(train), dim, faiss_max_points_per_d)
    return lambda rows: pca.apply_py(np.ascontiguousarray(norm(rows)))


def faiss_kmeans(x: np.ndarray, k: int, niter: int = 20, nredo: int = 1,
                 seed: int = 1234) -> np.ndarray:
    """``faiss.Kmeans(d, k, niter, nredo, seed)`` with faiss's defaults
    otherwise (training subsample of at most 256 points per centroid, not
    spherical), as the official code runs it; x [N, D] -> labels int64 [N]
    (nearest centroid)."""
    import faiss
    x = np.ascontiguousarray(x, np.float32)
    if len(x) < k:
        raise ValueError(f'K-means with K={k} needs at least K points, got '
                         f'{len(x)}')
    km = faiss.Kmeans(x.shape[1], int(k), niter=int(niter), nredo=int(nredo),
                      seed=int(seed), verbose=False, spherical=False)
    km.train(x)
    return km.index.search(x, 1)[1][:, 0].astype(np.int64)
