"""In-context (Hummingbird) retrieval segmentation (Balazevic et al. 2023).

A memory bank holds the patch features of labelled training images with
the label histogram of each patch; a query patch takes its k nearest
neighbours (cosine, faiss), weights them with softmax(cos / 0.02), and
predicts the weighted mean of their histograms. The patch predictions are
upsampled bilinearly to the mask resolution and the argmax is scored (mIoU).
Training fractions (1/128 ... 1/1) sub-sample the training images.
"""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .segmentation_metrics import confusion_matrix, iou_from_confusion

__all__ = ['patch_label_histograms', 'build_memory', 'retrieve',
           'hummingbird_miou']


def patch_label_histograms(masks: np.ndarray, grid: Tuple[int, int],
                           num_classes: int,
                           ignore_index: int = 255) -> np.ndarray:
    """Class distribution inside each patch.

    Args:
        masks: int [N, H, W]; H, W multiples of the grid (h, w).
        grid: (h, w) token grid.

    Returns:
        float32 [N, h, w, num_classes]: fractions of the labelled pixels of
        each patch (all zero for a patch with only ignored pixels).
    """
    masks = np.asarray(masks, np.int64)
    N, H, W = masks.shape
    h, w = grid
    if H % h or W % w:
        raise ValueError(f'mask size {(H, W)} is not a multiple of the grid '
                         f'{grid}')
    onehot = np.zeros((N, H, W, num_classes), np.float32)
    valid = masks != ignore_index
    n, y, x = np.nonzero(valid)
    onehot[n, y, x, masks[valid]] = 1.0
    cells = onehot.reshape(N, h, H // h, w, W // w, num_classes).sum((2, 4))
    total = cells.sum(-1, keepdims=True)
    return np.where(total > 0, cells / np.maximum(total, 1), 0.0).astype(
        np.float32)


def build_memory(features: np.ndarray, histograms: np.ndarray,
                 memory_size: Optional[int] = None,
                 seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """features [N, C, h, w] + histograms [N, h, w, K] -> memory keys
    (L2-normalised) float32 [M, C] and values [M, K]; patches without any
    labelled pixel are dropped; ``memory_size`` keeps a random subset."""
    features = np.asarray(features, np.float32)
    C = features.shape[1]
    keys = features.transpose(0, 2, 3, 1).reshape(-1, C)
    values = histograms.reshape(len(keys), -1)
    keep = values.sum(1) > 0
    keys, values = keys[keep], values[keep]
    if memory_size is not None and len(keys) > memory_size:
        pick = np.random.default_rng(seed).choice(len(keys), memory_size,
                                                  replace=False)
        keys, values = keys[pick], values[pick]
    keys = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True),
                             1e-12)
    return np.ascontiguousarray(keys, np.float32), values


def retrieve(queries: np.ndarray, keys: np.ndarray, values: np.ndarray,
             k: int = 30, temperature: float = 0.02) -> np.ndarray:
    """queries [Q, C], keys [M, C] (unit rows), values [M, K] -> predicted
    label distributions [Q, K] = sum_j softmax(cos_j / T) * values_j over
    the k nearest keys."""
    import faiss
    q = np.asarray(queries, np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    k = min(int(k), len(keys))
    sims, idx = index.search(np.ascontiguousarray(q), k)
    weights = torch.softmax(torch.from_numpy(sims) / temperature, dim=1)
    return torch.einsum('qk,qkc->qc', weights,
                        torch.from_numpy(values[idx])).numpy()


def hummingbird_miou(train_features: np.ndarray, train_masks: np.ndarray,
                     val_features: np.ndarray, val_masks: np.ndarray,
                     num_classes: int, k: int = 30,
                     temperature: float = 0.02, fraction: float = 1.0,
                     memory_size: Optional[int] = None, seed: int = 0,
                     ignore_index: int = 255) -> float:
    """mIoU in [0, 1] of retrieval segmentation.

    Args:
        train_features / val_features: float [N, C, h, w].
        train_masks / val_masks: int [N, H, W] (H, W multiples of h, w).
        fraction: share of training images in the memory (at least one).
    """
    n = len(train_features)
    num = max(1, int(round(n * fraction)))
    pick = np.sort(np.random.default_rng(seed).choice(n, num, replace=False))
    grid = train_features.shape[2:]
    hist = patch_label_histograms(train_masks[pick], grid, num_classes,
                                  ignore_index)
    keys, values = build_memory(train_features[pick], hist, memory_size,
                                seed)
    N, C, h, w = val_features.shape
    q = np.asarray(val_features, np.float32).transpose(0, 2, 3, 1).reshape(
        -1, C)
    probs = retrieve(q, keys, values, k, temperature)
    probs = torch.from_numpy(probs).view(N, h, w, -1).permute(0, 3, 1, 2)
    probs = F.interpolate(probs, size=tuple(val_masks.shape[1:]),
                          mode='bilinear', align_corners=False)
    pred = probs.argmax(1).numpy()
    conf = confusion_matrix(pred, val_masks, num_classes, num_classes,
                            ignore_index)
    return iou_from_confusion(conf)[0]
