"""Faults of issue 11 item 5: each gives a clear message naming the file, and
nothing written earlier is lost."""
import glob
import logging
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, SYNTHETIC_CONFIG, tiny_train_options
from mosic_mm.datasets.track_cache import (UnreadableTrackFile, read_header,
                                           read_track_file)
from mosic_mm.datasets.transforms.tracking import LoadTracks

sys.path.insert(0, osp.join(REPO, 'tools'))
import extract_tracks  # noqa: E402
from test_extract_tracks import _files, _run  # noqa: E402

TRAIN = osp.join(REPO, 'tools', 'train.py')


# ------------------------------------------------------------ track cache
@pytest.fixture
def cache(synthetic_root, tmp_path):
    cache = tmp_path / 'cache'
    assert _run(synthetic_root, cache) == 0
    return cache


def _damage(path, kind):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(b'' if kind == 'zero-byte' else data[:len(data) // 2])


@pytest.mark.parametrize('kind', ['zero-byte', 'truncated'])
def test_damaged_cache_file_names_the_file_and_the_command(
        synthetic_root, cache, kind):
    path = _files(cache)[1]
    _damage(path, kind)
    for read in (read_header, read_track_file):
        with pytest.raises(UnreadableTrackFile) as e:
            read(path)
        msg = str(e.value)
        assert path in msg and 'truncated or corrupt' in msg
        assert 'python tools/extract_tracks.py' in msg
    assert ('(0 bytes)' in msg) == (kind == 'zero-byte')
    # in training: LoadTracks' error carries the config's extract command
    cmd = 'python tools/extract_tracks.py configs/my_config.py'
    load = LoadTracks(cache_dir=str(cache), extract_cmd=cmd)
    video = osp.splitext(osp.basename(path))[0]
    results = dict(video_id=video, frame_inds=np.array([0, 2, 4]),
                   total_frames=8, imgs=np.zeros((3, 64, 64, 3), np.uint8))
    with pytest.raises(UnreadableTrackFile) as e:
        load(results)
    assert path in str(e.value) and cmd in str(e.value)


class _Messages(logging.Handler):

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_extraction_replaces_damaged_files_and_keeps_the_others(
        synthetic_root, cache):
    from mmengine.logging import MMLogger
    files = _files(cache)
    _damage(files[0], 'zero-byte')
    _damage(files[2], 'truncated')
    kept = {f: os.stat(f).st_mtime_ns for f in (files[1], files[3])}
    handler = _Messages()
    logger = MMLogger.get_instance('extract_tracks')
    logger.addHandler(handler)
    try:
        assert _run(synthetic_root, cache) == 0  # no --overwrite needed
    finally:
        logger.removeHandler(handler)
    log = '\n'.join(handler.messages)
    assert '2 done, 2 skipped (already there), 0 failed' in log
    assert f'replaced unreadable (empty/truncated) file {files[0]}' in log
    assert f'replaced unreadable (empty/truncated) file {files[2]}' in log
    for f in files:
        read_track_file(f)
    assert {f: os.stat(f).st_mtime_ns for f in kept} == kept


# ------------------------------------------------------------ checkpoints
def _cfg(data_root, work_dir, max_iters, **extra):
    from mmengine.config import Config
    from conftest import tiny_train_overrides
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.merge_from_dict(tiny_train_overrides(data_root, max_iters))
    cfg.merge_from_dict({'default_hooks.checkpoint.interval': 1, **extra})
    cfg.work_dir = str(work_dir)
    return cfg


def _train(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def _snapshot(work_dir):
    """{name: bytes} of the checkpoints and last_checkpoint in work_dir."""
    return {osp.basename(p): open(p, 'rb').read() for p in
            glob.glob(osp.join(str(work_dir), 'iter_*.pth'))
            + [osp.join(str(work_dir), 'last_checkpoint')]}


@pytest.fixture(scope='module')
def trained_work(synthetic_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('trained')
    _train(_cfg(synthetic_root, work, 2))
    return work


@pytest.mark.parametrize('kind', ['truncated', 'zero-byte', 'text',
                                  'weights only'])
def test_resume_from_a_bad_file_is_refused_and_loses_nothing(
        synthetic_root, trained_work, tmp_path, kind):
    good = open(trained_work / 'iter_2.pth', 'rb').read()
    bad = tmp_path / f'{kind}.pth'
    if kind == 'weights only':  # e.g. an exported backbone / DINOv2 file
        state = torch.load(trained_work / 'iter_2.pth',
                           map_location='cpu')['state_dict']
        torch.save({'state_dict': state}, bad)
    else:
        bad.write_bytes({'truncated': good[:len(good) // 2], 'zero-byte': b'',
                         'text': b'model: mosic\n'}[kind])
    before = _snapshot(trained_work)
    cfg = _cfg(synthetic_root, trained_work, 4, resume=True,
               load_from=str(bad))
    with pytest.raises(ValueError) as e:
        _train(cfg)
    msg = str(e.value)
    assert str(bad) in msg and '--resume' in msg
    if kind == 'weights only':
        assert 'not a training checkpoint' in msg and 'optimizer' in msg
    else:
        assert 'not a readable PyTorch checkpoint' in msg
    assert _snapshot(trained_work) == before  # nothing written or removed
    assert torch.load(trained_work / 'iter_2.pth',
                      map_location='cpu')['meta']['iter'] == 2


def test_resume_cli_with_a_truncated_file_exits_with_the_message(
        synthetic_root, trained_work, tmp_path):
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
        synthetic_root, tmp_path, monkeypatch, fault):
    import errno
    import tempfile
    work = tmp_path / 'work'
    # the worst case: keep one checkpoint (mmengine deleted it before
    # writing the next one)
    cfg = _cfg(synthetic_root, work, 3,
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
        _train(cfg)
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
    runner = _train(_cfg(synthetic_root, work, 3, resume=True,
                         **{'default_hooks.checkpoint.max_keep_ckpts': 1}))
    assert runner.iter == 3
    assert (work / 'iter_3.pth').exists()
    assert not (work / 'iter_1.pth').exists()  # rotation still works


# ------------------------------------------------------------ configs
def test_missing_base_names_the_file_and_the_config_naming_it(tmp_path):
    from mosic_mm.utils.config import ConfigError, load_config
    parent = tmp_path / 'parent.py'
    parent.write_text(f"_base_ = [{SYNTHETIC_CONFIG!r}, "
                      "'./_base_/my_runtime.py']\n")
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./parent.py']\nmax_iters = 3\n")
    missing = tmp_path / '_base_' / 'my_runtime.py'
    with pytest.raises(ConfigError) as e:
        load_config(str(child))
    msg = str(e.value)
    assert f'its _base_ file {missing} does not exist' in msg
    assert f'named in the _base_ of {parent}' in msg and str(child) in msg
    with pytest.raises(ConfigError, match='nope.py does not exist'):
        load_config(str(tmp_path / 'nope.py'))

    # tools/train.py: the message, exit status 1, the work dir untouched
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_5.pth').write_bytes(b'an earlier checkpoint')
    (work / 'last_checkpoint').write_text(str(work / 'iter_5.pth'))
    before = _snapshot(work)
    proc = subprocess.run([sys.executable, TRAIN, str(child), '--work-dir',
                           str(work)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    assert f'its _base_ file {missing} does not exist' in proc.stderr
    assert _snapshot(work) == before
    assert sorted(os.listdir(work)) == ['iter_5.pth', 'last_checkpoint']


# ---------------------------------------------- resume across world sizes
def _train_cli(work, data_root, max_iters, nproc, *extra):
    opts = ['--work-dir', str(work), *extra, '--cfg-options',
            *tiny_train_options(data_root, max_iters),
            'default_hooks.checkpoint.interval=1']
    if nproc == 1:
        proc = subprocess.run([sys.executable, TRAIN, SYNTHETIC_CONFIG,
                               *opts], cwd=REPO, capture_output=True,
                              text=True, timeout=600)
        log = proc.stdout + proc.stderr
    else:
        from test_extract_tracks import run_torchrun
        proc, log = run_torchrun([TRAIN, SYNTHETIC_CONFIG, '--launcher',
                                  'pytorch', *opts])
    assert 'terminate called' not in log, log[-3000:]
    assert proc.returncode == 0, log[-3000:]
    return log


@pytest.mark.slow
@pytest.mark.parametrize('first,then', [(2, 1), (1, 2)],
                         ids=['2->1 processes', '1->2 processes'])
def test_resume_with_another_number_of_processes(synthetic_root, tmp_path,
                                                 first, then):
    work = tmp_path / 'work'
    _train_cli(work, synthetic_root, 2, first)
    before = _snapshot(work)
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu')
    assert ckpt['rng_state']['world_size'] == first
    log = _train_cli(work, synthetic_root, 3, then, '--resume')
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
    after = _snapshot(work)
    for name in ('iter_1.pth', 'iter_2.pth'):
        assert after[name] == before[name]
