"""Rendering one synthetic clip with exact ground truth
(:func:`render_video`, :func:`render_scene`)."""
import math
from typing import Dict, Tuple, Union

import cv2
import numpy as np

from .appearance import (
    _background_canvas,
    _moving_light,
    _moving_tint,
    _object_canvas,
    _part_object_canvas,
    _rotate_hue,
    _shared_background,
)
from .scene import (
    _background_shifts,
    _bend,
    _bend_margin,
    _bent_canvas,
    _object_affines,
    _object_tracks,
    _pixel_index,
    _styled_affines,
)
from .styles import (
    _DIAMETER,
    _MOTION_STYLES,
    _OBJECT_POINT_SHARE,
    _PAN_SPEED,
    CLASSES,
    _check_int,
    _check_num_objects,
    _check_size,
    _check_style,
)


def render_video(seed: int,
                 num_frames: int = 24,
                 size: Tuple[int, int] = (128, 128),
                 num_objects: Union[int, Tuple[int, int], None] = None,
                 num_points: int = 256,
                 style: str = 'default') -> Dict[str, np.ndarray]:
    """Render one synthetic clip with exact ground truth.

    Args:
        seed: non-negative int; the same arguments give identical arrays.
        num_frames: T >= 1.
        size: (H, W), each >= 16.
        num_objects: number of objects K, or an inclusive range (min, max)
            to draw it from; None: the style's (2-4; 'crowd': 8-11).
        num_points: P >= 1 ground-truth points, all visible in frame 0;
            about 60% on objects (spread over the visible ones), the rest on
            the background.
        style: one of :data:`STYLES`. 'shared_colour': colours and textures
            shared by all classes and the background, objects of 2-3 rigid
            parts, class-specific motion (see the module docstring).
            'camera': the default look, but the background (camera) pans
            at 2-3.5 % of the frame per frame instead of 0-0.8 %, so that a
            pixel position does not follow the content, and a light band
            sweeps across the frame (gain 1 +- 0.35), so that a tracked
            point's brightness changes along its track.
            'crowd': 'camera' with 8-11 objects of 0.35-0.55 x min(H, W)
            (about half the frame; they pan with the camera too), each bent
            by a smooth non-rigid warp that changes over time
            (:func:`_bend`), under a second, coloured light that turns the
            hue by up to +- 35 degrees (:func:`_moving_tint`): a pixel
            position passes over several classes, and a tracked point's
            shape and colour change along its track.

    Returns:
        dict with
        - ``frames``: uint8 [T, H, W, 3] RGB.
        - ``instance_masks``: uint8 [T, H, W], 0 = background, 1..K instances.
        - ``class_masks``: uint8 [T, H, W], ids into :data:`CLASSES`.
        - ``tracks``: float32 [T, P, 2] (x, y), never clamped.
        - ``visibility``: bool [T, P], inside the image and the point's
          instance is the topmost one at its rounded pixel.
        - ``point_instance``: int64 [P], instance of each point (0 = background).
        - ``instance_classes``: int64 [K + 1], class id of each instance id
          (entry 0 is the background, 0).
        - ``instance_depth``: int64 [K + 1], layer of each instance id:
          0 = background, higher = nearer the camera.
        - style 'shared_colour' only: ``point_part`` int64 [P], the part of
          its object each point lies on (0 for background points).
    """
    return render_scene(seed, num_frames, size, num_objects, num_points,
                        style)[0]


def render_scene(seed: int,
                 num_frames: int = 24,
                 size: Tuple[int, int] = (128, 128),
                 num_objects: Union[int, Tuple[int, int], None] = None,
                 num_points: int = 256,
                 style: str = 'default'):
    """:func:`render_video`'s output and the scene behind it: ``(video,
    scene)``, ``scene`` a dict of ``shifts`` float64 [T, 2] (background
    translation), ``affines`` (per object, float64 [T, 2, 3]: local canvas
    -> image) and ``bends`` (per object, :func:`_bend` or None), for
    :func:`ground_truth_tracks`."""
    seed = _check_int('seed', seed, 0)
    num_frames = _check_int('num_frames', num_frames, 1)
    height, width = _check_size(size)
    style = _check_style(style)
    lo, hi = _check_num_objects(num_objects, style)
    num_points = _check_int('num_points', num_points, 1)
    shared = style == 'shared_colour'
    crowd = style == 'crowd'

    rng = np.random.default_rng(seed)
    ref = float(min(height, width))
    num_obj = int(rng.integers(lo, hi + 1))

    # background: a larger canvas panned by `shifts`
    shifts = _background_shifts(rng, num_frames, ref, _PAN_SPEED[style])
    margin = int(math.ceil(np.abs(shifts).max())) + 2
    bg_canvas = (_shared_background if shared else _background_canvas)(
        rng, height + 2 * margin, width + 2 * margin, ref)

    # objects
    classes = rng.integers(1, len(CLASSES), num_obj)
    depth = rng.permutation(num_obj) + 1  # layer of instance k+1
    canvases, affines, part_maps, bends = [], [], [], []
    for k in range(num_obj):
        diameter = ref * rng.uniform(*_DIAMETER[style])
        bend = None
        if shared:
            canvas, parts = _part_object_canvas(rng, int(classes[k]), diameter)
            part_maps.append(parts)
            affines.append(
                _styled_affines(rng, _MOTION_STYLES[int(classes[k]) - 1],
                                num_frames, height, width, canvas.shape[0],
                                diameter))
        else:
            canvas = _object_canvas(rng, int(classes[k]), diameter)
            if crowd:
                bend = _bend(rng, diameter)
                pad = _bend_margin(bend)
                canvas = np.pad(canvas, ((pad, pad), (pad, pad), (0, 0)))
            affines.append(
                _object_affines(rng, num_frames, height, width,
                                canvas.shape[0]))
            if crowd:  # filmed by the panning camera too (centred mid-clip)
                affines[-1][:, :, 2] += shifts - shifts[num_frames // 2]
        canvases.append(canvas)
        bends.append(bend)

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    inst = np.zeros((num_frames, height, width), np.uint8)
    own_alpha = np.empty((num_obj, num_frames, height, width), np.uint8)
    back_to_front = np.argsort(depth)
    light = (_moving_light(rng, num_frames, height, width, ref)
             if style in ('camera', 'crowd') else None)
    tint = _moving_tint(rng, num_frames, height, width, ref) if crowd else None
    for t in range(num_frames):
        pan = np.array([[1.0, 0.0, shifts[t, 0] - margin],
                        [0.0, 1.0, shifts[t, 1] - margin]])
        img = cv2.warpAffine(bg_canvas,
                             pan, (width, height),
                             flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT_101).astype(
                                 np.float32)
        for k in back_to_front:
            canvas = (canvases[k] if bends[k] is None else _bent_canvas(
                canvases[k], bends[k], t))
            rgba = cv2.warpAffine(canvas,
                                  affines[k][t], (width, height),
                                  flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=0)
            own_alpha[k, t] = rgba[..., 3]
            a = rgba[..., 3:].astype(np.float32) / 255.0
            img = img * (1.0 - a) + rgba[..., :3].astype(np.float32) * a
            inst[t][rgba[..., 3] > 127] = k + 1
        if light is not None:
            img = img * light[t][..., None]
        if tint is not None:
            img = _rotate_hue(img, tint[t])
        frames[t] = np.clip(img + 0.5, 0, 255).astype(np.uint8)

    tracks, point_instance = _sample_points(rng, num_points, canvases, affines,
                                            bends, own_alpha, inst, shifts)
    row, col, inside = _pixel_index(tracks, height, width)
    t_idx = np.arange(num_frames)[:, None]
    visibility = inside & (inst[t_idx, row, col] == point_instance[None])
    if not visibility[0].all():
        raise RuntimeError(
            'internal error: a sampled point is hidden in frame 0')

    instance_classes = np.concatenate([[0], classes]).astype(np.int64)
    extra = {}
    if shared:
        extra['point_part'] = _point_parts(tracks[0], point_instance, affines,
                                           part_maps)
    video = dict(
        **extra,
        frames=frames,
        instance_masks=inst,
        class_masks=instance_classes[inst].astype(np.uint8),
        tracks=tracks,
        visibility=visibility,
        point_instance=point_instance,
        instance_classes=instance_classes,
        instance_depth=np.concatenate([[0], depth]).astype(np.int64),
    )
    return video, dict(shifts=shifts, affines=affines, bends=bends)


def _point_parts(xy0: np.ndarray, point_instance: np.ndarray, affines,
                 part_maps) -> np.ndarray:
    """Part index int64 [P] of each point (frame-0 position [P, 2] mapped
    back to its object's local canvas; 0 for background points)."""
    out = np.zeros(len(xy0), np.int64)
    for k, parts in enumerate(part_maps):
        sel = point_instance == k + 1
        if not sel.any():
            continue
        a = affines[k][0]
        local = (xy0[sel] - a[:, 2]) @ np.linalg.inv(a[:, :2]).T
        col = np.clip(np.floor(local[:, 0] + 0.5), 0, parts.shape[1] - 1)
        row = np.clip(np.floor(local[:, 1] + 0.5), 0, parts.shape[0] - 1)
        out[sel] = parts[row.astype(np.int64), col.astype(np.int64)]
    return out


def _sample_points(rng, num_points, canvases, affines, bends, own_alpha, inst,
                   shifts):
    """Ground-truth points visible in frame 0 -> (tracks float32 [T,P,2],
    point_instance int64 [P]).

    Object points are drawn from object-local positions whose rounded pixel
    lies on the object's own silhouette in every frame where they are inside
    the image, so their tracks never leave the object's rendered mask.
    """
    num_frames, height, width = inst.shape
    t_idx = np.arange(num_frames)[:, None]
    cand_tracks, cand_counts = [], []
    for k, canvas in enumerate(canvases):
        local = np.argwhere(canvas[..., 3] > 127)[:, ::-1].astype(
            np.float64)  # (x, y)
        local += rng.uniform(-0.5, 0.5, local.shape)
        tr = _object_tracks(affines[k], bends[k], local).astype(np.float32)
        row, col, inside = _pixel_index(tr, height, width)
        on_self = own_alpha[k][t_idx, row, col] > 127
        ok = np.all(on_self | ~inside,
                    axis=0) & inside[0] & (inst[0, row[0], col[0]] == k + 1)
        cand_tracks.append(tr[:, ok])
        cand_counts.append(int(ok.sum()))

    bg_pix = np.argwhere(inst[0] == 0)[:, ::-1].astype(np.float64)
    num_obj_points = int(round(num_points * _OBJECT_POINT_SHARE))
    if sum(cand_counts) == 0:
        num_obj_points = 0
    if len(bg_pix) == 0:
        num_obj_points = num_points
    if num_obj_points == 0 and len(bg_pix) == 0:
        raise RuntimeError('no visible object or background pixel in frame 0')

    # largest-remainder split of the object points, weighted by sqrt(area)
    weights = np.sqrt(np.asarray(cand_counts, np.float64))
    out_tracks, out_inst = [], []
    if num_obj_points:
        quota = num_obj_points * weights / weights.sum()
        counts = np.floor(quota).astype(np.int64)
        extra = num_obj_points - counts.sum()
        counts[np.argsort(-(quota - counts), kind='stable')[:extra]] += 1
        for k, n in enumerate(counts):
            if n == 0:
                continue
            pick = rng.choice(cand_counts[k], n, replace=n > cand_counts[k])
            out_tracks.append(cand_tracks[k][:, pick])
            out_inst.append(np.full(n, k + 1, np.int64))

    num_bg = num_points - num_obj_points
    if num_bg:
        pick = rng.choice(len(bg_pix), num_bg, replace=num_bg > len(bg_pix))
        p0 = bg_pix[pick] + rng.uniform(-0.5, 0.5, (num_bg, 2))
        out_tracks.append((p0[None] + shifts[:, None]).astype(np.float32))
        out_inst.append(np.zeros(num_bg, np.int64))

    order = rng.permutation(num_points)
    tracks = np.concatenate(out_tracks, axis=1)[:, order]
    return np.ascontiguousarray(
        tracks, dtype=np.float32), np.concatenate(out_inst)[order]
