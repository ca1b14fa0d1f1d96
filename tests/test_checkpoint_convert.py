"""Parity of converted checkpoints: timm ViTs built with the DINOv2 / DINO
architectures (tiny, random weights) saved in the official and timm layouts,
loaded into our backbone: identical patch features."""
import argparse

import pytest
import torch
from timm.layers import SwiGLUPacked
from timm.models.vision_transformer import VisionTransformer as TimmViT

from mosic_mm.models.backbones import (CheckpointMismatchError,
                                       DINOVisionTransformer, detect_layout,
                                       load_state_dict_converted,
                                       to_mmpretrain)
from mosic_mm.models.backbones.convert import resample_pos_embed
from mosic_mm.models.backbones.weight_init import ConvertedPretrainedInit
from mosic_mm.registry import MODELS

C, DEPTH, HEADS = 32, 2, 2
# kind -> (patch, registers, layer scale, swiglu)
KINDS = dict(dinov2=(14, 0, True, False), dinov2_reg=(14, 4, True, False),
             dinov2_g=(14, 0, True, True), dinov2_g_reg=(14, 4, True, True),
             dino=(16, 0, False, False))


def timm_vit(kind: str, grid: int = 4, dynamic: bool = False) -> TimmViT:
    """timm ViT with the DINOv2 / DINO architecture and random weights."""
    patch, reg, ls, swiglu = KINDS[kind]
    torch.manual_seed(0)
    extra = dict(mlp_layer=SwiGLUPacked, act_layer=torch.nn.SiLU) \
        if swiglu else {}
    model = TimmViT(img_size=grid * patch, patch_size=patch, embed_dim=C,
                    depth=DEPTH, num_heads=HEADS, mlp_ratio=4,
                    init_values=1e-5 if ls else None, reg_tokens=reg,
                    no_embed_class=reg > 0, num_classes=0,
                    dynamic_img_size=dynamic, **extra)
    with torch.no_grad():  # far from the identity-like default init
        for name, p in model.named_parameters():
            p.normal_(1.0 if 'norm' in name and name.endswith('weight')
                      else 0.0, 0.3)
    model.eval()
    return model


def our_vit(kind: str, grid: int = 4, **kw) -> DINOVisionTransformer:
    patch, reg, ls, swiglu = KINDS[kind]
    vit = DINOVisionTransformer(
        arch=dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS,
                  feedforward_channels=4 * C * 3 // 4 if swiglu else 4 * C),
        img_size=grid * patch, patch_size=patch, out_type='featmap',
        layer_scale_init_value=1e-5 if ls else 0., num_register_tokens=reg,
        layer_cfgs=dict(ffn_type='swiglu_fused') if swiglu else dict(), **kw)
    vit.eval()
    return vit


def official_from_timm(timm_sd: dict, kind: str) -> dict:
    """The official DINOv2 / DINO file layout, reconstructed from timm's
    (inverse of timm's ``_convert_dinov2``)."""
    sd = dict(timm_sd)
    if kind == 'dino':
        return sd  # DINO v1 uses timm's names
    torch.manual_seed(1)
    if 'reg_token' in sd:  # timm folds the cls position into cls_token
        p0 = torch.randn(1, 1, C)
        sd['register_tokens'] = sd.pop('reg_token')
        sd['cls_token'] = sd['cls_token'] - p0
        sd['pos_embed'] = torch.cat([p0, sd['pos_embed']], dim=1)
    for key in list(sd):
        if KINDS[kind][3] and '.mlp.fc' in key:
            sd[key.replace('mlp.fc1', 'mlp.w12').replace('mlp.fc2',
                                                         'mlp.w3')] = sd.pop(key)
    sd['mask_token'] = torch.randn(1, C)
    return sd


def patch_features_timm(model: TimmViT, x: torch.Tensor) -> torch.Tensor:
    """[B, h*w, C] patch tokens after the final norm."""
    with torch.no_grad():
        return model.forward_features(x)[:, model.num_prefix_tokens:]


def patch_features(vit, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return vit(x)[-1].flatten(2).transpose(1, 2)


@pytest.mark.parametrize('kind', list(KINDS))
@pytest.mark.parametrize('layout', ['official', 'timm'])
def test_parity_through_init_cfg(tmp_path, kind, layout):
    model = timm_vit(kind)
    sd = model.state_dict()
    if layout == 'official':
        sd = official_from_timm(sd, kind)
    path = str(tmp_path / 'ckpt.pth')
    torch.save(sd, path)
    patch = KINDS[kind][0]
    vit = our_vit(kind, init_cfg=dict(type='ConvertedPretrained',
                                      checkpoint=path))
    vit.init_weights()
    x = torch.randn(2, 3, 4 * patch, 4 * patch)
    ref = patch_features_timm(model, x)
    diff = (patch_features(vit, x) - ref).abs().max()
    assert diff < 1e-5, (kind, layout, diff)
    assert ref.std() > 0.1  # not a degenerate comparison
    expected = {'official': 'dino' if kind == 'dino' else 'dinov2',
                'timm': 'timm' if KINDS[kind][1] else
                ('dino' if kind == 'dino' else 'dinov2')}[layout]
    assert detect_layout(sd) == expected


def test_parity_fails_on_a_wrong_conversion():
    """Negative control: registers placed after the patches differ."""
    model = timm_vit('dinov2_reg')
    vit = our_vit('dinov2_reg')
    load_state_dict_converted(vit, model.state_dict())
    x = torch.randn(1, 3, 56, 56)
    ref = patch_features_timm(model, x)
    assert (patch_features(vit, x) - ref).abs().max() < 1e-5
    with torch.no_grad():
        vit.layers[0].attn.qkv.weight[0, 0] += 0.5
    assert (patch_features(vit, x) - ref).abs().max() > 1e-3


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg'])
def test_pos_embed_resampled_like_timm(kind):
    """timm (dynamic_img_size) interpolates at run time; we resample once at
    load time to the training grid with the same interpolation."""
    model = timm_vit(kind, grid=4, dynamic=True)
    vit = our_vit(kind, grid=6)
    report = load_state_dict_converted(vit, model.state_dict(), 'timm')
    assert report.resampled == ((4, 4), (6, 6))
    x = torch.randn(2, 3, 84, 84)
    diff = (patch_features(vit, x) - patch_features_timm(model, x)).abs().max()
    assert diff < 1e-5, diff


def _dinov2_interpolate(pos, dst, offset, antialias):
    """DINOv2's ``interpolate_pos_encoding`` (facebookresearch/dinov2)."""
    n = pos.shape[1] - 1
    m = int(n**0.5)
    kwargs = dict(scale_factor=((dst + offset) / m, ) * 2) if offset else \
        dict(size=(dst, dst))
    grid = torch.nn.functional.interpolate(
        pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2), mode='bicubic',
        antialias=antialias, **kwargs)
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1,
                                                                  pos.shape[2])],
                     dim=1)


@pytest.mark.parametrize('kind,offset,antialias', [('dinov2', 0.1, False),
                                                   ('dinov2_reg', 0.0, True),
                                                   ('dino', 0.1, False)])
def test_official_pos_embed_follows_the_source_model(kind, offset, antialias):
    sd = official_from_timm(timm_vit(kind, grid=7).state_dict(), kind)
    vit = our_vit(kind, grid=4)
    report = load_state_dict_converted(vit, sd)
    assert report.resampled == ((7, 7), (4, 4))
    ref = _dinov2_interpolate(sd['pos_embed'], 4, offset, antialias)
    assert torch.allclose(vit.pos_embed.detach(), ref, atol=1e-6)
    plain = resample_pos_embed(sd['pos_embed'], (4, 4), 1)
    assert not torch.allclose(plain, ref, atol=1e-4)  # the choice matters


def test_wrong_architecture_names_keys_and_shapes():
    sd = timm_vit('dinov2').state_dict()
    wide = DINOVisionTransformer(
        arch=dict(embed_dims=48, num_layers=3, num_heads=2,
                  feedforward_channels=128), img_size=56, patch_size=14,
        out_type='featmap', layer_scale_init_value=1e-5)
    before = {k: v.clone() for k, v in wide.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_converted(wide, sd, source='small.pth')
    msg = str(err.value)
    assert 'small.pth' in msg
    assert 'layers.2.attn.qkv.weight' in msg  # missing block
    assert 'shape mismatch layers.0.attn.qkv.weight: checkpoint (96, 32) ' \
        'vs backbone (144, 48)' in msg
    assert all(torch.equal(before[k], v) for k, v in wide.state_dict().items())


@pytest.mark.parametrize('src,dst,missing,unexpected', [
    ('dinov2_reg', 'dinov2', [], ['register_tokens']),
    ('dinov2', 'dinov2_reg', ['register_tokens'], []),
    ('dino', 'dinov2', ['layers.0.attn.gamma1.weight'], []),
])
def test_missing_and_unexpected_are_errors(src, dst, missing, unexpected):
    sd = official_from_timm(timm_vit(src).state_dict(), src)
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_converted(our_vit(dst), sd)
    for key in missing:
        assert 'missing in the checkpoint: [' in str(err.value)
        assert key in str(err.value)
    for key in unexpected:
        assert 'unexpected (not in the backbone)' in str(err.value)
        assert key in str(err.value)


def test_dropped_and_chunked_keys():
    sd = official_from_timm(timm_vit('dinov2').state_dict(), 'dinov2')
    chunked = {(k.replace('blocks.', 'blocks.0.', 1) if k.startswith(
        'blocks.') else k): v for k, v in sd.items()}  # FSDP block chunks
    vit = our_vit('dinov2')
    report = load_state_dict_converted(vit, chunked)
    assert report.ok and report.dropped == ['mask_token']
    converted, dropped = to_mmpretrain(sd, 'dinov2')
    assert dropped == ['mask_token'] and 'layers.1.ffn.layers.1.weight' in \
        converted


def test_checkpoint_files_prefix_safetensors_and_errors(tmp_path):
    from safetensors.torch import save_file
    model = timm_vit('dinov2_reg')
    x = torch.randn(1, 3, 56, 56)
    ref = patch_features_timm(model, x)
    # a training-checkpoint-like file: nested, under a prefix
    nested = str(tmp_path / 'train.pth')
    torch.save({'state_dict': {f'teacher.backbone.{k}': v for k, v in
                               model.state_dict().items()}}, nested)
    st = str(tmp_path / 'model.safetensors')
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, st)
    for path, prefix in ((nested, 'teacher.backbone.'), (st, None)):
        vit = our_vit('dinov2_reg')
        ConvertedPretrainedInit(path, prefix=prefix).load(vit)
        assert (patch_features(vit, x) - ref).abs().max() < 1e-5
    with pytest.raises(KeyError, match='prefix'):
        ConvertedPretrainedInit(nested, prefix='student.').load(our_vit(
            'dinov2_reg'))
    with pytest.raises(FileNotFoundError, match='Backbones and pretrained'):
        ConvertedPretrainedInit(str(tmp_path / 'nope.pth')).load(our_vit(
            'dinov2'))
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save({'args': argparse.Namespace(a=1), **model.state_dict()},
               unsafe)
    with pytest.raises(RuntimeError, match='weights_only=True'):
        ConvertedPretrainedInit(unsafe).load(our_vit('dinov2_reg'))


def test_converted_init_refuses_a_plain_vit(tmp_path):
    path = str(tmp_path / 'c.pth')
    torch.save(timm_vit('dinov2').state_dict(), path)
    vit = MODELS.build(dict(
        type='VisionTransformer', arch=dict(embed_dims=C, num_layers=DEPTH,
                                            num_heads=HEADS,
                                            feedforward_channels=4 * C),
        img_size=56, patch_size=14, out_type='featmap',
        layer_scale_init_value=1e-5,
        init_cfg=dict(type='ConvertedPretrained', checkpoint=path)))
    with pytest.raises(TypeError, match='DINOVisionTransformer'):
        vit.init_weights()


def test_mosic_init_weights_loads_student_and_teacher(tmp_path):
    model = timm_vit('dinov2_reg')
    path = str(tmp_path / 'reg.pth')
    torch.save(official_from_timm(model.state_dict(), 'dinov2_reg'), path)
    mosic = MODELS.build(dict(
        type='MoSiC',
        backbone=dict(type='DINOVisionTransformer',
                      arch=dict(embed_dims=C, num_layers=DEPTH,
                                num_heads=HEADS, feedforward_channels=4 * C),
                      img_size=56, patch_size=14, out_type='featmap',
                      layer_scale_init_value=1e-5, num_register_tokens=4,
                      init_cfg=dict(type='ConvertedPretrained',
                                    checkpoint=path, layout='dinov2')),
        head=dict(type='SinkhornClusteringHead', hidden_channels=(48, ),
                  out_channels=16, num_prototypes=8),
        num_trainable_blocks=1))
    mosic.init_weights()
    x = torch.randn(2, 3, 56, 56)
    ref = patch_features_timm(model, x)
    for vit in (mosic.backbone, mosic.teacher['backbone']):
        vit.eval()
        assert (patch_features(vit, x) - ref).abs().max() < 1e-5


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg', 'dinov2_g_reg'])
def test_official_layout_agrees_with_timms_own_dinov2_converter(kind):
    """timm's checkpoint_filter_fn reads the official DINOv2 files; it must
    read our reconstruction of them back into the same model."""
    from timm.models.vision_transformer import checkpoint_filter_fn
    model = timm_vit(kind)
    official = official_from_timm(model.state_dict(), kind)
    other = timm_vit(kind)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    other.load_state_dict(checkpoint_filter_fn(dict(official), other),
                          strict=True)
    x = torch.randn(1, 3, 56, 56)
    assert torch.allclose(patch_features_timm(other, x),
                          patch_features_timm(model, x), atol=1e-6)


@pytest.mark.parametrize('config,kind', [('mosic_vits_ytvos.py', 'dinov2'),
                                         ('mosic_vits_reg_ytvos.py',
                                          'dinov2_reg')])
def test_ytvos_configs_start_from_what_the_reference_loads(tmp_path, config,
                                                           kind):
    """The reference builds DINOv2 through timm at img_size=224: timm's
    loader (checkpoint_filter_fn) resamples the official 37x37 pos_embed
    to 16x16 bicubically with antialiasing. The configs' init_cfg gives the
    same start; DINOv2's own interpolation stays selectable."""
    import os.path as osp

    from mmengine.config import Config
    from timm.layers import resample_abs_pos_embed
    from timm.models.vision_transformer import checkpoint_filter_fn

    from conftest import REPO
    init = Config.fromfile(osp.join(REPO, 'configs', config)
                           ).model.backbone.init_cfg.to_dict()
    official = official_from_timm(timm_vit(kind, grid=37).state_dict(), kind)
    path = str(tmp_path / 'dinov2_official.pth')
    torch.save(official, path)
    init.update(checkpoint=path)
    init.pop('type')
    vit = our_vit(kind, grid=16)
    report = ConvertedPretrainedInit(**init).load(vit)
    assert report.resampled == ((37, 37), (16, 16))
    want = resample_abs_pos_embed(official['pos_embed'], (16, 16), (37, 37),
                                  num_prefix_tokens=1)
    assert torch.allclose(vit.pos_embed.detach(), want, atol=1e-6)
    # the whole start equals timm's pretrained loading at img_size=224
    ref = timm_vit(kind, grid=16)
    ref.load_state_dict(checkpoint_filter_fn(official, ref))
    x = torch.randn(1, 3, 224, 224)
    diff = (patch_features(vit, x) - patch_features_timm(ref, x)).abs().max()
    assert diff < 1e-4, diff
    # the other mode, DINOv2's interpolate_pos_encoding, is selectable
    init.update(pos_embed_interp=None)
    other = our_vit(kind, grid=16)
    ConvertedPretrainedInit(**init).load(other)
    if kind == 'dinov2':  # offset 0.1, no antialias: a different start
        assert not torch.allclose(other.pos_embed, vit.pos_embed, atol=1e-4)
