"""TimmViT (DINOv3, EVA02-CLIP, CLIP towers): every file layout loads
completely and gives timm's patch features; the official DINOv3 and
OpenAI-CLIP layouts are the documented ones and timm's own importers read
them; the DINOv3 k-bias mask and RoPE periods; wrong files are named and
load nothing. (Token steps and kept-token RoPE positions:
tests/models/test_token_backbone.py.)"""
import pytest
import timm
import torch
from timm.models.eva import checkpoint_filter_fn
from timm.models.vision_transformer import _convert_openai_clip

from mosic_mm.models.backbones import (
    CheckpointMismatchError,
    TimmViT,
    dinov3_to_timm,
    load_state_dict_converted,
)

DINOV3 = 'vit_small_patch16_dinov3_qkvb'
EVA02 = 'eva02_base_patch16_clip_224'
CLIP = 'vit_base_patch16_clip_224'  # timm's CLIP tower, reshaped by kwargs
CLIP_S14 = dict(patch_size=14)


@pytest.fixture
def file_of(dinov3_file, open_clip_file, openai_clip_file):
    """``file_of(layout, timm_model)``: its weights in that file layout."""
    makers = dict(timm=lambda m: m.state_dict(), dinov3=dinov3_file,
                  open_clip=open_clip_file, openai_clip=openai_clip_file)
    return lambda layout, model: makers[layout](model)


@pytest.mark.parametrize('name,kw,layout', [
    pytest.param(DINOV3, {}, 'timm', id='dinov3-timm'),
    pytest.param(DINOV3, {}, 'dinov3', id='dinov3-dinov3'),
    # the SwiGLU members (S+/16, H+/16) and ViT-7B/16 (no qkv bias), each
    # at the tiny width and depth
    *[pytest.param(name, {}, layout, id=f'{name}-{layout}')
      for name in ('vit_small_plus_patch16_dinov3_qkvb',
                   'vit_huge_plus_patch16_dinov3_qkvb',
                   'vit_7b_patch16_dinov3')
      for layout in ('timm', 'dinov3')],
    pytest.param(EVA02, {}, 'timm', id='eva02-timm'),
    pytest.param(EVA02, {}, 'open_clip', id='eva02-open_clip'),
    *[pytest.param(CLIP, dict(CLIP_S14, act_layer=act), layout,
                   id=f'clip_{act}-{layout}')
      for act in ('gelu', 'quick_gelu')
      for layout in ('timm', 'openai_clip', 'open_clip')]])
def test_file_loads_completely_and_gives_timms_patch_features(
        name, kw, layout, random_timm, timm_backbone, file_of,
        patch_tokens):
    """The layout is detected, every tensor of ours is loaded, and the
    patch features equal timm's at a square and a non-square grid (the
    file's grid is 4x4)."""
    ref = random_timm(name, **kw)
    vit = timm_backbone(name, **kw)
    report = load_state_dict_converted(vit, file_of(layout, ref))
    assert report.ok and report.layout == layout
    assert len(report.loaded) == len(vit.state_dict())
    p = vit.patch_size
    for grid in ((4, 4), (3, 5)):
        x = torch.randn(2, 3, grid[0] * p, grid[1] * p)
        want = patch_tokens(ref, x)
        assert want.shape[1] == grid[0] * grid[1]
        with torch.no_grad():
            got = vit(x)[0].flatten(2).transpose(1, 2)
        # the same timm modules on the same tensors: exact
        assert torch.equal(got, want), (grid, (got - want).abs().max())


def test_official_dinov3_layout_is_the_documented_one(random_timm,
                                                      dinov3_file,
                                                      dinov3_file_shapes):
    ref = random_timm(DINOV3)
    official = dinov3_file(ref)
    assert {k: tuple(v.shape) for k, v in official.items()} == \
        dinov3_file_shapes(32, 2, 128, 2)
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


def test_k_bias_is_masked_and_a_wrong_mask_is_refused(random_timm,
                                                      timm_backbone,
                                                      dinov3_file,
                                                      patch_tokens):
    ref = random_timm(DINOV3)
    official = dinov3_file(ref)
    official['blocks.0.attn.qkv.bias'][32:64] = 5.0  # masked in DINOv3
    vit = timm_backbone(DINOV3)
    load_state_dict_converted(vit, official)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got = vit(x)[0].flatten(2).transpose(1, 2)
    assert torch.equal(got, patch_tokens(ref, x))
    official['blocks.1.attn.qkv.bias_mask'][40] = 1.0
    before = vit.state_dict()['model.blocks.0.attn.q_bias'].clone()
    with pytest.raises(ValueError, match='blocks.1.attn.qkv.bias_mask'):
        load_state_dict_converted(timm_backbone(DINOV3), official)
    assert torch.equal(vit.state_dict()['model.blocks.0.attn.q_bias'],
                       before)


def test_rope_periods_come_from_the_official_file(random_timm,
                                                  timm_backbone,
                                                  dinov3_file):
    """The official files keep bf16-rounded periods, which the official
    model uses; another RoPE base is refused."""
    ref = random_timm(DINOV3)
    official = dinov3_file(ref)
    rounded = official['rope_embed.periods'].bfloat16().float()
    assert not torch.equal(rounded, ref.rope.periods)
    official['rope_embed.periods'] = rounded
    vit = timm_backbone(DINOV3)
    load_state_dict_converted(vit, official)
    assert torch.equal(vit.model.rope.periods, rounded)
    # the teacher copy (load_state_dict) gets the same periods
    other = timm_backbone(DINOV3)
    other.load_state_dict(vit.state_dict())
    assert torch.equal(other.model.rope.periods, rounded)
    official['rope_embed.periods'] = rounded * 2
    with pytest.raises(ValueError, match='RoPE periods'):
        load_state_dict_converted(timm_backbone(DINOV3), official)


def test_wrong_model_names_keys_and_loads_nothing(random_timm,
                                                  timm_backbone,
                                                  dinov3_file,
                                                  tiny_timm_kwargs):
    sd = random_timm(DINOV3, depth=3).state_dict()
    vit = timm_backbone(DINOV3)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match='model.blocks.2'):
        load_state_dict_converted(vit, sd)
    assert all(torch.equal(v, before[k])
               for k, v in vit.state_dict().items())
    # an official file into a model without q/v biases: unexpected keys
    no_qv_bias = TimmViT('vit_small_patch16_dinov3', img_size=64,
                         model_kwargs=tiny_timm_kwargs)
    before = {k: v.clone() for k, v in no_qv_bias.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match='q_bias'):
        load_state_dict_converted(no_qv_bias, dinov3_file(random_timm(
            DINOV3)))
    assert all(torch.equal(v, before[k])
               for k, v in no_qv_bias.state_dict().items())


def test_openai_layout_is_open_clips_and_timms_importer_agrees(
        random_timm, openai_clip_file, clip_file_shapes):
    """Our OpenAI-layout map gives the documented key set, and timm's own
    OpenAI-CLIP importer (``_convert_openai_clip``) reads it back to the
    exact timm tensors."""
    ref = random_timm(CLIP, **CLIP_S14)
    sd = openai_clip_file(ref)
    want = clip_file_shapes(ref.embed_dim, len(ref.blocks), 4, 8,
                            text=False)
    assert {k: tuple(v.shape) for k, v in sd.items()
            if k.startswith('visual.')} == want
    back = _convert_openai_clip(sd, ref)
    back = {k: v for k, v in back.items() if not k.startswith('head.')}
    assert back.keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        assert torch.equal(back[k], v), k


def test_only_clip_towers_and_matching_files_load(random_timm,
                                                  timm_backbone,
                                                  openai_clip_file,
                                                  tiny_timm_kwargs):
    """A plain (post-norm) timm ViT is refused; a file of another width or
    with an unknown tower key is reported and nothing is loaded."""
    with pytest.raises(TypeError, match='CLIP image tower'):
        TimmViT('vit_small_patch16_224', img_size=64,
                model_kwargs=tiny_timm_kwargs)
    vit = timm_backbone(CLIP, **CLIP_S14)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    wider = openai_clip_file(random_timm(CLIP, **CLIP_S14, embed_dim=48))
    with pytest.raises(CheckpointMismatchError, match='conv1|proj.weight'):
        load_state_dict_converted(vit, wider)
    extra = openai_clip_file(random_timm(CLIP, **CLIP_S14))
    extra['visual.attn_pool.query'] = torch.zeros(1, 32)
    with pytest.raises(CheckpointMismatchError, match='attn_pool.query'):
        load_state_dict_converted(vit, extra)
    for k, v in vit.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_eva02_equals_the_reference_fixed_size_model_at_224(
        tiny_timm_kwargs, patch_tokens):
    """The reference builds eva02_base_patch16_clip_224 without
    dynamic_img_size (fixed 14x14 RoPE and position grid): same features
    at the training size."""
    torch.manual_seed(0)
    ref = timm.create_model(EVA02, pretrained=False, num_classes=0,
                            **tiny_timm_kwargs).eval()
    assert not ref.dynamic_img_size
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.2 * torch.randn_like(p))
    vit = TimmViT(EVA02, img_size=224, model_kwargs=tiny_timm_kwargs).eval()
    load_state_dict_converted(vit, ref.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        got = vit(x)[0].flatten(2).transpose(1, 2)
    # fixed and dynamic grids compute RoPE / positions along other paths
    diff = (got - patch_tokens(ref, x)).abs().max()
    assert diff < 1e-4, diff
