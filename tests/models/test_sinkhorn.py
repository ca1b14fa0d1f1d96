"""Sinkhorn-Knopp: SwAV's iterates, POT's balanced plan, fp32, and the
same result over two ranks as on the full matrix in one process."""
import os

import numpy as np
import ot
import pytest
import torch

from mosic_mm.models.utils import sinkhorn_knopp


def _scores(m, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(m, k, generator=g) * 2 - 1  # cosine-like, in [-1, 1]


def _swav_reference(scores, eps, iters):
    """Plain-exp SwAV algorithm in float64 numpy (safe for moderate eps)."""
    q = np.exp(scores.double().numpy() / eps).T  # [K, M]
    k, m = q.shape
    q /= q.sum()
    for _ in range(iters):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= m
    return (q * m).T


def test_rows_sum_to_one_and_match_swav_iterates():
    s = _scores(50, 7)
    for iters in (1, 3, 10):
        q = sinkhorn_knopp(s, epsilon=0.05, num_iters=iters)
        assert q.shape == (50, 7) and q.dtype == torch.float32
        torch.testing.assert_close(q.sum(1), torch.ones(50))
        np.testing.assert_allclose(
            q.numpy(), _swav_reference(s, 0.05, iters), rtol=1e-4, atol=1e-6)


def test_converges_to_pot_balanced_plan():
    m, k, eps = 60, 6, 0.1
    s = _scores(m, k, seed=1)
    q = sinkhorn_knopp(s, epsilon=eps, num_iters=1000)
    plan = ot.sinkhorn(
        np.full(m, 1 / m), np.full(k, 1 / k), -s.double().numpy(), reg=eps,
        method='sinkhorn_log', numItermax=20000, stopThr=1e-13)
    np.testing.assert_allclose(q.numpy(), plan * m, atol=1e-4)
    torch.testing.assert_close(q.sum(0), torch.full((k, ), m / k),
                               atol=1e-3, rtol=0)


def test_small_epsilon_is_finite():
    s = _scores(200, 100, seed=2)
    q = sinkhorn_knopp(s, epsilon=0.01, num_iters=10)
    assert torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(1), torch.ones(200))


def test_half_precision_input_under_autocast_runs_in_fp32():
    s = _scores(40, 8, seed=3).bfloat16()
    expected = sinkhorn_knopp(s.float(), epsilon=0.05, num_iters=10)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        q = sinkhorn_knopp(s, epsilon=0.05, num_iters=10)
    assert q.dtype == torch.float32
    torch.testing.assert_close(q, expected, atol=1e-6, rtol=1e-5)


def test_no_grad():
    s = _scores(10, 4).requires_grad_()
    assert not sinkhorn_knopp(s).requires_grad


SPLITS = ((37, 27), (64, 0), (0, 64))


def _rank_shards(rank, out_dir):
    full = _scores(64, 10, seed=4)
    results = []
    for split in SPLITS:
        start = sum(split[:rank])
        shard = full[start:start + split[rank]]
        results.append(sinkhorn_knopp(shard, epsilon=0.05, num_iters=10))
    torch.save(results, os.path.join(out_dir, f'rank{rank}.pt'))


@pytest.mark.slow
def test_two_ranks_equal_one_process_on_the_full_matrix(tmp_path,
                                                       spawn_gloo):
    spawn_gloo(_rank_shards, tmp_path, timeout_s=60)
    expected = sinkhorn_knopp(_scores(64, 10, seed=4), 0.05, 10)
    per_rank = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    for i, split in enumerate(SPLITS):
        shards = [per_rank[r][i] for r in range(2)]
        assert [s.shape[0] for s in shards] == list(split)
        assert all(torch.isfinite(s).all() for s in shards)
        torch.testing.assert_close(torch.cat(shards), expected, atol=1e-5,
                                   rtol=0)
    # A rank-local Sinkhorn (no all-reduce) would differ on uneven shards.
    local = torch.cat([
        sinkhorn_knopp(_scores(64, 10, seed=4)[:37], 0.05, 10),
        sinkhorn_knopp(_scores(64, 10, seed=4)[37:], 0.05, 10)
    ])
    assert (local - expected).abs().max() > 1e-3


@pytest.mark.parametrize('bad', [dict(num_iters=0), dict(epsilon=0.0)])
def test_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        sinkhorn_knopp(_scores(4, 3), **bad)
