"""The MoSiC algorithm: loss, gradients, frozen blocks, teacher EMA."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

import mosic_mm  # noqa: F401  registers the modules
from conftest import tiny_model_cfg
from mosic_mm.registry import MODELS


def _batch(B=2, T=3, N=5, size=56, seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randint(0, 256, (B, T, 3, size, size), generator=g,
                          dtype=torch.uint8)
    samples = []
    for _ in range(B):
        s = DataSample()
        s.set_field(torch.rand(T, N, 2, generator=g) * (size - 1), 'tracks')
        s.set_field(torch.rand(T, N, generator=g) > 0.3, 'visibility')
        samples.append(s)
    return dict(inputs=list(clips), data_samples=samples)


def _model(**kw):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(**kw))
    model.init_weights()
    return model


def _loss(model, batch):
    data = model.data_preprocessor(batch, True)
    return model(**data, mode='loss')


def test_loss_is_finite_and_teacher_starts_equal_to_student():
    model = _model()
    for (n, p), (_, q) in zip(model.backbone.named_parameters(),
                              model.teacher['backbone'].named_parameters()):
        assert torch.equal(p, q), n
    losses = _loss(model, _batch())
    assert torch.isfinite(losses['loss']) and losses['loss'] > 0


@pytest.mark.parametrize('trainable,chunk,share', [
    (None, None, True),  # whole backbone trains: nothing shared
    (1, None, True),  # frozen trunk shared by student and teacher
    (1, 4, True),  # ... with teacher chunks splitting the frame-0 rows
    (1, None, False),
])
def test_frame0_student_has_the_gradients_of_an_all_frames_student(
        trainable, chunk, share):
    """Reference: the student on all B*T frames through the backbone's own
    forward, then frame 0's features sampled at frame 0's tracks."""
    model = _model(num_trainable_blocks=trainable, teacher_chunk_size=chunk,
                   share_frozen_trunk=share)
    model.train()
    assert model._uses_shared_trunk() == (share and trainable is not None)
    batch = _batch()
    data = model.data_preprocessor(batch, True)
    ours = model(**data, mode='loss')['loss']
    ours.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    model.zero_grad()

    inputs, samples = data['inputs'], data['data_samples']
    B, T = inputs.shape[:2]
    tracks = torch.stack([s.tracks for s in samples])
    vis = torch.stack([s.visibility for s in samples])
    with torch.no_grad():
        t_feat = model.teacher['backbone'](inputs.flatten(0, 1))[-1]
        t_pts = F.grid_sample(
            t_feat, (2 * (tracks.flatten(0, 1) + 0.5) / 56 - 1).unsqueeze(2),
            align_corners=False, padding_mode='border').squeeze(-1)
        teacher = model.teacher['head'](t_pts.transpose(1, 2)).view(B, T, 5, -1)
    s_feat = model.backbone(inputs.flatten(0, 1))[-1].view(B, T, *t_feat.shape[1:])
    s_pts = F.grid_sample(
        s_feat[:, 0], (2 * (tracks[:, 0] + 0.5) / 56 - 1).unsqueeze(2),
        align_corners=False, padding_mode='border').squeeze(-1)
    ref = model.head.loss(model.head(s_pts.transpose(1, 2)), teacher, vis)['loss']
    ref.backward()
    assert torch.allclose(ours, ref, atol=1e-6)
    assert grads, 'no gradients at all'
    for n, p in model.named_parameters():
        if n in grads:
            assert torch.allclose(grads[n], p.grad, atol=1e-6, rtol=1e-4), n
    assert not any(n.startswith('teacher') for n in grads)


def test_frozen_blocks_stay_unchanged_after_a_step():
    model = _model(num_trainable_blocks=1)
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    _loss(model, _batch())['loss'].backward()
    opt.step()
    after = model.state_dict()
    last = f'backbone.layers.{len(model.backbone.layers) - 1}.'
    # the teacher's prototypes are renormalised in place (prototype_norm)
    changed = {k for k in before if not torch.equal(before[k], after[k])
               and k != 'teacher.head.prototypes'}
    assert changed, 'nothing was trained'
    for k in changed:
        assert k.startswith((last, 'head.')), f'frozen parameter {k} changed'
    assert any(k.startswith(last) for k in changed)
    assert any(k.startswith('head.') for k in changed)


def test_update_teacher_matches_the_ema_formula():
    model = _model(num_trainable_blocks=1)
    with torch.no_grad():
        for p in model.backbone.layers[-1].parameters():
            p.add_(torch.randn_like(p))
        for p in model.head.parameters():
            p.add_(torch.randn_like(p))
    student = {k: v.clone() for k, v in model.state_dict().items()
               if not k.startswith('teacher.')}
    teacher = {k: v.clone() for k, v in model.state_dict().items()
               if k.startswith('teacher.')}
    model.update_teacher(0.9)
    new = model.state_dict()
    for k, t_old in teacher.items():
        s = student[k[len('teacher.'):]]
        expected = 0.9 * t_old + 0.1 * s
        assert torch.allclose(new[k], expected, atol=1e-6), k


def test_masking_drops_points_in_dropped_tokens():
    model = _model(mask_ratio=0.5)
    model.train()
    torch.manual_seed(1)
    losses = _loss(model, _batch())
    assert torch.isfinite(losses['loss'])
    pts = torch.tensor([[[0., 0.], [20., 3.], [55., 55.]]])
    kept_grid = torch.zeros(1, 16, dtype=torch.bool)
    kept_grid[0, 1] = True  # token row 0, column 1 covers x in [14, 28)
    kept = model._points_in_kept(pts, kept_grid, (4, 4))
    assert kept.tolist() == [[False, True, False]]


def test_head_width_follows_the_backbone_and_mismatch_is_an_error():
    bad = tiny_model_cfg()
    bad['head'] = dict(bad['head'], in_channels=99)
    with pytest.raises(ValueError, match='in_channels=99'):
        MODELS.build(bad)


def test_ema_hook_schedule():
    from mosic_mm.engine.hooks.teacher_ema_hook import MoSiCTeacherHook
    const = MoSiCTeacherHook(0.99)
    assert const.momentum_at(0, 10) == const.momentum_at(9, 10) == 0.99
    cos = MoSiCTeacherHook(0.99, end_momentum=1.0)
    assert cos.momentum_at(0, 10) == pytest.approx(0.99)
    assert cos.momentum_at(5, 10) == pytest.approx(0.995)
    assert cos.momentum_at(10, 10) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        MoSiCTeacherHook(1.5)


def test_ema_hook_skips_iterations_without_an_optimizer_step():
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from mosic_mm.engine.hooks.teacher_ema_hook import MoSiCTeacherHook
    calls = []
    model = SimpleNamespace(update_teacher=calls.append)

    def runner(stepped=True, skipped=False):
        wrapper = SimpleNamespace(should_update=lambda: stepped,
                                  last_step_skipped=skipped)
        return SimpleNamespace(model=model, optim_wrapper=wrapper, iter=3,
                               max_iters=10,
                               message_hub=MessageHub.get_current_instance())

    hook = MoSiCTeacherHook(0.9)
    hook.after_train_iter(runner(), 0)
    hook.after_train_iter(runner(stepped=False), 0)  # accumulating grads
    hook.after_train_iter(runner(skipped=True), 0)  # non-finite loss
    assert calls == [0.9]
