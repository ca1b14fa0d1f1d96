"""Drawing functions, the tensorboard hook and tools/visualize.py."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mosic_mm.visualization import (
    cluster_palette,
    colorize_clusters,
    draw_tracks,
    pca_rgb,
    tile,
)


def test_pca_rgb_separates_what_differs_and_is_joint_over_frames():
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 0.01, (2, 4, 4, 16))
    feats[:, :, :2, 0] += 5.0  # left half differs along one direction
    rgb = pca_rgb(feats)
    assert rgb.shape == (2, 4, 4, 3) and rgb.dtype == np.uint8
    left, right = rgb[:, :, :2, 0].astype(int), rgb[:, :, 2:, 0].astype(int)
    assert abs(left.mean() - right.mean()) > 200
    # one PCA for both frames: same feature -> same colour in both frames
    np.testing.assert_allclose(rgb[0, :, :2, 0].mean(),
                               rgb[1, :, :2, 0].mean(), atol=3)


def test_draw_tracks_at_x_column_y_row_and_hides_invisible():
    frames = np.zeros((2, 20, 30, 3), np.uint8)
    tracks = np.array([[[25.0, 3.0]], [[4.0, 15.0]]], np.float32)
    vis = np.array([[True], [False]])
    out = draw_tracks(frames, tracks, vis, np.array([[255, 0, 0]], np.uint8),
                      trail=0)
    assert out.shape == (2, 20, 30, 3)
    assert out[0, 3, 25, 0] > 200 and out[0, 15, 4].max() == 0  # x = col
    assert out[1].max() == 0  # invisible: nothing drawn
    big = draw_tracks(frames, tracks, ~vis, scale=2, trail=0)
    assert big.shape == (2, 40, 60, 3) and big[1, 31, 9].max() > 0


def test_palette_clusters_and_tile():
    pal = cluster_palette(32)
    assert len({tuple(c) for c in pal}) == 32
    ids = np.array([[0, 31], [5, 5]])
    np.testing.assert_array_equal(colorize_clusters(ids, 32)[1, 0], pal[5])
    with pytest.raises(ValueError, match=r'\[0, 8\)'):
        colorize_clusters(ids, 8)
    grid = tile([np.zeros((4, 5, 3), np.uint8)] * 3, ncols=2, pad=1)
    assert grid.shape == (2 * 5 + 1, 2 * 6 + 1, 3)


@pytest.fixture
def make_runner(synthetic_config, tiny_train_overrides):
    """``make_runner(work_dir, data_root, max_iters) -> (runner, cfg)``: a
    tiny run whose visualisation hook draws every 2 iterations."""
    def make(tmp_path, data_root, max_iters):
        from mmengine.config import Config
        from mmengine.runner import Runner
        cfg = Config.fromfile(synthetic_config)
        cfg.merge_from_dict(tiny_train_overrides(data_root, max_iters))
        cfg.work_dir = str(tmp_path)
        for h in cfg.custom_hooks:
            if h['type'] == 'MoSiCVisualizationHook':
                h['interval'] = 2
        return Runner.from_cfg(cfg), cfg
    return make


def test_runners_built_in_one_second_keep_their_own_visualizer(
        tmp_path, synthetic_root, monkeypatch, make_runner):
    # mmengine names the logger and visualizer instances after
    # experiment_name, by default config name + time in seconds: two Runners
    # of one second shared them (a flaky test; the bench's probes too)
    import time

    import mmengine.runner.runner as runner_module
    now = time.localtime()
    monkeypatch.setattr(runner_module.time, 'localtime', lambda *a: now)
    a, _ = make_runner(tmp_path / 'a', synthetic_root, 2)
    b, _ = make_runner(tmp_path / 'b', synthetic_root, 2)
    assert a.timestamp == b.timestamp
    assert a.visualizer is not b.visualizer
    assert a.logger is not b.logger
    assert b.visualizer._vis_backends, 'no backend to check'
    for backend in b.visualizer._vis_backends.values():
        assert osp.realpath(backend._save_dir).startswith(
            osp.realpath(str(tmp_path / 'b')))


def test_hook_writes_pictures_during_training(tmp_path, synthetic_root,
                                              make_runner):
    runner, _ = make_runner(tmp_path, synthetic_root, 2)
    runner.train()
    images = glob.glob(osp.join(runner.log_dir, 'vis_data', 'vis_image',
                                '*.png'))
    assert sorted(osp.basename(p) for p in images) == [
        'train_clusters_2.png', 'train_pca_features_2.png',
        'train_tracks_2.png']
    img = np.asarray(Image.open(images[0]))
    assert img.ndim == 3 and img.shape[1] > img.shape[0] and img.std() > 5
    assert glob.glob(osp.join(runner.log_dir, 'vis_data', 'events.out.*'))


def test_visualize_tool_writes_pngs_and_gif(tmp_path, synthetic_root,
                                            make_runner, load_tool):
    runner, cfg = make_runner(tmp_path / 'w', synthetic_root, 1)
    runner.train()
    cfg_path = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_path))
    tool = load_tool('visualize.py')
    video = osp.join(synthetic_root, 'JPEGImages', 'train_0000')
    out = tmp_path / 'vis out'
    written = tool.main(['--config', str(cfg_path), '--checkpoint',
                         str(tmp_path / 'w' / 'iter_1.pth'), '--video', video,
                         '--out', str(out), '--num-frames', '4',
                         '--grid-size', '6'])
    assert sorted(osp.basename(p) for p in written) == [
        'clusters.png', 'frames.png', 'pca_features.png', 'tracks.png',
        'tracks_clusters.gif']
    gif = Image.open(out / 'tracks_clusters.gif')
    assert gif.n_frames == 4
    tracks = np.asarray(Image.open(out / 'tracks.png'))
    frames = np.asarray(Image.open(out / 'frames.png'))
    assert tracks.shape == frames.shape and (tracks != frames).any()

    with pytest.raises(RuntimeError, match='size mismatch|shape'):
        torch.save(dict(state_dict={'backbone.cls_token': torch.zeros(
            1, 1, 7)}), tmp_path / 'bad.pth')
        tool.main(['--config', str(cfg_path), '--checkpoint',
                   str(tmp_path / 'bad.pth'), '--video', video, '--out',
                   str(out)])
