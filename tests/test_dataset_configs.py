"""Dataset configs of the official code's training sets (MOSE, LVOS, VSPW,
Kinetics as videos and as frames, EPIC-KITCHENS as frames and as videos,
CO3D): each ``configs/mosic_vits_<name>.py`` parses and is the YouTube-VOS
recipe with only its dataset swapped; on a tiny synthetic root in the
dataset's layout (``mosic_mm.synthetic.TRAINING_LAYOUTS``), prepared with the
commands of docs/datasets.md, it lists exactly the videos (not VSPW's masks,
CO3D's depth maps or a Kinetics clip that is not there), the track cache is
extracted for it with the config's tracker and it yields recipe clips."""
import os
import os.path as osp
import zipfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO
from mosic_mm.apis.common import job_logger
from mosic_mm.apis.extract_tracks import extract_tracks
from mosic_mm.apis.prepare_videos import make_video_list, unpack_co3d
from mosic_mm.datasets.co3d_zips import unpack_co3d_images
from mosic_mm.datasets.video_lists import LAYOUTS, list_videos
from mosic_mm.registry import DATASETS
from mosic_mm.synthetic import TRAINING_LAYOUTS
from test_dataset import LogCapture

NAMES = sorted(TRAINING_LAYOUTS)
YTVOS = osp.join(REPO, 'configs', 'mosic_vits_ytvos.py')

# How docs/datasets.md prepares each dataset on its root R: the data root
# the config's data_root stands for (relative to R), and the list command
# (layout, image folder and list file relative to the data root, options).
PREPARE = {
    'mose': ('train', None),
    'lvos': ('train', None),
    'vspw': ('', ('vspw', 'data', 'video_list.txt', {})),
    'kinetics': ('', ('kinetics', 'train', 'train_videos.txt',
                      dict(kinetics_csv='annotations/train.csv'))),
    'kinetics_frames': ('', ('kinetics_frames', 'rawframes_train',
                             'train_rawframes.txt',
                             dict(kinetics_csv='annotations/train.csv'))),
    'epic_kitchens': ('', ('epic_kitchens', '', 'video_list.txt', {})),
    'epic_kitchens_videos': ('', ('epic_kitchens_videos', '',
                                  'videos_list.txt', {})),
    'co3d': ('unpacked', ('co3d', '', 'video_list.txt', {})),
}


def config(name):
    return osp.join(REPO, 'configs', f'mosic_vits_{name}.py')


def prepare(name, root):
    """Write the synthetic root of ``name`` and run its preparation; returns
    (data root, the writer's summary)."""
    made = TRAINING_LAYOUTS[name](str(root))
    data_root = osp.join(str(root), PREPARE[name][0])
    if name == 'co3d':
        assert unpack_co3d([osp.dirname(made['zips'][0])], data_root) == 0
    if PREPARE[name][1] is not None:
        layout, img, out, opts = PREPARE[name][1]
        opts = {k: osp.join(str(root), v) for k, v in opts.items()}
        assert make_video_list(layout, osp.join(data_root, img),
                               osp.join(data_root, out), **opts) == 0
    return data_root, made


def video_ids(made):
    """Video ids of the list entries: video files lose their extension."""
    return sorted(v[:-len(osp.splitext(v)[1])] if osp.splitext(v)[1].lower()
                  in ('.mp4', '.mkv') else v for v in made['videos'])


def test_every_training_layout_has_a_config():
    assert set(NAMES) == set(PREPARE)
    for name in NAMES:
        assert osp.isfile(config(name)), name
        assert osp.isfile(osp.join(REPO, 'configs', '_base_', 'datasets',
                                   f'{name}.py')), name


@pytest.mark.parametrize('name', NAMES)
def test_config_is_the_recipe_with_only_the_dataset_swapped(name):
    cfg, ref = Config.fromfile(config(name)), Config.fromfile(YTVOS)
    base = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets',
                                    f'{name}.py'))
    assert list(base.keys()) == [f'{name}_train']
    own = base[f'{name}_train'].to_dict()
    assert own['type'] == 'VideoTrajectoryDataset'
    # the Kinetics-scale collections list and count their videos once
    # into an index file (docs/datasets.md, 'Large collections')
    indexed = {'index_file'} if name.startswith('kinetics') else set()
    assert set(own) == {'type', 'data_root', 'data_prefix', 'ann_file',
                        'window_step'} | indexed
    assert own['data_root'].startswith('data/')

    swapped = ('train_dataloader', 'train_pipeline', f'{name}_train')
    assert {k: v for k, v in cfg.to_dict().items() if k not in swapped} == \
        {k: v for k, v in ref.to_dict().items() if k not in swapped}
    loader, ref_loader = (c.train_dataloader.to_dict() for c in (cfg, ref))
    dataset, ref_dataset = loader.pop('dataset'), ref_loader.pop('dataset')
    assert loader == ref_loader
    pipeline, ref_pipeline = dataset.pop('pipeline'), ref_dataset.pop(
        'pipeline')
    assert dataset == dict(ref_dataset, **own)
    assert pipeline == cfg.train_pipeline
    cmd = f'python tools/extract_tracks.py configs/mosic_vits_{name}.py'
    for step, ref_step in zip(pipeline, ref_pipeline, strict=True):
        if step['type'] == 'LoadTracks':
            assert step.pop('extract_cmd').startswith(cmd)
            ref_step.pop('extract_cmd')
        assert step == ref_step


@pytest.mark.parametrize('name', NAMES)
def test_dataset_builds_on_its_layout_and_yields_clips(name, tmp_path):
    data_root, made = prepare(name, tmp_path / name)
    options = {'train_dataloader.dataset.data_root': data_root}
    cfg = Config.fromfile(config(name))
    cfg.merge_from_dict(options)
    init_default_scope('mmpretrain')
    ds_cfg = cfg.train_dataloader.dataset
    listing = DATASETS.build(dict(ds_cfg.to_dict(), pipeline=[]))
    ids = sorted(listing.get_data_info(i)['video_id']
                 for i in range(len(listing)))
    assert ids == video_ids(made)
    info = listing.get_data_info(0)
    kind = LAYOUTS[PREPARE[name][1][0]][0] if PREPARE[name][1] else 'frames'
    assert ('video_path' in info) == (kind == 'videos')
    assert info['total_frames'] == 14
    assert osp.isfile(osp.join(data_root, 'video_index.bin')) == \
        name.startswith('kinetics')

    # the track cache, with the config's tracker (DIS), then recipe clips
    assert extract_tracks(config(name), cfg_options=options) == 0
    cache = osp.join(data_root, 'track_cache', 'DISFlowTracker')
    for vid in ids:
        assert osp.isfile(osp.join(cache, *vid.split('/')) + '.npz'), vid
    dataset = DATASETS.build(ds_cfg)
    np.random.seed(0)
    for i in range(len(dataset)):
        out = dataset[i]
        assert out['inputs'].shape == (12, 3, 224, 224)
        assert out['inputs'].dtype == torch.uint8
        sample = out['data_samples']
        assert sample.tracks.shape == (12, 256, 2)
        assert sample.visibility.shape == (12, 256)
        assert bool(sample.visibility[0].any())


def test_vspw_lists_origin_folders_not_masks_and_selects_a_split(tmp_path):
    made = TRAINING_LAYOUTS['vspw'](str(tmp_path))
    videos, empty = list_videos(str(tmp_path / 'data'), 'vspw')
    assert videos == made['videos'] and not empty
    assert all(osp.isdir(tmp_path / 'data' / v.replace('origin', 'mask'))
               for v in videos)  # the masks are there, and not listed
    out = tmp_path / 'train_list.txt'
    assert make_video_list('vspw', str(tmp_path / 'data'), str(out),
                           select=str(tmp_path / 'train.txt')) == 0
    lines = [ln for ln in out.read_text().splitlines()
             if not ln.startswith('#')]
    assert lines == made['train'] and len(lines) < len(videos)


def test_kinetics_clips_missing_from_the_csv_are_reported(tmp_path):
    made = TRAINING_LAYOUTS['kinetics'](str(tmp_path))
    out = tmp_path / 'list.txt'
    logger, log = job_logger('make_video_list'), LogCapture()
    logger.addHandler(log)
    try:
        assert make_video_list('kinetics', str(tmp_path / 'train'), str(out),
                               kinetics_csv=made['csv']) == 0
    finally:
        logger.removeHandler(log)
    assert made['missing'][0] in '\n'.join(log.messages)
    assert [ln for ln in out.read_text().splitlines()
            if not ln.startswith('#')] == made['videos']
    # a CSV that names no clip that is there: no list, exit code 1
    bad = tmp_path / 'other.csv'
    bad.write_text('label,youtube_id,time_start,time_end,split\n'
                   'x,absent,0,10,train\n')
    none = tmp_path / 'none.txt'
    assert make_video_list('kinetics', str(tmp_path / 'train'), str(none),
                           kinetics_csv=str(bad)) == 1
    assert not none.exists()
    bad.write_text('video,start\nabsent,0\n')
    with pytest.raises(ValueError, match='youtube_id'):
        make_video_list('kinetics', str(tmp_path / 'train'), str(none),
                        kinetics_csv=str(bad))


def test_co3d_unpacks_frames_only_merges_zips_and_resumes(tmp_path):
    made = TRAINING_LAYOUTS['co3d'](str(tmp_path / 'src'))
    out = tmp_path / 'co3d'
    first = unpack_co3d_images(made['zips'], str(out))
    assert first['written'] == 28 and first['skipped'] == 0
    assert first['sequences'] == 2 and not first['failed']
    files = sorted(osp.relpath(osp.join(d, f), out)
                   for d, _, fs in os.walk(out) for f in fs)
    assert all(f.split(os.sep)[2] == 'images' for f in files)
    # the sequence split over the two zips is one folder of 14 frames
    assert all(len(os.listdir(out / v)) == 14 for v in made['videos'])
    again = unpack_co3d_images(made['zips'], str(out))
    assert again['written'] == 0 and again['skipped'] == 28
    # a short (interrupted) file is rewritten
    victim = out / made['videos'][0] / 'frame000001.jpg'
    victim.write_bytes(b'x')
    assert unpack_co3d_images(made['zips'], str(out))['written'] == 1
    with zipfile.ZipFile(made['zips'][0]) as zf:
        assert victim.read_bytes() == zf.read(
            made['videos'][0] + '/frame000001.jpg')


def test_co3d_bad_zips_are_reported_and_the_others_unpacked(tmp_path):
    made = TRAINING_LAYOUTS['co3d'](str(tmp_path / 'src'))
    broken = tmp_path / 'src' / 'zips' / 'broken_000.zip'
    broken.write_bytes(open(made['zips'][0], 'rb').read()[:200])
    evil = tmp_path / 'src' / 'zips' / 'evil_000.zip'
    with zipfile.ZipFile(evil, 'w') as zf:
        zf.writestr('apple/../images/frame000001.jpg', b'x')
    res = unpack_co3d_images([str(broken), str(evil)] + made['zips'],
                             str(tmp_path / 'out'))
    assert [osp.basename(z) for z, _ in res['failed']] == [
        'broken_000.zip', 'evil_000.zip']
    assert 'leave the output folder' in res['failed'][1][1]
    assert res['written'] == 28
    assert not (tmp_path / 'images').exists()
    assert unpack_co3d([str(tmp_path / 'src' / 'zips')],
                       str(tmp_path / 'out')) == 1


def test_nested_list_names_a_missing_or_escaping_folder(tmp_path):
    TRAINING_LAYOUTS['vspw'](str(tmp_path))
    init_default_scope('mmpretrain')
    listing = tmp_path / 'list.txt'
    cfg = dict(type='VideoTrajectoryDataset', data_root=str(tmp_path),
               data_prefix=dict(img='data'), ann_file=str(listing))
    first = sorted(os.listdir(tmp_path / 'data'))[0]
    listing.write_text(f'{first}/origin\nnot_there/origin\n')
    with pytest.raises(FileNotFoundError, match='not_there/origin'):
        DATASETS.build(cfg)
    listing.write_text(f'{first}/origin\n{first}/origin/../mask\n')
    with pytest.raises(ValueError, match='leaves'):
        DATASETS.build(cfg)
    (tmp_path / 'data' / 'empty' / 'origin').mkdir(parents=True)
    listing.write_text(f'{first}/origin\nempty/origin\n')
    with pytest.raises(FileNotFoundError, match='holds no frame'):
        DATASETS.build(cfg)
