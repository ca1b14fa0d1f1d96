"""MoSiC on TimmViT backbones (tiny DINOv3 with RoPE and storage tokens, a
tiny CLIP tower) on the synthetic clips: the shared frozen trunk gives the
unshared path's losses and gradients, the trained teacher exports to
files timm's own loaders read, masking hands RoPE blocks the kept
positions."""
import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from timm.models.eva import checkpoint_filter_fn
from timm.models.vision_transformer import _convert_openai_clip

from mosic_mm.apis import export_backbone
from mosic_mm.registry import DATASETS, MODELS
from mosic_mm.utils.config import registry_scope

DINOV3 = 'vit_small_patch16_dinov3_qkvb'
CLIP = 'vit_base_patch16_clip_224'


@pytest.fixture
def synthetic_batches(synthetic_config, synthetic_root,
                      tiny_train_overrides):
    """``synthetic_batches(n=3)``: ``n`` collated batches of 2 clips (3
    frames, 64 px crops, 16 tracks on a 4x4 grid) of the synthetic
    training set, under torch seed 0."""
    def batches(n: int = 3) -> list:
        cfg = Config.fromfile(synthetic_config)
        cfg.merge_from_dict(tiny_train_overrides(synthetic_root))
        cfg.merge_from_dict({
            'train_dataloader.dataset.pipeline.3.size': 64,
            'train_dataloader.dataset.pipeline.5.grid_size': 4})
        with registry_scope(cfg):
            dataset = DATASETS.build(cfg.train_dataloader.dataset)
        torch.manual_seed(0)
        return [pseudo_collate([dataset[(2 * i) % len(dataset)],
                                dataset[(2 * i + 1) % len(dataset)]])
                for i in range(n)]  # random crops differ on a second pass
    return batches


def _mosic_cfg(backbone: dict, share: bool, teacher_dtype) -> dict:
    return dict(
        type='MoSiC', backbone=backbone,
        head=dict(type='SinkhornClusteringHead', hidden_channels=(48, ),
                  out_channels=16, num_prototypes=8),
        num_trainable_blocks=1, share_frozen_trunk=share,
        teacher_dtype=teacher_dtype)


def _train(batches, backbone, share, teacher_dtype):
    """3 AdamW steps with the EMA teacher update -> losses, grads, model."""
    torch.manual_seed(0)
    model = MODELS.build(_mosic_cfg(backbone, share, teacher_dtype))
    with torch.no_grad():  # move LayerScale etc. away from near-identity
        for p in model.backbone.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.init_weights()  # teacher = student
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters()
                             if p.requires_grad], lr=1e-2)
    losses, grads = [], []
    for batch in batches:
        data = model.data_preprocessor(batch, True)
        loss = model(**data, mode='loss')['loss']
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
        opt.step()
        opt.zero_grad()
        model.update_teacher(0.9)  # teacher != student from step 2 on
    return losses, grads, model


def _dinov3_from_official(sd, net):
    assert 'storage_tokens' in sd and 'rope_embed.periods' in sd
    return checkpoint_filter_fn(sd, net)  # timm's own official loader


def _clip_from_openai(sd, net):
    assert 'visual.class_embedding' in sd
    return _convert_openai_clip(sd, net)  # timm's own OpenAI loader


# family -> (timm model, tiny kwargs, export format -> file to timm)
FAMILIES = {
    'dinov3': (DINOV3, dict(embed_dim=32, depth=3, num_heads=2),
               dict(timm=None, dinov3=_dinov3_from_official)),
    # the clips are 64 px with a 4x4 track grid: patch 16 here (the patch
    # size is not what the shared-trunk path depends on)
    'clip': (CLIP, dict(embed_dim=32, depth=3, num_heads=2, patch_size=16),
             dict(timm=None, openai_clip=_clip_from_openai)),
}


@pytest.mark.parametrize('teacher_dtype', [None, 'bfloat16'])
@pytest.mark.parametrize('family', list(FAMILIES))
def test_shared_trunk_equals_unshared_and_the_teacher_exports(
        family, teacher_dtype, synthetic_batches, tmp_path):
    """3 training steps with and without the shared frozen trunk: the same
    loss and gradients at every step; the trained teacher, exported in
    each format, loads strictly into timm's model (through timm's own
    loader for the official layouts) with the teacher's features."""
    name, kwargs, formats = FAMILIES[family]
    backbone = dict(type='TimmViT', model_name=name, img_size=64,
                    model_kwargs=kwargs)
    batches = synthetic_batches()
    shared = _train(batches, backbone, True, teacher_dtype)
    ref = _train(batches, backbone, False, teacher_dtype)
    model = shared[2]
    assert model._uses_shared_trunk() and not ref[2]._uses_shared_trunk()
    # the trunk runs on all B*T frames at once instead of the student's B
    # alone: other matmul blockings, float32 rounding
    for step, (a, b) in enumerate(zip(shared[0], ref[0])):
        assert torch.allclose(a, b, atol=1e-6), (step, a, b)
    for step, (ga, gb) in enumerate(zip(shared[1], ref[1])):
        assert ga.keys() == gb.keys() and any('blocks.2' in n for n in ga)
        for n in ga:
            assert torch.allclose(ga[n], gb[n], atol=1e-6, rtol=1e-4), (
                step, n)
    ckpt = str(tmp_path / 'iter_3.pth')
    torch.save(dict(meta=dict(iter=3), state_dict=model.state_dict()), ckpt)
    x = torch.randn(2, 3, 48, 80)
    with torch.no_grad():
        want = model.teacher['backbone'](x)[0].flatten(2).transpose(1, 2)
    for fmt, to_timm in formats.items():
        sd = export_backbone(ckpt, str(tmp_path / f'{fmt}.pth'),
                             which='teacher', format=fmt)
        net = timm.create_model(name, pretrained=False, num_classes=0,
                                img_size=64, dynamic_img_size=True,
                                **kwargs).eval()
        if to_timm is not None:
            sd = to_timm(sd, net)
        net.load_state_dict(sd, strict=True)
        with torch.no_grad():
            got = net.forward_features(x)[:, net.num_prefix_tokens:]
        assert torch.equal(got, want), fmt


def test_masking_hands_rope_blocks_the_kept_positions(synthetic_batches):
    """mask_ratio > 0: the student's kept tokens reach the RoPE blocks with
    their own positions (without keep= the blocks refuse the token
    count)."""
    name, kwargs, _ = FAMILIES['dinov3']
    torch.manual_seed(0)
    model = MODELS.build(dict(_mosic_cfg(
        dict(type='TimmViT', model_name=name, img_size=64,
             model_kwargs=kwargs), True, None), mask_ratio=0.5))
    model.init_weights()
    model.train()
    assert not model._uses_shared_trunk()
    data = model.data_preprocessor(synthetic_batches(n=1)[0], True)
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.layers[2].attn.qkv.weight.grad.abs().sum() > 0
