"""Confusion matrices and (m)IoU for semantic segmentation."""
from typing import Tuple

import numpy as np

__all__ = ['confusion_matrix', 'iou_from_confusion']


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_pred: int,
                     num_gt: int, ignore_index: int = 255) -> np.ndarray:
    """Counts of (pred, gt) label pairs.

    Args:
        pred: int array of predicted labels in ``[0, num_pred)``, any shape.
        gt: int array of ground-truth labels, same shape; pixels equal to
            ``ignore_index`` are skipped, other values must be in
            ``[0, num_gt)``.

    Returns:
        int64 [num_pred, num_gt]; entry (i, j) = #pixels predicted i with
        ground truth j.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f'pred has {pred.size} pixels, gt {gt.size}')
    keep = gt != ignore_index
    pred, gt = pred[keep], gt[keep]
    if gt.size and (gt.min() < 0 or gt.max() >= num_gt):
        raise ValueError(f'gt labels must be in [0, {num_gt}) or '
                         f'{ignore_index}, got {gt.min()}..{gt.max()}')
    if pred.size and (pred.min() < 0 or pred.max() >= num_pred):
        raise ValueError(f'pred labels must be in [0, {num_pred}), got '
                         f'{pred.min()}..{pred.max()}')
    return np.bincount(pred * num_gt + gt,
                       minlength=num_pred * num_gt).reshape(num_pred, num_gt)


def iou_from_confusion(conf: np.ndarray) -> Tuple[float, np.ndarray]:
    """Confusion [C, C] or [C + 1, C] (pred x gt; an extra last row holds
    pixels predicted as no class) -> (mIoU, per-class IoU [C]).

    IoU_c = TP_c / (#gt_c + #pred_c - TP_c). Classes absent from both
    prediction and ground truth get NaN and are left out of the mean (as
    mmseg's IoUMetric does).
    """
    conf = np.asarray(conf, np.float64)
    if conf.ndim != 2 or conf.shape[0] not in (conf.shape[1],
                                               conf.shape[1] + 1):
        raise ValueError(f'expected a [C, C] or [C+1, C] confusion, got '
                         f'{conf.shape}')
    C = conf.shape[1]
    tp = np.diag(conf[:C])
    union = conf.sum(0) + conf[:C].sum(1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    valid = ~np.isnan(iou)
    miou = float(iou[valid].mean()) if valid.any() else float('nan')
    return miou, iou
