"""The track cache file: one compact .npz per video (header JSON, float16
tracks, packed visibility), written atomically, read whole or one window;
unreadable and foreign files are clear errors naming them."""
import json
import os

import numpy as np
import pytest

from mosic_mm.tracks.cache import (
    TrackCacheError,
    cache_path,
    make_header,
    read_header,
    read_track_file,
    write_track_file,
)


def _header(**kw):
    args = dict(video_id='a/b', tracker=dict(type='DISFlowTracker'),
                grid_size=2, clip_len=3, stride=2, frame_stride=2,
                window_step=2, total_frames=9, frame_size=(40, 50),
                window_starts=[0, 2])
    args.update(kw)
    return make_header(**args)


def test_write_read_round_trip_is_compact_and_atomic(tmp_path):
    rng = np.random.default_rng(0)
    tracks = rng.uniform(-10, 60, (2, 3, 4, 2)).astype(np.float32)
    vis = rng.random((2, 3, 4)) > 0.5
    path = cache_path(str(tmp_path), 'a/b')
    assert path == str(tmp_path / 'a' / 'b.npz')
    size = write_track_file(path, _header(), tracks, vis)
    assert os.path.getsize(path) == size
    assert not [f for f in os.listdir(tmp_path / 'a') if f.startswith('.')]
    header, t_all, v_all = read_track_file(path)
    assert header['window_starts'] == [0, 2] and header['frame_size'] == [40,
                                                                          50]
    assert header['version'] == 1 and header['tracker'] == dict(
        type='DISFlowTracker')
    np.testing.assert_allclose(t_all, tracks, atol=0.02)  # float16
    np.testing.assert_array_equal(v_all, vis)
    _, t1, v1 = read_track_file(path, window=1)
    np.testing.assert_array_equal(t1, t_all[1])
    np.testing.assert_array_equal(v1, vis[1])
    with np.load(path) as npz:
        assert npz['tracks'].dtype == np.float16
        assert npz['visibility'].shape == (2, 2)  # 12 bits -> 2 bytes
    # wrong shapes: nothing written
    with pytest.raises(ValueError, match='do not match the header'):
        write_track_file(str(tmp_path / 'x.npz'), _header(), tracks[:1], vis)
    assert not os.path.exists(tmp_path / 'x.npz')
    assert not [f for f in os.listdir(tmp_path) if f.startswith('.tmp_')]


def test_corrupt_and_foreign_files_are_clear_errors(tmp_path):
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'not a zip file')
    with pytest.raises(TrackCacheError, match='bad.npz'):
        read_header(str(bad))
    other = tmp_path / 'other.npz'
    np.savez(other, header=np.array(json.dumps(dict(format='x'))))
    with pytest.raises(TrackCacheError, match='other.npz is not a'):
        read_header(str(other))
    old = tmp_path / 'old.npz'
    np.savez(old, header=np.array(json.dumps(dict(_header(), version=0))))
    with pytest.raises(TrackCacheError, match='version 0'):
        read_header(str(old))
