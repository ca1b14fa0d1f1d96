"""tools/extract_tracks.py: its options reach the extraction, its exit code
says whether a video failed, a run killed midway resumes leaving no corrupt
file, and two CPU processes split the videos."""
import glob
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from mosic_mm.tracks.cache import read_header, read_track_file


def _files(cache):
    return sorted(glob.glob(osp.join(str(cache), '**', '*.npz'),
                            recursive=True))


def test_options_reach_the_extraction_and_failures_exit_1(
        synthetic_root, synthetic_config, tmp_path, load_tool,
        tiny_extract_options):
    tool = load_tool('extract_tracks.py')

    def run(*argv):
        return tool.run(tool.parse_args([
            synthetic_config, *argv, '--cfg-options',
            *tiny_extract_options(synthetic_root)]))
    cache = tmp_path / 'cache'
    args = tool.parse_args([synthetic_config])
    assert (args.tracker, args.checkpoint, args.cache_dir, args.overwrite,
            args.limit, args.launcher) == (None, None, None, False, None,
                                           'none')
    assert run('--cache-dir', str(cache), '--limit', '2',
               '--tracker', 'StaticTracker') == 0
    files = _files(cache)
    assert [osp.basename(f) for f in files] == ['train_0000.npz',
                                                'train_0001.npz']
    assert read_header(files[0])['tracker'] == dict(type='StaticTracker')
    # the config's tracker (DIS) finds files of another one: exit 1 ...
    assert run('--cache-dir', str(cache), '--limit', '2') == 1
    # ... unless --overwrite
    assert run('--cache-dir', str(cache), '--overwrite') == 0
    assert [read_header(f)['tracker']['type'] for f in _files(cache)] == [
        'DISFlowTracker'] * 4
    with pytest.raises(SystemExit) as exit_:
        tool.main([synthetic_config, '--cache-dir', str(cache),
                   '--cfg-options', *tiny_extract_options(synthetic_root)])
    assert exit_.value.code == 0


SLOW_RUN = """
import sys, time
sys.path.insert(0, {tools!r})
import extract_tracks
import mosic_mm.tracks.transforms as tracking
_track = tracking.track_grid
def slow(*a, **k):
    time.sleep(0.4)
    return _track(*a, **k)
tracking.track_grid = slow
extract_tracks.main({argv!r})
"""


@pytest.mark.slow  # a killed subprocess
def test_killed_midway_then_resumed_leaves_no_corrupt_file(
        synthetic_root, synthetic_config, tmp_path, repo, load_tool,
        tiny_extract_options):
    cache = tmp_path / 'cache'
    argv = [synthetic_config, '--cache-dir', str(cache),
            '--cfg-options', *tiny_extract_options(synthetic_root)]
    code = SLOW_RUN.format(tools=osp.join(repo, 'tools'), argv=argv)
    proc = subprocess.Popen([sys.executable, '-c', code], cwd=repo,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not _files(cache) and time.time() < deadline:
            assert proc.poll() is None, 'the extraction ended before a file'
            time.sleep(0.05)
        time.sleep(0.5)  # into the next video
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = len(_files(cache))
    assert 1 <= done_before < 4, 'the kill came too late to test resuming'
    tool = load_tool('extract_tracks.py')
    assert tool.run(tool.parse_args(argv)) == 0
    files = _files(cache)
    assert len(files) == 4
    for f in files:
        read_track_file(f)  # every file complete and readable
    assert not glob.glob(str(cache / '.tmp_*'))


@pytest.mark.slow  # torchrun, two processes
def test_two_cpu_processes_split_the_videos(synthetic_root, synthetic_config,
                                            tmp_path, repo, torchrun,
                                            tiny_extract_options):
    cache = tmp_path / 'cache'
    proc, log = torchrun([osp.join(repo, 'tools', 'extract_tracks.py'),
                          synthetic_config, '--launcher', 'pytorch',
                          '--cache-dir', str(cache),
                          '--cfg-options', *tiny_extract_options(synthetic_root)])
    # no rank may die in the process group's teardown at exit (SIGABRT)
    assert 'terminate called' not in log, log[-3000:]
    assert proc.returncode == 0, log[-3000:]
    assert '4 done, 0 skipped (already there), 0 failed, of 4 videos' in log
    assert 'rank 0: 2 done' in log and 'rank 1: 2 done' in log
    assert len(_files(cache)) == 4
