"""The scene model: how the background and every object move (per-frame
affine maps of object canvases, the non-rigid bend of style 'crowd', the
camera pan), where a canvas point is in each frame, and the exact track of
any query point of a rendered scene (:func:`ground_truth_tracks`).

Every object is a local RGBA canvas mapped into each frame by one affine
matrix ``A_t`` (``cv2.warpAffine`` maps integer pixel centres, as in
``docs/conventions.md``), so a point ``u`` in object-local coordinates is at
``A_t @ [u, 1]`` in frame ``t``. Background points move with the background
translation. A point is visible in frame ``t`` iff it lies inside the image
and its instance is the topmost one at its rounded pixel in the rendered
instance map.
"""
import math
from typing import Dict

import cv2
import numpy as np

from .styles import _BEND_MODES, _BEND_STRAIN, _BEND_WAVELENGTH, _S0, _S_AMP


def _object_affines(rng: np.random.Generator, num_frames: int, height: int,
                    width: int, canvas_side: int) -> np.ndarray:
    """Float64 [T, 2, 3]: local canvas coords -> image coords, per frame."""
    ref = min(height, width)
    t = np.arange(num_frames, dtype=np.float64)
    start = rng.uniform(0.1, 0.9, 2) * (width, height)
    target = rng.uniform(-0.1, 1.1, 2) * (width, height)
    heading = target - start
    heading /= max(np.linalg.norm(heading), 1e-6)
    speed = rng.uniform(0.01, 0.03) * ref
    wob_amp = rng.uniform(0.0, 0.04, 2) * ref
    wob_freq = rng.uniform(0.1, 0.35, 2)
    wob_phase = rng.uniform(0, 2 * np.pi, 2)
    centre = (start + speed * t[:, None] * heading + wob_amp *
              (np.sin(wob_freq * t[:, None] + wob_phase) - np.sin(wob_phase)))
    theta = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.06, 0.06) * t
    s_amp = rng.uniform(0.0, _S_AMP)
    scale = rng.uniform(*_S0) * (
        1.0 +
        s_amp * np.sin(rng.uniform(0.05, 0.2) * t + rng.uniform(0, 2 * np.pi)))
    cos, sin = scale * np.cos(theta), scale * np.sin(theta)
    lin = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    uc = np.full(2, (canvas_side - 1) / 2.0)
    trans = centre - lin @ uc
    return np.concatenate([lin, trans[..., None]], axis=2)


def _styled_affines(rng: np.random.Generator, motion: str, num_frames: int,
                    height: int, width: int, canvas_side: int,
                    diameter: float) -> np.ndarray:
    """Style 'shared_colour': float64 [T, 2, 3] local canvas coords -> image
    coords of one rigid object moving in its class's ``motion`` style:
    'roll' (translates and rotates as if rolling), 'slide' (fast, straight,
    no rotation), 'swing' (oscillates back and forth about a slow drift),
    'spin' (near-static, fast rotation), 'pulse' (slow drift, scale
    oscillation: approaching / receding)."""
    ref = min(height, width)
    t = np.arange(num_frames, dtype=np.float64)
    start = rng.uniform(0.15, 0.85, 2) * (width, height)
    ang = rng.uniform(0, 2 * np.pi)
    heading = np.array([np.cos(ang), np.sin(ang)])
    theta0 = rng.uniform(0, 2 * np.pi)
    scale = np.full(num_frames, rng.uniform(*_S0))
    if motion == 'roll':
        speed = rng.uniform(0.02, 0.035) * ref
        centre = start + speed * t[:, None] * heading
        theta = theta0 + np.sign(rng.uniform(-1,
                                             1)) * speed * t / (diameter / 2)
    elif motion == 'slide':
        speed = rng.uniform(0.025, 0.04) * ref
        centre = start + speed * t[:, None] * heading
        theta = np.full(num_frames, theta0)
    elif motion == 'swing':
        amp = rng.uniform(0.06, 0.1) * ref
        freq = rng.uniform(0.3, 0.5)
        phase = rng.uniform(0, 2 * np.pi)
        centre = (start + 0.005 * ref * t[:, None] * heading + amp *
                  (np.sin(freq * t + phase) - np.sin(phase))[:, None]
                  * heading[::-1])
        theta = theta0 + 0.15 * np.sin(freq * t + phase)
    elif motion == 'spin':
        centre = start + rng.uniform(0.0, 0.008) * ref * t[:, None] * heading
        theta = theta0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.3) * t
    elif motion == 'pulse':
        centre = start + 0.01 * ref * t[:, None] * heading
        theta = np.full(num_frames, theta0)
        scale = scale * (
            1.0 + 0.3
            * np.sin(rng.uniform(0.3, 0.5) * t + rng.uniform(0, 2 * np.pi)))
    else:
        raise ValueError(f'unknown motion style {motion!r}')
    cos, sin = scale * np.cos(theta), scale * np.sin(theta)
    lin = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    uc = np.full(2, (canvas_side - 1) / 2.0)
    trans = centre - lin @ uc
    return np.concatenate([lin, trans[..., None]], axis=2)


def _background_shifts(rng: np.random.Generator,
                       num_frames: int,
                       ref: float,
                       speed=(0.0, 0.008)) -> np.ndarray:
    """Float64 [T, 2] background (camera pan) translation in px, zero at
    t=0; pan speed drawn from ``speed`` x ``ref`` px per frame."""
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    ang = rng.uniform(0, 2 * np.pi)
    vel = rng.uniform(*speed) * ref * np.array([np.cos(ang), np.sin(ang)])
    amp = rng.uniform(0.0, 0.015, 2) * ref
    freq = rng.uniform(0.1, 0.3, 2)
    phase = rng.uniform(0, 2 * np.pi, 2)
    return vel * t + amp * (np.sin(freq * t + phase) - np.sin(phase))


def _bend(rng: np.random.Generator, diameter: float) -> Dict[str, np.ndarray]:
    """Style 'crowd': a smooth non-rigid warp of one object's local canvas.

    The canvas drawn in frame t shows, at local position v, the canvas
    content at ``v + d_t(v)`` with
    ``d_t(v) = sum_m a_m * dir_m * sin(k_m . v + omega_m * t + phi_m)``
    (:func:`_bend_displacement`). The modes' strains ``|a_m| |k_m|`` sum to
    :data:`_BEND_STRAIN` < 1, so ``v -> v + d_t(v)`` is invertible and a
    canvas point's position is found by fixed-point iteration
    (:func:`_bent_positions`): ground-truth tracks stay exact.

    Returns: dict of float64 arrays ``amp`` [M] (px), ``dir`` [M, 2] (unit),
    ``k`` [M, 2] (rad / px), ``omega`` [M] (rad / frame), ``phase`` [M].
    """
    m = _BEND_MODES
    strain = rng.dirichlet(np.ones(m)) * _BEND_STRAIN
    wavelength = diameter * rng.uniform(*_BEND_WAVELENGTH, m)
    k_ang = rng.uniform(0, 2 * np.pi, m)
    d_ang = rng.uniform(0, 2 * np.pi, m)
    k_norm = 2 * np.pi / wavelength
    return dict(amp=strain / k_norm,
                dir=np.stack([np.cos(d_ang), np.sin(d_ang)], -1),
                k=k_norm[:, None]
                * np.stack([np.cos(k_ang), np.sin(k_ang)], -1),
                omega=rng.uniform(0.25, 0.5, m) * rng.choice([-1.0, 1.0], m),
                phase=rng.uniform(0, 2 * np.pi, m))


def _bend_displacement(bend: Dict[str, np.ndarray], t,
                       xy: np.ndarray) -> np.ndarray:
    """``d_t(v)`` float64 [..., 2] of :func:`_bend` at local positions
    ``xy`` [..., 2] (x, y); ``t`` a frame index or an array broadcasting
    against ``xy[..., 0]``."""
    t = np.asarray(t, np.float64)[..., None]
    arg = xy @ bend['k'].T + bend['omega'] * t + bend['phase']  # [..., M]
    return (bend['amp'] * np.sin(arg)) @ bend['dir']


def _bend_margin(bend: Dict[str, np.ndarray]) -> int:
    """Canvas padding (px) that holds the bent object: max |d| + 1."""
    return int(math.ceil(bend['amp'].sum())) + 1


def _bent_canvas(canvas: np.ndarray, bend: Dict[str, np.ndarray],
                 t: int) -> np.ndarray:
    """The RGBA canvas [L, L, 4] as drawn in frame ``t``: pixel v shows the
    canvas at v + d_t(v) (bilinear; outside the canvas transparent)."""
    side = canvas.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    src = np.stack([xx, yy], -1)
    src = (src + _bend_displacement(bend, t, src)).astype(np.float32)
    return cv2.remap(canvas,
                     src[..., 0],
                     src[..., 1],
                     cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)


def _bent_positions(bend: Dict[str, np.ndarray],
                    num_frames: int,
                    pts: np.ndarray,
                    iters: int = 40) -> np.ndarray:
    """Where canvas points ``pts`` [N, 2] are drawn, float64 [T, N, 2]: the
    v with ``v + d_t(v) = u``, by the fixed-point iteration
    ``v <- u - d_t(v)`` (a contraction of factor :data:`_BEND_STRAIN`, so
    40 iterations reach ~1e-9 px)."""
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    u = np.broadcast_to(pts, (num_frames, ) + pts.shape)
    v = u.copy()
    for _ in range(iters):
        v = u - _bend_displacement(bend, t, v)
    return v


def _object_tracks(affine: np.ndarray, bend, pts: np.ndarray) -> np.ndarray:
    """Image positions float64 [T, N, 2] of local canvas points ``pts``
    [N, 2] of an object with per-frame ``affine`` [T, 2, 3] and optional
    ``bend`` (:func:`_bend`; None: rigid)."""
    if bend is None:
        return _apply_affine(affine, pts)
    local = _bent_positions(bend, len(affine), pts)
    return np.einsum('tij,tnj->tni', affine[:, :, :2],
                     local) + affine[:, None, :, 2]


def _apply_affine(mats: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """[T,2,3] x [N,2] -> [T,N,2]."""
    return np.einsum('tij,nj->tni', mats[:, :, :2], pts) + mats[:, None, :, 2]


def _pixel_index(tracks: np.ndarray, height: int, width: int):
    """Rounded (row, col) int indices (clipped) and the inside mask of tracks
    [..., 2] (x, y) under the pixel-centre convention."""
    x, y = tracks[..., 0], tracks[..., 1]
    inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    col = np.clip(np.floor(x + 0.5), 0, width - 1).astype(np.int64)
    row = np.clip(np.floor(y + 0.5), 0, height - 1).astype(np.int64)
    return row, col, inside


def ground_truth_tracks(video: Dict[str, np.ndarray], scene: dict, frame: int,
                        xy: np.ndarray):
    """Exact tracks of arbitrary query points (an oracle tracker).

    A query belongs to whatever is topmost at its rounded pixel in
    ``frame`` (an object or the background); it then moves with it, and is
    visible where it is inside the image and that owner is topmost at its
    rounded pixel (the visibility rule of :func:`render_video`).

    Args:
        video, scene: from :func:`render_scene`.
        frame: the query frame, in ``[0, T)``.
        xy: float [N, 2] (x, y) query positions in that frame, inside the
            image.

    Returns:
        float32 [T, N, 2] tracks and bool [T, N] visibility (True in
        ``frame``).
    """
    inst = video['instance_masks']
    num_frames, height, width = inst.shape
    if not 0 <= frame < num_frames:
        raise ValueError(f'frame {frame} is outside [0, {num_frames})')
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    row, col, inside = _pixel_index(xy, height, width)
    if not inside.all():
        raise ValueError('ground_truth_tracks: query points must lie inside '
                         f'the {height}x{width} frame')
    owner = inst[frame, row, col].astype(np.int64)
    shifts = scene['shifts']
    out = np.empty((num_frames, len(xy), 2), np.float64)
    bg = owner == 0
    out[:, bg] = xy[bg][None] + (shifts - shifts[frame])[:, None]
    for k in np.unique(owner[~bg]):
        sel = owner == k
        affine, bend = scene['affines'][k - 1], scene['bends'][k - 1]
        lin, trans = affine[frame, :, :2], affine[frame, :, 2]
        drawn = (xy[sel] - trans) @ np.linalg.inv(lin).T  # local, as drawn
        canvas = drawn if bend is None else drawn + _bend_displacement(
            bend, frame, drawn)
        out[:, sel] = _object_tracks(affine, bend, canvas)
    row, col, inside = _pixel_index(out, height, width)
    visible = inside & (inst[np.arange(num_frames)[:, None], row, col]
                        == owner[None])
    return out.astype(np.float32), visible
