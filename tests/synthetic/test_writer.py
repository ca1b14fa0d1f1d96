"""write_dataset: the synthetic videos in the YouTube-VOS / DAVIS layout
(frames, instance and class masks, tracks, splits, meta.json), idempotent,
regenerated when interrupted, refusing other settings unless overwriting,
recording a non-default style."""
import json
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from mosic_mm.synthetic import CLASSES, render_video, write_dataset


def _read_png(path):
    img = Image.open(path)
    assert img.mode == 'P'
    return np.asarray(img)


def test_write_dataset_layout_and_idempotence(tmp_path):
    root = tmp_path / 'synth'
    kw = dict(num_train=2, num_val=1, num_frames=4, size=(48, 64), seed=7,
              progress=False, num_points=40)
    summary = write_dataset(root, **kw)
    assert summary['created'] is True
    assert (root / 'ImageSets' / 'train.txt').read_text().split() == [
        'train_0000',
        'train_0001',
    ]
    assert (root / 'ImageSets' / 'val.txt').read_text().split() == ['val_0000']
    meta = json.loads((root / 'meta.json').read_text())
    assert meta['classes'] == list(CLASSES) and meta['size'] == [48, 64]
    assert meta['num_frames'] == 4 and meta['splits']['val'] == ['val_0000']
    assert len(meta['palette']) == len(CLASSES)
    assert not [p for p in os.listdir(root) if p.endswith('.tmp')]

    name = 'train_0001'
    video = render_video(meta['video_seeds'][name], 4, (48, 64), (2, 4), 40)
    assert sorted(os.listdir(root / 'JPEGImages' / name)) == [
        f'{t:05d}.jpg' for t in range(4)
    ]
    for t in range(4):
        np.testing.assert_array_equal(
            _read_png(root / 'Annotations' / name / f'{t:05d}.png'),
            video['instance_masks'][t],
        )
        np.testing.assert_array_equal(
            _read_png(root / 'ClassAnnotations' / name / f'{t:05d}.png'),
            video['class_masks'][t],
        )
        jpg = cv2.imread(str(root / 'JPEGImages' / name / f'{t:05d}.jpg'))[
            ..., ::-1
        ]
        assert np.abs(jpg.astype(int) - video['frames'][t]).mean() < 4
    with np.load(root / 'Tracks' / f'{name}.npz') as npz:
        np.testing.assert_array_equal(npz['tracks'], video['tracks'])
        np.testing.assert_array_equal(npz['visibility'], video['visibility'])
        np.testing.assert_array_equal(
            npz['point_instance'], video['point_instance']
        )
        assert (
            npz['tracks'].dtype == np.float32
            and npz['visibility'].dtype == bool
        )

    stamp = os.stat(root / 'meta.json').st_mtime_ns
    frame = root / 'JPEGImages' / name / '00000.jpg'
    frame_stamp = os.stat(frame).st_mtime_ns
    again = write_dataset(root, **kw)
    assert again['created'] is False
    assert os.stat(root / 'meta.json').st_mtime_ns == stamp
    assert os.stat(frame).st_mtime_ns == frame_stamp

    with pytest.raises(FileExistsError):
        write_dataset(root, **dict(kw, num_train=1))
    redo = write_dataset(root, **dict(kw, num_train=1), overwrite=True)
    assert redo['created'] is True
    assert sorted(os.listdir(root / 'JPEGImages')) == [
        'train_0000',
        'val_0000',
    ]


def test_write_dataset_without_meta_is_regenerated(tmp_path):
    root = tmp_path / 'partial'
    (root / 'JPEGImages' / 'train_0000').mkdir(parents=True)  # interrupted run
    s = write_dataset(
        root,
        num_train=1,
        num_val=0,
        num_frames=2,
        size=(32, 32),
        progress=False,
        num_points=8,
    )
    assert s['created'] and (root / 'meta.json').is_file()
    assert len(os.listdir(root / 'JPEGImages' / 'train_0000')) == 2
    with pytest.raises(ValueError):
        write_dataset(
            tmp_path / 'empty', num_train=0, num_val=0, progress=False
        )


def test_write_dataset_records_a_non_default_style(tmp_path):
    kw = dict(
        num_train=1, num_val=1, num_frames=3, size=(32, 32), progress=False
    )
    write_dataset(str(tmp_path / 'd'), **kw)
    assert (
        'style' not in json.load(open(tmp_path / 'd' / 'meta.json'))['params']
    )
    write_dataset(str(tmp_path / 's'), style='shared_colour', **kw)
    meta = json.load(open(tmp_path / 's' / 'meta.json'))
    assert meta['params']['style'] == 'shared_colour'
    with pytest.raises(FileExistsError, match='style'):
        write_dataset(str(tmp_path / 'd'), style='shared_colour', **kw)
    with pytest.raises(ValueError, match='style'):
        write_dataset(str(tmp_path / 'x'), style='pastel', **kw)
