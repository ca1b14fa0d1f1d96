"""CLIP ViT-S/14 (TimmViT on timm's CLIP image tower): parity with timm in
the timm, OpenAI/open_clip and open_clip timm-trunk layouts, the config on
the meta device, MoSiC training with the shared trunk, export, evaluation."""
import os.path as osp

import pytest
import timm
import torch
from mmengine.config import Config
from timm.models.vision_transformer import _convert_openai_clip

import test_timm_backbones as ttb
from conftest import REPO
from mosic_mm.models.backbones import (CheckpointMismatchError, TimmViT,
                                       load_state_dict_converted,
                                       timm_to_openai_clip)

CLIP = 'vit_base_patch16_clip_224'  # timm's CLIP tower, reshaped by kwargs
TINY = dict(ttb.TINY, patch_size=14)
SIZES = [(56, 56), (42, 70)]  # 4x4 and 3x5 token grids (file grid: 4x4)
CONFIG = osp.join(REPO, 'configs', 'mosic_clip_vits14_ytvos.py')


def clip_openai_shapes(C, depth, grid, out_dim, patch=14, text=True):
    """Keys and shapes of a CLIP ViT file in OpenAI / open_clip's own layout
    (open_clip ``CLIP`` with a ``VisionTransformer`` image tower), written
    from open_clip's model definition; ``text`` adds text-tower keys."""
    v = 'visual.'
    shapes = {f'{v}class_embedding': (C, ),
              f'{v}positional_embedding': (1 + grid * grid, C),
              f'{v}proj': (C, out_dim),
              f'{v}conv1.weight': (C, 3, patch, patch)}
    for norm in ('ln_pre', 'ln_post'):
        shapes.update({f'{v}{norm}.weight': (C, ), f'{v}{norm}.bias': (C, )})
    for i in range(depth):
        b = f'{v}transformer.resblocks.{i}.'
        shapes.update({
            f'{b}ln_1.weight': (C, ), f'{b}ln_1.bias': (C, ),
            f'{b}attn.in_proj_weight': (3 * C, C),
            f'{b}attn.in_proj_bias': (3 * C, ),
            f'{b}attn.out_proj.weight': (C, C),
            f'{b}attn.out_proj.bias': (C, ),
            f'{b}ln_2.weight': (C, ), f'{b}ln_2.bias': (C, ),
            f'{b}mlp.c_fc.weight': (4 * C, C), f'{b}mlp.c_fc.bias': (4 * C, ),
            f'{b}mlp.c_proj.weight': (C, 4 * C),
            f'{b}mlp.c_proj.bias': (C, )})
    if text:  # text tower (OpenAI keys are unprefixed) and the CLIP scalars
        shapes.update({'token_embedding.weight': (49408, 512),
                       'transformer.resblocks.0.ln_1.weight': (512, ),
                       'text_projection': (512, out_dim),
                       'logit_scale': ()})
    return shapes


def _ours(**kw):
    return TimmViT(CLIP, img_size=64, model_kwargs=dict(TINY, **kw)).eval()


def _openai(model):
    """timm CLIP tower -> a full OpenAI-layout file (with text keys)."""
    sd = timm_to_openai_clip(model.state_dict())
    C = model.embed_dim
    sd['visual.proj'] = torch.randn(C, 8)
    sd['token_embedding.weight'] = torch.zeros(5, 8)
    sd['transformer.resblocks.0.ln_1.weight'] = torch.zeros(8)  # text tower
    sd['logit_scale'] = torch.ones(())
    return sd


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize('act', ['gelu', 'quick_gelu'])
@pytest.mark.parametrize('layout', ['timm', 'openai_clip', 'open_clip'])
def test_clip_patch_features_equal_timm(layout, act):
    ref = ttb._timm(CLIP, **TINY, act_layer=act)
    sd = dict(timm=lambda m: m.state_dict(), openai_clip=_openai,
              open_clip=ttb._open_clip)[layout](ref)
    ttb._loads_and_equals_timm(_ours(act_layer=act), ref, sd, layout, SIZES,
                               patch=14)


def test_openai_layout_is_open_clips_and_timms_importer_agrees():
    """Our OpenAI-layout map gives the documented key set, and timm's own
    OpenAI-CLIP importer (``_convert_openai_clip``) reads it back to the
    exact timm tensors."""
    ref = ttb._timm(CLIP, **TINY)
    sd = _openai(ref)
    C, depth = ref.embed_dim, len(ref.blocks)
    want = clip_openai_shapes(C, depth, 4, 8, text=False)
    assert {k: tuple(v.shape) for k, v in sd.items()
            if k.startswith('visual.')} == want
    back = _convert_openai_clip(sd, ref)
    back = {k: v for k, v in back.items() if not k.startswith('head.')}
    assert back.keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        assert torch.equal(back[k], v), k


def test_only_clip_towers_and_matching_files_load():
    """A plain (post-norm) timm ViT is refused; a file of another width or
    with an unknown tower key is reported and nothing is loaded."""
    with pytest.raises(TypeError, match='CLIP image tower'):
        TimmViT('vit_small_patch16_224', img_size=64,
                model_kwargs=dict(ttb.TINY))
    vit = _ours()
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    wider = _openai(ttb._timm(CLIP, **dict(TINY, embed_dim=48)))
    with pytest.raises(CheckpointMismatchError, match='conv1|proj.weight'):
        load_state_dict_converted(vit, wider)
    extra = _openai(ttb._timm(CLIP, **TINY))
    extra['visual.attn_pool.query'] = torch.zeros(1, 32)
    with pytest.raises(CheckpointMismatchError, match='attn_pool.query'):
        load_state_dict_converted(vit, extra)
    for k, v in vit.state_dict().items():
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------------ config
def test_clip_config_builds_on_meta_and_takes_both_key_sets():
    cfg = Config.fromfile(CONFIG)
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.layout) == ('ConvertedPretrained', 'auto')
    model = ttb._build_on_meta(cfg)
    vit = model.backbone
    assert (vit.embed_dims, len(vit.layers), vit.patch_size,
            vit.patch_resolution, vit.num_extra_tokens) == (384, 12, 14,
                                                            (16, 16), 1)
    assert vit.model.blocks[0].attn.num_heads == 6
    assert isinstance(vit.model.norm_pre, torch.nn.LayerNorm)
    assert vit.model.patch_embed.proj.bias is None  # CLIP: no conv bias
    first = next(m for m in model.head.modules()
                 if isinstance(m, torch.nn.Linear))
    assert first.in_features == 384
    k = model.num_trainable_blocks
    trainable = {n for n, p in vit.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('model.blocks.') for n in trainable)
    assert {int(n.split('.')[2]) for n in trainable} == set(range(12 - k, 12))
    openai = {k: torch.empty(s, device='meta') for k, s in
              clip_openai_shapes(384, 12, 16, 512).items()}
    with torch.device('meta'):  # timm's file: the tower with its 512-d head
        tower = timm.create_model(CLIP, pretrained=False, num_classes=512,
                                  patch_size=14, embed_dim=384, depth=12,
                                  num_heads=6)
    for layout, sd in (('openai_clip', openai), ('timm', tower.state_dict())):
        report = load_state_dict_converted(vit, sd, 'auto')
        assert report.layout == layout and report.ok
        assert not report.missing and not report.unexpected
        assert len(report.loaded) == len(vit.state_dict())


# ------------------------------------------------------ MoSiC and export
def _from_openai_clip(sd, net):
    assert 'visual.class_embedding' in sd
    return _convert_openai_clip(sd, net)  # timm's own OpenAI loader


@pytest.mark.parametrize('teacher_dtype', [None, 'bfloat16'])
def test_clip_mosic_shared_trunk_equals_unshared_and_exports(
        synthetic_root, tmp_path, teacher_dtype):
    """Tiny CLIP tower on the synthetic clips, 3 steps (the DINOv3 test's
    helpers): the shared frozen trunk gives the unshared path's loss and
    gradients, and the teacher exports to timm and OpenAI layouts."""
    # the helpers' clips are 64 px with a 4x4 track grid: patch 16 here (the
    # patch size is not what the shared-trunk path depends on)
    tiny = dict(TINY, depth=3, patch_size=16)
    model = ttb._shared_trunk_equals_unshared(
        ttb._synthetic_batches(synthetic_root), teacher_dtype,
        backbone=dict(type='TimmViT', model_name=CLIP, img_size=64,
                      model_kwargs=tiny))
    assert isinstance(model.backbone.model.norm_pre, torch.nn.LayerNorm)
    ttb._teacher_exports_load_into_timm(
        model, tmp_path,
        lambda: timm.create_model(CLIP, pretrained=False, num_classes=0,
                                  img_size=64, dynamic_img_size=True,
                                  **tiny).eval(),
        dict(timm=None, openai_clip=_from_openai_clip))


def test_evaluation_takes_the_clip_config_and_an_openai_file(tmp_path):
    """tools/evaluate.py's MODEL path: the CLIP config + an OpenAI-layout
    file -> the patch features of timm's model."""
    ref = ttb._timm(CLIP, **TINY)
    ttb._evaluation_matches_timm(tmp_path, ref, _openai(ref), CONFIG, 56, 14,
                                 TINY)
