"""CO3D's zips unpacked into frame folders: frames only (no masks or
depth maps), sequences split over zips merged, resumable, and bad or
escaping zips reported while the others are unpacked."""
import os
import os.path as osp
import zipfile

from mosic_mm.apis.prepare_videos import unpack_co3d
from mosic_mm.datasets.sources.co3d_zips import unpack_co3d_images
from mosic_mm.synthetic import TRAINING_LAYOUTS


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
