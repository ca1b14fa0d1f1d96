"""The input-pipeline benchmark: its modes compute the same clips, its
GPU-demand arithmetic, and the CLI (tools/lab/benchmark_input.py)."""
import os.path as osp

import numpy as np
import pytest

from tools.lab.lib.gpu_demand import cores_needed, data_wait_fraction
from tools.lab.lib.input_data import prepare_data
from tools.lab.lib.input_pipeline import STAGES, build_pipeline, run_modes

HW, SIZE = (72, 128), (32, 32)


def test_gpu_demand_by_hand():
    # 8 clips per 10 ms step = 800 clips/s; 50 clips/s per core -> 16 cores
    assert cores_needed(50.0, 8, 0.010) == pytest.approx(16.0)
    # 16 cores feed exactly: no wait; 8 cores: load 20 ms vs 10 ms -> 50 %
    assert data_wait_fraction(50.0, 16, 8, 0.010) == 0.0
    assert data_wait_fraction(50.0, 8, 8, 0.010) == pytest.approx(0.5)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    root = str(tmp_path_factory.mktemp('ib') / 'jpeg')
    return prepare_data(root, 'jpeg', num_videos=2, num_frames=12,
                        clip_len=3, stride=2, window_step=2, size=SIZE,
                        grid_size=8, hw=HW)


def _run(pipe, info, seed):
    np.random.seed(seed)
    out = dict(info)
    for t in pipe:
        out = t(out)
    return out


def test_modes_compute_the_same_clip(tiny):
    ds, dirs = tiny
    pipes = {m: build_pipeline(m, SIZE, 8, 16, 'DISFlowTracker',
                               dirs['jpeg' if m == 'cache_jpeg' else 'raw'])
             for m in ('reference', 'today', 'reduced', 'cache',
                       'cache_jpeg')}
    info = dict(ds.get_data_info(1), frame_inds=np.array([2, 4, 6]),
                data_root=ds.data_root)
    out = {m: _run(p, info, seed=5) for m, p in pipes.items()}
    ref = out['today']['inputs'].numpy().astype(int)
    for m, o in out.items():  # same crop, flip and tracks in every mode
        np.testing.assert_array_equal(o['data_samples'].tracks,
                                      out['today']['data_samples'].tracks)
    np.testing.assert_array_equal(out['cache']['inputs'].numpy(), ref)
    diff = {m: np.abs(out[m]['inputs'].numpy().astype(int) - ref).mean()
            for m in ('reference', 'reduced', 'cache_jpeg')}
    assert diff['reference'] < 0.1  # PIL vs our PIL-equivalent resize
    assert 0 < diff['reduced'] < 2 and 0 < diff['cache_jpeg'] < 3
    assert pipes['cache'][0].num_cache_misses == 0


def test_video_modes_reduced_equals_today(tmp_path_factory):
    """On video, 'reduced' (PyAV, needed packets only, antialiased resize)
    gives today's frames (decord full decode + ClipResize) exactly; the old
    'reduced_decord' (decord's scaler) does not."""
    pytest.importorskip('av')
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    root = str(tmp_path_factory.mktemp('ibv') / 'video')
    ds, dirs = prepare_data(root, 'video', num_videos=1, num_frames=30,
                            clip_len=3, stride=6, window_step=2, size=SIZE,
                            grid_size=8, hw=HW, encodings=('raw',))
    pipes = {m: build_pipeline(m, SIZE, 8, 16, 'DISFlowTracker', dirs['raw'])
             for m in ('today', 'reduced', 'reduced_decord', 'cache')}
    assert pipes['today'][0].video_backend == 'decord'
    assert pipes['reduced'][0].video_backend == 'auto'
    info = dict(ds.get_data_info(0), frame_inds=np.array([12, 18, 24]),
                data_root=ds.data_root)
    out = {m: _run(p, info, seed=3) for m, p in pipes.items()}
    ref = out['today']['inputs'].numpy()
    np.testing.assert_array_equal(out['reduced']['inputs'].numpy(), ref)
    np.testing.assert_array_equal(out['cache']['inputs'].numpy(), ref)
    assert np.abs(out['reduced_decord']['inputs'].numpy().astype(int)
                  - ref).mean() > 0.1


def test_profile_video_decode_counts_packets(tmp_path_factory):
    pytest.importorskip('av')
    from tools.lab.lib.decode_profile import profile_video_decode
    from tools.lab.lib.input_data import make_dataset
    root = make_dataset(str(tmp_path_factory.mktemp('pv')), 1, 40,
                        kind='video', hw=HW)
    path = osp.join(root, 'videos', 'video000.mp4')
    # mp4v: key frames 0, 12, 24, 36; frames 12, 18, 24, 30 need 12..18
    # and 24..30 (14 packets) of the 19 from key frame 12 to frame 30
    p = profile_video_decode(path, [12, 18, 24, 30], SIZE, repeats=1)
    assert (p['num_needed'], p['num_range']) == (14, 19)
    for k in ('open_demux', 'decode_range', 'decode_needed', 'to_rgb',
              'resize', 'total'):
        assert p[k] > 0, k


def test_decoder_settings_take_effect(tmp_path_factory):
    """The FFmpeg options the settings table measures really reach the
    decoder: skipping H.264's in-loop deblocking changes the pixels (and
    on B-frames only less than on every frame); MPEG-4 part 2 has no loop
    filter (unchanged) but decodes at half size with lowres=1."""
    av = pytest.importorskip('av')
    if 'libx264' not in av.codecs_available:
        pytest.skip('PyAV without libx264')
    from tools.lab.lib.decode_profile import profile_decoder_settings
    from tools.lab.lib.input_data import make_dataset
    d = tmp_path_factory.mktemp('ds')
    h264 = osp.join(make_dataset(str(d / 'h'), 1, 24, kind='video_h264',
                                 hw=HW), 'videos', 'video000.mp4')
    mp4v = osp.join(make_dataset(str(d / 'm'), 1, 24, kind='video',
                                 hw=HW), 'videos', 'video000.mp4')
    clips = [[2, 9, 16, 23]]
    # the settings' 'exact' is the training reader
    from mosic_mm.datasets.sources.video_io import read_video
    from tools.lab.lib.decode_profile import _read_with_settings
    for path in (h264, mp4v):
        np.testing.assert_array_equal(
            _read_with_settings(path, np.array(clips[0]), SIZE, {}, 'exact'),
            read_video(path, clips[0], SIZE, backend='pyav'))
    lf = profile_decoder_settings(
        h264, clips, SIZE, ['skip_loop_filter=bidir', 'skip_loop_filter=all',
                            'swscale_fused', 'swscale_fused_area'],
        repeats=1)
    assert lf['exact']['mae'] == 0 and lf['exact']['x_exact'] == 1
    assert 0 < lf['skip_loop_filter=bidir']['mae'] < \
        lf['skip_loop_filter=all']['mae']
    assert lf['swscale_fused']['mae'] > 0
    assert lf['swscale_fused_area']['mae'] > 0
    for v in lf.values():
        assert v['ms'] > 0 and v['frame_mae'] >= v['mae']
    m = profile_decoder_settings(mp4v, clips, SIZE,
                                 ['skip_loop_filter=all', 'lowres=1'],
                                 repeats=1)
    assert m['skip_loop_filter=all']['mae'] == 0
    assert m['lowres=1']['mae'] > 0
    with pytest.raises(ValueError, match='unknown decoder settings'):
        profile_decoder_settings(mp4v, clips, SIZE, ['skip_idct=all'])


def test_run_modes_times_every_stage(tiny):
    ds, dirs = tiny
    modes = ('today', 'cache')
    pipes = {m: build_pipeline(m, SIZE, 8, 16, 'DISFlowTracker', dirs['raw'])
             for m in modes}
    res = run_modes(ds, modes, pipes, num_clips=4, batch=2)
    for m in modes:
        r = res[m]
        assert r['num_clips'] == 4 and set(r['stages_s']) == set(STAGES)
        assert r['clips_per_s_per_core'] == pytest.approx(1 / r['clip_s'])
        assert all(v >= 0 for v in r['stages_s'].values())
    assert res['today']['stages_s']['decode'] > \
        res['cache']['stages_s']['decode']


def test_cli_writes_every_table(tmp_path, capsys):
    from tools.lab import benchmark_input
    md = tmp_path / 'b.md'
    benchmark_input.main(['--root',
                    str(tmp_path / 'd'), '--kinds', 'jpeg', 'video',
                    '--source-hw', '72', '128', '--videos', '1',
                    '--video-frames', '12', '--frames', '3', '--stride', '2',
                    '--window-step', '2', '--size', '32', '--points', '16',
                    '--grid', '8', '--clips', '2', '--batch', '2',
                    '--gpu-step-ms', '10', '--markdown', str(md)])
    text = md.read_text()
    assert 'Command: `python tools/lab/benchmark_input.py' in text
    from mosic_mm.datasets.sources.video_io import _pyav_available
    for row in ('| reference:', '| today:', '| reduced:', '| cache:',
                '| jpeg | cache | 10 ms step |', '| video | reduced |',
                '| reduced_decord:'):
        assert row in text, row
    # the decode profile and the decoder settings decode with PyAV
    assert ('Where a video clip' in text) == _pyav_available()
    assert ('| video | skip_loop_filter=all |' in text) == _pyav_available()
    assert 'Drift of the loop-filter settings' not in text  # no H.264 kind
    assert text.count('| reference:') == 1  # JPEG folders only
    assert text.count('| reduced_decord:') == 1  # video only


def test_cli_long_gop_drift(tmp_path):
    """--kinds video_h264 adds the decoder-settings table and the drift of
    the loop-filter settings at the start, middle and end of a longer
    one-key-frame video; a video shorter than a clip is refused."""
    av = pytest.importorskip('av')
    if 'libx264' not in av.codecs_available:
        pytest.skip('PyAV without libx264')
    from tools.lab import benchmark_input as input_api
    benchmark_input = input_api
    args = ['--root', str(tmp_path / 'd'), '--kinds', 'video_h264',
            '--source-hw', '72', '128', '--videos', '1', '--video-frames',
            '12', '--frames', '3', '--stride', '2', '--window-step', '2',
            '--size', '32', '--points', '16', '--grid', '8', '--clips', '2',
            '--batch', '2', '--gpu-step-ms', '10', '--settings-clips', '1',
            '--modes', 'today', 'reduced']
    res = input_api.benchmark_input(benchmark_input.parse_args(
        args + ['--long-gop-frames', '15']))
    assert list(res['long_gop']) == ['0-4', '5-9', '10-14']
    for pos in res['long_gop'].values():
        assert pos['exact']['mae'] == 0
        assert pos['skip_loop_filter=all']['mae'] > 0
    text = input_api.format_tables(res)
    assert '| 10-14 | skip_loop_filter=all |' in text
    assert '| video_h264 | swscale_fused |' in text
    with pytest.raises(ValueError, match='shorter than one clip'):
        input_api.benchmark_input(benchmark_input.parse_args(
            args + ['--long-gop-frames', '4']))
