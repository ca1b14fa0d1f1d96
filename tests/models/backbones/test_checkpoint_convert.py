"""Converted loading into DINOVisionTransformer: timm ViTs built with the
DINOv2 / DINO architectures (tiny, random weights) saved in the official
and timm layouts give identical patch features; position embeddings are
resampled as the source model does; mismatches are named and load
nothing; the file readers (prefixes, safetensors, weights-only)."""
import argparse

import pytest
import torch

from mosic_mm.models.backbones import (
    CheckpointMismatchError,
    DINOVisionTransformer,
    detect_layout,
    load_state_dict_converted,
    to_mmpretrain,
)
from mosic_mm.models.backbones.convert import resample_pos_embed
from mosic_mm.models.backbones.weight_init import ConvertedPretrainedInit
from mosic_mm.registry import MODELS

KINDS = ['dinov2', 'dinov2_reg', 'dinov2_g', 'dinov2_g_reg', 'dino']


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('layout', ['official', 'timm'])
def test_parity_through_init_cfg(tmp_path, kind, layout, dino_kinds,
                                 timm_dino_vit, dino_vit,
                                 official_dino_file, patch_tokens):
    """A file in either layout, named by ``init_cfg``, gives timm's patch
    features; its layout is detected."""
    model = timm_dino_vit(kind)
    sd = model.state_dict()
    if layout == 'official':
        sd = official_dino_file(sd, kind)
    path = str(tmp_path / 'ckpt.pth')
    torch.save(sd, path)
    patch, registers = dino_kinds[kind][:2]
    vit = dino_vit(kind, init_cfg=dict(type='ConvertedPretrained',
                                       checkpoint=path))
    vit.init_weights()
    x = torch.randn(2, 3, 4 * patch, 4 * patch)
    ref = patch_tokens(model, x)
    diff = (patch_tokens(vit, x) - ref).abs().max()
    assert diff < 1e-5, (kind, layout, diff)
    assert ref.std() > 0.1  # not a degenerate comparison
    family = 'dino' if kind == 'dino' else 'dinov2'
    # timm's layout differs from the official one only with registers
    expected = 'timm' if layout == 'timm' and registers else family
    assert detect_layout(sd) == expected


def test_parity_fails_on_a_wrong_conversion(timm_dino_vit, dino_vit,
                                            patch_tokens):
    """Negative control of the parity tolerance: one weight off by 0.5 is
    far outside it."""
    model = timm_dino_vit('dinov2_reg')
    vit = dino_vit('dinov2_reg')
    load_state_dict_converted(vit, model.state_dict())
    x = torch.randn(1, 3, 56, 56)
    ref = patch_tokens(model, x)
    assert (patch_tokens(vit, x) - ref).abs().max() < 1e-5
    with torch.no_grad():
        vit.layers[0].attn.qkv.weight[0, 0] += 0.5
    assert (patch_tokens(vit, x) - ref).abs().max() > 1e-3


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg'])
def test_pos_embed_resampled_like_timm(kind, timm_dino_vit, dino_vit,
                                       patch_tokens):
    """timm (dynamic_img_size) interpolates at run time; we resample once at
    load time to the training grid with the same interpolation."""
    model = timm_dino_vit(kind, grid=4, dynamic=True)
    vit = dino_vit(kind, grid=6)
    report = load_state_dict_converted(vit, model.state_dict(), 'timm')
    assert report.resampled == ((4, 4), (6, 6))
    x = torch.randn(2, 3, 84, 84)
    diff = (patch_tokens(vit, x) - patch_tokens(model, x)).abs().max()
    assert diff < 1e-5, diff


def _dinov2_interpolate(pos, dst, offset, antialias):
    """DINOv2's ``interpolate_pos_encoding`` (facebookresearch/dinov2)."""
    m = int((pos.shape[1] - 1)**0.5)
    kwargs = dict(scale_factor=((dst + offset) / m, ) * 2) if offset else \
        dict(size=(dst, dst))
    grid = torch.nn.functional.interpolate(
        pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2),
        mode='bicubic', antialias=antialias, **kwargs)
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(
        1, -1, pos.shape[2])], dim=1)


@pytest.mark.parametrize('kind,offset,antialias', [('dinov2', 0.1, False),
                                                   ('dinov2_reg', 0.0, True),
                                                   ('dino', 0.1, False)])
def test_official_pos_embed_follows_the_source_model(
        kind, offset, antialias, timm_dino_vit, dino_vit,
        official_dino_file):
    sd = official_dino_file(timm_dino_vit(kind, grid=7).state_dict(), kind)
    vit = dino_vit(kind, grid=4)
    report = load_state_dict_converted(vit, sd)
    assert report.resampled == ((7, 7), (4, 4))
    ref = _dinov2_interpolate(sd['pos_embed'], 4, offset, antialias)
    # the same interpolation, computed through another call sequence
    torch.testing.assert_close(vit.pos_embed.detach(), ref, rtol=0,
                               atol=1e-6)
    plain = resample_pos_embed(sd['pos_embed'], (4, 4), 1)
    assert (plain - ref).abs().max() > 1e-4  # the choice matters


def test_wrong_architecture_names_keys_and_shapes(timm_dino_vit):
    sd = timm_dino_vit('dinov2').state_dict()
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
    assert all(torch.equal(before[k], v)
               for k, v in wide.state_dict().items())


@pytest.mark.parametrize('src,dst,missing,unexpected', [
    ('dinov2_reg', 'dinov2', [], ['register_tokens']),
    ('dinov2', 'dinov2_reg', ['register_tokens'], []),
    ('dino', 'dinov2', ['layers.0.attn.gamma1.weight'], []),
])
def test_missing_and_unexpected_are_errors(src, dst, missing, unexpected,
                                           timm_dino_vit, dino_vit,
                                           official_dino_file):
    sd = official_dino_file(timm_dino_vit(src).state_dict(), src)
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_converted(dino_vit(dst), sd)
    for key in missing:
        assert 'missing in the checkpoint: [' in str(err.value)
        assert key in str(err.value)
    for key in unexpected:
        assert 'unexpected (not in the backbone)' in str(err.value)
        assert key in str(err.value)


def test_dropped_and_chunked_keys(timm_dino_vit, dino_vit,
                                  official_dino_file):
    sd = official_dino_file(timm_dino_vit('dinov2').state_dict(), 'dinov2')
    chunked = {(k.replace('blocks.', 'blocks.0.', 1) if k.startswith(
        'blocks.') else k): v for k, v in sd.items()}  # FSDP block chunks
    vit = dino_vit('dinov2')
    report = load_state_dict_converted(vit, chunked)
    assert report.ok and report.dropped == ['mask_token']
    converted, dropped = to_mmpretrain(sd, 'dinov2')
    assert dropped == ['mask_token']
    assert 'layers.1.ffn.layers.1.weight' in converted


def test_checkpoint_files_prefix_safetensors_and_errors(
        tmp_path, timm_dino_vit, dino_vit, patch_tokens):
    from safetensors.torch import save_file
    model = timm_dino_vit('dinov2_reg')
    x = torch.randn(1, 3, 56, 56)
    ref = patch_tokens(model, x)
    # a training-checkpoint-like file: nested, under a prefix
    nested = str(tmp_path / 'train.pth')
    torch.save({'state_dict': {f'teacher.backbone.{k}': v for k, v in
                               model.state_dict().items()}}, nested)
    st = str(tmp_path / 'model.safetensors')
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              st)
    for path, prefix in ((nested, 'teacher.backbone.'), (st, None)):
        vit = dino_vit('dinov2_reg')
        ConvertedPretrainedInit(path, prefix=prefix).load(vit)
        assert (patch_tokens(vit, x) - ref).abs().max() < 1e-5, path
    with pytest.raises(KeyError, match='prefix'):
        ConvertedPretrainedInit(nested, prefix='student.').load(
            dino_vit('dinov2_reg'))
    with pytest.raises(FileNotFoundError, match='Backbones and pretrained'):
        ConvertedPretrainedInit(str(tmp_path / 'nope.pth')).load(
            dino_vit('dinov2'))
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save({'args': argparse.Namespace(a=1), **model.state_dict()},
               unsafe)
    with pytest.raises(RuntimeError, match='weights_only=True'):
        ConvertedPretrainedInit(unsafe).load(dino_vit('dinov2_reg'))


def test_converted_init_refuses_a_plain_vit(tmp_path, timm_dino_vit,
                                            tiny_arch):
    path = str(tmp_path / 'c.pth')
    torch.save(timm_dino_vit('dinov2').state_dict(), path)
    vit = MODELS.build(dict(
        type='VisionTransformer', arch=dict(tiny_arch, num_layers=2,
                                            feedforward_channels=128),
        img_size=56, patch_size=14, out_type='featmap',
        layer_scale_init_value=1e-5,
        init_cfg=dict(type='ConvertedPretrained', checkpoint=path)))
    with pytest.raises(TypeError, match='DINOVisionTransformer'):
        vit.init_weights()


def test_mosic_init_weights_loads_student_and_teacher(
        tmp_path, timm_dino_vit, official_dino_file, patch_tokens,
        tiny_model_cfg):
    model = timm_dino_vit('dinov2_reg')
    path = str(tmp_path / 'reg.pth')
    torch.save(official_dino_file(model.state_dict(), 'dinov2_reg'), path)
    cfg = tiny_model_cfg()
    cfg['backbone'].update(
        type='DINOVisionTransformer', num_register_tokens=4,
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        init_cfg=dict(type='ConvertedPretrained', checkpoint=path,
                      layout='dinov2'))
    mosic = MODELS.build(cfg)
    mosic.init_weights()
    x = torch.randn(2, 3, 56, 56)
    ref = patch_tokens(model, x)
    for vit in (mosic.backbone, mosic.teacher['backbone']):
        vit.eval()
        assert (patch_tokens(vit, x) - ref).abs().max() < 1e-5


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg', 'dinov2_g_reg'])
def test_official_layout_agrees_with_timms_own_dinov2_converter(
        kind, timm_dino_vit, official_dino_file, patch_tokens):
    """timm's checkpoint_filter_fn reads the official DINOv2 files; it must
    read our reconstruction of them back into the same model."""
    from timm.models.vision_transformer import checkpoint_filter_fn
    model = timm_dino_vit(kind)
    official = official_dino_file(model.state_dict(), kind)
    other = timm_dino_vit(kind)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    other.load_state_dict(checkpoint_filter_fn(dict(official), other),
                          strict=True)
    x = torch.randn(1, 3, 56, 56)
    # timm's converter subtracts/adds the cls position: float rounding
    torch.testing.assert_close(patch_tokens(other, x),
                               patch_tokens(model, x), rtol=0, atol=1e-6)
