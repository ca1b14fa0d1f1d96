"""tools/test.py and tools/dist_test.sh: evaluate a trained mmseg model with
its config's test loop (issue 11 item 3)."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from conftest import REPO, SYNTHETIC_CONFIG, TINY_ARCH, free_port

SEG_CONFIG = osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                      'linear_synthetic.py')
TOOL = osp.join(REPO, 'tools', 'test.py')


def _overrides(data_root, work_dir):
    return {
        **{f'model.backbone.arch.{k}': v for k, v in TINY_ARCH.items()},
        'model.backbone.frozen_stages': TINY_ARCH['num_layers'],
        'model.decode_head.in_channels': TINY_ARCH['embed_dims'],
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 4,
        'train_cfg.max_iters': 3,
        'train_cfg.val_interval': 3,
        'param_scheduler.0.T_max': 3,
        'default_hooks.checkpoint.interval': 3,
        'work_dir': str(work_dir),
    }


def _cli(overrides):
    return [f'{k}={v}' for k, v in overrides.items() if k != 'work_dir']


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """A linear probe trained 3 iterations (random tiny backbone: no
    init_cfg file), its checkpoint and its validation metrics."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    work = tmp_path_factory.mktemp('seg_work')
    cfg = Config.fromfile(SEG_CONFIG)
    cfg.merge_from_dict(_overrides(synthetic_root, work))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.val_loop.run()
    ckpt = osp.join(str(work), 'iter_3.pth')
    assert osp.isfile(ckpt)
    return dict(root=synthetic_root, ckpt=ckpt, metrics=metrics, work=work)


def _test_tool(config, ckpt, *options, work_dir, launcher=None, env=None):
    cmd = [sys.executable, TOOL, config, ckpt, '--work-dir', str(work_dir)]
    if options:
        cmd += ['--cfg-options', *options]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)


def _printed(out, key='mIoU'):
    return float(re.findall(rf'^{key}: ([0-9.]+)$', out, re.M)[-1])


def test_test_tool_prints_the_miou_of_the_checkpoint(trained, tmp_path):
    opts = _cli(_overrides(trained['root'], tmp_path))
    proc = _test_tool(SEG_CONFIG, trained['ckpt'], *opts,
                      work_dir=tmp_path / 'test')
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # the same model on the same images: the same mIoU as the trained one
    assert _printed(out) == pytest.approx(trained['metrics']['mIoU'],
                                          abs=0.011)
    assert 'Load checkpoint from' in out and trained['ckpt'] in out


def test_test_tool_refuses_a_checkpoint_that_does_not_fit(trained, tmp_path):
    # a backbone-only file (e.g. tools/export_backbone.py): no decode head
    state = torch.load(trained['ckpt'], map_location='cpu')['state_dict']
    path = tmp_path / 'backbone only.pth'
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if k.startswith('backbone.')}}, path)
    opts = _cli(_overrides(trained['root'], tmp_path))
    proc = _test_tool(SEG_CONFIG, str(path), *opts, work_dir=tmp_path / 't')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'backbone only.pth' in out and 'missing in the checkpoint' in out
    assert 'decode_head.conv_seg.weight' in out
    assert not re.search(r'^mIoU: ', out, re.M)


def test_mosic_config_without_test_loop_is_a_clear_error(trained, tmp_path):
    proc = _test_tool(SYNTHETIC_CONFIG, trained['ckpt'],
                      work_dir=tmp_path / 'w')
    assert proc.returncode != 0
    assert 'defines no test loop' in proc.stderr
    assert 'tools/evaluate.py' in proc.stderr
    assert not (tmp_path / 'w').exists()
    proc = _test_tool(SEG_CONFIG, str(tmp_path / 'nope.pth'),
                      work_dir=tmp_path / 'w')
    assert proc.returncode != 0 and 'nope.pth does not exist' in proc.stderr


@pytest.mark.slow
def test_dist_test_two_processes_on_cpu(trained, tmp_path):
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    opts = _cli(_overrides(trained['root'], tmp_path))
    cmd = ['bash', osp.join(REPO, 'tools', 'dist_test.sh'), SEG_CONFIG,
           trained['ckpt'], '2', '--work-dir', str(tmp_path / 'd'),
           '--cfg-options', *opts]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'terminate called' not in out
    # both ranks evaluate half of the images; rank 0 prints the whole metric
    assert _printed(out) == pytest.approx(trained['metrics']['mIoU'],
                                          abs=0.011)
