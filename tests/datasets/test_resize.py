"""Frames shrink with PIL's antialiased bilinear filter (the reference's
resize), not OpenCV's aliasing 2x2 bilinear; enlarging stays bilinear."""
import numpy as np
import pytest
from PIL import Image

from mosic_mm.datasets.resize import resize_frames
from mosic_mm.datasets.transforms.geometry import (
    ClipRandomResizedCrop,
    ClipResize,
)


def pil_resize(frame: np.ndarray, hw, resample=Image.BILINEAR) -> np.ndarray:
    return np.asarray(Image.fromarray(frame).resize((hw[1], hw[0]),
                                                    resample))


def natural_frames(t, h, w, seed=0):
    """Smooth structure plus texture and noise, uint8 [T, H, W, 3]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(t):
        base = (127 + 60 * np.sin((x + 7 * i) / 37.) + 40 * np.cos(y / 23.)
                + 25 * np.sin((x * x + y * y) / 900.))
        img = base[..., None] + rng.normal(0, 20, (h, w, 3)) + [0, 9, -9]
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def above_nyquist(n):
    """uint8 [1, n, n, 3]: sin(2 pi 0.37 x) sin(2 pi 0.41 y), mean 127.5:
    all its energy lies above the Nyquist frequency (0.125 cycles/px) of a 4x
    smaller image, so a correct 4x downscale is flat."""
    y, x = np.mgrid[0:n, 0:n]
    p = 127.5 + 100 * np.sin(2 * np.pi * 0.37 * x) * np.sin(
        2 * np.pi * 0.41 * y)
    return np.repeat(np.round(p).astype(np.uint8)[None, ..., None], 3, -1)


def test_4x_downscale_keeps_the_mean_and_removes_aliasing():
    img = above_nyquist(896)
    out = resize_frames(img, (224, 224)).astype(np.float64)
    assert out.shape == (1, 224, 224, 3) and out.dtype == np.float64
    assert abs(out.mean() - img.mean()) < 0.5
    # measured: 0.48 (PIL: 0.48; OpenCV bilinear 5.6, INTER_AREA 3.2)
    assert out.std() < 1.0
    pil = pil_resize(img[0], (224, 224)).astype(np.float64)
    assert np.abs(out[0] - pil).max() <= 1
    # period-3 stripes: 85 grey on average, PIL std 3.8, OpenCV bilinear 60
    stripes = np.zeros((1, 896, 896, 3), np.uint8)
    stripes[:, :, ::3] = 255
    out = resize_frames(stripes, (224, 224)).astype(np.float64)
    assert abs(out.mean() - stripes.mean()) < 0.5 and out.std() < 5
    # the OpenCV filter the option 'cv2_bilinear' keeps does alias
    assert resize_frames(stripes, (224, 224), 'cv2_bilinear').std() > 30


@pytest.mark.parametrize('src_hw,out_hw,mean_tol', [
    ((720, 1280), (224, 224), 0.02),  # YT-VOS 720p, 3.2x / 5.7x
    ((300, 410), (224, 224), 0.02),  # a crop of a larger frame
    # shrink one axis, enlarge the other: the two 1-D passes round to uint8
    # in between in a different order than PIL (measured mean 0.2, max 1)
    ((180, 100), (45, 150), 0.3),
    ((40, 56), (97, 131), 0.02),  # enlarge: plain bilinear
])
def test_resize_frames_equals_pil_bilinear(src_hw, out_hw, mean_tol):
    frames = natural_frames(2, *src_hw)
    out = resize_frames(frames, out_hw)
    assert out.shape == (2, *out_hw, 3) and out.dtype == np.uint8
    for f, o in zip(frames, out):
        diff = np.abs(o.astype(int) - pil_resize(f, out_hw).astype(int))
        # measured: mean <= 0.002, max 1 (fixed-point rounding)
        assert diff.max() <= 1 and diff.mean() < mean_tol, (diff.mean(),
                                                            diff.max())


def test_other_filters_and_inputs():
    frames = natural_frames(1, 60, 80)
    pil = pil_resize(frames[0], (20, 30), Image.BICUBIC).astype(int)
    bicubic = resize_frames(frames, (20, 30), 'bicubic')[0].astype(int)
    assert np.abs(bicubic - pil).max() <= 1
    gray = resize_frames(frames[..., :1], (20, 30))
    assert gray.shape == (1, 20, 30, 1)
    np.testing.assert_array_equal(
        gray[0, ..., 0], pil_resize(frames[0, ..., 0], (20, 30)))
    as_float = resize_frames(frames.astype(np.float32), (20, 30))
    assert as_float.dtype == np.float32
    assert np.abs(as_float - resize_frames(frames, (20, 30))).max() <= 1
    for mode in ('nearest', 'area', 'cv2_bilinear', 'cv2_bicubic'):
        assert resize_frames(frames, (20, 30), mode).shape == (1, 20, 30, 3)
    assert resize_frames(frames, (60, 80)) is frames
    with pytest.raises(ValueError, match='interpolation'):
        resize_frames(frames, (20, 30), 'lanczos')
    with pytest.raises(ValueError, match=r'\[T, H, W, C\]'):
        resize_frames(frames[0], (20, 30))
    with pytest.raises(ValueError, match='interpolation'):
        ClipResize(scale=32, interpolation='linear')


def test_clip_transforms_resize_like_pil_by_default():
    frames = natural_frames(2, 180, 320, seed=1)
    out = ClipResize(scale=(64, 48))(dict(imgs=frames.copy()))['imgs']
    for f, o in zip(frames, out):
        assert np.abs(o.astype(int) - pil_resize(f, (48, 64))).max() <= 1
    np.random.seed(0)
    res = ClipRandomResizedCrop(size=56, scale=(0.4, 0.6))(
        dict(imgs=frames.copy()))
    x0, y0, x1, y1 = res['crop_bbox']
    for f, o in zip(frames, res['imgs']):
        ref = pil_resize(np.ascontiguousarray(f[y0:y1, x0:x1]), (56, 56))
        assert np.abs(o.astype(int) - ref).max() <= 1
