"""Clip-consistent geometric transforms.

Every transform draws its randomness once per clip (``np.random`` global
state, seeded per worker by mmengine) and applies the same geometry to every
frame of ``imgs`` uint8 ``[T, H, W, 3]`` and, when present, to ``tracks``
float32 ``[T, N, 2]`` (x, y) with ``visibility`` bool ``[T, N]``.
Coordinates follow docs/conventions.md: pixel centres at integers, the image
covers ``[-0.5, W-0.5) x [-0.5, H-0.5)``; points leaving the image become
invisible (``outside='invisible'``, default; see :func:`crop_visibility`),
their coordinates are never clamped.
"""
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mosic_mm.datasets.resize import INTERPOLATIONS, resize_frames
from mosic_mm.registry import TRANSFORMS
from mosic_mm.structures import (
    crop_resize_points,
    flip_points,
    points_inside,
    sample_crop_box,
)


def _to_hw(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """int s -> (s, s); (w, h) (mmcv order) -> (h, w)."""
    if isinstance(size, int):
        w = h = size
    elif len(size) == 2:
        w, h = size
    else:
        raise ValueError(f'{name} must be an int or (w, h), got {size!r}')
    if int(w) != w or int(h) != h or w < 1 or h < 1:
        raise ValueError(f'{name} must hold positive integers, got {size!r}')
    return int(h), int(w)


def _check_imgs(results: dict, name: str) -> np.ndarray:
    imgs = results.get('imgs')
    if imgs is None or imgs.ndim != 4:
        raise KeyError(f'{name} needs results["imgs"] uint8 [T, H, W, C]; '
                       'put LoadClip before it')
    return imgs


OUTSIDE_RULES = ('invisible', 'keep')


def crop_visibility(visibility: np.ndarray, inside: np.ndarray,
                    outside: str = 'invisible') -> np.ndarray:
    """Visibility bool ``[T, N]`` of tracks after a crop, from their
    visibility before it and ``inside`` ``[T, N]`` (point in the output
    image, :func:`points_inside`).

    - ``'invisible'``: visible where visible and inside, frame by frame (a
      point that leaves the crop counts as occluded there).
    - ``'keep'``: the reference's rule (tracker visibility of the cropped
      clip kept as it is, positions clamped by the feature sampler's border
      padding): tracks whose frame-0 point lies in the crop (the reference's
      queries) keep their visibility in every frame, outside the crop too;
      the others become invisible.
    """
    vis = np.asarray(visibility, dtype=bool)
    if outside == 'invisible':
        return vis & inside
    if outside == 'keep':
        return vis & inside[:1]
    raise ValueError(f'outside must be one of {OUTSIDE_RULES}, got '
                     f'{outside!r}')


def _check_outside(outside: str, name: str) -> str:
    if outside not in OUTSIDE_RULES:
        raise ValueError(f'{name} outside must be one of {OUTSIDE_RULES}, '
                         f'got {outside!r}')
    return outside


def _apply_box(results: dict, bbox, out_hw, interpolation: str,
               outside: str = 'invisible') -> None:
    """Crop ``bbox`` from every frame, resize to ``out_hw``, map tracks and
    update their visibility (:func:`crop_visibility` with ``outside``)."""
    x0, y0, x1, y1 = bbox
    imgs = results['imgs'][:, y0:y1, x0:x1]
    results['imgs'] = np.ascontiguousarray(
        resize_frames(imgs, out_hw, interpolation))
    results['img_shape'] = tuple(out_hw)
    if results.get('tracks') is not None:
        tracks = crop_resize_points(results['tracks'], bbox, out_hw)
        results['tracks'] = tracks
        inside = points_inside(tracks, out_hw)
        vis = results.get('visibility')
        results['visibility'] = crop_visibility(
            np.ones_like(inside) if vis is None else vis, inside, outside)


def _check_interp(interpolation: str, name: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f'{name} interpolation must be one of '
                         f'{INTERPOLATIONS}, got {interpolation!r}')
    return interpolation


# ----------------------------------------------------------------- transforms
@TRANSFORMS.register_module()
class ClipResize(BaseTransform):
    """Resize every frame to ``scale`` and map tracks accordingly.

    Required keys: ``imgs``. Optional: ``tracks``, ``visibility``.
    Modified keys: ``imgs`` ``[T, h, w, 3]``, ``img_shape``, ``tracks``,
    ``visibility`` (points outside the image become invisible).

    Args:
        scale (int | tuple[int, int]): output size, ``(w, h)`` as in mmcv.
        interpolation (str): see :func:`resize_frames`; the default
            'bilinear' is PIL's antialiased bilinear, as the reference
            pipeline resizes (torchvision on PIL images).
        outside (str): visibility of points outside the image, see
            :func:`crop_visibility` ('invisible' or 'keep').
    """

    def __init__(self, scale=(224, 224), interpolation: str = 'bilinear',
                 outside: str = 'invisible'):
        self.out_hw = _to_hw(scale, 'ClipResize scale')
        self.scale = (self.out_hw[1], self.out_hw[0])
        self.interpolation = _check_interp(interpolation, 'ClipResize')
        self.outside = _check_outside(outside, 'ClipResize')

    def transform(self, results: dict) -> dict:
        h, w = _check_imgs(results, 'ClipResize').shape[1:3]
        _apply_box(results, (0, 0, w, h), self.out_hw, self.interpolation,
                   self.outside)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'interpolation={self.interpolation!r}, '
                f'outside={self.outside!r})')


@TRANSFORMS.register_module()
class ClipRandomResizedCrop(BaseTransform):
    """One random resized crop for the whole clip (torchvision-style box).

    Required keys: ``imgs``. Optional: ``tracks``, ``visibility``.
    Modified keys: ``imgs`` ``[T, h, w, 3]``, ``img_shape``, ``tracks``,
    ``visibility`` (points outside the crop become invisible).
    Added key: ``crop_bbox`` ``(x0, y0, x1, y1)`` pixel edges of the crop in
    the input image (x1, y1 exclusive).

    Args:
        size (int | tuple[int, int]): output size; an int or ``(w, h)``.
        scale (tuple[float, float]): range of the crop area as a fraction of
            the image area.
        ratio (tuple[float, float]): range of the crop aspect ratio (w / h),
            sampled log-uniformly.
        max_attempts (int): draws before falling back to a centre crop.
        interpolation (str): see :class:`ClipResize`.
        outside (str): visibility of points outside the crop, see
            :func:`crop_visibility`: 'invisible' (default) or 'keep' (the
            reference's rule: the tracker's visibility, for tracks starting
            in the crop).
    """

    def __init__(self, size=224, scale=(0.4, 1.0), ratio=(3 / 4, 4 / 3),
                 max_attempts: int = 10, interpolation: str = 'bilinear',
                 outside: str = 'invisible'):
        self.out_hw = _to_hw(size, 'ClipRandomResizedCrop size')
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError('ClipRandomResizedCrop scale must satisfy '
                             f'0 < min <= max <= 1, got {scale!r}')
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError('ClipRandomResizedCrop ratio must satisfy '
                             f'0 < min <= max, got {ratio!r}')
        if max_attempts < 0:
            raise ValueError('ClipRandomResizedCrop max_attempts must be >= 0,'
                             f' got {max_attempts}')
        self.size = size
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.max_attempts = int(max_attempts)
        self.interpolation = _check_interp(interpolation,
                                           'ClipRandomResizedCrop')
        self.outside = _check_outside(outside, 'ClipRandomResizedCrop')

    def transform(self, results: dict) -> dict:
        hw = _check_imgs(results, 'ClipRandomResizedCrop').shape[1:3]
        bbox = sample_crop_box(hw, self.scale, self.ratio, self.max_attempts)
        _apply_box(results, bbox, self.out_hw, self.interpolation,
                   self.outside)
        results['crop_bbox'] = bbox
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'scale={self.scale}, ratio={self.ratio}, '
                f'max_attempts={self.max_attempts}, '
                f'interpolation={self.interpolation!r}, '
                f'outside={self.outside!r})')


@TRANSFORMS.register_module()
class ClipFlip(BaseTransform):
    """Horizontally flip the whole clip and its tracks with probability
    ``prob`` (``x' = W - 1 - x``).

    Required keys: ``imgs``. Optional: ``tracks``.
    Modified keys: ``imgs``, ``tracks``. Added key: ``flip`` (bool).
    """

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'ClipFlip prob must be in [0, 1], got {prob}')
        self.prob = float(prob)

    def transform(self, results: dict) -> dict:
        imgs = _check_imgs(results, 'ClipFlip')
        flip = bool(np.random.rand() < self.prob)
        results['flip'] = flip
        if flip:
            results['imgs'] = np.ascontiguousarray(imgs[:, :, ::-1])
            if results.get('tracks') is not None:
                results['tracks'] = flip_points(results['tracks'],
                                                imgs.shape[2])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
