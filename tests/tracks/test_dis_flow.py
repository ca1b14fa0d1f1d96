"""DISFlowTracker (chained DIS optical flow with forward-backward and
motion-boundary checks), on procedural clips with known motion: a smooth
random texture warped by known affine maps (cv2.warpAffine moves a source
point p to M @ (p, 1)), so every query's true position is known in every
frame; and with DIS replaced by known flow fields."""

import cv2
import numpy as np
import pytest

from mosic_mm.structures import grid_queries
from mosic_mm.tracks.trackers import DISFlowTracker, dis_flow
from mosic_mm.tracks.trackers.dis_flow import _bilinear

PAD = 60  # texture margin around the visible window: no border effects


# ------------------------------------------------------------------ helpers
def texture(h, w, seed=0):
    """float32 [h, w, 3] in 0..255: Gaussian-blurred noise at 3 scales."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((h, w, 3), np.float32)
    for sigma, amp in ((1.0, 0.5), (3.0, 1.0), (8.0, 1.5)):
        noise = rng.standard_normal((h, w, 3)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        acc += amp * noise / noise.std()
    acc = (acc - acc.mean()) / acc.std()
    return np.clip(128 + 45 * acc, 0, 255).astype(np.float32)


def to_uint8(frames):
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


def affine_clip(h, w, mats, seed=0):
    """Frames [T,h,w,3] of a texture warped by mats[t] (2x3, window pixels),
    and a function mapping frame-0 points [N,2] (x, y) to truth [T,N,2]."""
    big = texture(h + 2 * PAD, w + 2 * PAD, seed)
    shift = np.array([[1, 0, PAD], [0, 1, PAD], [0, 0, 1]], np.float64)
    frames, full = [], []
    for m in mats:
        # the same map in texture pixels
        m_big = shift @ np.vstack([m, [0, 0, 1]]) @ np.linalg.inv(shift)
        warped = cv2.warpAffine(big, m_big[:2], (big.shape[1], big.shape[0]),
                                flags=cv2.INTER_CUBIC)
        frames.append(warped[PAD:PAD + h, PAD:PAD + w])
        full.append(np.asarray(m, np.float64))

    def ground_truth(xy):
        return np.stack([xy @ m[:, :2].T + m[:, 2]
                         for m in full]).astype(np.float32)

    return to_uint8(frames), ground_truth


def translation_clip(h, w, num_frames, velocity, seed=0):
    vx, vy = velocity
    mats = [np.array([[1, 0, vx * t], [0, 1, vy * t]], np.float64)
            for t in range(num_frames)]
    return affine_clip(h, w, mats, seed)


def inside(xy, h, w, margin=0.0):
    x, y = xy[..., 0], xy[..., 1]
    return ((x >= -0.5 + margin) & (x < w - 0.5 - margin)
            & (y >= -0.5 + margin) & (y < h - 0.5 - margin))


def errors(tracks, gt):
    return np.linalg.norm(tracks - gt, axis=-1)


def test_bilinear_lookup_uses_x_as_column():
    h, w = 5, 7
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.stack([xx + 10 * yy, -xx], axis=-1)  # linear: exact samples
    xy = np.float32([[2.25, 1.5], [6.0, 0.0], [0.5, 3.75], [9.0, -2.0]])
    expected = [[17.25, -2.25], [6.0, -6.0], [38.0, -0.5],
                [6.0, -6.0]]  # the last point is outside: clamped to (6, 0)
    np.testing.assert_allclose(_bilinear(field, xy), expected, atol=1e-5)


def test_subpixel_translation():
    h, w, T = 64, 96, 8
    frames, gt_fn = translation_clip(h, w, T, (1.3, -0.7))
    q = grid_queries(h, w, 10)
    tracks, vis = DISFlowTracker().track(frames, q)
    assert tracks.dtype == np.float32 and tracks.shape == (T, 100, 2)
    assert vis.dtype == bool and vis.shape == (T, 100)
    gt = gt_fn(q[:, 1:])
    ok = inside(gt, h, w, margin=2)
    assert np.median(errors(tracks, gt)[ok]) < 0.5
    assert vis[ok].mean() > 0.95
    np.testing.assert_array_equal(tracks[0], q[:, 1:])
    assert vis[0].all()


@pytest.mark.parametrize('axis', [0, 1])
def test_motion_along_one_axis_moves_only_that_coordinate(axis):
    """x is the column: horizontal motion changes x only, and vertical
    motion y only. Non-square frames, so a row/column mix-up cannot hide."""
    h, w, T, speed = 48, 80, 6, 2.0
    velocity = (speed, 0.0) if axis == 0 else (0.0, speed)
    frames, gt_fn = translation_clip(h, w, T, velocity, seed=1)
    q = grid_queries(h, w, 8)
    tracks, vis = DISFlowTracker().track(frames, q)
    disp = tracks[-1] - tracks[0]  # [N, 2]
    keep = vis[-1]
    assert keep.mean() > 0.6  # some points leave the image
    np.testing.assert_allclose(np.median(disp[keep, axis]), speed * (T - 1),
                               atol=0.3)
    assert abs(np.median(disp[keep, 1 - axis])) < 0.15
    assert np.median(errors(tracks, gt_fn(q[:, 1:]))[vis]) < 0.3


def test_rotation_and_scale():
    """Spatially varying motion: rotation + zoom about an off-centre point."""
    h, w, T = 72, 104, 8
    mats = [cv2.getRotationMatrix2D((40.0, 30.0), 2.0 * t, 1.02**t)
            for t in range(T)]
    frames, gt_fn = affine_clip(h, w, mats, seed=2)
    q = grid_queries(h, w, 10)
    tracks, vis = DISFlowTracker().track(frames, q)
    gt = gt_fn(q[:, 1:])
    ok = inside(gt, h, w, margin=3)
    assert np.median(errors(tracks, gt)[ok]) < 0.5
    assert vis[ok].mean() > 0.9


def test_max_side_rescales_flow():
    h, w, T = 96, 128, 6
    frames, gt_fn = translation_clip(h, w, T, (2.0, 1.0), seed=3)
    q = grid_queries(h, w, 8)
    tracker = DISFlowTracker(max_side=64)  # flow at 48x64: half resolution
    tracks, vis = tracker.track(frames, q)
    gt = gt_fn(q[:, 1:])
    ok = inside(gt, h, w, margin=4)
    assert np.median(errors(tracks, gt)[ok]) < 0.8
    assert vis[ok].mean() > 0.9


def test_chaining_and_forward_backward_test_with_known_flows(monkeypatch):
    """DIS replaced by exact flow fields: checks the chaining arithmetic and
    that B is sampled at p + F(p), as in the Sundaram et al. test."""
    h, w = 40, 48
    frames = np.stack(
        [np.full((h, w, 3), 10 * t + 5, np.uint8) for t in range(3)])

    def const(u, v):
        return np.broadcast_to(np.float32([u, v]), (h, w, 2)).copy()

    step = const(-3, 0)  # frame 1 -> 0: x >= 20 came from 3 px to the left,
    step[:, :20] = 0  # x < 20 is static
    flows = {(0, 1): const(3, 0), (1, 0): step,
             (1, 2): const(1.25, -0.5), (2, 1): const(-1.25, 0.5)}

    class FakeDIS:

        def calc(self, prev, nxt, flow):
            key = (int(prev[0, 0]) // 10, int(nxt[0, 0]) // 10)
            return flows[key].copy()

    monkeypatch.setattr(dis_flow.cv2, 'DISOpticalFlow_create',
                        lambda preset: FakeDIS())
    q = np.float32([[0, 18, 10], [0, 30, 10], [0, 10, 10]])
    tracks, vis = DISFlowTracker().track(frames, q)
    np.testing.assert_allclose(tracks[:, 0],
                               [[18, 10], [21, 10], [22.25, 9.5]])
    np.testing.assert_allclose(tracks[:, 1],
                               [[30, 10], [33, 10], [34.25, 9.5]])
    np.testing.assert_array_equal(vis[:, :2], True)
    # p + F(p) = (13, 10) maps back by 0, not -3: inconsistent, so lost for
    # good, and it keeps its last accepted velocity (none yet: 0)
    np.testing.assert_allclose(tracks[:, 2], [[10, 10]] * 3)
    np.testing.assert_array_equal(vis[:, 2], [True, False, False])


# ------------------------------------------------- occlusion and lost points
def occlusion_clip(h, w, T, size, speed, bg_speed):
    """A textured square sliding right at ``speed`` px/frame over a textured
    background moving right at ``bg_speed``. Returns frames and the square's
    boxes (x0, y0, x1, y1): it covers pixel centres x0 <= x <= x1 - 1."""
    big = texture(h + 2 * PAD, w + 2 * PAD, seed=4)
    square = texture(size, size, seed=5)
    y0 = (h - size) // 2
    frames, boxes = [], []
    for t in range(T):
        m = np.float32([[1, 0, bg_speed * t], [0, 1, 0]])
        bg = cv2.warpAffine(big, m, (big.shape[1], big.shape[0]),
                            flags=cv2.INTER_CUBIC)[PAD:PAD + h, PAD:PAD + w]
        x0 = 4 + speed * t
        m = np.float32([[1, 0, x0], [0, 1, y0]])
        fg = cv2.warpAffine(square, m, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(np.ones((size, size), np.float32), m, (w, h))
        frames.append(bg * (1 - alpha[..., None]) + fg * alpha[..., None])
        boxes.append((x0, y0, x0 + size, y0 + size))
    return to_uint8(frames), boxes


def in_box(xy, box, margin):
    x0, y0, x1, y1 = box
    x, y = xy[..., 0], xy[..., 1]
    return ((x >= x0 + margin) & (x <= x1 - 1 - margin)
            & (y >= y0 + margin) & (y <= y1 - 1 - margin))


def test_occluded_points_become_invisible():
    h, w, T, size, speed, bg_speed = 96, 128, 10, 36, 3.5, 0.5
    frames, boxes = occlusion_clip(h, w, T, size, speed, bg_speed)
    q = grid_queries(h, w, 16)
    tracks, vis = DISFlowTracker().track(frames, q)
    steps = np.arange(T)[:, None, None]
    gt = q[None, :, 1:] + np.float32([bg_speed, 0]) * steps  # background
    on_square = in_box(q[:, 1:], boxes[0], -1.0)
    covered = np.stack([in_box(gt[t], boxes[t], 1.0) for t in range(T)])
    covered &= ~on_square
    near = np.stack([in_box(gt[t], boxes[t], -3.0) for t in range(T)])
    near = near.any(0) | on_square
    assert covered.sum() > 30 and (~near).sum() > 100
    assert vis[covered].mean() < 0.05  # covered background: not visible
    assert vis[:, ~near].mean() > 0.9  # never-covered background: visible
    assert np.median(errors(tracks, gt)[:, ~near][vis[:, ~near]]) < 0.5
    # points on the square move with it
    interior = in_box(q[:, 1:], boxes[0], 3.0)
    assert interior.sum() >= 4
    dx = tracks[-1, interior, 0] - tracks[0, interior, 0]
    np.testing.assert_allclose(np.median(dx), speed * (T - 1), atol=1.5)


def test_points_leaving_the_image_become_invisible_and_are_not_clamped():
    h, w, T, speed = 48, 64, 8, 5.0
    frames, gt_fn = translation_clip(h, w, T, (speed, 0.0), seed=6)
    q = grid_queries(h, w, 8)
    tracks, vis = DISFlowTracker().track(frames, q)
    gt = gt_fn(q[:, 1:])
    gone = gt[..., 0] >= w - 0.5 + 1.0
    assert gone.sum() > 20
    assert not vis[gone].any()
    assert (tracks[gone][:, 0] > w - 0.5).all()  # not clamped
    # lost points keep their last velocity
    assert np.median(errors(tracks, gt)[gone]) < 1.0
    stay = inside(gt, h, w, margin=2).all(0)
    assert vis[:, stay].mean() > 0.9


def test_lost_points_stay_lost():
    """Content moves right out of the image, then comes back: the points
    that left stay invisible (chained flow does not re-acquire them)."""
    h, w, T, speed = 48, 64, 9, 4.0
    offsets = [speed * min(t, T - 1 - t) for t in range(T)]  # 0..16..0
    mats = [np.array([[1, 0, o], [0, 1, 0]], np.float64) for o in offsets]
    frames, gt_fn = affine_clip(h, w, mats, seed=7)
    q = grid_queries(h, w, 8)
    tracks, vis = DISFlowTracker().track(frames, q)
    gt = gt_fn(q[:, 1:])
    left = (gt[..., 0] >= w - 0.5 + 1.0).any(0)
    assert left.sum() >= 8
    assert not vis[-1, left].any()  # back inside the image, but lost
    back = inside(gt, h, w, margin=3).all(0)
    assert vis[-1, back].mean() > 0.9


def test_forward_backward_check_catches_a_scene_cut():
    """No correspondence across a cut: the forward-backward test alone
    (motion-boundary test off) loses the points, and none comes back."""
    h, w = 48, 64
    first, _ = translation_clip(h, w, 4, (1.0, 0.5), seed=10)
    second, _ = translation_clip(h, w, 4, (1.0, 0.5), seed=11)  # unrelated
    frames = np.concatenate([first, second])
    q = grid_queries(h, w, 8)
    _, vis = DISFlowTracker(boundary_thresh=None).track(frames, q)
    assert vis[:4].mean() > 0.95
    assert vis[4:].mean() < 0.1
    lenient = DISFlowTracker(boundary_thresh=None, fb_alpha=0, fb_beta=1e9)
    _, vis = lenient.track(frames, q)
    assert vis[4:].mean() > 0.9  # the thresholds are honoured


def test_queries_on_later_frames_and_outside():
    h, w, T = 48, 64, 6
    frames, _ = translation_clip(h, w, T, (1.5, 0.5), seed=8)
    q = np.float32([[2, 20, 20], [0, 30, 25], [1, -3, 10], [5, 10, 10]])
    tracks, vis = DISFlowTracker().track(frames, q)
    # before its frame a query sits at its position, invisible
    np.testing.assert_array_equal(tracks[:3, 0], [[20.0, 20.0]] * 3)
    np.testing.assert_array_equal(vis[:, 0], [0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(tracks[5, 0], [20 + 3 * 1.5, 20 + 3 * 0.5],
                               atol=0.5)
    assert vis[:, 1].all()
    assert not vis[:, 2].any()  # outside the image from the start
    np.testing.assert_array_equal(vis[:, 3], [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(tracks[:, 3], [[10.0, 10.0]] * T)


def test_flow_is_sampled_at_the_point_in_flow_pixels(monkeypatch):
    """With ``max_side`` the flow is computed at half resolution: a query
    at input pixel x sits at flow pixel (x + 0.5) / 2 - 0.5 (pixel centres
    at integers in both), and the flow found there is doubled. DIS replaced
    by a known zoom field (its value depends on where it is sampled)."""
    h, w = 40, 48  # flow at 20 x 24 (padded to 32 px by the tracker)
    frames = np.stack(
        [np.full((h, w, 3), 10 * t + 5, np.uint8) for t in range(2)])

    def zoom(shape, kx, ky):
        yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
        return np.stack([kx * xx, ky * yy], -1)

    class FakeDIS:

        def calc(self, prev, nxt, flow):
            # x' = 1.2 x, y' = 1.1 y in flow pixels: F = (0.2 x, 0.1 y),
            # B(x', y') = -(0.2 x' / 1.2, 0.1 y' / 1.1), consistent with F
            if int(prev[0, 0]) < int(nxt[0, 0]):
                return zoom(prev.shape, 0.2, 0.1)
            return zoom(prev.shape, -0.2 / 1.2, -0.1 / 1.1)

    monkeypatch.setattr(dis_flow.cv2, 'DISOpticalFlow_create',
                        lambda preset: FakeDIS())
    q = np.float32([[0, 10, 6], [0, 30.5, 17]])
    tracks, vis = DISFlowTracker(max_side=24,
                                 boundary_thresh=None).track(frames, q)
    p_flow = (q[:, 1:] + 0.5) * 0.5 - 0.5
    expected = q[:, 1:] + 2 * p_flow * [0.2, 0.1]
    np.testing.assert_allclose(tracks[1], expected, atol=1e-4)
    assert vis.all()
