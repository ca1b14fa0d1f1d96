"""LoadTracks returns the cached window of the sampled clip: the tracks
TrackPoints would compute on the fly (so training from the cache gives the
on-the-fly loss); a missing file is an error naming it and the command that
fills the cache, or tracked on the fly and counted; a file of other settings
or a clip that is not a cached window is refused."""
import copy
import logging
import os

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

import mosic_mm  # noqa: F401
from mosic_mm.datasets.transforms.sampling import SampleClip
from mosic_mm.registry import DATASETS
from mosic_mm.tracks.cache import (
    TrackCacheError,
    cache_path,
    make_header,
    read_header,
    write_track_file,
)
from mosic_mm.tracks.extraction import extract_video
from mosic_mm.tracks.transforms import LoadTracks, TrackPoints


def _dataset(root, track_step, window_step=2, size=56):
    pipeline = [
        dict(type='SampleClip', clip_len=3, frame_stride=2,
             window_step=window_step),
        dict(type='LoadClip'), track_step,
        dict(type='ClipRandomResizedCrop', size=size, scale=(0.4, 1.0)),
        dict(type='ClipFlip', prob=0.5),
        dict(type='SelectTracks', num_tracks=16),
        dict(type='PackTrackInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(dict(
            type='VideoTrajectoryDataset', data_root=root,
            ann_file='ImageSets/train.txt', pipeline=pipeline))


@pytest.fixture(scope='module')
def cached(synthetic_root, tmp_path_factory):
    """The synthetic train videos extracted into a cache (DIS, grid 4)."""
    cache = str(tmp_path_factory.mktemp('cache'))
    ds = _dataset(synthetic_root, dict(type='TrackPoints', grid_size=4))
    plan = dict(tracker=dict(type='DISFlowTracker'), grid_size=4,
                sampler=SampleClip(clip_len=3, frame_stride=2, window_step=2))
    from mmcv.transforms import Compose

    from mosic_mm.registry import TRANSFORMS
    from mosic_mm.tracks.trackers import build_tracker
    prefix = Compose([TRANSFORMS.build(dict(type='LoadClip'))])
    tracker = build_tracker(dict(type='DISFlowTracker'))
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        extract_video(info, plan, prefix, tracker,
                      cache_path(cache, info['video_id']))
    return cache


def _clip(root, video='train_0001', start=2):
    from mosic_mm.datasets.transforms.loading import LoadClip
    ds = _dataset(root, dict(type='TrackPoints'))
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['video_id'] == video)
    info['frame_inds'] = start + 2 * np.arange(3)
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
        synthetic_root, cached, tiny_model, model_loss):
    on_the_fly = _dataset(synthetic_root,
                          dict(type='TrackPoints', grid_size=4))
    from_cache = _dataset(synthetic_root,
                          dict(type='LoadTracks', cache_dir=cached,
                               grid_size=4))
    model = tiny_model()
    losses = []
    for ds in (on_the_fly, from_cache):
        batch = _batch(ds, seed=3)  # same clips, crops and flips
        losses.append(model_loss(model, batch)['loss'])
        assert [s.frame_inds[0] for s in batch['data_samples']] == \
            [s.frame_inds[0] for s in _batch(on_the_fly, 3)['data_samples']]
    a, b = _batch(on_the_fly, 3), _batch(from_cache, 3)
    for sa, sb in zip(a['data_samples'], b['data_samples']):
        assert sa.crop_bbox == sb.crop_bbox and sa.flip == sb.flip
        torch.testing.assert_close(sa.tracks, sb.tracks, atol=0.03, rtol=0)
        assert torch.equal(sa.visibility, sb.visibility)
    assert torch.isfinite(losses[0])
    # not exact: the cache stores float16 tracks (0.03 px at 64 px)
    torch.testing.assert_close(losses[0], losses[1], atol=1e-4, rtol=1e-4)


@pytest.fixture
def hand_cache(tmp_path):
    """One video of 12 frames, T=3, stride 2, windows at 0, 2, 4, 6 with a
    2x2 grid; window s holds tracks equal to 10 * s + frame + point / 4."""
    starts = [0, 2, 4, 6]
    t, n = 3, 4
    tracks = (10 * np.arange(4)[:, None, None, None]
              + np.arange(t)[None, :, None, None]
              + np.arange(n)[None, None, :, None] / 4
              + np.zeros((1, 1, 1, 2))).astype(np.float32)
    vis = np.ones((4, t, n), bool)
    vis[:, 1:, 0] = False
    header = make_header('vid', dict(type='DISFlowTracker'), 2, t, 2, 2, 2,
                         12, (8, 10), starts)
    write_track_file(cache_path(str(tmp_path), 'vid'), header, tracks, vis)
    return str(tmp_path), tracks, vis


def _results(inds):
    return dict(video_id='vid', frame_inds=np.asarray(inds), total_frames=12,
                imgs=np.zeros((len(inds), 8, 10, 3), np.uint8))


def test_each_clip_gets_its_own_window(hand_cache):
    cache_dir, tracks, vis = hand_cache
    load = LoadTracks(cache_dir=cache_dir, grid_size=2)
    for s, start in enumerate([0, 2, 4, 6]):
        out = load(_results(start + 2 * np.arange(3)))
        np.testing.assert_array_equal(out['tracks'], tracks[s])
        np.testing.assert_array_equal(out['visibility'], vis[s])


def test_frames_that_are_not_the_cached_window_are_refused(hand_cache):
    cache_dir = hand_cache[0]
    load = LoadTracks(cache_dir=cache_dir, grid_size=2)
    # right start and first step, but not evenly spaced: not window 1
    with pytest.raises(ValueError, match='evenly spaced'):
        load(_results([2, 4, 7]))
