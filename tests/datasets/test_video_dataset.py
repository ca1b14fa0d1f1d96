"""VideoTrajectoryDataset: the videos of a collection (frame folders, video
files, a list file), the ones it leaves out and why, a clip per item through
the pipeline (SampleClip first), and corrupt clips skipped in training."""
import numpy as np
import pytest

from mosic_mm.datasets.sources.video_io import CorruptVideoError
from mosic_mm.datasets.transforms.formatting import PackTrackInputs
from mosic_mm.datasets.transforms.loading import LoadClip
from mosic_mm.datasets.transforms.sampling import SampleClip
from mosic_mm.datasets.video_dataset import VideoTrajectoryDataset


def _ids(ds):
    return [ds.get_data_info(i)['video_id'] for i in range(len(ds))]


def test_frame_folders_give_a_new_clip_per_item(tmp_path, make_frames):
    make_frames(tmp_path / 'JPEGImages' / 'a', 20)
    make_frames(tmp_path / 'JPEGImages' / 'b', 9)
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[
        SampleClip(clip_len=4, frame_stride=3), LoadClip()])
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['video_id'] == 'a' and info['total_frames'] == 20
    assert [p[-9:] for p in info['frame_paths'][:3]] == \
        ['00000.jpg', '00001.jpg', '00002.jpg']
    assert info['data_root'] == str(tmp_path)  # the caches' home
    assert 'frame_inds' not in info  # the pipeline's SampleClip picks them

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
    # the first clip, always: SampleClip(random_start=False), whatever the
    # mode (test_mode only decides what a corrupt clip does)
    first = VideoTrajectoryDataset(str(tmp_path), pipeline=[
        SampleClip(4, 3, random_start=False), LoadClip()])
    for _ in range(3):
        np.testing.assert_array_equal(first[1]['frame_inds'], [0, 2, 4, 6])
    drawn = VideoTrajectoryDataset(str(tmp_path), test_mode=True, pipeline=[
        SampleClip(4, 3), LoadClip()])
    assert len({int(drawn[0]['frame_inds'][0]) for _ in range(20)}) > 1


def test_video_files_at_any_depth_and_a_list_of_them(tmp_path, make_video):
    make_video(tmp_path / 'clips' / 'x.mp4', 10)
    make_video(tmp_path / 'y.avi', 6)
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[
        SampleClip(clip_len=3, frame_stride=2), LoadClip()])
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
    ds = VideoTrajectoryDataset(str(tmp_path), ann_file='list.txt',
                                pipeline=[SampleClip(clip_len=3)])
    assert _ids(ds) == ['clips/x']


def test_a_list_file_orders_and_restricts_and_bad_lists_are_named(
        tmp_path, make_frames):
    for name in ('a', 'b', 'c'):
        make_frames(tmp_path / 'JPEGImages' / name, 4, size=8)
    (tmp_path / 'train.txt').write_text('# videos\nc\n\n  a\n')
    ds = VideoTrajectoryDataset(str(tmp_path), ann_file='train.txt',
                                pipeline=[SampleClip(clip_len=2)])
    assert _ids(ds) == ['c', 'a']
    for name, text, error, match in (
            ('bad.txt', 'a\nzzz\n', FileNotFoundError, r'bad\.txt.*zzz'),
            ('wrong.txt', 'a\nnot_a_video\n', FileNotFoundError,
             r'wrong\.txt.*not_a_video'),
            ('empty.txt', '# nothing\n\n', ValueError,
             r'empty\.txt.*lists no videos'),
            ('nope.txt', None, FileNotFoundError, r'nope\.txt')):
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(error, match=match):
            VideoTrajectoryDataset(str(tmp_path), ann_file=name,
                                   pipeline=[SampleClip(clip_len=2)])


def test_videos_shorter_than_the_clip_are_left_out_with_one_warning(
        tmp_path, make_frames, warnings_log):
    make_frames(tmp_path / 'JPEGImages' / 'long', 5, size=8)
    make_frames(tmp_path / 'JPEGImages' / 'short1', 3, size=8)
    make_frames(tmp_path / 'JPEGImages' / 'short2', 2, size=8)
    root = str(tmp_path)
    # the pipeline's SampleClip sets the length the dataset needs
    ds = VideoTrajectoryDataset(root, pipeline=[SampleClip(clip_len=4)])
    assert _ids(ds) == ['long'] and ds.min_frames == 4
    skips = [m for m in warnings_log if 'fewer than clip_len' in m]
    assert len(skips) == 1
    assert 'skipped 2 of 3' in skips[0] and 'short1 (3)' in skips[0] \
        and 'short2 (2)' in skips[0]
    # min_frames overrides it; without a SampleClip nothing is left out
    assert _ids(VideoTrajectoryDataset(
        root, min_frames=3, pipeline=[SampleClip(clip_len=4)])) == [
            'long', 'short1']
    assert _ids(VideoTrajectoryDataset(root, pipeline=[LoadClip()])) == [
        'long', 'short1', 'short2']
    assert VideoTrajectoryDataset(root).min_frames == 1
    with pytest.raises(ValueError, match='clip_len=8 frames, none longer'):
        VideoTrajectoryDataset(root, pipeline=[SampleClip(clip_len=8)])


def test_unreadable_and_short_video_files_are_left_out_with_a_warning(
        tmp_path, make_video, warnings_log):
    make_video(tmp_path / 'ok.mp4', 10)
    make_video(tmp_path / 'short.mp4', 2)
    (tmp_path / 'empty.mp4').write_bytes(b'')
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[
        SampleClip(clip_len=4, frame_stride=2), LoadClip()])
    assert _ids(ds) == ['ok']
    text = '\n'.join(warnings_log)
    assert 'decord cannot open: empty.mp4' in text and 'short (2)' in text
    assert ds[0]['imgs'].shape[0] == 4


def test_a_missing_root_or_one_without_videos_is_an_error(tmp_path):
    missing = tmp_path / 'does_not_exist'
    with pytest.raises(FileNotFoundError, match='does_not_exist'):
        VideoTrajectoryDataset(str(missing))
    (tmp_path / 'empty' / 'JPEGImages').mkdir(parents=True)
    with pytest.raises(ValueError, match=r'no videos found under .*empty'):
        VideoTrajectoryDataset(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='data_root is empty'):
        VideoTrajectoryDataset('', data_prefix=dict(img=''))


def test_corrupt_clips_are_skipped_and_counted_in_training_only(
        tmp_path, make_frames, warnings_log):
    make_frames(tmp_path / 'JPEGImages' / 'bad', 4, size=8)
    make_frames(tmp_path / 'JPEGImages' / 'good', 4, size=8)
    (tmp_path / 'JPEGImages' / 'bad' / '00002.jpg').write_bytes(b'garbage')
    pipeline = [SampleClip(clip_len=4, frame_stride=1), LoadClip(),
                PackTrackInputs(meta_keys=('video_id', ))]
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=pipeline)
    assert _ids(ds) == ['bad', 'good']
    np.random.seed(0)
    counts = []
    for _ in range(3):
        out = ds[0]  # refetched: another (random) index, maybe "bad" again
        sample = out['data_samples']
        assert sample.video_id == 'good'
        assert tuple(out['inputs'].shape) == (4, 3, 8, 8)
        counts.append(sample.skipped_clips)
    # the clips skipped on the way to each item travel with it
    assert min(counts) >= 1 and sum(counts) == ds.num_skipped
    skips = [m for m in warnings_log if 'skipped a corrupt clip of "bad"' in m]
    assert len(skips) == ds.num_skipped >= 3
    assert '00002.jpg' in skips[0] and '[1 clips skipped so far' in skips[0]
    assert f'[{ds.num_skipped} clips skipped so far' in skips[-1]
    # a clean item carries 0
    assert ds[1]['data_samples'].skipped_clips == 0

    test_ds = VideoTrajectoryDataset(str(tmp_path), pipeline=pipeline,
                                     test_mode=True)
    with pytest.raises(CorruptVideoError, match='00002.jpg'):
        test_ds[0]
    assert test_ds.num_skipped == 0


def test_non_ascii_and_space_paths(tmp_path, make_frames, make_video):
    root = tmp_path / 'données vidéo'
    make_frames(root / 'JPEGImages' / 'clip ü 1', 5)
    ds = VideoTrajectoryDataset(str(root), pipeline=[SampleClip(clip_len=3),
                                                     LoadClip()])
    assert _ids(ds) == ['clip ü 1']
    assert ds[0]['imgs'].shape == (3, 32, 32, 3)
    make_video(tmp_path / 'vidéos' / 'mon clip ß.mp4', 6)
    ds = VideoTrajectoryDataset(str(tmp_path / 'vidéos'),
                                pipeline=[SampleClip(clip_len=3), LoadClip()])
    assert _ids(ds) == ['mon clip ß']
    assert ds[0]['imgs'].shape == (3, 32, 64, 3)


def test_built_from_a_config_in_the_mmpretrain_scope(tmp_path, make_frames):
    from mmengine.registry import DefaultScope

    import mosic_mm  # noqa: F401 (registers the steps)
    from mosic_mm.registry import DATASETS
    make_frames(tmp_path / 'frames' / 'v', 6, size=8)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = DATASETS.build(dict(
            type='VideoTrajectoryDataset', data_root=str(tmp_path),
            data_prefix=dict(img='frames'),
            pipeline=[dict(type='SampleClip', clip_len=3, frame_stride=2),
                      dict(type='LoadClip'), dict(type='ClipResize', scale=4),
                      dict(type='PackTrackInputs')]))
        out = ds[0]
    assert isinstance(ds.clip_sampler, SampleClip) and ds.min_frames == 3
    assert tuple(out['inputs'].shape) == (3, 3, 4, 4)
    assert out['data_samples'].video_id == 'v'
    assert (np.diff(out['data_samples'].frame_inds) == 2).all()
