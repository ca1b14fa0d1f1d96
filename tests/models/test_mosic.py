"""The MoSiC algorithm: its loss and gradients against a plain all-frames
computation, the trainable blocks, the teacher EMA, masking, the errors of
its arguments."""
import pytest
import torch
import torch.nn.functional as F

from mosic_mm.models.utils.point_sampling import sample_at_points
from mosic_mm.models.utils.teacher_forward import TeacherForward
from mosic_mm.registry import MODELS


def _perturb_student(model, scale=0.5):
    """A student that differs from its teacher (as after training)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * scale)


def _deep(tiny_model_cfg, num_layers, **kw):
    cfg = tiny_model_cfg(**kw)
    cfg['backbone']['arch'] = dict(embed_dims=32,
                                   num_layers=num_layers,
                                   num_heads=2,
                                   feedforward_channels=64)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


class _Spy:
    """Wraps a TeacherForward, keeping the scores it returned."""

    def __init__(self, inner, captured: dict):
        self.inner, self.captured = inner, captured

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        self.captured['scores'] = out[0]
        return out


def _grads(model):
    return {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }


def test_teacher_starts_equal_to_the_student(tiny_model, clip_batch,
                                             model_loss):
    model = tiny_model()
    for (n, p), (_, q) in zip(model.backbone.named_parameters(),
                              model.teacher['backbone'].named_parameters()):
        assert torch.equal(p, q), n
    losses = model_loss(model, clip_batch())
    assert torch.isfinite(losses['loss']) and losses['loss'] > 0
    assert set(losses) == {'loss', 'cluster_entropy', 'visible_frac'}


@pytest.mark.parametrize(
    'kw',
    [
        dict(num_trainable_blocks=None),  # whole backbone trains: no trunk
        dict(num_trainable_blocks=1),  # frozen trunk shared by both networks
        dict(num_trainable_blocks=1, teacher_chunk_size=4),  # chunks split the
        # frame-0 rows
        dict(num_trainable_blocks=1, share_frozen_trunk=False),
        dict(num_trainable_blocks=1, teacher_dtype='bfloat16'),  # exact rows
    ])
def test_loss_and_gradients_equal_an_all_frames_student(
        kw, tiny_model, clip_batch):
    """Reference: the teacher's and the student's backbones run on all B*T
    frames through their own ``forward``, features sampled with
    ``grid_sample`` at the tracks (x the column), the student's frame-0
    scores against the teacher's targets of every frame. A student that
    differs from its teacher (after training) makes swapped weights, a
    wrong trunk hand-off or bf16-rounded student inputs visible."""
    model = tiny_model(**kw)
    _perturb_student(model)
    model.train()
    data = model.data_preprocessor(clip_batch(), True)
    captured = {}
    model.teacher_forward = _Spy(model.teacher_forward, captured)
    ours = model(**data, mode='loss')['loss']
    ours.backward()
    grads = _grads(model)
    model.zero_grad()

    inputs, samples = data['inputs'], data['data_samples']
    B, T = inputs.shape[:2]
    tracks = torch.stack([s.tracks for s in samples])
    vis = torch.stack([s.visibility for s in samples])
    grid = (2 * (tracks + 0.5) / 56 - 1)  # 56 px input
    with torch.no_grad():
        t_feat = model.teacher['backbone'](inputs.flatten(0, 1))[-1]
        t_pts = F.grid_sample(t_feat,
                              grid.flatten(0, 1).unsqueeze(2),
                              align_corners=False,
                              padding_mode='border').squeeze(-1)
        teacher = model.teacher['head'](t_pts.transpose(1, 2)).view(
            B, T, tracks.shape[2], -1)
    if kw.get('teacher_dtype'):  # the bf16 teacher's own targets
        teacher = captured['scores'].view(B, T, tracks.shape[2], -1)
    else:
        assert torch.allclose(captured['scores'].view_as(teacher),
                              teacher,
                              atol=1e-5)
    s_feat = model.backbone(inputs[:, 0])[-1]  # fp32, all blocks
    s_pts = F.grid_sample(s_feat,
                          grid[:, 0].unsqueeze(2),
                          align_corners=False,
                          padding_mode='border').squeeze(-1)
    ref = model.head.loss(model.head(s_pts.transpose(1, 2)), teacher,
                          vis)['loss']
    ref.backward()
    assert torch.allclose(ours, ref, atol=1e-6)
    assert grads and not any(n.startswith('teacher') for n in grads)
    for n, p in model.named_parameters():
        if n in grads:
            assert torch.allclose(grads[n], p.grad, atol=1e-6, rtol=1e-4), n


def test_bf16_trunk_for_the_student_is_not_exact(tiny_model, clip_batch):
    """``exact_student=False`` runs the student's shared trunk under the
    teacher's bf16 autocast: its loss then differs from the exact one (what
    the default avoids)."""
    losses = []
    for exact in (True, False):
        model = tiny_model(num_trainable_blocks=1,
                           teacher_dtype='bfloat16',
                           exact_student=exact)
        _perturb_student(model)
        model.train()
        losses.append(
            model(**model.data_preprocessor(clip_batch(), True),
                  mode='loss')['loss'])
    assert not torch.allclose(losses[0], losses[1], atol=1e-6)


@pytest.mark.parametrize(
    'kw,trained',
    [
        (dict(num_trainable_blocks=2), (22, 23)),  # the configs' rule
        (dict(trainable_blocks=(10, 11)), (10, 11)),  # the official name match
        (dict(trainable_blocks=(-1, 10)), (10, 23)),
        (dict(num_trainable_blocks=None), tuple(range(24))),
    ])
def test_exactly_the_chosen_blocks_train(kw, trained, tiny_model_cfg,
                                         clip_batch, model_loss):
    """On a 24-block ViT: exactly the chosen blocks and the head require
    and get gradients, are in train mode and change in an AdamW step (with
    weight decay: a frozen tensor handed to the optimizer would change);
    frozen blocks after a trainable one still shape the loss; the shared
    trunk ends below the first trainable block and gives the unshared loss
    and gradients."""
    runs = {}
    for share in (True, False):
        model = _deep(tiny_model_cfg, 24, share_frozen_trunk=share, **kw)
        assert model.trainable_block_ids == (None if kw.get(
            'num_trainable_blocks', 0) is None else trained)
        model.train()
        assert [
            i for i, layer in enumerate(model.backbone.layers)
            if layer.training
        ] == list(trained)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        loss = model_loss(model, clip_batch())['loss']
        loss.backward()
        grads = _grads(model)
        want = {
            n
            for n, p in model.named_parameters()
            if n.startswith('head.') or any(
                n.startswith(f'backbone.layers.{i}.') for i in trained)
        }
        if kw.get('num_trainable_blocks', 0) is None:
            want = {
                n
                for n, _ in model.named_parameters()
                if not n.startswith('teacher.')
            }
        assert {n
                for n, p in model.named_parameters()
                if p.requires_grad} == want
        assert set(grads) == want
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        opt.step()
        changed = {
            k
            for k, v in model.state_dict().items()
            if not torch.equal(before[k], v) and k != 'teacher.head.prototypes'
        }  # renormalised
        assert changed == want
        runs[share] = loss.detach(), grads
    (l1, g1), (l2, g2) = runs[True], runs[False]
    assert torch.allclose(l1, l2, atol=1e-6)
    assert all(torch.allclose(g1[n], g2[n], atol=1e-6, rtol=1e-4) for n in g1)


def test_update_teacher_moves_the_teacher_by_one_minus_its_weight(tiny_model):
    """teacher <- w * teacher + (1 - w) * student for every trainable
    tensor (w = 0.9: 10 % of the way; a swapped weight moves it 90 %);
    frozen tensors stay."""
    model = tiny_model(num_trainable_blocks=1)
    _perturb_student(model)
    student = {
        k: v.clone()
        for k, v in model.state_dict().items() if not k.startswith('teacher.')
    }
    teacher = {
        k: v.clone()
        for k, v in model.state_dict().items() if k.startswith('teacher.')
    }
    model.update_teacher(0.9)
    new = model.state_dict()
    moved = 0
    for k, t_old in teacher.items():
        s = student[k[len('teacher.'):]]
        trainable = k.startswith(
            ('teacher.head.', 'teacher.backbone.layers.1.'))
        expected = 0.9 * t_old + 0.1 * s if trainable else t_old
        assert torch.allclose(new[k], expected, atol=1e-6), k
        moved += trainable and not torch.equal(t_old, s)
    assert moved


def test_teacher_scores_use_the_teacher_weights(tiny_model, clip_batch):
    """After the student moved away from its teacher, the teacher's scores
    are those of the teacher's weights, not the student's."""
    model = tiny_model(num_trainable_blocks=1)
    _perturb_student(model)
    model.eval()
    data = model.data_preprocessor(clip_batch(), False)
    frames = data['inputs'].flatten(0, 1)
    tracks = torch.stack([s.tracks
                          for s in data['data_samples']]).flatten(0, 1)
    ours = model.teacher_scores(frames, tracks)
    with torch.no_grad():
        feat = model.teacher['backbone'](frames)[-1]
        ref = model.teacher['head'](sample_at_points(feat, tracks, 14))
        student_feat = model.backbone(frames)[-1]
        student = model.head(sample_at_points(student_feat, tracks, 14))
    assert torch.allclose(ours, ref, atol=1e-5)
    assert not torch.allclose(ours, student, atol=1e-2)


def test_teacher_chunks_give_the_unchunked_scores(tiny_model, clip_batch):
    model = tiny_model(num_trainable_blocks=1)
    model.eval()
    data = model.data_preprocessor(clip_batch(T=4), False)
    frames = data['inputs'].flatten(0, 1)
    tracks = torch.stack([s.tracks
                          for s in data['data_samples']]).flatten(0, 1)
    rows = torch.arange(0, len(frames), 4)
    args = (model.teacher_tokens, model.teacher['head'], frames, tracks, rows)
    whole = TeacherForward(1)(*args)
    chunked = TeacherForward(1, chunk_size=3)(*args)
    assert torch.allclose(whole[0], chunked[0], atol=1e-6)
    assert torch.allclose(whole[1], chunked[1], atol=1e-6)


def _patches_with_input_gradient(model, batch):
    """bool [B, L]: the student's frame-0 tokens whose pixels get a gradient
    from the loss, i.e. the tokens the student kept (the no-grad teacher and
    the no-grad shared trunk give none)."""
    model.train()
    data = model.data_preprocessor(batch, True)
    inputs = data['inputs'].requires_grad_(True)
    model(inputs, data['data_samples'], mode='loss')['loss'].backward()
    grad = inputs.grad
    if grad is None:
        grad = torch.zeros_like(inputs)
    g = grad[:, 0].abs().sum(1)  # [B, H, W]
    B, H, W = g.shape
    return (g.view(B, H // 14, 14, W // 14, 14).sum((2, 4)) > 0).flatten(1)


@pytest.mark.parametrize(
    'ratio,count,kept',
    [
        (0.3, 'floor_dropped', 12),  # 16 - int(4.8)
        (0.3, 'round_kept', 11),  # round(11.2)
        (0.75, 'floor_dropped', 4),
    ])
def test_masking_keeps_its_count_of_student_tokens(ratio, count, kept,
                                                   tiny_model, clip_batch):
    """Default model (shared frozen trunk): with mask_ratio > 0 the student
    runs unshared on its kept tokens only, ``kept`` of the 16 tokens of each
    clip. Fails if the shared path ignores masking (no token gets a
    gradient) or if mask_ratio is read as the kept fraction."""
    model = tiny_model(mask_ratio=ratio, mask_count=count)
    assert model.share_frozen_trunk and model._trunk_depth > 0
    torch.manual_seed(1)
    grads = _patches_with_input_gradient(model, clip_batch(B=3, N=12))
    assert grads.sum(1).tolist() == [kept] * 3


def test_masked_terms_leave_the_loss(tiny_model, clip_batch, model_loss,
                                     monkeypatch):
    """The loss drops the terms ``terms_kept`` rejects: with every token
    masked but one the visible fraction of the loss's terms falls."""
    import mosic_mm.models.algorithms.mosic as mosic
    model = tiny_model(mask_ratio=0.5)
    model.train()
    seen = {}
    real = mosic.terms_kept

    def spy(*args, **kwargs):
        seen['kept'] = real(*args, **kwargs)
        return seen['kept']

    monkeypatch.setattr(mosic, 'terms_kept', spy)
    torch.manual_seed(1)
    batch = clip_batch()
    vis = torch.stack([s.visibility for s in batch['data_samples']])
    out = model_loss(model, batch)
    expected = (vis & seen['kept']).float().mean()
    assert out['visible_frac'] == pytest.approx(float(expected))
    assert expected < vis.float().mean()


@pytest.mark.parametrize('bad,match', [
    (dict(mask_rule='frame-0'), 'mask_rule'),
    (dict(mask_rule='reference'), 'each_frame'),
    (dict(mask_count='floor'), 'mask_count'),
    (dict(mask_ratio=1.0), 'mask_ratio'),
    (dict(trainable_blocks=(2, )), 'trainable_blocks'),
    (dict(trainable_blocks=(-3, )), 'trainable_blocks'),
    (dict(trainable_blocks=1), 'trainable_blocks'),
    (dict(trainable_blocks=(0.5, )), 'trainable_blocks'),
    (dict(num_trainable_blocks=3), 'num_trainable_blocks'),
])
def test_bad_arguments_are_errors_naming_them(bad, match, tiny_model_cfg):
    with pytest.raises(ValueError, match=match):
        MODELS.build(tiny_model_cfg(**bad))


def test_head_width_follows_the_backbone_and_a_mismatch_is_an_error(
        tiny_model_cfg):
    model = MODELS.build(tiny_model_cfg())
    assert model.head.projector[0].in_features == 32
    bad = tiny_model_cfg()
    bad['head'] = dict(bad['head'], in_channels=99)
    with pytest.raises(ValueError, match='in_channels=99'):
        MODELS.build(bad)


def test_mismatched_tracks_are_an_error(tiny_model, clip_batch):
    model = tiny_model()
    batch = clip_batch(T=3)
    batch['data_samples'][0].set_field(torch.zeros(2, 5, 2), 'tracks')
    with pytest.raises((ValueError, RuntimeError)):
        model(**model.data_preprocessor(batch, True), mode='loss')


def test_prototypes_are_renormalised_in_place_before_each_step(
        tiny_model, clip_batch, model_loss):
    """The official rule: both heads' prototypes are unit rows at every
    loss; the raw gradient keeps its radial part, so the stored norm drifts
    within a step."""
    model = tiny_model(num_trainable_blocks=1)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=0.05)
    for _ in range(3):
        loss = model_loss(model, clip_batch())['loss']
        for head in (model.head, model.teacher['head']):
            assert torch.allclose(head.prototypes.norm(dim=1),
                                  torch.ones(8),
                                  atol=1e-6)
        opt.zero_grad()
        loss.backward()
        grad, proto = model.head.prototypes.grad, model.head.prototypes
        radial = (grad * proto).sum(1).abs().max()
        assert radial > 1e-3 * grad.norm(dim=1).max()
        opt.step()
        model.update_teacher(0.5)
        assert not torch.allclose(
            model.head.prototypes.norm(dim=1), torch.ones(8), atol=1e-4)


def test_forward_normalised_prototypes_get_a_tangent_gradient(
        tiny_model, tiny_model_cfg, clip_batch, model_loss):
    model = tiny_model(num_trainable_blocks=1,
                       head=dict(tiny_model_cfg()['head'],
                                 prototype_norm='forward'))
    model.train()
    with torch.no_grad():
        model.head.prototypes.mul_(3.0)
    model_loss(model, clip_batch())['loss'].backward()
    grad, proto = model.head.prototypes.grad, model.head.prototypes
    assert (grad * proto).sum(1).abs().max() < 1e-5 * grad.abs().max() + 1e-8
    assert torch.allclose(proto.norm(dim=1), torch.full((8, ), 3.0))
