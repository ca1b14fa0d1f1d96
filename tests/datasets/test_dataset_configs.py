"""Dataset configs of the official code's training sets (MOSE, LVOS, VSPW,
Kinetics as videos and as frames, EPIC-KITCHENS as frames and as videos,
CO3D): each ``configs/mosic_vits_<name>.py`` parses and is the YouTube-VOS
recipe with only its dataset (and its clips' window step) swapped; on a
tiny synthetic root in the dataset's layout
(``mosic_mm.synthetic.TRAINING_LAYOUTS``), prepared with the commands of
docs/datasets.md, it lists exactly the videos (not VSPW's masks, CO3D's
depth maps or a Kinetics clip that is not there), the track cache is
extracted for it with the config's tracker and it yields recipe clips."""
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mosic_mm.apis import extract_tracks
from mosic_mm.apis.prepare_videos import make_video_list, unpack_co3d
from mosic_mm.datasets.sources.video_lists import LAYOUTS
from mosic_mm.registry import DATASETS
from mosic_mm.synthetic import TRAINING_LAYOUTS

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(TRAINING_LAYOUTS)
YTVOS = str(REPO / 'configs' / 'mosic_vits_ytvos.py')

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
# the clips' window_step of the long videos (``<name>_clips`` of the
# dataset's base config): ~10 cached windows per video, as the recipe's 12
# frames give on YouTube-VOS; the others keep the recipe's
WINDOW_STEP = {'kinetics': 24, 'kinetics_frames': 24, 'epic_kitchens': 600,
               'epic_kitchens_videos': 600}


def config(name):
    return str(REPO / 'configs' / f'mosic_vits_{name}.py')


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
        assert osp.isfile(REPO / 'configs' / '_base_' / 'datasets' /
                          f'{name}.py'), name


@pytest.mark.parametrize('name', NAMES)
def test_config_is_the_recipe_with_only_the_dataset_swapped(name):
    cfg, ref = Config.fromfile(config(name)), Config.fromfile(YTVOS)
    base = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' /
                               f'{name}.py'))
    clips = f'{name}_clips'
    assert list(base.keys()) == [f'{name}_train'] + (
        [clips] if name in WINDOW_STEP else [])
    if name in WINDOW_STEP:
        assert base[clips].to_dict() == dict(window_step=WINDOW_STEP[name])
    own = base[f'{name}_train'].to_dict()
    assert own['type'] == 'VideoTrajectoryDataset'
    # the Kinetics-scale collections list and count their videos once
    # into an index file (docs/datasets.md, 'Large collections')
    indexed = {'index_file'} if name.startswith('kinetics') else set()
    assert set(own) == {'type', 'data_root', 'data_prefix',
                        'ann_file'} | indexed
    assert own['data_root'].startswith('data/')

    swapped = ('train_dataloader', 'train_pipeline', f'{name}_train', clips)
    assert {k: v for k, v in cfg.to_dict().items() if k not in swapped} == \
        {k: v for k, v in ref.to_dict().items() if k not in swapped}
    loader, ref_loader = (c.train_dataloader.to_dict() for c in (cfg, ref))
    dataset, ref_dataset = loader.pop('dataset'), ref_loader.pop('dataset')
    assert loader == ref_loader
    pipeline, ref_pipeline = dataset.pop('pipeline'), ref_dataset.pop(
        'pipeline')
    assert dataset == dict(ref_dataset, **own)
    assert pipeline == cfg.train_pipeline
    assert pipeline[0]['type'] == 'SampleClip'
    cmd = f'python tools/extract_tracks.py configs/mosic_vits_{name}.py'
    for step, ref_step in zip(pipeline, ref_pipeline, strict=True):
        if step['type'] == 'LoadTracks':
            assert step.pop('extract_cmd').startswith(cmd)
            ref_step.pop('extract_cmd')
        if step['type'] == 'SampleClip':
            assert ref_step.pop('window_step') == 12
            assert step.pop('window_step') == WINDOW_STEP.get(name, 12)
        assert step == ref_step


@pytest.mark.parametrize('name', NAMES)
def test_dataset_builds_on_its_layout_and_yields_clips(name, tmp_path):
    data_root, made = prepare(name, tmp_path / name)
    options = {'train_dataloader.dataset.data_root': data_root}
    cfg = Config.fromfile(config(name))
    cfg.merge_from_dict(options)
    ds_cfg = cfg.train_dataloader.dataset
    with DefaultScope.overwrite_default_scope('mmpretrain'):
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
    with DefaultScope.overwrite_default_scope('mmpretrain'):
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
