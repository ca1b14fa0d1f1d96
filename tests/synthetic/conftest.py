"""Fixtures of the synthetic-video tests: small renders (cached for the
session: a render depends on its arguments alone), their digest and the
pixel under a point."""
import numpy as np
import pytest

#: the small render the tests share (and the stored reference holds)
SMALL = dict(num_frames=8, size=(64, 64), num_points=96)


@pytest.fixture(scope='session')
def small():
    """``small(seed, **kw)``: ``render_video(seed, num_frames=8,
    size=(64, 64), num_points=96, **kw)``, cached per argument set (the
    arrays are shared: do not modify them)."""
    from mosic_mm.synthetic import render_video
    cache = {}

    def render(seed, **kw):
        args = dict(SMALL, **kw)
        key = (seed, tuple(sorted((k, str(v)) for k, v in args.items())))
        if key not in cache:
            cache[key] = render_video(seed, **args)
        return cache[key]
    return render


def _digest(video) -> str:
    import hashlib
    h = hashlib.sha256()
    for k in sorted(video):
        h.update(k.encode())
        h.update(np.ascontiguousarray(video[k]).tobytes())
    return h.hexdigest()


@pytest.fixture(scope='session')
def digest():
    """``digest(video)``: SHA-256 of a video's arrays, for comparisons on
    one machine only (other CPUs round the rendering's floats
    differently)."""
    return _digest


@pytest.fixture(scope='session')
def pixel_of():
    """``pixel_of(tracks, h, w) -> (row, col, inside)``: the pixel under
    each point (clamped to the image) and whether the point is inside."""
    from mosic_mm.structures import points_inside

    def pixel(tracks, h, w):
        x, y = tracks[..., 0], tracks[..., 1]
        col = np.clip(np.floor(x + 0.5), 0, w - 1).astype(int)
        row = np.clip(np.floor(y + 0.5), 0, h - 1).astype(int)
        return row, col, points_inside(tracks, (h, w))
    return pixel
