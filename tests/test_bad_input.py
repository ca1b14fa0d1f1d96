"""The bad-input catalogue: each case gives a clear error naming the file or
setting, or a logged skip with a count. (NaN/Inf losses: test_nonfinite.py;
track caches: issue 3.)"""
import cv2
import numpy as np
import pytest
import torch

from conftest import SYNTHETIC_CONFIG, tiny_model_cfg, tiny_train_overrides
from mosic_mm.datasets.transforms.loading import LoadClip
from mosic_mm.datasets.video_io import (CorruptVideoError, read_frame,
                                        read_video)
from mosic_mm.datasets.video_trajectory_dataset import VideoTrajectoryDataset
from test_dataset import LogCapture, make_frames, make_video  # noqa: F401
from test_dataset import warnings_log  # noqa: F401  (fixture)


def jpeg_bytes(size=32, value=100):
    ok, buf = cv2.imencode('.jpg', np.full((size, size, 3), value, np.uint8))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('content', [b'', b'not a jpeg at all' * 10,
                                     jpeg_bytes()[:40]],
                         ids=['zero-length', 'garbage', 'truncated'])
def test_corrupt_jpeg_names_the_file(tmp_path, content):
    path = tmp_path / 'bad.jpg'
    path.write_bytes(content)
    with pytest.raises(CorruptVideoError, match='bad.jpg'):
        read_frame(str(path))


@pytest.mark.parametrize('kind', ['zero-length', 'garbage', 'truncated'])
def test_corrupt_video_names_the_file(tmp_path, kind):
    good = make_video(tmp_path / 'good.mp4', 12)
    data = good.read_bytes()
    content = {'zero-length': b'', 'garbage': b'\x00junk' * 500,
               'truncated': data[:len(data) // 3]}[kind]
    path = tmp_path / 'bad.mp4'
    path.write_bytes(content)
    with pytest.raises(CorruptVideoError, match='bad.mp4'):
        read_video(str(path), list(range(0, 12, 2)))


def test_unreadable_and_short_videos_are_skipped_with_a_warning(
        tmp_path, warnings_log):
    make_video(tmp_path / 'ok.mp4', 10)
    make_video(tmp_path / 'short.mp4', 2)
    (tmp_path / 'empty.mp4').write_bytes(b'')
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                clip_len=4, frame_stride=2)
    assert [ds.get_data_info(i)['video_id'] for i in range(len(ds))] == ['ok']
    text = '\n'.join(warnings_log)
    assert 'empty.mp4' in text and 'short (2)' in text
    assert ds[0]['imgs'].shape[0] == 4


def test_corrupt_frame_in_training_is_skipped_and_counted(tmp_path,
                                                          warnings_log):
    make_frames(tmp_path / 'JPEGImages' / 'a', 6)
    make_frames(tmp_path / 'JPEGImages' / 'b', 6)
    for f in (tmp_path / 'JPEGImages' / 'b').iterdir():
        f.write_bytes(b'')
    ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                clip_len=3, frame_stride=1)
    np.random.seed(0)
    for _ in range(3):
        assert ds[1]['video_id'] == 'a'  # refetched another video
    # each refetch is random and may hit "b" again: >= 1 skip per call
    skips = [m for m in warnings_log if 'skipped a corrupt clip of "b"' in m]
    assert ds.num_skipped == len(skips) >= 3
    assert f'{ds.num_skipped} clips skipped so far' in skips[-1]
    test_ds = VideoTrajectoryDataset(str(tmp_path), pipeline=[LoadClip()],
                                     clip_len=3, test_mode=True)
    with pytest.raises(CorruptVideoError, match='00000.jpg'):
        test_ds[1]


def test_mixed_frame_sizes_in_one_folder(tmp_path):
    folder = make_frames(tmp_path / 'v', 3, size=32)
    cv2.imwrite(str(folder / '00001.jpg'), np.zeros((40, 32, 3), np.uint8))
    results = dict(frame_paths=sorted(str(p) for p in folder.iterdir()),
                   frame_inds=np.arange(3))
    with pytest.raises(CorruptVideoError,
                       match=r'00001.jpg is 40x32.*00000.jpg is 32x32'):
        LoadClip().transform(dict(results))
    # decode_size makes such a folder usable
    out = LoadClip(decode_size=(24, 24)).transform(dict(results))
    assert out['imgs'].shape == (3, 24, 24, 3)


def test_grayscale_and_rgba_frames_become_rgb(tmp_path):
    gray = np.full((16, 16), 77, np.uint8)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 128  # BGRA: red, half transparent
    cv2.imwrite(str(tmp_path / 'g.png'), gray)
    cv2.imwrite(str(tmp_path / 'a.png'), rgba)
    g, a = read_frame(str(tmp_path / 'g.png')), read_frame(
        str(tmp_path / 'a.png'))
    assert g.shape == a.shape == (16, 16, 3) and g.dtype == np.uint8
    assert (g == 77).all() and (a[..., 0] == 200).all() and \
        (a[..., 1:] == 0).all()


def test_non_ascii_and_space_paths(tmp_path):
    root = tmp_path / 'données vidéo'
    make_frames(root / 'JPEGImages' / 'clip ü 1', 5)
    ds = VideoTrajectoryDataset(str(root), pipeline=[LoadClip()], clip_len=3)
    assert ds[0]['imgs'].shape == (3, 32, 32, 3)
    make_video(tmp_path / 'vidéos' / 'mon clip ß.mp4', 6)
    ds = VideoTrajectoryDataset(str(tmp_path / 'vidéos'),
                                pipeline=[LoadClip()], clip_len=3)
    assert ds.get_data_info(0)['video_id'] == 'mon clip ß'
    assert ds[0]['imgs'].shape == (3, 32, 64, 3)


def test_empty_or_wrong_annotation_list(tmp_path):
    make_frames(tmp_path / 'JPEGImages' / 'a', 4, size=8)
    (tmp_path / 'empty.txt').write_text('# nothing\n\n')
    with pytest.raises(ValueError, match='empty.txt.*lists no videos'):
        VideoTrajectoryDataset(str(tmp_path), clip_len=2,
                               ann_file='empty.txt')
    (tmp_path / 'wrong.txt').write_text('a\nnot_a_video\n')
    with pytest.raises(FileNotFoundError, match='wrong.txt.*not_a_video'):
        VideoTrajectoryDataset(str(tmp_path), clip_len=2,
                               ann_file='wrong.txt')


def test_inconsistent_widths_in_the_config():
    from mosic_mm.registry import MODELS
    cfg = tiny_model_cfg()
    cfg['head'] = dict(cfg['head'], in_channels=48)  # backbone is 32 wide
    with pytest.raises(ValueError, match=r'model.head.in_channels=48.*32'):
        MODELS.build(cfg)


@pytest.mark.parametrize('resume', [False, True], ids=['load_from',
                                                       'resume'])
def test_checkpoint_of_another_architecture(tmp_path, synthetic_root,
                                            resume):
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mosic_mm.registry import MODELS
    other = MODELS.build(tiny_model_cfg(backbone=dict(
        tiny_model_cfg()['backbone'], arch=dict(
            embed_dims=48, num_layers=2, num_heads=2,
            feedforward_channels=64))))
    path = tmp_path / 'other arch.pth'
    # a training checkpoint (optimizer included) of another architecture
    torch.save(dict(meta=dict(iter=3), state_dict=other.state_dict(),
                    optimizer=torch.optim.AdamW(
                        other.parameters()).state_dict()), path)

    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    cfg.merge_from_dict(tiny_train_overrides(synthetic_root, 4))
    cfg.work_dir = str(tmp_path / 'w')
    cfg.load_from, cfg.resume = str(path), resume
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as e:
        runner.train()
    msg = str(e.value)
    assert 'other arch.pth' in msg
    assert 'backbone.cls_token: checkpoint (1, 1, 48) vs model (1, 1, 32)' \
        in msg
