"""The backbone config zoo: every training config builds (on the meta
device), trains its last blocks, and takes the official file of its
backbone (shapes only), and no other; the baselines' prefixed files; the
README's --cfg-options line; the YT-VOS configs start from what the
reference code loads."""
import argparse
import re
from pathlib import Path

import pytest
import timm
import torch
from mmengine.config import Config, DictAction

from mosic_mm.models.backbones import (
    CheckpointMismatchError,
    from_native,
    load_state_dict_converted,
    strip_components,
)
from mosic_mm.models.backbones.weight_init import ConvertedPretrainedInit
from mosic_mm.models.utils.token_backbone import vit_patch_size
from mosic_mm.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[3] / 'configs'
DINO1 = dict(patch=16, grid=14, layer_scale=False, mask_token=False)
# config -> (official file, width, depth, hidden, patch, registers, swiglu)
DINO_ZOO = {
    'mosic_vits_ytvos.py': ('dinov2_vits14_pretrain.pth', 384, 12, 1536,
                            14, 0, False),
    'mosic_vitb_ytvos.py': ('dinov2_vitb14_pretrain.pth', 768, 12, 3072,
                            14, 0, False),
    'mosic_vitl_ytvos.py': ('dinov2_vitl14_pretrain.pth', 1024, 24, 4096,
                            14, 0, False),
    'mosic_vitg_ytvos.py': ('dinov2_vitg14_pretrain.pth', 1536, 40, 4096,
                            14, 0, True),
    'mosic_vits_reg_ytvos.py': ('dinov2_vits14_reg4_pretrain.pth', 384, 12,
                                1536, 14, 4, False),
    'mosic_vitb_reg_ytvos.py': ('dinov2_vitb14_reg4_pretrain.pth', 768, 12,
                                3072, 14, 4, False),
    'mosic_vitl_reg_ytvos.py': ('dinov2_vitl14_reg4_pretrain.pth', 1024, 24,
                                4096, 14, 4, False),
    'mosic_dino_vits16_ytvos.py': ('dino_deitsmall16_pretrain.pth', 384, 12,
                                   1536, 16, 0, False),
    'mosic_dino_vitb16_ytvos.py': ('dino_vitbase16_pretrain.pth', 768, 12,
                                   3072, 16, 0, False),
}
DINOV3_ZOO = {  # config -> (official file, width, depth, heads[, shapes])
    'mosic_dinov3_vits16_ytvos.py':
    ('dinov3_vits16_pretrain_lvd1689m-08c60483.pth', 384, 12, 6),
    'mosic_dinov3_vitb16_ytvos.py':
    ('dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth', 768, 12, 12),
    'mosic_dinov3_vitl16_ytvos.py':
    ('dinov3_vitl16_pretrain_lvd1689m-8aa4cbdd.pth', 1024, 24, 16),
    # SwiGLU hidden = int(2/3 * ratio * C) aligned (official SwiGLUFFN)
    'mosic_dinov3_vits16plus_ytvos.py':
    ('dinov3_vits16plus_pretrain_lvd1689m-4057cbaa.pth', 384, 12, 6,
     dict(swiglu=True, hidden=1536)),
    'mosic_dinov3_vith16plus_ytvos.py':
    ('dinov3_vith16plus_pretrain_lvd1689m-7c1da9a5.pth', 1280, 32, 20,
     dict(swiglu=True, hidden=5120)),
    'mosic_dinov3_vit7b16_ytvos.py':
    ('dinov3_vit7b16_pretrain_lvd1689m-a955f4ea.pth', 4096, 40, 32,
     dict(swiglu=True, hidden=8192, qkv_bias=False, local_cls_norm=True)),
}
EVA02 = 'eva02_base_patch16_clip_224'
CLIP = 'vit_base_patch16_clip_224'


@pytest.fixture
def dino_file(dinov2_file_shapes):
    """``dino_file(config)``: the official file of a DINO_ZOO config, meta
    tensors of the official shapes."""
    def file(name: str) -> dict:
        _, width, depth, hidden, patch, registers, swiglu = DINO_ZOO[name]
        layout = DINO1 if patch == 16 else {}
        shapes = dinov2_file_shapes(width, depth, hidden,
                                    registers=registers, swiglu=swiglu,
                                    **layout)
        return {k: torch.empty(s, device='meta') for k, s in shapes.items()}
    return file


def _random_init(name: str, folder: Path = CONFIGS) -> Config:
    cfg = Config.fromfile(str(folder / name))
    cfg.model.backbone.init_cfg = None  # random init, no file needed
    return cfg


def _check_built(model, width, depth, patch, extra):
    """The backbone's shape, the head's input width, and the trainable
    tensors: exactly the last ``num_trainable_blocks`` blocks."""
    vit = model.backbone
    assert vit.embed_dims == width and len(vit.layers) == depth
    assert vit.num_extra_tokens == extra
    assert vit_patch_size(vit) == patch
    assert vit.patch_resolution == (224 // patch, 224 // patch)
    first_linear = next(m for m in model.head.modules()
                        if isinstance(m, torch.nn.Linear))
    assert first_linear.in_features == width
    k = model.num_trainable_blocks
    trainable = {n for n, p in vit.named_parameters() if p.requires_grad}
    blocks = set()
    for n in trainable:
        found = re.match(r'(?:layers|model\.blocks)\.(\d+)\.', n)
        assert found, n  # nothing outside the blocks trains
        blocks.add(int(found.group(1)))
    assert blocks == set(range(depth - k, depth))


@pytest.mark.parametrize('name', list(DINO_ZOO))
def test_dino_config_builds_and_takes_its_official_file(name, dino_file,
                                                        build_on_meta):
    fname, width, depth, _, patch, registers, _ = DINO_ZOO[name]
    cfg = Config.fromfile(str(CONFIGS / name))
    init = cfg.model.backbone.init_cfg
    assert cfg.model.backbone.type == 'DINOVisionTransformer'
    assert init.type == 'ConvertedPretrained'
    assert init.checkpoint == f'checkpoints/{fname}'
    assert 'head' not in init
    cfg.model.backbone.init_cfg = None
    model = build_on_meta(cfg)
    _check_built(model, width, depth, patch, 1 + registers)
    assert model.backbone.patch_embed.projection.stride == (patch, patch)
    report = load_state_dict_converted(model.backbone, dino_file(name),
                                       source=fname)
    assert report.ok
    assert len(report.loaded) == len(model.backbone.state_dict())
    assert report.resampled == (None if patch == 16 else
                                ((37, 37), (16, 16)))


@pytest.mark.parametrize('config,wrong', [
    ('mosic_vitb_ytvos.py', 'mosic_vitl_ytvos.py'),
    ('mosic_vits_ytvos.py', 'mosic_vits_reg_ytvos.py'),
    ('mosic_vitl_ytvos.py', 'mosic_vitg_ytvos.py'),
    ('mosic_dino_vits16_ytvos.py', 'mosic_vits_ytvos.py'),
])
def test_dino_config_rejects_another_official_file(config, wrong, dino_file,
                                                   build_on_meta):
    vit = build_on_meta(_random_init(config)).backbone
    with pytest.raises(CheckpointMismatchError):
        load_state_dict_converted(vit, dino_file(wrong))


def test_missing_official_file_error_names_it(tmp_path, tiny_arch):
    cfg = Config.fromfile(str(CONFIGS / 'mosic_vitl_ytvos.py'))
    cfg.model.backbone.arch = tiny_arch
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'x14.pth')
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match='x14.pth'):
        model.init_weights()


@pytest.mark.parametrize('config', ['mosic_vits_ytvos.py',
                                    'mosic_vitb_ytvos.py'])
def test_reference_configs_take_dinov2_through_cfg_options(
        config, dino_file, build_on_meta):
    """The README's --cfg-options line for the ViT-S/B reference configs."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    size = config.split('_')[1][-1]
    args = parser.parse_args([
        '--cfg-options', 'model.backbone.type=DINOVisionTransformer',
        'model.backbone.init_cfg._delete_=True',
        'model.backbone.init_cfg.type=ConvertedPretrained',
        f'model.backbone.init_cfg.checkpoint=checkpoints/dinov2_vit{size}14'
        '_pretrain.pth'])
    cfg = Config.fromfile(str(CONFIGS / config))
    cfg.merge_from_dict(args.cfg_options)
    assert cfg.model.backbone.init_cfg == dict(
        type='ConvertedPretrained',
        checkpoint=f'checkpoints/dinov2_vit{size}14_pretrain.pth')
    vit = build_on_meta(cfg).backbone
    assert load_state_dict_converted(vit, dino_file(config)).ok


@pytest.mark.parametrize('config,kind', [('mosic_vits_ytvos.py', 'dinov2'),
                                         ('mosic_vits_reg_ytvos.py',
                                          'dinov2_reg')])
def test_ytvos_configs_start_from_what_the_reference_loads(
        tmp_path, config, kind, timm_dino_vit, dino_vit, official_dino_file,
        patch_tokens):
    """The reference builds DINOv2 through timm at img_size=224: timm's
    loader (checkpoint_filter_fn) resamples the official 37x37 pos_embed
    to 16x16 bicubically with antialiasing. The configs' init_cfg gives the
    same start; DINOv2's own interpolation stays selectable."""
    from timm.layers import resample_abs_pos_embed
    from timm.models.vision_transformer import checkpoint_filter_fn
    init = Config.fromfile(str(CONFIGS / config)
                           ).model.backbone.init_cfg.to_dict()
    official = official_dino_file(timm_dino_vit(kind, grid=37).state_dict(),
                                  kind)
    path = str(tmp_path / 'dinov2_official.pth')
    torch.save(official, path)
    init.update(checkpoint=path)
    init.pop('type')
    vit = dino_vit(kind, grid=16)
    report = ConvertedPretrainedInit(**init).load(vit)
    assert report.resampled == ((37, 37), (16, 16))
    want = resample_abs_pos_embed(official['pos_embed'], (16, 16), (37, 37),
                                  num_prefix_tokens=1)
    # timm resamples the same way through its own call sequence
    torch.testing.assert_close(vit.pos_embed.detach(), want, rtol=0,
                               atol=1e-6)
    # the whole start equals timm's pretrained loading at img_size=224
    ref = timm_dino_vit(kind, grid=16)
    ref.load_state_dict(checkpoint_filter_fn(official, ref))
    x = torch.randn(1, 3, 224, 224)
    diff = (patch_tokens(vit, x) - patch_tokens(ref, x)).abs().max()
    assert diff < 1e-4, diff
    # the other mode, DINOv2's interpolate_pos_encoding, is selectable
    init.update(pos_embed_interp=None)
    other = dino_vit(kind, grid=16)
    ConvertedPretrainedInit(**init).load(other)
    if kind == 'dinov2':  # offset 0.1, no antialias: a different start
        assert (other.pos_embed - vit.pos_embed).abs().max() > 1e-4


# ------------------------------------------------------- TimmViT configs
@pytest.mark.parametrize('name', list(DINOV3_ZOO))
def test_dinov3_config_builds_and_takes_the_official_key_set(
        name, dinov3_file_shapes, build_on_meta):
    fname, width, depth, heads, *extra = DINOV3_ZOO[name]
    shapes = dict(dict(hidden=4 * width), **(extra[0] if extra else {}))
    cfg = Config.fromfile(str(CONFIGS / name))
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.checkpoint, init.layout) == (
        'ConvertedPretrained', f'checkpoints/{fname}', 'dinov3')
    model = build_on_meta(cfg)
    _check_built(model, width, depth, 16, 5)  # cls + 4 storage tokens
    sd = {k: torch.empty(s, device='meta') for k, s in
          dinov3_file_shapes(width, depth, heads=heads, **shapes).items()}
    report = load_state_dict_converted(model.backbone, sd, 'dinov3')
    assert report.ok and not report.missing and not report.unexpected
    assert len(report.loaded) == len(model.backbone.state_dict())
    # and the export back is the official file's key set, shape for shape
    exported = from_native(model.backbone.state_dict(), 'dinov3')
    assert {k: tuple(v.shape) for k, v in exported.items()} == {
        k: tuple(v.shape) for k, v in sd.items()}


def test_eva02_clip_config_takes_timms_file_and_the_open_clip_file(
        build_on_meta):
    """The reference loads timm's pretrained eva02_base_patch16_clip_224
    (timm layout with the CLIP projection head); open_clip's file works
    too."""
    cfg = Config.fromfile(str(CONFIGS / 'mosic_eva02_clip_vitb16_ytvos.py'))
    init = cfg.model.backbone.init_cfg
    assert init.layout == 'auto' and init.checkpoint.endswith(
        'eva02_base_patch16_clip_224.merged2b.safetensors')
    model = build_on_meta(cfg)
    _check_built(model, 768, 12, 16, 1)
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


def test_clip_config_builds_and_takes_both_key_sets(clip_file_shapes,
                                                    build_on_meta):
    cfg = Config.fromfile(str(CONFIGS / 'mosic_clip_vits14_ytvos.py'))
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.layout) == ('ConvertedPretrained', 'auto')
    model = build_on_meta(cfg)
    _check_built(model, 384, 12, 14, 1)
    vit = model.backbone
    assert vit.patch_size == 14
    assert vit.model.blocks[0].attn.num_heads == 6
    assert isinstance(vit.model.norm_pre, torch.nn.LayerNorm)
    assert vit.model.patch_embed.proj.bias is None  # CLIP: no conv bias
    openai = {k: torch.empty(s, device='meta') for k, s in
              clip_file_shapes(384, 12, 16, 512).items()}
    with torch.device('meta'):  # timm's file: the tower with its 512-d head
        tower = timm.create_model(CLIP, pretrained=False, num_classes=512,
                                  patch_size=14, embed_dim=384, depth=12,
                                  num_heads=6)
    for layout, sd in (('openai_clip', openai), ('timm', tower.state_dict())):
        report = load_state_dict_converted(vit, sd, 'auto')
        assert report.layout == layout and report.ok
        assert not report.missing and not report.unexpected
        assert len(report.loaded) == len(vit.state_dict())


@pytest.mark.parametrize('name,strip', [
    ('mosic_leopart_vits16_ytvos.py', 1), ('mosic_timet_vits16_ytvos.py', 2)])
def test_leopart_and_timet_configs_take_prefixed_timm_vits16(
        name, strip, build_on_meta):
    """As the official code: timm vit_small_patch16_224 keys behind one
    (Leopart) / two (TimeT) leading components."""
    cfg = Config.fromfile(str(CONFIGS / 'baselines' / name))
    init = cfg.model.backbone.init_cfg
    assert init.strip_components == strip and init.layout == 'timm'
    vit = build_on_meta(cfg).backbone
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


def test_neco_config_is_dinov2_reg_s14(build_on_meta):
    cfg = Config.fromfile(str(CONFIGS / 'baselines' /
                              'mosic_neco_vits14_reg_ytvos.py'))
    vit = build_on_meta(cfg).backbone
    assert vit.num_register_tokens == 4 and vit.embed_dims == 384
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        'neco_on_dinov2r_vit14_model.ckpt')
