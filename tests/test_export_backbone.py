"""tools/export_backbone.py: student / teacher backbones of a training
checkpoint to the mmpretrain, DINOv2, DINO and timm layouts (round trips give
identical features)."""
import subprocess
import sys

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmpretrain.models import VisionTransformer

import mosic_mm  # noqa: F401 (allow-lists mmengine checkpoint globals)
from conftest import REPO
from mosic_mm.models.backbones import ConvertedPretrainedInit
from mosic_mm.models.backbones.export import export_backbone
from mosic_mm.registry import MODELS
from test_backbones import official_shapes
from test_checkpoint_convert import (KINDS, our_vit, patch_features,
                                     timm_vit)


def training_checkpoint(path, kind: str):
    """A MoSiC training checkpoint (mmengine layout) whose EMA teacher
    differs from the student. Returns (student, teacher) backbones."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MoSiC', backbone=our_vit(kind),
        head=dict(type='SinkhornClusteringHead', hidden_channels=(48, ),
                  out_channels=16, num_prototypes=8),
        num_trainable_blocks=1))
    model.init_weights()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.normal_(0, 0.3)
        model.teacher['backbone'].load_state_dict(model.backbone.state_dict())
        for p in model.teacher['backbone'].layers[-1].parameters():
            p.add_(torch.randn_like(p))
    buf = HistoryBuffer()
    buf.update(1.0)
    torch.save(dict(meta=dict(epoch=1, iter=8), state_dict=model.state_dict(),
                    message_hub=dict(log_scalars={'train/loss': buf})), path)
    model.eval()
    return model.backbone, model.teacher['backbone']


@pytest.mark.parametrize('kind', ['dinov2', 'dino'])
@pytest.mark.parametrize('which', ['student', 'teacher'])
def test_mmpretrain_export_loads_into_plain_vit(tmp_path, kind, which):
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    nets = dict(zip(('student', 'teacher'), training_checkpoint(ckpt, kind)))
    export_backbone(ckpt, out, which, 'mmpretrain')
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['which'] == which and saved['meta']['iter'] == 8
    patch, _, ls, _ = KINDS[kind]
    vit = VisionTransformer(
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=128), img_size=4 * patch,
        patch_size=patch, out_type='featmap',
        layer_scale_init_value=1e-5 if ls else 0.,
        init_cfg=dict(type='Pretrained', checkpoint=out, prefix='backbone.'))
    assert {f'backbone.{k}' for k in vit.state_dict()} == set(
        saved['state_dict'])
    vit.init_weights()
    vit.eval()
    x = torch.randn(2, 3, 4 * patch, 4 * patch)
    ref = patch_features(nets[which], x)
    assert (patch_features(vit, x) - ref).abs().max() < 1e-6
    other = 'student' if which == 'teacher' else 'teacher'
    assert (patch_features(nets[other], x) - ref).abs().max() > 1e-3


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg', 'dinov2_g_reg',
                                  'dino'])
def test_timm_and_official_exports_round_trip(tmp_path, kind):
    ckpt = str(tmp_path / 'iter_8.pth')
    _, teacher = training_checkpoint(ckpt, kind)
    x = torch.randn(2, 3, 4 * KINDS[kind][0], 4 * KINDS[kind][0])
    ref = patch_features(teacher, x)
    # timm: loads strictly into timm's model of the same architecture
    tensors = export_backbone(ckpt, str(tmp_path / 'timm.pth'), 'teacher',
                              'timm')
    model = timm_vit(kind)
    model.load_state_dict(torch.load(str(tmp_path / 'timm.pth'),
                                     weights_only=True), strict=True)
    with torch.no_grad():
        feats = model.forward_features(x)[:, model.num_prefix_tokens:]
    assert (feats - ref).abs().max() < 1e-5
    assert set(tensors) == set(model.state_dict())
    # official layout: the official key set; timm's DINOv2 reader and our
    # loader both give the same features back
    fmt = 'dino' if kind == 'dino' else 'dinov2'
    out = str(tmp_path / f'{fmt}.pth')
    official = export_backbone(ckpt, out, 'teacher', fmt)
    patch, reg, ls, swiglu = KINDS[kind]
    shapes = official_shapes(32, 2, 64 if swiglu else 128, patch=patch,
                             grid=4, registers=reg, layer_scale=ls,
                             swiglu=swiglu, mask_token=fmt == 'dinov2')
    assert {k: tuple(v.shape) for k, v in official.items()} == shapes
    vit = our_vit(kind)
    ConvertedPretrainedInit(out, layout=fmt).load(vit)
    assert (patch_features(vit, x) - ref).abs().max() < 1e-5
    if fmt == 'dinov2':
        from timm.models.vision_transformer import checkpoint_filter_fn
        model = timm_vit(kind)
        model.load_state_dict(checkpoint_filter_fn(
            torch.load(out, weights_only=True), model), strict=True)
        with torch.no_grad():
            feats = model.forward_features(x)[:, model.num_prefix_tokens:]
        assert (feats - ref).abs().max() < 1e-5


def test_register_export_into_our_backbone_and_errors(tmp_path):
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    student, _ = training_checkpoint(ckpt, 'dinov2_reg')
    export_backbone(ckpt, out, 'student', 'mmpretrain')
    vit = our_vit('dinov2_reg', init_cfg=dict(type='Pretrained', checkpoint=out,
                                               prefix='backbone.'))
    vit.init_weights()
    vit.eval()
    x = torch.randn(1, 3, 56, 56)
    assert (patch_features(vit, x) - patch_features(student, x)).abs().max() \
        < 1e-6
    with pytest.raises(ValueError, match='register'):
        export_backbone(ckpt, str(tmp_path / 'd.pth'), 'student', 'dino')
    torch.save({'state_dict': {'head.w': torch.zeros(1)}}, str(tmp_path / 'h'))
    with pytest.raises(KeyError, match='teacher.backbone'):
        export_backbone(str(tmp_path / 'h'), out, 'teacher', 'timm')


def test_cli(tmp_path):
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    _, teacher = training_checkpoint(ckpt, 'dinov2')
    proc = subprocess.run(
        [sys.executable, 'tools/export_backbone.py', ckpt, out, '--which',
         'teacher', '--format', 'timm'], cwd=REPO, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    model = timm_vit('dinov2')
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        feats = model.forward_features(x)[:, 1:]
    assert (feats - patch_features(teacher, x)).abs().max() < 1e-5
