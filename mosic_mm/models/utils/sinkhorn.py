"""Sinkhorn-Knopp equipartition of samples over prototypes, global over ranks."""
import math

import torch
from mmengine import dist
from torch import Tensor


def _global_logsumexp_over_samples(log_q: Tensor) -> Tensor:
    """``log sum_m exp(log_q[m, k])`` over the rows of every rank -> ``[K]``.

    Max-shifted: all-reduce MAX of the per-prototype maxima, then all-reduce
    SUM of the shifted exponentials. Both collectives run on every rank (a
    rank holding 0 rows contributes ``-inf`` / ``0``).
    """
    num_prototypes = log_q.shape[1]
    if log_q.shape[0] > 0:
        shift = log_q.amax(dim=0)
    else:
        shift = log_q.new_full((num_prototypes, ), float('-inf'))
    dist.all_reduce(shift, op='max')
    mass = torch.exp(log_q - shift).sum(dim=0)
    dist.all_reduce(mass, op='sum')
    return shift + torch.log(mass)


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor,
                   epsilon: float = 0.05,
                   num_iters: int = 10) -> Tensor:
    """Soft assignments with equal prototype usage (SwAV Sinkhorn-Knopp).

    With ``Q = exp(scores / epsilon)^T`` (``K x M``) normalised to mass 1,
    each iteration rescales every prototype row to mass ``1/K`` and then
    every sample column to mass ``1/M``; the result is ``M * Q^T``, so each
    row sums to 1. Computed in the log domain, in fp32 with autocast off.

    When ``torch.distributed`` is initialised with more than one rank, each
    rank passes its own rows (any number, 0 included), ``M`` is the sum over
    ranks and the prototype marginals are all-reduced on every iteration, so
    the shards of the result equal the single-process result on the
    concatenated scores. Every rank must call it with the same ``epsilon``,
    ``num_iters`` and ``K``.

    Args:
        scores (Tensor): ``[M, K]`` sample-prototype similarities (any float
            dtype).
        epsilon (float): Entropic regularisation; smaller is sharper.
        num_iters (int): Sinkhorn iterations, at least 1.

    Returns:
        Tensor: ``[M, K]`` fp32 assignments, rows summing to 1.
    """
    if scores.dim() != 2:
        raise ValueError(f'scores must be [M, K], got {tuple(scores.shape)}')
    if num_iters < 1:
        raise ValueError(f'num_iters must be >= 1, got {num_iters}')
    if epsilon <= 0:
        raise ValueError(f'epsilon must be > 0, got {epsilon}')

    with torch.autocast(device_type=scores.device.type, enabled=False):
        num_prototypes = scores.shape[1]
        num_samples = torch.tensor([scores.shape[0]],
                                   dtype=torch.float64,
                                   device=scores.device)
        dist.all_reduce(num_samples, op='sum')
        num_samples = num_samples.item()
        log_q = scores.float() / epsilon  # log Q^T, [M, K]
        if num_samples == 0:
            return log_q.exp()  # every rank is empty: nothing to balance
        log_k, log_m = math.log(num_prototypes), math.log(num_samples)

        # The initial normalisation to total mass 1 is a global constant
        # factor that the first prototype rescaling cancels, so it is skipped.
        for _ in range(num_iters):
            log_q = log_q - (_global_logsumexp_over_samples(log_q) + log_k)
            log_q = log_q - (log_q.logsumexp(dim=1, keepdim=True) + log_m)
        return torch.exp(log_q + log_m)
