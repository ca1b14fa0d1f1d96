"""File-level readers shared by the dataset readers of :mod:`.paper_data`:
list files, RGB images, label PNGs (palette or grey), and PIL-style nearest
resizing of label maps."""
import os.path as osp
from typing import List

import cv2
import numpy as np
from PIL import Image

__all__ = ['read_list', 'read_image', 'read_mask', 'resize_masks']


def read_list(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'list file {path} does not exist')
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def read_image(path: str) -> np.ndarray:
    """uint8 [H, W, 3] RGB."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str) -> np.ndarray:
    """Label ids uint8 [H, W] from a palette ('P') or grey ('L') PNG."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'mask {path} does not exist')
    img = Image.open(path)
    if img.mode not in ('P', 'L'):
        raise ValueError(f'{path}: expected a palette or grey PNG of label '
                         f'ids, got mode {img.mode}')
    return np.array(img)


def resize_masks(masks, size: int) -> np.ndarray:
    """Nearest resizing of label maps as PIL's ``NEAREST`` (pixel centres,
    ``cv2.INTER_NEAREST_EXACT``; plain ``INTER_NEAREST`` picks other pixels):
    int [..., H, W] (or a list of [H, W] of different sizes) -> int64
    [..., size, size]."""
    if isinstance(masks, (list, tuple)):
        return np.stack([resize_masks(m, size) for m in masks])
    masks = np.asarray(masks)
    flat = masks.reshape(-1, *masks.shape[-2:]).astype(np.int32)
    out = [cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)
           for m in flat]
    return np.stack(out).reshape(*masks.shape[:-2], size, size).astype(
        np.int64)
