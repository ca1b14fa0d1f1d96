"""Tiny synthetic roots in the layouts of the official code's training sets
(docs/datasets.md), for tests of the dataset configs: the same rendered
videos (:func:`mosic_mm.synthetic.layouts._videos`) written where each
dataset keeps its frames, with the files beside them that a reader must
leave alone (annotation masks, VSPW's ``mask`` folders, CO3D's depth maps).

Every writer returns ``root``, ``videos`` (the list entries / video ids a
correct reader yields, sorted) and what else it wrote (split files, CSVs,
zips, ``missing``: names an index file gives without a video).
"""
import csv
import os
import os.path as osp
import zipfile
from functools import partial
from typing import Callable, Dict, List

import cv2
import numpy as np

from .layouts import Size, _seed, _videos, _write_grey, _write_jpg
from .writer import _instance_palette, _save_palette_png

__all__ = ['make_mose_layout', 'make_lvos_layout', 'make_vspw_layout',
           'make_kinetics_layout', 'make_epic_kitchens_layout',
           'make_co3d_layout', 'TRAINING_LAYOUTS']


def _write_frames(folder: str, frames: np.ndarray, name: Callable) -> None:
    for t, f in enumerate(frames):
        _write_jpg(osp.join(folder, name(t)), f)


def _write_mp4(path: str, frames: np.ndarray, fps: int = 25) -> None:
    """frames uint8 [T, H, W, 3] RGB -> an MPEG-4 (mp4v) file."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    h, w = frames.shape[1:3]
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    if not vw.isOpened():
        raise OSError(f'OpenCV cannot write {path}')
    for f in frames:
        vw.write(np.ascontiguousarray(f[..., ::-1]))
    vw.release()


def _vos_layout(root: str, names: List[str], code: int, n_frames: int,
                size: Size, seed: int, frame_name: Callable) -> dict:
    """``<root>/train/JPEGImages/<video>/<frame>.jpg`` + a first-frame
    ``Annotations`` PNG per video (MOSE, LVOS)."""
    base = osp.join(root, 'train')
    for v, vid in _videos(seed, code, names, n_frames, size).items():
        _write_frames(osp.join(base, 'JPEGImages', v), vid['frames'],
                      frame_name)
        path = osp.join(base, 'Annotations', v,
                        osp.splitext(frame_name(0))[0] + '.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        _save_palette_png(path, vid['instance_masks'][0],
                          _instance_palette())
    return dict(root=root, videos=sorted(names))


def make_mose_layout(root: str, n_videos: int = 2, n_frames: int = 14,
                     size: Size = 48, seed: int = 0) -> dict:
    """MOSE: ``train/JPEGImages/<video>/00000.jpg`` (8-hex-digit names)."""
    names = [f'{_seed(seed, 40, i) % 16 ** 8:08x}' for i in range(n_videos)]
    return _vos_layout(root, names, 41, n_frames, size, seed,
                       lambda t: f'{t:05d}.jpg')


def make_lvos_layout(root: str, n_videos: int = 2, n_frames: int = 14,
                     size: Size = 48, seed: int = 0) -> dict:
    """LVOS: ``train/JPEGImages/<video>/<frame>.jpg``."""
    names = [f'lvos{_seed(seed, 42, i) % 10 ** 4:04d}'
             for i in range(n_videos)]
    return _vos_layout(root, names, 43, n_frames, size, seed,
                       lambda t: f'{t + 1:08d}.jpg')


def make_vspw_layout(root: str, n_videos: int = 3, n_frames: int = 14,
                     size: Size = 48, seed: int = 0) -> dict:
    """VSPW: ``data/<video>/origin/<frame>.jpg`` with class-id PNGs in
    ``data/<video>/mask/`` and ``train.txt`` / ``val.txt`` naming the
    videos (the last one is val). ``videos``: every ``<video>/origin``;
    ``train``: the videos of ``train.txt``."""
    names = [f'{i}_{_seed(seed, 44, i) % 16 ** 6:06x}'
             for i in range(n_videos)]
    for v, vid in _videos(seed, 45, names, n_frames, size).items():
        _write_frames(osp.join(root, 'data', v, 'origin'), vid['frames'],
                      lambda t: f'{t:08d}.jpg')
        for t, m in enumerate(vid['class_masks']):
            _write_grey(osp.join(root, 'data', v, 'mask', f'{t:08d}.png'), m)
    train, val = names[:-1], names[-1:]
    for split, vids in (('train', train), ('val', val)):
        with open(osp.join(root, f'{split}.txt'), 'w') as f:
            f.writelines(v + '\n' for v in vids)
    return dict(root=root, videos=sorted(v + '/origin' for v in names),
                train=sorted(v + '/origin' for v in train))


def make_kinetics_layout(root: str, kind: str = 'videos', n_videos: int = 2,
                         n_frames: int = 14, size: Size = 48,
                         seed: int = 0) -> dict:
    """Kinetics ``train`` split with ``annotations/train.csv``, whose last
    row names a clip that is not there (a failed download).

    ``kind='videos'``: ``train/<class>/<id>_<start>_<end>.mp4``;
    ``'frames'``: ``rawframes_train/<class>/<id>_<start>_<end>/img_00001.jpg``.
    ``videos``: relative paths (videos with their extension).
    """
    if kind not in ('videos', 'frames'):
        raise ValueError(f"kind must be 'videos' or 'frames', got {kind!r}")
    classes = ('abseiling', 'playing guitar')
    rows, videos = [], []
    stems = [f'y{_seed(seed, 46, i) % 16 ** 10:010x}_{10 * i:06d}_'
             f'{10 * i + 10:06d}' for i in range(n_videos + 1)]
    for i, stem in enumerate(stems):
        yid = stem.rsplit('_', 2)[0]
        rows.append(dict(label=classes[i % 2], youtube_id=yid,
                         time_start=10 * i, time_end=10 * i + 10,
                         split='train'))
    clips = _videos(seed, 47, stems[:-1], n_frames, size)
    for i, (stem, vid) in enumerate(clips.items()):
        if kind == 'videos':
            rel = f'{classes[i % 2]}/{stem}.mp4'
            _write_mp4(osp.join(root, 'train', rel), vid['frames'])
        else:
            rel = f'{classes[i % 2]}/{stem}'
            _write_frames(osp.join(root, 'rawframes_train', rel),
                          vid['frames'], lambda t: f'img_{t + 1:05d}.jpg')
        videos.append(rel)
    csv_path = osp.join(root, 'annotations', 'train.csv')
    os.makedirs(osp.dirname(csv_path), exist_ok=True)
    with open(csv_path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dict(root=root, videos=sorted(videos), csv=csv_path,
                missing=[stems[-1]])


def make_epic_kitchens_layout(root: str, kind: str = 'frames',
                              n_videos: int = 2, n_frames: int = 14,
                              size: Size = 48, seed: int = 0) -> dict:
    """EPIC-KITCHENS-100 as its download scripts lay it out (rgb_frames
    tars unpacked, one folder per video): ``kind='frames'``:
    ``P01/rgb_frames/P01_01/frame_0000000001.jpg``; ``'videos'``:
    ``P01/videos/P01_01.MP4``."""
    if kind not in ('videos', 'frames'):
        raise ValueError(f"kind must be 'videos' or 'frames', got {kind!r}")
    ids = [f'P{1 + i // 2:02d}_{1 + i % 2:02d}' for i in range(n_videos)]
    videos = []
    for v, vid in _videos(seed, 48, ids, n_frames, size).items():
        person = v.split('_')[0]
        if kind == 'frames':
            rel = f'{person}/rgb_frames/{v}'
            _write_frames(osp.join(root, rel), vid['frames'],
                          lambda t: f'frame_{t + 1:010d}.jpg')
        else:
            rel = f'{person}/videos/{v}.MP4'
            _write_mp4(osp.join(root, rel), vid['frames'], fps=50)
        videos.append(rel)
    return dict(root=root, videos=sorted(videos))


def _encode_jpg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise OSError('could not encode a JPEG')
    return buf.tobytes()


def _encode_png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(mask, np.uint8))
    if not ok:
        raise OSError('could not encode a PNG')
    return buf.tobytes()


def make_co3d_layout(root: str, n_sequences: int = 2, n_frames: int = 14,
                     size: Size = 48, seed: int = 0) -> dict:
    """CO3D (v2) as distributed: ``<root>/zips/<category>_000.zip`` and
    ``_001.zip`` holding ``<category>/<sequence>/images/frame000001.jpg``
    beside ``masks/``, ``depths/``, ``depth_masks/``, ``pointcloud.ply`` and
    the category's annotation files. The first sequence's frames are split
    over both zips. ``videos``: ``<category>/<sequence>/images``."""
    category = 'apple'
    seqs = [f'{100 + i}_{_seed(seed, 49, i) % 10 ** 5:05d}_'
            f'{_seed(seed, 50, i) % 10 ** 5:05d}' for i in range(n_sequences)]
    zips = [osp.join(root, 'zips', f'{category}_{k:03d}.zip')
            for k in range(2)]
    os.makedirs(osp.dirname(zips[0]), exist_ok=True)
    members: Dict[int, list] = {0: [], 1: []}
    for i, (s, vid) in enumerate(_videos(seed, 51, seqs, n_frames,
                                         size).items()):
        for t in range(n_frames):
            k = int(i == 0 and t >= n_frames // 2) or int(i > 1)
            base = f'{category}/{s}'
            name = f'frame{t + 1:06d}'
            members[k] += [
                (f'{base}/images/{name}.jpg', _encode_jpg(vid['frames'][t])),
                (f'{base}/masks/{name}.png',
                 _encode_png(255 * (vid['instance_masks'][t] > 0))),
                (f'{base}/depths/{name}.jpg.geometric.png',
                 _encode_png(vid['class_masks'][t])),
                (f'{base}/depth_masks/{name}.png',
                 _encode_png(vid['instance_masks'][t]))]
        members[int(i > 1)].append((f'{category}/{s}/pointcloud.ply',
                                    b'ply\nformat ascii 1.0\nend_header\n'))
    members[0] += [(f'{category}/frame_annotations.jgz', b'\x1f\x8b'),
                   (f'{category}/set_lists/set_lists_manyview_dev_0.json',
                    b'{"train": []}')]
    for k, path in enumerate(zips):
        with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zf:
            for name, data in members[k]:
                zf.writestr(name, data)
    return dict(root=root, videos=sorted(f'{category}/{s}/images'
                                         for s in seqs), zips=zips)


#: dataset config name -> writer of a synthetic root in its layout
TRAINING_LAYOUTS: Dict[str, Callable[..., dict]] = {
    'mose': make_mose_layout,
    'lvos': make_lvos_layout,
    'vspw': make_vspw_layout,
    'kinetics': partial(make_kinetics_layout, kind='videos'),
    'kinetics_frames': partial(make_kinetics_layout, kind='frames'),
    'epic_kitchens': partial(make_epic_kitchens_layout, kind='frames'),
    'epic_kitchens_videos': partial(make_epic_kitchens_layout,
                                    kind='videos'),
    'co3d': make_co3d_layout,
}
