"""The import-linter contracts of pyproject.toml catch a breach: a copy of
the package with one lower layer importing a higher one, and one module
importing the lab, fails `lint-imports` naming both."""
import os.path as osp
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_contracts_fail_on_a_layer_breach_and_a_lab_import(tmp_path):
    shutil.copytree(osp.join(REPO, 'mosic_mm'), tmp_path / 'mosic_mm',
                    ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(osp.join(REPO, 'pyproject.toml'), tmp_path)
    lint = [sys.executable, '-m', 'importlinter.cli']
    exe = shutil.which('lint-imports', path=osp.dirname(sys.executable))
    if exe:
        lint = [exe]

    def run():
        return subprocess.run(lint, cwd=tmp_path, capture_output=True,
                              text=True, timeout=300,
                              env=dict(PYTHONPATH=str(tmp_path),
                                       PATH=osp.dirname(sys.executable)))
    ok = run()
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    with open(tmp_path / 'mosic_mm' / 'models' / 'data_preprocessor.py',
              'a') as f:
        f.write('\nfrom mosic_mm.tracks import build_tracker  # noqa\n')
    with open(tmp_path / 'mosic_mm' / 'structures' / 'boxes.py', 'a') as f:
        f.write('\nimport tools.lab  # noqa\n')
    bad = run()
    assert bad.returncode != 0
    assert 'mosic_mm.models is not allowed to import mosic_mm.tracks' in \
        bad.stdout
    assert 'mosic_mm.structures.boxes -> tools' in bad.stdout
