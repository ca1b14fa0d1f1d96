"""TimmViT inside mmsegmentation: the DINOv3 linear-probe configs build a
fully frozen /16 backbone, and a linear probe trains on the synthetic
frames with a DINOv3 backbone loaded from an exported file."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mosic_mm.models.backbones import load_state_dict_converted
from mosic_mm.registry import MODELS
from mosic_mm.utils.config import registry_scope

SEG = Path(__file__).resolve().parents[3] / 'configs' / 'benchmarks' / \
    'mmseg'
DINOV3 = 'vit_small_patch16_dinov3_qkvb'


@pytest.mark.parametrize('name', ['linear_dinov3_vits16_voc12aug.py',
                                  'linear_dinov3_vits16_ade20k.py'])
def test_mmseg_dinov3_configs_freeze_the_whole_backbone(name,
                                                        tiny_timm_kwargs):
    cfg = Config.fromfile(str(SEG / 'dinov3' / name))
    bb = cfg.model.backbone
    assert bb.type == 'mmpretrain.TimmViT'
    assert bb.init_cfg.prefix == 'backbone.'
    bb = dict(bb, type='TimmViT', init_cfg=None)
    with torch.device('meta'):
        vit = MODELS.build(bb)
    assert cfg.model.decode_head.in_channels == vit.embed_dims == 384
    assert bb['frozen_stages'] == len(vit.layers)
    assert not any(p.requires_grad for p in vit.parameters())
    assert all(s % 16 == 0 for s in cfg.crop_size)
    tiny = MODELS.build(dict(bb, model_kwargs=tiny_timm_kwargs,
                             frozen_stages=2))
    with torch.no_grad():  # 224 px -> 14x14 tokens for a /16 model
        assert tiny(torch.zeros(1, 3, 224, 224))[0].shape == (1, 32, 14,
                                                             14)
    tiny.train()
    assert not any(m.training for m in tiny.model.blocks)
    assert not tiny.model.norm.training  # frozen_stages = depth: the norm


def test_mmseg_linear_probe_with_a_dinov3_backbone(
        synthetic_root, tmp_path, random_timm, timm_backbone,
        tiny_timm_kwargs):
    """2 iterations: the mIoU is a percentage, the backbone is the exported
    one and stays frozen, the caller's registry scope is left current."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    vit = timm_backbone(DINOV3)
    load_state_dict_converted(vit, random_timm(DINOV3).state_dict())
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}}, ckpt)
    cfg = Config.fromfile(str(SEG / 'linear_synthetic.py'))
    cfg.model.backbone = dict(
        type='mmpretrain.TimmViT', model_name=DINOV3, img_size=112,
        model_kwargs=tiny_timm_kwargs, frozen_stages=2,
        init_cfg=dict(type='ConvertedPretrained', checkpoint=ckpt,
                      prefix='backbone.'))
    cfg.merge_from_dict({
        'model.decode_head.in_channels': 32,
        'train_dataloader.dataset.data_root': synthetic_root,
        'val_dataloader.dataset.data_root': synthetic_root,
        'train_dataloader.batch_size': 4, 'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2, 'param_scheduler.0.T_max': 2,
        'default_hooks.checkpoint.interval': 2,
        'work_dir': str(tmp_path / 'work')})
    before = DefaultScope.get_current_instance().instance_name
    with registry_scope(cfg):
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.val_loop.run()
    # (overwrite_default_scope restores deep copies: compare names)
    assert DefaultScope.get_current_instance().instance_name == before
    assert 0.0 <= metrics['mIoU'] <= 100.0
    got = runner.model.backbone.state_dict()
    for k, v in vit.state_dict().items():  # loaded, and stayed frozen
        assert torch.equal(got[k], v), k
