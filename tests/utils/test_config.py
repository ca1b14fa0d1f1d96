"""Config loading: a missing config or _base_ names the file and the
config naming it; tools/train.py exits with the message and leaves the
work dir untouched."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(REPO, 'tools', 'train.py')
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')

@pytest.mark.slow
def test_missing_base_names_the_file_and_the_config_naming_it(tmp_path):
    from mosic_mm.utils.config import ConfigError, load_config
    parent = tmp_path / 'parent.py'
    parent.write_text(f"_base_ = [{SYNTHETIC_CONFIG!r}, "
                      "'./_base_/my_runtime.py']\n")
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./parent.py']\nmax_iters = 3\n")
    missing = tmp_path / '_base_' / 'my_runtime.py'
    with pytest.raises(ConfigError) as e:
        load_config(str(child))
    msg = str(e.value)
    assert f'its _base_ file {missing} does not exist' in msg
    assert f'named in the _base_ of {parent}' in msg and str(child) in msg
    with pytest.raises(ConfigError, match='nope.py does not exist'):
        load_config(str(tmp_path / 'nope.py'))

    # tools/train.py: the message, exit status 1, the work dir untouched
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_5.pth').write_bytes(b'an earlier checkpoint')
    (work / 'last_checkpoint').write_text(str(work / 'iter_5.pth'))
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    proc = subprocess.run([sys.executable, TRAIN, str(child), '--work-dir',
                           str(work)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    assert f'its _base_ file {missing} does not exist' in proc.stderr
    assert {p.name: p.read_bytes() for p in work.iterdir()} == before
    assert sorted(os.listdir(work)) == ['iter_5.pth', 'last_checkpoint']
