"""VideoTrajectoryDataset indexing, clip sampling and corrupt-data handling."""
import logging

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger

from mosic_mm.datasets.transforms.loading import LoadClip
from mosic_mm.datasets.video_io import CorruptVideoError
from mosic_mm.datasets.video_trajectory_dataset import (VideoTrajectoryDataset,
                                                        sample_clip_indices)


def make_frames(folder, n, size=32, names=None):
    """Write n JPEGs; frame i has value 10*i, written in reverse name order
    so sorting by name is what puts them in order."""
    folder.mkdir(parents=True)
    names = names or [f'{i:05d}.jpg' for i in range(n)]
    for i in reversed(range(n)):
        img = np.full((size, size, 3), 10 * i, np.uint8)
        assert cv2.imwrite(str(folder / names[i]), img)
    return folder


def make_video(path, n, hw=(32, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = 'MJPG' if path.suffix == '.avi' else 'mp4v'
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10,
                         (hw[1], hw[0]))
    assert vw.isOpened()
    for i in range(n):
        vw.write(np.full((*hw, 3), 10 * i, np.uint8))
    vw.release()
    return path


class LogCapture(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_log():
    logger = MMLogger.get_current_instance()
    handler = LogCapture()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


# ------------------------------------------------------------ clip sampling
def test_sample_clip_indices():
    rng = np.random.RandomState(0)
    inds = sample_clip_indices(100, 12, 6, rng)
    assert inds.dtype == np.int64 and inds.shape == (12,)
    assert (np.diff(inds) == 6).all() and inds[0] >= 0 and inds[-1] < 100
    # shorter than clip_len*stride: stride -> 30 // 12 = 2
    for _ in range(20):
        inds = sample_clip_indices(30, 12, 6, rng)
        assert (np.diff(inds) == 2).all() and 0 <= inds[0] and inds[-1] < 30
    np.testing.assert_array_equal(sample_clip_indices(12, 12, 6, rng),
                                  np.arange(12))
    # random start: several different starts, covering the whole range,
    # the last one 80 - 12 * 6 (the reference sampler's bound)
    starts = {int(sample_clip_indices(80, 12, 6, rng)[0]) for _ in range(200)}
    assert starts == set(range(0, 80 - 72 + 1))
    starts = {int(sample_clip_indices(80, 12, 6, rng, start_rule='fit')[0])
              for _ in range(300)}
    assert starts == set(range(0, 80 - 66))  # every start whose clip fits
    gen = np.random.default_rng(0)
    assert len({int(sample_clip_indices(80, 4, 2, gen)[0])
                for _ in range(50)}) > 5
    # test mode: always from frame 0
    np.testing.assert_array_equal(
        sample_clip_indices(100, 12, 6, rng, random_start=False),
        np.arange(0, 72, 6))
    with pytest.raises(ValueError, match='11 frames'):
        sample_clip_indices(11, 12, 6, rng)


# ------------------------------------------------------------ indexing
def test_frame_folders_and_clips(tmp_path):
    make_frames(tmp_path / 'JPEGImages' / 'a', 20)
    make_frames(tmp_path / 'JPEGImages' / 'b', 9)
    (tmp_path / 'JPEGImages' / 'empty').mkdir()
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                clip_len=4, frame_stride=3)
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['video_id'] == 'a' and info['total_frames'] == 20
    assert [p[-9:] for p in info['frame_paths'][:3]] == \
        ['00000.jpg', '00001.jpg', '00002.jpg']

    np.random.seed(0)
    starts = set()
    for _ in range(12):
        out = ds[0]
        assert out['imgs'].shape == (4, 32, 32, 3)
        inds = out['frame_inds']
        assert (np.diff(inds) == 3).all() and inds[-1] < 20
        # frame i was written with value 10*i (JPEG: approximately)
        np.testing.assert_allclose(out['imgs'].mean((1, 2, 3)), 10 * inds,
                                   atol=3)
        starts.add(int(inds[0]))
    assert len(starts) > 1  # a new clip per call

    test_ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                     clip_len=4, frame_stride=3,
                                     test_mode=True)
    for _ in range(3):
        np.testing.assert_array_equal(test_ds[1]['frame_inds'], [0, 2, 4, 6])


def test_video_files(tmp_path):
    make_video(tmp_path / 'clips' / 'x.mp4', 10)
    make_video(tmp_path / 'y.avi', 6)
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                clip_len=3, frame_stride=2)
    infos = {ds.get_data_info(i)['video_id']: ds.get_data_info(i)
             for i in range(len(ds))}
    assert set(infos) == {'clips/x', 'y'}
    assert infos['clips/x']['total_frames'] == 10
    assert infos['y']['video_path'].endswith('y.avi')
    out = ds[0]
    assert out['imgs'].shape == (3, 32, 64, 3)
    np.testing.assert_allclose(out['imgs'].mean((1, 2, 3)),
                               10 * out['frame_inds'], atol=6)

    (tmp_path / 'list.txt').write_text('# subset\n\nclips/x  # a comment\n')
    ds = VideoTrajectoryDataset(str(tmp_path), clip_len=3,
                                ann_file='list.txt')
    assert len(ds) == 1 and ds.get_data_info(0)['video_id'] == 'clips/x'


def test_ann_file(tmp_path):
    for name in ('a', 'b', 'c'):
        make_frames(tmp_path / 'JPEGImages' / name, 4, size=8)
    (tmp_path / 'train.txt').write_text('# videos\nc\n\n  a\n')
    ds = VideoTrajectoryDataset(str(tmp_path), clip_len=2,
                                ann_file='train.txt')
    assert [ds.get_data_info(i)['video_id'] for i in range(len(ds))] == \
        ['c', 'a']

    (tmp_path / 'bad.txt').write_text('a\nzzz\n')
    with pytest.raises(FileNotFoundError, match=r'bad\.txt.*zzz'):
        VideoTrajectoryDataset(str(tmp_path), clip_len=2, ann_file='bad.txt')
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        VideoTrajectoryDataset(str(tmp_path), clip_len=2, ann_file='nope.txt')


def test_short_videos_skipped_with_one_warning(tmp_path, warnings_log):
    make_frames(tmp_path / 'JPEGImages' / 'long', 5, size=8)
    make_frames(tmp_path / 'JPEGImages' / 'short1', 3, size=8)
    make_frames(tmp_path / 'JPEGImages' / 'short2', 2, size=8)
    ds = VideoTrajectoryDataset(str(tmp_path), clip_len=4)
    assert len(ds) == 1 and ds.get_data_info(0)['video_id'] == 'long'
    skips = [m for m in warnings_log if 'fewer than clip_len' in m]
    assert len(skips) == 1
    assert 'skipped 2 of 3' in skips[0] and 'short1' in skips[0] \
        and 'short2' in skips[0]
    with pytest.raises(ValueError, match='clip_len=8'):
        VideoTrajectoryDataset(str(tmp_path), clip_len=8)


def test_missing_root_and_empty(tmp_path):
    missing = tmp_path / 'does_not_exist'
    with pytest.raises(FileNotFoundError, match='does_not_exist'):
        VideoTrajectoryDataset(str(missing))
    (tmp_path / 'empty' / 'JPEGImages').mkdir(parents=True)
    with pytest.raises(ValueError, match=r'no videos found under .*empty'):
        VideoTrajectoryDataset(str(tmp_path / 'empty'))


# ------------------------------------------------------------ corrupt data
def test_corrupt_frame_skipped_in_training(tmp_path, warnings_log):
    make_frames(tmp_path / 'JPEGImages' / 'bad', 4, size=8)
    make_frames(tmp_path / 'JPEGImages' / 'good', 4, size=8)
    (tmp_path / 'JPEGImages' / 'bad' / '00002.jpg').write_bytes(b'garbage')
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                clip_len=4, frame_stride=1)
    assert ds.get_data_info(0)['video_id'] == 'bad'
    np.random.seed(0)
    out = ds[0]
    assert out['video_id'] == 'good' and out['imgs'].shape == (4, 8, 8, 3)
    assert ds.num_skipped >= 1
    skips = [m for m in warnings_log if 'corrupt clip' in m]
    assert len(skips) == ds.num_skipped
    assert '00002.jpg' in skips[0] and '1 clips skipped' in skips[0]

    test_ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                     clip_len=4, frame_stride=1,
                                     test_mode=True)
    with pytest.raises(CorruptVideoError, match='00002.jpg'):
        test_ds[0]


def test_build_from_config(tmp_path):
    from mmengine.registry import DefaultScope

    import mosic_mm.datasets.transforms.formatting  # noqa: F401 (registers)
    import mosic_mm.datasets.transforms.geometry  # noqa: F401
    from mosic_mm.registry import DATASETS
    make_frames(tmp_path / 'frames' / 'v', 6, size=8)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = DATASETS.build(dict(
            type='VideoTrajectoryDataset', data_root=str(tmp_path),
            data_prefix=dict(img='frames'), clip_len=3, frame_stride=2,
            pipeline=[dict(type='LoadClip'), dict(type='ClipResize', scale=4),
                      dict(type='PackTrackInputs')]))
        out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 3, 4, 4)
    assert out['data_samples'].video_id == 'v'
