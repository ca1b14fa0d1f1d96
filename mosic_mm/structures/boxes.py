"""The one random-resized-crop box sampler of the project (training clips,
the Hummingbird memory)."""
import math
from typing import Tuple

import numpy as np

__all__ = ['sample_crop_box']


def sample_crop_box(hw: Tuple[int, int], scale: Tuple[float, float],
                    ratio: Tuple[float, float], max_attempts: int = 10,
                    rng=np.random, row_first: bool = False
                    ) -> Tuple[int, int, int, int]:
    """Random-resized-crop box ``(x0, y0, x1, y1)`` (x1, y1 exclusive): the
    one crop sampler of the project (training clips, Hummingbird memory).

    Draws an area fraction uniformly from ``scale`` and an aspect ratio
    (w / h) log-uniformly from ``ratio`` until the box fits (at most
    ``max_attempts`` draws), then a uniform position. Falls back to the
    largest centred box whose aspect ratio is clamped to ``ratio``
    (torchvision ``RandomResizedCrop.get_params`` semantics).

    Args:
        rng: ``np.random`` or a ``RandomState`` (``randint``), or a
            ``np.random.Generator`` (``integers``).
        row_first: draw the top row before the left column (torchvision's
            order, kept by the Hummingbird memory); the clip transforms
            draw the column first. Either order keeps a seeded crop as it
            was.
    """
    h, w = hw
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    randint = getattr(rng, 'integers', None) or rng.randint
    for _ in range(max_attempts):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_r[0], log_r[1]))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            if row_first:
                y0 = int(randint(0, h - ch + 1))
                x0 = int(randint(0, w - cw + 1))
            else:
                x0 = int(randint(0, w - cw + 1))
                y0 = int(randint(0, h - ch + 1))
            return x0, y0, x0 + cw, y0 + ch
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, max(1, min(h, int(round(w / min(ratio)))))
    elif in_ratio > max(ratio):
        cw, ch = max(1, min(w, int(round(h * max(ratio))))), h
    else:
        cw, ch = w, h
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return x0, y0, x0 + cw, y0 + ch
