"""Resizing stacks of frames: the filters of the whole input pipeline
(decoding at a size, the frame cache, ``ClipResize`` and the crops)."""
from typing import Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# 'bilinear' / 'bicubic' are PIL's filters: antialiased when shrinking (the
# kernel support grows with the scale factor), plain interpolation when
# enlarging. torch's ``antialias=True`` implements the same separable filter
# (uint8 kernels agree with PIL to +-1 grey level). 'cv2_bilinear' is
# OpenCV's 2x2-tap bilinear, which aliases when shrinking (kept for
# comparison), 'area' is OpenCV's box filter.
_TORCH_MODES = {'bilinear': 'bilinear', 'bicubic': 'bicubic'}
_CV2_MODES = {
    'nearest': cv2.INTER_NEAREST,
    'area': cv2.INTER_AREA,
    'cv2_bilinear': cv2.INTER_LINEAR,
    'cv2_bicubic': cv2.INTER_CUBIC,
}
INTERPOLATIONS = tuple(sorted({**_TORCH_MODES, **_CV2_MODES}))


def resize_frames(imgs: np.ndarray, out_hw: Tuple[int, int],
                  interpolation: str = 'bilinear') -> np.ndarray:
    """Resize a stack of frames, antialiased when shrinking.

    Args:
        imgs: uint8 or float32 ``[T, H, W, C]``.
        out_hw: ``(h, w)`` of the output.
        interpolation: 'bilinear' (default, equals PIL ``Image.BILINEAR``:
            antialiased triangle filter when downscaling, bilinear when
            upscaling), 'bicubic' (PIL ``BICUBIC``), 'area' (cv2 INTER_AREA),
            'nearest', 'cv2_bilinear' / 'cv2_bicubic' (OpenCV, no
            antialiasing).

    Returns:
        ``[T, h, w, C]`` with the dtype of ``imgs`` (uint8 results are
        rounded, as PIL does). Unchanged input if the size already matches.
    """
    imgs = np.asarray(imgs)
    if imgs.ndim != 4:
        raise ValueError('resize_frames expects imgs [T, H, W, C], got shape '
                         f'{imgs.shape}')
    if imgs.dtype not in (np.uint8, np.float32):
        raise ValueError('resize_frames expects uint8 or float32 frames, got '
                         f'{imgs.dtype}')
    h, w = (int(v) for v in out_hw)
    if h < 1 or w < 1:
        raise ValueError('resize_frames out_hw must be positive, got '
                         f'{out_hw}')
    if imgs.shape[1:3] == (h, w):
        return imgs
    if interpolation in _TORCH_MODES:
        x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2)
        # uint8 goes through torch's native uint8 kernel, which follows
        # PIL's fixed-point arithmetic and rounding.
        out = F.interpolate(x, size=(h, w), mode=_TORCH_MODES[interpolation],
                            antialias=True, align_corners=False)
        return np.ascontiguousarray(out.permute(0, 2, 3, 1).numpy())
    if interpolation not in _CV2_MODES:
        raise ValueError(f'interpolation must be one of {INTERPOLATIONS}, '
                         f'got {interpolation!r}')
    flag = _CV2_MODES[interpolation]
    out = [cv2.resize(f, (w, h), interpolation=flag) for f in imgs]
    out = [o[..., None] if o.ndim == 2 else o for o in out]
    return np.stack(out)
