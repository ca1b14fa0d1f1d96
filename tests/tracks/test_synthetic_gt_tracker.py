"""SyntheticGroundTruthTracker, the oracle tracker of the synthetic videos:
bound to a clip (video and frames) it returns the ground truth of any
queries (the exact tracks behind it: tests/synthetic)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mosic_mm.synthetic import (
    write_dataset,
)
from mosic_mm.tracks.trackers import build_tracker
from mosic_mm.tracks.transforms import TrackPoints


@pytest.fixture(scope='module')
def crowd_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('crowd'))
    write_dataset(root, num_train=2, num_val=0, num_frames=10, size=(64, 64),
                  num_points=96, style='crowd', progress=False)
    return root


def _clip(root, video_id, frame_inds, size=None):
    imgs = np.stack([cv2.imread(osp.join(root, 'JPEGImages', video_id,
                                         f'{i:05d}.jpg'))[..., ::-1]
                     for i in frame_inds])
    if size is not None:
        imgs = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA)
                         for f in imgs])
    return dict(data_root=root, video_id=video_id, imgs=imgs,
                frame_inds=np.asarray(frame_inds))


@pytest.mark.parametrize('size', [None, (128, 96)])
def test_tracker_returns_the_ground_truth_of_the_clip(crowd_root, size):
    meta = json.load(open(osp.join(crowd_root, 'meta.json')))
    gt = np.load(osp.join(crowd_root, 'Tracks', 'train_0001.npz'))
    inds = [2, 4, 6, 8]
    results = _clip(crowd_root, 'train_0001', inds, size)
    tracker = build_tracker(dict(type='SyntheticGroundTruthTracker'))
    # the ground-truth points visible in the clip's first frame, as queries
    sel = gt['visibility'][inds[0]]
    scale = np.array([1.0, 1.0]) if size is None else np.array(size) / 64
    xy = (gt['tracks'][inds[0], sel] + 0.5) * scale - 0.5
    queries = np.concatenate([np.zeros((len(xy), 1)), xy], 1)
    tracks, vis = tracker.for_clip(results).track(results['imgs'], queries)
    want = (gt['tracks'][inds][:, sel] + 0.5) * scale - 0.5
    np.testing.assert_allclose(tracks, want, atol=1e-3 * scale.max())
    np.testing.assert_array_equal(vis, gt['visibility'][inds][:, sel])
    assert meta['params']['style'] == 'crowd'


def test_track_points_binds_the_clip(crowd_root):
    results = _clip(crowd_root, 'train_0000', [0, 3, 6, 9])
    out = TrackPoints(tracker=dict(type='SyntheticGroundTruthTracker'),
                      grid_size=4).transform(dict(results))
    assert out['tracks'].shape == (4, 16, 2) and out['visibility'][0].all()
    # the objects move: an exact tracker does not stay put (DIS drifts,
    # a static tracker stays)
    assert np.abs(out['tracks'][-1] - out['tracks'][0]).max() > 5


def test_unbound_or_unknown_video_is_a_clear_error(crowd_root, tmp_path):
    tracker = build_tracker(dict(type='SyntheticGroundTruthTracker'))
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    queries = np.array([[0, 5.0, 5.0]], np.float32)
    with pytest.raises(RuntimeError, match='for_clip'):
        tracker.track(frames, queries)
    with pytest.raises(ValueError, match='meta.json'):
        tracker.for_clip(dict(data_root=str(tmp_path), video_id='v',
                              frame_inds=[0, 1]))
    with pytest.raises(ValueError, match='nope'):
        tracker.for_clip(dict(data_root=crowd_root, video_id='nope',
                              frame_inds=[0, 1]))
    with pytest.raises(KeyError, match='video_id'):
        tracker.for_clip(dict(data_root=crowd_root, frame_inds=[0, 1]))
