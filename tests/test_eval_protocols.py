"""Official (paper) evaluation protocols vs independent implementations."""
import itertools

import numpy as np
import pytest

from mosic_mm.evaluation.clustering import (RunningStandardScaler,
                                            train_faiss_pca)
from mosic_mm.evaluation.overclustering import (OFFICIAL_KMEANS_CENTROIDS,
                                                overcluster_paper)
from mosic_mm.evaluation.predsmiou import predsmiou


def _iou_loops(pred, gt, c1_pred, c2_gt):
    """IoU of cluster c1_pred vs class c2_gt, pixel by pixel."""
    inter = union = 0
    for p, g in zip(pred, gt):
        a, b = p == c1_pred, g == c2_gt
        inter += a and b
        union += a or b
    return inter / max(union, 1e-8)


def _miou_after(remapped, gt, num_gt):
    ious = []
    for c in range(num_gt):
        tp = sum(1 for r, g in zip(remapped, gt) if r == c and g == c)
        fp = sum(1 for r, g in zip(remapped, gt) if r == c and g != c)
        fn = sum(1 for r, g in zip(remapped, gt) if r != c and g == c)
        ious.append(tp / max(tp + fp + fn, 1e-8))
    return float(np.mean(ious))


@pytest.mark.parametrize('num_pred', [4, 5])
def test_hungarian_iou_brute_force(num_pred):
    """Hungarian on IoU = the best injective class->cluster assignment found
    by trying every one; unmatched clusters fall into class 0."""
    rng = np.random.default_rng(num_pred)
    num_gt = 4
    gt = rng.integers(0, num_gt, 60)
    # clusters correlated with the classes but noisy
    pred = np.where(rng.random(60) < 0.6, (gt + 1) % num_pred,
                    rng.integers(0, num_pred, 60))
    iou = np.array([[_iou_loops(pred, gt, p, g) for p in range(num_pred)]
                    for g in range(num_gt)])
    best, best_assign = -1, None
    for assign in itertools.permutations(range(num_pred), num_gt):
        s = sum(iou[g, p] for g, p in enumerate(assign))
        if s > best + 1e-12:
            best, best_assign = s, assign
    cls_of = {p: g for g, p in enumerate(best_assign)}
    remapped = [cls_of.get(p, 0) for p in pred]
    expected = _miou_after(remapped, gt, num_gt)
    miou, _, mapping = predsmiou(pred, gt, num_pred, num_gt)
    assert miou == pytest.approx(expected, abs=1e-12)
    assert [cls_of.get(p, 0) for p in range(num_pred)] == mapping.tolist()


def test_many_to_one_precision_by_hand():
    gt = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0])
    pred = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    # cluster 1 -> class 1 (precision 2/3), cluster 3 -> class 2 (2/3),
    # empty cluster 4 -> class 0; class 3 never occurs and counts 0
    miou, iou, mapping = predsmiou(pred, gt, 5, 4, many_to_one=True)
    assert mapping.tolist() == [0, 1, 2, 2, 0]
    np.testing.assert_allclose(iou, [2 / 4, 2 / 3, 4 / 5, 0])
    assert miou == pytest.approx((1 / 2 + 2 / 3 + 4 / 5) / 4)
    # precision, not IoU: 3 px of a 100 px class beat 2 px of a 2 px class
    gt = np.array([0] * 100 + [1, 1])
    pred = np.array([0] * 97 + [1] * 5)
    miou, iou, mapping = predsmiou(pred, gt, 2, 2, many_to_one=True)
    assert mapping.tolist() == [0, 0]
    assert miou == pytest.approx((100 / 102 + 0) / 2)


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


def test_overcluster_paper_separable():
    rng = np.random.default_rng(0)
    num_classes, N, h = 3, 4, 4
    labels = rng.integers(0, num_classes, (N, h, h))
    centres = rng.normal(size=(num_classes, 60)) * 3
    feats = centres[labels] + rng.normal(size=(N, h, h, 60)) * 0.05
    feats[..., 0] *= 1000  # one loud dimension: standardisation tames it
    feats = feats.transpose(0, 3, 1, 2)
    masks = np.kron(labels, np.ones((4, 4), np.int64))  # [N, 16, 16]
    masks[0, :2] = 255
    res = overcluster_paper(feats, masks, num_classes, ks=(3, 100))
    assert res[100]['centroids'] == 50 and res[3]['centroids'] == 3
    # bilinear upsampling blurs the features at class borders only
    assert res[3]['mIoU'] > 0.8
    assert res[100]['mIoU'] > 0.9
    with pytest.raises(ValueError, match='below the number of classes'):
        overcluster_paper(feats, masks, num_classes, ks=(2, ))


def test_official_overclustering_constants():
    """The official code clusters 'K = 100 / 300 / 500' with 50 / 100 / 200
    centroids (MoSiC evaluation/evaluation.py)."""
    assert OFFICIAL_KMEANS_CENTROIDS == {100: 50, 300: 100, 500: 200}
    import inspect
    sig = inspect.signature(overcluster_paper).parameters
    assert sig['pca_dim'].default == 50 and sig['niter'].default == 20
    assert tuple(sig['ks'].default) == (21, 100, 300, 500)
    assert sig['ignore_index'].default == 255


def test_hungarian_on_iou_not_pixel_counts_by_hand():
    """gt 0: 11 px in cluster 0, 4 px in cluster 1; gt 1: 5 px in cluster 0.
    Counts favour the identity (11 > 4 + 5); IoU favours the swap
    (4/15 + 5/16 > 11/20 + 0)."""
    gt = np.array([0] * 15 + [1] * 5)
    pred = np.array([0] * 11 + [1] * 4 + [0] * 5)
    miou, iou, mapping = predsmiou(pred, gt, 2, 2)
    assert mapping.tolist() == [1, 0]
    np.testing.assert_allclose(iou, [4 / 15, 5 / 16])


def _pca_capture(monkeypatch):
    """Record every faiss PCA the overclustering trains."""
    from mosic_mm.evaluation import clustering
    got = []
    orig = clustering.train_faiss_pca

    def spy(rows, dim, max_points_per_d=None):
        got.append(orig(rows, dim, max_points_per_d))
        return got[-1]

    monkeypatch.setattr(clustering, 'train_faiss_pca', spy)
    return got


def test_overcluster_pca_rows_are_subsampled_by_faiss(monkeypatch):
    """Issue 23 item 10: with more than 1000 * C rows the official code
    (utils/clustering.py) hands every standardised row to
    ``faiss.PCAMatrix.train``, which subsamples them itself (seed 1234).
    The default must give that basis; 'numpy' (rows drawn by us) does not."""
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
        overcluster_paper(feats, masks, 2, ks=(2, ), pca_dim=3,
                          pca_max_points_per_dim=20, **kw)
        out = got[0].apply_py(z)
        assert np.allclose(out, want, atol=1e-4) == equal, mode
    with pytest.raises(ValueError, match='pca_subsample'):
        overcluster_paper(feats, masks, 2, ks=(2, ), pca_subsample='x')
