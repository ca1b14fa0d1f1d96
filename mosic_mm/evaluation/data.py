"""Readers for the evaluation data layouts.

- video (DAVIS-2017 / YouTube-VOS / synthetic): ``JPEGImages/<video>/*.jpg``,
  ``<ann_dir>/<video>/*.png`` (palette or grey PNG of ids) and a list of
  videos in ``ImageSets/<split>.txt`` or ``ImageSets/2017/<split>.txt``.
- image (Pascal VOC style): ``<img_dir>/<stem>.jpg``, ``<ann_dir>/<stem>.png``
  and a list file of stems.
"""
import os
import os.path as osp
from typing import List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image

__all__ = ['read_list', 'video_list', 'read_image', 'read_mask',
           'load_video', 'load_video_frames', 'load_image_list',
           'resize_masks']


def read_list(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'list file {path} does not exist')
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def video_list(root: str, split: str) -> List[str]:
    """Video names of a split (``ImageSets/<split>.txt`` or
    ``ImageSets/2017/<split>.txt``)."""
    for cand in (osp.join(root, 'ImageSets', f'{split}.txt'),
                 osp.join(root, 'ImageSets', '2017', f'{split}.txt')):
        if osp.isfile(cand):
            return read_list(cand)
    raise FileNotFoundError(f'no list of {split!r} videos under {root}: '
                            f'expected ImageSets/{split}.txt or '
                            f'ImageSets/2017/{split}.txt')


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


def load_video(root: str, video: str, ann_dir: str = 'Annotations',
               frame_step: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Frames uint8 [T, H, W, 3] and masks uint8 [T, H, W] of one video
    (every ``frame_step``-th frame with a mask)."""
    img_dir = osp.join(root, 'JPEGImages', video)
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'frame folder {img_dir} does not exist')
    stems = sorted(osp.splitext(f)[0] for f in os.listdir(img_dir)
                   if f.endswith('.jpg'))[::frame_step]
    frames = np.stack([read_image(osp.join(img_dir, s + '.jpg'))
                       for s in stems])
    masks = np.stack([read_mask(osp.join(root, ann_dir, video, s + '.png'))
                      for s in stems])
    return frames, masks


def load_video_frames(root: str, split: str, ann_dir: str = 'Annotations',
                      frame_step: int = 1,
                      max_videos: Optional[int] = None
                      ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Frames and masks of every frame (step ``frame_step``) of a split's
    videos, as flat lists of [H, W, 3] / [H, W] arrays."""
    images, masks = [], []
    for v in video_list(root, split)[:max_videos]:
        f, m = load_video(root, v, ann_dir, frame_step)
        images.extend(f)
        masks.extend(m)
    return images, masks


def load_image_list(root: str, list_file: str, img_dir: str, ann_dir: str,
                    img_suffix: str = '.jpg', ann_suffix: str = '.png',
                    max_images: Optional[int] = None
                    ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Images and masks named by a list file (paths relative to root)."""
    stems = read_list(osp.join(root, list_file))[:max_images]
    images = [read_image(osp.join(root, img_dir, s + img_suffix))
              for s in stems]
    masks = [read_mask(osp.join(root, ann_dir, s + ann_suffix))
             for s in stems]
    return images, masks


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
