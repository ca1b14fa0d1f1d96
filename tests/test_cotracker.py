"""The CoTracker3 adapter, against a fake ``cotracker`` package injected into
``sys.modules`` (the real one is not on PyPI and has non-commercial
weights)."""
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from mosic_mm.trackers import CoTracker3, build_tracker, check_tracker_cfg


def fake_grid(g, height, width):
    """The fake predictor's own g x g grid ``[g*g, 2]`` (x, y), row-major:
    CoTracker's layout (a margin of width/64, evenly spaced), not
    ``grid_queries``' cell centres."""
    m = width / 64
    ys = torch.linspace(m, height - 1 - m, g)
    xs = torch.linspace(m, width - 1 - m, g)
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([xx, yy], -1).reshape(-1, 2)


class FakePredictor(torch.nn.Module):
    """Records its calls; track n moves by (t, 2t) and is visible where
    ``x + t`` is even. Called with ``grid_size=g`` (and no queries) it
    tracks its own grid (:func:`fake_grid`) from ``grid_query_frame``, as
    the real predictor does."""
    inits, calls = [], []
    vis_trailing_dim = False

    def __init__(self, checkpoint, offline=True, window_len=60):
        super().__init__()
        FakePredictor.inits.append(
            dict(checkpoint=checkpoint, offline=offline,
                 window_len=window_len))
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, video, queries=None, **kwargs):
        FakePredictor.calls.append(dict(
            video=video.clone(),
            queries=None if queries is None else queries.clone(),
            kwargs=kwargs))
        b, t = video.shape[:2]
        if queries is None:
            assert kwargs.get('grid_size', 0) > 0
            pts = fake_grid(kwargs['grid_size'], *video.shape[-2:])
            frame = torch.full_like(pts[:, :1],
                                    kwargs.get('grid_query_frame', 0))
            queries = torch.cat([frame, pts], 1)[None].repeat(b, 1, 1)
        steps = torch.arange(t, dtype=torch.float32)
        offset = torch.stack([steps, 2 * steps], -1)  # [T, 2]
        tracks = queries[:, None, :, 1:] + offset[None, :, None]
        vis = ((queries[:, None, :, 1] + steps[None, :, None]).round() % 2
               == 0)
        if FakePredictor.vis_trailing_dim:
            vis = vis[..., None]
        return tracks, vis


@pytest.fixture
def fake_cotracker(monkeypatch, tmp_path):
    pkg = types.ModuleType('cotracker')
    mod = types.ModuleType('cotracker.predictor')
    mod.CoTrackerPredictor = FakePredictor
    pkg.predictor = mod
    monkeypatch.setitem(sys.modules, 'cotracker', pkg)
    monkeypatch.setitem(sys.modules, 'cotracker.predictor', mod)
    FakePredictor.inits, FakePredictor.calls = [], []
    FakePredictor.vis_trailing_dim = False
    ckpt = tmp_path / 'scaled_offline.pth'
    ckpt.write_bytes(b'weights')
    return str(ckpt)


@pytest.mark.parametrize('trailing', [False, True])
def test_adapter_converts_inputs_and_outputs(fake_cotracker, trailing):
    FakePredictor.vis_trailing_dim = trailing
    tracker = build_tracker(dict(type='CoTracker3', checkpoint=fake_cotracker,
                                 max_points=3, device='cpu'))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 10, 12, 3), dtype=np.uint8)
    queries = np.array([[0, 1, 2], [0, 2, 3], [0, 3.5, 4], [0, 5, 6],
                        [0, 7, 1]], np.float32)
    tracks, vis = tracker.track(frames, queries)
    assert FakePredictor.inits == [dict(checkpoint=fake_cotracker,
                                        offline=True, window_len=60)]
    # chunks of 3 points, one clip per call
    assert [c['queries'].shape for c in FakePredictor.calls] == [
        (1, 3, 3), (1, 2, 3)]
    video = FakePredictor.calls[0]['video']
    assert video.shape == (1, 4, 3, 10, 12) and video.dtype == torch.float32
    np.testing.assert_array_equal(video[0].permute(0, 2, 3, 1).numpy(),
                                  frames.astype(np.float32))  # 0..255, RGB
    np.testing.assert_array_equal(
        torch.cat([c['queries'][0] for c in FakePredictor.calls]).numpy(),
        queries)  # (t, x, y) unchanged
    steps = np.arange(4, dtype=np.float32)
    expected = queries[None, :, 1:] + np.stack([steps, 2 * steps],
                                               -1)[:, None]
    assert tracks.shape == (4, 5, 2) and tracks.dtype == np.float32
    np.testing.assert_allclose(tracks, expected)
    assert vis.shape == (4, 5) and vis.dtype == bool
    np.testing.assert_array_equal(
        vis, (np.round(queries[None, :, 1] + steps[:, None]) % 2) == 0)
    # the model is built once, and dropped when pickled for workers
    tracker.track(frames, queries)
    assert len(FakePredictor.inits) == 1
    assert pickle.loads(pickle.dumps(tracker))._model is None


def test_online_model_and_window(fake_cotracker):
    tracker = CoTracker3(checkpoint=fake_cotracker, offline=False)
    assert tracker.window_len == 16
    tracker.track(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((1, 3),
                                                             np.float32))
    assert FakePredictor.inits[-1]['offline'] is False


def test_missing_checkpoint_says_where_to_get_it(fake_cotracker, tmp_path):
    for cfg in (dict(type='CoTracker3'),
                dict(type='CoTracker3', checkpoint=str(tmp_path / 'no.pth'))):
        with pytest.raises(FileNotFoundError) as err:
            check_tracker_cfg(cfg)
        msg = str(err.value)
        assert 'huggingface.co/facebook/cotracker3' in msg
        assert 'scaled_offline.pth' in msg and '--checkpoint' in msg


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'cotracker', None)  # import fails
    monkeypatch.setitem(sys.modules, 'cotracker.predictor', None)
    with pytest.raises(ImportError) as err:
        CoTracker3(checkpoint=str(tmp_path))
    msg = str(err.value)
    assert 'pip install git+https://github.com/facebookresearch/co-tracker' \
        in msg and 'CC-BY-NC' in msg


def _grid_case(g=4, t=3, h=24, w=40):
    from mosic_mm.trackers import grid_queries
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    return frames, grid_queries(h, w, g, t=0)


def test_regular_grid_is_tracked_with_the_reference_call(fake_cotracker):
    """The frame-0 grid goes to the predictor as grid_size=g,
    grid_query_frame=0 (no explicit queries, hence no support grid), in one
    call, and the tracks come back in the grid's row-major order."""
    frames, queries = _grid_case()  # non-square 24x40 frames, 4x4 grid
    tracker = CoTracker3(checkpoint=fake_cotracker, max_points=5,
                         device='cpu')
    assert tracker.query_mode == 'grid'
    tracks, vis = tracker.track(frames, queries)
    assert len(FakePredictor.calls) == 1
    call = FakePredictor.calls[0]
    assert call['queries'] is None
    assert call['kwargs'] == dict(grid_size=4, grid_query_frame=0)
    steps = np.arange(3, dtype=np.float32)
    pts = fake_grid(4, 24, 40).numpy()
    expected = pts[None] + np.stack([steps, 2 * steps], -1)[:, None]
    np.testing.assert_allclose(tracks, expected, atol=1e-5)
    np.testing.assert_array_equal(
        vis, (np.round(pts[None, :, 0] + steps[:, None]) % 2) == 0)
    # point k is the tracker's grid point nearest to query k: same order,
    # within half a cell (the predictor's grid has its own margin)
    d = np.linalg.norm(tracks[0][:, None] - queries[None, :, 1:], axis=-1)
    np.testing.assert_array_equal(d.argmin(0), np.arange(16))
    assert (np.abs(tracks[0] - queries[:, 1:]) <= [40 / 8, 24 / 8]).all()


def test_query_mode_queries_and_irregular_queries_pass_queries(
        fake_cotracker):
    frames, queries = _grid_case()
    # explicit mode: the grid goes as queries, chunked by max_points
    tracker = CoTracker3(checkpoint=fake_cotracker, max_points=10,
                         device='cpu', query_mode='queries')
    tracks, _ = tracker.track(frames, queries)
    assert [c['kwargs'] for c in FakePredictor.calls] == [{}, {}]
    np.testing.assert_array_equal(
        torch.cat([c['queries'][0] for c in FakePredictor.calls]).numpy(),
        queries)
    np.testing.assert_allclose(tracks[0], queries[:, 1:])
    # grid mode with a grid that is not the frame-0 grid: explicit queries
    FakePredictor.calls = []
    tracker = CoTracker3(checkpoint=fake_cotracker, device='cpu')
    for other in (queries + np.array([0, 0.5, 0], np.float32),  # shifted
                  np.concatenate([np.ones_like(queries[:, :1]),
                                  queries[:, 1:]], 1),  # frame 1
                  queries[:15]):  # not a square count
        tracker.track(frames, other)
        assert FakePredictor.calls[-1]['kwargs'] == {}
        np.testing.assert_array_equal(
            FakePredictor.calls[-1]['queries'][0].numpy(), other)
    with pytest.raises(ValueError, match='query_mode'):
        CoTracker3(checkpoint=fake_cotracker, query_mode='support')


def test_track_grid_through_the_adapter_uses_the_grid_call(fake_cotracker):
    """The cache's entry point (track_grid) reaches the reference call."""
    from mosic_mm.datasets.transforms.tracking import track_grid
    frames, _ = _grid_case(g=3)
    tracker = CoTracker3(checkpoint=fake_cotracker, device='cpu')
    tracks, vis = track_grid(tracker, frames, 3)
    assert FakePredictor.calls[-1]['kwargs'] == dict(grid_size=3,
                                                     grid_query_frame=0)
    assert tracks.shape == (3, 9, 2) and vis[0].all()
