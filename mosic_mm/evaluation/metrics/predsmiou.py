"""Pixel counting, cluster / class matching and mIoU as the official MoSiC
evaluation scores them (``PredsmIoU`` of Leopart / NeCo / MoSiC
``evaluation/eval_metrics.py``, TimeT's ``metrics.py``): the one home of
the (gt, prediction) pixel counts and of the Hungarian matching of every
protocol.

Written from that code's definitions (not copied):

- inputs are the *valid* pixels only (the caller drops the ignore label,
  or passes ``ignore_index`` to :func:`pair_counts`);
- Hungarian matching maximises the summed IoU of (class, cluster) pairs
  (``linear_sum_assignment(1 - IoU)``); clusters left unmatched are merged
  into class 0 (background);
- many-to-one matching gives each cluster the class of highest precision
  ``tp / (tp + fp)`` (first class on ties), several clusters per class;
- the IoU of class c is ``tp / max(tp + fp + fn, 1e-8)``, and the mIoU is the
  mean over *all* ``num_gt`` classes (a class absent from both prediction
  and ground truth counts 0).
"""
from typing import Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ['pair_counts', 'score_matrix', 'hungarian_iou_match',
           'greedy_precision_match', 'predsmiou_from_counts', 'predsmiou']


def pair_counts(pred: np.ndarray, gt: np.ndarray, num_pred: int,
                num_gt: int, ignore_index: Optional[int] = None
                ) -> np.ndarray:
    """int64 [num_gt, num_pred]: #pixels with gt class i and prediction j.

    ``pred`` / ``gt``: int arrays of equal size (any shapes); pixels whose
    gt is ``ignore_index`` are dropped first (None: none is)."""
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f'pred has {pred.size} pixels, gt {gt.size}')
    if ignore_index is not None:
        keep = gt != ignore_index
        pred, gt = pred[keep], gt[keep]
    if pred.size and (pred.min() < 0 or pred.max() >= num_pred):
        raise ValueError(f'pred ids must be in [0, {num_pred}), got '
                         f'{pred.min()}..{pred.max()}')
    if gt.size and (gt.min() < 0 or gt.max() >= num_gt):
        raise ValueError(f'gt ids must be in [0, {num_gt}) (or the ignore '
                         f'label {ignore_index}), got {gt.min()}..{gt.max()}')
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
    """One-to-one matching maximising the summed IoU
    (``linear_sum_assignment(1 - IoU)``); counts [G, P] -> class index of
    each cluster int64 [P], -1 for a cluster left unmatched (P > G)."""
    iou = score_matrix(counts)
    gt_idx, pred_idx = linear_sum_assignment(1 - iou)
    mapping = np.full(iou.shape[1], -1, np.int64)
    mapping[pred_idx] = gt_idx
    return mapping


def greedy_precision_match(counts: np.ndarray) -> np.ndarray:
    """Many-to-one: each cluster -> the class where its precision is highest
    (lowest class id on ties); counts [G, P] -> int64 [P]."""
    return score_matrix(counts, precision_based=True).argmax(0).astype(
        np.int64)


def predsmiou_from_counts(counts: np.ndarray, many_to_one: bool = False
                          ) -> Tuple[float, np.ndarray, np.ndarray]:
    """``PredsmIoU`` from [G, P] (gt, cluster) pixel counts: match (Hungarian
    on IoU, unmatched -> class 0; or many-to-one by precision), merge, IoU
    of every class.

    Returns:
        (mIoU over all G classes, per-class IoU float64 [G], class of each
        cluster int64 [P]).
    """
    counts = np.asarray(counts, np.int64)
    G = counts.shape[0]
    if many_to_one:
        mapping = greedy_precision_match(counts)
    else:
        mapping = np.maximum(hungarian_iou_match(counts), 0)
    merged = np.zeros((G, G), np.int64)  # [gt, matched class]
    np.add.at(merged.T, mapping, counts.T)
    tp = np.diag(merged).astype(np.float64)
    fp = merged.sum(0) - tp
    fn = merged.sum(1) - tp
    iou = tp / np.maximum(tp + fp + fn, 1e-8)
    return float(iou.mean()), iou, mapping


def predsmiou(pred: np.ndarray, gt: np.ndarray, num_pred: int, num_gt: int,
              many_to_one: bool = False
              ) -> Tuple[float, np.ndarray, np.ndarray]:
    """Matched mIoU of cluster ids ``pred`` vs class ids ``gt`` (valid
    pixels only, any equal shapes); see :func:`predsmiou_from_counts`."""
    return predsmiou_from_counts(pair_counts(pred, gt, num_pred, num_gt),
                                 many_to_one)
