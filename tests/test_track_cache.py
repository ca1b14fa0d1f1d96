"""Track cache file format, window starts, LoadTracks, and the same loss from
cached and on-the-fly tracks."""
import copy
import json
import logging
import os

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

import mosic_mm  # noqa: F401
from conftest import tiny_model_cfg
from mosic_mm.apis import extract_tracks
from mosic_mm.datasets.track_cache import (TrackCacheError, cache_path,
                                           make_header, read_header,
                                           read_track_file, write_track_file)
from mosic_mm.datasets.transforms.tracking import LoadTracks, TrackPoints
from mosic_mm.datasets.video_trajectory_dataset import (clip_starts,
                                                        sample_clip_indices)
from mosic_mm.registry import DATASETS, MODELS


# ------------------------------------------------------------ window starts
def test_clip_starts_and_sampling_from_them():
    # 24 frames, T=6, stride 3: max start 24 - 18 = 6 (the reference's
    # bound), 24 - 1 - 15 = 8 with start_rule='fit'
    assert clip_starts(24, 6, 3).tolist() == list(range(7))
    assert clip_starts(24, 6, 3, start_rule='fit').tolist() == list(range(9))
    assert clip_starts(24, 6, 3, window_step=2).tolist() == [0, 2, 4, 6]
    assert clip_starts(24, 6, 3, window_step=5).tolist() == [0, 5]
    assert clip_starts(24, 6, 3, window_step=100).tolist() == [0]
    # short video: stride 6 -> 20 // 6 = 3, max start 20 - 18 = 2 (fit: 4)
    assert clip_starts(20, 6, 6, window_step=2).tolist() == [0, 2]
    assert clip_starts(20, 6, 6, 2, 'fit').tolist() == [0, 2, 4]
    rng = np.random.RandomState(0)
    starts = {int(sample_clip_indices(24, 6, 3, rng, window_step=2,
                                      start_rule='fit')[0])
              for _ in range(200)}
    assert starts == {0, 2, 4, 6, 8}
    assert sample_clip_indices(24, 6, 3, rng, random_start=False,
                               window_step=2)[0] == 0
    with pytest.raises(ValueError, match='window_step'):
        clip_starts(24, 6, 3, window_step=0)
    with pytest.raises(ValueError, match='start_rule'):
        clip_starts(24, 6, 3, start_rule='any')


# ------------------------------------------------------------- file format
def _header(**kw):
    args = dict(video_id='a/b', tracker=dict(type='DISFlowTracker'),
                grid_size=2, clip_len=3, stride=2, frame_stride=2,
                window_step=2, total_frames=9, frame_size=(40, 50),
                window_starts=[0, 2])
    args.update(kw)
    return make_header(**args)


def test_write_read_round_trip_is_compact_and_atomic(tmp_path):
    rng = np.random.default_rng(0)
    tracks = rng.uniform(-10, 60, (2, 3, 4, 2)).astype(np.float32)
    vis = rng.random((2, 3, 4)) > 0.5
    path = cache_path(str(tmp_path), 'a/b')
    assert path == str(tmp_path / 'a' / 'b.npz')
    size = write_track_file(path, _header(), tracks, vis)
    assert os.path.getsize(path) == size
    assert not [f for f in os.listdir(tmp_path / 'a') if f.startswith('.')]
    header, t_all, v_all = read_track_file(path)
    assert header['window_starts'] == [0, 2] and header['frame_size'] == [40,
                                                                          50]
    assert header['version'] == 1 and header['tracker'] == dict(
        type='DISFlowTracker')
    np.testing.assert_allclose(t_all, tracks, atol=0.02)  # float16
    np.testing.assert_array_equal(v_all, vis)
    _, t1, v1 = read_track_file(path, window=1)
    np.testing.assert_array_equal(t1, t_all[1])
    np.testing.assert_array_equal(v1, vis[1])
    with np.load(path) as npz:
        assert npz['tracks'].dtype == np.float16
        assert npz['visibility'].shape == (2, 2)  # 12 bits -> 2 bytes
    # wrong shapes: nothing written
    with pytest.raises(ValueError, match='do not match the header'):
        write_track_file(str(tmp_path / 'x.npz'), _header(), tracks[:1], vis)
    assert not os.path.exists(tmp_path / 'x.npz')
    assert not [f for f in os.listdir(tmp_path) if f.startswith('.tmp_')]


def test_corrupt_and_foreign_files_are_clear_errors(tmp_path):
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'not a zip file')
    with pytest.raises(TrackCacheError, match='bad.npz'):
        read_header(str(bad))
    other = tmp_path / 'other.npz'
    np.savez(other, header=np.array(json.dumps(dict(format='x'))))
    with pytest.raises(TrackCacheError, match='other.npz is not a'):
        read_header(str(other))
    old = tmp_path / 'old.npz'
    np.savez(old, header=np.array(json.dumps(dict(_header(), version=0))))
    with pytest.raises(TrackCacheError, match='version 0'):
        read_header(str(old))


# -------------------------------------------------------------- LoadTracks
def _dataset(root, track_step, window_step=2, size=56):
    pipeline = [
        dict(type='LoadClip'), track_step,
        dict(type='ClipRandomResizedCrop', size=size, scale=(0.4, 1.0)),
        dict(type='ClipFlip', prob=0.5),
        dict(type='SelectTracks', num_tracks=16),
        dict(type='PackTrackInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(dict(
            type='VideoTrajectoryDataset', data_root=root,
            ann_file='ImageSets/train.txt', clip_len=3, frame_stride=2,
            window_step=window_step, pipeline=pipeline))


@pytest.fixture(scope='module')
def cached(synthetic_root, tmp_path_factory):
    """The synthetic train videos extracted into a cache (DIS, grid 4)."""
    cache = str(tmp_path_factory.mktemp('cache'))
    ds = _dataset(synthetic_root, dict(type='TrackPoints', grid_size=4))
    plan = dict(tracker=dict(type='DISFlowTracker'), grid_size=4)
    from mmcv.transforms import Compose
    from mosic_mm.trackers import build_tracker
    from mosic_mm.registry import TRANSFORMS
    prefix = Compose([TRANSFORMS.build(dict(type='LoadClip'))])
    tracker = build_tracker(dict(type='DISFlowTracker'))
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        extract_tracks.extract_video(info, ds, plan, prefix, tracker,
                                     cache_path(cache, info['video_id']))
    return cache


def _clip(root, video='train_0001', start=2):
    from mosic_mm.datasets.transforms.loading import LoadClip
    ds = _dataset(root, dict(type='TrackPoints'))
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['video_id'] == video)
    info['frame_inds'] = start + 2 * np.arange(3)
    info['data_root'] = root
    return LoadClip()(info)


def test_load_tracks_equals_tracking_on_the_fly(synthetic_root, cached):
    results = _clip(synthetic_root)
    load = LoadTracks(cache_dir=cached, grid_size=4)
    out = load(copy.deepcopy(results))
    ref = TrackPoints(grid_size=4)(copy.deepcopy(results))
    assert out['tracks'].shape == (3, 16, 2) and out['tracks'].dtype == \
        np.float32
    np.testing.assert_allclose(out['tracks'], ref['tracks'], atol=0.02)
    np.testing.assert_array_equal(out['visibility'], ref['visibility'])
    assert out['visibility'][0].all()
    header = read_header(cache_path(cached, 'train_0001'))
    assert header['window_starts'] == [0, 2] and header['frame_size'] == [
        64, 64]


def test_default_cache_dir_is_under_data_root(synthetic_root, cached,
                                              tmp_path):
    results = _clip(synthetic_root)
    results['data_root'] = str(tmp_path)
    link = tmp_path / 'track_cache'
    link.mkdir()
    os.symlink(cached, link / 'DISFlowTracker')
    out = LoadTracks(grid_size=4)(results)
    assert out['tracks'].shape == (3, 16, 2)


def test_missing_file_error_or_fallback_with_count(synthetic_root, tmp_path):
    results = _clip(synthetic_root)
    with pytest.raises(FileNotFoundError) as err:
        LoadTracks(cache_dir=str(tmp_path), grid_size=4,
                   extract_cmd='python tools/extract_tracks.py C.py')(
                       copy.deepcopy(results))
    msg = str(err.value)
    assert str(tmp_path / 'train_0001.npz') in msg
    assert 'python tools/extract_tracks.py C.py' in msg

    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda r: messages.append(r.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        load = LoadTracks(cache_dir=str(tmp_path), grid_size=4,
                          on_missing='track')
        out = load(copy.deepcopy(results))
        load(copy.deepcopy(results))
    finally:
        logger.removeHandler(handler)
    ref = TrackPoints(grid_size=4)(copy.deepcopy(results))
    np.testing.assert_array_equal(out['tracks'], ref['tracks'])
    assert load.num_tracked == 2
    assert len(messages) == 1 and '1 clip(s) tracked on the fly' in \
        messages[0]
    with pytest.raises(ValueError, match='on_missing'):
        LoadTracks(on_missing='skip')


def test_mismatches_name_the_file_and_fields(synthetic_root, cached):
    results = _clip(synthetic_root)
    path = cache_path(cached, 'train_0001')
    with pytest.raises(TrackCacheError) as err:
        LoadTracks(cache_dir=cached, grid_size=8)(copy.deepcopy(results))
    assert path in str(err.value) and 'grid_size: file has 4, expected 8' in \
        str(err.value)
    with pytest.raises(TrackCacheError, match='tracker type'):
        LoadTracks(cache_dir=cached, grid_size=4,
                   tracker=dict(type='CoTracker3'))(copy.deepcopy(results))
    small = copy.deepcopy(results)
    small['imgs'] = small['imgs'][:, :32]
    with pytest.raises(TrackCacheError, match=r'frame_size: file has \[64, '
                       r'64\], expected \[32, 64\]'):
        LoadTracks(cache_dir=cached, grid_size=4)(small)
    odd = _clip(synthetic_root, start=1)
    with pytest.raises(TrackCacheError, match='window_step to 2'):
        LoadTracks(cache_dir=cached, grid_size=4)(odd)
    longer = _clip(synthetic_root)
    longer['frame_inds'] = np.array([0, 3, 6])
    with pytest.raises(TrackCacheError, match='stride: file has 2'):
        LoadTracks(cache_dir=cached, grid_size=4)(longer)


# ------------------------------------------------ same loss both ways
def _batch(dataset, seed):
    np.random.seed(seed)
    items = [dataset[i] for i in range(len(dataset))]
    return dict(inputs=[d['inputs'] for d in items],
                data_samples=[d['data_samples'] for d in items])


def test_training_from_the_cache_gives_the_on_the_fly_loss(
        synthetic_root, cached):
    on_the_fly = _dataset(synthetic_root,
                          dict(type='TrackPoints', grid_size=4))
    from_cache = _dataset(synthetic_root,
                          dict(type='LoadTracks', cache_dir=cached,
                               grid_size=4))
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    losses = []
    for ds in (on_the_fly, from_cache):
        batch = _batch(ds, seed=3)  # same clips, crops and flips
        data = model.data_preprocessor(batch, True)
        losses.append(model(**data, mode='loss')['loss'])
        assert [s.frame_inds[0] for s in batch['data_samples']] == \
            [s.frame_inds[0] for s in _batch(on_the_fly, 3)['data_samples']]
    a, b = _batch(on_the_fly, 3), _batch(from_cache, 3)
    for sa, sb in zip(a['data_samples'], b['data_samples']):
        assert sa.crop_bbox == sb.crop_bbox and sa.flip == sb.flip
        torch.testing.assert_close(sa.tracks, sb.tracks, atol=0.03, rtol=0)
        assert torch.equal(sa.visibility, sb.visibility)
    assert torch.isfinite(losses[0])
    torch.testing.assert_close(losses[0], losses[1], atol=1e-4, rtol=1e-4)
