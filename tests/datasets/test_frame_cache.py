"""The frame cache: file round trip, tools/extract_frames.py, and LoadClip
serving exactly what the training pipeline would compute."""
import os

import cv2
import numpy as np
import pytest

from mosic_mm.datasets.frame_cache import (
    FrameCacheError,
    FrameCacheReader,
    cache_frame_indices,
    frame_cache_path,
    read_frame_header,
    write_frame_file,
)
from mosic_mm.datasets.transforms.geometry import ClipResize
from mosic_mm.datasets.transforms.loading import LoadClip
from mosic_mm.datasets.transforms.sampling import SampleClip


def _frames(k=4, hw=(24, 40), seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (k, hw[0] // 8, hw[1] // 8, 3), np.uint8)
    return np.stack([cv2.resize(f, hw[::-1], interpolation=cv2.INTER_CUBIC)
                     for f in base])


def test_round_trip_raw_and_jpeg(tmp_path):
    frames = _frames()
    inds = [0, 6, 12, 18]
    path = str(tmp_path / 'a' / 'v.frames')
    write_frame_file(path, 'a/v', frames, inds, 30, (720, 1280), 'bilinear')
    header = read_frame_header(path)
    assert header['frame_inds'] == inds and header['size'] == [24, 40]
    assert header['data_offset'] % 4096 == 0
    reader = FrameCacheReader(path)
    np.testing.assert_array_equal(reader.read([18, 0, 6]),
                                  frames[[3, 0, 1]])
    assert reader.missing([0, 1, 6]) == [1]
    with pytest.raises(FrameCacheError, match=r'does not hold frames \[1\]'):
        reader.read([0, 1])
    jpath = str(tmp_path / 'j.frames')
    write_frame_file(jpath, 'j', frames, inds, 30, (720, 1280), 'bilinear',
                     encoding='jpeg', quality=95)
    got = FrameCacheReader(jpath).read(inds)
    assert got.shape == frames.shape
    err = np.abs(got.astype(int) - frames.astype(int)).mean()
    assert 0 < err < 3  # JPEG re-encoding error only
    assert os.path.getsize(jpath) < os.path.getsize(path)
    assert not [f for f in os.listdir(tmp_path) if f.startswith('.tmp_')]


def test_corrupt_files_are_named(tmp_path):
    path = str(tmp_path / 'v.frames')
    write_frame_file(path, 'v', _frames(), [0, 1, 2, 3], 4, (24, 40), 'area')
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:-10])
    with pytest.raises(FrameCacheError, match='v.frames is truncated'):
        FrameCacheReader(path)
    open(path, 'wb').write(b'JUNK' + data[4:])
    with pytest.raises(FrameCacheError, match='not a mosic_mm frame cache'):
        FrameCacheReader(path)
    with pytest.raises(ValueError, match='strictly increasing'):
        write_frame_file(path, 'v', _frames(), [0, 2, 1, 3], 4, (24, 40),
                         'area')


def test_cache_holds_the_frames_of_every_clip_the_sampler_picks():
    # 40 frames, T=3, stride 6: last start 40-18 = 22 ('frames_fit':
    # 40-1-12 = 27), every 4th -> 0..20 (0..24); frames s, s+6, s+12
    for rule, last in (('span_fits', 20), ('frames_fit', 24)):
        inds = cache_frame_indices(40, SampleClip(3, 6, 4, rule))
        starts = np.arange(0, last + 1, 4)
        want = sorted(set(starts) | set(starts + 6) | set(starts + 12))
        assert inds.tolist() == want and inds.dtype == np.int64
    # short video: stride becomes 10 // 3 = 3, starts 0..1 -> frames
    # 0, 1, 3, 4, 6, 7 ('frames_fit': starts 0..3 -> frames 0..9)
    assert cache_frame_indices(10, SampleClip(3, 6)).tolist() == [
        0, 1, 3, 4, 6, 7]
    assert cache_frame_indices(10, SampleClip(
        3, 6, start_rule='frames_fit')).tolist() == list(range(10))
    # every clip the sampler draws is in the cache
    sampler = SampleClip(12, 6, window_step=12)
    held = set(cache_frame_indices(250, sampler).tolist())
    rng = np.random.RandomState(0)
    for _ in range(50):
        assert set(sampler.sample(250, rng).tolist()) <= held


def _write_dataset(root, videos=2, n=14, hw=(48, 80)):
    for v in range(videos):
        d = root / 'JPEGImages' / f'v{v}'
        d.mkdir(parents=True)
        for i, f in enumerate(_frames(n, hw, seed=v)):
            cv2.imwrite(str(d / f'{i:05d}.jpg'), f)
    cfg = root / 'cfg.py'
    cfg.write_text(
        "default_scope = 'mmpretrain'\n"
        "custom_imports = dict(imports=['mosic_mm'], "
        "allow_failed_imports=False)\n"
        "train_dataloader = dict(dataset=dict(type='VideoTrajectoryDataset',"
        f" data_root=r'{root}', pipeline=["
        "dict(type='SampleClip', clip_len=3, frame_stride=4, window_step=2), "
        "dict(type='LoadClip'), "
        "dict(type='ClipResize', scale=(40, 24))]))\n")
    return str(cfg)


def test_extract_frames_tool_and_loadclip(tmp_path, load_tool):
    from mosic_mm.datasets import VideoTrajectoryDataset
    tool = load_tool('extract_frames.py')
    run, parse_args = tool.run, tool.parse_args
    cfg = _write_dataset(tmp_path)
    assert run(parse_args([cfg])) == 0
    cache_dir = tmp_path / 'frame_cache' / '24x40'
    path = frame_cache_path(str(cache_dir), 'v0')
    header = read_frame_header(path)
    # only the frames clips can use: starts 0, 2 (14 - 3 * 4; +4, +8)
    assert header['frame_inds'] == cache_frame_indices(
        14, SampleClip(3, 4, 2)).tolist()
    assert header['source_size'] == [48, 80] and header['size'] == [24, 40]
    mtime = os.path.getmtime(path)
    stale = cache_dir / '.tmp_killed.frames'  # a run killed mid-write
    stale.write_bytes(b'partial')
    assert run(parse_args([cfg])) == 0  # resumable: nothing rewritten
    assert os.path.getmtime(path) == mtime and not stale.exists()
    assert run(parse_args([cfg, '--encoding', 'jpeg'])) == 1  # differs
    with pytest.raises(SystemExit):
        tool.main([cfg, '--shard', '3/2'])

    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[
        SampleClip(clip_len=3, frame_stride=4, window_step=2)])
    cached = LoadClip(decode_size=(24, 40), frame_cache=True)
    today = [LoadClip(), ClipResize(scale=(40, 24))]
    for idx, inds in [(0, [2, 6, 10]), (1, [0, 4, 8])]:
        info = dict(ds.get_data_info(idx), frame_inds=np.array(inds))
        ref = today[1](today[0](dict(info)))['imgs']
        got = cached(dict(info))
        np.testing.assert_array_equal(got['imgs'], ref)
        assert got['img_shape'] == (24, 40)
    assert cached.num_cache_misses == 0
    # frames not in the cache (odd start) and videos without a file are
    # decoded from the source (at decode_size), counted
    info = dict(ds.get_data_info(0), frame_inds=np.array([1, 5, 9]),
                data_root=str(tmp_path))
    np.testing.assert_array_equal(
        cached(dict(info))['imgs'],
        LoadClip(decode_size=(24, 40))(dict(info))['imgs'])
    assert cached.num_cache_misses == 1
    # a cache of another size is resized to decode_size (same coordinates)
    small = LoadClip(decode_size=(12, 20), frame_cache=True,
                     frame_cache_dir=str(cache_dir))
    info = dict(ds.get_data_info(0), frame_inds=np.array([2, 6, 10]),
                data_root=str(tmp_path))
    out = small(dict(info))
    assert out['imgs'].shape == (3, 12, 20, 3) and small.num_cache_misses == 0
    # a cache file of a different video length is an error naming it
    write_frame_file(path, 'v0', np.zeros((1, 24, 40, 3), np.uint8), [2], 99,
                     (48, 80), 'bilinear')
    with pytest.raises(FrameCacheError, match='v0.frames.*99 frames'):
        cached(dict(info, frame_inds=np.array([2])))
