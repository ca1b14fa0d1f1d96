"""Exporting the student / teacher backbone of a training checkpoint
(``mosic_mm.apis.export_backbone``, ``tools/export_backbone.py``) to the
mmpretrain, DINOv2, DINO and timm layouts, and a TimmViT's to its own: the
files load strictly where they are meant to and give the exported
network's features; whatever registry scope the caller left current."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmpretrain.models import VisionTransformer

from mosic_mm.apis import export_backbone
from mosic_mm.models.backbones import ConvertedPretrainedInit
from mosic_mm.registry import MODELS

REPO = Path(__file__).resolve().parents[3]
EVA02 = 'eva02_base_patch16_clip_224'


@pytest.fixture
def training_checkpoint(dino_vit):
    """``training_checkpoint(path, kind, share=True)``: write a MoSiC
    training checkpoint (mmengine layout, iteration 8) whose EMA teacher
    differs from the student in its trainable block (``share``: the
    teacher shares the student's frozen tensors, saved once); returns the
    (student, teacher) backbones."""
    def write(path, kind: str, share: bool = True):
        torch.manual_seed(0)
        model = MODELS.build(dict(
            type='MoSiC', backbone=dino_vit(kind),
            head=dict(type='SinkhornClusteringHead', hidden_channels=(48, ),
                      out_channels=16, num_prototypes=8),
            num_trainable_blocks=1, share_frozen_weights=share))
        model.init_weights()
        with torch.no_grad():
            for p in model.backbone.parameters():
                p.normal_(0, 0.3)
            model.teacher['backbone'].load_state_dict(
                model.backbone.state_dict())
            for p in model.teacher['backbone'].layers[-1].parameters():
                p.add_(torch.randn_like(p))
        buf = HistoryBuffer()
        buf.update(1.0)
        torch.save(dict(meta=dict(epoch=1, iter=8),
                        state_dict=model.state_dict(),
                        message_hub=dict(log_scalars={'train/loss': buf})),
                   str(path))
        model.eval()
        return model.backbone, model.teacher['backbone']
    return write


@pytest.mark.parametrize('kind', ['dinov2', 'dino'])
@pytest.mark.parametrize('which', ['student', 'teacher'])
def test_mmpretrain_export_loads_into_plain_vit(
        tmp_path, kind, which, dino_kinds, training_checkpoint,
        patch_tokens):
    """mmpretrain's own ``Pretrained`` init with ``prefix='backbone.'``
    fills a plain VisionTransformer with exactly the chosen network."""
    ckpt, out = tmp_path / 'iter_8.pth', str(tmp_path / 'bb.pth')
    nets = dict(zip(('student', 'teacher'), training_checkpoint(ckpt,
                                                                kind)))
    export_backbone(str(ckpt), out, which=which, format='mmpretrain')
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['which'] == which and saved['meta']['iter'] == 8
    patch, _, ls, _ = dino_kinds[kind]
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
    ref = patch_tokens(nets[which], x)
    # the same tensors in the same mmpretrain modules: exact
    assert torch.equal(patch_tokens(vit, x), ref)
    other = 'student' if which == 'teacher' else 'teacher'
    assert (patch_tokens(nets[other], x) - ref).abs().max() > 1e-3


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg', 'dinov2_g_reg',
                                  'dino'])
def test_timm_and_official_exports_round_trip(
        tmp_path, kind, dino_kinds, training_checkpoint, timm_dino_vit,
        dino_vit, dinov2_file_shapes, patch_tokens):
    ckpt = tmp_path / 'iter_8.pth'
    _, teacher = training_checkpoint(ckpt, kind)
    patch, reg, ls, swiglu = dino_kinds[kind]
    x = torch.randn(2, 3, 4 * patch, 4 * patch)
    ref = patch_tokens(teacher, x)
    # timm: loads strictly into timm's model of the same architecture
    out = str(tmp_path / 'timm.pth')
    tensors = export_backbone(str(ckpt), out, which='teacher',
                              format='timm')
    model = timm_dino_vit(kind)
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    assert (patch_tokens(model, x) - ref).abs().max() < 1e-5
    assert set(tensors) == set(model.state_dict())
    # official layout: the official key set; timm's DINOv2 reader and our
    # loader both give the same features back
    fmt = 'dino' if kind == 'dino' else 'dinov2'
    out = str(tmp_path / f'{fmt}.pth')
    official = export_backbone(str(ckpt), out, which='teacher', format=fmt)
    shapes = dinov2_file_shapes(32, 2, 64 if swiglu else 128, patch=patch,
                                grid=4, registers=reg, layer_scale=ls,
                                swiglu=swiglu, mask_token=fmt == 'dinov2')
    assert {k: tuple(v.shape) for k, v in official.items()} == shapes
    vit = dino_vit(kind)
    ConvertedPretrainedInit(out, layout=fmt).load(vit)
    assert (patch_tokens(vit, x) - ref).abs().max() < 1e-5
    if fmt == 'dinov2':
        from timm.models.vision_transformer import checkpoint_filter_fn
        model = timm_dino_vit(kind)
        model.load_state_dict(checkpoint_filter_fn(
            torch.load(out, weights_only=True), model), strict=True)
        assert (patch_tokens(model, x) - ref).abs().max() < 1e-5


def test_register_export_into_our_backbone_and_errors(
        tmp_path, training_checkpoint, dino_vit, patch_tokens):
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    student, _ = training_checkpoint(ckpt, 'dinov2_reg')
    export_backbone(ckpt, out, which='student', format='mmpretrain')
    vit = dino_vit('dinov2_reg', init_cfg=dict(
        type='Pretrained', checkpoint=out, prefix='backbone.'))
    vit.init_weights()
    vit.eval()
    x = torch.randn(1, 3, 56, 56)
    assert torch.equal(patch_tokens(vit, x), patch_tokens(student, x))
    with pytest.raises(ValueError, match='register'):
        export_backbone(ckpt, str(tmp_path / 'd.pth'), which='student',
                        format='dino')
    with pytest.raises(ValueError, match='format must be one of'):
        export_backbone(ckpt, str(tmp_path / 'd.pth'), format='onnx')
    torch.save({'state_dict': {'head.w': torch.zeros(1)}}, str(tmp_path /
                                                               'h'))
    with pytest.raises(KeyError, match='teacher.backbone'):
        export_backbone(str(tmp_path / 'h'), out, which='teacher',
                        format='timm')


@pytest.mark.parametrize('share', [True, False])
def test_teacher_export_of_shared_and_full_copy_checkpoints(
        tmp_path, share, training_checkpoint, patch_tokens):
    """The teacher's frozen tensors are saved once (under the student's
    names) when it shares them, twice otherwise: the exported teacher is
    whole and exact either way."""
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    _, teacher = training_checkpoint(ckpt, 'dinov2', share=share)
    saved = torch.load(ckpt, weights_only=True)['state_dict']
    own = {k for k in saved if k.startswith('teacher.backbone.')}
    assert (own == {f'teacher.backbone.{k}' for k, p in
                    teacher.named_parameters() if k.startswith('layers.1.')}
            ) == share  # only the trainable block when shared
    export_backbone(ckpt, out, which='teacher', format='mmpretrain')
    exported = torch.load(out, weights_only=True)['state_dict']
    state = teacher.state_dict()
    assert exported.keys() == {f'backbone.{k}' for k in state}
    for k, v in state.items():
        assert torch.equal(exported[f'backbone.{k}'], v), k


def test_export_formats_of_a_timm_backbone(tmp_path, timm_backbone,
                                           tiny_timm_kwargs):
    """A TimmViT's teacher in our keys (mmpretrain), open_clip's and timm's
    layouts: each loads back into our backbone, tensor for tensor; the
    DINOVisionTransformer formats are refused, and dinov3 for a model not
    DINOv3-shaped."""
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MoSiC',
        backbone=dict(type='TimmViT', model_name=EVA02, img_size=64,
                      model_kwargs=tiny_timm_kwargs),
        head=dict(type='SinkhornClusteringHead', hidden_channels=(48, ),
                  out_channels=16, num_prototypes=8),
        num_trainable_blocks=1))
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))  # teacher != student
    ckpt = str(tmp_path / 'iter_1.pth')
    torch.save(dict(meta=dict(iter=1), state_dict=model.state_dict()), ckpt)
    teacher = model.teacher['backbone'].state_dict()
    for fmt, prefix in (('mmpretrain', 'backbone.'), ('open_clip', None),
                        ('timm', None)):
        out = str(tmp_path / f'{fmt}.pth')
        export_backbone(ckpt, out, which='teacher', format=fmt)
        vit = timm_backbone(EVA02)
        report = ConvertedPretrainedInit(out, prefix=prefix).load(vit)
        assert report.layout == dict(mmpretrain='native').get(fmt, fmt)
        state = vit.state_dict()
        assert all(torch.equal(state[k], teacher[k]) for k in teacher), fmt
    with pytest.raises(ValueError, match='TimmViT'):
        export_backbone(ckpt, str(tmp_path / 'x.pth'), which='teacher',
                        format='dinov2')
    with pytest.raises(ValueError, match='DINOv3-shaped'):
        export_backbone(ckpt, str(tmp_path / 'x.pth'), which='teacher',
                        format='dinov3')


def test_export_leaves_the_callers_registry_scope(tmp_path,
                                                  training_checkpoint):
    """After an mmseg Runner the current default scope is 'mmseg': the
    export works all the same and leaves that scope current."""
    from mmengine.registry import DefaultScope
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    training_checkpoint(ckpt, 'dinov2')
    with DefaultScope.overwrite_default_scope('mmseg'):
        tensors = export_backbone(ckpt, out, which='teacher', format='timm')
        assert DefaultScope.get_current_instance().scope_name == 'mmseg'
    assert tensors and set(torch.load(out, weights_only=True)) == set(
        tensors)


@pytest.mark.slow
def test_export_tool(tmp_path, training_checkpoint, timm_dino_vit,
                     patch_tokens):
    """tools/export_backbone.py as a script: the teacher in timm's layout
    loads strictly into timm's model with the teacher's features."""
    ckpt, out = str(tmp_path / 'iter_8.pth'), str(tmp_path / 'bb.pth')
    _, teacher = training_checkpoint(ckpt, 'dinov2')
    proc = subprocess.run(
        [sys.executable, 'tools/export_backbone.py', ckpt, out, '--which',
         'teacher', '--format', 'timm'], cwd=str(REPO),
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'teacher, timm' in proc.stdout
    model = timm_dino_vit('dinov2')
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    x = torch.randn(1, 3, 56, 56)
    assert (patch_tokens(model, x) - patch_tokens(teacher, x)).abs().max() \
        < 1e-5


@pytest.mark.parametrize('scaling_from', ['config', 'argument'])
def test_lora_export_merges_the_adapters(tmp_path, scaling_from,
                                         tiny_model, tiny_model_cfg,
                                         patch_tokens):
    """The exported backbone of a LoRA run is plain (no adapter keys) and
    gives the adapted teacher's features; alpha / r comes from the saved
    config or the argument."""
    from mmengine.config import Config
    lora = dict(r=4, alpha=12, dropout=0.1,
                target_modules=['qkv', 'proj', 'mlp.fc1', 'mlp.fc2'])
    model = tiny_model(lora=lora, num_trainable_blocks=0)
    with torch.no_grad():  # adapters that change the output (B starts 0)
        for name, p in model.named_parameters():
            if '.lora_' in name:
                p.normal_(0, 0.2)
    meta = dict(iter=3)
    if scaling_from == 'config':
        meta['cfg'] = Config(dict(model=tiny_model_cfg(
            lora=lora, num_trainable_blocks=0))).pretty_text
    ckpt, out = tmp_path / 'iter_3.pth', str(tmp_path / 'bb.pth')
    torch.save(dict(meta=meta, state_dict=model.state_dict()), str(ckpt))
    export_backbone(str(ckpt), out, which='teacher', format='mmpretrain',
                    lora_scaling=None if scaling_from == 'config' else 3.0)
    saved = torch.load(out, weights_only=True)['state_dict']
    assert not any('lora_' in k or 'base_layer' in k for k in saved)
    plain = tiny_model(num_trainable_blocks=0).backbone
    plain.eval()  # mmpretrain's ViT.train returns None
    plain.load_state_dict({k[len('backbone.'):]: v
                           for k, v in saved.items()})
    adapted = model.eval().teacher['backbone']
    x = torch.randn(2, 3, 56, 56)
    torch.testing.assert_close(patch_tokens(plain, x),
                               patch_tokens(adapted, x),
                               rtol=1e-5, atol=1e-5)
    # the adapters matter: the unadapted weights give other features
    base = tiny_model(num_trainable_blocks=0).backbone
    base.eval()
    assert (patch_tokens(base, x) - patch_tokens(adapted, x)).abs().max() \
        > 1e-3


def test_lora_export_without_a_scaling_names_the_way_out(tmp_path,
                                                         tiny_model):
    model = tiny_model(lora=dict(), num_trainable_blocks=0)
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(meta=dict(iter=1), state_dict=model.state_dict()),
               str(ckpt))
    with pytest.raises(KeyError, match='lora-scaling'):
        export_backbone(str(ckpt), str(tmp_path / 'bb.pth'))
