"""How synthetic objects and backgrounds look: textures, shapes, object and
background canvases, and the moving lights of styles 'camera' and 'crowd'."""
import colorsys
import math
from typing import Tuple

import cv2
import numpy as np

from .styles import _CLASS_SPECS, _TEXTURES, _TINT_HUE


def _hsv(hue_deg: float, sat: float, val: float) -> np.ndarray:
    """RGB float32 [3] in 0..255 from hue in degrees, saturation, value."""
    rgb = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0,
                              float(np.clip(sat, 0, 1)),
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
        return _soft_sign(
            np.sin(two_pi * u / period) * np.sin(two_pi * v / period), 4.0)
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
        axes = (int(round(r * fix)),
                int(round(r * rng.uniform(0.65, 1.0) * fix)))
        centre = (int(round(c * fix)), int(round(c * fix)))
        cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 255, -1, cv2.LINE_AA,
                    4)
    elif family == 'rect':
        hw, hh = r * 0.92, r * rng.uniform(0.5, 0.85)
        poly([(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)])
    elif family == 'triangle':
        ang = np.deg2rad(-90.0 + 120.0 * np.arange(3)
                         + rng.uniform(-12, 12, 3))
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


def _finish_canvas(rng: np.random.Generator, rgb: np.ndarray, xx: np.ndarray,
                   yy: np.ndarray, shape: str, diameter: float) -> np.ndarray:
    """Directional shading and blurred grain on rgb float [L, L, 3], then
    the alpha of ``shape`` -> RGBA uint8 [L, L, 4]."""
    side = xx.shape[0]
    c = (side - 1) / 2.0
    b = rng.uniform(0.0, 2.0 * np.pi)
    shading = 1.0 + 0.15 * (xx * np.cos(b) + yy * np.sin(b)) / max(c, 1.0)
    grain = cv2.GaussianBlur(
        rng.standard_normal((side, side)).astype(np.float32),
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
    base = _hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.25),
                rng.uniform(0.4, 0.6))
    lum = np.zeros((h, w), np.float32)
    family = int(rng.integers(3))
    if family == 0:  # multi-scale blotches
        for cell, amp in ((ref * 0.3, 0.16), (ref * 0.12, 0.09), (ref * 0.05,
                                                                  0.05)):
            lum += amp * _smooth_noise(rng, h, w, cell)
    elif family == 1:  # brick-like tiles with grout
        tile = ref * rng.uniform(0.12, 0.22)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        row = np.floor(yy / tile)
        xs = xx / (tile * 1.6) + 0.5 * (row % 2)
        col = np.floor(xs)
        shade = rng.uniform(-0.12, 0.12,
                            (int(row.max()) + 1, int(col.max()) + 1))
        lum += shade[row.astype(np.int64),
                     col.astype(np.int64)].astype(np.float32)
        gy = np.minimum(yy % tile, tile - yy % tile)
        gx = np.minimum((xs % 1.0), 1.0 - xs % 1.0) * tile * 1.6
        lum -= 0.18 * (np.minimum(gx, gy) < 1.0)
        lum += 0.04 * _smooth_noise(rng, h, w, ref * 0.08)
    else:  # wood-like grain
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * np.cos(ang) + yy * np.sin(ang)
        warp = 0.08 * ref * _smooth_noise(rng, h, w, ref * 0.25)
        lum += 0.1 * np.sin(2 * np.pi * (t + warp) /
                            (ref * rng.uniform(0.06, 0.12)))
        lum += 0.05 * _smooth_noise(rng, h, w, ref * 0.1)
    chroma = np.stack([_smooth_noise(rng, h, w, ref * 0.3) for _ in range(3)],
                      -1)
    fine = cv2.GaussianBlur(
        rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8)
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
    grain = cv2.GaussianBlur(
        rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.7) * 10.0
    rgb = rgb * shading[..., None] + grain[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


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
