"""A damaged track-cache file (empty, truncated): reading it names the file
and the command that remakes it, and extraction replaces it and leaves the
others alone."""
import glob
import logging
import os
import os.path as osp

import numpy as np
import pytest

from mosic_mm.tracks.cache import (
    UnreadableTrackFile,
    read_header,
    read_track_file,
)
from mosic_mm.tracks.transforms import LoadTracks

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


def _extract(root, cache) -> int:
    """Fill ``cache`` with the tiny synthetic run's tracks (the API)."""
    from mosic_mm.apis import extract_tracks
    ds = 'train_dataloader.dataset'
    return extract_tracks(SYNTHETIC_CONFIG, cache_dir=str(cache),
                          cfg_options={
                              f'{ds}.data_root': root, f'{ds}.num_train': 4,
                              f'{ds}.num_val': 2, f'{ds}.num_frames': 8,
                              f'{ds}.size': [64, 64],
                              f'{ds}.pipeline.0.clip_len': 3,
                              f'{ds}.pipeline.0.frame_stride': 2})


def _files(cache):
    return sorted(glob.glob(osp.join(str(cache), '**', '*.npz'),
                            recursive=True))


@pytest.fixture
def cache(synthetic_root, tmp_path):
    cache = tmp_path / 'cache'
    assert _extract(synthetic_root, cache) == 0
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
        assert _extract(synthetic_root, cache) == 0  # no --overwrite
    finally:
        logger.removeHandler(handler)
    log = '\n'.join(handler.messages)
    assert '2 done, 2 skipped (already there), 0 failed' in log
    assert f'replaced unreadable (empty/truncated) file {files[0]}' in log
    assert f'replaced unreadable (empty/truncated) file {files[2]}' in log
    for f in files:
        read_track_file(f)
    assert {f: os.stat(f).st_mtime_ns for f in kept} == kept
