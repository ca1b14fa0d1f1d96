"""Procedural videos with exact ground truth: the project's test and demo data.

Each clip shows textured objects of a few classes (a class = a shape family, a
texture family and a colour range, varied per instance) moving smoothly
(translation, rotation, scale) in a fixed depth order over a textured
background that may pan slowly. Objects occlude each other and may leave the
frame partially.

Every object is a local RGBA canvas mapped into each frame by one affine matrix
``A_t`` with ``cv2.warpAffine`` (which maps integer pixel centres, as in
``docs/conventions.md``), so a point ``u`` in object-local coordinates is at
``A_t @ [u, 1]`` in frame ``t``: ground-truth tracks are exact. Background
points move with the background translation. A point is visible in frame ``t``
iff it lies inside the image and its instance is the topmost one at its rounded
pixel in the rendered instance map.

Everything is deterministic given the seed (one ``numpy.random.Generator``).

``style='shared_colour'`` (opt-in; the default output is unchanged) removes
the appearance shortcut: every class, and the background, draws its colours
and texture families from one shared distribution, so only shape and motion
tell classes apart. Each object is made of 2-3 rigid parts of different
colours/textures that move together (one affine), the background is a
patchwork of the same textures and colours, and each class has its own motion
style (roll, slide, swing, spin, pulse).
"""
import colorsys
import json
import math
import os
import os.path as osp
import shutil
import tempfile
import time
from numbers import Integral
from typing import Dict, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

__all__ = ['CLASSES', 'PALETTE', 'GENERATOR_VERSION', 'STYLES',
           'render_video', 'render_scene', 'ground_truth_tracks',
           'write_dataset']

GENERATOR_NAME = 'mosic_mm.synthetic'
GENERATOR_VERSION = 1

# name, shape family, texture family, base hue (degrees)
_CLASS_SPECS = (
    ('disc', 'ellipse', 'dots', 5.0),
    ('box', 'rect', 'stripes', 215.0),
    ('triangle', 'triangle', 'checker', 125.0),
    ('star', 'star', 'rings', 285.0),
    ('cross', 'cross', 'zigzag', 50.0),
)

#: Class names; index 0 is the background, class ids in ``class_masks`` index it.
CLASSES: Tuple[str, ...] = ('background', ) + tuple(s[0] for s in _CLASS_SPECS)

#: One RGB colour per class (for visualisation and the class palette PNGs).
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (0, 0, 0),
    (220, 60, 40),
    (40, 100, 220),
    (40, 170, 70),
    (170, 60, 200),
    (230, 200, 40),
)

# Object scale over a clip stays within [_S0[0] * (1 - _S_AMP), _S0[1] * (1 + _S_AMP)].
_S0 = (0.8, 1.2)
_S_AMP = 0.2
# Share of ground-truth points placed on objects (the rest on the background).
_OBJECT_POINT_SHARE = 0.6

#: Rendering styles: 'default' (class = shape + texture + colour range),
#: 'shared_colour' (class = shape + motion; colours and textures shared),
#: 'camera' (the default's look under a fast camera pan and a moving light)
#: and 'crowd' (camera, plus many large objects that bend non-rigidly).
STYLES = ('default', 'shared_colour', 'camera', 'crowd')
# camera pan speed, fraction of min(H, W) per frame: (low, high) per style
_PAN_SPEED = dict(default=(0.0, 0.008), shared_colour=(0.0, 0.008),
                  camera=(0.02, 0.035), crowd=(0.02, 0.035))
# number of objects (inclusive range) when num_objects is not given
_NUM_OBJECTS = dict(default=(2, 4), shared_colour=(2, 4), camera=(2, 4),
                    crowd=(8, 11))
# object diameter, fraction of min(H, W)
_DIAMETER = dict(default=(0.2, 0.38), shared_colour=(0.2, 0.38),
                 camera=(0.2, 0.38), crowd=(0.35, 0.55))
# style 'crowd': sinusoidal bending modes per object, their summed strain
# (the warp's Lipschitz constant, < 1 so that it is invertible) and the
# wavelength range (x the object's diameter)
_BEND_MODES = 3
_BEND_STRAIN = 0.6
_BEND_WAVELENGTH = (0.7, 2.0)
# style 'crowd': amplitude (degrees) of the coloured light's hue rotation
_TINT_HUE = 35.0
_TEXTURES = ('dots', 'stripes', 'checker', 'rings', 'zigzag')
# shared_colour: motion style of each class id (1..5)
_MOTION_STYLES = ('roll', 'slide', 'swing', 'spin', 'pulse')


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------
def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f'{name} must be an int, got {value!r}')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return int(value)


def _check_size(size) -> Tuple[int, int]:
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(f'size must be (H, W) or an int, got {size!r}')
    return (_check_int('size[0] (H)', size[0], 16),
            _check_int('size[1] (W)', size[1], 16))


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f'style must be one of {STYLES}, got {style!r}')
    return style


def _check_num_objects(num_objects, style: str) -> Tuple[int, int]:
    """-> (min, max) objects per video; None: ``style``'s default range."""
    if num_objects is None:
        num_objects = _NUM_OBJECTS[style]
    if isinstance(num_objects, Integral) and not isinstance(num_objects, bool):
        num_objects = (num_objects, num_objects)
    if not isinstance(num_objects, Sequence) or len(num_objects) != 2:
        raise ValueError('num_objects must be an int or an inclusive range '
                         f'(min, max), got {num_objects!r}')
    lo = _check_int('num_objects min', num_objects[0], 1)
    hi = _check_int('num_objects max', num_objects[1], 1)
    if lo > hi or hi > 255:
        raise ValueError('num_objects must satisfy 1 <= min <= max <= 255, '
                         f'got {num_objects!r}')
    return lo, hi


# --------------------------------------------------------------------------
# textures
# --------------------------------------------------------------------------
def _hsv(hue_deg: float, sat: float, val: float) -> np.ndarray:
    """RGB float32 [3] in 0..255 from hue in degrees, saturation, value."""
    rgb = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, float(np.clip(sat, 0, 1)),
                              float(np.clip(val, 0, 1)))
    return np.asarray(rgb, np.float32) * 255.0


def _smooth_noise(rng: np.random.Generator, h: int, w: int,
                  cell: float) -> np.ndarray:
    """Float32 [h, w] noise of roughly unit variance, correlated over ``cell`` px."""
    cell = max(float(cell), 1.0)
    gh, gw = int(math.ceil(h / cell)) + 2, int(math.ceil(w / cell)) + 2
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (int(round(gw * cell)), int(round(gh * cell))),
                    interpolation=cv2.INTER_CUBIC)
    return up[:h, :w]


def _soft_sign(v: np.ndarray, sharpness: float = 2.5) -> np.ndarray:
    """Anti-aliased square wave in [0, 1] from a wave ``v`` in [-1, 1]."""
    return 0.5 + 0.5 * np.tanh(sharpness * v)


def _pattern(rng: np.random.Generator, family: str, u: np.ndarray,
             v: np.ndarray, period: float) -> np.ndarray:
    """Texture family as a float32 field in [0, 1] over rotated local coords."""
    two_pi = 2.0 * np.pi
    if family == 'dots':
        pu = (u / period) % 1.0 - 0.5
        pv = (v / period) % 1.0 - 0.5
        dist = np.sqrt(pu * pu + pv * pv) * period
        radius = period * rng.uniform(0.22, 0.32)
        return np.clip(radius - dist + 0.5, 0.0, 1.0)
    if family == 'stripes':
        duty = rng.uniform(-0.4, 0.4)
        return _soft_sign(np.sin(two_pi * u / period) + duty)
    if family == 'checker':
        return _soft_sign(np.sin(two_pi * u / period) * np.sin(two_pi * v / period), 4.0)
    if family == 'rings':
        r = np.sqrt(u * u + v * v)
        return _soft_sign(np.sin(two_pi * r / period))
    if family == 'zigzag':
        tooth = period * rng.uniform(0.8, 1.4)
        tri = np.abs((u / tooth) % 1.0 - 0.5) * 2.0 - 0.5
        return _soft_sign(np.sin(two_pi * (v + tooth * 0.6 * tri) / period))
    raise ValueError(f'unknown texture family {family!r}')


def _shape_mask(rng: np.random.Generator, family: str, side: int,
                diameter: float) -> np.ndarray:
    """Anti-aliased uint8 [side, side] alpha of a shape of ``diameter`` px
    centred on the canvas (sub-pixel exact, drawn with 4 fractional bits)."""
    mask = np.zeros((side, side), np.uint8)
    c = (side - 1) / 2.0
    r = diameter / 2.0
    fix = 16.0  # shift=4

    def poly(points):
        pts = np.round((np.asarray(points) + c) * fix).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, 4)

    if family == 'ellipse':
        axes = (int(round(r * fix)), int(round(r * rng.uniform(0.65, 1.0) * fix)))
        centre = (int(round(c * fix)), int(round(c * fix)))
        cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 255, -1, cv2.LINE_AA, 4)
    elif family == 'rect':
        hw, hh = r * 0.92, r * rng.uniform(0.5, 0.85)
        poly([(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)])
    elif family == 'triangle':
        ang = np.deg2rad(-90.0 + 120.0 * np.arange(3) + rng.uniform(-12, 12, 3))
        poly(np.stack([r * np.cos(ang), r * np.sin(ang)], 1))
    elif family == 'star':
        n = int(rng.integers(5, 8))
        inner = r * rng.uniform(0.42, 0.55)
        ang = -np.pi / 2 + np.pi * np.arange(2 * n) / n
        rad = np.where(np.arange(2 * n) % 2 == 0, r, inner)
        poly(np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1))
    elif family == 'cross':
        a, b = r, r * rng.uniform(0.34, 0.44)
        poly([(b, a), (b, b), (a, b), (a, -b), (b, -b), (b, -a), (-b, -a),
              (-b, -b), (-a, -b), (-a, b), (-b, b), (-b, a)])
    else:
        raise ValueError(f'unknown shape family {family!r}')
    return mask


def _canvas_grid(diameter: float) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates x, y float32 [L, L] of an object canvas of side
    L = ceil(diameter) + 4, centred on the canvas centre."""
    side = int(math.ceil(diameter)) + 4
    c = (side - 1) / 2.0
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    return xx - c, yy - c


def _finish_canvas(rng: np.random.Generator, rgb: np.ndarray,
                   xx: np.ndarray, yy: np.ndarray, shape: str,
                   diameter: float) -> np.ndarray:
    """Directional shading and blurred grain on rgb float [L, L, 3], then
    the alpha of ``shape`` -> RGBA uint8 [L, L, 4]."""
    side = xx.shape[0]
    c = (side - 1) / 2.0
    b = rng.uniform(0.0, 2.0 * np.pi)
    shading = 1.0 + 0.15 * (xx * np.cos(b) + yy * np.sin(b)) / max(c, 1.0)
    grain = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32),
                             (0, 0), 0.7) * 10.0
    rgb = rgb * shading[..., None] + grain[..., None]
    alpha = _shape_mask(rng, shape, side, diameter)
    return np.dstack([np.clip(rgb, 0, 255).astype(np.uint8), alpha])


def _object_canvas(rng: np.random.Generator, class_id: int,
                   diameter: float) -> np.ndarray:
    """RGBA uint8 [L, L, 4] local canvas of one instance of ``class_id``."""
    _, shape, texture, hue = _CLASS_SPECS[class_id - 1]
    xx, yy = _canvas_grid(diameter)
    a = rng.uniform(0.0, np.pi)
    u = xx * np.cos(a) + yy * np.sin(a)
    v = -xx * np.sin(a) + yy * np.cos(a)
    if texture == 'rings':  # off-centre rings
        u = u + rng.uniform(-0.2, 0.2) * diameter
        v = v + rng.uniform(-0.2, 0.2) * diameter
    period = max(4.0, diameter * rng.uniform(0.2, 0.3))
    field = _pattern(rng, texture, u, v, period)[..., None]

    hue = hue + rng.uniform(-10.0, 10.0)
    c1 = _hsv(hue, rng.uniform(0.7, 0.95), rng.uniform(0.8, 0.97))
    c2 = _hsv(hue + rng.uniform(-18.0, 18.0), rng.uniform(0.55, 0.9),
              rng.uniform(0.25, 0.45))
    rgb = c1 * (1.0 - field) + c2 * field
    return _finish_canvas(rng, rgb, xx, yy, shape, diameter)


def _background_canvas(rng: np.random.Generator, h: int, w: int,
                       ref: float) -> np.ndarray:
    """RGB uint8 [h, w, 3] dull, low-saturation background texture."""
    base = _hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.25), rng.uniform(0.4, 0.6))
    lum = np.zeros((h, w), np.float32)
    family = int(rng.integers(3))
    if family == 0:  # multi-scale blotches
        for cell, amp in ((ref * 0.3, 0.16), (ref * 0.12, 0.09), (ref * 0.05, 0.05)):
            lum += amp * _smooth_noise(rng, h, w, cell)
    elif family == 1:  # brick-like tiles with grout
        tile = ref * rng.uniform(0.12, 0.22)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        row = np.floor(yy / tile)
        xs = xx / (tile * 1.6) + 0.5 * (row % 2)
        col = np.floor(xs)
        shade = rng.uniform(-0.12, 0.12, (int(row.max()) + 1, int(col.max()) + 1))
        lum += shade[row.astype(np.int64), col.astype(np.int64)].astype(np.float32)
        gy = np.minimum(yy % tile, tile - yy % tile)
        gx = np.minimum((xs % 1.0), 1.0 - xs % 1.0) * tile * 1.6
        lum -= 0.18 * (np.minimum(gx, gy) < 1.0)
        lum += 0.04 * _smooth_noise(rng, h, w, ref * 0.08)
    else:  # wood-like grain
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * np.cos(ang) + yy * np.sin(ang)
        warp = 0.08 * ref * _smooth_noise(rng, h, w, ref * 0.25)
        lum += 0.1 * np.sin(2 * np.pi * (t + warp) / (ref * rng.uniform(0.06, 0.12)))
        lum += 0.05 * _smooth_noise(rng, h, w, ref * 0.1)
    chroma = np.stack([_smooth_noise(rng, h, w, ref * 0.3) for _ in range(3)], -1)
    fine = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32),
                            (0, 0), 0.8)
    rgb = base * (1.0 + lum)[..., None] + 8.0 * chroma + 7.0 * fine[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _shared_colours(rng: np.random.Generator):
    """Two RGB float32 [3] colours (light, dark) from the one distribution
    every class and the background share in style 'shared_colour'."""
    hue = rng.uniform(0.0, 360.0)
    c1 = _hsv(hue, rng.uniform(0.35, 0.95), rng.uniform(0.7, 0.97))
    c2 = _hsv(hue + rng.uniform(-40.0, 40.0), rng.uniform(0.35, 0.9),
              rng.uniform(0.25, 0.45))
    return c1, c2


def _shared_texture(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray,
                    diameter: float) -> np.ndarray:
    """RGB float32 [h, w, 3]: a random texture family in two shared colours
    over the (centred) coordinates ``xx, yy``, period from ``diameter``."""
    family = _TEXTURES[int(rng.integers(len(_TEXTURES)))]
    a = rng.uniform(0.0, np.pi)
    u = xx * np.cos(a) + yy * np.sin(a) + rng.uniform(-0.2, 0.2) * diameter
    v = -xx * np.sin(a) + yy * np.cos(a) + rng.uniform(-0.2, 0.2) * diameter
    period = max(4.0, diameter * rng.uniform(0.2, 0.3))
    field = _pattern(rng, family, u, v, period)[..., None]
    c1, c2 = _shared_colours(rng)
    return c1 * (1.0 - field) + c2 * field


def _part_object_canvas(rng: np.random.Generator, class_id: int,
                        diameter: float):
    """Style 'shared_colour': RGBA uint8 [L, L, 4] canvas of one instance of
    ``class_id`` (its shape family only) made of 2-3 rigid parts (bands
    across the shape at a random angle), each with its own shared-distribution
    texture and colours; and the part map uint8 [L, L] (0, 1, 2)."""
    shape = _CLASS_SPECS[class_id - 1][1]
    xx, yy = _canvas_grid(diameter)
    num_parts = int(rng.integers(2, 4))
    a = rng.uniform(0.0, np.pi)
    w = xx * np.cos(a) + yy * np.sin(a)  # in [-L/2, L/2] over the shape
    cuts = np.sort(rng.uniform(-0.35, 0.35, num_parts - 1)) * diameter
    parts = np.searchsorted(cuts, w.ravel()).reshape(xx.shape).astype(np.uint8)
    rgb = np.zeros((*xx.shape, 3), np.float32)
    for k in range(num_parts):
        tex = _shared_texture(rng, xx, yy, diameter)
        rgb[parts == k] = tex[parts == k]
    return _finish_canvas(rng, rgb, xx, yy, shape, diameter), parts


def _shared_background(rng: np.random.Generator, h: int, w: int,
                       ref: float) -> np.ndarray:
    """Style 'shared_colour': RGB uint8 [h, w, 3] patchwork of 3-5 regions
    (argmax of smooth noise fields), each textured like an object part
    (same texture families, colours and periods)."""
    n = int(rng.integers(3, 6))
    fields = np.stack([_smooth_noise(rng, h, w, ref * 0.3) for _ in range(n)])
    region = fields.argmax(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx -= (w - 1) / 2.0
    yy -= (h - 1) / 2.0
    rgb = np.zeros((h, w, 3), np.float32)
    for k in range(n):
        tex = _shared_texture(rng, xx, yy, ref * rng.uniform(0.2, 0.38))
        rgb[region == k] = tex[region == k]
    shading = 1.0 + 0.1 * _smooth_noise(rng, h, w, ref * 0.5)
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32),
                             (0, 0), 0.7) * 10.0
    rgb = rgb * shading[..., None] + grain[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# motion
# --------------------------------------------------------------------------
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
    centre = (start + speed * t[:, None] * heading
              + wob_amp * (np.sin(wob_freq * t[:, None] + wob_phase) - np.sin(wob_phase)))
    theta = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.06, 0.06) * t
    s_amp = rng.uniform(0.0, _S_AMP)
    scale = rng.uniform(*_S0) * (1.0 + s_amp * np.sin(rng.uniform(0.05, 0.2) * t
                                                      + rng.uniform(0, 2 * np.pi)))
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
        theta = theta0 + np.sign(rng.uniform(-1, 1)) * speed * t / (diameter / 2)
    elif motion == 'slide':
        speed = rng.uniform(0.025, 0.04) * ref
        centre = start + speed * t[:, None] * heading
        theta = np.full(num_frames, theta0)
    elif motion == 'swing':
        amp = rng.uniform(0.06, 0.1) * ref
        freq = rng.uniform(0.3, 0.5)
        phase = rng.uniform(0, 2 * np.pi)
        centre = (start + 0.005 * ref * t[:, None] * heading
                  + amp * (np.sin(freq * t + phase) - np.sin(phase))[:, None] * heading[::-1])
        theta = theta0 + 0.15 * np.sin(freq * t + phase)
    elif motion == 'spin':
        centre = start + rng.uniform(0.0, 0.008) * ref * t[:, None] * heading
        theta = theta0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.3) * t
    elif motion == 'pulse':
        centre = start + 0.01 * ref * t[:, None] * heading
        theta = np.full(num_frames, theta0)
        scale = scale * (1.0 + 0.3 * np.sin(rng.uniform(0.3, 0.5) * t
                                            + rng.uniform(0, 2 * np.pi)))
    else:
        raise ValueError(f'unknown motion style {motion!r}')
    cos, sin = scale * np.cos(theta), scale * np.sin(theta)
    lin = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    uc = np.full(2, (canvas_side - 1) / 2.0)
    trans = centre - lin @ uc
    return np.concatenate([lin, trans[..., None]], axis=2)


def _background_shifts(rng: np.random.Generator, num_frames: int,
                       ref: float, speed=(0.0, 0.008)) -> np.ndarray:
    """Float64 [T, 2] background (camera pan) translation in px, zero at
    t=0; pan speed drawn from ``speed`` x ``ref`` px per frame."""
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    ang = rng.uniform(0, 2 * np.pi)
    vel = rng.uniform(*speed) * ref * np.array([np.cos(ang), np.sin(ang)])
    amp = rng.uniform(0.0, 0.015, 2) * ref
    freq = rng.uniform(0.1, 0.3, 2)
    phase = rng.uniform(0, 2 * np.pi, 2)
    return vel * t + amp * (np.sin(freq * t + phase) - np.sin(phase))


def _travelling_wave(rng: np.random.Generator, num_frames: int, height: int,
                     width: int, wavelength) -> np.ndarray:
    """Float32 [T, H, W] ``sin`` of a plane wave fixed in image space that
    sweeps across the frame: random direction and phase, crests
    ``uniform(*wavelength)`` px apart, one period every 12-24 frames."""
    beta = rng.uniform(0, 2 * np.pi)
    wavelength = rng.uniform(*wavelength)
    omega = 2 * np.pi / rng.uniform(12.0, 24.0)
    phase = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xx * np.cos(beta) + yy * np.sin(beta)) * (2 * np.pi / wavelength)
    t = np.arange(num_frames, dtype=np.float32)[:, None, None]
    return np.sin(u[None] - omega * t + phase)


def _moving_light(rng: np.random.Generator, num_frames: int, height: int,
                  width: int, ref: float) -> np.ndarray:
    """Style 'camera': float32 [T, H, W] gain of a light fixed in image
    space that sweeps across the frame (bands 0.6-1.0 x ``ref`` apart,
    one period every 12-24 frames, gain 1 +- 0.35), so the brightness of a
    tracked point changes along its track."""
    wave = _travelling_wave(rng, num_frames, height, width,
                            (0.6 * ref, 1.0 * ref))
    return (1.0 + 0.35 * wave).astype(np.float32)


def _moving_tint(rng: np.random.Generator, num_frames: int, height: int,
                 width: int, ref: float) -> np.ndarray:
    """Style 'crowd': float32 [T, H, W] hue rotation (radians) of a
    coloured light fixed in image space that sweeps across the frame like
    :func:`_moving_light` (bands 0.8-1.4 x ``ref`` apart), up to
    +- :data:`_TINT_HUE` degrees: a tracked point's colour changes along its
    track, by as much as the class hues differ (45-90 degrees apart)."""
    wave = _travelling_wave(rng, num_frames, height, width,
                            (0.8 * ref, 1.4 * ref))
    return (np.deg2rad(_TINT_HUE) * wave).astype(np.float32)


def _rotate_hue(rgb: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Rotate float rgb [H, W, 3] about the grey axis by ``theta`` [H, W]
    radians (Rodrigues): the mean (grey level) is kept, the hue turns
    (positive: red towards green)."""
    mean = rgb.mean(-1, keepdims=True)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    cross = np.stack([b - g, r - b, g - r], -1) / np.sqrt(3.0)
    c, s = np.cos(theta)[..., None], np.sin(theta)[..., None]
    return mean + c * (rgb - mean) + s * cross


def _bend(rng: np.random.Generator,
          diameter: float) -> Dict[str, np.ndarray]:
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
                k=k_norm[:, None] * np.stack([np.cos(k_ang), np.sin(k_ang)], -1),
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
    return cv2.remap(canvas, src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _bent_positions(bend: Dict[str, np.ndarray], num_frames: int,
                    pts: np.ndarray, iters: int = 40) -> np.ndarray:
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
    return np.einsum('tij,tnj->tni', affine[:, :, :2], local) + affine[:, None, :, 2]


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


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------
def render_video(seed: int, num_frames: int = 24,
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


def render_scene(seed: int, num_frames: int = 24,
                 size: Tuple[int, int] = (128, 128),
                 num_objects: Union[int, Tuple[int, int], None] = None,
                 num_points: int = 256, style: str = 'default'):
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
            affines.append(_styled_affines(
                rng, _MOTION_STYLES[int(classes[k]) - 1], num_frames, height,
                width, canvas.shape[0], diameter))
        else:
            canvas = _object_canvas(rng, int(classes[k]), diameter)
            if crowd:
                bend = _bend(rng, diameter)
                pad = _bend_margin(bend)
                canvas = np.pad(canvas, ((pad, pad), (pad, pad), (0, 0)))
            affines.append(_object_affines(rng, num_frames, height, width,
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
        img = cv2.warpAffine(bg_canvas, pan, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        for k in back_to_front:
            canvas = (canvases[k] if bends[k] is None
                      else _bent_canvas(canvases[k], bends[k], t))
            rgba = cv2.warpAffine(canvas, affines[k][t], (width, height),
                                  flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
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
        raise RuntimeError('internal error: a sampled point is hidden in frame 0')

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


def ground_truth_tracks(video: Dict[str, np.ndarray], scene: dict,
                        frame: int, xy: np.ndarray):
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
        local = np.argwhere(canvas[..., 3] > 127)[:, ::-1].astype(np.float64)  # (x, y)
        local += rng.uniform(-0.5, 0.5, local.shape)
        tr = _object_tracks(affines[k], bends[k], local).astype(np.float32)
        row, col, inside = _pixel_index(tr, height, width)
        on_self = own_alpha[k][t_idx, row, col] > 127
        ok = np.all(on_self | ~inside, axis=0) & inside[0] & (inst[0, row[0], col[0]] == k + 1)
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
    return np.ascontiguousarray(tracks, dtype=np.float32), np.concatenate(out_inst)[order]


# --------------------------------------------------------------------------
# dataset on disk
# --------------------------------------------------------------------------
_SPLIT_CODES = {'train': 0, 'val': 1}
_OWNED_DIRS = ('JPEGImages', 'Annotations', 'ClassAnnotations', 'Tracks', 'ImageSets')


def _instance_palette() -> list:
    """The DAVIS / PASCAL VOC colour map (256 RGB triples, flattened)."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _class_palette() -> list:
    pal = [v for rgb in PALETTE for v in rgb]
    return pal + [0] * (768 - len(pal))


def _video_seed(seed: int, split: str, index: int) -> int:
    state = np.random.SeedSequence([seed, _SPLIT_CODES[split], index]).generate_state(1)
    return int(state[0])


def _save_palette_png(path: str, mask: np.ndarray, palette: list) -> None:
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    img = Image.frombytes('P', (mask.shape[1], mask.shape[0]), mask.tobytes())
    img.putpalette(palette)
    img.save(path)


def _write_video(root: str, name: str, video: dict, inst_pal: list,
                 cls_pal: list) -> None:
    dirs = {d: osp.join(root, d, name) for d in ('JPEGImages', 'Annotations',
                                                 'ClassAnnotations')}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    for t, frame in enumerate(video['frames']):
        stem = f'{t:05d}'
        path = osp.join(dirs['JPEGImages'], stem + '.jpg')
        if not cv2.imwrite(path, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f'could not write {path}')
        _save_palette_png(osp.join(dirs['Annotations'], stem + '.png'),
                          video['instance_masks'][t], inst_pal)
        _save_palette_png(osp.join(dirs['ClassAnnotations'], stem + '.png'),
                          video['class_masks'][t], cls_pal)
    np.savez_compressed(osp.join(root, 'Tracks', name + '.npz'),
                        tracks=video['tracks'], visibility=video['visibility'],
                        point_instance=video['point_instance'],
                        instance_classes=video['instance_classes'])


def write_dataset(root: str, num_train: int = 32, num_val: int = 8,
                  num_frames: int = 24, size: Tuple[int, int] = (128, 128),
                  seed: int = 0, progress: bool = True, *,
                  num_objects: Union[int, Tuple[int, int], None] = None,
                  num_points: int = 256, overwrite: bool = False,
                  style: str = 'default') -> dict:
    """Write synthetic videos in the YouTube-VOS / DAVIS layout::

        root/JPEGImages/<video>/00000.jpg        RGB frames (JPEG quality 95)
        root/Annotations/<video>/00000.png       instance ids, palette PNG
        root/ClassAnnotations/<video>/00000.png  class ids (CLASSES), palette PNG
        root/Tracks/<video>.npz                  tracks [T,P,2] float32,
                                                 visibility [T,P] bool,
                                                 point_instance [P], instance_classes [K+1]
        root/ImageSets/{train,val}.txt           one video name per line
        root/meta.json                           written last, atomically

    ``style`` is passed to :func:`render_video`; a non-default style is
    recorded in meta.json's params (the default's meta.json is unchanged).
    Videos are ``train_0000``... and ``val_0000``...; each one's seed is
    derived from ``seed``, its split and its index (recorded in meta.json).
    If meta.json exists with the same parameters nothing is written. If it
    exists with other parameters this is an error unless ``overwrite``, which
    deletes the previously generated synthetic dataset first.

    Returns:
        summary dict: ``root``, ``created`` (False if it was already there),
        ``videos`` per split, ``num_frames``, ``size``, ``seed``, ``seconds``.
    """
    start = time.perf_counter()
    num_train = _check_int('num_train', num_train, 0)
    num_val = _check_int('num_val', num_val, 0)
    if num_train + num_val == 0:
        raise ValueError('write_dataset needs at least one video '
                         '(num_train + num_val >= 1)')
    num_frames = _check_int('num_frames', num_frames, 1)
    height, width = _check_size(size)
    seed = _check_int('seed', seed, 0)
    style = _check_style(style)
    num_objects = _check_num_objects(num_objects, style)
    num_points = _check_int('num_points', num_points, 1)
    params = dict(generator=GENERATOR_NAME, generator_version=GENERATOR_VERSION,
                  num_train=num_train, num_val=num_val, num_frames=num_frames,
                  size=[height, width], seed=seed, num_objects=list(num_objects),
                  num_points=num_points)
    if style != 'default':
        params['style'] = style
    root = osp.abspath(os.fspath(root))
    meta_path = osp.join(root, 'meta.json')

    def summary(created: bool) -> dict:
        return dict(root=root, created=created,
                    videos=dict(train=num_train, val=num_val),
                    num_frames=num_frames, size=(height, width), seed=seed,
                    seconds=round(time.perf_counter() - start, 3))

    if osp.isfile(meta_path):
        try:
            with open(meta_path) as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            old = {'unreadable': str(e)}
        old_params = old.get('params') if isinstance(old, dict) else None
        if old_params == params:
            return summary(created=False)
        if not overwrite:
            if isinstance(old_params, dict):
                diff = ', '.join(f'{k}: {old_params.get(k)!r} there, {v!r} requested'
                                 for k, v in params.items() if old_params.get(k) != v)
            else:
                diff = 'no readable parameters there'
            raise FileExistsError(
                f'{meta_path} describes a dataset with other parameters ({diff}); '
                'choose another root or pass overwrite=True (--overwrite) to '
                'regenerate it')
        if not (isinstance(old_params, dict)
                and old_params.get('generator') == GENERATOR_NAME):
            raise FileExistsError(f'{meta_path} was not written by {GENERATOR_NAME}; '
                                  'refusing to overwrite it')
        os.remove(meta_path)  # mark the dataset incomplete before deleting it
        for d in _OWNED_DIRS:
            shutil.rmtree(osp.join(root, d), ignore_errors=True)

    for d in ('Tracks', 'ImageSets'):
        os.makedirs(osp.join(root, d), exist_ok=True)
    jobs = [(split, i, f'{split}_{i:04d}')
            for split, n in (('train', num_train), ('val', num_val))
            for i in range(n)]
    inst_pal, cls_pal = _instance_palette(), _class_palette()
    seeds, inst_classes = {}, {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc='synthetic videos', unit='video')
    try:
        for split, i, name in jobs:
            seeds[name] = _video_seed(seed, split, i)
            video = render_video(seeds[name], num_frames, (height, width),
                                 num_objects, num_points, style=style)
            inst_classes[name] = video['instance_classes'].tolist()
            _write_video(root, name, video, inst_pal, cls_pal)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    splits = {s: [name for sp, _, name in jobs if sp == s] for s in ('train', 'val')}
    for s, names in splits.items():
        with open(osp.join(root, 'ImageSets', f'{s}.txt'), 'w') as f:
            f.write(''.join(n + '\n' for n in names))

    meta = dict(params=params, classes=list(CLASSES),
                palette=[list(c) for c in PALETTE], seed=seed,
                generator=GENERATOR_NAME, generator_version=GENERATOR_VERSION,
                size=[height, width], num_frames=num_frames, num_points=num_points,
                splits=splits, video_seeds=seeds, instance_classes=inst_classes)
    fd, tmp = tempfile.mkstemp(prefix='.meta.', suffix='.json.tmp', dir=root)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, meta_path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return summary(created=True)
