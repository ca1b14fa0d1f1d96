import torch
from mmpretrain.models import VisionTransformer

from conftest import TINY_ARCH
from mosic_mm.models.utils.vit_tokens import (embed_tokens, forward_blocks,
                                              keep_tokens, patch_featmap,
                                              vit_patch_size)


def _vit(**kw):
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(TINY_ARCH), img_size=56, patch_size=14,
                            out_type='featmap', layer_scale_init_value=1e-5,
                            **kw)
    vit.init_weights()
    vit.eval()
    return vit


def test_stepwise_forward_equals_vit_forward():
    vit = _vit()
    x = torch.randn(2, 3, 56, 70)  # non-square: 4x5 tokens
    tokens, hw = embed_tokens(vit, x)
    assert hw == (4, 5)
    split = forward_blocks(vit, forward_blocks(vit, tokens, 0, 1), 1)
    ours = patch_featmap(vit, split, hw)
    assert torch.allclose(ours, vit(x)[-1], atol=1e-6)
    assert vit_patch_size(vit) == 14


def test_keep_all_tokens_is_identity_and_dropped_positions_are_zero():
    vit = _vit()
    x = torch.randn(1, 3, 56, 56)
    tokens, hw = embed_tokens(vit, x)
    full = torch.arange(16).unsqueeze(0)
    kept = patch_featmap(vit, forward_blocks(vit, keep_tokens(vit, tokens, full)),
                         hw, full)
    assert torch.allclose(kept, vit(x)[-1], atol=1e-6)

    keep = torch.tensor([[0, 5, 15]])
    out = patch_featmap(vit, forward_blocks(vit, keep_tokens(vit, tokens, keep)),
                        hw, keep)
    flat = out.flatten(2)[0]  # [C, 16]
    dropped = [i for i in range(16) if i not in (0, 5, 15)]
    assert torch.all(flat[:, dropped] == 0)
    assert torch.all(flat[:, [0, 5, 15]].abs().sum(0) > 0)
