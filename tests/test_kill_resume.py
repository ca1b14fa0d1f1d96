"""kill -9 a real training process, resume, and get the uninterrupted run."""
import glob
import os
import os.path as osp
import random
import subprocess
import sys
import time

import pytest
import torch

from conftest import (REPO, SYNTHETIC_CONFIG, scalar_records,
                      tiny_train_options)


def train_cmd(work_dir, data_root, max_iters, *extra, options=()):
    """tools/train.py on the tiny synthetic config: a checkpoint every
    iteration, raw (unsmoothed) losses logged every iteration."""
    return [sys.executable, osp.join(REPO, 'tools', 'train.py'),
            SYNTHETIC_CONFIG, '--work-dir', str(work_dir), *extra,
            '--cfg-options', *tiny_train_options(data_root, max_iters),
            'default_hooks.checkpoint.interval=1', 'log_processor.window_size=1',
            *options]


def run_train(*args, timeout=300, **kwargs):
    proc = subprocess.run(train_cmd(*args, **kwargs), cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def logged(work_dir, key='loss'):
    """{iteration: value} from every run's vis_data/scalars.json in
    work_dir (later runs win)."""
    return {i: rec[key] for i, rec in scalar_records(work_dir, key).items()}


def load(path):
    return torch.load(path, map_location='cpu')  # weights_only + allow-list


def assert_same_state(a, b):
    assert a['meta']['iter'] == b['meta']['iter']
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    oa, ob = a['optimizer'], b['optimizer']
    assert oa['param_groups'] == ob['param_groups']
    for pid in oa['state']:
        for name, v in oa['state'][pid].items():
            assert torch.equal(torch.as_tensor(v),
                               torch.as_tensor(ob['state'][pid][name])), \
                (pid, name)
    assert a['param_schedulers'] == b['param_schedulers']


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path,
                                                        synthetic_root):
    # Token masking draws from torch's RNG in the model, the data pipeline
    # from numpy's: both streams must continue exactly.
    max_iters, opts = 10, ('model.mask_ratio=0.25', )
    ref, work = tmp_path / 'ref', tmp_path / 'killed'
    run_train(ref, synthetic_root, max_iters, options=opts)
    ref_loss = logged(ref)
    assert sorted(ref_loss) == list(range(1, max_iters + 1))

    seed = int.from_bytes(os.urandom(4), 'little')
    delay = random.Random(seed).uniform(0.0, 0.4)
    proc = subprocess.Popen(train_cmd(work, synthetic_root, max_iters,
                                      options=opts),
                            cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not osp.exists(work / 'last_checkpoint'):
            assert proc.poll() is None, 'training ended before a checkpoint'
            assert time.time() < deadline, 'no checkpoint within 240 s'
            time.sleep(0.01)
        time.sleep(delay)
        proc.kill()  # SIGKILL
    finally:
        proc.wait()
    assert proc.returncode == -9, f'not killed (seed {seed}): the run ended'

    # Every checkpoint on disk is complete, and last_checkpoint names one.
    ckpts = sorted(glob.glob(str(work / 'iter_*.pth')))
    assert ckpts
    for path in ckpts:
        load(path)
    latest = (work / 'last_checkpoint').read_text().strip()
    killed_at = load(latest)['meta']['iter']
    assert 1 <= killed_at < max_iters, f'seed {seed}'

    log = run_train(work, synthetic_root, max_iters, '--resume', options=opts)
    assert f'Iter(train) [{killed_at + 1:>2}/{max_iters}]' in log, log[-3000:]
    assert f'Iter(train) [{killed_at:>2}/{max_iters}]' not in log

    # Same losses after the resume, same final model, teacher, optimizer,
    # scheduler, and RNG states as the uninterrupted run.
    loss = logged(work)
    for i in range(1, max_iters + 1):
        assert loss[i] == ref_loss[i], (i, killed_at, seed)
    final, ref_final = load(work / f'iter_{max_iters}.pth'), \
        load(ref / f'iter_{max_iters}.pth')
    assert_same_state(final, ref_final)
    assert any(k.startswith('teacher.') for k in final['state_dict'])
    rng, ref_rng = final['rng_state'], ref_final['rng_state']
    assert torch.equal(rng['states'][0]['torch'], ref_rng['states'][0]['torch'])
    assert rng['states'][0]['python'] == ref_rng['states'][0]['python']
    assert (rng['states'][0]['numpy'][1] == ref_rng['states'][0]['numpy'][1]).all()
