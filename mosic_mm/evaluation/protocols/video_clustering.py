"""Unsupervised video segmentation by clustering frozen patch features,
scored with Hungarian matching.

One implementation, :class:`VideoClustering`; the defaults of
:class:`VideoClusteringSettings` are TimeT's evaluation as its code runs it by
default (SMSD75/Timetuning ``evaluation.py`` ``main`` / ``Evaluator.evaluate``
/ ``evaluate_localizations``, ``clustering.py`` ``cluster_features``,
``my_utils.py`` ``normalize_and_transform``, ``metrics.py``
``PredsmIoU.compute`` with ``involve_bg=True``, ``data_loader.py``
``VideoDataset.generate_indices``); MoSiC reports its DAVIS / YT-VOS video
clustering with it (the MoSiC repository has no video clustering code):

1. per video one clip of ``num_frames = 4`` frames, drawn uniformly without
   replacement and sorted (with replacement if the video is shorter);
   videos in sorted order, ``batch_size = 16`` clips per batch;
2. frames resized to 224 x 224 (bilinear, aspect not kept), ImageNet
   mean, std ``(0.228, 0.224, 0.225)`` (sic); masks resized with nearest
   (PIL) to 224 x 224 = the evaluation size;
3. features: patch tokens of the last block after the final norm (no
   head); per *batch* all patch rows are standardised (per-dimension
   mean / population std) and projected by a faiss PCA to 50 dims;
4. per unit (a frame in ``'frame'`` mode, the default; a clip in ``'clip'``
   mode = TimeT's ``sample-wise``) the PCA feature maps are bilinearly
   upsampled (align_corners=False) to 224 x 224 and every pixel clustered
   with ``faiss.Kmeans(50, K=10, niter=50, nredo=5, seed=1)`` (faiss's
   default 256 points per centroid subsampling, not spherical);
5. scoring per unit (:func:`timet_miou`): the IoU matrix of the *present*
   clusters x the *present* labels, ``linear_sum_assignment(1 - IoU)``,
   unmatched clusters -> label 0 (background), IoU of every present label
   (background included, nothing ignored), mean over them;
6. a batch's score is the mean over its units, the result the mean over
   batches (so a smaller last batch weighs more per unit).

Usage: ``video_clustering(timet_batches(davis2017(root), extract), 'frame',
VideoClusteringSettings())`` with ``extract`` as in :func:`timet_batches`.

``num_clusters=None`` is TimeT's ``use_annotations=True`` variant (K = number
of labels present in the unit). ``'dataset'`` mode (TimeT's
``dataset-wise``: one PCA and one K-means over all clips, scored once, at
112 px in TimeT's main) is provided too.

Not reproduced from TimeT on purpose: its unseeded ``random.sample`` (we
draw frames from a seeded ``numpy`` generator), and its in-place YT-VOS
instance -> category relabelling, which can merge objects when a category id
equals a later instance id (:mod:`.paper_data` maps through a lookup table).
"""
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from ..data.files import resize_masks
from ..features import extract_features
from ..metrics.clustering import faiss_kmeans, standardize_pca, upsample_rows
from ..metrics.predsmiou import hungarian_iou_match, pair_counts
from ..protocol import (
    EvalData,
    Protocol,
    ProtocolSettings,
    resolve_input_size,
    setting,
)

__all__ = ['VideoClusteringSettings', 'VideoClustering',
           'sample_frame_indices', 'timet_miou', 'timet_cluster_maps',
           'video_clustering', 'iter_timet_clips', 'timet_batches']

_TIMET = 'SMSD75/Timetuning@94550b5'


@dataclass(frozen=True)
class VideoClusteringSettings(ProtocolSettings):
    """TimeT's default video clustering (paper values)."""
    input_size: Optional[int] = setting(
        224, f'{_TIMET} evaluation.py:556 (None: the backbone\'s img_size)',
        size=True)
    eval_size: Optional[int] = setting(
        224, f'{_TIMET} evaluation.py:536 (= input_resolution frame-wise; '
        '112 dataset-wise; None: the input size)', size=True)
    num_frames: int = setting(4, f'{_TIMET} evaluation.py:558')
    batch_size: int = setting(16, f'{_TIMET} evaluation.py:553 (the PCA '
                              'scope and the averaging unit)')
    mode: Union[str, Tuple[str, ...]] = setting(
        'frame', f'{_TIMET} evaluation.py:551 (frame-wise; several modes are '
        'scored on the same clips and features, metric mIoU <mode>)')
    num_clusters: Optional[int] = setting(
        10, f'{_TIMET} evaluation.py:555 (None: K = labels present)')
    pca_dim: int = setting(50, f'{_TIMET} clustering.py:22')
    niter: int = setting(50, f'{_TIMET} clustering.py:38')
    nredo: int = setting(5, f'{_TIMET} clustering.py:38')
    kmeans_seed: int = setting(1, f'{_TIMET} clustering.py:38')
    clip_seed: int = setting(
        0, f'ours: a seeded numpy draw (TimeT: random.sample after '
        f'random.seed(1), {_TIMET} data_loader.py:625, evaluation.py:44-47)')
    mean: Tuple[float, ...] = setting((0.485, 0.456, 0.406),
                                      f'{_TIMET} evaluation.py:533')
    std: Tuple[float, ...] = setting((0.228, 0.224, 0.225),
                                     f'{_TIMET} evaluation.py:533 (red 0.228 '
                                     'as there)')

    FAST = dict(input_size=56, eval_size=56)


_MODES = ('frame', 'clip', 'dataset')


def sample_frame_indices(num_total: int, num_frames: int,
                         rng: np.random.Generator) -> List[int]:
    """TimeT's uniform sampling: ``num_frames`` distinct indices of
    ``range(num_total)`` (with replacement if ``num_total < num_frames``),
    sorted."""
    if num_total < 1:
        raise ValueError('cannot sample frames of an empty video')
    idx = rng.choice(num_total, num_frames,
                     replace=bool(num_total < num_frames))
    return sorted(int(i) for i in idx)


def timet_miou(pred: np.ndarray, gt: np.ndarray,
               ignore_index: Optional[int] = None) -> float:
    """TimeT's ``PredsmIoU.compute`` (Hungarian, ``involve_bg=True``) on one
    unit: clusters and labels are the values present in ``pred`` / ``gt``
    (any equal shapes, any non-negative ids); unmatched clusters become
    label 0; mean IoU over the labels present in ``gt`` (0 included).
    ``ignore_index`` (not TimeT's default) drops those pixels first."""
    pred = np.asarray(pred, np.int64).reshape(-1)
    gt = np.asarray(gt, np.int64).reshape(-1)
    if pred.shape != gt.shape:
        raise ValueError(f'pred has {pred.size} pixels, gt {gt.size}')
    if ignore_index is not None:
        keep = gt != ignore_index
        pred, gt = pred[keep], gt[keep]
    if gt.size == 0:
        raise ValueError('no scored pixel in this unit')
    p_ids, p = np.unique(pred, return_inverse=True)
    g_ids, g = np.unique(gt, return_inverse=True)
    counts = pair_counts(p, g, len(p_ids), len(g_ids))    # [G, P]
    match = hungarian_iou_match(counts)
    cluster_label = np.where(match >= 0, g_ids[np.maximum(match, 0)], 0)
    scores = []
    for i, c in enumerate(g_ids):                         # unmatched -> 0
        mine = cluster_label == c
        inter = counts[i, mine].sum()
        union = counts[i].sum() + counts[:, mine].sum() - inter
        scores.append(inter / max(union, 1e-8))
    return float(np.mean(scores))


def timet_cluster_maps(features: np.ndarray, eval_size: int = 224,
                       num_clusters: Optional[int] = 10, mode: str = 'frame',
                       masks: Optional[np.ndarray] = None, pca_dim: int = 50,
                       standardize: bool = True, niter: int = 50,
                       nredo: int = 5, seed: int = 1) -> np.ndarray:
    """TimeT's ``cluster_features`` on one batch.

    Args:
        features: float [B, F, C, h, w] (B clips of F frames).
        num_clusters: K, or None for K = #labels present in the unit's
            ``masks`` (int [B, F, ...]; TimeT's ``use_annotations``).
        mode: 'frame' (one K-means per frame), 'clip' (per clip) or
            'dataset' (one for the batch).

    Returns:
        int64 [B, F, eval_size, eval_size] cluster ids.
    """
    if mode not in _MODES:
        raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
    if num_clusters is None and masks is None:
        raise ValueError('num_clusters=None (K from the labels) needs masks')
    features = np.asarray(features, np.float32)
    if features.ndim != 5:
        raise ValueError(f'features must be [B, F, C, h, w], got shape '
                         f'{features.shape}')
    B, Fr, C, h, w = features.shape
    rows = features.transpose(0, 1, 3, 4, 2).reshape(-1, C)
    red = standardize_pca(lambda: [rows], pca_dim, standardize)(rows)
    maps = red.reshape(B, Fr, h, w, -1).transpose(0, 1, 4, 2, 3)
    units = ([(b, slice(f, f + 1)) for b in range(B) for f in range(Fr)]
             if mode == 'frame' else
             [(b, slice(0, Fr)) for b in range(B)] if mode == 'clip' else
             [(slice(0, B), slice(0, Fr))])
    out = np.zeros((B, Fr, eval_size, eval_size), np.int64)
    for b, fs in units:
        k = num_clusters if num_clusters is not None else \
            len(np.unique(np.asarray(masks)[b, fs]))
        unit = maps[b, fs].reshape(-1, *maps.shape[2:])
        labels = faiss_kmeans(upsample_rows(unit, eval_size, np.float64), k,
                              niter, nredo, seed)
        out[b, fs] = labels.reshape(out[b, fs].shape)
    return out


def video_clustering(batches: Iterable[Tuple[np.ndarray, np.ndarray]],
                     mode: str, s: VideoClusteringSettings,
                     ignore_index: Optional[int] = None) -> dict:
    """TimeT's video clustering mIoU (see the module docstring).

    Args:
        batches: (features float [B, F, C, h, w], masks int [B, F, S, S])
            per batch of clips (TimeT: 16 clips of 4 frames, S = 224); the
            masks' size S is the evaluation size.
        mode: 'frame' | 'clip' | 'dataset'. In 'dataset' mode all batches
            are concatenated and clustered and scored once.
        s: the clustering settings (``num_clusters``, ``pca_dim``,
            ``niter``, ``nredo``, ``kmeans_seed``); features are always
            standardised before the PCA (my_utils.py:24-33).

    Returns:
        {'mIoU': float in [0, 1], 'batch_scores': [...], 'units': int,
        'mode': mode}.
    """
    if mode not in _MODES:
        raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
    kw = dict(num_clusters=s.num_clusters, mode=mode, pca_dim=s.pca_dim,
              standardize=True, niter=s.niter, nredo=s.nredo,
              seed=s.kmeans_seed)
    batches = list(batches) if mode == 'dataset' else batches
    if mode == 'dataset':
        batches = [(np.concatenate([f for f, _ in batches]),
                    np.concatenate([m for _, m in batches]))]
    batch_scores, units = [], 0
    for feats, masks in batches:
        masks = np.asarray(masks)
        if masks.shape[:2] != np.shape(feats)[:2] or \
                masks.shape[-1] != masks.shape[-2]:
            raise ValueError(f'masks {masks.shape} must be [B, F, S, S] for '
                             f'features {np.shape(feats)}')
        maps = timet_cluster_maps(feats, masks.shape[-1], masks=masks, **kw)
        if mode == 'frame':
            pairs = [(maps[b, f], masks[b, f]) for b in range(len(maps))
                     for f in range(maps.shape[1])]
        elif mode == 'clip':
            pairs = list(zip(maps, masks))
        else:
            pairs = [(maps, masks)]
        scores = [timet_miou(p, g, ignore_index) for p, g in pairs]
        units += len(scores)
        batch_scores.append(float(np.mean(scores)))
    if not batch_scores:
        raise ValueError('no batch to evaluate')
    return {'mIoU': float(np.mean(batch_scores)),
            'batch_scores': batch_scores, 'units': units, 'mode': mode}


def iter_timet_clips(video_set, num_frames: int = 4, seed: int = 0,
                     eval_size: Optional[int] = 224):
    """Yield (video, frames uint8 [F, H, W, 3], masks int64 [F, S, S]) for
    each video of a :class:`~.paper_data.SegVideoSet` in sorted order (as
    TimeT's loader): ``num_frames`` annotated frames drawn with
    :func:`sample_frame_indices` from one seeded generator; masks resized
    to ``eval_size`` with PIL-style nearest (None keeps them)."""
    rng = np.random.default_rng(seed)
    for v in sorted(video_set.videos):
        idx = sample_frame_indices(len(video_set.frames[v]), num_frames, rng)
        frames, masks = video_set.load(v, idx)
        if eval_size is not None:
            masks = resize_masks(masks, eval_size)
        yield v, frames, masks


def timet_batches(video_set, extract, batch_size: int = 16,
                  num_frames: int = 4, seed: int = 0, eval_size: int = 224):
    """Yield (features float [B, F, C, h, w], masks int64 [B, F, S, S])
    batches of TimeT's loader for :func:`video_clustering`.

    ``extract(frames uint8 [F, H, W, 3]) -> float [F, C, h, w]`` computes
    the frozen features; for the paper protocol resize to 224 x 224
    (bilinear, antialiased as PIL) and normalise with the settings' ``mean``
    / ``std``, e.g.
    ``lambda f: extract_features(vit, f, 224, mean, std)``."""
    feats, masks = [], []
    for _, frames, m in iter_timet_clips(video_set, num_frames, seed,
                                         eval_size):
        feats.append(np.asarray(extract(frames), np.float32))
        masks.append(m)
        if len(feats) == batch_size:
            yield np.stack(feats), np.stack(masks)
            feats, masks = [], []
    if feats:
        yield np.stack(feats), np.stack(masks)


class VideoClustering(Protocol):
    """Per video one clip of ``num_frames`` annotated frames, its frozen
    features clustered per frame (or clip) and matched to the labels;
    metric ``mIoU`` (``mIoU <mode>`` with several modes)."""
    name = 'videoclust'
    Settings = VideoClusteringSettings

    def run(self, vit, info: dict, data: EvalData, progress: bool = True,
            work_dir: Optional[str] = None
            ) -> Tuple[Dict[str, float], List[str]]:
        from tqdm import tqdm
        s = self.settings
        vs = data.load('val')
        mean = tuple(255 * m for m in s.mean)
        std = tuple(255 * x for x in s.std)
        size = resolve_input_size(s.input_size, info)

        def extract(frames):
            return extract_features(vit, frames, size, mean, std)
        batches = timet_batches(vs, extract, batch_size=s.batch_size,
                                num_frames=s.num_frames, seed=s.clip_seed,
                                eval_size=s.eval_size or size)
        total = -(-len(vs) // s.batch_size)
        batches = tqdm(batches, total=total, desc='videoclust: batches',
                       leave=False, disable=not progress)
        modes = (s.mode, ) if isinstance(s.mode, str) else tuple(s.mode)
        if len(modes) > 1:
            batches = list(batches)
        out, notes = {}, []
        for mode in modes:
            r = video_clustering(batches, mode, s)
            out['mIoU' if len(modes) == 1 else f'mIoU {mode}'] = float(
                r['mIoU'])
            notes.append(f'{len(vs)} videos, {r["units"]} {mode} units')
        return out, notes
