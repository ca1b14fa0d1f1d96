"""DINOVisionTransformer (registers, SwiGLU) and the backbone config zoo."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.models import VisionTransformer

from conftest import REPO, TINY_ARCH, tiny_model_cfg
from mosic_mm.models.backbones import (CheckpointMismatchError,
                                       DINOVisionTransformer,
                                       load_state_dict_converted)
from mosic_mm.models.utils.vit_tokens import (embed_tokens, forward_blocks,
                                              keep_tokens, patch_featmap)
from mosic_mm.registry import MODELS


def _vit(cls=DINOVisionTransformer, **kw):
    torch.manual_seed(0)
    vit = cls(arch=dict(TINY_ARCH), img_size=56, patch_size=14,
              out_type='featmap', layer_scale_init_value=1e-5, **kw)
    vit.init_weights()
    vit.eval()
    return vit


def test_without_registers_it_is_a_plain_vit():
    ours, plain = _vit(), _vit(VisionTransformer)
    assert ours.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 56, 70)
    assert torch.allclose(ours(x)[-1], plain(x)[-1], atol=1e-6)
    assert ours.num_extra_tokens == 1


def test_register_tokens_layout_and_stepwise_forward():
    vit = _vit(num_register_tokens=4)
    with torch.no_grad():
        vit.register_tokens.normal_()
        for name, p in vit.named_parameters():
            if 'gamma' in name:  # 1e-5 would hide what attention mixes in
                p.fill_(1.0)
    assert vit.num_extra_tokens == 5 and vit.num_pos_extra_tokens == 1
    assert vit.pos_embed.shape == (1, 1 + 16, 32)
    x = torch.randn(2, 3, 56, 70)  # 4x5 tokens
    tokens, hw = embed_tokens(vit, x)
    assert hw == (4, 5) and tokens.shape == (2, 5 + 20, 32)
    # [cls + pos_0, registers (no position), patches]
    assert torch.allclose(tokens[:, 1:5], vit.register_tokens.expand(2, -1,
                                                                      -1))
    assert torch.allclose(tokens[0, 0], (vit.cls_token + vit.pos_embed[:, :1])
                          [0, 0])
    full = patch_featmap(vit, forward_blocks(vit, tokens), hw)
    assert torch.allclose(full, vit(x)[-1], atol=1e-6)
    assert full.shape == (2, 32, 4, 5)
    # the registers matter (they attend with the patches)
    with torch.no_grad():
        vit.register_tokens.add_(torch.randn_like(vit.register_tokens))
    assert not torch.allclose(vit(x)[-1], full, atol=1e-4)
    # token dropping keeps cls + registers
    keep = torch.tensor([[0, 3, 7], [1, 2, 19]])
    kept = keep_tokens(vit, tokens, keep)
    assert kept.shape == (2, 5 + 3, 32)
    assert torch.equal(kept[:, :5], tokens[:, :5])


def test_mosic_trains_with_registers_and_swiglu():
    cfg = tiny_model_cfg(mask_ratio=0.25)
    cfg['backbone'].update(type='DINOVisionTransformer', num_register_tokens=4,
                           layer_cfgs=dict(ffn_type='swiglu_fused'))
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    B, T, N = 2, 3, 8
    inputs = torch.randn(B, T, 3, 56, 56)
    from mmpretrain.structures import DataSample
    samples = []
    for _ in range(B):
        s = DataSample()
        s.tracks = torch.rand(T, N, 2) * 55
        s.visibility = torch.ones(T, N, dtype=torch.bool)
        samples.append(s)
    loss = model.loss(inputs, samples)['loss']
    loss.backward()
    grads = {n for n, p in model.backbone.named_parameters()
             if p.grad is not None}
    assert grads and all(n.startswith('layers.1.') for n in grads), grads
    assert 'layers.1.ffn.w12.weight' in grads
    assert model.backbone.register_tokens.grad is None  # frozen stem
    assert torch.equal(model.teacher['backbone'].register_tokens,
                       model.backbone.register_tokens)


# ---------------------------------------------------------------- the zoo
def official_shapes(C, depth, hidden, *, patch=14, grid=37, registers=0,
                    layer_scale=True, swiglu=False, mask_token=True):
    """Keys and shapes of the official DINOv2 / DINO backbone files, written
    from the facebookresearch/dinov2 and /dino model definitions."""
    shapes = {'cls_token': (1, 1, C), 'pos_embed': (1, 1 + grid * grid, C),
              'patch_embed.proj.weight': (C, 3, patch, patch),
              'patch_embed.proj.bias': (C, ), 'norm.weight': (C, ),
              'norm.bias': (C, )}
    if mask_token:
        shapes['mask_token'] = (1, C)
    if registers:
        shapes['register_tokens'] = (1, registers, C)
    for i in range(depth):
        b = f'blocks.{i}.'
        for norm in ('norm1', 'norm2'):
            shapes.update({f'{b}{norm}.weight': (C, ), f'{b}{norm}.bias': (C, )})
        shapes.update({f'{b}attn.qkv.weight': (3 * C, C),
                       f'{b}attn.qkv.bias': (3 * C, ),
                       f'{b}attn.proj.weight': (C, C),
                       f'{b}attn.proj.bias': (C, )})
        if layer_scale:
            shapes.update({f'{b}ls1.gamma': (C, ), f'{b}ls2.gamma': (C, )})
        if swiglu:
            shapes.update({f'{b}mlp.w12.weight': (2 * hidden, C),
                           f'{b}mlp.w12.bias': (2 * hidden, ),
                           f'{b}mlp.w3.weight': (C, hidden),
                           f'{b}mlp.w3.bias': (C, )})
        else:
            shapes.update({f'{b}mlp.fc1.weight': (hidden, C),
                           f'{b}mlp.fc1.bias': (hidden, ),
                           f'{b}mlp.fc2.weight': (C, hidden),
                           f'{b}mlp.fc2.bias': (C, )})
    return shapes


DINO1 = dict(patch=16, grid=14, layer_scale=False, mask_token=False)
# config -> (official file, its shapes, width, depth, patch, registers)
ZOO = {
    'mosic_vits_ytvos.py': ('dinov2_vits14_pretrain.pth',
                            official_shapes(384, 12, 1536), 384, 12, 14, 0),
    'mosic_vitb_ytvos.py': ('dinov2_vitb14_pretrain.pth',
                            official_shapes(768, 12, 3072), 768, 12, 14, 0),
    'mosic_vitl_ytvos.py': ('dinov2_vitl14_pretrain.pth',
                            official_shapes(1024, 24, 4096), 1024, 24, 14, 0),
    'mosic_vitg_ytvos.py': ('dinov2_vitg14_pretrain.pth',
                            official_shapes(1536, 40, 4096, swiglu=True),
                            1536, 40, 14, 0),
    'mosic_vits_reg_ytvos.py': ('dinov2_vits14_reg4_pretrain.pth',
                                official_shapes(384, 12, 1536, registers=4),
                                384, 12, 14, 4),
    'mosic_vitb_reg_ytvos.py': ('dinov2_vitb14_reg4_pretrain.pth',
                                official_shapes(768, 12, 3072, registers=4),
                                768, 12, 14, 4),
    'mosic_vitl_reg_ytvos.py': ('dinov2_vitl14_reg4_pretrain.pth',
                                official_shapes(1024, 24, 4096, registers=4),
                                1024, 24, 14, 4),
    'mosic_dino_vits16_ytvos.py': ('dino_deitsmall16_pretrain.pth',
                                   official_shapes(384, 12, 1536, **DINO1),
                                   384, 12, 16, 0),
    'mosic_dino_vitb16_ytvos.py': ('dino_vitbase16_pretrain.pth',
                                   official_shapes(768, 12, 3072, **DINO1),
                                   768, 12, 16, 0),
}


def _build_on_meta(cfg):
    import mosic_mm  # noqa: F401
    with torch.device('meta'):  # full-size ViT-g without allocating it
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('name', list(ZOO))
def test_zoo_config_builds_and_takes_its_official_file(name):
    fname, shapes, width, depth, patch, registers = ZOO[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    init = cfg.model.backbone.init_cfg
    if fname is not None:
        assert cfg.model.backbone.type == 'DINOVisionTransformer'
        assert init.type == 'ConvertedPretrained'
        assert init.checkpoint == f'checkpoints/{fname}'
        assert 'head' not in cfg.model.backbone.init_cfg
    cfg.model.backbone.init_cfg = None  # random init, no file needed
    model = _build_on_meta(cfg)
    vit = model.backbone
    assert vit.embed_dims == width and len(vit.layers) == depth
    assert vit.patch_embed.projection.stride == (patch, patch)
    assert vit.patch_resolution == (224 // patch, 224 // patch)
    assert vit.num_extra_tokens == 1 + registers
    first_linear = next(m for m in model.head.modules()
                        if isinstance(m, torch.nn.Linear))
    assert first_linear.in_features == width
    # the trainable blocks are the last num_trainable_blocks ones
    k = cfg.model.num_trainable_blocks
    trainable = {n for n, p in vit.named_parameters() if p.requires_grad}
    blocks = {int(n.split('.')[1]) for n in trainable}
    assert blocks == set(range(depth - k, depth)), (name, blocks)
    assert all(n.startswith('layers.') for n in trainable)
    # the official file (shapes only) fills the backbone exactly
    sd = {key: torch.empty(shape, device='meta')
          for key, shape in shapes.items()}
    report = load_state_dict_converted(vit, sd, source=fname or name)
    assert report.ok and len(report.loaded) == len(vit.state_dict())
    assert report.resampled == (None if patch == 16 else ((37, 37), (16, 16)))


@pytest.mark.parametrize('config,wrong', [
    ('mosic_vitb_ytvos.py', 'mosic_vitl_ytvos.py'),
    ('mosic_vits_ytvos.py', 'mosic_vits_reg_ytvos.py'),
    ('mosic_vitl_ytvos.py', 'mosic_vitg_ytvos.py'),
    ('mosic_dino_vits16_ytvos.py', 'mosic_vits_ytvos.py'),
])
def test_zoo_rejects_the_wrong_official_file(config, wrong):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    cfg.model.backbone.init_cfg = None
    vit = _build_on_meta(cfg).backbone
    sd = {key: torch.empty(shape, device='meta')
          for key, shape in ZOO[wrong][1].items()}
    with pytest.raises(CheckpointMismatchError):
        load_state_dict_converted(vit, sd)


def test_zoo_missing_file_error_names_it(tmp_path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mosic_vitl_ytvos.py'))
    cfg.model.backbone.arch = dict(TINY_ARCH)
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'x14.pth')
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match='x14.pth'):
        model.init_weights()


@pytest.mark.parametrize('config', ['mosic_vits_ytvos.py',
                                    'mosic_vitb_ytvos.py'])
def test_reference_configs_take_dinov2_through_cfg_options(config):
    """The README's --cfg-options line for the ViT-S/B reference configs."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    size = config.split('_')[1][-1]
    args = parser.parse_args([
        '--cfg-options', 'model.backbone.type=DINOVisionTransformer',
        'model.backbone.init_cfg._delete_=True',
        'model.backbone.init_cfg.type=ConvertedPretrained',
        f'model.backbone.init_cfg.checkpoint=checkpoints/dinov2_vit{size}14'
        '_pretrain.pth'])
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    cfg.merge_from_dict(args.cfg_options)
    assert cfg.model.backbone.init_cfg == dict(
        type='ConvertedPretrained',
        checkpoint=f'checkpoints/dinov2_vit{size}14_pretrain.pth')
    vit = _build_on_meta(cfg).backbone
    sd = {key: torch.empty(shape, device='meta')
          for key, shape in ZOO[config][1].items()}
    assert load_state_dict_converted(vit, sd).ok


def test_frozen_stages_freeze_registers_and_layer_depths():
    vit = _vit(num_register_tokens=2, frozen_stages=1)
    assert not vit.register_tokens.requires_grad
    assert not vit.layers[0].ln1.weight.requires_grad
    assert vit.layers[1].ln1.weight.requires_grad
    assert vit.get_layer_depth('backbone.register_tokens', 'backbone.') == \
        (0, 4)
    assert vit.get_layer_depth('backbone.layers.1.ln1.weight',
                               'backbone.') == (2, 4)
