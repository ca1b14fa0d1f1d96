"""ground_truth_tracks: the exact tracks of arbitrary queries of a
synthetic video (what SyntheticGroundTruthTracker returns); render_scene
draws what render_video draws."""
import numpy as np
import pytest

from mosic_mm.synthetic import ground_truth_tracks, render_scene, render_video


@pytest.mark.parametrize('style', ['default', 'camera', 'crowd'])
def test_ground_truth_tracks_of_the_videos_own_points(style):
    video, scene = render_scene(3, num_frames=10, size=(64, 64),
                                num_points=96, style=style)
    # render_scene draws exactly what render_video draws
    plain = render_video(3, num_frames=10, size=(64, 64), num_points=96,
                         style=style)
    for key in plain:
        np.testing.assert_array_equal(plain[key], video[key])
    # queried in frame 0 or in frame 4 (where visible), a point of the
    # ground truth gets its own track back, with its visibility
    for frame in (0, 4):
        sel = video['visibility'][frame]
        tracks, vis = ground_truth_tracks(video, scene, frame,
                                          video['tracks'][frame, sel])
        np.testing.assert_allclose(tracks, video['tracks'][:, sel], atol=1e-4)
        np.testing.assert_array_equal(vis, video['visibility'][:, sel])
    with pytest.raises(ValueError, match='inside'):
        ground_truth_tracks(video, scene, 0, np.array([[70.0, 3.0]]))
