"""LoadTracks returns the cached window of the sampled clip and refuses a
clip whose frames are not that window (hand-made cache file)."""
import numpy as np
import pytest

from mosic_mm.datasets.track_cache import (cache_path, make_header,
                                           write_track_file)
from mosic_mm.datasets.transforms.tracking import LoadTracks


@pytest.fixture
def cache(tmp_path):
    """One video of 12 frames, T=3, stride 2, windows at 0, 2, 4, 6 with a
    2x2 grid; window s holds tracks equal to 10 * s + frame + point / 4."""
    starts = [0, 2, 4, 6]
    t, n = 3, 4
    tracks = (10 * np.arange(4)[:, None, None, None]
              + np.arange(t)[None, :, None, None]
              + np.arange(n)[None, None, :, None] / 4
              + np.zeros((1, 1, 1, 2))).astype(np.float32)
    vis = np.ones((4, t, n), bool)
    vis[:, 1:, 0] = False
    header = make_header('vid', dict(type='DISFlowTracker'), 2, t, 2, 2, 2,
                         12, (8, 10), starts)
    write_track_file(cache_path(str(tmp_path), 'vid'), header, tracks, vis)
    return str(tmp_path), tracks, vis


def _results(inds):
    return dict(video_id='vid', frame_inds=np.asarray(inds), total_frames=12,
                imgs=np.zeros((len(inds), 8, 10, 3), np.uint8))


def test_each_clip_gets_its_own_window(cache):
    cache_dir, tracks, vis = cache
    load = LoadTracks(cache_dir=cache_dir, grid_size=2)
    for s, start in enumerate([0, 2, 4, 6]):
        out = load(_results(start + 2 * np.arange(3)))
        np.testing.assert_array_equal(out['tracks'], tracks[s])
        np.testing.assert_array_equal(out['visibility'], vis[s])


def test_frames_that_are_not_the_cached_window_are_refused(cache):
    cache_dir = cache[0]
    load = LoadTracks(cache_dir=cache_dir, grid_size=2)
    # right start and first step, but not evenly spaced: not window 1
    with pytest.raises(ValueError, match='evenly spaced'):
        load(_results([2, 4, 7]))
