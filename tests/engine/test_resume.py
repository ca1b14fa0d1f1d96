"""A run is reproducible and resumable: the same seed gives the same run,
a checkpoint round-trips through a new Runner, and kill -9 then --resume
gives the uninterrupted run (losses, model, teacher, optimizer, scheduler
and RNG states; compared with the cross-process tolerance policy of the
root conftest)."""
import glob
import os
import os.path as osp
import random
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


@pytest.fixture
def train_cmd(tiny_train_options):
    """``train_cmd(work_dir, data_root, max_iters, *extra, options=())``:
    tools/train.py on the tiny synthetic config, a checkpoint every
    iteration, raw (unsmoothed) losses logged every iteration."""
    def cmd(work_dir, data_root, max_iters, *extra, options=()):
        return [sys.executable, osp.join(REPO, 'tools', 'train.py'),
                SYNTHETIC_CONFIG, '--work-dir', str(work_dir), *extra,
                '--cfg-options', *tiny_train_options(data_root, max_iters),
                'default_hooks.checkpoint.interval=1',
                'log_processor.window_size=1', *options]
    return cmd


@pytest.fixture
def run_train(train_cmd):
    def run(*args, timeout=300, **kwargs):
        proc = subprocess.run(train_cmd(*args, **kwargs), cwd=REPO,
                              capture_output=True, text=True,
                              timeout=timeout)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        return out
    return run


def _losses(scalar_records, work_dir):
    return {i: r['loss'] for i, r in scalar_records(work_dir).items()}


def _load(path):
    return torch.load(path, map_location='cpu')  # weights_only + allow-list


@pytest.mark.slow
@pytest.mark.parametrize('workers', [0, 2])
def test_the_same_seed_gives_the_same_run(tmp_path, synthetic_root, workers,
                                          run_train, scalar_records,
                                          same_run):
    """Token masking draws from torch's RNG in the model, the data pipeline
    from numpy's (per DataLoader worker): two runs of one seed agree."""
    opts = (f'train_dataloader.num_workers={workers}',
            'model.mask_ratio=0.25',
            'default_hooks.checkpoint.interval=100')
    losses = []
    for name in ('a', 'b'):
        run_train(tmp_path / name, synthetic_root, 10, options=opts)
        losses.append(_losses(scalar_records, tmp_path / name))
    assert sorted(losses[0]) == list(range(1, 11))
    same_run(losses[0], losses[1])
    assert len(set(losses[0].values())) > 5  # real, varying losses


def test_a_checkpoint_round_trips_through_a_new_runner(
        tmp_path, synthetic_root, synthetic_config, tiny_train_overrides):
    """Saved after 2 iterations, resumed by a new Runner: model, teacher,
    optimizer, scheduler and iteration exactly as saved; the run then
    continues to 4 and the teacher keeps moving."""
    from mmengine.runner import Runner

    def config(max_iters, **extra):
        cfg = Config.fromfile(synthetic_config)
        cfg.merge_from_dict(tiny_train_overrides(synthetic_root, max_iters))
        cfg.merge_from_dict(extra)
        cfg.work_dir = str(tmp_path)
        return cfg

    Runner.from_cfg(config(2)).train()
    ckpt2 = _load(tmp_path / 'iter_2.pth')
    assert ckpt2['meta']['iter'] == 2
    assert any(k.startswith('teacher.backbone.') for k in ckpt2['state_dict'])
    cfg = config(4, resume=True, load_from=str(tmp_path / 'iter_2.pth'))
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
    assert runner.param_schedulers[0].state_dict() == \
        ckpt2['param_schedulers'][0]
    Runner.from_cfg(config(4, resume=True)).train()
    ckpt4 = _load(tmp_path / 'iter_4.pth')
    assert ckpt4['meta']['iter'] == 4
    assert not torch.equal(ckpt4['state_dict']['teacher.head.prototypes'],
                           ckpt2['state_dict']['teacher.head.prototypes'])
    assert not glob.glob(str(tmp_path / '.tmp_*')), 'temporary files left'


@pytest.mark.slow
@pytest.mark.parametrize('trains', ['last_block', 'lora'])
def test_kill_9_then_resume_equals_an_uninterrupted_run(
        tmp_path, synthetic_root, train_cmd, run_train, scalar_records,
        same_run, trains):
    """A real training process killed at a random moment after its first
    checkpoint; every checkpoint on disk is complete, and --resume
    continues from the last one to the uninterrupted run's losses and
    final states (trainable blocks, or LoRA adapters on a frozen
    backbone)."""
    max_iters, opts = 10, ('model.mask_ratio=0.25', )
    if trains == 'lora':
        opts += ('model.num_trainable_blocks=0', 'model.lora.r=8')
    ref, work = tmp_path / 'ref', tmp_path / 'killed'
    run_train(ref, synthetic_root, max_iters, options=opts)
    ref_loss = _losses(scalar_records, ref)
    assert sorted(ref_loss) == list(range(1, max_iters + 1))

    seed = int.from_bytes(os.urandom(4), 'little')
    delay = random.Random(seed).uniform(0.0, 0.4)
    proc = subprocess.Popen(train_cmd(work, synthetic_root, max_iters,
                                      options=opts),
                            cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while True:  # last_checkpoint names a checkpoint (written after it)
            last = work / 'last_checkpoint'
            if last.exists() and osp.exists(last.read_text().strip()):
                break
            assert proc.poll() is None, 'training ended before a checkpoint'
            assert time.time() < deadline, 'no checkpoint within 240 s'
            time.sleep(0.01)
        time.sleep(delay)
        proc.kill()  # SIGKILL
    finally:
        proc.wait()
    assert proc.returncode == -9, f'not killed (seed {seed}): the run ended'

    ckpts = sorted(glob.glob(str(work / 'iter_*.pth')))
    assert ckpts
    for path in ckpts:
        _load(path)
    latest = (work / 'last_checkpoint').read_text().strip()
    killed_at = _load(latest)['meta']['iter']
    assert 1 <= killed_at < max_iters, f'seed {seed}'

    log = run_train(work, synthetic_root, max_iters, '--resume',
                    options=opts)
    assert f'Iter(train) [{killed_at + 1:>2}/{max_iters}]' in log, \
        log[-3000:]
    assert f'Iter(train) [{killed_at:>2}/{max_iters}]' not in log

    final = _load(work / f'iter_{max_iters}.pth')
    ref_final = _load(ref / f'iter_{max_iters}.pth')
    assert final['meta']['iter'] == ref_final['meta']['iter']
    same_run(_losses(scalar_records, work), ref_loss, final['state_dict'],
             ref_final['state_dict'])
    assert any(k.startswith('teacher.') for k in final['state_dict'])
    adapters = [k for k in final['state_dict'] if '.lora_B.' in k]
    assert bool(adapters) == (trains == 'lora')
    for k in adapters:  # trained: B starts at zero
        assert final['state_dict'][k].abs().max() > 0, k
    oa, ob = final['optimizer'], ref_final['optimizer']
    assert oa['param_groups'] == ob['param_groups']
    for pid in oa['state']:
        for name, v in oa['state'][pid].items():
            torch.testing.assert_close(torch.as_tensor(v),
                                       torch.as_tensor(ob['state'][pid][name]),
                                       msg=f'{pid} {name}')
    assert final['param_schedulers'] == ref_final['param_schedulers']
    rng, ref_rng = final['rng_state'], ref_final['rng_state']
    assert torch.equal(rng['states'][0]['torch'],
                       ref_rng['states'][0]['torch'])
    assert rng['states'][0]['python'] == ref_rng['states'][0]['python']
    assert (rng['states'][0]['numpy'][1] ==
            ref_rng['states'][0]['numpy'][1]).all()
