"""In-context (Hummingbird) retrieval segmentation (Balazevic et al. 2023).

A memory bank holds the patch features of labelled training images with
the label histogram of each patch; a query patch takes its k nearest
neighbours (cosine, faiss), weights them with softmax(cos / 0.02), and
predicts the weighted mean of their histograms. The patch predictions are
upsampled bilinearly to the mask resolution and the argmax is scored (mIoU).
Training fractions (1/128 ... 1/1) sub-sample the training images.

:func:`hummingbird_miou` is the fast preset (arrays in, all patches, faiss
flat). The pieces shared with the paper protocol
(:mod:`.hummingbird_paper`): patch label counts / histograms, the soft
label transfer, blocked exact k-NN (any device, fp16 keys), a faiss IVF
index and its recall@k against exact search.
"""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .segmentation_metrics import confusion_matrix, iou_from_confusion

__all__ = ['patch_label_counts', 'patch_label_histograms', 'build_memory',
           'retrieve', 'soft_labels', 'exact_knn', 'IVFIndex', 'knn_recall',
           'hummingbird_miou']


def patch_label_counts(masks: np.ndarray, grid: Tuple[int, int],
                       num_classes: int,
                       ignore_index: Optional[int] = 255) -> np.ndarray:
    """Pixels of each class inside each patch.

    Args:
        masks: int [N, H, W]; H, W multiples of the grid (h, w); ids in
            [0, num_classes) apart from ``ignore_index`` (not counted;
            None counts every pixel).
        grid: (h, w) token grid.

    Returns:
        [N, h, w, num_classes] counts, uint8 when a patch has at most 255
        pixels, else int32.
    """
    masks = np.asarray(masks, np.int64)
    N, H, W = masks.shape
    h, w = grid
    if H % h or W % w:
        raise ValueError(f'mask size {(H, W)} is not a multiple of the grid '
                         f'{grid}')
    ph, pw = H // h, W // w
    valid = np.ones(masks.shape, bool) if ignore_index is None else \
        masks != ignore_index
    bad = valid & ((masks < 0) | (masks >= num_classes))
    if bad.any():
        raise ValueError(f'mask ids must be in [0, {num_classes}) or the '
                         f'ignore index {ignore_index}, got '
                         f'{np.unique(masks[bad])[:5].tolist()}')
    cell = (np.arange(N)[:, None, None] * h
            + (np.arange(H) // ph)[None, :, None]) * w \
        + (np.arange(W) // pw)[None, None, :]
    flat = cell[valid] * num_classes + masks[valid]
    counts = np.bincount(flat, minlength=N * h * w * num_classes)
    dtype = np.uint8 if ph * pw <= 255 else np.int32
    return counts.reshape(N, h, w, num_classes).astype(dtype)


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
    cells = patch_label_counts(masks, grid, num_classes,
                               ignore_index).astype(np.float32)
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


def soft_labels(sims: torch.Tensor, values: torch.Tensor,
                temperature: float = 0.02) -> torch.Tensor:
    """sims [Q, k] (cosine of each query's k neighbours), values [Q, k, K]
    (their label distributions) -> [Q, K] = sum_j softmax(sims / T)_j *
    values_j."""
    weights = torch.softmax(sims.float() / temperature, dim=1)
    return torch.einsum('qk,qkc->qc', weights, values.float())


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
    return soft_labels(torch.from_numpy(sims),
                       torch.from_numpy(values[idx]), temperature).numpy()


@torch.no_grad()
def exact_knn(queries: torch.Tensor, keys: torch.Tensor, k: int, *,
              query_block: int = 4096, block_elems: int = 1 << 27,
              progress: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Exact inner-product top-k, in blocks (any device, any float dtype).

    Key blocks are moved to the queries' device once each (the keys may
    stay on the CPU, e.g. an fp16 memory larger than the GPU); similarities
    are computed in float32 on the CPU and in the queries' dtype elsewhere
    (fp16 matmul with fp32 accumulation on CUDA). At most ``block_elems``
    similarities exist at a time.

    Args:
        queries: [Q, C]; keys: [M, C].

    Returns:
        (sims float32 [Q, k'], idx int64 [Q, k']) in descending similarity,
        on the queries' device, k' = min(k, M).
    """
    dev = queries.device
    Q, M = len(queries), len(keys)
    k = min(int(k), M)
    dtype = torch.float32 if dev.type == 'cpu' else queries.dtype
    q = queries.to(dtype)
    qb = max(1, min(Q, query_block))
    kb = max(k, min(M, block_elems // qb))
    best_s = torch.full((Q, k), float('-inf'), device=dev)
    best_i = torch.zeros((Q, k), dtype=torch.long, device=dev)
    starts = range(0, M, kb)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc='exact search (key blocks)', unit='block')
    for a in starts:
        block = keys[a:a + kb].to(dev, dtype, non_blocking=True)
        kk = min(k, len(block))
        for s in range(0, Q, qb):
            top_s, top_i = (q[s:s + qb] @ block.T).topk(kk, dim=1)
            top_s = top_s.float()
            cat_s = torch.cat([best_s[s:s + qb], top_s], 1)
            cat_i = torch.cat([best_i[s:s + qb], top_i + a], 1)
            best_s[s:s + qb], pos = cat_s.topk(k, dim=1)
            best_i[s:s + qb] = cat_i.gather(1, pos)
    return best_s, best_i


class IVFIndex:
    """Approximate inner-product search with a faiss inverted file
    (``IndexIVFScalarQuantizer``, fp16 codes: 2 bytes per dimension), for a
    memory whose exact search does not fit the time budget. Keys are added
    in chunks (never a full float32 copy); on a faiss build with GPU
    support and ``gpu=True`` the index lives on GPU 0.

    Args:
        dim: key dimension.
        nlist: number of inverted lists (coarse centroids).
        nprobe: lists visited per query (recall / speed trade-off; measure
            it with :func:`knn_recall`).
    """

    def __init__(self, dim: int, nlist: int, nprobe: int = 32,
                 gpu: bool = False):
        import faiss
        self._faiss = faiss
        self.quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFScalarQuantizer(
            self.quantizer, dim, int(nlist), faiss.ScalarQuantizer.QT_fp16,
            faiss.METRIC_INNER_PRODUCT)
        self.index.nprobe = int(nprobe)
        if gpu and hasattr(faiss, 'StandardGpuResources'):
            self._res = faiss.StandardGpuResources()
            self.index = faiss.index_cpu_to_gpu(self._res, 0, self.index)

    @classmethod
    def build(cls, keys: torch.Tensor, nlist: Optional[int] = None,
              nprobe: int = 32, train_size: Optional[int] = None,
              seed: int = 0, chunk: int = 1 << 18,
              gpu: bool = False) -> 'IVFIndex':
        """Train on a random subset of the keys [M, C] (default 64 per
        list) and add them all; nlist defaults to 4 sqrt(M) (faiss' rule of
        thumb)."""
        M, C = keys.shape
        nlist = nlist or max(1, min(M // 39, int(4 * np.sqrt(M))))
        ind = cls(C, nlist, nprobe, gpu)
        n_train = min(M, train_size or 64 * nlist)
        pick = np.sort(np.random.default_rng(seed).choice(M, n_train,
                                                          replace=False))
        ind.index.train(_f32(keys[torch.from_numpy(pick)]))
        for a in range(0, M, chunk):
            ind.index.add(_f32(keys[a:a + chunk]))
        return ind

    def search(self, queries: torch.Tensor, k: int,
               chunk: int = 1 << 16) -> Tuple[torch.Tensor, torch.Tensor]:
        """queries [Q, C] -> (sims float32 [Q, k], idx int64 [Q, k]) on the
        queries' device; a missing neighbour (a list too short) has index
        -1 and similarity -inf."""
        out_s, out_i = [], []
        for a in range(0, len(queries), chunk):
            s, i = self.index.search(_f32(queries[a:a + chunk]), int(k))
            s[i < 0] = -np.inf
            out_s.append(torch.from_numpy(s))
            out_i.append(torch.from_numpy(i))
        dev = queries.device
        return torch.cat(out_s).to(dev), torch.cat(out_i).to(dev)


def _f32(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().float().cpu().numpy())


def knn_recall(approx_idx: torch.Tensor, exact_idx: torch.Tensor) -> float:
    """recall@k: mean over queries of |approx top-k & exact top-k| / k
    (both int [Q, k])."""
    a = torch.as_tensor(approx_idx).cpu()
    e = torch.as_tensor(exact_idx).cpu()
    if a.shape != e.shape:
        raise ValueError(f'shapes differ: {tuple(a.shape)} vs '
                         f'{tuple(e.shape)}')
    hits = (a.unsqueeze(2) == e.unsqueeze(1)).any(2) & (a >= 0)
    return float(hits.float().mean())


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
