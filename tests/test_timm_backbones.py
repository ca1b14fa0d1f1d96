"""TimmViT (DINOv3, EVA02-CLIP): parity with timm, the official file layouts,
masking with RoPE, the config zoo, MoSiC training and export."""
import os.path as osp

import pytest
import timm
import torch
from mmengine.config import Config
from timm.models.eva import checkpoint_filter_fn

from conftest import REPO
from mosic_mm.models.backbones import (CheckpointMismatchError, TimmViT,
                                       dinov3_to_timm,
                                       load_state_dict_converted,
                                       strip_components, timm_to_dinov3)
from mosic_mm.models.utils.vit_tokens import (embed_tokens, forward_blocks,
                                              keep_tokens, patch_featmap)
from mosic_mm.registry import MODELS

DINOV3 = 'vit_small_patch16_dinov3_qkvb'
EVA02 = 'eva02_base_patch16_clip_224'
TINY = dict(embed_dim=32, depth=2, num_heads=2)
SIZES = [(64, 64), (48, 80)]  # square and non-square token grids


def _timm(name, seed=0, **kw):
    """A random timm model whose every tensor is non-trivial (LayerScale,
    q/v biases and norms perturbed away from their init)."""
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, num_classes=0,
                              img_size=64, dynamic_img_size=True,
                              **dict(TINY, **kw))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model.eval()


def _ours(name, **kw):
    return TimmViT(name, img_size=64, model_kwargs=dict(TINY, **kw)).eval()


def _features(vit, x):
    """Our step-wise path (blocks run in two calls) -> [B, h*w, C]."""
    tokens, hw = embed_tokens(vit, x)
    tokens = forward_blocks(vit, forward_blocks(vit, tokens, 0, 1, hw=hw), 1,
                            hw=hw)
    return patch_featmap(vit, tokens, hw).flatten(2).transpose(1, 2)


def _timm_features(model, x):
    return model.forward_features(x)[:, model.num_prefix_tokens:]


def dinov3_official_shapes(C, depth, hidden, heads, registers=4, patch=16):
    """Keys and shapes of an official DINOv3 backbone file, written from the
    facebookresearch/dinov3 model definition (issue 14's list)."""
    shapes = {'cls_token': (1, 1, C), 'storage_tokens': (1, registers, C),
              'mask_token': (1, C), 'patch_embed.proj.weight':
              (C, 3, patch, patch), 'patch_embed.proj.bias': (C, ),
              'rope_embed.periods': (C // heads // 4, ), 'norm.weight': (C, ),
              'norm.bias': (C, )}
    for i in range(depth):
        b = f'blocks.{i}.'
        shapes.update({
            f'{b}norm1.weight': (C, ), f'{b}norm1.bias': (C, ),
            f'{b}norm2.weight': (C, ), f'{b}norm2.bias': (C, ),
            f'{b}attn.qkv.weight': (3 * C, C), f'{b}attn.qkv.bias': (3 * C, ),
            f'{b}attn.qkv.bias_mask': (3 * C, ),
            f'{b}attn.proj.weight': (C, C), f'{b}attn.proj.bias': (C, ),
            f'{b}ls1.gamma': (C, ), f'{b}ls2.gamma': (C, ),
            f'{b}mlp.fc1.weight': (hidden, C), f'{b}mlp.fc1.bias': (hidden, ),
            f'{b}mlp.fc2.weight': (C, hidden), f'{b}mlp.fc2.bias': (C, )})
    return shapes


def _official(model):
    return timm_to_dinov3(model.state_dict(), model.rope.periods)


def _open_clip(model):
    sd = {f'visual.trunk.{k}': v for k, v in model.state_dict().items()}
    sd['text.token_embedding.weight'] = torch.zeros(3, 4)  # text tower
    sd['logit_scale'] = torch.ones(())
    return sd


# ------------------------------------------------------------------ parity
def _loads_and_equals_timm(vit, ref, sd, layout, sizes, patch):
    """``sd`` (a state dict of timm model ``ref`` in ``layout``) loads into
    our ``vit`` completely, with the layout auto-detected, and our patch
    tokens (``_features`` and the backbone's own forward) equal timm's at
    every (H, W) of ``sizes``, (H/patch)(W/patch) of them."""
    report = load_state_dict_converted(vit, sd)
    assert report.ok and report.layout == layout
    assert len(report.loaded) == len(vit.state_dict())
    for size in sizes:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            want = _timm_features(ref, x)
            diff = (_features(vit, x) - want).abs().max()
            whole = (vit(x)[0].flatten(2).transpose(1, 2) - want).abs().max()
        assert diff < 1e-4 and whole < 1e-4, (size, diff, whole)
        assert want.shape[1] == (size[0] // patch) * (size[1] // patch)


@pytest.mark.parametrize('name,layout', [(DINOV3, 'timm'), (DINOV3, 'dinov3'),
                                         (EVA02, 'timm'),
                                         (EVA02, 'open_clip')])
def test_patch_features_equal_timm(name, layout):
    ref = _timm(name)
    sd = dict(timm=lambda m: m.state_dict(), dinov3=_official,
              open_clip=_open_clip)[layout](ref)
    _loads_and_equals_timm(_ours(name), ref, sd, layout, SIZES, patch=16)


def test_official_dinov3_layout_is_the_documented_one():
    ref = _timm(DINOV3)
    official = _official(ref)
    want = dinov3_official_shapes(32, 2, 128, 2)
    assert {k: tuple(v.shape) for k, v in official.items()} == want
    for i in range(2):  # [q, 0, v] bias, k third masked
        mask = official[f'blocks.{i}.attn.qkv.bias_mask']
        assert mask.tolist() == [1.] * 32 + [0.] * 32 + [1.] * 32
        assert not official[f'blocks.{i}.attn.qkv.bias'][32:64].any()
    # timm's own official->timm filter agrees with ours, tensor for tensor
    ours, dropped, periods = dinov3_to_timm(official)
    theirs = checkpoint_filter_fn(official, ref)
    assert ours.keys() == theirs.keys() == ref.state_dict().keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert torch.equal(periods, ref.rope.periods)
    assert 'mask_token' in dropped


def test_k_bias_is_masked_and_a_wrong_mask_is_refused():
    ref = _timm(DINOV3)
    official = _official(ref)
    official['blocks.0.attn.qkv.bias'][32:64] = 5.0  # masked in DINOv3
    vit = _ours(DINOV3)
    load_state_dict_converted(vit, official)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (_features(vit, x) - _timm_features(ref, x)).abs().max() < 1e-4
    official['blocks.1.attn.qkv.bias_mask'][40] = 1.0
    before = vit.state_dict()['model.blocks.0.attn.q_bias'].clone()
    with pytest.raises(ValueError, match='blocks.1.attn.qkv.bias_mask'):
        load_state_dict_converted(_ours(DINOV3, ), official)
    assert torch.equal(vit.state_dict()['model.blocks.0.attn.q_bias'], before)


def test_rope_periods_come_from_the_official_file():
    """The official files keep bf16-rounded periods, which the official
    model uses; another RoPE base is refused."""
    ref = _timm(DINOV3)
    official = _official(ref)
    rounded = official['rope_embed.periods'].bfloat16().float()
    assert not torch.equal(rounded, ref.rope.periods)
    official['rope_embed.periods'] = rounded
    vit = _ours(DINOV3)
    load_state_dict_converted(vit, official)
    assert torch.equal(vit.model.rope.periods, rounded)
    # the teacher copy (load_state_dict) gets the same periods
    other = _ours(DINOV3)
    other.load_state_dict(vit.state_dict())
    assert torch.equal(other.model.rope.periods, rounded)
    official['rope_embed.periods'] = rounded * 2
    with pytest.raises(ValueError, match='RoPE periods'):
        load_state_dict_converted(_ours(DINOV3), official)


def test_wrong_model_names_keys_and_loads_nothing():
    sd = _timm(DINOV3, depth=3).state_dict()
    vit = _ours(DINOV3)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match='model.blocks.2'):
        load_state_dict_converted(vit, sd)
    # an official file into a model without q/v biases: unexpected keys
    with pytest.raises(CheckpointMismatchError, match='q_bias'):
        load_state_dict_converted(
            TimmViT('vit_small_patch16_dinov3', img_size=64,
                    model_kwargs=TINY), _official(_timm(DINOV3)))
    assert all(torch.equal(v, before[k]) for k, v in vit.state_dict().items())


# ----------------------------------------------------------------- masking
@pytest.mark.parametrize('name', [DINOV3, EVA02])
def test_kept_tokens_see_their_own_rope_positions(name):
    """Reference: timm's full forward where attention may not look at the
    dropped tokens; the kept tokens' outputs must equal ours after
    keep_tokens, whose RoPE positions are those of the kept tokens."""
    ref = _timm(name)
    vit = _ours(name)
    load_state_dict_converted(vit, ref.state_dict())
    x = torch.randn(2, 3, 48, 80)  # 3x5 grid
    hw, E = (3, 5), ref.num_prefix_tokens
    keep = torch.stack([torch.tensor([0, 2, 3, 7, 8, 11, 14]),
                        torch.tensor([1, 4, 5, 6, 9, 12, 13])])
    allowed = torch.zeros(2, E + 15, dtype=torch.bool)
    allowed[:, :E] = True
    allowed.scatter_(1, keep + E, True)
    attn_mask = allowed[:, None, None, :].expand(-1, 1, E + 15, -1)
    with torch.no_grad():
        full = ref.forward_features(x, attn_mask=attn_mask)[:, E:]
        want = torch.gather(full, 1, keep[..., None].expand(-1, -1, 32))
        tokens, grid = embed_tokens(vit, x)
        assert grid == hw
        tokens = forward_blocks(vit, keep_tokens(vit, tokens, keep), hw=hw,
                                keep=keep)
        fmap = patch_featmap(vit, tokens, hw, keep).flatten(2).transpose(1, 2)
    got = torch.gather(fmap, 1, keep[..., None].expand(-1, -1, 32))
    assert (got - want).abs().max() < 1e-4
    dropped = torch.ones(2, 15, dtype=torch.bool).scatter_(1, keep, False)
    assert not fmap[dropped].any()
    with pytest.raises(ValueError, match='keep'):  # positions are needed
        forward_blocks(vit, keep_tokens(vit, embed_tokens(vit, x)[0], keep),
                       hw=hw)
    with pytest.raises(ValueError, match='hw'):
        forward_blocks(vit, embed_tokens(vit, x)[0])


# ------------------------------------------------------------------ configs
DINOV3_ZOO = {  # config -> (official file, width, depth, heads)
    'mosic_dinov3_vits16_ytvos.py':
    ('dinov3_vits16_pretrain_lvd1689m-08c60483.pth', 384, 12, 6),
    'mosic_dinov3_vitb16_ytvos.py':
    ('dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth', 768, 12, 12),
    'mosic_dinov3_vitl16_ytvos.py':
    ('dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth', 1024, 24, 16),
}


def _build_on_meta(cfg):
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def _check_trainable(model, depth, width):
    vit = model.backbone
    assert vit.embed_dims == width and len(vit.layers) == depth
    assert vit.patch_size == 16 and vit.patch_resolution == (14, 14)
    first_linear = next(m for m in model.head.modules()
                        if isinstance(m, torch.nn.Linear))
    assert first_linear.in_features == width
    k = model.num_trainable_blocks
    trainable = {n for n, p in vit.named_parameters() if p.requires_grad}
    assert all(n.startswith('model.blocks.') for n in trainable)
    assert {int(n.split('.')[2]) for n in trainable} == set(
        range(depth - k, depth))


@pytest.mark.parametrize('name', list(DINOV3_ZOO))
def test_dinov3_config_builds_and_takes_the_official_key_set(name):
    fname, width, depth, heads = DINOV3_ZOO[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.checkpoint, init.layout) == (
        'ConvertedPretrained', f'checkpoints/{fname}', 'dinov3')
    model = _build_on_meta(cfg)
    assert model.backbone.num_extra_tokens == 5  # cls + 4 storage tokens
    _check_trainable(model, depth, width)
    sd = {k: torch.empty(s, device='meta') for k, s in
          dinov3_official_shapes(width, depth, 4 * width, heads).items()}
    report = load_state_dict_converted(model.backbone, sd, 'dinov3')
    assert report.ok and not report.missing and not report.unexpected
    assert len(report.loaded) == len(model.backbone.state_dict())


def test_eva02_clip_config_takes_timms_file_and_the_open_clip_file():
    """The reference loads timm's pretrained eva02_base_patch16_clip_224
    (timm layout with the CLIP projection head); open_clip's file works
    too."""
    cfg = Config.fromfile(osp.join(REPO, 'configs',
                                   'mosic_eva02_clip_vitb16_ytvos.py'))
    init = cfg.model.backbone.init_cfg
    assert init.layout == 'auto' and init.checkpoint.endswith(
        'eva02_base_patch16_clip_224.merged2b.safetensors')
    model = _build_on_meta(cfg)
    assert model.backbone.num_extra_tokens == 1
    _check_trainable(model, 12, 768)
    with torch.device('meta'):  # the file timm's pretrained loader reads
        trunk = timm.create_model(EVA02, pretrained=False,
                                  num_classes=512).state_dict()
    assert 'head.weight' in trunk  # CLIP projection: dropped, not loaded
    report = load_state_dict_converted(model.backbone, trunk)
    assert report.ok and report.layout == 'timm'
    assert len(report.loaded) == len(model.backbone.state_dict())
    assert 'head.weight' in report.dropped
    sd = {f'visual.trunk.{k}': v for k, v in trunk.items()}
    sd['text.token_embedding.weight'] = torch.empty(49408, 512,
                                                    device='meta')
    report = load_state_dict_converted(model.backbone, sd)
    assert report.ok and report.layout == 'open_clip'
    assert len(report.loaded) == len(model.backbone.state_dict())
    assert {'visual.trunk.head.weight',
            'text.token_embedding.weight'} <= set(report.dropped)


@pytest.mark.parametrize('name,strip', [
    ('mosic_leopart_vits16_ytvos.py', 1), ('mosic_timet_vits16_ytvos.py', 2)])
def test_leopart_and_timet_configs_take_prefixed_timm_vits16(name, strip):
    """As the official code: timm vit_small_patch16_224 keys behind one
    (Leopart) / two (TimeT) leading components."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'baselines', name))
    init = cfg.model.backbone.init_cfg
    assert init.strip_components == strip and init.layout == 'timm'
    vit = _build_on_meta(cfg).backbone
    with torch.device('meta'):
        sd = timm.create_model('vit_small_patch16_224', pretrained=False,
                               num_classes=0).state_dict()
    prefixed = {'.'.join(['x'] * strip + [k]): v for k, v in sd.items()}
    report = load_state_dict_converted(
        vit, strip_components(prefixed, strip), init.layout)
    assert report.ok and len(report.loaded) == len(vit.state_dict())
    with pytest.raises(CheckpointMismatchError):  # one component too few
        load_state_dict_converted(vit, strip_components(prefixed, strip - 1)
                                  if strip > 1 else prefixed, 'timm')


def test_neco_config_is_dinov2_reg_s14():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'baselines',
                                   'mosic_neco_vits14_reg_ytvos.py'))
    vit = _build_on_meta(cfg).backbone
    assert vit.num_register_tokens == 4 and vit.embed_dims == 384
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        'neco_on_dinov2r_vit14_model.ckpt')


# ------------------------------------------------------ MoSiC and export
def _mosic_cfg(share, teacher_dtype, backbone=None):
    """Tiny MoSiC; ``backbone`` defaults to a 3-block DINOv3 at 64 px."""
    return dict(
        type='MoSiC',
        backbone=backbone or dict(type='TimmViT', model_name=DINOV3,
                                  img_size=64,
                                  model_kwargs=dict(TINY, depth=3)),
        head=dict(type='SinkhornClusteringHead', hidden_channels=(48, ),
                  out_channels=16, num_prototypes=8),
        num_trainable_blocks=1, share_frozen_trunk=share,
        teacher_dtype=teacher_dtype)


def _synthetic_batches(root, n=3):
    from mmengine.dataset import pseudo_collate

    from conftest import SYNTHETIC_CONFIG, tiny_train_overrides
    from mosic_mm.registry import DATASETS
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.merge_from_dict(tiny_train_overrides(root))
    cfg.merge_from_dict({'train_dataloader.dataset.pipeline.2.size': 64,
                         'train_dataloader.dataset.pipeline.4.grid_size': 4})
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    torch.manual_seed(0)
    return [pseudo_collate([dataset[(2 * i) % len(dataset)],
                            dataset[(2 * i + 1) % len(dataset)]])
            for i in range(n)]  # random crops differ on the second pass


def _train(batches, share, teacher_dtype, backbone=None):
    """3 AdamW steps with the EMA teacher update -> losses, grads, model."""
    torch.manual_seed(0)
    model = MODELS.build(_mosic_cfg(share, teacher_dtype, backbone))
    with torch.no_grad():  # move LayerScale etc. away from near-identity
        for p in model.backbone.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.init_weights()  # teacher = student
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=1e-2)
    losses, grads = [], []
    for batch in batches:
        data = model.data_preprocessor(batch, True)
        loss = model(**data, mode='loss')['loss']
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
        opt.step()
        opt.zero_grad()
        model.update_teacher(0.9)  # teacher != student from step 2 on
    return losses, grads, model


def _shared_trunk_equals_unshared(batches, teacher_dtype, backbone=None):
    """Train with and without the shared frozen trunk: the same loss and
    gradients at every step. Returns the shared run's model."""
    shared = _train(batches, True, teacher_dtype, backbone)
    ref = _train(batches, False, teacher_dtype, backbone)
    assert shared[2]._uses_shared_trunk() and not ref[2]._uses_shared_trunk()
    for step, (a, b) in enumerate(zip(shared[0], ref[0])):
        assert torch.allclose(a, b, atol=1e-6), (step, a, b)
    for step, (ga, gb) in enumerate(zip(shared[1], ref[1])):
        assert ga.keys() == gb.keys() and any('blocks.2' in n for n in ga)
        for n in ga:
            assert torch.allclose(ga[n], gb[n], atol=1e-6, rtol=1e-4), (step,
                                                                       n)
    return shared[2]


def _teacher_exports_load_into_timm(model, tmp_path, make_net, converters):
    """Export the trained teacher in each format of ``converters`` (format ->
    None, or fn(file state dict, net) -> timm state dict); each file loads
    strictly into ``make_net()`` with the teacher's patch features."""
    from mosic_mm.models.backbones.export import export_backbone
    ckpt = str(tmp_path / 'iter_3.pth')
    torch.save(dict(meta=dict(iter=3), state_dict=model.state_dict()), ckpt)
    x = torch.randn(2, 3, 48, 80)
    with torch.no_grad():
        want = model.teacher['backbone'](x)[0].flatten(2).transpose(1, 2)
    for fmt, convert in converters.items():
        sd = export_backbone(ckpt, str(tmp_path / f'{fmt}.pth'), 'teacher',
                             fmt)
        net = make_net()
        if convert is not None:
            sd = convert(sd, net)
        net.load_state_dict(sd, strict=True)
        with torch.no_grad():
            assert torch.equal(_timm_features(net, x), want), fmt


def _from_dinov3(sd, net):
    assert 'storage_tokens' in sd and 'rope_embed.periods' in sd
    return checkpoint_filter_fn(sd, net)  # timm's own official loader


@pytest.mark.parametrize('teacher_dtype', [None, 'bfloat16'])
def test_dinov3_mosic_shared_trunk_equals_unshared_and_exports(
        synthetic_root, tmp_path, teacher_dtype):
    """Tiny DINOv3 (RoPE + storage tokens) on the synthetic clips, 3 steps:
    the shared frozen trunk gives the unshared path's loss and gradients."""
    model = _shared_trunk_equals_unshared(_synthetic_batches(synthetic_root),
                                          teacher_dtype)
    # the trained teacher exports to timm's and the official layouts
    _teacher_exports_load_into_timm(
        model, tmp_path,
        lambda: timm.create_model(DINOV3, pretrained=False, num_classes=0,
                                  img_size=64, dynamic_img_size=True,
                                  **dict(TINY, depth=3)).eval(),
        dict(timm=None, dinov3=_from_dinov3))


def test_dinov3_mosic_masking_passes_kept_positions(synthetic_root):
    """mask_ratio > 0: the student's kept tokens reach the RoPE blocks with
    their own positions (without keep= the blocks refuse the token count)."""
    batches = _synthetic_batches(synthetic_root, n=1)
    torch.manual_seed(0)
    model = MODELS.build(dict(_mosic_cfg(True, None), mask_ratio=0.5))
    model.init_weights()
    model.train()
    data = model.data_preprocessor(batches[0], True)
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.layers[2].attn.qkv.weight.grad.abs().sum() > 0


def test_export_formats_of_a_timm_backbone(tmp_path):
    from mosic_mm.models.backbones import ConvertedPretrainedInit
    from mosic_mm.models.backbones.export import export_backbone
    torch.manual_seed(0)
    cfg = _mosic_cfg(True, None)
    cfg['backbone'].update(model_name=EVA02, model_kwargs=TINY)
    model = MODELS.build(cfg)
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))  # teacher != student
    ckpt = str(tmp_path / 'iter_1.pth')
    torch.save(dict(meta=dict(iter=1), state_dict=model.state_dict()), ckpt)
    teacher = model.teacher['backbone'].state_dict()
    for fmt, prefix in (('mmpretrain', 'backbone.'), ('open_clip', None),
                        ('timm', None)):
        out = str(tmp_path / f'{fmt}.pth')
        export_backbone(ckpt, out, 'teacher', fmt)
        vit = _ours(EVA02)
        report = ConvertedPretrainedInit(out, prefix=prefix).load(vit)
        assert report.layout == dict(mmpretrain='native').get(fmt, fmt)
        state = vit.state_dict()
        assert all(torch.equal(state[k], teacher[k]) for k in teacher), fmt
    with pytest.raises(ValueError, match='TimmViT'):
        export_backbone(ckpt, str(tmp_path / 'x.pth'), 'teacher', 'dinov2')
    with pytest.raises(ValueError, match='DINOv3-shaped'):
        export_backbone(ckpt, str(tmp_path / 'x.pth'), 'teacher', 'dinov3')


# ---------------------------------------------------- evaluation and mmseg
SEG_DINOV3 = osp.join(REPO, 'configs', 'benchmarks', 'mmseg', 'dinov3')


@pytest.mark.parametrize('name', ['linear_dinov3_vits16_voc12aug.py',
                                  'linear_dinov3_vits16_ade20k.py'])
def test_mmseg_dinov3_configs(name):
    cfg = Config.fromfile(osp.join(SEG_DINOV3, name))
    bb = cfg.model.backbone
    assert bb.type == 'mmpretrain.TimmViT' and bb.init_cfg.prefix == \
        'backbone.'
    bb = dict(bb, type='TimmViT', init_cfg=None)
    with torch.device('meta'):
        vit = MODELS.build(bb)
    assert cfg.model.decode_head.in_channels == vit.embed_dims == 384
    assert bb['frozen_stages'] == len(vit.layers)
    assert not any(p.requires_grad for p in vit.parameters())
    assert all(s % 16 == 0 for s in cfg.crop_size)
    tiny = MODELS.build(dict(bb, model_kwargs=TINY, frozen_stages=2))
    with torch.no_grad():  # 224 px -> 14x14 tokens for a /16 model
        assert tiny(torch.zeros(1, 3, 224, 224))[0].shape == (1, 32, 14, 14)
    tiny.train()
    assert not any(m.training for m in tiny.model.blocks)


def test_mmseg_linear_probe_with_a_dinov3_backbone(synthetic_root, tmp_path):
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    vit = _ours(DINOV3)
    load_state_dict_converted(vit, _timm(DINOV3).state_dict())
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}}, ckpt)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                                   'linear_synthetic.py'))
    cfg.model.backbone = dict(
        type='mmpretrain.TimmViT', model_name=DINOV3, img_size=112,
        model_kwargs=TINY, frozen_stages=2,
        init_cfg=dict(type='ConvertedPretrained', checkpoint=ckpt,
                      prefix='backbone.'))
    cfg.merge_from_dict({
        'model.decode_head.in_channels': 32,
        'train_dataloader.dataset.data_root': synthetic_root,
        'val_dataloader.dataset.data_root': synthetic_root,
        'train_dataloader.batch_size': 4, 'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2, 'param_scheduler.0.T_max': 2,
        'default_hooks.checkpoint.interval': 2,
        'work_dir': str(tmp_path / 'work')})
    with DefaultScope.overwrite_default_scope('mmseg'):
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.val_loop.run()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    got = runner.model.backbone.state_dict()
    for k, v in vit.state_dict().items():  # loaded, and stayed frozen
        torch.testing.assert_close(got[k], v, msg=k)


def _evaluation_matches_timm(tmp_path, ref, weights, base_config, size,
                             patch, model_kwargs):
    """Write ``weights`` (a state dict of timm model ``ref``) and a tiny
    config over ``base_config``; tools/evaluate.py's MODEL path (build +
    extract at ``size`` px) gives ``ref``'s patch features. Returns
    (config path, backbone, info, images, features)."""
    from mosic_mm.evaluation.features import build_backbone, extract_features
    path = str(tmp_path / 'weights.pth')
    torch.save(weights, path)
    config = tmp_path / 'tiny_config.py'
    config.write_text(
        f"_base_ = '{base_config}'\nmodel = dict(backbone=dict("
        f"img_size={size}, model_kwargs={model_kwargs!r}, "
        f"init_cfg=dict(checkpoint={path!r})))\n")
    vit, info = build_backbone(str(config), None, 'teacher')
    assert info['patch_size'] == patch
    images = (torch.rand(2, size, size, 3) * 255).to(torch.uint8).numpy()
    feats = torch.from_numpy(extract_features(vit, images, size, info['mean'],
                                              info['std']))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(info['mean']).view(1, 3, 1, 1)) / torch.tensor(
        info['std']).view(1, 3, 1, 1)
    with torch.no_grad():
        want = _timm_features(ref, x)
    assert feats.shape[-2:] == (size // patch, size // patch)
    assert (feats.flatten(2).transpose(1, 2) - want).abs().max() < 1e-4
    return config, vit, info, images, feats


def test_evaluation_builds_a_dinov3_config_from_the_official_file(tmp_path):
    """tools/evaluate.py's MODEL path: a config + the official file (or a
    training checkpoint) -> the patch features of timm's model."""
    from mosic_mm.evaluation.features import build_backbone, extract_features
    ref = _timm(DINOV3)
    config, vit, info, images, feats = _evaluation_matches_timm(
        tmp_path, ref, _official(ref),
        osp.join(REPO, 'configs', 'mosic_dinov3_vits16_ytvos.py'), 64, 16,
        TINY)
    # the same backbone exported (mmpretrain format) as MODEL
    exported = str(tmp_path / 'exported.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}},
               exported)
    again, _ = build_backbone(str(config), exported, 'student')
    assert torch.equal(torch.from_numpy(extract_features(
        again, images, 64, info['mean'], info['std'])), feats)


def test_eva02_equals_the_reference_fixed_size_model_at_224():
    """The reference builds eva02_base_patch16_clip_224 without
    dynamic_img_size (fixed 14x14 RoPE and position grid): same features
    at the training size."""
    torch.manual_seed(0)
    ref = timm.create_model(EVA02, pretrained=False, num_classes=0,
                            **TINY).eval()
    assert not ref.dynamic_img_size
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.2 * torch.randn_like(p))
    vit = TimmViT(EVA02, img_size=224, model_kwargs=TINY).eval()
    load_state_dict_converted(vit, ref.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        diff = (_features(vit, x) - _timm_features(ref, x)).abs().max()
    assert diff < 1e-4, diff
