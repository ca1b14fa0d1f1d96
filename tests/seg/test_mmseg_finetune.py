"""A fine-tuning config of configs/benchmarks/mmseg trained for a few
iterations by tools/train.py on the synthetic segmentation frames
(SyntheticSegDataset) with a tiny backbone, its checkpoint evaluated by
tools/test.py (under mmcv-lite: sliding-window inference, SyncBN, the
photometric and crop transforms are pure PyTorch / numpy)."""
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                  'finetune_vits14_ade20k.py')
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _options(data_root, backbone, train=True):
    """--cfg-options: a tiny backbone (exported file), 56 px inputs and
    crops, the synthetic frames instead of ADE20K, 4 iterations."""
    opts = ['model.backbone.arch._delete_=True',
            *(f'model.backbone.arch.{k}={v}' for k, v in ARCH.items()),
            'model.backbone.img_size=56',
            f'model.backbone.init_cfg.checkpoint={backbone}',
            f'model.decode_head.in_channels={ARCH["embed_dims"]}',
            'model.decode_head.num_classes=6',
            'model.data_preprocessor.size=(56,56)',
            'model.test_cfg.crop_size=(56,56)',
            'model.test_cfg.stride=(28,28)']
    loaders = dict(test=('val', 4), val=('val', 4))
    if train:
        loaders['train'] = ('train', 2)
        opts += ['train_dataloader.dataset.pipeline.2.scale=(128,64)',
                 'train_dataloader.dataset.pipeline.3.crop_size=(56,56)',
                 'train_cfg.max_iters=4',
                 'default_hooks.checkpoint.interval=4',
                 'default_hooks.logger.interval=1']
    for name, (split, step) in loaders.items():
        dl = f'{name}_dataloader'
        opts += [f'{dl}.dataset.type=SyntheticSegDataset',
                 f'{dl}.dataset.data_root={data_root}',
                 f'{dl}.dataset.split={split}',
                 f'{dl}.dataset.frame_step={step}',
                 f'{dl}.num_workers=0', f'{dl}.persistent_workers=False']
        if name != 'train':
            opts.append(f'{dl}.dataset.pipeline.1.scale=(128,56)')
    return opts


def _run(tool, *args):
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', tool),
                           *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.mark.slow
def test_mmseg_finetune_config_trains_and_tests(synthetic_root, tmp_path):
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(ARCH), img_size=56, patch_size=14,
                            layer_scale_init_value=1e-5, out_type='featmap')
    backbone = str(tmp_path / 'backbone.pth')
    exported = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    torch.save({'state_dict': exported}, backbone)
    work = tmp_path / 'work'
    out = _run('train.py', CONFIG, '--work-dir', str(work), '--cfg-options',
               *_options(synthetic_root, backbone))
    assert f'load backbone. in model from: {backbone}' in out
    ckpt = work / 'iter_4.pth'
    assert ckpt.is_file()
    # fine-tuning trains the backbone too (a linear probe freezes it)
    state = torch.load(str(ckpt), map_location='cpu',
                       weights_only=False)['state_dict']
    assert any(not torch.equal(state[k], v) for k, v in exported.items())
    assert 'decode_head.conv_seg.weight' in state
    out = _run('test.py', CONFIG, str(ckpt), '--work-dir',
               str(tmp_path / 'test'), '--cfg-options',
               *_options(synthetic_root, backbone, train=False))
    miou = re.findall(r'^mIoU: ([0-9.]+)$', out, re.M)
    assert len(miou) == 1 and 0.0 <= float(miou[0]) <= 100.0, out[-3000:]
    assert f'test metrics of {ckpt}' in out
