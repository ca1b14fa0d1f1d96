"""tools/test.py and tools/dist_test.sh: a trained mmseg model evaluated
with its config's test loop (one process and two over gloo), a checkpoint
that does not fit refused."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIG = osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                      'linear_synthetic.py')
TOOL = osp.join(REPO, 'tools', 'test.py')
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _overrides(data_root, work_dir):
    return {
        **{f'model.backbone.arch.{k}': v for k, v in ARCH.items()},
        'model.backbone.frozen_stages': ARCH['num_layers'],
        'model.decode_head.in_channels': ARCH['embed_dims'],
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
    from mmengine.runner import Runner

    from mosic_mm.utils.config import registry_scope
    work = tmp_path_factory.mktemp('seg_work')
    cfg = Config.fromfile(SEG_CONFIG)
    cfg.merge_from_dict(_overrides(synthetic_root, work))
    cfg.model.backbone.init_cfg = None
    with registry_scope(cfg):
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.val_loop.run()
    ckpt = osp.join(str(work), 'iter_3.pth')
    assert osp.isfile(ckpt)
    return dict(root=synthetic_root, ckpt=ckpt, metrics=metrics, work=work)


def _test_tool(config, ckpt, *options, work_dir):
    cmd = [sys.executable, TOOL, config, ckpt, '--work-dir', str(work_dir)]
    if options:
        cmd += ['--cfg-options', *options]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def _printed(out, key='mIoU'):
    return float(re.findall(rf'^{key}: ([0-9.]+)$', out, re.M)[-1])


@pytest.mark.slow
def test_test_tool_prints_the_miou_of_the_checkpoint(trained, tmp_path):
    opts = _cli(_overrides(trained['root'], tmp_path))
    proc = _test_tool(SEG_CONFIG, trained['ckpt'], *opts,
                      work_dir=tmp_path / 'test')
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # the same model on the same images: the same mIoU as the trained one
    # (printed with 2 decimals)
    assert _printed(out) == pytest.approx(trained['metrics']['mIoU'],
                                          abs=0.011)
    assert 'Load checkpoint from' in out and trained['ckpt'] in out


@pytest.mark.slow
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


def test_test_tool_exits_on_a_config_without_test_loop(
        synthetic_config, load_tool, tmp_path):
    """tools/test.py on a MoSiC training config: an exit with the reason
    (exit status 1), before a work dir is made."""
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit) as e:
        load_tool('test.py').main([synthetic_config, str(ckpt),
                                   '--work-dir', str(tmp_path / 'w')])
    assert isinstance(e.value.code, str)
    assert e.value.code.startswith('tools/test.py: ')
    assert 'defines no test loop' in e.value.code
    assert not (tmp_path / 'w').exists()


@pytest.mark.slow
def test_dist_test_two_processes_on_cpu(trained, tmp_path, free_port):
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
    # (2 decimals; one image set of another process: same_run's rel 1e-5
    # would not survive the rounding)
    assert _printed(out) == pytest.approx(trained['metrics']['mIoU'],
                                          abs=0.011)
