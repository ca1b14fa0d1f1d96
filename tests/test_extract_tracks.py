"""tools/extract_tracks.py: fills the cache, resumes, survives a kill, shards
over two CPU processes, reports failures."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, SYNTHETIC_CONFIG, free_port
from mosic_mm.apis.extract_tracks import make_plan
from mosic_mm.datasets.track_cache import read_header, read_track_file

sys.path.insert(0, osp.join(REPO, 'tools'))
import extract_tracks  # noqa: E402

TOOL = osp.join(REPO, 'tools', 'extract_tracks.py')


def _options(root):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={root}',
            'train_dataloader.dataset.num_train=4',
            'train_dataloader.dataset.num_val=2',
            'train_dataloader.dataset.num_frames=8',
            'train_dataloader.dataset.size=[64,64]',
            'train_dataloader.dataset.clip_len=3',
            'train_dataloader.dataset.frame_stride=2']


def _run(root, cache, *flags, cfg=()):
    return extract_tracks.run(extract_tracks.parse_args(
        [SYNTHETIC_CONFIG, '--cache-dir', str(cache), *flags,
         *_options(root), *cfg]))


def _files(cache):
    return sorted(glob.glob(osp.join(str(cache), '**', '*.npz'),
                            recursive=True))


def test_fills_the_cache_then_skips_and_reports_mismatches(
        synthetic_root, tmp_path, capsys):
    cache = tmp_path / 'cache'
    assert _run(synthetic_root, cache) == 0
    files = _files(cache)
    assert [osp.basename(f) for f in files] == [
        f'train_000{i}.npz' for i in range(4)]
    header = read_header(files[0])
    assert header['window_starts'] == [0, 2]  # 8 frames, T=3, stride 2
    assert header['frame_size'] == [64, 64] and header['grid_size'] == 16
    assert header['tracker'] == dict(type='DISFlowTracker')
    mtimes = [os.stat(f).st_mtime_ns for f in files]

    assert _run(synthetic_root, cache) == 0
    assert [os.stat(f).st_mtime_ns for f in files] == mtimes
    # other settings: failed with the reason, files left alone ...
    assert _run(synthetic_root, cache,
                cfg=['train_dataloader.dataset.window_step=1']) == 1
    out = capsys.readouterr()
    log = out.out + out.err
    assert '0 done, 4 skipped (already there), 0 failed' in log
    assert 'FAILED train_0000' in log and 'window_step: file has 2, ' \
        'expected 1' in log and '--overwrite' in log
    assert [os.stat(f).st_mtime_ns for f in files] == mtimes
    # ... unless --overwrite
    assert _run(synthetic_root, cache, '--overwrite',
                cfg=['train_dataloader.dataset.window_step=1']) == 0
    assert read_header(files[0])['window_starts'] == [0, 1, 2, 3]


def test_random_prefix_is_refused():
    from mmengine.config import Config
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    pipe = cfg.train_dataloader.dataset.pipeline
    pipe.insert(1, dict(type='ClipFlip'))
    with pytest.raises(ValueError, match='random transforms'):
        make_plan(cfg)
    plan = make_plan(Config.fromfile(SYNTHETIC_CONFIG),
                     tracker='CoTracker3', checkpoint='c.pth')
    assert plan['tracker'] == dict(type='CoTracker3', checkpoint='c.pth')
    assert [s['type'] for s in plan['prefix']] == ['LoadClip']


SLOW_RUN = """
import sys, time
sys.path.insert(0, {tools!r})
import extract_tracks
import mosic_mm.datasets.transforms.tracking as tracking
_track = tracking.track_grid
def slow(*a, **k):
    time.sleep(0.4)
    return _track(*a, **k)
tracking.track_grid = slow
extract_tracks.main({argv!r})
"""


def test_killed_midway_then_resumed_leaves_no_corrupt_file(
        synthetic_root, tmp_path):
    cache = tmp_path / 'cache'
    argv = [SYNTHETIC_CONFIG, '--cache-dir', str(cache),
            *_options(synthetic_root)]
    code = SLOW_RUN.format(tools=osp.join(REPO, 'tools'), argv=argv)
    proc = subprocess.Popen([sys.executable, '-c', code], cwd=REPO,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not _files(cache) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # into the next video
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = len(_files(cache))
    assert 1 <= done_before < 4, 'the kill came too late to test resuming'
    assert _run(synthetic_root, cache) == 0
    files = _files(cache)
    assert len(files) == 4
    for f in files:
        read_track_file(f)  # every file complete and readable
    assert not glob.glob(str(cache / '.tmp_*'))


def run_torchrun(args, env=None, timeout=600, tries=3):
    """``torchrun --nproc_per_node 2 ARGS`` on a free port; retried (only)
    when another process took the port between choosing and binding it."""
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS='1')
    for _ in range(tries):
        cmd = [sys.executable, '-m', 'torch.distributed.run',
               '--nproc_per_node=2', f'--master_port={free_port()}', *args]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, env=env)
        log = proc.stdout + proc.stderr
        if proc.returncode == 0 or 'address already in use' not in \
                log.lower():
            break
    return proc, log


def test_two_cpu_processes_split_the_videos(synthetic_root, tmp_path):
    cache = tmp_path / 'cache'
    proc, log = run_torchrun([TOOL, SYNTHETIC_CONFIG, '--launcher', 'pytorch',
                              '--cache-dir', str(cache),
                              *_options(synthetic_root)])
    # no rank may die in the process group's teardown at exit (SIGABRT)
    assert 'terminate called' not in log, log[-3000:]
    assert proc.returncode == 0, log[-3000:]
    assert '4 done, 0 skipped (already there), 0 failed, of 4 videos' in log
    assert 'rank 0: 2 done' in log and 'rank 1: 2 done' in log
    assert len(_files(cache)) == 4
