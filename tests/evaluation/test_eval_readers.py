"""Readers of the evaluation datasets (mosic_mm.evaluation.data.readers):
the real layouts on the synthetic datasets written in them
(mosic_mm.synthetic.layouts) and the synthetic frame folders: counts,
shapes, label conventions, ignore handling, and every error message."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

from mosic_mm.evaluation.data import (
    EVAL_DATASETS,
    SegImageSet,
    ade20k,
    build_eval_dataset,
    davis2017,
    synthetic_frames,
    synthetic_videos,
    voc2012,
    ytvos2019,
)
from mosic_mm.synthetic import (
    ADE_IDS,
    CLASSES,
    VOC_IDS,
    make_ade_layout,
    make_davis_layout,
    make_voc_layout,
    make_ytvos_layout,
)


def _png(path):
    return np.array(Image.open(path))


# ------------------------------------------------------------------ VOC
@pytest.mark.parametrize('layout', ['vocdevkit', 'hummingbird'])
def test_voc_splits(tmp_path, layout):
    root = str(tmp_path)
    info = make_voc_layout(root, n_train=4, n_val=3, size=(40, 56),
                           layout=layout)
    train, val = voc2012(root, 'train'), voc2012(root, 'val')
    aug, frac = voc2012(root, 'trainaug'), voc2012(root, 'trainaug_2_42')
    assert (len(train), len(val), len(aug), len(frac)) == (4, 3, 8, 4)
    # MoSiC's VOCDataset keeps the file order of a split file
    assert frac.stems == info['lists']['trainaug_2_42']
    assert set(frac.stems) <= set(aug.stems)
    for ds in (train, val, aug, frac):
        assert (ds.num_classes, ds.ignore_index) == (21, 255)
        for i in range(len(ds)):
            img, mask = ds.load(i)
            assert img.shape == (40, 56, 3) and img.dtype == np.uint8
            assert mask.shape == (40, 56) and mask.dtype == np.int64
            assert set(np.unique(mask)) <= set(VOC_IDS) | {255}
    # train / trainaug read SegmentationClassAug (no void band), val
    # SegmentationClass (255 on boundaries) -- MoSiC's VOCDataset
    assert all('SegmentationClassAug' in m for _, m in aug.items)
    assert all('SegmentationClassAug' in m for _, m in train.items)
    assert all(osp.sep + 'SegmentationClass' + osp.sep in m
               for _, m in val.items)
    assert not any((train.load(i)[1] == 255).any() for i in range(4))
    if layout == 'vocdevkit':                      # mmseg's aug.txt
        assert voc2012(root, 'aug').items == aug.items
    assert all((val.load(i)[1] == 255).any() for i in range(3))
    # the release masks of train images agree with the aug ones off the band
    rel = voc2012(root, 'train', mask_dir='SegmentationClass')
    for i in range(4):
        a, r = train.load(i)[1], rel.load(i)[1]
        assert (r == 255).any() and np.array_equal(a[r != 255], r[r != 255])


def test_voc_subset(tmp_path):
    make_voc_layout(str(tmp_path), n_train=3, n_val=2)
    ds = voc2012(str(tmp_path), 'trainaug')
    sub = ds.subset([ds.stems[2], ds.stems[0]])
    assert sub.stems == [ds.stems[2], ds.stems[0]]
    assert isinstance(sub, SegImageSet) and sub.num_classes == 21
    assert ds.subset([1]).items == [ds.items[1]]
    with pytest.raises(KeyError, match='nope'):
        ds.subset(['nope'])


def test_voc_errors(tmp_path):
    root = str(tmp_path / 'voc')
    with pytest.raises(FileNotFoundError, match='missing folder .*voc.*'
                       'expected VOCdevkit'):
        voc2012(root, 'val')
    make_voc_layout(root, n_train=2, n_val=1)
    with pytest.raises(FileNotFoundError,
                       match=r'missing list file .*Segmentation.test\.txt'):
        voc2012(root, 'test')
    shutil.rmtree(osp.join(root, 'SegmentationClassAug'))
    with pytest.raises(FileNotFoundError,
                       match='missing folder .*SegmentationClassAug'):
        voc2012(root, 'trainaug')
    os.remove(osp.join(root, 'JPEGImages', '2008_000000.jpg'))
    with pytest.raises(FileNotFoundError,
                       match=r'2008_000000\.jpg \(listed in .*val\.txt\)'):
        voc2012(root, 'val')
    shutil.rmtree(osp.join(root, 'JPEGImages'))
    with pytest.raises(FileNotFoundError, match='JPEGImages .*or images'):
        voc2012(root, 'val')


# ------------------------------------------------------------------ ADE
def test_ade_splits_and_label_convention(tmp_path):
    root = str(tmp_path)
    info = make_ade_layout(root, n_train=6, n_val=3, size=40)
    tr, va = ade20k(root, 'training'), ade20k(root, 'validation')
    fr = ade20k(root, 'training_2_42')
    assert (len(tr), len(va), len(fr)) == (6, 3, 3)
    assert info['lists']['training_2_42'] != fr.stems      # file unsorted
    assert tr.stems == info['stems']['training']
    # the official ADE20K class sorts the names of a split file
    assert fr.stems == sorted(info['lists']['training_2_42'])
    for ds in (tr, va, fr):
        # official Hummingbird: 151 ids, 0 ('other') ignored
        assert (ds.num_classes, ds.ignore_index) == (151, 0)
        for i in range(len(ds)):
            img, mask = ds.load(i)
            assert img.shape == (40, 40, 3) and mask.dtype == np.int64
            assert set(np.unique(mask)) <= set(ADE_IDS) | {0}
            assert (mask[:5] == 0).all() and mask.max() <= 150
    assert any(150 in np.unique(ds.load(i)[1]) for ds in (tr, va)
               for i in range(len(ds)))


def test_ade_errors(tmp_path):
    root = str(tmp_path)
    with pytest.raises(ValueError, match="'training', 'validation'"):
        ade20k(root, 'val')
    with pytest.raises(FileNotFoundError, match=r'missing folder .*images.'
                       r'training; expected ADEChallengeData2016'):
        ade20k(root, 'training')
    make_ade_layout(root, n_train=2, n_val=1)
    with pytest.raises(FileNotFoundError,
                       match=r'missing list file .*sets.training_8_1\.txt'):
        ade20k(root, 'training_8_1')
    os.remove(osp.join(root, 'annotations', 'validation',
                       'ADE_val_00000001.png'))
    with pytest.raises(ValueError, match='hold different stems'):
        ade20k(root, 'validation')


# ------------------------------------------------------------------ DAVIS
def test_davis(tmp_path):
    root = str(tmp_path)
    make_davis_layout(root, n_videos=3, n_frames=5, size=(32, 48), n_train=1)
    ds = davis2017(root)
    assert ds.videos == ['val-video0', 'val-video1', 'val-video2']
    assert ds.ignore_index == 255 and ds.name == 'davis2017-val'
    assert len(davis2017(root, 'train')) == 1
    for v in ds.videos:
        frames, masks = ds.load(v)
        assert frames.shape == (5, 32, 48, 3) and frames.dtype == np.uint8
        assert masks.shape == (5, 32, 48) and masks.dtype == np.int64
        ids = np.unique(masks)
        assert ids[0] == 0 and 2 <= len(ids) <= 5      # instance ids
        png = _png(osp.join(root, 'Annotations', '480p', v, '00003.png'))
        assert np.array_equal(masks[3], png)
    f2, m2 = ds.load('val-video1', [1, 4])
    f, m = ds.load('val-video1')
    assert np.array_equal(f2, f[[1, 4]]) and np.array_equal(m2, m[[1, 4]])
    with pytest.raises(KeyError, match='nope'):
        ds.load('nope')


def test_davis_errors(tmp_path):
    root = str(tmp_path)
    make_davis_layout(root, n_videos=2, n_frames=2)
    with pytest.raises(FileNotFoundError, match=r'missing folder .*'
                       r'JPEGImages.1080p; expected DAVIS 2017'):
        davis2017(root, resolution='1080p')
    with pytest.raises(FileNotFoundError,
                       match=r'missing list file .*2017.test-dev\.txt'):
        davis2017(root, 'test-dev')
    shutil.rmtree(osp.join(root, 'Annotations', '480p', 'val-video1'))
    with pytest.raises(FileNotFoundError, match=r'Annotations.480p.'
                       r'val-video1; expected DAVIS'):
        davis2017(root)
    for f in os.listdir(osp.join(root, 'Annotations', '480p', 'val-video0')):
        os.remove(osp.join(root, 'Annotations', '480p', 'val-video0', f))
    os.makedirs(osp.join(root, 'Annotations', '480p', 'val-video1'))
    with pytest.raises(ValueError, match='val-video0: no frame'):
        davis2017(root)


# ------------------------------------------------------------------ YT-VOS
def test_ytvos_category_labels(tmp_path):
    """TimeT's make_categories_dict: sorted category names of meta.json ->
    1..C, 0 background; each instance id mapped through its category."""
    root = str(tmp_path)
    info = make_ytvos_layout(root, n_videos=3, n_frames=4, size=40,
                             ann_every=2)
    ds = ytvos2019(root)
    assert ds.videos == sorted(info['videos'])
    with open(osp.join(root, 'valid', 'meta.json')) as f:
        meta = json.load(f)['videos']
    names = sorted({o['category'] for v in meta.values()
                    for o in v['objects'].values()})
    for v in ds.videos:
        assert ds.frames[v] == info['annotated'][v] == ['00000', '00010']
        frames, masks = ds.load(v)
        assert frames.shape == (2, 40, 40, 3) and masks.shape == (2, 40, 40)
        inst = np.stack([_png(osp.join(root, 'valid', 'Annotations', v,
                                       s + '.png')) for s in ds.frames[v]])
        expected = np.zeros_like(inst, np.int64)
        for k in np.unique(inst)[1:]:
            cls = CLASSES[info['instance_classes'][v][k]]
            expected[inst == k] = names.index(cls) + 1
        assert np.array_equal(masks, expected)
        _, raw = ytvos2019(root, labels='instance').load(v)
        assert np.array_equal(raw, inst)
    # two instances of one class share a label (checked where it happens)
    merged = [v for v in ds.videos if len(set(
        info['instance_classes'][v][1:].tolist())) <
        len(info['instance_classes'][v]) - 1]
    assert merged
    for v in merged:
        assert len(np.unique(ds.load(v)[1])) < len(
            np.unique(ytvos2019(root, labels='instance').load(v)[1]))


def test_ytvos_subset_and_split(tmp_path):
    root = str(tmp_path)
    info = make_ytvos_layout(root, n_videos=3, n_frames=2, split='train')
    sub = ytvos2019(root, 'train', videos=info['videos'][:2])
    assert sub.videos == info['videos'][:2] and sub.name == 'ytvos2019-train'


def test_ytvos_errors(tmp_path):
    root = str(tmp_path)
    with pytest.raises(ValueError, match="'category' or 'instance'"):
        ytvos2019(root, labels='class')
    make_ytvos_layout(root, n_videos=2, n_frames=2)
    with pytest.raises(FileNotFoundError, match=r'missing folder .*val1; '
                       'expected YouTube-VOS 2019'):
        ytvos2019(root, 'val1')
    base = osp.join(root, 'valid')
    first = sorted(os.listdir(osp.join(base, 'Annotations')))[0]
    for d in ('Annotations', 'JPEGImages'):
        shutil.copytree(osp.join(base, d, first), osp.join(base, d, 'extra'))
    with pytest.raises(ValueError,
                       match=r'video extra is not in .*meta\.json'):
        ytvos2019(root)
    for d in ('Annotations', 'JPEGImages'):
        shutil.rmtree(osp.join(base, d, 'extra'))
    meta_path = osp.join(root, 'valid', 'meta.json')
    with open(meta_path) as f:
        meta = json.load(f)
    for v in meta['videos'].values():
        for o in v['objects'].values():
            del o['category']
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    with pytest.raises(ValueError, match="no 'category'; use labels="):
        ytvos2019(root)
    os.remove(meta_path)
    with pytest.raises(FileNotFoundError, match=r'missing .*meta\.json'):
        ytvos2019(root)
    assert len(ytvos2019(root, labels='instance')) == 2


def test_ytvos_unknown_instance(tmp_path):
    root = str(tmp_path)
    info = make_ytvos_layout(root, n_videos=1, n_frames=1)
    v = info['videos'][0]
    meta_path = osp.join(root, 'valid', 'meta.json')
    with open(meta_path) as f:
        meta = json.load(f)
    meta['videos'][v]['objects'].pop('1')
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    with pytest.raises(ValueError, match='instance id 1 has no entry'):
        ytvos2019(root).load(v)


# --------------------------------------------------------------- synthetic
def test_synthetic_readers(synthetic_root):
    """The demo's frame folders (4 + 2 videos of 8 frames, 64 px): every
    ``frame_step``-th frame with its class mask for the image protocols,
    every frame with its instance mask for the video protocols."""
    frames = synthetic_frames(synthetic_root, 'val', frame_step=2)
    assert (len(frames), frames.num_classes, frames.ignore_index) == (
        2 * 8 // 2, 6, 255)
    img, mask = frames.load(1)
    assert img.shape == (64, 64, 3)
    assert mask.shape == (64, 64) and mask.max() < 6
    assert frames.items[1][0].endswith(osp.join('val_0000', '00002.jpg'))
    assert 'ClassAnnotations' in frames.items[1][1]
    assert len(synthetic_frames(synthetic_root, 'train', 4,
                                max_videos=1)) == 8 // 4
    videos = synthetic_videos(synthetic_root, 'val')
    assert videos.videos == ['val_0000', 'val_0001']
    f, m = videos.load('val_0001')
    assert f.shape[0] == m.shape[0] == 8
    assert 'Annotations' in videos.ann_dir and 'Class' not in videos.ann_dir


def test_synthetic_reader_errors(synthetic_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='meta.json'):
        synthetic_frames(str(tmp_path), 'val')
    with pytest.raises(FileNotFoundError, match=r'ImageSets/test\.txt'):
        synthetic_videos(synthetic_root, 'test')


# ---------------------------------------------------------------- registry
def test_one_registry_of_readers(synthetic_root):
    """Every reader is in EVAL_DATASETS; build_eval_dataset passes the
    reader arguments and names an unknown dataset and the known ones."""
    assert EVAL_DATASETS == dict(
        voc2012=voc2012, ade20k=ade20k, davis2017=davis2017,
        ytvos2019=ytvos2019, synthetic_frames=synthetic_frames,
        synthetic_videos=synthetic_videos)
    ds = build_eval_dataset('synthetic_frames', synthetic_root, 'val',
                            frame_step=4)
    assert ds.items == synthetic_frames(synthetic_root, 'val', 4).items
    with pytest.raises(KeyError, match="'coco'.*known: voc2012, ade20k"):
        build_eval_dataset('coco', synthetic_root, 'val')
