"""Readers of the evaluation datasets: the real layouts of the paper
evaluations and the synthetic ones.

Each reader only lists files (fast, no decoding); ``load`` decodes one item
with :func:`~mosic_mm.evaluation.data.files.read_image` / ``read_mask``. A missing
folder or list file raises ``FileNotFoundError`` naming the path and the
expected layout.

Pascal VOC 2012 -- :func:`voc2012`
    Two layouts are accepted (auto-detected):

    - VOCdevkit: ``<root>/JPEGImages/<stem>.jpg``,
      ``<root>/SegmentationClass/<stem>.png`` (palette PNG, VOC release),
      ``<root>/SegmentationClassAug/<stem>.png`` (grey PNG, SBD "aug" masks,
      10,582 train images), lists ``<root>/ImageSets/Segmentation/<split>.txt``
      (train 1,464 / val 1,449 / trainaug 10,582).
    - Leopart / Hummingbird (``voc_data.zip`` used by MoSiC, NeCo, TimeT,
      open-hummingbird-eval): ``<root>/images``, ``SegmentationClass``,
      ``SegmentationClassAug``, lists ``<root>/sets/<split>.txt`` -- including
      the fixed Hummingbird fractions ``trainaug_128_42.txt`` etc.

    Masks: as MoSiC's ``dataset/data_loader.py`` ``VOCDataset``, every split
    whose name contains ``train`` (``train``, ``trainaug``,
    ``trainaug_128_42`` ...) reads ``SegmentationClassAug``; ``val`` reads
    ``SegmentationClass``. mmseg's converter (``voc_aug.py``) writes the same
    10,582-image list as ``ImageSets/Segmentation/aug.txt``: ``aug`` reads
    ``SegmentationClassAug`` too. ``mask_dir=`` overrides. Labels 0
    (background) .. 20, 255 = boundary / void = ``ignore_index``;
    ``num_classes = 21``.

ADE20K (SceneParsing) -- :func:`ade20k`
    ``<root>/images/{training,validation}/<stem>.jpg`` and
    ``<root>/annotations/{training,validation}/<stem>.png`` (grey PNG, root
    is ``ADEChallengeData2016``); optional list files
    ``<root>/sets/<name>.txt`` (Hummingbird fractions, e.g.
    ``training_128_42``: pass it as ``split``). Labels 0..150 where 0 is
    "other / unlabelled". As the official Hummingbird code (MoSiC
    ``evaluation/evaluation.py`` ``get_hb_dataset``: ``ignore_index = 0``,
    ``Ade20kDataModule.get_num_classes() == 151``) label 0 is *ignored*:
    ``num_classes = 151``, ``ignore_index = 0``, scored ids 1..150.
    (mmseg's ``reduce_zero_label`` maps the same data to 0..149 + 255.)

DAVIS 2017 -- :func:`davis2017`
    ``<root>/JPEGImages/<res>/<video>/<frame>.jpg``,
    ``<root>/Annotations/<res>/<video>/<frame>.png`` (palette PNG of instance
    ids, 0 = background), ``<root>/ImageSets/2017/<split>.txt`` (val: 30
    videos). Labels are instance ids as TimeT reads them (no category map);
    255 (void, where present) is ``ignore_index``.

YouTube-VOS 2019 -- :func:`ytvos2019`
    ``<root>/<split>/JPEGImages/<video>/<frame>.jpg``,
    ``<root>/<split>/Annotations/<video>/<frame>.png`` (palette PNG of
    instance ids) and ``<root>/<split>/meta.json``. Only frames with an
    annotation PNG are items (YT-VOS annotates every 5th frame; the official
    ``valid`` split annotates an object only on its first frame, so it is
    nearly unusable for clustering). TimeT's ``data_loader.make_loader
    ('ytvos_val')`` reads ``val1/`` -- a random 20 % of the *train* videos
    copied by its ``split_directory_to_train_val`` (unseeded, so not
    reproducible) -- and maps instance ids to *category* ids through
    ``meta.json`` (``make_categories_dict``: sorted category names -> 1..C,
    0 = background). ``labels='category'`` (default) does that mapping,
    ``labels='instance'`` keeps instance ids. To evaluate as TimeT did use
    ``split='train'`` with ``videos=`` the 695 ids of ``val.txt`` in
    SMSD75/TimeT_clean (its 20 % held-out train videos; ``train.txt`` there
    lists the other 2,776), or a ``val1/`` folder made that way.

Synthetic videos (the demo's frame folders) -- :func:`synthetic_frames`,
:func:`synthetic_videos`
    ``<root>/JPEGImages/<video>/<frame>.jpg``, ``Annotations/`` (instance
    ids), ``ClassAnnotations/`` (class ids), ``ImageSets/<split>.txt`` and
    ``meta.json`` (``classes``), as :func:`mosic_mm.synthetic.write_dataset`
    writes them. The image protocols read every ``frame_step``-th frame
    with its class mask, the video protocols every frame with its instance
    mask; ``ignore_index = 255`` (no pixel carries it).
"""
import json
import logging
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .files import read_image, read_list, read_mask

__all__ = ['SegImageSet', 'SegVideoSet', 'voc2012', 'ade20k', 'davis2017',
           'ytvos2019', 'synthetic_frames', 'synthetic_videos',
           'VOC_NUM_CLASSES', 'ADE_NUM_CLASSES']

logger = logging.getLogger(__name__)

VOC_NUM_CLASSES = 21
VOC_IGNORE_INDEX = 255
ADE_NUM_CLASSES = 151      # 0 ('other') .. 150; 0 is ignored
ADE_IGNORE_INDEX = 0

_VOC_LAYOUT = ('expected VOCdevkit/VOC2012 (JPEGImages/, SegmentationClass/,'
               ' SegmentationClassAug/, ImageSets/Segmentation/<split>.txt) or'
               ' the Leopart/Hummingbird layout (images/, SegmentationClass/, '
               'SegmentationClassAug/, sets/<split>.txt)')
_ADE_LAYOUT = ('expected ADEChallengeData2016 (images/{training,validation}/'
               '*.jpg, annotations/{training,validation}/*.png, optional '
               'sets/<name>.txt)')
_DAVIS_LAYOUT = ('expected DAVIS 2017 (JPEGImages/<res>/<video>/*.jpg, '
                 'Annotations/<res>/<video>/*.png, '
                 'ImageSets/2017/<split>.txt)')
_SYNTHETIC_LAYOUT = ('expected the synthetic videos (JPEGImages/<video>/'
                     '*.jpg, Annotations/, ClassAnnotations/, '
                     'ImageSets/<split>.txt, meta.json) that '
                     'tools/make_synthetic.py writes')
_YTVOS_LAYOUT = ('expected YouTube-VOS 2019 ('
                 '<split>/JPEGImages/<video>/*.jpg, '
                 '<split>/Annotations/<video>/*.png, <split>/meta.json)')


def _need_dir(path: str, layout: str) -> str:
    if not osp.isdir(path):
        raise FileNotFoundError(f'missing folder {path}; {layout}')
    return path


def _need_file(path: str, layout: str) -> str:
    if not osp.isfile(path):
        raise FileNotFoundError(f'missing list file {path}; {layout}')
    return path


@dataclass
class SegImageSet:
    """One image segmentation split: (image, mask) path pairs.

    Scored label ids are ``range(num_classes)`` minus ``ignore_index``.
    """
    name: str
    root: str
    items: List[Tuple[str, str]]
    num_classes: int
    ignore_index: int

    def __len__(self) -> int:
        return len(self.items)

    @property
    def stems(self) -> List[str]:
        return [osp.splitext(osp.basename(i))[0] for i, _ in self.items]

    def load(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        """-> image uint8 [H, W, 3] RGB, mask int64 [H, W]."""
        img_path, mask_path = self.items[i]
        img = read_image(img_path)
        mask = read_mask(mask_path).astype(np.int64)
        if mask.shape != img.shape[:2]:
            raise ValueError(f'{mask_path}: mask {mask.shape} does not match '
                             f'image {img_path} {img.shape[:2]}')
        return img, mask

    def subset(self, stems_or_indices: Sequence[Union[str, int]],
               name: Optional[str] = None) -> 'SegImageSet':
        """Items by stem (e.g. from a split file) or by index, in the given
        order; an unknown stem raises ``KeyError`` naming it."""
        pos = {s: i for i, s in enumerate(self.stems)}
        items = []
        for s in stems_or_indices:
            if isinstance(s, (int, np.integer)):
                items.append(self.items[int(s)])
            elif s in pos:
                items.append(self.items[pos[s]])
            else:
                raise KeyError(f'{s!r} is not an item of {self.name} '
                               f'({self.root})')
        return SegImageSet(name or f'{self.name}-subset', self.root, items,
                           self.num_classes, self.ignore_index)


@dataclass
class SegVideoSet:
    """Annotated videos. ``frames[v]`` lists the frame stems that have a
    mask; ``category`` (optional) maps a video's instance id -> label id."""
    name: str
    root: str
    videos: List[str]
    ignore_index: int
    img_dir: str = ''
    ann_dir: str = ''
    frames: Dict[str, List[str]] = field(default_factory=dict)
    category: Optional[Dict[str, Dict[int, int]]] = None

    def __len__(self) -> int:
        return len(self.videos)

    def load(self, video: str, indices: Optional[Sequence[int]] = None
             ) -> Tuple[np.ndarray, np.ndarray]:
        """-> frames uint8 [T, H, W, 3] RGB, masks int64 [T, H, W] of the
        annotated frames of ``video`` in time order (``indices``: only
        those positions of ``frames[video]``)."""
        if video not in self.frames:
            raise KeyError(f'{video!r} is not a video of {self.name} '
                           f'({self.root})')
        stems = self.frames[video]
        if indices is not None:
            stems = [stems[i] for i in indices]
        imgs = np.stack([read_image(osp.join(self.img_dir, video, s + '.jpg'))
                         for s in stems])
        masks = np.stack([read_mask(osp.join(self.ann_dir, video, s + '.png'))
                          for s in stems]).astype(np.int64)
        if masks.shape != imgs.shape[:3]:
            raise ValueError(f'{video}: masks {masks.shape} do not match '
                             f'frames {imgs.shape[:3]} in {self.root}')
        if self.category is not None:
            lut = self.category[video]
            out = np.zeros_like(masks)
            for inst in np.unique(masks):
                inst = int(inst)
                if inst == 0:
                    continue
                if inst == self.ignore_index:
                    out[masks == inst] = inst
                    continue
                if inst not in lut:
                    raise ValueError(
                        f'{video}: instance id {inst} has no entry in '
                        f'{osp.join(self.root, "meta.json")}')
                out[masks == inst] = lut[inst]
            masks = out
        return imgs, masks


def _stems(folder: str, ext: str) -> List[str]:
    return sorted(osp.splitext(f)[0] for f in os.listdir(folder)
                  if f.endswith(ext))


def _pairs(img_dir: str, ann_dir: str, stems: Sequence[str], list_path: str,
           img_ext: str = '.jpg') -> List[Tuple[str, str]]:
    items = [(osp.join(img_dir, s + img_ext), osp.join(ann_dir, s + '.png'))
             for s in stems]
    for paths in items:
        for p in paths:
            if not osp.isfile(p):
                raise FileNotFoundError(f'{p} (listed in {list_path}) does '
                                        'not exist')
    return items


def voc2012(root: str, split: str,
            mask_dir: Optional[str] = None) -> SegImageSet:
    """Pascal VOC 2012 split ``train`` | ``trainaug`` | ``val`` or any list
    file name (``trainaug_128_42`` ...); see the module docstring."""
    _need_dir(root, _VOC_LAYOUT)
    if osp.isdir(osp.join(root, 'JPEGImages')):
        img_dir, list_dir = 'JPEGImages', osp.join('ImageSets', 'Segmentation')
    elif osp.isdir(osp.join(root, 'images')):
        img_dir, list_dir = 'images', 'sets'
    else:
        raise FileNotFoundError(
            f'missing folder {osp.join(root, "JPEGImages")} (or images/); '
            f'{_VOC_LAYOUT}')
    if mask_dir is None:    # mmseg's voc_aug.py list is called aug.txt
        mask_dir = ('SegmentationClassAug'
                    if 'train' in split or split == 'aug'
                    else 'SegmentationClass')
    ann = _need_dir(osp.join(root, mask_dir), _VOC_LAYOUT)
    list_path = _need_file(osp.join(root, list_dir, split + '.txt'),
                           _VOC_LAYOUT)
    items = _pairs(osp.join(root, img_dir), ann, read_list(list_path),
                   list_path)
    return SegImageSet(f'voc2012-{split}', root, items, VOC_NUM_CLASSES,
                       VOC_IGNORE_INDEX)


def ade20k(root: str, split: str) -> SegImageSet:
    """ADE20K ``training`` | ``validation`` (every image of the folder), or
    a list file ``sets/<split>.txt`` whose name starts with one of them
    (``training_128_42`` ...); see the module docstring."""
    _need_dir(root, _ADE_LAYOUT)
    base = split.split('_')[0]
    if base not in ('training', 'validation'):
        raise ValueError(f"ADE20K split must be 'training', 'validation' or "
                         f"a list file name starting with one of them, got "
                         f"{split!r}")
    img_dir = _need_dir(osp.join(root, 'images', base), _ADE_LAYOUT)
    ann_dir = _need_dir(osp.join(root, 'annotations', base), _ADE_LAYOUT)
    if split == base:
        stems = _stems(img_dir, '.jpg')
        ann_stems = _stems(ann_dir, '.png')
        if stems != ann_stems:
            extra = sorted(set(stems) ^ set(ann_stems))[:5]
            raise ValueError(f'{img_dir} and {ann_dir} hold different stems '
                             f'(e.g. {extra})')
        list_path = img_dir
    else:
        list_path = _need_file(osp.join(root, 'sets', split + '.txt'),
                               _ADE_LAYOUT)
        stems = sorted(read_list(list_path))   # as the official ADE20K class
    items = _pairs(img_dir, ann_dir, stems, list_path)
    return SegImageSet(f'ade20k-{split}', root, items, ADE_NUM_CLASSES,
                       ADE_IGNORE_INDEX)


def _video_frames(img_root: str, ann_root: str, videos: Sequence[str],
                  layout: str) -> Dict[str, List[str]]:
    frames = {}
    for v in videos:
        img_v = _need_dir(osp.join(img_root, v), layout)
        ann_v = _need_dir(osp.join(ann_root, v), layout)
        imgs = set(_stems(img_v, '.jpg'))
        stems = [s for s in _stems(ann_v, '.png') if s in imgs]
        if not stems:
            raise ValueError(f'video {v}: no frame of {img_v} has a mask in '
                             f'{ann_v}')
        frames[v] = stems
    return frames


def davis2017(root: str, split: str = 'val',
              resolution: str = '480p') -> SegVideoSet:
    """DAVIS 2017 ``<split>`` videos at ``resolution`` (instance ids)."""
    _need_dir(root, _DAVIS_LAYOUT)
    img_root = _need_dir(osp.join(root, 'JPEGImages', resolution),
                         _DAVIS_LAYOUT)
    ann_root = _need_dir(osp.join(root, 'Annotations', resolution),
                         _DAVIS_LAYOUT)
    list_path = _need_file(osp.join(root, 'ImageSets', '2017', split + '.txt'),
                           _DAVIS_LAYOUT)
    videos = read_list(list_path)
    frames = _video_frames(img_root, ann_root, videos, _DAVIS_LAYOUT)
    return SegVideoSet(f'davis2017-{split}', root, videos, 255, img_root,
                       ann_root, frames)


def ytvos2019(root: str, split: str = 'valid', labels: str = 'category',
              videos: Optional[Sequence[str]] = None) -> SegVideoSet:
    """YouTube-VOS 2019 ``<root>/<split>`` (``valid``, ``train``, TimeT's
    ``val1`` ...). ``videos``: a subset (default: every video of
    ``Annotations``, sorted). ``labels``: 'category' (TimeT) or 'instance'."""
    if labels not in ('category', 'instance'):
        raise ValueError(f"labels must be 'category' or 'instance', got "
                         f"{labels!r}")
    _need_dir(root, _YTVOS_LAYOUT)
    base = _need_dir(osp.join(root, split), _YTVOS_LAYOUT)
    img_root = _need_dir(osp.join(base, 'JPEGImages'), _YTVOS_LAYOUT)
    ann_root = _need_dir(osp.join(base, 'Annotations'), _YTVOS_LAYOUT)
    meta_path = osp.join(base, 'meta.json')
    if labels == 'category' and not osp.isfile(meta_path):
        raise FileNotFoundError(f'missing {meta_path} (needed for '
                                f"labels='category'); {_YTVOS_LAYOUT}")
    if videos is None:
        videos = sorted(d for d in os.listdir(ann_root)
                        if osp.isdir(osp.join(ann_root, d)))
    videos = list(videos)
    frames = _video_frames(img_root, ann_root, videos, _YTVOS_LAYOUT)
    category = None
    if labels == 'category':
        with open(meta_path) as f:
            meta = json.load(f).get('videos', {})
        names = set()
        for vid in meta.values():
            for obj_id, obj in vid.get('objects', {}).items():
                if 'category' not in obj:
                    raise ValueError(f'{meta_path}: object {obj_id} has no '
                                     "'category'; use labels='instance'")
                names.add(obj['category'])
        ids = {n: i + 1 for i, n in enumerate(sorted(names))}  # 0 = bg
        category = {}
        for v in videos:
            if v not in meta:
                raise ValueError(f'video {v} is not in {meta_path}')
            category[v] = {int(k): ids[o['category']]
                           for k, o in meta[v].get('objects', {}).items()}
    unannotated = sum(len(_stems(osp.join(img_root, v), '.jpg'))
                      - len(frames[v]) for v in videos)
    if unannotated:
        logger.info('%s: %d frames without an annotation PNG are not items',
                    base, unannotated)
    return SegVideoSet(f'ytvos2019-{split}', base, videos, 255, img_root,
                       ann_root, frames, category)


def _synthetic_split(root: str, split: str,
                     max_videos: Optional[int]) -> Tuple[List[str], int]:
    """(videos of ``ImageSets/<split>.txt``, number of classes)."""
    _need_dir(root, _SYNTHETIC_LAYOUT)
    meta_path = osp.join(root, 'meta.json')
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'missing {meta_path}; {_SYNTHETIC_LAYOUT}')
    with open(meta_path) as f:
        classes = json.load(f).get('classes')
    if not classes:
        raise ValueError(f'{meta_path} lists no classes; {_SYNTHETIC_LAYOUT}')
    videos = read_list(_need_file(osp.join(root, 'ImageSets', split + '.txt'),
                                  _SYNTHETIC_LAYOUT))
    return videos[:max_videos], len(classes)


def synthetic_frames(root: str, split: str = 'val', frame_step: int = 4,
                     max_videos: Optional[int] = None) -> SegImageSet:
    """Every ``frame_step``-th frame of the synthetic ``split`` videos with
    its class mask (``ClassAnnotations``), as an image set."""
    videos, num_classes = _synthetic_split(root, split, max_videos)
    items = []
    for v in videos:
        img_v = _need_dir(osp.join(root, 'JPEGImages', v), _SYNTHETIC_LAYOUT)
        stems = _stems(img_v, '.jpg')[::frame_step]
        items += _pairs(img_v, osp.join(root, 'ClassAnnotations', v), stems,
                        osp.join(root, 'ImageSets', split + '.txt'))
    return SegImageSet(f'synthetic-{split}', root, items, num_classes, 255)


def synthetic_videos(root: str, split: str = 'val',
                     max_videos: Optional[int] = None) -> SegVideoSet:
    """The synthetic ``split`` videos, every frame with its instance mask
    (``Annotations``)."""
    videos, _ = _synthetic_split(root, split, max_videos)
    img_root = osp.join(root, 'JPEGImages')
    ann_root = osp.join(root, 'Annotations')
    frames = _video_frames(img_root, ann_root, videos, _SYNTHETIC_LAYOUT)
    return SegVideoSet(f'synthetic-{split}', root, videos, 255, img_root,
                       ann_root, frames)
