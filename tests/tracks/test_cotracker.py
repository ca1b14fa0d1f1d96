"""The CoTracker3 adapter, against a fake ``cotracker`` package injected into
``sys.modules`` (the real one is not on PyPI and has non-commercial
weights)."""
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from mosic_mm.tracks.trackers import (
    CoTracker3,
    build_tracker,
    check_tracker_cfg,
)

WORKING_HW = (384, 512)  # CoTrackerPredictor.interp_shape of CoTracker3


def fake_grid(g, height, width, working_hw=WORKING_HW):
    """The grid co-tracker's predictor tracks for ``grid_size=g`` on a
    (height, width) clip, ``[g*g, 2]`` (x, y) row-major, written from its
    documented formula (``get_points_on_a_grid``): in the working
    resolution (H', W'), with margin m = W'/64 and the centre
    (c_y, c_x) = (H'/2, W'/2),
    ``P_ij = (c_x + m - W'/2 + (W' - 2m)/(g - 1) j,
    c_y + m - H'/2 + (H' - 2m)/(g - 1) i)``, then scaled to the clip by
    ((W-1)/(W'-1), (H-1)/(H'-1)) as the predictor returns its tracks."""
    hp, wp = working_hw
    m = wp / 64
    i, j = torch.meshgrid(torch.arange(g, dtype=torch.float64),
                          torch.arange(g, dtype=torch.float64),
                          indexing='ij')
    x = wp / 2 + m - wp / 2 + (wp - 2 * m) / (g - 1) * j
    y = hp / 2 + m - hp / 2 + (hp - 2 * m) / (g - 1) * i
    pts = torch.stack([x, y], -1).reshape(-1, 2)
    scale = torch.tensor([(width - 1) / (wp - 1), (height - 1) / (hp - 1)],
                         dtype=torch.float64)
    return (pts * scale).float()


class FakePredictor(torch.nn.Module):
    """Records its calls; track n moves by (t, 2t) and is visible where
    ``x + t`` is even. Called with ``grid_size=g`` (and no queries) it
    tracks its own grid from ``grid_query_frame``, as the real predictor
    does: :func:`fake_grid` (``layout='documented'``) or, to stand for a
    predictor whose layout changed, the cell centres (``'cell_centres'``)."""
    inits, calls = [], []
    vis_trailing_dim = False
    layout = 'documented'

    def __init__(self, checkpoint, offline=True, window_len=60):
        super().__init__()
        FakePredictor.inits.append(
            dict(checkpoint=checkpoint, offline=offline,
                 window_len=window_len))
        self.interp_shape = WORKING_HW
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, video, queries=None, **kwargs):
        FakePredictor.calls.append(dict(
            video=video.clone(),
            queries=None if queries is None else queries.clone(),
            kwargs=kwargs))
        b, t = video.shape[:2]
        if queries is None:
            g = kwargs.get('grid_size', 0)
            assert g > 0
            h, w = video.shape[-2:]
            if FakePredictor.layout == 'documented':
                pts = fake_grid(g, h, w)
            else:
                from mosic_mm.structures import grid_queries
                pts = torch.from_numpy(grid_queries(h, w, g)[:, 1:])
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
    FakePredictor.layout = 'documented'
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
    """CoTracker3 is registered always; the adapter, build_tracker and a
    pipeline step that would use it say how to get the package."""
    from mosic_mm.registry import TRACKERS, TRANSFORMS
    monkeypatch.setitem(sys.modules, 'cotracker', None)  # import fails
    monkeypatch.setitem(sys.modules, 'cotracker.predictor', None)
    assert 'CoTracker3' in TRACKERS.module_dict
    with pytest.raises(ImportError) as err:
        CoTracker3(checkpoint=str(tmp_path))
    msg = str(err.value)
    assert 'pip install git+https://github.com/facebookresearch/co-tracker' \
        in msg and 'CC-BY-NC' in msg
    with pytest.raises(ImportError) as err:
        build_tracker(dict(type='CoTracker3'))
    for part in ("'cotracker'", 'pip install git+https://github.com/'
                 'facebookresearch/co-tracker.git', 'CC-BY-NC'):
        assert part in str(err.value)
    with pytest.raises(ImportError, match='cotracker'):
        TRANSFORMS.build(
            dict(type='TrackPoints', tracker=dict(type='CoTracker3')))
    # a misspelt tracker: the registry's list, the optional one included
    with pytest.raises(KeyError, match='cotracker'):
        TRANSFORMS.build(
            dict(type='TrackPoints', tracker=dict(type='CoTrackerV9')))


def test_cotracker_grid_is_the_documented_layout():
    """cotracker_grid equals the predictor's documented formula, and shows
    how far it lies from the cell centres (what the adapter used to report
    as the tracked points): 96x128, g = 8 -> up to 5.8 px (x) and 3.8 px
    (y); the 224 px cache grid of 32 -> 0.49 / 1.66 px."""
    from mosic_mm.structures import grid_queries
    from mosic_mm.tracks.trackers.cotracker import cotracker_grid
    for h, w, g in ((96, 128, 8), (24, 40, 4), (224, 224, 32), (7, 9, 2)):
        q = cotracker_grid(h, w, g)
        assert q.shape == (g * g, 3) and (q[:, 0] == 0).all()
        np.testing.assert_allclose(q[:, 1:], fake_grid(g, h, w), atol=1e-4)
    q = cotracker_grid(96, 128, 8)
    assert q[:, 1].min() == pytest.approx(1.99, abs=0.01)
    assert q[:, 1].max() == pytest.approx(125.26, abs=0.01)
    gap = np.abs(q - grid_queries(96, 128, 8)).max(0)
    assert gap[1:] == pytest.approx([5.76, 3.76], abs=0.01)
    gap = np.abs(cotracker_grid(224, 224, 32) - grid_queries(224, 224, 32))
    assert gap.max(0)[1:] == pytest.approx([0.49, 1.66], abs=0.01)
    # one point: the working resolution's centre, scaled to the clip
    np.testing.assert_allclose(cotracker_grid(96, 128, 1),
                               [[0, 256 * 127 / 511, 192 * 95 / 383]],
                               atol=1e-4)


def _clip(t=3, h=24, w=40):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_grid_mode_tracks_its_own_grid_with_the_reference_call(
        fake_cotracker):
    """query_grid is CoTracker's grid; those queries go to the predictor as
    grid_size=g, grid_query_frame=0 (no explicit queries, hence no support
    grid), in one call, and track k starts at query k."""
    frames = _clip()  # non-square 24x40 frames, 4x4 grid
    tracker = CoTracker3(checkpoint=fake_cotracker, max_points=5,
                         device='cpu')
    assert tracker.query_mode == 'grid'
    queries = tracker.query_grid(24, 40, 4)
    np.testing.assert_allclose(queries[:, 1:], fake_grid(4, 24, 40),
                               atol=1e-4)
    tracks, vis = tracker.track(frames, queries)
    assert len(FakePredictor.calls) == 1
    call = FakePredictor.calls[0]
    assert call['queries'] is None
    assert call['kwargs'] == dict(grid_size=4, grid_query_frame=0)
    np.testing.assert_allclose(tracks[0], queries[:, 1:], atol=1e-4)
    steps = np.arange(3, dtype=np.float32)
    expected = queries[None, :, 1:] + np.stack([steps, 2 * steps],
                                               -1)[:, None]
    np.testing.assert_allclose(tracks, expected, atol=1e-4)
    np.testing.assert_array_equal(
        vis, (np.round(queries[None, :, 1] + steps[:, None]) % 2) == 0)


def test_every_mode_tracks_the_queries_it_was_given(fake_cotracker):
    """track(frames, queries): track k starts at query k, whatever the
    queries (cell centres of grid_queries included, which the predictor's
    grid call would not track) and whatever the mode."""
    from mosic_mm.structures import grid_queries
    frames = _clip()
    cells = grid_queries(24, 40, 4)
    for mode in ('grid', 'queries'):
        tracker = CoTracker3(checkpoint=fake_cotracker, device='cpu',
                             query_mode=mode)
        for q in (cells, tracker.query_grid(24, 40, 4)):
            FakePredictor.calls = []
            tracks, _ = tracker.track(frames, q)
            np.testing.assert_allclose(tracks[0], q[:, 1:], atol=1e-4)
    # 'queries' mode and any query set other than the own grid: explicit
    tracker = CoTracker3(checkpoint=fake_cotracker, device='cpu')
    own = tracker.query_grid(24, 40, 4)
    for other in (cells, own + np.array([0, 0.5, 0], np.float32),
                  np.concatenate([np.ones_like(own[:, :1]), own[:, 1:]], 1),
                  own[:15]):
        tracker.track(frames, other)
        assert FakePredictor.calls[-1]['kwargs'] == {}
        np.testing.assert_array_equal(
            FakePredictor.calls[-1]['queries'][0].numpy(), other)
    FakePredictor.calls = []
    tracker = CoTracker3(checkpoint=fake_cotracker, max_points=10,
                         device='cpu', query_mode='queries')
    np.testing.assert_array_equal(tracker.query_grid(24, 40, 4), cells)
    tracker.track(frames, cells)
    assert [c['kwargs'] for c in FakePredictor.calls] == [{}, {}]
    with pytest.raises(ValueError, match='query_mode'):
        CoTracker3(checkpoint=fake_cotracker, query_mode='support')


def test_a_predictor_grid_that_moved_is_an_error(fake_cotracker):
    """If the predictor's grid call tracks other points than
    cotracker_grid (its layout changed), the adapter says so instead of
    reporting them as the queries."""
    FakePredictor.layout = 'cell_centres'
    tracker = CoTracker3(checkpoint=fake_cotracker, device='cpu')
    with pytest.raises(RuntimeError, match='px from the queries'):
        tracker.track(_clip(), tracker.query_grid(24, 40, 4))


def test_track_grid_through_the_adapter_uses_the_grid_call(fake_cotracker):
    """The cache's entry point (track_grid) asks for the tracker's own grid
    and reaches the reference call; frame 0 holds those points."""
    from mosic_mm.tracks.transforms import track_grid
    frames = _clip()
    tracker = CoTracker3(checkpoint=fake_cotracker, device='cpu')
    tracks, vis = track_grid(tracker, frames, 3)
    assert FakePredictor.calls[-1]['kwargs'] == dict(grid_size=3,
                                                     grid_query_frame=0)
    assert tracks.shape == (3, 9, 2) and vis[0].all()
    np.testing.assert_allclose(tracks[0], fake_grid(3, 24, 40), atol=1e-4)


def test_real_cotracker_grid_mode_keeps_the_contract(tmp_path):
    """With the real co-tracker package (random weights; skipped where it is
    not installed): the grid call tracks exactly query_grid's points."""
    predictor = pytest.importorskip('cotracker.predictor')
    ckpt = tmp_path / 'unused.pth'
    ckpt.write_bytes(b'')
    tracker = CoTracker3(checkpoint=str(ckpt), device='cpu')
    torch.manual_seed(0)
    tracker._model = predictor.CoTrackerPredictor(checkpoint=None).eval()
    frames = np.random.default_rng(0).integers(0, 256, (4, 96, 128, 3),
                                               dtype=np.uint8)
    queries = tracker.query_grid(96, 128, 8)
    tracks, vis = tracker.track(frames, queries)
    np.testing.assert_allclose(tracks[0], queries[:, 1:], atol=1e-3)
    assert vis[0].all()
