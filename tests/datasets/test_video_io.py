"""Reading frames and videos: every unreadable input is a CorruptVideoError
naming the file (what the dataset skips in training), read directly or
through LoadClip; grayscale and RGBA frames become RGB."""
import os

import cv2
import numpy as np
import pytest

from mosic_mm.datasets.sources.video_io import (
    CorruptVideoError,
    read_frame,
    read_video,
)
from mosic_mm.datasets.transforms.loading import LoadClip


def _jpeg_bytes(size=32, value=100):
    ok, buf = cv2.imencode('.jpg', np.full((size, size, 3), value, np.uint8))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('kind', ['zero-length', 'garbage', 'truncated',
                                  'missing'])
def test_a_corrupt_or_missing_frame_names_the_file(tmp_path, kind):
    good = tmp_path / 'good.jpg'
    good.write_bytes(_jpeg_bytes())
    path = tmp_path / 'bad.jpg'
    if kind != 'missing':
        path.write_bytes({'zero-length': b'',
                          'garbage': b'not a jpeg at all' * 10,
                          'truncated': _jpeg_bytes()[:40]}[kind])
    with pytest.raises(CorruptVideoError, match='bad.jpg'):
        read_frame(str(path))
    with pytest.raises(CorruptVideoError, match='bad.jpg'):
        LoadClip()(dict(frame_paths=[str(good), str(path)],
                        frame_inds=[0, 1]))


@pytest.mark.parametrize('kind', ['zero-length', 'garbage', 'random',
                                  'truncated', 'missing', 'too short'])
def test_a_corrupt_or_missing_video_names_the_file(tmp_path, make_video,
                                                   kind):
    good = make_video(tmp_path / 'good.mp4', 12)
    data = good.read_bytes()
    inds = list(range(0, 12, 2))
    path = tmp_path / 'bad.mp4'
    if kind == 'too short':  # frames beyond its end
        path = make_video(tmp_path / 'bad.avi', 5)
        inds = [0, 8]
    elif kind != 'missing':
        path.write_bytes({'zero-length': b'', 'garbage': b'\x00junk' * 500,
                          'random': os.urandom(2000),
                          'truncated': data[:len(data) // 3]}[kind])
    name = path.name
    with pytest.raises(CorruptVideoError, match=name):
        read_video(str(path), inds)
    with pytest.raises(CorruptVideoError, match=name):
        LoadClip()(dict(video_path=str(path), frame_inds=inds))


def test_grayscale_and_rgba_frames_become_rgb(tmp_path):
    gray = np.full((6, 8), 77, np.uint8)
    bgra = np.zeros((6, 8, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 200, 128  # BGRA: red, half transparent
    clear = np.zeros((6, 8, 4), np.uint8)
    clear[..., 0] = 90  # blue, alpha 0: the colour is kept as it is
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 1] = 60  # green
    paths = []
    for name, img in (('g.png', gray), ('a.png', bgra), ('c.png', clear),
                      ('b.png', bgr)):
        assert cv2.imwrite(str(tmp_path / name), img)
        paths.append(str(tmp_path / name))
    g, a = read_frame(paths[0]), read_frame(paths[1])
    assert g.shape == a.shape == (6, 8, 3) and g.dtype == np.uint8
    assert (g == 77).all()
    assert (a[..., 0] == 200).all() and (a[..., 1:] == 0).all()
    # the same through LoadClip, with colour frames among them
    out = LoadClip()(dict(frame_paths=paths, frame_inds=np.arange(4)))
    imgs = out['imgs']
    assert imgs.shape == (4, 6, 8, 3) and imgs.dtype == np.uint8
    assert (imgs[0] == 77).all()
    np.testing.assert_array_equal(imgs[1], a)
    assert (imgs[2, ..., 2] == 90).all() and (imgs[2, ..., :2] == 0).all()
    assert (imgs[3, ..., 1] == 60).all() and (imgs[3, ..., ::2] == 0).all()
