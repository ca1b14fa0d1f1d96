"""TrackPoints (and track_grid behind it): a query grid on frame 0 tracked
through the clip on the fly, frame 0 visible, the tracker built lazily and
left out when the step is pickled for dataloader workers."""
import pickle

import cv2
import numpy as np
import pytest

from mosic_mm.registry import TRACKERS, TRANSFORMS
from mosic_mm.structures import grid_queries
from mosic_mm.tracks.trackers import BaseTracker
from mosic_mm.tracks.transforms import TrackPoints, track_grid


def _moving_clip(h=40, w=56, t=5, seed=9):
    """uint8 [T, h, w, 3]: a smooth random texture moving 1 px right and
    down per frame."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + 20, w + 20, 3)),
                           (0, 0), 2.0)
    big = (big - big.min()) / np.ptp(big) * 255
    return np.stack([big[10 - i:10 - i + h, 10 - i:10 - i + w]
                     for i in range(t)]).astype(np.uint8)


class _InvisibleTracker(BaseTracker):
    """Reports every point invisible in every frame."""

    def _track(self, frames, queries):
        t, n = frames.shape[0], len(queries)
        return (np.broadcast_to(queries[:, 1:], (t, n, 2)),
                np.zeros((t, n), bool))


@pytest.fixture
def invisible_tracker():
    """``_InvisibleTracker`` registered in TRACKERS for the test only."""
    name = '_InvisibleTracker'
    TRACKERS.register_module(name=name, module=_InvisibleTracker,
                             force=True)
    yield name
    TRACKERS._module_dict.pop(name, None)


def test_the_grid_is_tracked_through_the_clip(invisible_tracker):
    frames = _moving_clip()
    transform = TRANSFORMS.build(dict(type='TrackPoints', grid_size=4))
    assert isinstance(transform, TrackPoints)
    assert repr(transform) == (
        "TrackPoints(tracker={'type': 'DISFlowTracker'}, grid_size=4)")
    results = transform(dict(imgs=frames, img_shape=(40, 56)))
    tracks, vis = results['tracks'], results['visibility']
    assert tracks.dtype == np.float32 and tracks.shape == (5, 16, 2)
    assert vis.dtype == bool and vis.shape == (5, 16)
    np.testing.assert_allclose(tracks[0], grid_queries(40, 56, 4)[:, 1:])
    assert vis[0].all()
    assert results['imgs'] is frames
    # the texture moves by (1, 1) per frame: so do the visible points
    moved = tracks[-1] - tracks[0]
    np.testing.assert_allclose(np.median(moved[vis[-1]], 0), [4, 4],
                               atol=0.5)
    # picklable for dataloader workers, without the built tracker
    clone = pickle.loads(pickle.dumps(transform))
    assert clone._tracker is None
    np.testing.assert_array_equal(clone(dict(imgs=frames))['tracks'], tracks)
    # track_grid is the one definition both the step and the cache use
    t2, v2 = track_grid(transform.tracker, frames, 4)
    np.testing.assert_array_equal(t2, tracks)
    np.testing.assert_array_equal(v2, vis)

    forced = TrackPoints(tracker=dict(type=invisible_tracker), grid_size=2)
    vis = forced(dict(imgs=frames))['visibility']
    assert vis[0].all() and not vis[1:].any()  # frame 0 forced visible


def test_bad_settings_and_inputs_are_errors_naming_them():
    with pytest.raises(KeyError, match='Registered trackers'):
        TrackPoints(tracker=dict(type='NoSuchTracker'))
    with pytest.raises(TypeError, match="'type' key"):
        TrackPoints(tracker='DISFlowTracker')
    with pytest.raises(ValueError, match='grid_size'):
        TrackPoints(grid_size=0)
    with pytest.raises(ValueError, match=r"TrackPoints: results\['imgs'\]"):
        TrackPoints(grid_size=2)(dict(imgs=np.zeros((4, 4, 3), np.uint8)))
