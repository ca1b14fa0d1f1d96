"""Nearest-neighbour retrieval segmentation (mosic_mm.evaluation.metrics
.retrieval, the scoring half of Hummingbird): patch label counts, exact and
IVF search, and the retrieval counts against a plain numpy reference."""
import itertools

import faiss
import numpy as np
import pytest
import torch

from mosic_mm.evaluation.metrics.predsmiou import predsmiou_from_counts
from mosic_mm.evaluation.metrics.retrieval import (
    IVFIndex,
    exact_knn,
    knn_recall,
    patch_label_counts,
    retrieval_counts,
)


def test_patch_label_counts():
    m = np.array([[[0, 1, 2, 2], [1, 1, 2, 255]]])  # [1, 2, 4], grid (1, 2)
    c = patch_label_counts(m, (1, 2), 3)            # 255 not counted
    np.testing.assert_array_equal(c[0, 0], [[1, 3, 0], [0, 0, 3]])
    c = patch_label_counts(np.where(m == 255, 0, m), (1, 2), 3, None)
    np.testing.assert_array_equal(c[0, 0, 1], [1, 0, 3])
    with pytest.raises(ValueError, match='mask ids'):
        patch_label_counts(m, (1, 2), 3, None)


def test_retrieval_of_separable_keys():
    """Retrieval from a memory of separable patch keys: exact patch labels
    (bilinear upsampling only rounds corners), also from a quarter of the
    memory; shuffled memory labels lose them."""
    rng = np.random.default_rng(0)
    C = 4
    centres = rng.normal(size=(C, 8))

    def make(n):
        labels = rng.integers(0, C, (n, 4, 4))
        f = centres[labels] + rng.normal(size=(n, 4, 4, 8)) * 0.05
        return (torch.from_numpy(f.reshape(-1, 8)).float(),
                np.kron(labels, np.ones((3, 3), int)))

    def miou(keys, masks, val_q, val_m):
        counts = patch_label_counts(masks, (4, 4), C, None).reshape(-1, C)
        keys = torch.nn.functional.normalize(keys, dim=1)
        total = retrieval_counts(val_q, keys, torch.from_numpy(counts),
                                 list(val_m), (4, 4), C, 255, k=5)
        return predsmiou_from_counts(total)[0]

    tr_f, tr_m = make(8)
    va_f, va_m = make(3)
    assert miou(tr_f, tr_m, va_f, va_m) > 0.95
    assert miou(tr_f[:2 * 16], tr_m[:2], va_f, va_m) > 0.95   # 1/4
    shuffled = rng.permutation(tr_m.reshape(-1)).reshape(tr_m.shape)
    assert miou(tr_f, shuffled, va_f, va_m) < 0.6


def test_blocked_exact_search_equals_faiss_flat():
    g = torch.Generator().manual_seed(0)
    keys = torch.nn.functional.normalize(torch.randn(3000, 16, generator=g),
                                         dim=1)
    q = torch.randn(70, 16, generator=g)
    index = faiss.IndexFlatIP(16)
    index.add(keys.numpy())
    ref_s, ref_i = index.search(q.numpy(), 30)
    # many key blocks (3000 / 90) and query blocks (70 / 8)
    s, i = exact_knn(q, keys, 30, query_block=8, block_elems=8 * 90)
    np.testing.assert_array_equal(i.numpy(), ref_i)
    np.testing.assert_allclose(s.numpy(), ref_s, atol=1e-5)
    # fp16 keys: same neighbours up to near-ties
    s16, i16 = exact_knn(q, keys.half(), 30, query_block=8,
                         block_elems=8 * 90)
    assert knn_recall(i16, torch.from_numpy(ref_i)) > 0.97
    assert exact_knn(q, keys[:5], 30)[1].shape == (70, 5)


def test_ivf_recall_is_measured():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    keys = torch.nn.functional.normalize(torch.from_numpy(
        centres[rng.integers(0, 20, 4000)] + rng.normal(
            size=(4000, 16)) * 0.3).float(), dim=1)
    q = torch.from_numpy(centres[rng.integers(0, 20, 200)] + rng.normal(
        size=(200, 16)) * 0.3).float()
    exact = exact_knn(q, keys, 10)[1]
    full = IVFIndex.build(keys, nlist=16, nprobe=16)
    assert knn_recall(full.search(q, 10)[1], exact) > 0.99
    one = IVFIndex.build(keys, nlist=16, nprobe=1)
    approx = one.search(q, 10)[1]
    r = knn_recall(approx, exact)
    manual = np.mean([len(set(a.tolist()) & set(e.tolist())) / 10
                      for a, e in zip(approx, exact)])
    assert r == pytest.approx(manual) and r < 0.99


def _np_bilinear(x, size):
    """[K, h, w] -> [K, size, size], align_corners=False, edge clamped."""
    K, h, w = x.shape
    out = np.zeros((K, size, size))
    for oy in range(size):
        sy = min(max((oy + 0.5) * h / size - 0.5, 0), h - 1)
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for ox in range(size):
            sx = min(max((ox + 0.5) * w / size - 0.5, 0), w - 1)
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, w - 1), sx - x0
            out[:, oy, ox] = ((1 - fy) * ((1 - fx) * x[:, y0, x0]
                                          + fx * x[:, y0, x1])
                              + fy * ((1 - fx) * x[:, y1, x0]
                                      + fx * x[:, y1, x1]))
    return out


def _reference_miou(queries, keys, counts, masks, grid, K, ignore, k, T):
    """Plain numpy: brute-force cosine kNN, softmax(cos/T) label transfer,
    bilinear upsampling, argmax, ignore dropped, Hungarian by trying every
    permutation, IoU mean over all classes."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    kk = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    hist = counts / counts.sum(1, keepdims=True)
    cos = q @ kk.T
    preds = []
    for n in range(len(masks)):
        probs = np.zeros((grid[0] * grid[1], K))
        for p in range(grid[0] * grid[1]):
            row = cos[n * grid[0] * grid[1] + p]
            nn = np.argsort(-row)[:k]
            w = np.exp(row[nn] / T - (row[nn] / T).max())
            probs[p] = (w / w.sum()) @ hist[nn]
        up = _np_bilinear(probs.T.reshape(K, *grid), masks[n].shape[0])
        preds.append(up.argmax(0))
    pred = np.concatenate([p.ravel() for p in preds])
    gt = np.concatenate([m.ravel() for m in masks])
    ok = gt != ignore
    pred, gt = pred[ok], gt[ok]
    best = -1
    for perm in itertools.permutations(range(K)):
        mapped = np.array(perm)[pred]
        ious = [((mapped == c) & (gt == c)).sum()
                / max(((mapped == c) | (gt == c)).sum(), 1e-8)
                for c in range(K)]
        best = max(best, np.mean(ious))
    return best


def test_retrieval_counts_equal_independent_reference():
    rng = np.random.default_rng(3)
    K, grid, size, C = 3, (3, 3), 8, 6
    centres = rng.normal(size=(K, C))
    lab = rng.integers(0, K, 60)
    keys = centres[lab] + rng.normal(size=(60, C)) * 0.6
    counts = np.zeros((60, K), np.uint8)
    counts[np.arange(60), lab] = 150              # mixed patches
    counts[np.arange(60), (lab + 1) % K] = rng.integers(0, 100, 60)
    qlab = rng.integers(0, K, (2, 3, 3))
    queries = centres[qlab.ravel()] + rng.normal(size=(18, C)) * 0.6
    # gt with labels permuted (Hungarian undoes it) and ignored pixels
    perm = np.array([2, 0, 1])
    masks = [np.kron(perm[q], np.ones((3, 3), int))[:size, :size]
             for q in qlab]
    masks = [np.pad(m, ((0, size - m.shape[0]), (0, size - m.shape[1])),
                    mode='edge') for m in masks]
    masks[0][0, :] = 255
    for k, T in ((5, 0.02), (30, 0.5)):
        total = retrieval_counts(
            torch.from_numpy(queries).float(),
            torch.nn.functional.normalize(torch.from_numpy(keys).float(),
                                          dim=1),
            torch.from_numpy(counts), masks, grid, K, 255, k=k,
            temperature=T)
        ours = predsmiou_from_counts(total)[0]
        ref = _reference_miou(queries, keys, counts.astype(float), masks,
                              grid, K, 255, k, T)
        assert ours == pytest.approx(ref, abs=1e-12)
        assert total.sum() == sum((m != 255).sum() for m in masks)
