"""The BootsTAPIR tracker behind the project's tracker interface: the
coordinate conventions both ways, TAPIR's visibility rule, query chunks,
the caller's random state, checkpoint errors, and extraction, training and
tracker scoring with it (random weights)."""
import os.path as osp

import numpy as np
import pytest
import torch

from mosic_mm.structures import grid_queries
from mosic_mm.tracks import build_tracker
from mosic_mm.tracks.tapir import CheckpointMismatchError, build_tapir

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


class _EchoModel(torch.nn.Module):
    """Stands in for TAPIR: the tracks of query n are its query point
    (corner origin, model pixels) plus n in x in every frame; occlusion and
    expected_dist logits as given, [N, T]. Records the video and queries."""

    def __init__(self, occ, dist):
        super().__init__()
        self.occ, self.dist = occ, dist

    def forward(self, video, query_points, query_chunk_size=None):
        self.video, self.queries = video, query_points
        B, N = query_points.shape[:2]
        T = video.shape[1]
        xy = query_points[..., [2, 1]].clone()  # (t, y, x) -> (x, y)
        xy[..., 0] += torch.arange(N, dtype=xy.dtype)
        tracks = xy[:, :, None].expand(B, N, T, 2)
        return dict(tracks=tracks, occlusion=self.occ[None],
                    expected_dist=self.dist[None])


def _echo(occ, dist, **kw):
    tracker = build_tracker(dict(type='BootsTAPIR', random_weights_seed=0,
                                 **kw))
    tracker._model = _EchoModel(occ, dist)
    return tracker


def test_queries_and_tracks_convert_between_the_conventions():
    """96 x 128 frames (non-square) in a 256 x 256 model: a query (t, x, y)
    with pixel centres at integers reaches TAPIR as (t, y, x) with the
    corner origin, scaled per axis; TAPIR's tracks map back exactly, so a
    query returned unmoved is the query again (plus the stub's x offset,
    scaled back by W / w)."""
    frames = np.random.default_rng(0).integers(0, 256, (3, 96, 128, 3),
                                               np.uint8)
    queries = np.array([[0, 0.0, 0.0], [1, 127.0, 95.0], [2, 63.5, 47.5]],
                       np.float32)
    occ = torch.full((3, 3), -10.0)
    tracker = _echo(occ, occ.clone(), pin_query_frame=False)
    tracks, vis = tracker.track(frames, queries)
    sent = tracker.model.queries[0].numpy()
    np.testing.assert_allclose(sent[:, 0], queries[:, 0])
    np.testing.assert_allclose(sent[:, 1], (queries[:, 2] + 0.5) * 256 / 96)
    np.testing.assert_allclose(sent[:, 2], (queries[:, 1] + 0.5) * 256 / 128)
    video = tracker.model.video
    assert video.shape == (1, 3, 256, 256, 3)
    assert video.min() >= -1 and video.max() <= 1
    expected_x = queries[:, 1] + np.arange(3) * 128 / 256
    for t in range(3):
        np.testing.assert_allclose(tracks[t, :, 0], expected_x, atol=1e-5)
        np.testing.assert_allclose(tracks[t, :, 1], queries[:, 2], atol=1e-5)
    assert vis.all()


def test_visibility_is_tapirs_rule_and_the_query_frame_can_be_pinned():
    """visible = (1 - sigmoid(occ)) * (1 - sigmoid(dist)) > 0.5: logits
    (-3, -3) -> 0.907 visible, (-3, 0) -> 0.476 not, (0, -3) -> 0.476 not;
    with ``pin_query_frame`` the query frame is visible and at the query."""
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    queries = np.array([[0, 4, 4], [1, 8, 8], [2, 12, 12]], np.float32)
    occ = torch.tensor([[-3., -3., -3.], [-3., -3., -3.], [0., 0., 0.]])
    dist = torch.tensor([[-3., -3., -3.], [0., 0., 0.], [-3., -3., -3.]])
    _, vis = _echo(occ, dist, pin_query_frame=False,
                   resolution=(32, 32)).track(frames, queries)
    assert vis.T.tolist() == [[True] * 3, [False] * 3, [False] * 3]
    tracks, vis = _echo(occ, dist, resolution=(32, 32)).track(frames,
                                                                queries)
    assert vis.T.tolist() == [[True] * 3, [False, True, False],
                              [False, False, True]]
    np.testing.assert_allclose(tracks[[0, 1, 2], [0, 1, 2]], queries[:, 1:])


def test_real_model_leaves_the_random_state_and_chunks_do_not_matter():
    """The port with random weights, offline and online: the caller's
    torch random state is unchanged by building and running it, and
    queries in chunks of 3 give the tracks of one chunk."""
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 40, 48, 3), np.uint8)
    queries = grid_queries(40, 48, 3)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    for variant in ('bootstapir', 'causal_bootstapir'):
        whole = build_tracker(dict(type='BootsTAPIR', variant=variant,
                                   random_weights_seed=0, resolution=(64, 64),
                                   query_chunk_size=64))
        chunked = build_tracker(dict(type='BootsTAPIR', variant=variant,
                                     random_weights_seed=0,
                                     resolution=(64, 64),
                                     query_chunk_size=3))
        a, va = whole.track(frames, queries)
        b, vb = chunked.track(frames, queries)
        assert a.shape == (3, 9, 2) and np.isfinite(a).all()
        np.testing.assert_allclose(a, b, atol=1e-3)
        assert (va == vb).mean() > 0.95  # near the 0.5 threshold may flip
        np.testing.assert_allclose(a[0], queries[:, 1:])  # pinned frame 0
    assert torch.equal(torch.random.get_rng_state(), state)


def test_missing_and_mismatched_checkpoints_are_errors_naming_them(
        tmp_path):
    missing = tmp_path / 'nope.pt'
    with pytest.raises(FileNotFoundError, match='nope.pt'):
        build_tracker(dict(type='BootsTAPIR', checkpoint=str(missing)))
    with pytest.raises(FileNotFoundError, match='checkpoint=PATH'):
        build_tracker(dict(type='BootsTAPIR'))
    # the plain TAPIR's weights are not BootsTAPIR's
    wrong = tmp_path / 'tapir.pt'
    torch.save(build_tapir('tapir').state_dict(), wrong)
    tracker = build_tracker(dict(type='BootsTAPIR', checkpoint=str(wrong)))
    with pytest.raises(CheckpointMismatchError, match='tapir.pt'):
        tracker.model
    good = tmp_path / 'boots.pt'
    torch.save(build_tapir('bootstapir').state_dict(), good)
    assert build_tracker(dict(type='BootsTAPIR',
                              checkpoint=str(good))).model is not None


def test_half_precision_is_refused_on_the_cpu():
    if torch.cuda.is_available():
        pytest.skip('CUDA available: half precision is allowed')
    with pytest.raises(ValueError, match='CUDA only'):
        build_tracker(dict(type='BootsTAPIR', random_weights_seed=0,
                           dtype='bfloat16'))


@pytest.mark.slow
def test_extraction_fills_a_cache_that_training_reads(
        synthetic_root, tmp_path, tiny_train_overrides):
    """tools/extract_tracks.py's API with BootsTAPIR (random weights) fills
    the cache of the tiny synthetic run; training with LoadTracks on that
    cache (on_missing='error') runs."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mosic_mm.apis import extract_tracks
    tracker = dict(type='BootsTAPIR', random_weights_seed=0,
                   resolution=(64, 64))
    cache = tmp_path / 'cache'
    over = tiny_train_overrides(synthetic_root, 2)
    over.update({'train_dataloader.dataset.pipeline.2.tracker': tracker,
                 'train_dataloader.dataset.pipeline.2.grid_size': 8,
                 'train_dataloader.dataset.pipeline.2.on_missing': 'error',
                 'train_dataloader.dataset.pipeline.2.cache_dir': str(cache)})
    assert extract_tracks(SYNTHETIC_CONFIG, cfg_options=over) == 0
    files = sorted(cache.glob('*.npz'))
    assert len(files) == 4
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.merge_from_dict(over)
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2


@pytest.mark.slow
def test_eval_tracking_scores_it_on_the_synthetic_ground_truth(
        synthetic_root, load_tool, capsys):
    tool = load_tool('eval_tracking.py')
    spec = 'BootsTAPIR:random_weights_seed=0,resolution=(64,64)'
    res = tool.main(['--tracker', spec, '--synthetic', synthetic_root,
                     '--max-videos', '1'])
    out = capsys.readouterr().out
    assert 'AJ' in out and spec in out
    (metrics, ) = [r[spec] for t, r in res.items() if t != 'speed']
    assert {'average_jaccard', 'average_pts_within_thresh',
            'occlusion_accuracy'} <= set(metrics)
    assert 0 <= metrics['average_jaccard'] <= 1


def test_the_ytvos_config_swaps_only_the_tracker():
    from mmengine.config import Config
    ours = Config.fromfile(osp.join(REPO, 'configs',
                                    'mosic_vits_ytvos_bootstapir.py'))
    ref = Config.fromfile(osp.join(REPO, 'configs', 'mosic_vits_ytvos.py'))
    a, b = ours.to_dict(), ref.to_dict()
    pa = a['train_dataloader']['dataset'].pop('pipeline')
    pb = b['train_dataloader']['dataset'].pop('pipeline')
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb):
        if x['type'] == 'LoadTracks':
            assert x['tracker'] == dict(
                type='BootsTAPIR',
                checkpoint='checkpoints/bootstapir_checkpoint_v2.pt')
            assert 'mosic_vits_ytvos_bootstapir.py' in x['extract_cmd']
            x = {k: v for k, v in x.items()
                 if k not in ('tracker', 'extract_cmd')}
            y = {k: v for k, v in y.items()
                 if k not in ('tracker', 'extract_cmd')}
        assert x == y
    for cfg in (a, b):  # the top-level names the pipeline is made from
        cfg.pop('tracker')
        cfg.pop('train_pipeline')
    assert a == b
