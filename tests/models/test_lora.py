"""LoRA through peft: the official's roles resolved on each backbone family,
every adapter in the forward pass, merging equal to peft's own, and MoSiC
with adapters (what trains, a teacher with its own adapters, dropout)."""
import copy

import pytest
import torch
from torch import nn

from mosic_mm.models.utils.lora import (
    LoRASettings,
    add_lora,
    lora_module_names,
    merge_lora_state_dict,
    merged_backbone_state_dict,
)
from mosic_mm.models.utils.token_backbone import TokenViT
from mosic_mm.registry import MODELS

_TIMM = dict(embed_dim=32, depth=2, num_heads=2)


def _mmpretrain(**kw):
    from mosic_mm.models.backbones import DINOVisionTransformer
    return DINOVisionTransformer(arch=dict(embed_dims=32,
                                           num_layers=2,
                                           num_heads=2,
                                           feedforward_channels=48),
                                 img_size=56,
                                 patch_size=14,
                                 out_type='featmap',
                                 layer_scale_init_value=1e-5,
                                 **kw)


def _timm(name):
    from mosic_mm.models.backbones import TimmViT
    return TimmViT(name, img_size=64, model_kwargs=dict(_TIMM))


FAMILIES = {
    'dinov2': (lambda: _mmpretrain(), 56, [
        'layers.{i}.attn.qkv', 'patch_embed.projection',
        'layers.{i}.attn.proj', 'layers.{i}.ffn.layers.0.0',
        'layers.{i}.ffn.layers.1'
    ]),
    'dinov2-swiglu':
    (lambda: _mmpretrain(layer_cfgs=dict(ffn_type='swiglu_fused')), 56, [
        'layers.{i}.attn.qkv', 'patch_embed.projection',
        'layers.{i}.attn.proj', 'layers.{i}.ffn.w12', 'layers.{i}.ffn.w3'
    ]),
    'dinov3': (lambda: _timm('vit_small_patch16_dinov3_qkvb'), 64, [
        'model.blocks.{i}.attn.qkv', 'model.patch_embed.proj',
        'model.blocks.{i}.attn.proj', 'model.blocks.{i}.mlp.fc1',
        'model.blocks.{i}.mlp.fc2'
    ]),
    'dinov3-swiglu': (lambda: _timm('vit_huge_plus_patch16_dinov3_qkvb'), 64, [
        'model.blocks.{i}.attn.qkv', 'model.patch_embed.proj',
        'model.blocks.{i}.attn.proj', 'model.blocks.{i}.mlp.fc1_g',
        'model.blocks.{i}.mlp.fc1_x', 'model.blocks.{i}.mlp.fc2'
    ]),
    'eva02': (lambda: _timm('eva02_base_patch16_clip_224'), 64, [
        'model.blocks.{i}.attn.q_proj', 'model.blocks.{i}.attn.k_proj',
        'model.blocks.{i}.attn.v_proj', 'model.patch_embed.proj',
        'model.blocks.{i}.attn.proj', 'model.blocks.{i}.mlp.fc1_g',
        'model.blocks.{i}.mlp.fc1_x', 'model.blocks.{i}.mlp.fc2'
    ]),
    'clip': (lambda: _timm('vit_base_patch16_clip_224'), 64, [
        'model.blocks.{i}.attn.qkv', 'model.patch_embed.proj',
        'model.blocks.{i}.attn.proj', 'model.blocks.{i}.mlp.fc1',
        'model.blocks.{i}.mlp.fc2'
    ]),
}


def _expected(patterns):
    names = set()
    for p in patterns:
        names |= {p.format(i=i) for i in range(2)}
    return names


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_the_official_roles_resolve_on_every_family(family):
    make, _, patterns = FAMILIES[family]
    names = lora_module_names(make(), LoRASettings().target_modules)
    assert set(names) == _expected(patterns)
    # 'proj' adapts the patch embedding too, as peft's suffix match does on
    # the official DINOv2
    assert any('patch_embed' in n
               for n in lora_module_names(make(), ('proj', )))


def _unit_layer_scale(module):
    """Layer scales of 1 (not 1e-5), so each branch moves the features."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'gamma' in name:
                p.fill_(1.0)


def _randomise_adapters(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if '.lora_' in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


@pytest.mark.parametrize('family', sorted(FAMILIES))
@pytest.mark.parametrize('role', ['qkv', 'proj', 'mlp.fc1', 'mlp.fc2'])
def test_every_adapter_reaches_the_features(family, role):
    """One role adapted, its adapters random: the features move (an Eva
    attention with q/v biases must call its qkv module for that)."""
    make, size, _ = FAMILIES[family]
    torch.manual_seed(0)
    vit = make()
    _unit_layer_scale(vit)  # so that every branch shows in the features
    vit.eval()
    x = torch.randn(2, 3, size, size)
    base = TokenViT(vit).features(x)
    add_lora(vit, LoRASettings(target_modules=(role, )))
    vit.eval()
    assert torch.equal(TokenViT(vit).features(x), base)  # B starts at 0
    _randomise_adapters(vit)
    assert not torch.allclose(TokenViT(vit).features(x), base, atol=1e-3)


@pytest.mark.parametrize('family', ['dinov2', 'dinov3', 'eva02'])
def test_merging_equals_peft_and_gives_the_adapted_features(family):
    from peft.tuners.lora import LoraLayer
    make, size, _ = FAMILIES[family]
    torch.manual_seed(0)
    plain = make()
    _unit_layer_scale(plain)
    plain.eval()
    adapted = copy.deepcopy(plain)
    add_lora(adapted, LoRASettings(r=4, alpha=12))
    _randomise_adapters(adapted)
    adapted.eval()
    x = torch.randn(2, 3, size, size)
    want = TokenViT(adapted).features(x)
    merged = merged_backbone_state_dict(adapted)
    assert not any('lora_' in k or 'base_layer' in k for k in merged)
    plain.load_state_dict(merged, strict=True)
    torch.testing.assert_close(TokenViT(plain).features(x),
                               want,
                               rtol=1e-4,
                               atol=1e-4)
    # peft's own merge of the same adapters gives the same weights
    reference = copy.deepcopy(adapted)
    for module in reference.modules():
        if isinstance(module, LoraLayer):
            module.merge()
    for key, value in merged.items():
        stem, _, leaf = key.rpartition('.')
        ref = reference.state_dict().get(f'{stem}.base_layer.{leaf}',
                                         reference.state_dict().get(key))
        torch.testing.assert_close(value, ref, rtol=1e-5, atol=1e-6, msg=key)


def test_merge_is_pure_and_refuses_a_second_adapter():
    w = torch.randn(6, 4)
    a, b = torch.randn(2, 4), torch.randn(6, 2)
    sd = {
        'm.base_layer.weight': w,
        'm.lora_A.default.weight': a,
        'm.lora_B.default.weight': b,
        'other': torch.ones(1)
    }
    out = merge_lora_state_dict(sd, 0.5)
    torch.testing.assert_close(out['m.weight'], w + 0.5 * b @ a)
    assert set(out) == {'m.weight', 'other'}
    assert torch.equal(sd['m.base_layer.weight'], w)  # input untouched
    sd['m.lora_A.extra.weight'] = a
    with pytest.raises(KeyError, match='only one adapter'):
        merge_lora_state_dict(sd, 0.5)


@pytest.mark.parametrize('bad, error, match', [
    (dict(rank=4), TypeError, 'unknown settings'),
    (dict(r=0), ValueError, 'positive int'),
    (dict(dropout=1.0), ValueError, 'dropout'),
    (dict(target_modules=('qkv', 'fc3')), ValueError, 'one of'),
])
def test_bad_lora_settings_are_errors_naming_them(bad, error, match):
    with pytest.raises(error, match=match):
        LoRASettings.from_cfg(bad)


def test_the_defaults_are_the_officials():
    s = LoRASettings()
    assert (s.r, s.alpha, s.dropout,
            s.target_modules) == (8, 32.0, 0.1, ('qkv', 'proj', 'mlp.fc1',
                                                 'mlp.fc2'))
    assert s.scaling == 4.0


# ---------------------------------------------------------------- MoSiC
def test_with_lora_only_adapters_and_head_train(tiny_model):
    model = tiny_model(lora=dict(), num_trainable_blocks=0)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all('.lora_' in n or n.startswith('head.')
                           for n in trained)
    assert any('patch_embed' in n for n in trained)
    # adapters in every block and the patch embedding: no frozen trunk
    assert model._trunk_depth == 0
    assert not model._uses_shared_trunk()


def test_adapters_and_full_blocks_train_together(tiny_model):
    model = tiny_model(lora=dict(), num_trainable_blocks=1)
    trained = {
        n
        for n, p in model.backbone.named_parameters() if p.requires_grad
    }
    assert {n
            for n in trained if '.lora_' not in n} == {
                n
                for n, _ in model.backbone.layers[1].named_parameters(
                    prefix='layers.1') if '.lora_' not in n
            }
    assert any('.lora_' in n and n.startswith('layers.0.') for n in trained)


def test_lora_needs_a_frozen_backbone(tiny_model_cfg):
    with pytest.raises(ValueError, match='num_trainable_blocks=0'):
        MODELS.build(tiny_model_cfg(lora=dict(), num_trainable_blocks=None))


def test_the_teacher_follows_its_own_adapters_by_ema(tiny_model):
    model = tiny_model(lora=dict(), num_trainable_blocks=0)
    student = dict(model.backbone.named_parameters())
    teacher = dict(model.teacher['backbone'].named_parameters())
    _randomise_adapters(model.backbone, seed=1)
    _randomise_adapters(model.teacher['backbone'], seed=2)
    before = {n: teacher[n].clone() for n in teacher if '.lora_' in n}
    model.update_teacher(0.9)
    for name, old in before.items():
        assert teacher[name].data_ptr() != student[name].data_ptr()
        torch.testing.assert_close(teacher[name],
                                   0.9 * old + 0.1 * student[name])


def test_adapter_dropout_runs_in_the_student_only(tiny_model):
    model = tiny_model(lora=dict(), num_trainable_blocks=0).train()
    drops = [
        m for n, m in model.backbone.named_modules()
        if 'lora_dropout' in n and isinstance(m, nn.Dropout)
    ]
    assert drops and all(m.training for m in drops)
    assert not any(m.training
                   for n, m in model.teacher['backbone'].named_modules()
                   if 'lora_dropout' in n)
    model.eval()
    assert not any(m.training for m in drops)


def test_a_lora_step_gives_gradients_to_the_adapters(tiny_model, clip_batch,
                                                     model_loss):
    model = tiny_model(lora=dict(), num_trainable_blocks=0).train()
    model_loss(model, clip_batch())['loss'].backward()
    grads = {
        n: p.grad
        for n, p in model.backbone.named_parameters() if p.requires_grad
    }
    b_grads = [g for n, g in grads.items() if 'lora_B' in n]
    assert b_grads and all(g is not None and g.abs().sum() > 0
                           for g in b_grads)
    assert all(p.grad is None for n, p in model.backbone.named_parameters()
               if not p.requires_grad)
