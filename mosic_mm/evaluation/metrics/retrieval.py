"""In-context (Hummingbird) retrieval segmentation (Balazevic et al. 2023):
the retrieval half of :mod:`.hummingbird_paper`.

A memory holds patch keys (unit rows) with the pixel counts of each class
in the patch; a query patch takes its k nearest keys (inner product; exact
blocked search or a faiss IVF index with its recall@k measured), weights
their label distributions with softmax(cos / T), and the patch predictions
are upsampled bilinearly to the scored mask size, argmax, and counted
against the ground truth.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .predsmiou import pair_counts

__all__ = ['patch_label_counts', 'soft_labels', 'exact_knn', 'IVFIndex',
           'knn_recall', 'predict_label_maps', 'retrieval_counts']


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


def soft_labels(sims: torch.Tensor, values: torch.Tensor,
                temperature: float = 0.02) -> torch.Tensor:
    """sims [Q, k] (cosine of each query's k neighbours), values [Q, k, K]
    (their label distributions) -> [Q, K] = sum_j softmax(sims / T)_j *
    values_j."""
    weights = torch.softmax(sims.float() / temperature, dim=1)
    return torch.einsum('qk,qkc->qc', weights, values.float())


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


def predict_label_maps(sims: torch.Tensor, idx: torch.Tensor,
                       counts: torch.Tensor, grid: Tuple[int, int],
                       size: int, temperature: float = 0.02) -> torch.Tensor:
    """Label maps of query images from their neighbours.

    Args:
        sims, idx: [N*h*w, k] neighbour similarities / memory rows of the
            patches of N images (row-major grid).
        counts: [M, K] memory pixel counts per class (each row's sum is the
            patch's pixel count).
        grid: (h, w).

    Returns:
        int64 [N, size, size]: argmax of the softmax(sims / T)-weighted
        label distributions, bilinearly upsampled (align_corners=False).
    """
    h, w = grid
    vals = counts[idx.cpu()].float()                      # [Q, k, K]
    vals = vals / vals.sum(-1, keepdim=True).clamp_min(1)
    probs = soft_labels(sims.cpu(), vals, temperature)    # [Q, K]
    probs = probs.view(-1, h, w, probs.shape[-1]).permute(0, 3, 1, 2)
    probs = F.interpolate(probs, size=(size, size), mode='bilinear',
                          align_corners=False)
    return probs.argmax(1)


def retrieval_counts(queries: torch.Tensor, keys: torch.Tensor,
                     counts: torch.Tensor, val_masks: Sequence[np.ndarray],
                     grid: Tuple[int, int], num_classes: int,
                     ignore_index: int, *, k: int = 30,
                     temperature: float = 0.02, index=None,
                     images_per_block: int = 16, progress: bool = False,
                     normalized: bool = False,
                     search_kwargs: Optional[dict] = None) -> np.ndarray:
    """[K, K] (gt, predicted) pixel counts of the val images whose patch
    tokens are ``queries`` [N*h*w, C] (N = len(val_masks), masks already at
    the scoring size; ``normalized``: rows already unit, else normalised in
    chunks into a copy). ``index``: None = exact search, or an object with
    ``search(queries, k)`` (e.g. :class:`IVFIndex`)."""
    q = queries
    if not normalized:
        q = torch.empty_like(queries)
        for a in range(0, len(q), 1 << 16):
            q[a:a + (1 << 16)] = F.normalize(
                queries[a:a + (1 << 16)].float(), dim=1).to(q.dtype)
    if index is None:
        sims, idx = exact_knn(q, keys, k, progress=progress,
                              **(search_kwargs or {}))
    else:
        sims, idx = index.search(q, k)
        if (idx < 0).any():
            raise RuntimeError(f'{int((idx < 0).any(1).sum())} queries got '
                               f'fewer than {k} neighbours from the index; '
                               'raise nprobe')
    hw = grid[0] * grid[1]
    size = val_masks[0].shape[-1]
    total = np.zeros((num_classes, num_classes), np.int64)
    for a in range(0, len(val_masks), images_per_block):
        b = min(len(val_masks), a + images_per_block)
        pred = predict_label_maps(sims[a * hw:b * hw], idx[a * hw:b * hw],
                                  counts, grid, size, temperature)
        for j in range(a, b):
            total += pair_counts(pred[j - a].numpy(), val_masks[j],
                                 num_classes, num_classes, ignore_index)
    return total
