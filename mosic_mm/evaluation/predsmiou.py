"""Cluster / class matching and mIoU as the official MoSiC evaluation scores
them (``PredsmIoU`` of Leopart / NeCo / MoSiC ``evaluation/eval_metrics.py``).

Written from that code's definitions (not copied):

- inputs are the *valid* pixels only (the caller drops the ignore label);
- Hungarian matching maximises the summed IoU of (class, cluster) pairs
  (``linear_sum_assignment(1 - IoU)``); clusters left unmatched are merged
  into class 0 (background);
- many-to-one matching gives each cluster the class of highest precision
  ``tp / (tp + fp)`` (first class on ties), several clusters per class;
- the IoU of class c is ``tp / max(tp + fp + fn, 1e-8)``, and the mIoU is the
  mean over *all* ``num_gt`` classes (a class absent from both prediction
  and ground truth counts 0).
"""
from typing import Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ['pair_counts', 'score_matrix', 'hungarian_iou_match',
           'greedy_precision_match', 'predsmiou']


def pair_counts(pred: np.ndarray, gt: np.ndarray, num_pred: int,
                num_gt: int) -> np.ndarray:
    """int64 [num_gt, num_pred]: #pixels with gt class i and cluster j."""
    pred = np.asarray(pred, np.int64).reshape(-1)
    gt = np.asarray(gt, np.int64).reshape(-1)
    if pred.shape != gt.shape:
        raise ValueError(f'pred has {pred.size} pixels, gt {gt.size}')
    if pred.size and (pred.min() < 0 or pred.max() >= num_pred):
        raise ValueError(f'pred ids must be in [0, {num_pred}), got '
                         f'{pred.min()}..{pred.max()}')
    if gt.size and (gt.min() < 0 or gt.max() >= num_gt):
        raise ValueError(f'gt ids must be in [0, {num_gt}) (drop the ignore '
                         f'label first), got {gt.min()}..{gt.max()}')
    return np.bincount(gt * num_pred + pred, minlength=num_gt *
                       num_pred).reshape(num_gt, num_pred)


def score_matrix(counts: np.ndarray, precision_based: bool = False
                 ) -> np.ndarray:
    """counts [G, P] -> IoU (or precision) of every (class, cluster) pair
    [G, P]; denominators floored at 1e-8 as in the official code."""
    tp = np.asarray(counts, np.float64)
    n_pred = tp.sum(0, keepdims=True)  # tp + fp per cluster
    if precision_based:
        return tp / np.maximum(n_pred, 1e-8)
    n_gt = tp.sum(1, keepdims=True)
    return tp / np.maximum(n_pred + n_gt - tp, 1e-8)


def hungarian_iou_match(counts: np.ndarray) -> np.ndarray:
    """One-to-one matching maximising summed IoU; counts [G, P] -> class of
    each cluster int64 [P] (unmatched clusters -> 0, background)."""
    iou = score_matrix(counts)
    gt_idx, pred_idx = linear_sum_assignment(1 - iou)
    mapping = np.zeros(iou.shape[1], np.int64)
    mapping[pred_idx] = gt_idx
    return mapping


def greedy_precision_match(counts: np.ndarray) -> np.ndarray:
    """Many-to-one: each cluster -> the class where its precision is highest
    (lowest class id on ties); counts [G, P] -> int64 [P]."""
    return score_matrix(counts, precision_based=True).argmax(0).astype(
        np.int64)


def predsmiou(pred: np.ndarray, gt: np.ndarray, num_pred: int, num_gt: int,
              many_to_one: bool = False
              ) -> Tuple[float, np.ndarray, np.ndarray]:
    """Matched mIoU of cluster ids ``pred`` vs class ids ``gt`` (valid
    pixels only, any equal shapes).

    Returns:
        (mIoU over all num_gt classes, per-class IoU float64 [num_gt],
        class of each cluster int64 [num_pred]).
    """
    counts = pair_counts(pred, gt, num_pred, num_gt)
    mapping = greedy_precision_match(counts) if many_to_one else \
        hungarian_iou_match(counts)
    merged = np.zeros((num_gt, num_gt), np.int64)  # [gt, matched class]
    np.add.at(merged.T, mapping, counts.T)
    tp = np.diag(merged).astype(np.float64)
    fp = merged.sum(0) - tp
    fn = merged.sum(1) - tp
    iou = tp / np.maximum(tp + fp + fn, 1e-8)
    return float(iou.mean()), iou, mapping
