"""Synthetic datasets on disk in the YouTube-VOS / DAVIS layout
(:func:`write_dataset`)."""
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Tuple, Union

import cv2
import numpy as np
from PIL import Image

from .render import render_video
from .styles import (
    CLASSES,
    PALETTE,
    _check_int,
    _check_num_objects,
    _check_size,
    _check_style,
)

GENERATOR_NAME = 'mosic_mm.synthetic'
GENERATOR_VERSION = 1

_SPLIT_CODES = {'train': 0, 'val': 1}
_OWNED_DIRS = ('JPEGImages', 'Annotations', 'ClassAnnotations', 'Tracks',
               'ImageSets')


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
    state = np.random.SeedSequence([seed, _SPLIT_CODES[split],
                                    index]).generate_state(1)
    return int(state[0])


def _save_palette_png(path: str, mask: np.ndarray, palette: list) -> None:
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    img = Image.frombytes('P', (mask.shape[1], mask.shape[0]), mask.tobytes())
    img.putpalette(palette)
    img.save(path)


def _write_video(root: str, name: str, video: dict, inst_pal: list,
                 cls_pal: list) -> None:
    dirs = {
        d: osp.join(root, d, name)
        for d in ('JPEGImages', 'Annotations', 'ClassAnnotations')
    }
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
                        tracks=video['tracks'],
                        visibility=video['visibility'],
                        point_instance=video['point_instance'],
                        instance_classes=video['instance_classes'])


def write_dataset(root: str,
                  num_train: int = 32,
                  num_val: int = 8,
                  num_frames: int = 24,
                  size: Tuple[int, int] = (128, 128),
                  seed: int = 0,
                  progress: bool = True,
                  *,
                  num_objects: Union[int, Tuple[int, int], None] = None,
                  num_points: int = 256,
                  overwrite: bool = False,
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
    params = dict(generator=GENERATOR_NAME,
                  generator_version=GENERATOR_VERSION,
                  num_train=num_train,
                  num_val=num_val,
                  num_frames=num_frames,
                  size=[height, width],
                  seed=seed,
                  num_objects=list(num_objects),
                  num_points=num_points)
    if style != 'default':
        params['style'] = style
    root = osp.abspath(os.fspath(root))
    meta_path = osp.join(root, 'meta.json')

    def summary(created: bool) -> dict:
        return dict(root=root,
                    created=created,
                    videos=dict(train=num_train, val=num_val),
                    num_frames=num_frames,
                    size=(height, width),
                    seed=seed,
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
                diff = ', '.join(
                    f'{k}: {old_params.get(k)!r} there, {v!r} requested'
                    for k, v in params.items() if old_params.get(k) != v)
            else:
                diff = 'no readable parameters there'
            raise FileExistsError(
                f'{meta_path} describes a dataset with other parameters ({diff}); '
                'choose another root or pass overwrite=True (--overwrite) to '
                'regenerate it')
        if not (isinstance(old_params, dict)
                and old_params.get('generator') == GENERATOR_NAME):
            raise FileExistsError(
                f'{meta_path} was not written by {GENERATOR_NAME}; '
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
            video = render_video(seeds[name],
                                 num_frames, (height, width),
                                 num_objects,
                                 num_points,
                                 style=style)
            inst_classes[name] = video['instance_classes'].tolist()
            _write_video(root, name, video, inst_pal, cls_pal)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    splits = {
        s: [name for sp, _, name in jobs if sp == s]
        for s in ('train', 'val')
    }
    for s, names in splits.items():
        with open(osp.join(root, 'ImageSets', f'{s}.txt'), 'w') as f:
            f.write(''.join(n + '\n' for n in names))

    meta = dict(params=params,
                classes=list(CLASSES),
                palette=[list(c) for c in PALETTE],
                seed=seed,
                generator=GENERATOR_NAME,
                generator_version=GENERATOR_VERSION,
                size=[height, width],
                num_frames=num_frames,
                num_points=num_points,
                splits=splits,
                video_seeds=seeds,
                instance_classes=inst_classes)
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
