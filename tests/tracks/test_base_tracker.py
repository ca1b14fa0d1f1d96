"""The tracker interface every tracker shares (BaseTracker.track: the same
checks of frames, queries and outputs) and build_tracker (the registry and
a typo listing what exists; the optional CoTracker3 without its package:
test_cotracker.py)."""
import pickle

import numpy as np
import pytest

from mosic_mm.registry import TRACKERS
from mosic_mm.structures import grid_queries
from mosic_mm.tracks.trackers import (
    BaseTracker,
    DISFlowTracker,
    StaticTracker,
    build_tracker,
)


@pytest.mark.parametrize('make', [DISFlowTracker, StaticTracker],
                         ids=['DISFlowTracker', 'StaticTracker'])
def test_every_tracker_rejects_bad_inputs_alike(make):
    tracker = make()
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    q = grid_queries(32, 32, 2)
    with pytest.raises(TypeError, match='uint8'):
        tracker.track(frames.astype(np.float32), q)
    with pytest.raises(TypeError, match='numpy array'):
        tracker.track(list(frames), q)
    with pytest.raises(ValueError, match=r'\[T, H, W, 3\]'):
        tracker.track(frames[..., 0], q)
    with pytest.raises(ValueError, match='non-empty'):
        tracker.track(frames[:0], q)
    with pytest.raises(TypeError, match=r'\[N, 3\]'):
        tracker.track(frames, list(q))
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        tracker.track(frames, q[:, 1:])
    with pytest.raises(TypeError, match='dtype'):
        tracker.track(frames, q > 0)
    with pytest.raises(ValueError, match='out of range'):
        tracker.track(frames, np.float32([[4, 1, 1]]))
    with pytest.raises(ValueError, match='out of range'):
        tracker.track(frames, np.float32([[-1, 1, 1]]))
    with pytest.raises(ValueError, match='whole numbers'):
        tracker.track(frames, np.float32([[0.5, 1, 1]]))
    with pytest.raises(ValueError, match='finite'):
        tracker.track(frames, np.float32([[0, np.nan, 1]]))
    # integer queries are fine; no queries give empty outputs
    tracks, vis = tracker.track(frames, np.array([[0, 3, 4]]))
    assert tracks.dtype == np.float32 and tracks.shape == (4, 1, 2)
    assert vis.dtype == bool and vis.shape == (4, 1)
    tracks, vis = tracker.track(frames, np.zeros((0, 3), np.float32))
    assert tracks.shape == (4, 0, 2) and vis.shape == (4, 0)
    # frames smaller than DIS's patch size work
    tiny = np.full((2, 6, 5, 3), 9, np.uint8)
    tracks, vis = tracker.track(tiny, np.float32([[0, 2, 2]]))
    assert tracks.shape == (2, 1, 2) and vis[0, 0]


def test_subclass_outputs_of_the_wrong_shape_are_an_error():

    class Broken(BaseTracker):

        def _track(self, frames, queries):
            return np.zeros((1, 1, 2)), np.zeros((1, 1), bool)

    class BadVisibility(BaseTracker):

        def _track(self, frames, queries):
            t, n = frames.shape[0], len(queries)
            return np.zeros((t, n, 2)), np.zeros((t, n + 1), bool)

    with pytest.raises(TypeError):
        BaseTracker()
    frames, q = np.zeros((3, 8, 8, 3), np.uint8), np.float32([[0, 1, 1]])
    with pytest.raises(RuntimeError, match='Broken._track returned tracks '
                       r'of shape \(1, 1, 2\), expected \(3, 1, 2\)'):
        Broken().track(frames, q)
    with pytest.raises(RuntimeError, match='visibility of shape'):
        BadVisibility().track(frames, q)
    # the default grid and clip binding of a tracker that sees only pixels
    tracker = Broken()
    np.testing.assert_array_equal(tracker.query_grid(8, 16, 2),
                                  grid_queries(8, 16, 2))
    assert tracker.for_clip(dict(video_id='v')) is tracker


def test_build_tracker_from_the_registry_and_a_typo_lists_them():
    cfg = dict(type='DISFlowTracker', preset='fast', max_side=128)
    tracker = build_tracker(cfg)
    assert isinstance(tracker, DISFlowTracker)
    assert tracker.preset == 'fast' and tracker.max_side == 128
    assert build_tracker(tracker) is tracker  # a built one as it is
    assert 'DISFlowTracker' in TRACKERS.module_dict
    assert pickle.loads(pickle.dumps(tracker)).max_side == 128
    with pytest.raises(ValueError, match='preset'):
        DISFlowTracker(preset='slow')
    with pytest.raises(TypeError, match="'type' key"):
        build_tracker(dict(preset='fast'))
    with pytest.raises(KeyError) as err:  # a typo lists what exists
        build_tracker(dict(type='CoTracker'))
    msg = err.value.args[0]
    for part in ("'CoTracker'", 'DISFlowTracker', 'StaticTracker',
                 'CoTracker3', "'cotracker'",
                 'https://github.com/facebookresearch/co-tracker',
                 'CC-BY-NC'):
        assert part in msg


def test_every_name_mosic_mm_tracks_exports_is_there():
    """``from mosic_mm.tracks import *`` works and gives the trackers of
    ``mosic_mm.tracks.trackers`` themselves."""
    import mosic_mm.tracks as tracks
    from mosic_mm.tracks import trackers
    missing = [n for n in tracks.__all__ if not hasattr(tracks, n)]
    assert not missing
    namespace = {}
    exec('from mosic_mm.tracks import *', namespace)
    assert set(tracks.__all__) <= set(namespace)
    for name in set(tracks.__all__) & set(trackers.__all__):
        assert getattr(tracks, name) is getattr(trackers, name), name
    assert {'BaseTracker', 'DISFlowTracker', 'StaticTracker', 'CoTracker3',
            'SyntheticGroundTruthTracker', 'build_tracker',
            'check_tracker_cfg'} <= set(tracks.__all__)
