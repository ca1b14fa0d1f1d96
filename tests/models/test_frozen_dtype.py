"""``frozen_dtype``: frozen weights kept in bf16 (trainable ones, adapters
and heads in fp32); timm backbones built on the meta device and
materialised block by block in their kept dtypes, initialised as timm does,
loading a checkpoint into them as into an fp32 model cast."""
import math

import pytest
import torch

from mosic_mm.models.backbones import TimmViT
from mosic_mm.models.utils import shared_weights
from mosic_mm.registry import MODELS

DINOV3 = 'vit_small_patch16_dinov3_qkvb'
_TINY = dict(embed_dim=64, depth=3, num_heads=2)


def _timm_backbone(**kw):
    return dict(type='TimmViT', model_name=DINOV3, img_size=64,
                model_kwargs=dict(_TINY), **kw)


def _dtypes(module):
    return {n: p.dtype for n, p in module.named_parameters()}


@pytest.mark.parametrize('timm', [False, True])
def test_frozen_weights_are_kept_in_bf16_and_the_rest_in_fp32(
        timm, tiny_model_cfg):
    kw = dict(backbone=_timm_backbone()) if timm else {}
    model = MODELS.build(tiny_model_cfg(frozen_dtype='bfloat16', **kw))
    model.init_weights()
    for name, p in model.backbone.named_parameters():
        want = torch.float32 if p.requires_grad else torch.bfloat16
        assert p.dtype == want, name
    assert {p.dtype for p in model.head.parameters()} == {torch.float32}
    teacher = _dtypes(model.teacher['backbone'])
    assert teacher == _dtypes(model.backbone)
    if timm:  # buffers follow their module's weights; RoPE stays fp32
        m = model.backbone.model
        assert m.blocks[0].attn.k_bias.dtype == torch.bfloat16
        assert m.blocks[-1].attn.k_bias.dtype == torch.float32
        assert m.rope.periods.dtype == torch.float32


def test_a_bf16_frozen_step_trains_the_fp32_blocks(tiny_model, clip_batch,
                                                   model_loss):
    ref = tiny_model()
    model = tiny_model(frozen_dtype='bfloat16')
    with torch.no_grad():  # the same weights, the frozen ones rounded
        for p, q in zip(model.parameters(), ref.parameters()):
            p.copy_(q)
    batch = clip_batch()
    loss = model_loss(model, batch)['loss']
    loss.backward()
    assert loss.item() == pytest.approx(model_loss(ref, batch)['loss'].item(),
                                        rel=2e-2)
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:
            assert p.grad is None, name


def test_the_meta_build_initialises_as_timm():
    """Exact for the deterministic parts (layer scales, norms, zero biases,
    the k-bias buffer, RoPE periods); the random ones have timm's std
    (0.02, the depth-rescaled projections, the kaiming patch embedding)."""
    import timm
    torch.manual_seed(0)
    ref = timm.create_model(DINOV3, pretrained=False, num_classes=0,
                            img_size=64, dynamic_img_size=True, **_TINY)
    with torch.device('meta'):
        vit = TimmViT(DINOV3, img_size=64, model_kwargs=dict(_TINY))
    vit.materialize_(lambda p: torch.float32)
    ours = dict(vit.model.named_parameters())
    assert not any(p.is_meta for p in ours.values())
    for name, want in ref.named_parameters():
        got = ours[name]
        exact = name.endswith(('gamma_1', 'gamma_2', 'norm1.weight',
                               'norm2.weight', 'norm.weight')) or (
            'bias' in name and 'patch_embed' not in name)
        if exact:
            assert torch.equal(got, want), name
        else:
            assert got.std().item() == pytest.approx(want.std().item(),
                                                     rel=0.15), name
    for name, buf in ref.named_buffers():
        assert torch.equal(dict(vit.model.named_buffers())[name], buf), name
    depth3 = ours['blocks.2.attn.proj.weight'].std().item()
    assert depth3 == pytest.approx(0.02 / math.sqrt(6), rel=0.15)


def test_the_meta_build_holds_at_most_one_block_in_fp32(monkeypatch):
    """Materialising in bf16: at no time do more fp32 bytes of weights that
    are kept in bf16 exist than one block holds."""
    block_bytes = []
    peaks = []
    keep = shared_weights.keep_dtypes_

    def spy(module, dtype_of, recurse=True):
        vit = holder['vit']
        live = sum(p.numel() * 4 for p in vit.parameters()
                   if not p.is_meta and p.dtype == torch.float32
                   and dtype_of(p) == torch.bfloat16)
        peaks.append(live)
        keep(module, dtype_of, recurse)

    from mosic_mm.models.backbones import timm_vit
    monkeypatch.setattr(timm_vit, 'keep_dtypes_', spy)
    holder = {}
    with torch.device('meta'):
        holder['vit'] = TimmViT(DINOV3, img_size=64,
                                model_kwargs=dict(_TINY))
    block_bytes = sum(p.numel() * 4
                      for p in holder['vit'].model.blocks[0].parameters())
    holder['vit'].materialize_(lambda p: torch.bfloat16)
    assert peaks and max(peaks) <= block_bytes
    assert {p.dtype for p in holder['vit'].parameters()} == {torch.bfloat16}


def test_a_checkpoint_loads_into_the_kept_dtypes(tmp_path, tiny_model_cfg):
    """A meta-built model with frozen_dtype holds exactly the file's weights
    rounded to bf16 where frozen and as they are where trained."""
    import timm
    torch.manual_seed(0)
    ref = timm.create_model(DINOV3, pretrained=False, num_classes=0,
                            img_size=64, dynamic_img_size=True, **_TINY)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = str(tmp_path / 'timm.pth')
    torch.save(ref.state_dict(), path)
    init = dict(type='ConvertedPretrained', checkpoint=path, layout='timm')
    model = MODELS.build(tiny_model_cfg(backbone=_timm_backbone(
        init_cfg=init), frozen_dtype='bfloat16'))
    model.init_weights()
    want = ref.state_dict()
    for name, p in model.backbone.model.named_parameters():
        expected = want[name] if p.requires_grad else want[name].bfloat16()
        assert torch.equal(p, expected), name
    for name, p in model.teacher['backbone'].model.named_parameters():
        assert torch.equal(p, model.backbone.model.get_parameter(name)), name
