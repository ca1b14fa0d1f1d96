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
@pytest.mark.parametrize('name,layout', [(DINOV3, 'timm'), (DINOV3, 'dinov3'),
                                         (EVA02, 'timm'),
                                         (EVA02, 'open_clip')])
def test_patch_features_equal_timm(name, layout):
    ref = _timm(name)
    sd = dict(timm=lambda m: m.state_dict(), dinov3=_official,
              open_clip=_open_clip)[layout](ref)
    vit = _ours(name)
    report = load_state_dict_converted(vit, sd)  # layout auto-detected
    assert report.ok and report.layout == layout
    assert len(report.loaded) == len(vit.state_dict())
    for size in SIZES:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            want = _timm_features(ref, x)
            diff = (_features(vit, x) - want).abs().max()
            whole = (vit(x)[0].flatten(2).transpose(1, 2) - want).abs().max()
        assert diff < 1e-4 and whole < 1e-4, (size, diff, whole)
        assert want.shape[1] == (size[0] // 16) * (size[1] // 16)


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
