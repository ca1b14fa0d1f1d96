"""MoSiC clustering head: projector, prototypes, Sinkhorn targets, loss."""
import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor
from torch.profiler import record_function

from mosic_mm.registry import MODELS

from ..utils import sinkhorn_knopp


@MODELS.register_module()
class SinkhornClusteringHead(BaseModule):
    """Point features -> prototype scores -> clustering loss (MoSiC).

    Scores are cosines ``s = <g(f)/|g(f)|, c_k/|c_k|>`` between the projected
    feature (MLP ``g``: Linear-GELU-...-Linear) and the K prototypes ``c``.
    The teacher scores of all ``B*T*N`` tracked points go through
    Sinkhorn-Knopp together (and over all ranks) and their argmax is the
    target ``y``; the student's frame-0 score of each track predicts it in
    every frame where the point is visible:

    .. math::
        L = \\frac{1}{BTN} \\sum_{b,t,n} v_{btn}\\,
            \\mathrm{CE}(s^{student}_{bn} / \\tau,\\; y_{btn})

    The denominator counts invisible points too (reference behaviour).

    Args:
        in_channels (int): Feature width ``C``.
        hidden_channels (Sequence[int]): Hidden widths of the projector.
        out_channels (int): Projection / prototype width ``D``.
        num_prototypes (int): Number of clusters ``K``.
        epsilon (float): Sinkhorn entropic regularisation.
        num_iters (int): Sinkhorn iterations.
        temperature (float): Student softmax temperature ``tau``.
        prototype_norm (str): 'inplace' (the reference): the prototype
            parameter is renormalised to unit rows in place before each
            training step (:meth:`normalize_prototypes_`) and used as stored,
            so the gradient keeps its radial part and the stored norm drifts
            within a step. 'forward': normalised inside the forward (the
            gradient is projected onto the sphere's tangent).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: Sequence[int] = (1024, 1024, 512),
                 out_channels: int = 256,
                 num_prototypes: int = 100,
                 epsilon: float = 0.05,
                 num_iters: int = 10,
                 temperature: float = 0.1,
                 prototype_norm: str = 'inplace',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if prototype_norm not in ('inplace', 'forward'):
            raise ValueError("prototype_norm must be 'inplace' or 'forward', "
                             f'got {prototype_norm!r}')
        self.prototype_norm = prototype_norm
        widths = [in_channels, *hidden_channels, out_channels]
        layers = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                layers.append(nn.GELU())
            layers.append(nn.Linear(w_in, w_out))
        self.projector = nn.Sequential(*layers)
        self.prototypes = nn.Parameter(
            F.normalize(torch.randn(num_prototypes, out_channels), dim=1))
        self.num_prototypes = num_prototypes
        self.epsilon = epsilon
        self.num_iters = num_iters
        self.temperature = temperature

    def project(self, feats: Tensor) -> Tensor:
        """``[..., C]`` features -> ``[..., D]`` unit-norm projections."""
        return F.normalize(self.projector(feats), dim=-1)

    def forward(self, feats: Tensor) -> Tensor:
        """``[..., C]`` features -> ``[..., K]`` cosine prototype scores."""
        prototypes = self.prototypes if self.prototype_norm == 'inplace' \
            else F.normalize(self.prototypes, dim=1)
        return self.project(feats) @ prototypes.t()

    @torch.no_grad()
    def normalize_prototypes_(self) -> None:
        """Renormalise the prototype rows to unit length in place (a no-op
        for ``prototype_norm='forward'``). MoSiC calls it at the start of
        every loss, for the student and the teacher head."""
        if self.prototype_norm == 'inplace':
            self.prototypes.copy_(F.normalize(self.prototypes, dim=1))

    @torch.no_grad()
    def targets(self, teacher_scores: Tensor) -> Tensor:
        """``[M, K]`` teacher scores -> ``[M]`` hard Sinkhorn cluster ids."""
        return sinkhorn_knopp(teacher_scores, self.epsilon,
                              self.num_iters).argmax(dim=1)

    def loss(self, student_scores: Tensor, teacher_scores: Tensor,
             visibility: Tensor) -> Dict[str, Tensor]:
        """Clustering loss and detached diagnostics.

        Args:
            student_scores (Tensor): ``[B, N, K]`` frame-0 student scores.
            teacher_scores (Tensor): ``[B, T, N, K]`` teacher scores.
            visibility (Tensor): ``[B, T, N]`` bool.

        Returns:
            dict: ``loss`` (fp32 scalar), ``cluster_entropy`` (entropy of
            the target histogram over visible points / log K, in [0, 1];
            local to this rank) and ``visible_frac``.
        """
        B, T, N, K = teacher_scores.shape
        if student_scores.shape != (B, N, K) or visibility.shape != (B, T, N):
            raise ValueError(
                f'expected student [B,N,K], teacher [B,T,N,K], visibility '
                f'[B,T,N]; got {tuple(student_scores.shape)}, '
                f'{tuple(teacher_scores.shape)}, {tuple(visibility.shape)}')
        visibility = visibility.bool()
        with record_function('mosic/sinkhorn'):
            target = self.targets(teacher_scores.reshape(-1, K)).view(B, T, N)

        with record_function('mosic/loss'), torch.autocast(
                device_type=student_scores.device.type, enabled=False):
            log_prob = F.log_softmax(
                student_scores.float() / self.temperature, dim=-1)
            nll = -log_prob.unsqueeze(1).expand(B, T, N, K).gather(
                -1, target.unsqueeze(-1)).squeeze(-1)  # [B, T, N]
            loss = (nll * visibility).sum() / (B * T * N)

        with torch.no_grad():
            counts = visibility.new_zeros(K, dtype=torch.float32).index_add_(
                0, target.flatten(), visibility.flatten().float())
            p = counts / counts.sum().clamp_min(1)
            entropy = -torch.xlogy(p, p).sum() / max(math.log(K), 1e-12)
        return dict(
            loss=loss,
            cluster_entropy=entropy,
            visible_frac=visibility.float().mean())
