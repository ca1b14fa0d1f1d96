"""Lists of training videos (make_video_list, docs/datasets.md): VSPW's
origin folders and not its masks, a split file's selection, the Kinetics
clips of a CSV (the missing ones reported), and a nested list that names a
missing, escaping or empty folder is an error naming it."""
import os
import os.path as osp

import pytest

from mosic_mm.apis.common import job_logger
from mosic_mm.apis.prepare_videos import make_video_list
from mosic_mm.datasets.sources.video_lists import list_videos
from mosic_mm.datasets.video_dataset import VideoTrajectoryDataset
from mosic_mm.synthetic import TRAINING_LAYOUTS


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


def test_kinetics_clips_missing_from_the_csv_are_reported(tmp_path,
                                                          log_capture):
    made = TRAINING_LAYOUTS['kinetics'](str(tmp_path))
    out = tmp_path / 'list.txt'
    with log_capture(job_logger('make_video_list')) as messages:
        assert make_video_list('kinetics', str(tmp_path / 'train'), str(out),
                               kinetics_csv=made['csv']) == 0
    assert made['missing'][0] in '\n'.join(messages)
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


def test_nested_list_names_a_missing_or_escaping_folder(tmp_path):
    TRAINING_LAYOUTS['vspw'](str(tmp_path))
    listing = tmp_path / 'list.txt'

    def build():
        return VideoTrajectoryDataset(str(tmp_path),
                                      data_prefix=dict(img='data'),
                                      ann_file=str(listing))
    first = sorted(os.listdir(tmp_path / 'data'))[0]
    listing.write_text(f'{first}/origin\nnot_there/origin\n')
    with pytest.raises(FileNotFoundError, match='not_there/origin'):
        build()
    listing.write_text(f'{first}/origin\n{first}/origin/../mask\n')
    with pytest.raises(ValueError, match='leaves'):
        build()
    (tmp_path / 'data' / 'empty' / 'origin').mkdir(parents=True)
    listing.write_text(f'{first}/origin\nempty/origin\n')
    with pytest.raises(FileNotFoundError, match='holds no frame'):
        build()
