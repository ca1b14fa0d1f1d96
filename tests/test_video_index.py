"""Large collections (issue 24 item 3): VideoTrajectoryDataset(index_file)
lists and counts a collection once into a VideoIndex file that every process
maps read-only, rebuilt when the collection changes; unreadable and empty
videos are logged and counted; track extraction keeps a manifest so a
resume skips finished videos without opening their files, and fills every
dataset of a mix."""
import os
import os.path as osp
import pickle
import time

import numpy as np
import pytest

from conftest import SYNTHETIC_CONFIG
from mosic_mm.datasets.video_index import (IndexMismatch, VideoIndex,
                                           count_all, pack_strings,
                                           PackedStrings)
from mosic_mm.datasets.video_trajectory_dataset import VideoTrajectoryDataset
from test_dataset import make_frames, make_video, warnings_log  # noqa: F401


def _same(a, b):
    assert len(a) == len(b)
    for i in range(len(a)):
        assert a.get_data_info(i) == b.get_data_info(i), i


@pytest.fixture
def frames_root(tmp_path):
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
    scan = VideoTrajectoryDataset(str(frames_root), clip_len=4)
    first = VideoTrajectoryDataset(str(frames_root), clip_len=4,
                                   index_file='videos.idx')
    assert osp.isfile(frames_root / 'videos.idx')
    _same(scan, first)
    assert [first.video_id(i) for i in range(len(first))] == ['a', 'c']

    def no_scan(self):
        raise AssertionError('the collection was scanned again')
    monkeypatch.setattr(VideoTrajectoryDataset, '_scan', no_scan)
    warm = VideoTrajectoryDataset(str(frames_root), clip_len=4,
                                  index_file='videos.idx')
    _same(scan, warm)
    # another clip_len reads the same index (short videos filtered at load)
    assert len(VideoTrajectoryDataset(str(frames_root), clip_len=2,
                                      index_file='videos.idx')) == 3
    # the arrays are views of one read-only mapping of the file
    arr = warm._index.total_frames
    assert isinstance(arr.base, np.memmap) or isinstance(
        getattr(arr.base, 'base', None), np.memmap)
    assert not arr.flags.writeable
    # a worker started by spawn maps the file again instead of a copy
    blob = pickle.dumps(warm._index)
    assert len(blob) < 300 and pickle.loads(blob).info(1) == \
        warm._index.info(1)


def test_video_files_and_lists_index_the_same(tmp_path):
    for rel, n in (('k1/x.mp4', 6), ('k2/y.avi', 4), ('k2/z.mp4', 5)):
        make_video(tmp_path / 'train' / rel, n)
    (tmp_path / 'list.txt').write_text('k2/z.mp4\nk1/x.mp4\n')
    for kw in (dict(), dict(ann_file='list.txt')):
        scan = VideoTrajectoryDataset(str(tmp_path), clip_len=3,
                                      data_prefix=dict(img='train'), **kw)
        index = VideoTrajectoryDataset(str(tmp_path), clip_len=3,
                                       data_prefix=dict(img='train'),
                                       index_file=str(tmp_path / 'v.idx'),
                                       **kw)
        _same(scan, index)
    assert [index.video_id(i) for i in range(2)] == ['k2/z', 'k1/x']


def test_changes_rebuild_the_index(frames_root):
    def build(**kw):
        return VideoTrajectoryDataset(str(frames_root), clip_len=4,
                                      index_file='videos.idx', **kw)
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
        tmp_path, warnings_log):  # noqa: F811
    make_frames(tmp_path / 'JPEGImages' / 'ok', 4, size=8)
    (tmp_path / 'JPEGImages' / 'hollow').mkdir()
    VideoTrajectoryDataset(str(tmp_path), clip_len=2, index_file='i.idx')
    VideoTrajectoryDataset(str(tmp_path), clip_len=2, index_file='i.idx')
    empty = [m for m in warnings_log if 'without frames' in m]
    assert len(empty) == 2 and 'skipped 1 folders' in empty[1] \
        and 'hollow' in empty[1]  # the warm start says it too

    make_video(tmp_path / 'v' / 'good.mp4', 4)
    (tmp_path / 'v' / 'empty.mp4').write_bytes(b'')
    (tmp_path / 'v' / 'junk.mp4').write_bytes(b'not a video')
    ds = VideoTrajectoryDataset(str(tmp_path), clip_len=2,
                                data_prefix=dict(img='v'),
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


# ------------------------------------------------------- extraction at scale
def _extract(root, cache, *extra):
    import extract_tracks  # tools/extract_tracks.py
    return extract_tracks.run(extract_tracks.parse_args(
        [SYNTHETIC_CONFIG, '--cache-dir', str(cache), *extra,
         '--cfg-options', f'train_dataloader.dataset.data_root={root}',
         'train_dataloader.dataset.num_train=4',
         'train_dataloader.dataset.num_val=2',
         'train_dataloader.dataset.num_frames=8',
         'train_dataloader.dataset.size=[64,64]',
         'train_dataloader.dataset.clip_len=3',
         'train_dataloader.dataset.frame_stride=2',
         'train_dataloader.dataset.pipeline.1.tracker.type=StaticTracker']))


def test_manifest_skips_finished_videos_without_reading_them(
        synthetic_root, tmp_path, monkeypatch):
    from conftest import REPO
    monkeypatch.syspath_prepend(osp.join(REPO, 'tools'))
    cache = tmp_path / 'cache'
    assert _extract(synthetic_root, cache, '--limit', '3') == 0
    manifests = list((cache / '.manifest').glob('*/rank0.txt'))
    assert len(manifests) == 1
    lines = manifests[0].read_text().splitlines()
    assert [line.split()[0] for line in lines] == [f'train_000{i}'
                                                   for i in range(3)]
    assert int(lines[0].split()[1]) == os.stat(
        cache / 'train_0000.npz').st_size
    from mosic_mm.datasets import track_cache

    def no_read(path):
        raise AssertionError(f'{path} was opened')
    monkeypatch.setattr(track_cache, 'read_header', no_read)
    # the 3 listed videos are skipped unopened, the 4th is extracted
    assert _extract(synthetic_root, cache) == 0
    assert len(list(cache.glob('*.npz'))) == 4
    assert sorted(line.split()[0] for line in
                  manifests[0].read_text().splitlines()) == [
        f'train_000{i}' for i in range(4)]


def test_extraction_fills_every_dataset_of_a_mix(tmp_path):
    from mosic_mm.apis.extract_tracks import extract_tracks
    from mosic_mm.synthetic import write_dataset
    roots = []
    for i, n in enumerate((3, 2)):
        root = str(tmp_path / f'root{i}')
        write_dataset(root, num_train=n, num_val=0, num_frames=8,
                      size=(32, 32), seed=i, progress=False)
        roots.append(root)
    opts = {}
    for i, root in enumerate(roots):
        p = f'train_dataloader.dataset.datasets.{i}.'
        opts.update({p + 'data_root': root, p + 'clip_len': 3,
                     p + 'frame_stride': 2, p + 'window_step': 3,
                     p + 'pipeline.1.scale': [32, 32],
                     p + 'pipeline.2.grid_size': 4,
                     p + 'pipeline.2.tracker.type': 'StaticTracker'})
    from conftest import REPO
    config = osp.join(REPO, 'configs', 'mosic_vits_mixed.py')
    assert extract_tracks(config, cfg_options=opts) == 0
    for root, n in zip(roots, (3, 2)):
        files = sorted(os.listdir(osp.join(root, 'track_cache',
                                           'StaticTracker')))
        assert [f for f in files if f.endswith('.npz')] == [
            f'train_000{i}.npz' for i in range(n)]
    with pytest.raises(ValueError, match='mixes 2 datasets'):
        extract_tracks(config, cache_dir=str(tmp_path / 'c'),
                       cfg_options=opts)


def _build_on_rank(rank, out_dir):
    """Each of 2 gloo ranks builds the indexed dataset of out_dir/root."""
    import json
    root = osp.join(out_dir, 'root')
    ds = VideoTrajectoryDataset(root, clip_len=2, index_file='i.idx')
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump([ds.get_data_info(i) for i in range(len(ds))], f)


def test_ranks_share_one_index(tmp_path, monkeypatch):
    import json
    from conftest import spawn_gloo
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
