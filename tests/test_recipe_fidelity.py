"""Issue 10: the reference recipe where it decides the maths (optimizer
groups, exact student under the bf16 teacher, prototypes, masking rule) and
tests that fail for one-line bugs at the heart of the method."""
import torch
import torch.nn.functional as F
import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import mosic_mm  # noqa: F401
from conftest import tiny_model_cfg
from mosic_mm.models.utils.track_sampling import sample_at_points
from mosic_mm.registry import MODELS
from test_mosic import _batch, _loss, _model


def _perturb_student(model, scale=0.5):
    """A student that differs from its teacher (as after training)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * scale)


# ----------------------------------------------------- optimizer (item 4)
@pytest.mark.parametrize('config,backbone_lr', [
    ('configs/mosic_vits_ytvos.py', 1e-5),
    ('configs/mosic_vits_synthetic.py', 1e-3),
])
def test_every_trainable_tensor_gets_the_reference_lr_and_decay(
        config, backbone_lr):
    """AdamW groups: wd 0.01 on weight matrices (prototypes included), 0 on
    biases and every 1-D tensor (LayerNorm, LayerScale); backbone lr 0.1x
    the head's in the YT-VOS recipe."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None
    if 'ytvos' in config:  # ViT-S/14 shape, smaller depth to stay fast
        model_cfg.backbone.type = 'VisionTransformer'
        model_cfg.backbone.arch = dict(embed_dims=48, num_layers=3,
                                       num_heads=3, feedforward_channels=96)
    model = MODELS.build(model_cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    head_lr = cfg.optim_wrapper.optimizer.lr
    seen = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            seen[id(p)] = (group['lr'], group['weight_decay'])
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable and len(seen) == len(trainable)
    kinds = set()
    for name, p in trainable:
        lr, wd = seen[id(p)]
        expected_lr = backbone_lr if name.startswith('backbone.') \
            else head_lr
        expected_wd = 0.0 if p.ndim == 1 else 0.01
        assert lr == pytest.approx(expected_lr), name
        assert wd == pytest.approx(expected_wd), (name, wd)
        kinds.add((name.startswith('backbone.'), p.ndim == 1))
    assert kinds == {(True, True), (True, False), (False, True),
                     (False, False)}
    assert seen[id(model.head.prototypes)][1] == pytest.approx(0.01)


# --------------------------------------- exact student, bf16 (item 3)
@pytest.mark.parametrize('exact', [True, False])
def test_bf16_teacher_leaves_the_student_exact(exact):
    """Default (bf16 teacher, shared trunk): loss and gradients equal an
    unshared fp32 student on the same teacher targets."""
    model = _model(num_trainable_blocks=1, teacher_dtype='bfloat16',
                   exact_student=exact)
    _perturb_student(model)
    model.train()
    assert model._uses_shared_trunk()
    captured = {}
    teacher_scores = model.teacher_scores

    def spy(*args, **kwargs):
        out = teacher_scores(*args, **kwargs)
        captured['scores'] = out[0]
        return out

    model.teacher_scores = spy
    data = model.data_preprocessor(_batch(), True)
    ours = model(**data, mode='loss')['loss']
    ours.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    model.zero_grad()

    inputs, samples = data['inputs'], data['data_samples']
    B, T = inputs.shape[:2]
    tracks = torch.stack([s.tracks for s in samples])
    vis = torch.stack([s.visibility for s in samples])
    feat = model.backbone(inputs[:, 0])[-1]  # fp32, all blocks, unshared
    student = model.head(sample_at_points(feat, tracks[:, 0], 14))
    teacher = captured['scores'].view(B, T, tracks.shape[2], -1)
    ref = model.head.loss(student, teacher, vis)['loss']
    ref.backward()
    same = torch.allclose(ours, ref, atol=1e-6) and all(
        torch.allclose(grads[n], p.grad, atol=1e-6, rtol=1e-4)
        for n, p in model.named_parameters() if n in grads)
    assert same == exact


# ------------------------------------------------- prototypes (item 5)
def test_prototypes_are_renormalised_in_place_before_each_step():
    model = _model(num_trainable_blocks=1)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters()
                             if p.requires_grad], lr=0.05)
    for _ in range(3):
        loss = _loss(model, _batch())['loss']
        for head in (model.head, model.teacher['head']):
            assert torch.allclose(head.prototypes.norm(dim=1),
                                  torch.ones(8), atol=1e-6)
        opt.zero_grad()
        loss.backward()
        grad, proto = model.head.prototypes.grad, model.head.prototypes
        # raw gradient: its radial part is kept (reference)
        radial = (grad * proto).sum(1).abs().max()
        assert radial > 1e-3 * grad.norm(dim=1).max()
        opt.step()
        model.update_teacher(0.5)
        assert not torch.allclose(model.head.prototypes.norm(dim=1),
                                  torch.ones(8), atol=1e-4)


def test_forward_normalised_prototypes_get_a_tangent_gradient():
    model = _model(num_trainable_blocks=1,
                   head=dict(tiny_model_cfg()['head'],
                             prototype_norm='forward'))
    model.train()
    with torch.no_grad():
        model.head.prototypes.mul_(3.0)
    _loss(model, _batch())['loss'].backward()
    grad, proto = model.head.prototypes.grad, model.head.prototypes
    assert (grad * proto).sum(1).abs().max() < 1e-5 * grad.abs().max() + 1e-8
    assert torch.allclose(proto.norm(dim=1), torch.full((8, ), 3.0))


# ------------------------------------------------------ masking (item 6)
@pytest.mark.parametrize('rule', ['reference', 'frame0'])
def test_masking_rule_by_hand(rule):
    """Tokens of 14 px on a 28x28 input (2x2 grid); only token (0, 1)
    (x in [14, 28), y in [0, 14)) is kept."""
    model = _model(mask_ratio=0.5, mask_rule=rule)
    kept = torch.tensor([[False, True, False, False]])
    tracks = torch.tensor([[  # [B=1, T=2, N=3, 2] (x, y)
        [[20., 3.], [3., 3.], [20., 20.]],  # frame 0: kept, masked, masked
        [[3., 3.], [20., 3.], [20., 5.]],  # frame 1: masked, kept, kept
    ]])
    terms = model._terms_kept(tracks, kept, (28, 28))
    if rule == 'reference':
        expected = [[[True, False, False], [False, True, True]]]
    else:
        expected = [[[True, False, False], [True, False, False]]]
    assert terms.tolist() == expected


def test_bad_mask_rule_is_an_error():
    with pytest.raises(ValueError, match='mask_rule'):
        MODELS.build(tiny_model_cfg(mask_rule='frame-0'))


# ----------------------------------- bugs that must not pass (item 10)
def test_targets_come_from_sinkhorn_not_the_raw_argmax():
    """Unbalanced teacher scores: every point prefers prototype 0. Sinkhorn
    spreads the targets over the prototypes; a raw argmax would not."""
    model = _model()
    head = model.head
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(64, 8, generator=g) * 0.1
    scores[:, 0] += 0.5
    assert (scores.argmax(1) == 0).all()
    targets = head.targets(scores)
    counts = torch.bincount(targets, minlength=8)
    assert counts.max() <= 16 and (counts > 0).sum() >= 6


def test_teacher_scores_use_the_teacher_weights():
    """After the student has moved away from its teacher, the teacher's
    scores are those of the teacher's weights, not the student's."""
    model = _model(num_trainable_blocks=1)
    _perturb_student(model)
    model.eval()
    data = model.data_preprocessor(_batch(), False)
    frames = data['inputs'].flatten(0, 1)
    tracks = torch.stack([s.tracks for s in data['data_samples']]
                         ).flatten(0, 1)
    ours = model.teacher_scores(frames, tracks)[0]
    with torch.no_grad():
        feat = model.teacher['backbone'](frames)[-1]
        ref = model.teacher['head'](sample_at_points(feat, tracks, 14))
        student_feat = model.backbone(frames)[-1]
        student = model.head(sample_at_points(student_feat, tracks, 14))
    assert torch.allclose(ours, ref, atol=1e-5)
    assert not torch.allclose(ours, student, atol=1e-2)


@pytest.mark.parametrize('trainable', [1, 2])
def test_only_the_last_blocks_are_trainable_without_a_shared_trunk(trainable):
    """Unshared trunk (frozen blocks would get gradients if they required
    them): exactly the last ``num_trainable_blocks`` blocks and the head are
    trainable and receive gradients; nothing else is handed to AdamW."""
    cfg = tiny_model_cfg(num_trainable_blocks=trainable,
                         share_frozen_trunk=False)
    cfg['backbone']['arch'] = dict(embed_dims=32, num_layers=3, num_heads=2,
                                   feedforward_channels=64)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    _loss(model, _batch())['loss'].backward()
    first = 3 - trainable
    for name, p in model.named_parameters():
        want = name.startswith('head.') or any(
            name.startswith(f'backbone.layers.{i}.') for i in range(first, 3))
        assert p.requires_grad == want, name
        assert (p.grad is not None) == want, name


def test_ema_uses_momentum_on_the_teacher_side():
    """teacher <- m * teacher + (1 - m) * student with m = 0.99: one update
    moves the teacher 1 % of the way (a swapped momentum moves it 99 %)."""
    model = _model(num_trainable_blocks=1)
    _perturb_student(model)
    t0 = model.teacher['head'].prototypes.clone()
    s = model.head.prototypes.detach().clone()
    model.update_teacher(0.99)
    assert torch.allclose(model.teacher['head'].prototypes,
                          t0 + 0.01 * (s - t0), atol=1e-6)


def test_loss_counts_every_frame_and_ignores_invisible_terms():
    """Hand computation on one clip: mean over B*T*N of the visible terms
    only, with the student's frame-0 score of each track."""
    model = _model()
    head = model.head
    torch.manual_seed(3)
    student = torch.randn(1, 2, 8)
    teacher = torch.randn(1, 3, 2, 8)
    vis = torch.tensor([[[True, False], [True, True], [False, False]]])
    targets = head.targets(teacher.reshape(-1, 8)).view(1, 3, 2)
    logp = F.log_softmax(student / head.temperature, -1)[0]
    expected = sum(-logp[n, targets[0, t, n]] for t in range(3)
                   for n in range(2) if vis[0, t, n]) / 6
    got = head.loss(student, teacher, vis)['loss']
    assert torch.allclose(got, expected, atol=1e-6)


# ------------------- official-code audit (issue 23): blocks and masking
def _tiny_deep_model(num_layers, **kw):
    cfg = tiny_model_cfg(**kw)
    cfg['backbone']['arch'] = dict(embed_dims=32, num_layers=num_layers,
                                   num_heads=2, feedforward_channels=64)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('cfg_file', [
    'configs/mosic_vitl_ytvos.py', 'configs/mosic_vitl_reg_ytvos.py',
    'configs/mosic_vitg_ytvos.py', 'configs/mosic_dinov3_vitl16_ytvos.py'])
def test_deep_configs_train_their_last_two_blocks(cfg_file):
    """ViT-L/g train their last two blocks (docs/reproduction.md); the
    reference's name match would train blocks 10 and 11."""
    model = Config.fromfile(cfg_file).model
    assert model.num_trainable_blocks == 2
    assert model.get('trainable_blocks') is None


@pytest.mark.parametrize('kw,trained', [
    (dict(num_trainable_blocks=2), (22, 23)),  # the configs' rule
    (dict(trainable_blocks=(10, 11)), (10, 11)),  # the reference's match
    (dict(trainable_blocks=(-1, 10)), (10, 23)),
])
def test_trainable_blocks_by_count_or_index(kw, trained):
    """On a 24-block ViT: exactly the chosen blocks (and the head) train and
    get gradients; frozen blocks after them still shape the loss; the shared
    trunk ends below the first trainable block and gives the unshared
    loss and gradients."""
    runs = {}
    for share in (True, False):
        model = _tiny_deep_model(24, share_frozen_trunk=share, **kw)
        assert model.trainable_block_ids == trained
        assert model._trunk_depth == trained[0]
        model.train()
        assert [i for i, layer in enumerate(model.backbone.layers)
                if layer.training] == list(trained)
        loss = _loss(model, _batch())['loss']
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters()
                 if p.grad is not None}
        assert set(grads) == {n for n, p in model.named_parameters()
                              if p.requires_grad}
        blocks = {int(n.split('.')[2]) for n in grads
                  if n.startswith('backbone.layers.')}
        assert blocks == set(trained)
        runs[share] = loss.detach(), grads
    (l1, g1), (l2, g2) = runs[True], runs[False]
    assert torch.allclose(l1, l2, atol=1e-6)
    assert all(torch.allclose(g1[n], g2[n], atol=1e-6, rtol=1e-4) for n in g1)


def test_bad_trainable_blocks_are_errors():
    for bad in ((2, ), (-3, ), 1, (0.5, )):
        with pytest.raises(ValueError, match='trainable_blocks'):
            MODELS.build(tiny_model_cfg(trainable_blocks=bad))
    with pytest.raises(ValueError, match='num_trainable_blocks'):
        MODELS.build(tiny_model_cfg(num_trainable_blocks=3))


def test_kept_token_count_rules():
    from mosic_mm.models.algorithms.mosic import kept_token_count
    assert kept_token_count(256, 0.3) == 180  # 256 - int(76.8)
    assert kept_token_count(256, 0.3, 'round') == 179  # round(179.2)
    assert kept_token_count(256, 0.1) == 231 and kept_token_count(
        256, 0.0) == 256
    with pytest.raises(ValueError, match='mask_count'):
        MODELS.build(tiny_model_cfg(mask_count='floor'))


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


@pytest.mark.parametrize('ratio,count,kept', [
    (0.3, 'reference', 12),  # 16 - int(4.8)
    (0.3, 'round', 11),  # round(11.2)
    (0.75, 'reference', 4),
])
def test_masking_drops_mask_ratio_of_the_student_tokens(ratio, count, kept):
    """Default model (shared frozen trunk): with mask_ratio > 0 the student
    runs unshared on its kept tokens only, ``kept`` of the 16 tokens of each
    clip. Fails if the shared path ignores masking (no token gets a
    gradient) or if mask_ratio is read as the kept fraction (5 and 12 kept
    instead of 12 and 4)."""
    model = _model(mask_ratio=ratio, mask_count=count)
    assert model.share_frozen_trunk and model._trunk_depth > 0
    torch.manual_seed(1)
    grads = _patches_with_input_gradient(model, _batch(B=3, N=12))
    assert grads.sum(1).tolist() == [kept] * 3


def test_ytvos_configs_normalise_with_the_reference_std():
    """The reference's training clips: mean (0.485, 0.456, 0.406), std
    (0.228, 0.224, 0.225) (0.228, not ImageNet's 0.229), x 255."""
    import glob
    files = sorted(glob.glob('configs/*_ytvos.py')
                   + glob.glob('configs/baselines/*_ytvos.py'))
    assert len(files) > 10
    for f in files:
        pre = Config.fromfile(f).model.data_preprocessor
        assert pre.mean == pytest.approx((123.675, 116.28, 103.53)), f
        assert pre.std == pytest.approx((58.14, 57.12, 57.375)), f
