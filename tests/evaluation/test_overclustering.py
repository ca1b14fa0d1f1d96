"""Overclustering (mosic_mm.evaluation.protocols.overclustering) as the
official MoSiC code runs it: its settings, separable features found, the
official centroid counts and the PCA rows faiss subsamples."""
import inspect

import numpy as np
import pytest

from mosic_mm.evaluation.benchmarks import benchmark_settings
from mosic_mm.evaluation.protocols.overclustering import (
    OFFICIAL_KMEANS_CENTROIDS,
    OverclusteringSettings,
    overcluster,
)


def _s(**kw):
    return OverclusteringSettings(**kw)


def test_settings_are_the_official_run():
    """MoSiC evaluation.py main_overclustering: 500 images at 224 px, PCA to
    50 dims, 20 K-means iterations, "K = 100 / 300 / 500" clustered with
    50 / 100 / 200 centroids, Normalize with blue std 0.255, faiss
    subsampling the PCA rows; the synthetic (mini / demo) preset keeps the
    backbone's normalisation and the numpy-drawn PCA rows it was measured
    with."""
    assert OFFICIAL_KMEANS_CENTROIDS == {100: 50, 300: 100, 500: 200}
    s = OverclusteringSettings()
    assert (s.input_size, s.mask_size, s.num_images) == (224, 224, 500)
    assert s.ks == (21, 100, 300, 500)
    assert (s.pca_dim, s.niter, s.seed) == (50, 20, 1234)
    assert inspect.signature(overcluster).parameters[
        'ignore_index'].default == 255
    for preset in ('paper', 'fast'):
        oc = benchmark_settings('voc-overcluster', preset)
        assert oc.mean == (0.485, 0.456, 0.406), preset
        assert oc.std == (0.229, 0.224, 0.255), preset
        assert (oc.nominal_k, oc.pca_subsample,
                oc.pca_max_points_per_dim) == (False, 'faiss', 1000)
    syn = benchmark_settings('synthetic-overcluster', 'fast')
    assert (syn.mean, syn.std, syn.pca_subsample, syn.ks) == (
        None, None, 'numpy', None)


def test_overcluster_separable_features():
    """One loud dimension (standardisation tames it), ignored pixels, the
    official 50 centroids for K = 100; K below the number of classes is an
    error."""
    rng = np.random.default_rng(0)
    num_classes, N, h = 3, 4, 4
    labels = rng.integers(0, num_classes, (N, h, h))
    centres = rng.normal(size=(num_classes, 60)) * 3
    feats = centres[labels] + rng.normal(size=(N, h, h, 60)) * 0.05
    feats[..., 0] *= 1000
    feats = feats.transpose(0, 3, 1, 2)
    masks = np.kron(labels, np.ones((4, 4), np.int64))  # [N, 16, 16]
    masks[0, :2] = 255
    res = overcluster(feats, masks, num_classes, _s(ks=(3, 100)))
    assert res[100]['centroids'] == 50 and res[3]['centroids'] == 3
    # bilinear upsampling blurs the features at class borders only
    assert res[3]['mIoU'] > 0.8
    assert res[100]['mIoU'] > 0.9
    assert overcluster(feats, masks, num_classes, _s(
        ks=(100, ), nominal_k=True))[100]['centroids'] == 100
    with pytest.raises(ValueError, match='below the number of classes'):
        overcluster(feats, masks, num_classes, _s(ks=(2, )))


def test_overclustering_finds_every_mode_of_a_class():
    """Two modes per class: K = 4C keeps every cluster inside one mode
    (1.0); with K = C noise features cannot be matched one-to-one."""
    rng = np.random.default_rng(0)
    N, h, w, C = 6, 4, 4, 3
    labels = rng.integers(0, C, (N, h, w))
    centres = rng.normal(size=(2 * C, 16)) * 5
    sub = rng.integers(0, 2, (N, h, w))  # two modes per class
    feats = centres[labels * 2 + sub] + rng.normal(size=(N, h, w, 16)) * 0.01
    feats = feats.transpose(0, 3, 1, 2)
    # masks on the token grid: the bilinear upsampling is the identity;
    # K = 4C: the protocol's one randomly initialised faiss run keeps every
    # cluster inside one mode (K = 2C can merge two modes: 0.68 here)
    res = overcluster(feats, labels, C, _s(ks=(3, 12), pca_dim=8))
    assert res[12]['mIoU'] == pytest.approx(1.0)
    noise = rng.normal(size=feats.shape)
    assert overcluster(noise, labels, C, _s(ks=(3, ), pca_dim=8))[3][
        'mIoU'] < 0.7


def _pca_capture(monkeypatch):
    """Record every faiss PCA the overclustering trains."""
    from mosic_mm.evaluation.metrics import clustering
    got = []
    orig = clustering.train_faiss_pca

    def spy(rows, dim, max_points_per_d=None):
        got.append(orig(rows, dim, max_points_per_d))
        return got[-1]

    monkeypatch.setattr(clustering, 'train_faiss_pca', spy)
    return got


def test_overcluster_pca_rows_are_subsampled_by_faiss(monkeypatch):
    """With more than 1000 * C rows the official code (utils/clustering.py)
    hands every standardised row to ``faiss.PCAMatrix.train``, which
    subsamples them itself (seed 1234). The default must give that basis;
    'numpy' (rows drawn by us) does not."""
    import faiss
    rng = np.random.default_rng(0)
    N, C, h = 3, 6, 8
    feats = rng.normal(size=(N, C, h, h)).astype(np.float32)
    feats[:, 1] += 3 * feats[:, 0]
    masks = rng.integers(0, 2, (N, h, h))
    rows = feats.transpose(0, 2, 3, 1).reshape(-1, C)  # same-size upsample
    z = ((rows - rows.mean(0)) / rows.std(0)).astype(np.float32)
    ref = faiss.PCAMatrix(C, 3)
    ref.max_points_per_d = 20  # 120 of the 192 rows: faiss subsamples
    ref.train(z)
    want = ref.apply_py(z)
    for mode, equal in ((None, True), ('faiss', True), ('numpy', False)):
        got = _pca_capture(monkeypatch)
        kw = {} if mode is None else dict(pca_subsample=mode)
        overcluster(feats, masks, 2, _s(ks=(2, ), pca_dim=3,
                                        pca_max_points_per_dim=20, **kw))
        out = got[0].apply_py(z)
        assert np.allclose(out, want, atol=1e-4) == equal, mode
    with pytest.raises(ValueError, match='pca_subsample'):
        overcluster(feats, masks, 2, _s(ks=(2, ), pca_subsample='x'))
