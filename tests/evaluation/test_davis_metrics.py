"""DAVIS J and F (mosic_mm.evaluation.metrics.davis, the davis2017-evaluation
definitions) on cases with known answers and against an independent
distance-transform reference."""
import numpy as np
import pytest

from mosic_mm.evaluation.metrics.davis import (
    boundary_f_measure,
    evaluate_video,
    jf_summary,
    region_similarity,
    seg2bmap,
)


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
