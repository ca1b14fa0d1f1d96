"""TAP-Vid metrics on hand-computed cases."""
import math

import numpy as np
import pytest

from mosic_mm.tracks.metrics import (
    average_metrics,
    query_first_queries,
    tapvid_metrics,
)


def _gt(t=4, n=3, seed=0):
    rng = np.random.default_rng(seed)
    tracks = rng.uniform(0, 255, (t, n, 2)).astype(np.float32)
    vis = np.ones((t, n), bool)
    return tracks, vis


def test_perfect_predictions_score_100():
    gt, vis = _gt()
    vis[2, 1] = False
    m = tapvid_metrics(gt, vis, gt, vis, np.zeros(3, int), (256, 256))
    assert m['average_jaccard'] == 1.0
    assert m['average_pts_within_thresh'] == 1.0
    assert m['occlusion_accuracy'] == 1.0


def test_all_occluded_predictions_have_the_documented_values():
    gt, vis = _gt(t=5, n=2)
    vis[3, 0] = vis[4, 1] = False  # 2 of the 8 evaluated points occluded
    pred_vis = np.zeros_like(vis)
    m = tapvid_metrics(gt, vis, gt, pred_vis, np.zeros(2, int), (256, 256))
    assert m['average_jaccard'] == 0.0
    assert m['average_pts_within_thresh'] == 1.0  # positions still right
    assert m['occlusion_accuracy'] == pytest.approx(2 / 8)


def test_hand_computed_distances_thresholds_and_jaccard():
    # One track, query frame 0, frames 1..3 evaluated; image 128x128 so that
    # distances double at 256x256.
    gt = np.zeros((4, 1, 2), np.float32)
    pred = gt.copy()
    pred[1, 0] = (1.5, 0)   # 3 px at 256: within 4, 8, 16
    pred[2, 0] = (0, 0.25)  # 0.5 px: within all
    pred[3, 0] = (10, 0)    # 20 px: within none; GT occluded there
    vis = np.array([[1], [1], [1], [0]], bool)
    pred_vis = np.array([[1], [1], [1], [1]], bool)
    m = tapvid_metrics(gt, vis, pred, pred_vis, [0], (128, 128))
    # δ: over GT-visible evaluated points (frames 1, 2)
    assert m['pts_within_1'] == 0.5 and m['pts_within_2'] == 0.5
    assert m['pts_within_4'] == m['pts_within_16'] == 1.0
    assert m['average_pts_within_thresh'] == pytest.approx(0.8)
    # jaccard_1: TP = 1 (frame 2), FP = frame 1 (too far) + frame 3 (GT
    # occluded) = 2, GT positives = 2 -> 1 / 4; jaccard_4: TP 2, FP 1 -> 2/3
    assert m['jaccard_1'] == pytest.approx(1 / 4)
    assert m['jaccard_2'] == pytest.approx(1 / 4)
    assert m['jaccard_4'] == m['jaccard_16'] == pytest.approx(2 / 3)
    assert m['average_jaccard'] == pytest.approx((0.25 * 2 + 2 / 3 * 3) / 5)
    assert m['occlusion_accuracy'] == pytest.approx(2 / 3)
    # y is scaled by 256/H: a 128-wide, 64-high image doubles x, quadruples y
    m2 = tapvid_metrics(gt[:3], vis[:3], pred[:3], pred_vis[:3], [0],
                        (64, 128))
    assert m2['pts_within_1'] == 0.0  # frame 2: 0.25 * 4 = 1 px, not < 1


def test_query_frame_and_earlier_frames_are_not_scored():
    gt, vis = _gt(t=4, n=1)
    pred = gt + 100  # wrong everywhere...
    pred[3] = gt[3]  # ...except the only frame after the query
    m = tapvid_metrics(gt, vis, pred, vis, [2], (256, 256))
    assert m['average_jaccard'] == 1.0
    keep, q = query_first_queries(np.array([[0, 1, 0], [1, 1, 0]], bool))
    assert keep.tolist() == [True, True, False]
    assert q.tolist() == [1, 0, 0]


def test_empty_denominators_are_nan_and_skipped_in_the_average():
    gt, vis = _gt(t=3, n=1)
    vis[1:] = False
    m = tapvid_metrics(gt, vis, gt, vis, [0], (256, 256))
    assert math.isnan(m['pts_within_1']) and m['occlusion_accuracy'] == 1.0
    avg = average_metrics([m, dict(m, pts_within_1=0.5)])
    assert avg['pts_within_1'] == 0.5 and avg['occlusion_accuracy'] == 1.0


def test_shape_errors():
    gt, vis = _gt()
    with pytest.raises(ValueError, match='pred_tracks'):
        tapvid_metrics(gt, vis, gt[:2], vis, np.zeros(3, int), (256, 256))
    with pytest.raises(ValueError, match='query_frames'):
        tapvid_metrics(gt, vis, gt, vis, np.zeros(2, int), (256, 256))
