"""StaticTracker, the motion ablation of the mini reproduction: every point
stays where it was queried and stays visible, whatever the frames show."""
import numpy as np

from mosic_mm.structures import grid_queries
from mosic_mm.synthetic import render_video
from mosic_mm.tracks.trackers import (
    DISFlowTracker,
    StaticTracker,
    build_tracker,
)


def _moving_clip():
    return render_video(seed=3, num_frames=6, size=(48, 64))


def test_points_stay_in_place_and_visible():
    video = _moving_clip()
    frames = video['frames']
    T, H, W = frames.shape[:3]
    rng = np.random.default_rng(0)
    grid = grid_queries(H, W, 4)  # frame-0 queries
    later = np.stack([rng.integers(1, T, 7), rng.uniform(-0.5, W - 0.5, 7),
                      rng.uniform(-0.5, H - 0.5, 7)], axis=1)
    queries = np.concatenate([grid, later]).astype(np.float32)
    tracks, vis = build_tracker(dict(type='StaticTracker')).track(
        frames, queries)
    assert tracks.shape == (T, len(queries), 2) and tracks.dtype == np.float32
    assert vis.shape == (T, len(queries)) and vis.dtype == bool
    for t in range(T):
        np.testing.assert_array_equal(tracks[t], queries[:, 1:])
    assert vis.all()


def test_the_clip_does_move_so_static_differs_from_a_real_tracker():
    # guards the point of the control: on this clip a motion tracker moves
    # points, the static one does not
    frames = _moving_clip()['frames']
    q = grid_queries(*frames.shape[1:3], 6)
    moved, _ = DISFlowTracker().track(frames, q)
    still, _ = StaticTracker().track(frames, q)
    assert np.abs(moved[-1] - q[:, 1:]).max() > 1.0
    assert np.abs(still[-1] - q[:, 1:]).max() == 0.0
