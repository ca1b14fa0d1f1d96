"""Large collections: VideoTrajectoryDataset(index_file) lists and counts
a collection once into a VideoIndex file that every process maps read-only,
rebuilt when the collection changes; unreadable and empty videos are logged
and counted."""
import json
import os
import os.path as osp
import pickle
import time

import numpy as np
import pytest

from mosic_mm.datasets.sources.video_index import (
    IndexMismatch,
    PackedStrings,
    VideoIndex,
    count_all,
    pack_strings,
)
from mosic_mm.datasets.transforms.sampling import SampleClip
from mosic_mm.datasets.video_dataset import VideoTrajectoryDataset


def _dataset(root, clip_len, **kw):
    return VideoTrajectoryDataset(str(root), pipeline=[
        SampleClip(clip_len=clip_len)], **kw)


def _same(a, b):
    assert len(a) == len(b)
    for i in range(len(a)):
        assert a.get_data_info(i) == b.get_data_info(i), i


@pytest.fixture
def frames_root(tmp_path, make_frames):
    for name, n in (('a', 5), ('b', 3), ('c', 6)):
        make_frames(tmp_path / 'JPEGImages' / name, n, size=8)
    return tmp_path


def test_packed_strings_round_trip():
    words = ['', 'a', 'ünï/cödé', 'x' * 300, 'b']
    packed = PackedStrings(*pack_strings(words))
    assert [packed[i] for i in range(len(words))] == words
    assert packed.span(1, 4) == words[1:4] and packed.span(2, 2) == []


def test_indexed_dataset_equals_the_scan_and_is_built_once(frames_root,
                                                           monkeypatch):
    scan = _dataset(frames_root, 4)
    first = _dataset(frames_root, 4, index_file='videos.idx')
    assert osp.isfile(frames_root / 'videos.idx')
    _same(scan, first)
    assert [first.video_id(i) for i in range(len(first))] == ['a', 'c']

    def no_scan(self):
        raise AssertionError('the collection was scanned again')
    monkeypatch.setattr(VideoTrajectoryDataset, '_scan', no_scan)
    warm = _dataset(frames_root, 4, index_file='videos.idx')
    _same(scan, warm)
    # another clip_len reads the same index (short videos filtered at load)
    assert len(_dataset(frames_root, 2, index_file='videos.idx')) == 3
    # the arrays are views of one read-only mapping of the file
    arr = warm._index.total_frames
    assert isinstance(arr.base, np.memmap) or isinstance(
        getattr(arr.base, 'base', None), np.memmap)
    assert not arr.flags.writeable
    # a worker started by spawn maps the file again instead of a copy
    blob = pickle.dumps(warm._index)
    assert len(blob) < 300 and pickle.loads(blob).info(1) == \
        warm._index.info(1)


def test_video_files_and_lists_index_the_same(tmp_path, make_video):
    for rel, n in (('k1/x.mp4', 6), ('k2/y.avi', 4), ('k2/z.mp4', 5)):
        make_video(tmp_path / 'train' / rel, n)
    (tmp_path / 'list.txt').write_text('k2/z.mp4\nk1/x.mp4\n')
    for kw in (dict(), dict(ann_file='list.txt')):
        scan = _dataset(tmp_path, 3, data_prefix=dict(img='train'), **kw)
        index = _dataset(tmp_path, 3, data_prefix=dict(img='train'),
                         index_file=str(tmp_path / 'v.idx'), **kw)
        _same(scan, index)
    assert [index.video_id(i) for i in range(2)] == ['k2/z', 'k1/x']


def test_changes_rebuild_the_index(frames_root, make_frames):
    def build(**kw):
        return _dataset(frames_root, 4, index_file='videos.idx', **kw)
    build()
    mtime = os.stat(frames_root / 'videos.idx').st_mtime_ns
    build()  # the index inside data_root does not invalidate itself
    assert os.stat(frames_root / 'videos.idx').st_mtime_ns == mtime
    make_frames(frames_root / 'JPEGImages' / 'd', 7, size=8)
    assert len(build()) == 3  # a new video folder: rebuilt
    (frames_root / 'list.txt').write_text('a\n')
    assert len(build(ann_file='list.txt')) == 1  # another key
    time.sleep(0.01)
    (frames_root / 'list.txt').write_text('a\nc\n')
    assert len(build(ann_file='list.txt')) == 2  # the list changed
    (frames_root / 'videos.idx').write_bytes(b'garbage')
    assert len(build()) == 3  # unreadable index: rebuilt
    with pytest.raises(IndexMismatch, match='not a video index'):
        VideoIndex.load(str(frames_root / 'list.txt'))


def test_unreadable_and_empty_videos_are_logged_and_counted(
        tmp_path, make_frames, make_video, warnings_log):
    make_frames(tmp_path / 'JPEGImages' / 'ok', 4, size=8)
    (tmp_path / 'JPEGImages' / 'hollow').mkdir()
    _dataset(tmp_path, 2, index_file='i.idx')
    _dataset(tmp_path, 2, index_file='i.idx')
    empty = [m for m in warnings_log if 'without frames' in m]
    assert len(empty) == 2 and 'skipped 1 folders' in empty[1] \
        and 'hollow' in empty[1]  # the warm start says it too

    make_video(tmp_path / 'v' / 'good.mp4', 4)
    (tmp_path / 'v' / 'empty.mp4').write_bytes(b'')
    (tmp_path / 'v' / 'junk.mp4').write_bytes(b'not a video')
    ds = _dataset(tmp_path, 2, data_prefix=dict(img='v'),
                                index_file='v.idx')
    assert len(ds) == 1 and ds.video_id(0) == 'good'
    assert ds._index.meta['skipped']['unreadable']['count'] == 2
    bad = [m for m in warnings_log if 'decord cannot open' in m]
    assert 'skipped 2 videos' in bad[-1] and 'empty.mp4' in bad[-1]


def test_count_all_keeps_order_and_names_errors():
    def count(p):
        if p == 'bad':
            raise RuntimeError('x')
        return len(p)
    assert count_all(['aa', 'bad', 'c'] * 3, count, threads=2, block=2) == \
        [2, 'RuntimeError', 1] * 3


def _build_on_rank(rank, out_dir):
    """Each of 2 gloo ranks builds the indexed dataset of out_dir/root."""
    root = osp.join(out_dir, 'root')
    ds = _dataset(root, 2, index_file='i.idx')
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump([ds.get_data_info(i) for i in range(len(ds))], f)


@pytest.mark.slow  # two spawned processes
def test_ranks_share_one_index(tmp_path, monkeypatch, make_frames,
                               spawn_gloo):
    for name in ('a', 'b'):
        make_frames(tmp_path / 'root' / 'JPEGImages' / name, 3, size=8)
    # torchrun sets LOCAL_RANK per process; spawned ranks here share one
    # machine, so only rank 0 may write (LOCAL_RANK unset: global rank 0)
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    spawn_gloo(_build_on_rank, tmp_path)
    infos = [json.loads((tmp_path / f'rank{r}.json').read_text())
             for r in (0, 1)]
    assert infos[0] == infos[1] and len(infos[0]) == 2
    assert osp.isfile(tmp_path / 'root' / 'i.idx')
