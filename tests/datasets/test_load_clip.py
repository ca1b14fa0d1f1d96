"""LoadClip: the frames ``frame_inds`` of a frame folder or a video file, in
order, RGB, at the source size or ``decode_size``."""
import cv2
import numpy as np
import pytest

from mosic_mm.datasets.sources import video_io
from mosic_mm.datasets.sources.video_io import CorruptVideoError
from mosic_mm.datasets.transforms.loading import LoadClip


def _write_png(path, img):
    assert cv2.imwrite(str(path), img)
    return str(path)


def _write_video(path, n=10, hw=(32, 64)):
    """Frame i: red channel 20*i, blue 0 (RGB), so order and colour are
    checkable."""
    h, w = hw
    fourcc = 'MJPG' if str(path).endswith('.avi') else 'mp4v'
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10,
                         (w, h))
    assert vw.isOpened()
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 2] = 20 * i
        vw.write(f)
    vw.release()
    return str(path)


def test_frames_in_the_asked_order_and_size(tmp_path):
    paths = []
    for i, value in enumerate((200, 100, 30)):
        red = np.zeros((6, 8, 3), np.uint8)
        red[..., 2] = value  # red in BGR
        paths.append(_write_png(tmp_path / f'{i}.png', red))
    out = LoadClip()(dict(frame_paths=paths, frame_inds=np.array([2, 0, 1])))
    assert out['imgs'].shape == (3, 6, 8, 3)
    assert out['img_shape'] == out['ori_shape'] == (6, 8)
    assert out['imgs'][..., 0].mean((1, 2)).tolist() == [30, 200, 100]
    assert (out['imgs'][..., 1:] == 0).all()
    assert out['imgs'].flags['C_CONTIGUOUS']
    small = LoadClip(decode_size=(3, 4))(
        dict(frame_paths=paths, frame_inds=np.array([2, 0])))
    assert small['imgs'].shape == (2, 3, 4, 3)
    assert small['img_shape'] == (3, 4)
    assert (small['imgs'][1, ..., 0] == 200).all()


def test_frames_of_different_sizes_are_corrupt_unless_decoded_to_one(
        tmp_path, make_frames):
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


def test_video_frames_and_the_opencv_fallback(tmp_path, monkeypatch):
    path = _write_video(tmp_path / 'v.mp4')
    out = LoadClip()(dict(video_path=path, frame_inds=np.array([1, 4, 7])))
    imgs = out['imgs']
    assert imgs.shape == (3, 32, 64, 3) and out['img_shape'] == (32, 64)
    np.testing.assert_allclose(imgs[..., 0].mean((1, 2)), [20, 80, 140],
                               atol=6)
    assert imgs[..., 2].mean() < 6
    small = LoadClip(decode_size=(16, 32))(
        dict(video_path=path, frame_inds=[0, 9]))
    assert small['imgs'].shape == (2, 16, 32, 3)

    # without PyAV, a decord failure -> the OpenCV fallback gives the same
    # frames
    def broken(*args, **kwargs):
        raise RuntimeError('decord says no')
    used, cv2_reader = [], video_io._read_video_cv2

    def spy(*args, **kwargs):
        used.append(1)
        return cv2_reader(*args, **kwargs)
    monkeypatch.setattr(video_io, '_pyav_available', lambda: False)
    monkeypatch.setattr(video_io, '_read_video_decord', broken)
    monkeypatch.setattr(video_io, '_read_video_cv2', spy)
    out2 = LoadClip()(dict(video_path=path, frame_inds=np.array([1, 4, 7])))
    assert used
    np.testing.assert_allclose(out2['imgs'][..., 0].mean((1, 2)),
                               [20, 80, 140], atol=6)


def test_missing_keys_and_bad_settings_are_errors_naming_them(tmp_path):
    path = _write_png(tmp_path / 'a.png', np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(KeyError, match='frame_inds'):
        LoadClip()(dict(frame_paths=[path]))
    with pytest.raises(KeyError, match='frame_paths'):
        LoadClip()(dict(frame_inds=[0]))
    with pytest.raises(ValueError, match='interpolation'):
        LoadClip(interpolation='lanczos9')
    with pytest.raises(ValueError, match='frame_cache=True needs decode_size'):
        LoadClip(frame_cache=True)
    # the full-size decode path is a choice
    img = np.full((64, 96, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / 'b.jpg'), img)
    load = LoadClip(decode_size=(16, 24), reduced_decode=False)
    assert not load.reduced_decode
    out = load(dict(frame_paths=[str(tmp_path / 'b.jpg')], frame_inds=[0]))
    assert out['imgs'].shape == (1, 16, 24, 3)
