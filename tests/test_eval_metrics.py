"""Evaluation metrics on cases with known answers."""
import numpy as np
import pytest
import torch

from mosic_mm.evaluation import (boundary_f_measure, evaluate_video,
                                 greedy_precision_match, hungarian_iou_match,
                                 jf_summary, overcluster_paper, pair_counts,
                                 predsmiou_from_counts, propagate_labels,
                                 region_similarity, video_clustering_paper)
from mosic_mm.evaluation.davis_metrics import seg2bmap
from mosic_mm.evaluation.hummingbird import (patch_label_counts,
                                             retrieval_counts)


def test_confusion_and_iou():
    gt = np.array([0, 0, 1, 1, 255])
    pred = np.array([0, 1, 1, 1, 0])
    counts = pair_counts(pred, gt, 2, 2, ignore_index=255)   # [gt, pred]
    np.testing.assert_array_equal(counts, [[1, 1], [0, 2]])
    miou, iou, mapping = predsmiou_from_counts(counts)
    assert mapping.tolist() == [0, 1]
    np.testing.assert_allclose(iou, [1 / 2, 2 / 3])
    assert miou == pytest.approx(7 / 12)
    with pytest.raises(ValueError, match='gt ids'):
        pair_counts(pred, np.array([0, 0, 3, 1, 1]), 2, 2)


def test_matching():
    # clusters are a permutation of the classes: counts [gt, cluster]
    counts = np.array([[0, 0, 4], [5, 0, 0], [0, 7, 0]])
    np.testing.assert_array_equal(hungarian_iou_match(counts), [1, 2, 0])
    # 5 clusters, 2 classes: precision; Hungarian leaves 3 unmatched
    counts = np.array([[3, 1], [0, 2], [5, 0], [0, 9], [1, 0]]).T
    np.testing.assert_array_equal(greedy_precision_match(counts),
                                  [0, 1, 0, 1, 0])
    m = hungarian_iou_match(counts)
    assert sorted(m[m >= 0].tolist()) == [0, 1] and (m < 0).sum() == 3
    # unmatched clusters join class 0 (background)
    miou, iou, mapping = predsmiou_from_counts(
        np.array([[4, 0, 2], [0, 4, 2]]))
    assert mapping.tolist() == [0, 1, 0]
    np.testing.assert_allclose(iou, [6 / 8, 4 / 6])


def _square(size, y0, x0, s):
    m = np.zeros((size, size), bool)
    m[y0:y0 + s, x0:x0 + s] = True
    return m


def test_region_similarity():
    a, b = _square(50, 10, 10, 10), _square(50, 10, 15, 10)
    assert region_similarity(a, b) == pytest.approx(50 / 150)
    assert region_similarity(a, a) == 1.0
    assert region_similarity(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0


def test_seg2bmap_single_pixel():
    m = np.zeros((8, 8), bool)
    m[5, 5] = True
    expected = np.zeros((8, 8), bool)
    expected[4:6, 4:6] = True
    np.testing.assert_array_equal(seg2bmap(m), expected)


def test_boundary_f_measure():
    a = _square(100, 20, 20, 30)  # threshold ceil(0.008 * 141.4) = 2 px
    assert boundary_f_measure(a, a) == 1.0
    assert boundary_f_measure(a, _square(100, 21, 21, 30)) == 1.0
    # (1, 2) px puts the shifted corner sqrt(5) > 2 px away: not all match
    assert 0.98 < boundary_f_measure(a, _square(100, 21, 22, 30)) < 1.0
    assert boundary_f_measure(a, _square(100, 60, 60, 30)) == 0.0
    assert boundary_f_measure(a, np.zeros_like(a)) == 0.0
    # a 10 px shift of a 30 px square: only the top and bottom edges
    # (minus their shifted ends) still match
    f = boundary_f_measure(a, _square(100, 20, 30, 30))
    assert 0.3 < f < 0.7


def test_evaluate_video_skips_first_and_last():
    gt = np.zeros((4, 20, 20), np.int64)
    gt[:, 5:10, 5:10] = 1
    pred = gt.copy()
    pred[0] = 0  # first and last frames are not scored
    pred[-1] = 0
    res = evaluate_video(gt, pred)
    assert res == {1: {'J': 1.0, 'F': 1.0}}
    pred[1] = 0
    res = evaluate_video(gt, pred)
    assert res[1]['J'] == pytest.approx(0.5)
    s = jf_summary({'v': res})
    assert s['J&F'] == pytest.approx((s['J'] + s['F']) / 2)


def _moving_object(T=6, grid=8, p=4):
    """Masks [T, grid*p, grid*p] of a 2x2-patch object moving one patch per
    frame, and features [T, 3, grid, grid] = one-hot of the label."""
    masks = np.zeros((T, grid * p, grid * p), np.int64)
    feats = np.zeros((T, 3, grid, grid), np.float32)
    feats[:, 0] = 1
    for t in range(T):
        r, c = 1 + t % 4, 2 + t % 3
        masks[t, r * p:(r + 2) * p, c * p:(c + 2) * p] = 2
        feats[t, :, r:r + 2, c:c + 2] = 0
        feats[t, 2, r:r + 2, c:c + 2] = 1
    return masks, feats


def test_label_propagation_follows_features():
    masks, feats = _moving_object()
    pred = propagate_labels(torch.from_numpy(feats), masks[0], radius=3)
    # patch centres are exact; bilinear upsampling only rounds the corners
    centres = (slice(None), slice(2, None, 4), slice(2, None, 4))
    np.testing.assert_array_equal(pred[centres], masks[centres])
    res = evaluate_video(masks, pred)[2]
    assert res['J'] > 0.9 and res['F'] == 1.0
    # uninformative features lose the object
    pred = propagate_labels(torch.ones(6, 3, 8, 8), masks[0])
    assert evaluate_video(masks, pred)[2]['J'] < 0.5


def test_overclustering_separable_features():
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
    res = overcluster_paper(feats, labels, C, ks=[3, 12], pca_dim=8)
    assert res[12]['mIoU'] == pytest.approx(1.0)
    # with K = C, two modes per class cannot all be matched one-to-one
    noise = rng.normal(size=feats.shape)
    assert overcluster_paper(noise, labels, C, ks=[3],
                             pca_dim=8)[3]['mIoU'] < 0.7
    with pytest.raises(ValueError, match='below the number of classes'):
        overcluster_paper(feats, labels, C, ks=[2], pca_dim=8)


def test_patch_label_counts_ignore():
    m = np.array([[[0, 1, 2, 2], [1, 1, 2, 255]]])  # [1, 2, 4], grid (1, 2)
    c = patch_label_counts(m, (1, 2), 3)
    np.testing.assert_array_equal(c[0, 0, 0], [1, 3, 0])
    np.testing.assert_array_equal(c[0, 0, 1], [0, 0, 3])


def test_hummingbird_retrieval():
    """Retrieval from a memory of separable patch keys (the scoring half of
    the Hummingbird protocol, :func:`retrieval_counts`)."""
    rng = np.random.default_rng(0)
    C = 4
    centres = rng.normal(size=(C, 8))

    def make(n):
        labels = rng.integers(0, C, (n, 4, 4))
        f = centres[labels] + rng.normal(size=(n, 4, 4, 8)) * 0.05
        return (torch.from_numpy(f.reshape(-1, 8)).float(),
                np.kron(labels, np.ones((3, 3), int)))

    def miou(keys, masks, val_q, val_m):
        counts = patch_label_counts(masks, (4, 4), C, None).reshape(-1, C)
        keys = torch.nn.functional.normalize(keys, dim=1)
        total = retrieval_counts(val_q, keys, torch.from_numpy(counts),
                                 list(val_m), (4, 4), C, 255, k=5)
        return predsmiou_from_counts(total)[0]

    tr_f, tr_m = make(8)
    va_f, va_m = make(3)
    # patch labels are exact; bilinear upsampling only rounds corners
    assert miou(tr_f, tr_m, va_f, va_m) > 0.95
    assert miou(tr_f[:2 * 16], tr_m[:2], va_f, va_m) > 0.95   # 1/4
    shuffled = rng.permutation(tr_m.reshape(-1)).reshape(tr_m.shape)
    assert miou(tr_f, shuffled, va_f, va_m) < 0.6


def test_video_clustering():
    """TimeT's protocol on one batch (masks on the token grid, K = #labels
    of the unit): a 4x4-patch object of one-hot features (+ a little noise:
    faiss's random init never sees duplicate points) moving over 6 frames
    is found in every frame and clip."""
    T, g = 6, 8
    masks = np.zeros((T, g, g), np.int64)
    feats = np.zeros((T, 3, g, g), np.float32)
    feats[:, 0] = 1
    for t in range(T):
        r, c = t % 4, 1 + t % 3
        masks[t, r:r + 4, c:c + 4] = 2
        feats[t, :, r:r + 4, c:c + 4] = 0
        feats[t, 2, r:r + 4, c:c + 4] = 1
    rng = np.random.default_rng(0)
    feats += rng.normal(size=feats.shape).astype(np.float32) * 0.05
    for mode in ('frame', 'clip'):
        r = video_clustering_paper([(feats[None], masks[None])], mode,
                                   num_clusters=None, pca_dim=2)
        assert r['mIoU'] == pytest.approx(1.0)
    noise = rng.normal(size=(1, ) + feats.shape)
    assert video_clustering_paper([(noise, masks[None])], 'clip',
                                  num_clusters=None,
                                  pca_dim=2)['mIoU'] < 0.8
    with pytest.raises(ValueError, match='mode'):
        video_clustering_paper([(feats[None], masks[None])], 'video')


def _f_reference(gt, pred, r):
    """Boundary F from distance transforms (independent of cv2 dilation):
    a boundary pixel is matched when the other mask's boundary lies within
    Euclidean distance r."""
    from scipy.ndimage import distance_transform_edt
    gb, pb = seg2bmap(gt), seg2bmap(pred)
    d_to_g = distance_transform_edt(~gb)
    d_to_p = distance_transform_edt(~pb)
    precision = (d_to_g[pb] <= r).mean()
    recall = (d_to_p[gb] <= r).mean()
    return 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize('case', ['nested', 'blobs', 'wide'])
def test_boundary_f_measure_different_sizes(case):
    """Shapes of different sizes: precision (pred boundary matched) and
    recall (gt boundary matched) differ, so a recall computed against the
    wrong boundary changes F."""
    rng = np.random.default_rng(3)
    if case == 'nested':  # small square in the corner of a large one
        gt, pred = _square(80, 10, 10, 50), _square(80, 10, 10, 15)
    elif case == 'blobs':  # a disk vs a square plus a distant blob
        yy, xx = np.mgrid[:90, :90]
        gt = (yy - 40) ** 2 + (xx - 40) ** 2 <= 20 ** 2
        pred = _square(90, 25, 25, 28) | _square(90, 75, 5, 6)
    else:  # non-square image, noisy masks of different areas
        gt = np.zeros((60, 100), bool)
        gt[10:50, 20:90] = True
        pred = gt.copy()
        pred[20:40, 30:60] = False
        pred |= rng.random(gt.shape) > 0.995
    r = np.ceil(0.008 * np.linalg.norm(gt.shape))
    expected = _f_reference(gt, pred, r)
    assert 0.05 < expected < 0.95
    assert boundary_f_measure(gt, pred) == pytest.approx(expected, abs=1e-12)
    # F is symmetric in (precision, recall)
    assert boundary_f_measure(pred, gt) == pytest.approx(expected, abs=1e-12)
