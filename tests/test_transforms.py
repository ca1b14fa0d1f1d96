"""LoadClip, clip geometry, SelectTracks and PackTrackInputs."""
import os

import cv2
import numpy as np
import pytest
import torch

from mosic_mm.datasets import video_io
from mosic_mm.datasets.transforms.formatting import PackTrackInputs
from mosic_mm.datasets.transforms.geometry import (ClipFlip,
                                                   ClipRandomResizedCrop,
                                                   ClipResize,
                                                   crop_resize_tracks,
                                                   points_inside,
                                                   sample_crop_box)
from mosic_mm.datasets.transforms.loading import LoadClip
from mosic_mm.datasets.transforms.selection import SelectTracks
from mosic_mm.datasets.video_io import CorruptVideoError


# ------------------------------------------------------------------ helpers
def blob_clip(hw, centres):
    """uint8 [T,H,W,3] with one Gaussian blob per frame at pixel centre
    (x, y) = centres[t], and tracks [T,1,2] at those centres."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for x, y in centres:
        g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5 ** 2))
        frames.append(np.repeat((g * 250)[..., None], 3, axis=2))
    tracks = np.array(centres, np.float32)[:, None, :]
    return dict(imgs=np.stack(frames).astype(np.uint8), tracks=tracks,
                visibility=np.ones(tracks.shape[:2], bool),
                img_shape=(h, w))


def assert_track_on_blob(results, tol=1.0):
    """The brightest pixel of every frame is where the (x, y) track says."""
    for t, frame in enumerate(results['imgs']):
        row, col = np.unravel_index(frame.sum(-1).argmax(), frame.shape[:2])
        x, y = results['tracks'][t, 0]
        assert abs(col - x) <= tol and abs(row - y) <= tol, \
            f'frame {t}: track (x={x:.2f}, y={y:.2f}) vs peak ' \
            f'(col={col}, row={row})'


def write_png(path, img):
    assert cv2.imwrite(str(path), img)
    return str(path)


# ------------------------------------------------------------------ LoadClip
def test_loadclip_frames_rgb_gray_rgba(tmp_path):
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR
    gray = np.full((6, 8), 77, np.uint8)
    bgra = np.zeros((6, 8, 4), np.uint8)
    bgra[..., 0] = 90  # blue, alpha 0
    paths = [write_png(tmp_path / 'a.png', bgr),
             write_png(tmp_path / 'b.png', gray),
             write_png(tmp_path / 'c.png', bgra)]
    out = LoadClip()(dict(frame_paths=paths, frame_inds=np.array([0, 1, 2])))
    imgs = out['imgs']
    assert imgs.shape == (3, 6, 8, 3) and imgs.dtype == np.uint8
    assert out['img_shape'] == out['ori_shape'] == (6, 8)
    assert (imgs[0, ..., 0] == 200).all() and (imgs[0, ..., 1:] == 0).all()
    assert (imgs[1] == 77).all()
    assert (imgs[2, ..., 2] == 90).all() and (imgs[2, ..., :2] == 0).all()

    small = LoadClip(decode_size=(3, 4))(
        dict(frame_paths=paths, frame_inds=np.array([2, 0])))
    assert small['imgs'].shape == (2, 3, 4, 3)
    assert (small['imgs'][1, ..., 0] == 200).all()


def test_loadclip_mixed_sizes_and_corrupt(tmp_path):
    a = write_png(tmp_path / 'a.png', np.zeros((6, 8, 3), np.uint8))
    b = write_png(tmp_path / 'b.png', np.zeros((5, 8, 3), np.uint8))
    with pytest.raises(CorruptVideoError, match=r'b\.png.*5x8.*6x8'):
        LoadClip()(dict(frame_paths=[a, b], frame_inds=np.array([0, 1])))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not a jpeg at all')
    with pytest.raises(CorruptVideoError, match='bad.jpg'):
        LoadClip()(dict(frame_paths=[a, str(bad)], frame_inds=[0, 1]))
    with pytest.raises(CorruptVideoError, match='missing.jpg'):
        LoadClip()(dict(frame_paths=[str(tmp_path / 'missing.jpg')],
                        frame_inds=[0]))
    with pytest.raises(KeyError, match='frame_paths'):
        LoadClip()(dict(frame_inds=[0]))


def write_video(path, n=10, hw=(32, 64)):
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


def test_loadclip_video(tmp_path, monkeypatch):
    path = write_video(tmp_path / 'v.mp4')
    out = LoadClip()(dict(video_path=path, frame_inds=np.array([1, 4, 7])))
    imgs = out['imgs']
    assert imgs.shape == (3, 32, 64, 3) and out['img_shape'] == (32, 64)
    np.testing.assert_allclose(imgs[..., 0].mean((1, 2)), [20, 80, 140],
                               atol=6)
    assert imgs[..., 2].mean() < 6
    small = LoadClip(decode_size=(16, 32))(
        dict(video_path=path, frame_inds=[0, 9]))
    assert small['imgs'].shape == (2, 16, 32, 3)

    # decord failure -> OpenCV fallback gives the same frames
    def broken(*args, **kwargs):
        raise RuntimeError('decord says no')
    monkeypatch.setattr(video_io, '_read_video_decord', broken)
    out2 = LoadClip()(dict(video_path=path, frame_inds=np.array([1, 4, 7])))
    np.testing.assert_allclose(out2['imgs'][..., 0].mean((1, 2)),
                               [20, 80, 140], atol=6)


def test_loadclip_corrupt_video(tmp_path):
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(os.urandom(2000))
    with pytest.raises(CorruptVideoError, match='bad.mp4'):
        LoadClip()(dict(video_path=str(bad), frame_inds=[0, 1]))
    path = write_video(tmp_path / 'short.avi', n=5)
    with pytest.raises(CorruptVideoError, match='short.avi'):
        LoadClip()(dict(video_path=path, frame_inds=[0, 8]))


# ------------------------------------------------------------------ geometry
def test_pure_maths():
    pts = np.array([[0., 0.], [9., 4.], [-0.5, -0.5], [9.5, 4.4]], np.float32)
    assert points_inside(pts, (5, 10)).tolist() == [True, True, True, False]
    # resize 10x5 -> 20x10 (W x H): pixel centre 0 -> 0.5, edge -0.5 stays
    out = crop_resize_tracks(pts[:3], (0, 0, 10, 5), (10, 20))
    np.testing.assert_allclose(out, [[0.5, 0.5], [18.5, 8.5], [-0.5, -0.5]])
    # crop offset only
    out = crop_resize_tracks(pts[1:2], (4, 2, 10, 5), (3, 6))
    np.testing.assert_allclose(out, [[5., 2.]])


def test_resize_tracks_follow_pixel():
    # non-square input, different x and y scale: an x/y swap cannot pass
    res = blob_clip((30, 50), [(38, 7), (12, 22)])
    out = ClipResize(scale=(80, 24))(res)  # (w, h)
    assert out['imgs'].shape == (2, 24, 80, 3)
    assert out['img_shape'] == (24, 80)
    np.testing.assert_allclose(out['tracks'][0, 0],
                               [38.5 * 1.6 - 0.5, 7.5 * 0.8 - 0.5], atol=1e-5)
    assert_track_on_blob(out)
    assert out['visibility'].all()


def test_random_resized_crop_visibility_and_pixels():
    np.random.seed(0)
    h, w = 40, 60
    ys, xs = np.mgrid[0:h:3, 0:w:3]
    grid = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)
    tracks = np.repeat(grid[None], 2, axis=0)
    vis = np.ones(tracks.shape[:2], bool)
    vis[1, 5] = False  # stays invisible whatever the crop
    crop = ClipRandomResizedCrop(size=(24, 16), scale=(0.2, 0.5))
    saw_partial = False
    for _ in range(10):
        res = dict(imgs=np.zeros((2, h, w, 3), np.uint8),
                   tracks=tracks.copy(), visibility=vis.copy())
        out = crop(res)
        x0, y0, x1, y1 = out['crop_bbox']
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert out['imgs'].shape == (2, 16, 24, 3)
        assert out['img_shape'] == (16, 24)
        x, y = tracks[..., 0], tracks[..., 1]
        in_crop = ((x >= x0 - 0.5) & (x < x1 - 0.5)
                   & (y >= y0 - 0.5) & (y < y1 - 0.5))
        np.testing.assert_array_equal(out['visibility'], in_crop & vis)
        saw_partial |= 0 < in_crop.sum() < in_crop.size
        np.testing.assert_allclose(
            out['tracks'], crop_resize_tracks(tracks, (x0, y0, x1, y1),
                                              (16, 24)))
    assert saw_partial

    # the pixel under a track after the crop is the tracked pixel
    np.random.seed(1)
    hits = 0
    for _ in range(20):
        out = ClipRandomResizedCrop(size=(48, 32), scale=(0.4, 1.0))(
            blob_clip((40, 60), [(30, 20), (33, 18)]))
        if out['visibility'].all():
            assert_track_on_blob(out, tol=1.5)
            hits += 1
    assert hits > 0


@pytest.mark.parametrize('outside,expected', [
    # default: leaving the image is occlusion, frame by frame
    ('invisible', [[True, False, True], [False, True, False]]),
    # the reference's rule: the tracker's visibility of every track that
    # starts in the image (a query of the cropped clip), none for the others
    ('keep', [[True, False, True], [True, False, False]]),
])
def test_visibility_of_points_leaving_the_image(outside, expected):
    """Track A starts inside and leaves the image (tracker: visible), B
    starts outside and comes in, C stays inside and is occluded in frame 1.
    Coordinates are never clamped."""
    tracks = np.array([[[10., 5.], [-3., 5.], [4., 4.]],
                       [[25., 5.], [6., 5.], [5., 5.]]], np.float32)
    vis = np.array([[True, True, True], [True, True, False]])
    t = ClipResize(scale=(20, 20), outside=outside)
    out = t(dict(imgs=np.zeros((2, 20, 20, 3), np.uint8),
                 tracks=tracks.copy(), visibility=vis.copy()))
    assert out['visibility'].tolist() == expected
    np.testing.assert_array_equal(out['tracks'], tracks)
    assert ClipRandomResizedCrop().outside == 'invisible'
    with pytest.raises(ValueError, match='outside'):
        ClipRandomResizedCrop(outside='clamp')


def test_sample_crop_box_bounds_and_fallback():
    rng = np.random.RandomState(0)
    for _ in range(200):
        x0, y0, x1, y1 = sample_crop_box((50, 80), (0.4, 1.0), (3 / 4, 4 / 3),
                                         rng=rng)
        cw, ch = x1 - x0, y1 - y0
        assert 0 <= x0 and x1 <= 80 and 0 <= y0 and y1 <= 50
        assert 0.35 <= cw * ch / 4000 <= 1.0
        assert 0.7 <= cw / ch <= 1.4
    # no attempts -> centre crop, ratio clamped to 4/3 for a 2:1 image
    assert sample_crop_box((30, 60), (0.4, 1.0), (3 / 4, 4 / 3), 0) == \
        (10, 0, 50, 30)
    assert sample_crop_box((30, 30), (0.4, 1.0), (3 / 4, 4 / 3), 0) == \
        (0, 0, 30, 30)


@pytest.mark.parametrize('prob,lo,hi', [(0.5, 0.35, 0.65), (0.0, 0, 0),
                                        (1.0, 1, 1)])
def test_flip_fires_with_its_probability(prob, lo, hi):
    np.random.seed(123)
    flip = ClipFlip(prob=prob)
    imgs = np.zeros((1, 2, 3, 3), np.uint8)
    n = sum(flip(dict(imgs=imgs))['flip'] for _ in range(200))
    assert lo <= n / 200 <= hi


def test_flip_moves_pixels_and_tracks():
    res = blob_clip((20, 40), [(10, 5), (35, 14)])
    flip = ClipFlip(prob=1.0)
    before = res['imgs'].copy()
    out = flip(res)
    assert out['flip'] is True
    np.testing.assert_array_equal(out['imgs'], before[:, :, ::-1])
    np.testing.assert_allclose(out['tracks'][:, 0], [[29, 5], [4, 14]])
    assert_track_on_blob(out, tol=0)
    assert out['imgs'].flags['C_CONTIGUOUS']


def test_chain_resize_crop_flip_keeps_tracks_on_pixels():
    np.random.seed(3)
    for _ in range(5):
        res = blob_clip((36, 54), [(27, 18), (24, 20)])
        for t in (ClipResize(scale=(64, 48)),
                  ClipRandomResizedCrop(size=32, scale=(0.6, 1.0)),
                  ClipFlip(prob=0.5)):
            res = t(res)
        if res['visibility'].all():
            assert_track_on_blob(res, tol=1.5)


# ------------------------------------------------------------------ selection
def test_select_tracks_subset_padding_order():
    """Subset size, padding and kept-track order; which tracks are chosen
    is tested in tests/test_track_selection.py."""
    t, n = 3, 100
    rng = np.random.RandomState(0)
    tracks = (rng.rand(t, n, 2) * [40, 30]).astype(np.float32)
    vis = np.ones((t, n), bool)
    vis[0, ::2] = False  # 50 visible in frame 0 (odd indices)
    vis[2, 1] = False
    res = dict(tracks=tracks, visibility=vis, img_shape=(30, 40))
    out = SelectTracks(num_tracks=10)(dict(res))
    assert out['tracks'].shape == (t, 10, 2)
    assert out['visibility'].shape == (t, 10)
    # 10 distinct frame-0-visible tracks, rows copied whole, index order
    rows = [np.flatnonzero((tracks[0] == p).all(1))[0]
            for p in out['tracks'][0]]
    assert len(set(rows)) == 10 and rows == sorted(rows)
    assert all(r % 2 == 1 for r in rows)
    np.testing.assert_array_equal(out['tracks'], tracks[:, rows])
    np.testing.assert_array_equal(out['visibility'], vis[:, rows])

    few = SelectTracks(num_tracks=64)(dict(res))
    assert few['tracks'].shape == (t, 64, 2)
    np.testing.assert_array_equal(few['tracks'][:, :50], tracks[:, 1::2])
    assert (few['tracks'][:, 50:] == 0).all()
    assert not few['visibility'][:, 50:].any()
    assert few['visibility'][0, :50].all()
    assert not few['visibility'][2, 0]

    with pytest.raises(KeyError, match='visibility'):
        SelectTracks()(dict(tracks=tracks))
    with pytest.raises(KeyError, match='img_shape'):
        SelectTracks(num_tracks=10)(dict(tracks=tracks, visibility=vis))


# ------------------------------------------------------------------ packing
def test_pack_track_inputs():
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 255, (2, 5, 7, 3)).astype(np.uint8)
    res = dict(imgs=imgs, tracks=rng.rand(2, 4, 2), visibility=np.ones((2, 4)),
               video_id='v', frame_inds=np.array([0, 3]), img_shape=(5, 7),
               flip=True)
    out = PackTrackInputs()(res)
    x, ds = out['inputs'], out['data_samples']
    assert x.shape == (2, 3, 5, 7) and x.dtype == torch.uint8
    assert x.is_contiguous()
    assert x[1, 2, 4, 6] == imgs[1, 4, 6, 2]
    assert ds.tracks.dtype == torch.float32 and ds.tracks.shape == (2, 4, 2)
    assert ds.visibility.dtype == torch.bool and ds.visibility.shape == (2, 4)
    assert ds.video_id == 'v' and ds.flip is True
    assert 'crop_bbox' not in ds.metainfo_keys()
    with pytest.raises(ValueError, match='disagree'):
        PackTrackInputs()(dict(imgs=imgs, tracks=np.zeros((3, 4, 2)),
                               visibility=np.ones((3, 4), bool)))


def test_registered():
    from mosic_mm.registry import TRANSFORMS
    for name in ('LoadClip', 'ClipResize', 'ClipRandomResizedCrop',
                 'ClipFlip', 'SelectTracks', 'PackTrackInputs'):
        assert TRANSFORMS.get(name) is not None, name
    assert isinstance(TRANSFORMS.build(dict(type='ClipFlip', prob=0.3)),
                      ClipFlip)


# ------------------------------------------------------- crop distribution
def _boxes(n, hw, scale, ratio, seed=0):
    """[n, 4] boxes (x0, y0, w, h) from sample_crop_box."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        x0, y0, x1, y1 = sample_crop_box(hw, scale, ratio, rng=rng)
        out.append((x0, y0, x1 - x0, y1 - y0))
    return np.array(out)


def _torchvision_boxes(n, hw, scale, ratio, seed=0):
    """The same draw with torchvision's RandomResizedCrop.get_params (the
    algorithm of the reference's clip RandomResizedCrop)."""
    from torchvision.transforms import RandomResizedCrop
    torch.manual_seed(seed)
    img = torch.empty(1, *hw)
    out = [RandomResizedCrop.get_params(img, list(scale), list(ratio))
           for _ in range(n)]
    return np.array([(j, i, w, h) for i, j, h, w in out])


def test_crop_positions_cover_every_offset_uniformly():
    """A fixed crop size (one scale, one ratio) on a non-square image: every
    x0 in 0..W-w and y0 in 0..H-h is drawn, about equally often."""
    hw = (40, 70)
    boxes = _boxes(6000, hw, (0.3, 0.3), (1.5, 1.5))
    w, h = boxes[0, 2], boxes[0, 3]
    assert (boxes[:, 2] == w).all() and (boxes[:, 3] == h).all()
    assert w == round((0.3 * 40 * 70 * 1.5)**0.5) and w > h
    for col, span in ((0, hw[1] - w), (1, hw[0] - h)):
        counts = np.bincount(boxes[:, col], minlength=span + 1)
        assert counts.size == span + 1  # never beyond the image
        expected = len(boxes) / (span + 1)
        assert counts.min() > 0.6 * expected and \
            counts.max() < 1.4 * expected, (col, counts)


@pytest.mark.parametrize('ratio', [(3 / 4, 4 / 3), (1 / 4, 4.0)])
def test_crop_box_distribution_matches_torchvision(ratio):
    """Two-sample KS tests of width, height and relative position against
    torchvision's get_params (area uniform in scale, aspect log-uniform in
    ratio, uniform position)."""
    from scipy.stats import ks_2samp
    hw, scale, n = (90, 160), (0.4, 1.0), 3000
    ours = _boxes(n, hw, scale, ratio, seed=1)
    ref = _torchvision_boxes(n, hw, scale, ratio, seed=1)
    for name, a, b in (
            ('w', ours[:, 2], ref[:, 2]), ('h', ours[:, 3], ref[:, 3]),
            ('log aspect', np.log(ours[:, 2] / ours[:, 3]),
             np.log(ref[:, 2] / ref[:, 3])),
            ('area', ours[:, 2] * ours[:, 3], ref[:, 2] * ref[:, 3]),
            ('x0 rel', ours[:, 0] / np.maximum(1, hw[1] - ours[:, 2]),
             ref[:, 0] / np.maximum(1, hw[1] - ref[:, 2])),
            ('y0 rel', ours[:, 1] / np.maximum(1, hw[0] - ours[:, 3]),
             ref[:, 1] / np.maximum(1, hw[0] - ref[:, 3]))):
        assert ks_2samp(a, b).pvalue > 1e-3, name
