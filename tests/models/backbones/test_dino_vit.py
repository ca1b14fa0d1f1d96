"""DINOVisionTransformer: a plain mmpretrain ViT without registers, DINOv2's
register-token layout, SwiGLU blocks in MoSiC training, frozen stages.
(Its token steps, shared by every family, are tests/models/
test_token_backbone.py's.)"""
import torch
from mmpretrain.models import VisionTransformer

from mosic_mm.models.backbones import DINOVisionTransformer
from mosic_mm.registry import MODELS


def _vit(arch, cls=DINOVisionTransformer, **kw):
    torch.manual_seed(0)
    vit = cls(arch=dict(arch), img_size=56, patch_size=14,
              out_type='featmap', layer_scale_init_value=1e-5, **kw)
    vit.init_weights()
    vit.eval()
    return vit


def test_without_registers_it_is_a_plain_vit(tiny_arch):
    ours, plain = _vit(tiny_arch), _vit(tiny_arch, VisionTransformer)
    assert ours.state_dict().keys() == plain.state_dict().keys()
    assert ours.register_tokens is None and ours.num_extra_tokens == 1
    with torch.no_grad():
        for p in ours.parameters():  # LayerScale 1e-5 would hide the blocks
            p.add_(0.2 * torch.randn_like(p))
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 56, 70)  # non-square: pos_embed resized
    with torch.no_grad():
        assert torch.equal(ours(x)[-1], plain(x)[-1])


def test_register_tokens_sit_after_the_position_embedding(tiny_arch):
    """DINOv2 with registers: [cls + pos_0, registers (no position),
    patches + their positions]; the registers attend with the patches."""
    vit = _vit(tiny_arch, num_register_tokens=4)
    with torch.no_grad():
        vit.register_tokens.normal_()
        for name, p in vit.named_parameters():
            if 'gamma' in name:  # 1e-5 would hide what attention mixes in
                p.fill_(1.0)
    assert vit.num_extra_tokens == 5 and vit.num_pos_extra_tokens == 1
    assert vit.pos_embed.shape == (1, 1 + 16, 32)
    captured = {}

    def first_block_input(module, args):
        captured['tokens'] = args[0]  # (returns None: input unchanged)

    hook = vit.layers[0].register_forward_pre_hook(first_block_input)
    x = torch.randn(2, 3, 56, 70)  # 4x5 tokens
    with torch.no_grad():
        before = vit(x)[-1]
        patches, hw = vit.patch_embed(x)
    hook.remove()
    tokens = captured['tokens']  # what the first block sees
    assert hw == (4, 5) and tokens.shape == (2, 5 + 20, 32)
    assert before.shape == (2, 32, 4, 5)
    assert torch.equal(tokens[:, 1:5],
                       vit.register_tokens.expand(2, -1, -1))
    assert torch.equal(tokens[0, 0],
                       (vit.cls_token + vit.pos_embed[:, :1])[0, 0])
    from mmpretrain.models.utils import resize_pos_embed
    pos = resize_pos_embed(vit.pos_embed, vit.patch_resolution, hw,
                           mode=vit.interpolate_mode, num_extra_tokens=1)
    assert torch.equal(tokens[:, 5:], patches + pos[:, 1:])
    with torch.no_grad():
        vit.register_tokens.add_(torch.randn_like(vit.register_tokens))
        assert (vit(x)[-1] - before).abs().max() > 1e-4


def test_mosic_trains_with_registers_and_swiglu(tiny_model_cfg,
                                                clip_batch, model_loss):
    cfg = tiny_model_cfg(mask_ratio=0.25)
    cfg['backbone'].update(type='DINOVisionTransformer',
                           num_register_tokens=4,
                           layer_cfgs=dict(ffn_type='swiglu_fused'))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    loss = model_loss(model, clip_batch(N=8))['loss']
    loss.backward()
    grads = {n for n, p in model.backbone.named_parameters()
             if p.grad is not None}
    assert grads and all(n.startswith('layers.1.') for n in grads), grads
    assert 'layers.1.ffn.w12.weight' in grads
    assert model.backbone.register_tokens.grad is None  # frozen stem
    assert torch.equal(model.teacher['backbone'].register_tokens,
                       model.backbone.register_tokens)


def test_frozen_stages_freeze_registers_and_layer_depths(tiny_arch):
    vit = _vit(tiny_arch, num_register_tokens=2, frozen_stages=1)
    assert not vit.register_tokens.requires_grad
    assert not vit.layers[0].ln1.weight.requires_grad
    assert vit.layers[1].ln1.weight.requires_grad
    assert vit.get_layer_depth('backbone.register_tokens',
                               'backbone.') == (0, 4)
    assert vit.get_layer_depth('backbone.layers.1.ln1.weight',
                               'backbone.') == (2, 4)
