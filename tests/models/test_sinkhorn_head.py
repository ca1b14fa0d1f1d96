"""The clustering head: projector, prototypes, Sinkhorn targets, loss."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mosic_mm.models.heads import SinkhornClusteringHead
from mosic_mm.models.utils import sinkhorn_knopp
from mosic_mm.registry import MODELS


def _head(**kwargs):
    torch.manual_seed(0)
    cfg = dict(in_channels=8,
               hidden_channels=(16, 16, 12),
               out_channels=6,
               num_prototypes=5)
    cfg.update(kwargs)
    return SinkhornClusteringHead(**cfg)


def test_build_and_shapes():
    head = MODELS.build(dict(type='SinkhornClusteringHead', in_channels=8))
    assert head.prototypes.shape == (100, 256)
    linears = [m for m in head.projector if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 1024),
                                                                  (1024, 1024),
                                                                  (1024, 512),
                                                                  (512, 256)]
    assert isinstance(head.projector[-1], torch.nn.Linear)
    assert head(torch.randn(2, 3, 4, 8)).shape == (2, 3, 4, 100)


def test_unit_norm_projections_and_prototypes():
    head = _head(prototype_norm='forward')
    x = torch.randn(10, 8)
    z = head.project(x)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(10))
    scores = head(x)
    torch.testing.assert_close(scores,
                               z @ F.normalize(head.prototypes, dim=1).t())
    with torch.no_grad():  # prototype scale must not matter
        head.prototypes.mul_(torch.arange(1., 6.)[:, None] * 3)
    torch.testing.assert_close(head(x), scores)
    assert scores.abs().max() <= 1 + 1e-6


def test_inplace_prototypes_are_used_as_stored_after_renormalising():
    head = _head()  # prototype_norm='inplace', the reference's
    x = torch.randn(10, 8)
    with torch.no_grad():
        head.prototypes.mul_(torch.arange(1., 6.)[:, None] * 3)
    torch.testing.assert_close(head(x), head.project(x) @ head.prototypes.t())
    head.normalize_prototypes_()
    torch.testing.assert_close(head.prototypes.norm(dim=1), torch.ones(5))
    assert head(x).abs().max() <= 1 + 1e-6


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_loss_equals_hand_computation():
    head = _head(num_prototypes=3, temperature=0.1)
    teacher = torch.tensor([[[[0.9, -0.2, 0.1], [-0.5, 0.8, 0.0]],
                             [[0.0, 0.1, 0.7], [0.6, 0.2,
                                                -0.9]]]])  # [1,2,2,3]
    student = torch.tensor([[[0.3, -0.1, 0.2], [0.0, 0.5, -0.4]]])  # [1,2,3]
    vis = torch.tensor([[[True, True], [False, True]]])
    y = sinkhorn_knopp(teacher.reshape(4, 3), 0.05, 10).argmax(1)
    assert y.tolist() == [0, 1, 2, 0]  # obvious assignment, balanced
    assert head.targets(teacher.reshape(4, 3)).tolist() == y.tolist()

    logp = _log_softmax(student[0].double().numpy() / 0.1)  # [N, K]
    y = y.view(2, 2).numpy()
    expected = sum(-logp[n, y[t, n]] for t in range(2)
                   for n in range(2) if vis[0, t, n]) / 4
    out = head.loss(student, teacher, vis)
    assert out['loss'].dtype == torch.float32
    np.testing.assert_allclose(out['loss'].item(), expected, rtol=1e-6)
    np.testing.assert_allclose(out['visible_frac'].item(), 0.75)
    # visible targets 0, 1, 0 -> usage (2/3, 1/3, 0)
    p = np.array([2 / 3, 1 / 3])
    np.testing.assert_allclose(out['cluster_entropy'].item(),
                               -(p * np.log(p)).sum() / np.log(3),
                               rtol=1e-6)


def test_invisible_points_do_not_contribute():
    head = _head()
    student = torch.randn(2, 4, 5)
    teacher = torch.randn(2, 3, 4, 5)
    vis = torch.rand(2, 3, 4) > 0.3
    vis[:, :, 1] = False  # track 1 never visible
    vis[:, :, 0] = True
    base = head.loss(student, teacher, vis)['loss']
    changed = student.clone()
    changed[:, 1] = torch.randn(2, 5) * 5
    torch.testing.assert_close(head.loss(changed, teacher, vis)['loss'], base)
    changed[:, 0] = torch.randn(2, 5) * 5
    assert not torch.allclose(head.loss(changed, teacher, vis)['loss'], base)


def test_gradient_flow():
    head = _head()
    student_feats = torch.randn(2, 4, 8, requires_grad=True)
    teacher_feats = torch.randn(2, 3, 4, 8, requires_grad=True)
    out = head.loss(head(student_feats), head(teacher_feats),
                    torch.ones(2, 3, 4, dtype=torch.bool))
    assert not out['cluster_entropy'].requires_grad
    out['loss'].backward()
    assert student_feats.grad.abs().sum() > 0
    assert head.prototypes.grad.abs().sum() > 0
    assert all(p.grad.abs().sum() > 0 for p in head.projector.parameters())
    assert teacher_feats.grad is None


def test_loss_in_fp32_under_autocast():
    head = _head()
    student = torch.randn(2, 4, 5)
    teacher = torch.randn(2, 3, 4, 5)
    vis = torch.ones(2, 3, 4, dtype=torch.bool)
    expected = head.loss(student.bfloat16().float(),
                         teacher.bfloat16().float(), vis)['loss']
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = head.loss(student.bfloat16(), teacher.bfloat16(), vis)['loss']
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize('one_cluster', [True, False])
def test_cluster_entropy_range(one_cluster):
    head = _head(num_prototypes=4)
    teacher = torch.full((1, 2, 4, 4), -1.0)
    for n in range(4):  # track n strongly prefers cluster n
        teacher[0, :, n, n] = 1.0
    vis = torch.zeros(1, 2, 4, dtype=torch.bool)
    if one_cluster:
        vis[0, :, 2] = True
    else:
        vis[0, 0] = True
    ent = head.loss(torch.randn(1, 4, 4), teacher, vis)['cluster_entropy']
    assert 0 <= ent.item() <= 1
    np.testing.assert_allclose(ent.item(),
                               0.0 if one_cluster else 1.0,
                               atol=1e-6)


def test_rejects_mismatched_shapes():
    head = _head()
    with pytest.raises(ValueError):
        head.loss(torch.randn(2, 4, 5), torch.randn(2, 3, 5, 5),
                  torch.ones(2, 3, 4, dtype=torch.bool))


def test_targets_come_from_sinkhorn_not_the_raw_argmax():
    """Unbalanced teacher scores: every point prefers prototype 0. Sinkhorn
    spreads the targets over the prototypes; a raw argmax would not."""
    head = _head(num_prototypes=8)
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(64, 8, generator=g) * 0.1
    scores[:, 0] += 0.5
    assert (scores.argmax(1) == 0).all()
    counts = torch.bincount(head.targets(scores), minlength=8)
    assert counts.max() <= 16 and (counts > 0).sum() >= 6
