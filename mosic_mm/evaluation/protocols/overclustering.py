"""Overclustering of frozen patch features (docs/evaluation.md) as the
official MoSiC code runs it (utils/clustering.py + evaluation.py
``overclustering``; Leopart instead clusters the tokens and upsamples the
cluster maps, nearest).

Patch features -> bilinear upsampling to the mask size -> standardisation
+ faiss PCA to 50 dims -> faiss K-means. With K = #classes the clusters are
matched one-to-one to classes (Hungarian on IoU); with K > #classes
many-to-one (by precision); ``PredsmIoU`` over all classes.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..data.files import resize_masks
from ..features import extract_features
from ..metrics.clustering import faiss_kmeans, standardize_pca, upsample_rows
from ..metrics.predsmiou import predsmiou
from ..protocol import (
    EvalData,
    Protocol,
    ProtocolSettings,
    resolve_input_size,
    setting,
)

__all__ = ['OverclusteringSettings', 'Overclustering', 'overcluster',
           'OFFICIAL_KMEANS_CENTROIDS']

# The official evaluation (MoSiC evaluation/evaluation.py ``overclustering``)
# reports "K = 100 / 300 / 500" but runs faiss K-means with 50 / 100 / 200
# centroids and scores them with PredsmIoU(100 / 300 / 500, C); K = C (21 on
# VOC) is clustered with C centroids. ``nominal_k=True`` clusters with the
# reported K instead.
OFFICIAL_KMEANS_CENTROIDS = {100: 50, 300: 100, 500: 200}

_MOSIC = 'SMSD75/MoSiC@fed4637'
_FAISS = 'facebookresearch/faiss@v1.9.0 (the MoSiC environment\'s)'


@dataclass(frozen=True)
class OverclusteringSettings(ProtocolSettings):
    """The overclustering protocol (paper values; MoSiC's own
    ``main_overclustering`` path)."""
    input_size: Optional[int] = setting(
        224, f'{_MOSIC} evaluation/evaluation.py:889 (None: the backbone\'s '
        'img_size)', size=True)
    mask_size: Optional[int] = setting(
        224, f'{_MOSIC} evaluation/evaluation.py:928 (None: the input '
        'size)', size=True)
    num_images: Optional[int] = setting(
        500, f'{_MOSIC} evaluation/evaluation.py:433 (B = 500 of a shuffled '
        'loader there; the first 500 here; None: all)', size=True)
    ks: Optional[Tuple[int, ...]] = setting(
        (21, 100, 300, 500), f'{_MOSIC} evaluation/evaluation.py:512-514 '
        '(None: C and 4C for C classes)')
    pca_dim: int = setting(50, f'{_MOSIC} evaluation/evaluation.py:394')
    niter: int = setting(20, f'{_MOSIC} utils/clustering.py:29')
    seed: int = setting(1234, f'{_FAISS} faiss/Clustering.h:43 (default)')
    mean: Optional[Tuple[float, ...]] = setting(
        (0.485, 0.456, 0.406), f'{_MOSIC} evaluation/evaluation.py:893 '
        '(None with std None: the backbone\'s own)')
    std: Optional[Tuple[float, ...]] = setting(
        (0.229, 0.224, 0.255), f'{_MOSIC} evaluation/evaluation.py:893 '
        '(blue 0.255 as there)')
    nominal_k: bool = setting(
        False, f'{_MOSIC} evaluation/evaluation.py:395-398 (50 / 100 / 200 '
        'centroids for K = 100 / 300 / 500)')
    pca_subsample: str = setting(
        'faiss', f'{_MOSIC} utils/clustering.py:51 (PCAMatrix.train on every '
        "row; 'numpy': rows drawn first with default_rng(seed))")
    pca_max_points_per_dim: int = setting(
        1000, f'{_FAISS} faiss/VectorTransform.cpp:368')

    FAST = dict(input_size=56, mask_size=56, num_images=None)


def overcluster(features: np.ndarray, masks: np.ndarray, num_classes: int,
                s: 'OverclusteringSettings', ignore_index: int = 255,
                chunk: int = 8) -> Dict[int, Dict[str, float]]:
    """Overclustering as the official MoSiC code runs it (not Leopart's:
    there the tokens are clustered and the cluster maps upsampled).

    Patch features are bilinearly upsampled to the mask size, standardised
    (per-dimension mean / std over all pixels, as the official
    StandardScaler, utils/clustering.py:40-51),
    projected with a faiss PCA to ``s.pca_dim`` dims and clustered with
    faiss K-means (``s.niter`` iterations, faiss's default
    256-points-per-centroid subsampling). Only pixels whose mask is not
    ``ignore_index`` are scored with :func:`predsmiou`: K == num_classes by
    Hungarian matching on IoU, larger K many-to-one by precision.

    Args:
        features: float [N, C, h, w]; masks: int [N, S, S'].
        s: the settings; ``s.ks`` None clusters K = C and 4C.

    Returns:
        {K: {'mIoU': ..., 'centroids': n}} (mIoU in [0, 1]).
    """
    ks = s.ks or (num_classes, 4 * num_classes)
    features = np.asarray(features, np.float32)
    masks = np.asarray(masks, np.int64)
    N, C = features.shape[:2]
    if len(masks) != N:
        raise ValueError(f'{N} feature maps but {len(masks)} masks')
    size = masks.shape[1:]

    def chunks():
        for i in range(0, N, chunk):
            yield upsample_rows(features[i:i + chunk], size)

    if s.pca_subsample not in ('faiss', 'numpy'):
        raise ValueError(f"pca_subsample must be 'faiss' or 'numpy', got "
                         f'{s.pca_subsample!r}')
    project = standardize_pca(
        chunks, s.pca_dim, True, seed=s.seed,
        max_train_rows=(s.pca_max_points_per_dim * C
                        if s.pca_subsample == 'numpy' else None),
        faiss_max_points_per_d=s.pca_max_points_per_dim)
    x = np.concatenate([project(rows) for rows in chunks()])
    valid = masks.reshape(-1) != ignore_index
    gt = masks.reshape(-1)[valid]
    out = {}
    for k in ks:
        if k < num_classes:
            raise ValueError(f'K={k} is below the number of classes '
                             f'{num_classes}')
        n_cent = k if s.nominal_k else OFFICIAL_KMEANS_CENTROIDS.get(k, k)
        labels = faiss_kmeans(x, n_cent, s.niter, seed=s.seed)
        miou = predsmiou(labels[valid], gt, k, num_classes,
                         many_to_one=k > num_classes)[0]
        out[int(k)] = dict(mIoU=miou, centroids=int(n_cent))
    return out


class Overclustering(Protocol):
    """Frozen patch features of the ``val`` images clustered (K-means) and
    matched to the classes; metrics ``mIoU K=<k>``."""
    name = 'overcluster'
    Settings = OverclusteringSettings

    def run(self, vit, info: dict, data: EvalData, progress: bool = True,
            work_dir: Optional[str] = None
            ) -> Tuple[Dict[str, float], List[str]]:
        from tqdm import tqdm
        s = self.settings
        val = data.load('val')
        n = len(val) if s.num_images is None else min(s.num_images,
                                                      len(val))
        size = resolve_input_size(s.input_size, info)
        imgs, masks = [], []
        for i in tqdm(range(n), desc='overcluster: images', unit='img',
                      leave=False, disable=not progress):
            img, m = val.load(i)
            imgs.append(img)
            masks.append(resize_masks(m[None], s.mask_size or size)[0])
        if s.std is None:
            mean, std = info['mean'], info['std']
        else:
            mean = tuple(255 * m for m in s.mean)
            std = tuple(255 * x for x in s.std)
        feats = extract_features(vit, imgs, size, mean, std,
                                 progress=progress, distributed=True)
        res = overcluster(feats, np.stack(masks), val.num_classes, s,
                          ignore_index=val.ignore_index)
        return ({f'mIoU K={k}': r['mIoU'] for k, r in res.items()},
                [f'{n} val images'])
