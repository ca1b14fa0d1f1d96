"""PredsmIoU (mosic_mm.evaluation.metrics.predsmiou): confusion counts,
Hungarian matching on IoU and many-to-one matching by precision, against
hand computations and brute force."""
import itertools

import numpy as np
import pytest

from mosic_mm.evaluation.metrics.predsmiou import (
    greedy_precision_match,
    hungarian_iou_match,
    pair_counts,
    predsmiou,
    predsmiou_from_counts,
)


def test_confusion_counts_and_iou():
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
    # the counts score as the pixels do
    rng = np.random.default_rng(3)
    pred, gt = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    assert predsmiou_from_counts(pair_counts(pred, gt, 4, 4, 255))[0] == \
        pytest.approx(predsmiou(pred, gt, 4, 4)[0])


def test_ignore_label_per_dataset():
    """VOC drops 255 and scores 0; ADE20K drops 0 and averages over all 151
    classes, so a perfect prediction scores 150/151 (as the official
    PredsmIoU)."""
    pred = np.array([[0, 1, 2], [1, 1, 2]])
    gt = np.array([[0, 1, 2], [0, 255, 2]])
    voc = pair_counts(pred, gt, 3, 3, 255)
    assert voc.sum() == 5 and voc[0].sum() == 2
    gt_ade = np.array([[0, 1, 2], [0, 1, 2]])
    ade = pair_counts(pred, gt_ade, 3, 3, 0)
    assert ade.sum() == 4 and ade[0].sum() == 0
    perfect = np.diag(np.r_[0, np.full(150, 10)])
    assert predsmiou_from_counts(perfect)[0] == pytest.approx(150 / 151)
    with pytest.raises(ValueError, match='gt ids'):
        pair_counts(pred, gt, 3, 3, 0)             # 255 is not ADE's ignore


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


def test_hungarian_on_iou_not_pixel_counts_by_hand():
    """gt 0: 11 px in cluster 0, 4 px in cluster 1; gt 1: 5 px in cluster 0.
    Counts favour the identity (11 > 4 + 5); IoU favours the swap
    (4/15 + 5/16 > 11/20 + 0)."""
    gt = np.array([0] * 15 + [1] * 5)
    pred = np.array([0] * 11 + [1] * 4 + [0] * 5)
    miou, iou, mapping = predsmiou(pred, gt, 2, 2)
    assert mapping.tolist() == [1, 0]
    np.testing.assert_allclose(iou, [4 / 15, 5 / 16])


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
