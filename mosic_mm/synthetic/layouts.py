"""Tiny deterministic synthetic datasets written in the real layouts of the
paper evaluations (read by :mod:`mosic_mm.evaluation.data.readers`), for tests
and end-to-end benchmark runs. Content comes from
:func:`mosic_mm.synthetic.render_video` (class ids 0..5: background,
disc, box, triangle, star, cross); each writer maps them to the dataset's
label conventions:

- VOC: class c -> VOC id ``VOC_IDS[c]`` (0 = background); the
  ``SegmentationClass`` masks (VOC release style, palette PNG) carry a 255
  band on object boundaries, the ``SegmentationClassAug`` masks (SBD style,
  grey PNG) have none. ``trainaug`` = train + as many "SBD only" images,
  which have no ``SegmentationClass`` mask (as in the real data).
- ADE20K: background -> 1 ('wall'), class c -> ``ADE_IDS[c]`` (up to 150),
  the top ``size//8`` rows -> 0 ('other', ignored by the protocol).
- DAVIS / YouTube-VOS: instance ids (palette PNG, DAVIS colour map); the
  YouTube-VOS ``meta.json`` names each object's category.

Every writer returns a small dict describing what it wrote (counts, stems).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from .render import render_video
from .styles import CLASSES
from .writer import _instance_palette, _save_palette_png

__all__ = ['make_voc_layout', 'make_ade_layout', 'make_davis_layout',
           'make_ytvos_layout', 'VOC_IDS', 'ADE_IDS']

#: synthetic class id -> VOC id (background, aeroplane, car, dog, person, tv)
VOC_IDS = (0, 1, 7, 12, 15, 20)
#: synthetic class id -> ADE20K id (background -> 1 'wall'; up to 150)
ADE_IDS = (1, 13, 42, 77, 99, 150)

Size = Union[int, Tuple[int, int]]


def _hw(size: Size) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def _seed(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def _image(seed: int, size: Size) -> Dict[str, np.ndarray]:
    """One rendered frame: rgb uint8 [H, W, 3], cls / inst uint8 [H, W]."""
    v = render_video(seed, num_frames=1, size=_hw(size), num_points=8)
    return dict(rgb=v['frames'][0], cls=v['class_masks'][0],
                inst=v['instance_masks'][0])


def _write_jpg(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise OSError(f'could not write {path}')


def _write_grey(path: str, mask: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(mask, np.uint8), 'L').save(path)


def _write_palette(path: str, mask: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    _save_palette_png(path, mask, _instance_palette())


def _write_list(path: str, names: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(n + '\n' for n in names)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels whose 3x3 neighbourhood holds another label."""
    k = np.ones((3, 3), np.uint8)
    return cv2.dilate(mask, k) != cv2.erode(mask, k)


def make_voc_layout(root: str, n_train: int = 4, n_val: int = 3,
                    size: Size = 48, seed: int = 0,
                    layout: str = 'vocdevkit',
                    fractions: Sequence[Tuple[int, int]] = ((2, 42), )
                    ) -> dict:
    """Pascal VOC 2012 in the ``'vocdevkit'`` layout (JPEGImages,
    ImageSets/Segmentation) or the ``'hummingbird'`` one (images, sets).
    ``fractions``: (n, s) writes ``trainaug_<n>_<s>.txt`` holding a seeded
    1/n of trainaug in random order (the shape of the official Hummingbird
    split files; readers must not rely on the file order being sorted)."""
    if layout not in ('vocdevkit', 'hummingbird'):
        raise ValueError(f"layout must be 'vocdevkit' or 'hummingbird', got "
                         f'{layout!r}')
    img_dir, list_dir = (('JPEGImages', osp.join('ImageSets', 'Segmentation'))
                         if layout == 'vocdevkit' else ('images', 'sets'))
    lut = np.array(VOC_IDS, np.uint8)
    train = [f'2007_{i:06d}' for i in range(n_train)]
    val = [f'2008_{i:06d}' for i in range(n_val)]
    aug = [f'2011_{i:06d}' for i in range(n_train)]      # SBD-only images
    for code, stems in enumerate((train, val, aug)):
        for i, stem in enumerate(stems):
            im = _image(_seed(seed, code, i), size)
            voc = lut[im['cls']]
            _write_jpg(osp.join(root, img_dir, stem + '.jpg'), im['rgb'])
            if code != 1:                                 # train, aug
                _write_grey(osp.join(root, 'SegmentationClassAug',
                                     stem + '.png'), voc)
            if code != 2:                                 # train, val
                with_void = voc.copy()
                with_void[_boundary(voc)] = 255
                _write_palette(osp.join(root, 'SegmentationClass',
                                        stem + '.png'), with_void)
    trainaug = sorted(train + aug)
    lists = dict(train=train, val=val, trainaug=trainaug)
    for n, s in fractions:
        rng = np.random.default_rng(s)
        k = max(1, len(trainaug) // n)
        lists[f'trainaug_{n}_{s}'] = rng.choice(      # unsorted on purpose
            trainaug, k, replace=False).tolist()
    if layout == 'vocdevkit':         # mmseg's voc_aug.py name for trainaug
        lists['aug'] = trainaug
    for name, stems in lists.items():
        _write_list(osp.join(root, list_dir, name + '.txt'), stems)
    return dict(root=root, layout=layout, lists=lists)


def make_ade_layout(root: str, n_train: int = 4, n_val: int = 3,
                    size: Size = 48, seed: int = 0,
                    fractions: Sequence[Tuple[int, int]] = ((2, 42), )
                    ) -> dict:
    """ADEChallengeData2016 layout at ``root``; ``fractions`` as for VOC
    (``sets/training_<n>_<s>.txt``)."""
    lut = np.array(ADE_IDS, np.uint8)
    stems = {'training': [f'ADE_train_{i + 1:08d}' for i in range(n_train)],
             'validation': [f'ADE_val_{i + 1:08d}' for i in range(n_val)]}
    for code, (split, names) in enumerate(stems.items()):
        for i, stem in enumerate(names):
            im = _image(_seed(seed, 10 + code, i), size)
            ade = lut[im['cls']]
            ade[:max(1, ade.shape[0] // 8)] = 0            # 'other'
            _write_jpg(osp.join(root, 'images', split, stem + '.jpg'),
                       im['rgb'])
            _write_grey(osp.join(root, 'annotations', split, stem + '.png'),
                        ade)
    lists = {}
    for n, s in fractions:
        rng = np.random.default_rng(s)
        names = stems['training']
        lists[f'training_{n}_{s}'] = rng.choice(      # unsorted on purpose
            names, max(1, len(names) // n), replace=False).tolist()
        _write_list(osp.join(root, 'sets', f'training_{n}_{s}.txt'),
                    lists[f'training_{n}_{s}'])
    return dict(root=root, stems=stems, lists=lists)


def _videos(seed: int, code: int, names: Sequence[str], n_frames: int,
            size: Size) -> Dict[str, dict]:
    return {v: render_video(_seed(seed, code, i), num_frames=n_frames,
                            size=_hw(size), num_points=8)
            for i, v in enumerate(names)}


def make_davis_layout(root: str, n_videos: int = 2, n_frames: int = 4,
                      size: Size = 48, seed: int = 0, n_train: int = 1,
                      resolution: str = '480p') -> dict:
    """DAVIS 2017: ``n_videos`` in ``val.txt``, ``n_train`` in
    ``train.txt``, instance-id palette PNGs, frames 00000.jpg..."""
    val = [f'val-video{i}' for i in range(n_videos)]
    train = [f'train-video{i}' for i in range(n_train)]
    for code, names in enumerate((train, val)):
        for v, vid in _videos(seed, 20 + code, names, n_frames, size).items():
            for t in range(n_frames):
                _write_jpg(osp.join(root, 'JPEGImages', resolution, v,
                                    f'{t:05d}.jpg'), vid['frames'][t])
                _write_palette(osp.join(root, 'Annotations', resolution, v,
                                        f'{t:05d}.png'),
                               vid['instance_masks'][t])
    _write_list(osp.join(root, 'ImageSets', '2017', 'val.txt'), val)
    _write_list(osp.join(root, 'ImageSets', '2017', 'train.txt'), train)
    return dict(root=root, videos=dict(val=val, train=train))


def make_ytvos_layout(root: str, n_videos: int = 2, n_frames: int = 4,
                      size: Size = 48, seed: int = 0, split: str = 'valid',
                      frame_step: int = 5, ann_every: int = 1) -> dict:
    """YouTube-VOS 2019 ``<root>/<split>``: frames named ``t * frame_step``
    (YT-VOS keeps every 5th frame), an annotation PNG on every
    ``ann_every``-th stored frame, and ``meta.json`` with each object's
    category (synthetic class name) and annotated frames.

    Returns ``videos``, ``annotated`` (frame stems with a PNG per video) and
    ``instance_classes`` (per video: int64 [K + 1], class id of each
    instance)."""
    names = [f'{_seed(seed, 30, i) % 16 ** 10:010x}' for i in range(n_videos)]
    base = osp.join(root, split)
    meta: Dict[str, dict] = {}
    annotated: Dict[str, List[str]] = {}
    classes = {}
    for v, vid in _videos(seed, 31, names, n_frames, size).items():
        stems = [f'{t * frame_step:05d}' for t in range(n_frames)]
        annotated[v] = stems[::ann_every]
        objects: Dict[str, dict] = {}
        for t, stem in enumerate(stems):
            _write_jpg(osp.join(base, 'JPEGImages', v, stem + '.jpg'),
                       vid['frames'][t])
            if stem not in annotated[v]:
                continue
            inst = vid['instance_masks'][t]
            _write_palette(osp.join(base, 'Annotations', v, stem + '.png'),
                           inst)
            for k in np.unique(inst):
                if k == 0:
                    continue
                o = objects.setdefault(str(int(k)), dict(
                    category=CLASSES[vid['instance_classes'][k]], frames=[]))
                o['frames'].append(stem)
        meta[v] = dict(objects=objects)
        classes[v] = vid['instance_classes']
    with open(osp.join(base, 'meta.json'), 'w') as f:
        json.dump(dict(videos=meta), f)
    return dict(root=root, split=split, videos=names, annotated=annotated,
                instance_classes=classes)
