"""mmsegmentation linear probe of an exported backbone on synthetic frames
(CPU, a few iterations), and the benchmark configs parse."""
import glob
import os.path as osp

import pytest
import torch

from conftest import REPO, TINY_ARCH

SEG_DIR = osp.join(REPO, 'configs', 'benchmarks', 'mmseg')


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(SEG_DIR, '*.py'))))
def test_benchmark_configs_parse(path):
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    bb = cfg.model.backbone
    assert bb.type == 'mmpretrain.VisionTransformer'
    assert bb.init_cfg.prefix == 'backbone.'
    width = {'dinov2-s': 384, 'base': 768}.get(bb.arch) if isinstance(
        bb.arch, str) else bb.arch['embed_dims']
    assert cfg.model.decode_head.in_channels == width
    if 'linear' in osp.basename(path):
        depth = 12 if isinstance(bb.arch, str) else bb.arch['num_layers']
        assert bb.frozen_stages == depth


def test_linear_probe_synthetic(synthetic_root, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(TINY_ARCH), img_size=112, patch_size=14,
                            out_type='featmap', layer_scale_init_value=1e-5)
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}}, ckpt)
    cfg = Config.fromfile(osp.join(SEG_DIR, 'linear_synthetic.py'))
    cfg.merge_from_dict({
        'model.backbone.arch': dict(TINY_ARCH),
        'model.backbone.frozen_stages': TINY_ARCH['num_layers'],
        'model.backbone.init_cfg.checkpoint': ckpt,
        'model.decode_head.in_channels': TINY_ARCH['embed_dims'],
        'train_dataloader.dataset.data_root': synthetic_root,
        'val_dataloader.dataset.data_root': synthetic_root,
        'train_dataloader.batch_size': 4,
        'train_cfg.max_iters': 4,
        'train_cfg.val_interval': 4,
        'param_scheduler.0.T_max': 4,
        'default_hooks.checkpoint.interval': 4,
        'default_hooks.logger.interval': 1,
        'work_dir': str(tmp_path / 'work'),
    })
    # the Runner makes 'mmseg' the default scope; restore it for other tests
    with DefaultScope.overwrite_default_scope('mmseg'):
        runner = Runner.from_cfg(cfg)
        head = runner.model.decode_head.conv_seg.weight.detach().clone()
        runner.train()
        metrics = runner.val_loop.run()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    # the backbone is the exported one, and stays frozen
    got = runner.model.backbone.state_dict()
    for k, v in vit.state_dict().items():
        torch.testing.assert_close(got[k], v, msg=k)
    assert not torch.equal(runner.model.decode_head.conv_seg.weight,
                           head)
