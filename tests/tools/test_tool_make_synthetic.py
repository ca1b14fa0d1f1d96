"""tools/make_synthetic.py writes the synthetic videos it is asked for and
prints the writer's summary; a bad setting exits with the error."""
import json
import os.path as osp
import subprocess
import sys

import pytest


def test_writes_the_dataset_and_prints_its_summary(tmp_path, capsys,
                                                   load_tool):
    tool = load_tool('make_synthetic.py')
    out = tmp_path / 'sq'
    tool.main(['--out', str(out), '--num-train', '1', '--num-val', '1',
               '--frames', '2', '--size', '32', '--no-progress'])
    summary = json.loads(capsys.readouterr().out)
    assert summary['created'] is True
    meta = json.loads((out / 'meta.json').read_text())
    assert meta['size'] == [32, 32] and meta['splits'] == {
        'train': ['train_0000'], 'val': ['val_0000']}
    # H W, objects and points reach the writer
    tool.main(['--out', str(tmp_path / 'hw'), '--num-train', '1',
               '--num-val', '0', '--frames', '2', '--size', '24', '40',
               '--objects', '1', '1', '--num-points', '8', '--seed', '3',
               '--no-progress'])
    meta = json.loads((tmp_path / 'hw' / 'meta.json').read_text())
    assert meta['size'] == [24, 40] and meta['num_frames'] == 2
    with pytest.raises(SystemExit) as err:  # other settings, no overwrite
        tool.main(['--out', str(out), '--num-train', '2', '--num-val', '1',
                   '--frames', '2', '--size', '32', '--no-progress'])
    assert str(err.value).startswith('make_synthetic: error:')
    with pytest.raises(SystemExit):
        tool.parse_args(['--size', '1', '2', '3'])


@pytest.mark.slow  # a subprocess
def test_runs_as_a_script_from_the_checkout(tmp_path, repo):
    out = tmp_path / 'cli'
    cmd = [sys.executable, osp.join(repo, 'tools', 'make_synthetic.py'),
           '--out', str(out), '--num-train', '1', '--num-val', '1',
           '--frames', '2', '--size', '32', '--no-progress']
    res = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert '"created": true' in res.stdout
    assert (out / 'meta.json').is_file()
