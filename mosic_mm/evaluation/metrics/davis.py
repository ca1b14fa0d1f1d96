"""DAVIS region similarity J and boundary accuracy F.

Written from the definitions of the DAVIS benchmark (Perazzi et al. 2016;
the davis2017-evaluation toolkit): J is the mask IoU; F is the F-measure of
the boundary pixels, a boundary pixel counting as matched when the other
boundary lies within ``ceil(0.008 * image diagonal)`` pixels (a disk).
Semi-supervised J&F leaves out the first frame (given) and the last frame.
"""
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

__all__ = [
    'region_similarity', 'seg2bmap', 'boundary_f_measure', 'evaluate_video',
    'jf_summary'
]


def region_similarity(gt: np.ndarray,
                      pred: np.ndarray,
                      void: Optional[np.ndarray] = None) -> float:
    """J: IoU of two bool masks [H, W] (1 when both are empty)."""
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    keep = np.ones_like(gt) if void is None else ~np.asarray(void, bool)
    inter = np.sum(gt & pred & keep)
    union = np.sum((gt | pred) & keep)
    return 1.0 if union == 0 else float(inter) / float(union)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """Boundary map of a bool mask [H, W]: a pixel is on the boundary when it
    differs from its right, lower or lower-right neighbour (DAVIS)."""
    seg = np.asarray(seg, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def boundary_f_measure(gt: np.ndarray,
                       pred: np.ndarray,
                       void: Optional[np.ndarray] = None,
                       bound_th: float = 0.008) -> float:
    """F: boundary F-measure of two bool masks [H, W].

    ``bound_th`` < 1 is a fraction of the image diagonal, >= 1 pixels.
    """
    gt, pred = np.asarray(gt, bool), np.asarray(pred, bool)
    if void is not None:
        gt, pred = gt & ~void, pred & ~void
    bound_pix = bound_th if bound_th >= 1 else np.ceil(
        bound_th * np.linalg.norm(gt.shape))
    fg_b, gt_b = seg2bmap(pred), seg2bmap(gt)
    disk = _disk(bound_pix)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), disk) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), disk) > 0
    n_fg, n_gt = fg_b.sum(), gt_b.sum()
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = float((fg_b & gt_dil).sum()) / n_fg
        recall = float((gt_b & fg_dil).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def evaluate_video(
        gt: np.ndarray,
        pred: np.ndarray,
        object_ids: Optional[Sequence[int]] = None,
        skip_first_last: bool = True) -> Dict[int, Dict[str, float]]:
    """Per-object mean J and F over a video.

    Args:
        gt, pred: int label maps [T, H, W] (0 = background, k = object k).
        object_ids: objects to score; default: the non-zero ids of gt[0]
            (the objects given in the first frame, as in DAVIS).
        skip_first_last: leave out frame 0 and the last frame (DAVIS
            semi-supervised protocol; ignored for videos shorter than 3).

    Returns:
        {object id: {'J': mean J, 'F': mean F}}.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 3:
        raise ValueError(f'gt {gt.shape} and pred {pred.shape} must be equal '
                         '[T, H, W]')
    if object_ids is None:
        object_ids = [int(i) for i in np.unique(gt[0]) if i != 0]
    frames = range(1, len(gt) - 1) if skip_first_last and len(gt) >= 3 \
        else range(len(gt))
    out = {}
    for k in object_ids:
        js = [region_similarity(gt[t] == k, pred[t] == k) for t in frames]
        fs = [boundary_f_measure(gt[t] == k, pred[t] == k) for t in frames]
        out[int(k)] = dict(J=float(np.mean(js)), F=float(np.mean(fs)))
    return out


def jf_summary(
        per_video: Dict[str, Dict[int, Dict[str, float]]]) -> Dict[str, float]:
    """Mean over all objects of all videos: {'J&F', 'J', 'F'} (DAVIS
    'J&F-Mean' = (J-Mean + F-Mean) / 2)."""
    js = [o['J'] for v in per_video.values() for o in v.values()]
    fs = [o['F'] for v in per_video.values() for o in v.values()]
    if not js:
        raise ValueError('no object to evaluate')
    j, f = float(np.mean(js)), float(np.mean(fs))
    return {'J&F': (j + f) / 2, 'J': j, 'F': f}
