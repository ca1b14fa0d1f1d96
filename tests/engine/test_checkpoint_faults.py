"""Faults of training checkpoints: a bad file to resume from is refused
before anything loads, a failed save keeps the previous checkpoint, and a
run resumes with another number of processes; each names the file and
loses nothing written earlier."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(REPO, 'tools', 'train.py')
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


@pytest.fixture
def make_cfg(tiny_train_overrides):
    """``make_cfg(data_root, work_dir, max_iters, **extra)``: a tiny run
    saving a checkpoint every iteration."""
    def make(data_root, work_dir, max_iters, **extra):
        from mmengine.config import Config
        cfg = Config.fromfile(SYNTHETIC_CONFIG)
        cfg.merge_from_dict(tiny_train_overrides(data_root, max_iters))
        cfg.merge_from_dict({'default_hooks.checkpoint.interval': 1,
                             **extra})
        cfg.work_dir = str(work_dir)
        return cfg
    return make


def snapshot(work_dir):
    """{name: bytes} of the checkpoints and last_checkpoint in work_dir."""
    return {osp.basename(p): open(p, 'rb').read() for p in
            glob.glob(osp.join(str(work_dir), 'iter_*.pth'))
            + [osp.join(str(work_dir), 'last_checkpoint')]}


def train(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.fixture
def trained_work(synthetic_root, tmp_path, make_cfg):
    work = tmp_path / 'trained'
    train(make_cfg(synthetic_root, work, 2))
    return work

@pytest.mark.parametrize('kind', ['truncated', 'zero-byte', 'text',
                                  'weights only'])
def test_resume_from_a_bad_file_is_refused_and_loses_nothing(
        synthetic_root, trained_work, tmp_path, kind, make_cfg):
    good = open(trained_work / 'iter_2.pth', 'rb').read()
    bad = tmp_path / f'{kind}.pth'
    if kind == 'weights only':  # e.g. an exported backbone / DINOv2 file
        state = torch.load(trained_work / 'iter_2.pth',
                           map_location='cpu')['state_dict']
        torch.save({'state_dict': state}, bad)
    else:
        bad.write_bytes({'truncated': good[:len(good) // 2], 'zero-byte': b'',
                         'text': b'model: mosic\n'}[kind])
    before = snapshot(trained_work)
    cfg = make_cfg(synthetic_root, trained_work, 4, resume=True,
               load_from=str(bad))
    with pytest.raises(ValueError) as e:
        train(cfg)
    msg = str(e.value)
    assert str(bad) in msg and '--resume' in msg
    if kind == 'weights only':
        assert 'not a training checkpoint' in msg and 'optimizer' in msg
    else:
        assert 'not a readable PyTorch checkpoint' in msg
    assert snapshot(trained_work) == before  # nothing written or removed
    assert torch.load(trained_work / 'iter_2.pth',
                      map_location='cpu')['meta']['iter'] == 2


@pytest.mark.slow
def test_resume_cli_with_a_truncated_file_exits_with_the_message(
        synthetic_root, trained_work, tmp_path, tiny_train_options):
    good = open(trained_work / 'iter_2.pth', 'rb').read()
    bad = tmp_path / 'cut.pth'
    bad.write_bytes(good[:-100])
    cmd = [sys.executable, TRAIN, SYNTHETIC_CONFIG, '--work-dir',
           str(tmp_path / 'w'), '--resume', str(bad), '--cfg-options',
           *tiny_train_options(synthetic_root, 4)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert f'checkpoint {bad} (--resume' in proc.stderr
    assert 'not a readable PyTorch checkpoint' in proc.stderr
    assert not glob.glob(str(tmp_path / 'w' / '*.pth'))


@pytest.mark.parametrize('fault', ['disk full', 'work dir not writable'])
def test_failed_save_keeps_the_previous_checkpoint(
        synthetic_root, tmp_path, monkeypatch, fault, make_cfg):
    import errno
    import tempfile
    work = tmp_path / 'work'
    # the worst case: keep one checkpoint (mmengine deleted it before
    # writing the next one)
    cfg = make_cfg(synthetic_root, work, 3,
               **{'default_hooks.checkpoint.max_keep_ckpts': 1})
    target = 'iter_2.pth'
    if fault == 'disk full':
        fsync = os.fsync

        def failing_fsync(fd):
            if os.readlink(f'/proc/self/fd/{fd}').endswith(target):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return fsync(fd)
        monkeypatch.setattr(os, 'fsync', failing_fsync)
    else:
        mkstemp = tempfile.mkstemp

        def failing_mkstemp(*args, **kwargs):
            if kwargs.get('suffix', '').endswith(target):
                raise PermissionError(errno.EACCES, 'Permission denied',
                                      kwargs['dir'])
            return mkstemp(*args, **kwargs)
        monkeypatch.setattr(tempfile, 'mkstemp', failing_mkstemp)
    with pytest.raises(OSError) as e:
        train(cfg)
    monkeypatch.undo()
    assert f'cannot write {work / target}' in str(e.value)
    assert e.value.errno == (errno.ENOSPC if fault == 'disk full'
                             else errno.EACCES)
    # the previous checkpoint is on disk, complete, and last_checkpoint
    # names it; no temporary file is left
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_1.pth')
    assert torch.load(work / 'iter_1.pth',
                      map_location='cpu')['meta']['iter'] == 1
    assert not (work / target).exists()
    assert not glob.glob(str(work / '.tmp_*'))
    # and the run resumes from it once the disk is fixed
    runner = train(make_cfg(synthetic_root, work, 3, resume=True,
                         **{'default_hooks.checkpoint.max_keep_ckpts': 1}))
    assert runner.iter == 3
    assert (work / 'iter_3.pth').exists()
    assert not (work / 'iter_1.pth').exists()  # rotation still works


def _train_cli(torchrun, tiny_train_options, work, data_root, max_iters,
               nproc, *extra):
    opts = ['--work-dir', str(work), *extra, '--cfg-options',
            *tiny_train_options(data_root, max_iters),
            'default_hooks.checkpoint.interval=1']
    if nproc == 1:
        proc = subprocess.run([sys.executable, TRAIN, SYNTHETIC_CONFIG,
                               *opts], cwd=REPO, capture_output=True,
                              text=True, timeout=600)
        log = proc.stdout + proc.stderr
    else:
        proc, log = torchrun([TRAIN, SYNTHETIC_CONFIG, '--launcher',
                                  'pytorch', *opts])
    assert 'terminate called' not in log, log[-3000:]
    assert proc.returncode == 0, log[-3000:]
    return log


@pytest.mark.slow
@pytest.mark.parametrize('first,then', [(2, 1), (1, 2)],
                         ids=['2->1 processes', '1->2 processes'])
def test_resume_with_another_number_of_processes(synthetic_root, tmp_path,
                                                 first, then, torchrun,
                                                 tiny_train_options):
    work = tmp_path / 'work'
    cli = (torchrun, tiny_train_options)
    _train_cli(*cli, work, synthetic_root, 2, first)
    before = snapshot(work)
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu')
    assert ckpt['rng_state']['world_size'] == first
    log = _train_cli(*cli, work, synthetic_root, 3, then, '--resume')
    assert 'Iter(train) [3/3]' in log and 'Iter(train) [2/3]' not in log
    # the RNG states cannot be mapped to another number of ranks: said so
    assert (f'holds RNG states of {first} ranks but this run has {then}'
            in log)
    final = torch.load(work / 'iter_3.pth', map_location='cpu')
    assert final['meta']['iter'] == 3
    assert final['rng_state']['world_size'] == then
    for k, v in ckpt['state_dict'].items():  # it continued from iter_2
        assert v.shape == final['state_dict'][k].shape
    assert any(not torch.equal(v, final['state_dict'][k])
               for k, v in ckpt['state_dict'].items())
    # earlier checkpoints are still there, unchanged
    after = snapshot(work)
    for name in ('iter_1.pth', 'iter_2.pth'):
        assert after[name] == before[name]
