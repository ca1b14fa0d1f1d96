"""TokenViT, the one token interface MoSiC has of a backbone, for every
family it serves: mmpretrain's VisionTransformer, DINOVisionTransformer
with registers, and TimmViT (DINOv3 with RoPE and storage tokens, EVA02
with RoPE, a CLIP tower with absolute positions).

Every step is exact against the backbone's own forward (same modules,
same operations in the same order), so comparisons are ``torch.equal``.
"""
import pytest
import torch
from mmpretrain.models import VisionTransformer
from torch import nn

from mosic_mm.models.backbones import DINOVisionTransformer, TimmViT
from mosic_mm.models.utils.token_backbone import TokenViT, vit_patch_size
from mosic_mm.utils.config import registry_scope

# family -> (patch size, extra tokens before the patches, uses RoPE)
FAMILIES = {
    'mmpretrain_vit': (14, 1, False),
    'dinov2_registers': (14, 5, False),
    'dinov3': (16, 5, True),
    'eva02': (16, 1, True),
    'clip': (14, 1, False),
}
TIMM_NAMES = {'dinov3': 'vit_small_patch16_dinov3_qkvb',
              'eva02': 'eva02_base_patch16_clip_224',
              'clip': 'vit_base_patch16_clip_224'}
ROPE = [f for f, (_, _, rope) in FAMILIES.items() if rope]
TIMM = list(TIMM_NAMES)


@pytest.fixture(autouse=True)
def _mmpretrain_registry_scope():
    """mmcv's layer builders (the mmpretrain ViTs' patch embedding) look
    in the current scope's registries: mmpretrain's here, whatever an
    earlier test (an mmseg Runner) left current."""
    with registry_scope():
        yield


def _perturbed(vit: nn.Module) -> nn.Module:
    """Every tensor moved away from its init (LayerScale 1e-5, zero
    registers and biases would hide what the blocks mix in), eval mode."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    vit.eval()  # (mmpretrain's ViT.train returns None: no chaining)
    return vit


def _backbone(family: str) -> nn.Module:
    """A 3-block, 32-wide backbone of ``family``, random weights."""
    torch.manual_seed(0)
    if family in TIMM_NAMES:
        kw = dict(patch_size=14) if family == 'clip' else {}
        vit = TimmViT(TIMM_NAMES[family], img_size=64,
                      model_kwargs=dict(embed_dim=32, depth=3, num_heads=2,
                                        **kw))
    else:
        cls, kw = (VisionTransformer, {}) if family == 'mmpretrain_vit' \
            else (DINOVisionTransformer, dict(num_register_tokens=4))
        vit = cls(arch=dict(embed_dims=32, num_layers=3, num_heads=2,
                            feedforward_channels=64), img_size=56,
                  patch_size=14, out_type='featmap',
                  layer_scale_init_value=1e-5, **kw)
        vit.init_weights()
    return _perturbed(vit)


def _input(family: str, grid=(4, 5), batch=2) -> torch.Tensor:
    """Images whose token grid is ``grid`` (non-square by default)."""
    p = FAMILIES[family][0]
    g = torch.Generator().manual_seed(2)
    return torch.randn(batch, 3, grid[0] * p, grid[1] * p, generator=g)


def _reference(vit: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The backbone's own forward as [B, C, h, w]: mmpretrain's
    ``forward`` (featmap output), or timm's ``forward_features`` patch
    tokens (TimmViT.forward is TokenViT itself)."""
    if isinstance(vit, TimmViT):
        m = vit.model
        tokens = m.forward_features(x)[:, m.num_prefix_tokens:]
        p = vit.patch_size
        return tokens.transpose(1, 2).reshape(
            len(x), -1, x.shape[2] // p, x.shape[3] // p)
    return vit(x)[-1]


@pytest.mark.parametrize('family', list(FAMILIES))
def test_features_equal_the_backbones_forward(family):
    vit = _backbone(family)
    for grid in ((4, 4), (4, 5)):
        x = _input(family, grid)
        with torch.no_grad():
            assert torch.equal(TokenViT(vit).features(x),
                               _reference(vit, x)), grid


@pytest.mark.parametrize('family', list(FAMILIES))
def test_blocks_split_at_any_depth_give_the_same_tokens(family):
    """The equivalence the shared frozen trunk relies on; an empty range
    is the identity."""
    tv = TokenViT(_backbone(family))
    with torch.no_grad():
        tokens, hw = tv.embed(_input(family))
        whole = tv.blocks(tokens, hw=hw)
        assert not torch.equal(whole, tokens)
        for depth in range(len(tv.layers) + 1):
            split = tv.blocks(tv.blocks(tokens, 0, depth, hw=hw), depth,
                              hw=hw)
            assert torch.equal(split, whole), depth
        assert torch.equal(tv.blocks(tokens, 2, 2), tokens)  # no hw needed


@pytest.mark.parametrize('family', list(FAMILIES))
def test_keeping_every_token_is_the_identity(family):
    tv = TokenViT(_backbone(family))
    x = _input(family)
    with torch.no_grad():
        tokens, hw = tv.embed(x)
        every = torch.arange(hw[0] * hw[1]).expand(len(x), -1)
        kept = tv.keep(tokens, every)
        assert torch.equal(kept, tokens)
        out = tv.featmap(tv.blocks(kept, hw=hw, keep=every), hw, every)
        assert torch.equal(out, tv.features(x))


@pytest.mark.parametrize('family', list(FAMILIES))
def test_keep_keeps_extra_tokens_and_dropped_positions_are_zero(family):
    tv = TokenViT(_backbone(family))
    E = FAMILIES[family][1]
    x = _input(family)  # 4x5 grid
    keep = torch.tensor([[0, 5, 19], [1, 2, 13]])
    with torch.no_grad():
        tokens, hw = tv.embed(x)
        kept = tv.keep(tokens, keep)
        assert kept.shape == (2, E + 3, 32)
        assert torch.equal(kept[:, :E], tokens[:, :E])  # cls + registers
        for b in range(2):
            assert torch.equal(kept[b, E:], tokens[b, E + keep[b]])
        out = tv.featmap(tv.blocks(kept, hw=hw, keep=keep), hw, keep)
    assert out.shape == (2, 32, 4, 5)
    flat = out.flatten(2)  # [B, C, 20]
    for b in range(2):
        dropped = [i for i in range(20) if i not in keep[b]]
        assert not flat[b][:, dropped].any()
        assert (flat[b][:, keep[b]].abs().sum(0) > 0).all()


@pytest.mark.parametrize('family', TIMM)
def test_kept_tokens_see_their_own_positions(family):
    """Reference: timm's full forward in which attention may not look at
    the dropped tokens; the kept tokens' outputs equal ours after ``keep``
    (for RoPE models: with the RoPE positions of the kept tokens, not of
    the first L' positions)."""
    vit = _backbone(family)
    tv = TokenViT(vit)
    ref, E = vit.model, FAMILIES[family][1]
    x = _input(family, grid=(3, 5))
    keep = torch.stack([torch.tensor([0, 2, 3, 7, 8, 11, 14]),
                        torch.tensor([1, 4, 5, 6, 9, 12, 13])])
    allowed = torch.zeros(2, E + 15, dtype=torch.bool)
    allowed[:, :E] = True
    allowed.scatter_(1, keep + E, True)
    attn_mask = allowed[:, None, None, :].expand(-1, 1, E + 15, -1)
    index = keep[..., None].expand(-1, -1, 32)
    with torch.no_grad():
        full = ref.forward_features(x, attn_mask=attn_mask)[:, E:]
        want = torch.gather(full, 1, index)
        tokens, hw = tv.embed(x)
        assert hw == (3, 5)
        out = tv.featmap(tv.blocks(tv.keep(tokens, keep), hw=hw, keep=keep),
                         hw, keep).flatten(2).transpose(1, 2)
    # masked attention (softmax over -inf) and attention over fewer tokens
    # sum in another order: float32 rounding, not exact
    torch.testing.assert_close(torch.gather(out, 1, index), want)
    with torch.no_grad():  # the mask matters: not a vacuous reference
        unmasked = torch.gather(ref.forward_features(x)[:, E:], 1, index)
    assert (unmasked - want).abs().max() > 1e-3


@pytest.mark.parametrize('family', ROPE)
def test_rope_blocks_need_the_grid_and_the_kept_indices(family):
    tv = TokenViT(_backbone(family))
    x = _input(family)
    keep = torch.tensor([[0, 5, 19], [1, 2, 13]])
    tokens, hw = tv.embed(x)
    with pytest.raises(ValueError, match='hw'):
        tv.blocks(tokens)
    with pytest.raises(ValueError, match='keep'):  # positions are needed
        tv.blocks(tv.keep(tokens, keep), hw=hw)


@pytest.mark.parametrize('family', list(FAMILIES))
def test_token_grid_of_a_non_square_input(family):
    tv = TokenViT(_backbone(family))
    E = FAMILIES[family][1]
    x = _input(family, grid=(3, 5))
    with torch.no_grad():
        tokens, hw = tv.embed(x)
        assert hw == (3, 5) == tv.grid(x.shape[-2:])
        assert tokens.shape == (2, E + 15, 32)
        assert tv.num_extra_tokens == E
        assert tv.features(x).shape == (2, 32, 3, 5)


@pytest.mark.parametrize('family', ['mmpretrain_vit', 'dinov2_registers'])
def test_grid_of_an_input_padded_to_whole_patches(family):
    """mmpretrain's patch embedding pads a partial patch: ``grid`` counts
    it as the embedding does (timm refuses such inputs)."""
    tv = TokenViT(_backbone(family))
    x = torch.randn(1, 3, 3 * 14 + 1, 5 * 14 - 3)
    with torch.no_grad():
        assert tv.embed(x)[1] == (4, 5) == tv.grid(x.shape[-2:])


@pytest.mark.parametrize('family', list(FAMILIES))
def test_vit_patch_size(family):
    vit = _backbone(family)
    assert vit_patch_size(vit) == TokenViT(vit).patch_size == \
        FAMILIES[family][0]


def test_non_square_patches_are_refused():
    vit = nn.Module()
    vit.patch_embed = nn.Module()
    vit.patch_embed.projection = nn.Conv2d(3, 8, (14, 16), stride=(14, 16))
    with pytest.raises(ValueError, match='non-square'):
        vit_patch_size(vit)
