"""The clustering primitives (mosic_mm.evaluation.metrics.clustering):
standardisation and faiss PCA against numpy, faiss K-means with faiss's
defaults as the official code runs it."""
import numpy as np

from mosic_mm.evaluation.metrics.clustering import (
    RunningStandardScaler,
    faiss_kmeans,
    train_faiss_pca,
)


def test_scaler_and_faiss_pca_vs_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)) * rng.uniform(0.1, 20, 12) + 3
    x[:, 5] = 7.0  # a constant dimension is scaled by 1
    sc = RunningStandardScaler()
    for i in range(0, 500, 128):
        sc.update(x[i:i + 128])
    z = sc.transform(x)
    ref = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
    np.testing.assert_allclose(z, ref, atol=1e-5)
    proj = train_faiss_pca(z, 4).apply_py(np.ascontiguousarray(z))
    zc = ref - ref.mean(0)
    vals, vecs = np.linalg.eigh(zc.T @ zc)
    ref_proj = zc @ vecs[:, ::-1][:, :4]
    # principal directions are defined up to sign
    np.testing.assert_allclose(np.abs(proj), np.abs(ref_proj), atol=1e-3)


def test_kmeans_uses_faiss_defaults(monkeypatch):
    """faiss.Kmeans with the given niter / nredo / seed, not spherical and
    faiss's own 256 points per centroid (no override)."""
    import faiss
    seen = {}

    class Spy(faiss.Kmeans):
        def __init__(self, d, k, **kw):
            seen.update(kw, d=d, k=k)
            super().__init__(d, k, **kw)
            seen['max_pts'] = self.cp.max_points_per_centroid

    monkeypatch.setattr(faiss, 'Kmeans', Spy)
    x = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    labels = faiss_kmeans(x, 10, 50, 5, 1)
    assert labels.shape == (300, ) and labels.dtype == np.int64
    assert seen['k'] == 10 and seen['niter'] == 50 and seen['nredo'] == 5
    assert seen['seed'] == 1 and seen['spherical'] is False
    assert seen['max_pts'] == 256
    assert 'max_points_per_centroid' not in seen
