"""Clip geometry (resize, random resized crop, flip: the same geometry on
every frame and on the tracks, which stay on their pixels) and
PackTrackInputs."""
import numpy as np
import pytest
import torch

from mosic_mm.datasets.transforms.formatting import PackTrackInputs
from mosic_mm.datasets.transforms.geometry import (
    ClipFlip,
    ClipRandomResizedCrop,
    ClipResize,
)
from mosic_mm.structures import crop_resize_points


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


# ------------------------------------------------------------------ geometry
def test_resize_keeps_tracks_on_their_pixels():
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
            out['tracks'], crop_resize_points(tracks, (x0, y0, x1, y1),
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


# ------------------------------------------------------------------ packing
def test_pack_gives_a_uint8_clip_and_a_data_sample_with_tracks():
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


def test_the_pipeline_steps_are_registered():
    from mosic_mm.registry import TRANSFORMS
    for name in ('SampleClip', 'LoadClip', 'ClipResize',
                 'ClipRandomResizedCrop', 'ClipFlip', 'SelectTracks',
                 'PackTrackInputs'):
        assert TRANSFORMS.get(name) is not None, name
    assert isinstance(TRANSFORMS.build(dict(type='ClipFlip', prob=0.3)),
                      ClipFlip)


