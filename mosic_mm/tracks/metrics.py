"""TAP-Vid point-tracking metrics (Doersch et al., NeurIPS 2022).

Per video, over the *evaluation points*: for every track, the frames after
its query frame ("query first" mode: the query is the track's first visible
frame, and the query frame itself is not scored). Distances are measured
after scaling both coordinate sets to a 256x256 image
(``x' = (x + 0.5) * 256 / W - 0.5``; only the 256/W factor matters).

- ``occlusion_accuracy`` (OA): fraction of evaluation points whose predicted
  visibility equals the ground truth's.
- ``pts_within_d`` for d in 1, 2, 4, 8, 16 px: among evaluation points
  visible in the ground truth, the fraction predicted closer than d
  (whatever the predicted visibility); ``average_pts_within_thresh``
  (δ^x_avg) is their mean.
- ``jaccard_d``: TP / (TP + FP + FN) with TP = GT visible, predicted
  visible and closer than d; FP = predicted visible but GT occluded or not
  closer than d; FN = GT visible and not TP. ``average_jaccard`` (AJ) is the
  mean over d.

Reported values are fractions in [0, 1]; tables print them x100. A ratio
with an empty denominator is NaN (e.g. δ with no visible GT point) and
is left out of the means over videos (``nanmean``).

Reference values: perfect predictions give AJ = δ_avg = OA = 1. Predictions
at the true positions but all marked occluded give AJ = 0 (no TP),
δ_avg = 1 and OA = the fraction of evaluation points occluded in the GT.
"""
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np

__all__ = [
    'THRESHOLDS', 'tapvid_metrics', 'average_metrics',
    'query_first_queries'
]

THRESHOLDS = (1, 2, 4, 8, 16)


def query_first_queries(gt_visible: np.ndarray) -> Tuple[np.ndarray,
                                                          np.ndarray]:
    """Query frames in "query first" mode.

    Args:
        gt_visible: bool ``[T, N]``.

    Returns:
        ``(keep, query_frames)``: bool ``[N]`` (tracks visible at least
        once; the others cannot be queried and are dropped) and int64
        ``[N]`` (first visible frame; 0 for dropped tracks).
    """
    gt_visible = np.asarray(gt_visible, dtype=bool)
    keep = gt_visible.any(axis=0)
    return keep, np.argmax(gt_visible, axis=0).astype(np.int64)


def tapvid_metrics(gt_tracks: np.ndarray,
                   gt_visible: np.ndarray,
                   pred_tracks: np.ndarray,
                   pred_visible: np.ndarray,
                   query_frames: np.ndarray,
                   image_size: Sequence[int],
                   thresholds: Iterable[float] = THRESHOLDS
                   ) -> Dict[str, float]:
    """TAP-Vid metrics of one video ("query first" evaluation points).

    Args:
        gt_tracks, pred_tracks: float ``[T, N, 2]`` (x, y) pixels of an
            image of ``image_size``.
        gt_visible, pred_visible: bool ``[T, N]``.
        query_frames: int ``[N]``; frames ``t > query_frames[n]`` of track n
            are evaluated.
        image_size: ``(H, W)`` of the image the coordinates refer to.
        thresholds: distance thresholds in pixels at 256x256.

    Returns:
        dict of floats: ``occlusion_accuracy``, ``pts_within_<d>``,
        ``jaccard_<d>``, ``average_pts_within_thresh``,
        ``average_jaccard`` (fractions; NaN for an empty denominator).
    """
    gt_tracks = np.asarray(gt_tracks, dtype=np.float64)
    pred_tracks = np.asarray(pred_tracks, dtype=np.float64)
    gt_vis = np.asarray(gt_visible, dtype=bool)
    pred_vis = np.asarray(pred_visible, dtype=bool)
    if gt_tracks.ndim != 3 or gt_tracks.shape[-1] != 2:
        raise ValueError(f'gt_tracks must be [T, N, 2], got {gt_tracks.shape}')
    t, n = gt_tracks.shape[:2]
    for name, arr, shape in (('pred_tracks', pred_tracks, (t, n, 2)),
                             ('gt_visible', gt_vis, (t, n)),
                             ('pred_visible', pred_vis, (t, n))):
        if arr.shape != shape:
            raise ValueError(f'{name} must have shape {shape} like gt_tracks '
                             f'[T, N, 2], got {arr.shape}')
    query_frames = np.asarray(query_frames).reshape(-1)
    if query_frames.shape != (n, ):
        raise ValueError(f'query_frames must be [{n}], got '
                         f'{query_frames.shape}')
    h, w = image_size
    scale = np.array([256.0 / w, 256.0 / h])
    dist2 = np.sum(((pred_tracks - gt_tracks) * scale)**2, axis=-1)
    # NaN predictions are never within a threshold
    dist2 = np.where(np.isnan(dist2), np.inf, dist2)
    evaluated = np.arange(t)[:, None] > query_frames[None, :]  # [T, N]

    def ratio(num, den):
        return float(num) / float(den) if den > 0 else float('nan')

    out = {'occlusion_accuracy':
           ratio(np.sum((pred_vis == gt_vis) & evaluated),
                 np.sum(evaluated))}
    gt_pos = np.sum(gt_vis & evaluated)
    within_all, jaccard_all = [], []
    for d in thresholds:
        within = dist2 < float(d)**2
        correct = within & gt_vis & evaluated
        frac = ratio(np.sum(correct), gt_pos)
        tp = np.sum(correct & pred_vis)
        fp = np.sum(pred_vis & (~gt_vis | ~within) & evaluated)
        jac = ratio(tp, gt_pos + fp)
        key = f'{d:g}'
        out[f'pts_within_{key}'] = frac
        out[f'jaccard_{key}'] = jac
        within_all.append(frac)
        jaccard_all.append(jac)
    out['average_pts_within_thresh'] = float(np.mean(within_all))
    out['average_jaccard'] = float(np.mean(jaccard_all))
    return out


def average_metrics(per_video: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Mean of each metric over videos, ignoring NaN (TAP-Vid averages per
    video, then over videos)."""
    if not per_video:
        raise ValueError('average_metrics needs at least one video')
    out = {}
    for key in per_video[0]:
        vals = np.array([m[key] for m in per_video], dtype=np.float64)
        out[key] = (float(np.nanmean(vals)) if np.isfinite(vals).any()
                    else float('nan'))
    return out
