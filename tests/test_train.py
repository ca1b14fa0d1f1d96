"""End-to-end training through tools/train.py and mmengine's Runner."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import (REPO, SYNTHETIC_CONFIG, free_port, tiny_train_options,
                      tiny_train_overrides)


def _train(work_dir, data_root, max_iters, *extra, timeout=300):
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'),
           SYNTHETIC_CONFIG, '--work-dir', str(work_dir), *extra,
           '--cfg-options', *tiny_train_options(data_root, max_iters)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _load(path):
    return torch.load(path, map_location='cpu')  # weights_only: allow-list


def test_train_then_resume_continues_and_restores_everything(
        tmp_path, synthetic_root):
    work = tmp_path / 'work'
    log = _train(work, synthetic_root, 2)
    assert 'Iter(train) [2/2]' in log
    ckpt2 = _load(work / 'iter_2.pth')
    assert ckpt2['meta']['iter'] == 2
    assert any(k.startswith('teacher.backbone.') for k in ckpt2['state_dict'])

    # Round trip: a new Runner resumes model, teacher, optimizer, scheduler
    # and iteration exactly as saved.
    from mmengine.config import Config
    from mmengine.runner import Runner
    import mosic_mm  # noqa: F401
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.merge_from_dict(tiny_train_overrides(synthetic_root, 4))
    cfg.work_dir = str(work)
    cfg.resume, cfg.load_from = True, str(work / 'iter_2.pth')
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(
        runner.param_schedulers)
    runner.load_or_resume()
    assert runner.iter == 2
    state = runner.model.state_dict()
    for k, v in ckpt2['state_dict'].items():
        assert torch.equal(state[k], v), k
    opt_state = runner.optim_wrapper.state_dict()
    for pid, s in ckpt2['optimizer']['state'].items():
        assert torch.equal(opt_state['state'][pid]['exp_avg'], s['exp_avg'])
    assert runner.param_schedulers[0].state_dict() == ckpt2['param_schedulers'][0]

    # The CLI continues from iteration 2 to 4.
    log = _train(work, synthetic_root, 4, '--resume')
    assert 'Iter(train) [3/4]' in log
    assert 'Iter(train) [1/4]' not in log
    ckpt4 = _load(work / 'iter_4.pth')
    assert ckpt4['meta']['iter'] == 4
    # the teacher moved by EMA and differs from the student now
    assert not torch.equal(ckpt4['state_dict']['teacher.head.prototypes'],
                           ckpt2['state_dict']['teacher.head.prototypes'])
    assert not glob.glob(str(work / '.tmp_*')), 'temporary files left behind'


def test_dist_train_two_processes_on_cpu(tmp_path, synthetic_root):
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    cmd = ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), SYNTHETIC_CONFIG,
           '2', '--work-dir', str(tmp_path / 'w2'), '--cfg-options',
           *tiny_train_options(synthetic_root, 2)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=env)
    out = proc.stdout + proc.stderr
    assert 'terminate called' not in out, out[-4000:]  # clean group teardown
    assert proc.returncode == 0, out[-4000:]
    assert 'world_size: 2' in out or "'world_size': 2" in out or \
        'Distributed launcher: pytorch' in out
    assert osp.exists(tmp_path / 'w2' / 'iter_2.pth')


def test_configs_parse_and_build():
    from mmengine.config import Config
    import mosic_mm  # noqa: F401
    from mosic_mm.registry import MODELS
    s = Config.fromfile(osp.join(REPO, 'configs', 'mosic_vits_ytvos.py'))
    b = Config.fromfile(osp.join(REPO, 'configs', 'mosic_vitb_ytvos.py'))
    assert s.model.head.num_prototypes == 100
    assert s.train_dataloader.dataset.clip_len == 12
    assert s.train_cfg.max_epochs == 8
    model = MODELS.build(b.model)
    assert model.backbone.embed_dims == 768
    first_linear = next(m for m in model.head.modules()
                        if isinstance(m, torch.nn.Linear))
    assert first_linear.in_features == 768
    trainable = {n.split('.')[1] for n, p in model.backbone.named_parameters()
                 if p.requires_grad}
    assert trainable == {'10', '11'}, trainable
