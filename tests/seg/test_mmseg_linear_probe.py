"""The mmsegmentation linear probe (configs/benchmarks/mmseg/
linear_synthetic.py: mosic_mm.seg's BNLinearHead and SyntheticSegDataset)
on an exported backbone, a few iterations on the synthetic frames (CPU)."""
import os.path as osp

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIG = osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                      'linear_synthetic.py')


def test_mmseg_linear_probe_synthetic(synthetic_root, tiny_arch, tmp_path):
    """The head trains, the backbone is the exported one and stays frozen,
    and the caller's registry scope is left as it was."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmpretrain.models import VisionTransformer

    from mosic_mm.utils.config import registry_scope
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(tiny_arch), img_size=112,
                            patch_size=14, out_type='featmap',
                            layer_scale_init_value=1e-5)
    ckpt = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}}, ckpt)
    cfg = Config.fromfile(SEG_CONFIG)
    cfg.merge_from_dict({
        'model.backbone.arch': dict(tiny_arch),
        'model.backbone.frozen_stages': tiny_arch['num_layers'],
        'model.backbone.init_cfg.checkpoint': ckpt,
        'model.decode_head.in_channels': tiny_arch['embed_dims'],
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
    before = DefaultScope.get_current_instance()
    with registry_scope(cfg):
        runner = Runner.from_cfg(cfg)
        head = runner.model.decode_head.conv_seg.weight.detach().clone()
        runner.train()
        metrics = runner.val_loop.run()
    assert DefaultScope.get_current_instance() is before
    assert 0.0 <= metrics['mIoU'] <= 100.0
    got = runner.model.backbone.state_dict()
    for k, v in vit.state_dict().items():
        assert torch.equal(got[k], v), k               # loaded, unchanged
    assert not any(p.requires_grad for p in runner.model.backbone.parameters())
    assert not torch.equal(runner.model.decode_head.conv_seg.weight, head)
