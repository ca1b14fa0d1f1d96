"""The per-video cache writers (tracks, frames) write atomically: the data
is fsynced in a temporary file beside the target before it replaces it, so
a failed sync (disk full, I/O error) leaves the previous file whole and no
temporary file behind."""
import errno
import os

import numpy as np
import pytest

from mosic_mm.datasets.frame_cache import read_frame_header, write_frame_file
from mosic_mm.tracks.cache import (
    make_header,
    read_track_file,
    write_track_file,
)


def _write_tracks(path, value):
    header = make_header('v', dict(type='DISFlowTracker'), grid_size=2,
                         clip_len=3, stride=2, frame_stride=2, window_step=2,
                         total_frames=9, frame_size=(8, 8),
                         window_starts=[0, 2])
    write_track_file(path, header, np.full((2, 3, 4, 2), value, np.float32),
                     np.ones((2, 3, 4), bool))


def _write_frames(path, value):
    write_frame_file(path, 'v', np.full((2, 8, 8, 3), value, np.uint8),
                     [0, 2], total_frames=9, source_size=(16, 16),
                     interpolation='bilinear')


WRITERS = {  # writer, file name, a reader that checks the file is whole
    'tracks': (_write_tracks, 'v.npz', read_track_file),
    'frames': (_write_frames, 'v.frames', read_frame_header),
}


@pytest.mark.parametrize('kind', sorted(WRITERS))
def test_failed_sync_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path, monkeypatch, kind):
    write, name, read = WRITERS[kind]
    path = str(tmp_path / name)
    synced = []
    fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f'/proc/self/fd/{fd}'))
        return fsync(fd)

    monkeypatch.setattr(os, 'fsync', recording_fsync)
    write(path, 1)
    # the data was synced in a temporary file in the target's folder
    assert [os.path.dirname(p) for p in synced] == [str(tmp_path)]
    assert os.path.basename(synced[0]).startswith('.tmp_')
    before = open(path, 'rb').read()

    def failing_fsync(fd):
        raise OSError(errno.EIO, 'sync failed')

    monkeypatch.setattr(os, 'fsync', failing_fsync)
    with pytest.raises(OSError, match='sync failed'):
        write(path, 2)
    monkeypatch.undo()
    assert open(path, 'rb').read() == before
    read(path)
    assert os.listdir(tmp_path) == [name]
