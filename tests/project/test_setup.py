"""The main job runs without mmcv's compiled ops (`make setup` installs
mmcv-lite): track extraction, training and tools/evaluate.py, each in a
subprocess where ``mmcv.ops``, ``mmcv._ext`` and ``mmseg`` cannot be imported
(as with mmcv-lite, whatever mmcv this venv has)."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')
BLOCKED = ('mmcv.ops', 'mmcv._ext', 'mmseg')

EPILOGUE = textwrap.dedent("""
    _loaded = sorted(m for m in sys.modules
                     if any(m == b or m.startswith(b + '.') for b in BLOCKED))
    assert not _loaded, _loaded
    print('NO-COMPILED-OPS-OK')
    """)


@pytest.fixture
def prelude(hide_modules_prelude) -> str:
    """Prepended to each tool: mmcv.ops, mmcv._ext and mmseg made
    unimportable."""
    return hide_modules_prelude(BLOCKED)


def _run_tool(prelude, tool, *args, timeout=600):
    """Run tools/<tool> as __main__ behind the blocker; returns its output."""
    code = prelude + textwrap.dedent(f"""
        import runpy
        sys.argv = {[tool, *args]!r}
        try:
            runpy.run_path({osp.join(REPO, 'tools', tool)!r},
                           run_name='__main__')
        except SystemExit as e:
            if e.code not in (None, 0):
                raise
        """) + EPILOGUE
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'NO-COMPILED-OPS-OK' in out, out[-4000:]
    return out


@pytest.mark.slow
def test_blocker_blocks(prelude):
    """The guard itself: a tool importing mmcv.ops must fail behind it."""
    code = prelude + 'import mmcv.cnn, mmcv.transforms\nimport mmcv.ops\n'
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "ModuleNotFoundError: No module named 'mmcv.ops'" in proc.stderr


@pytest.mark.slow
def test_extract_train_evaluate_without_compiled_ops(synthetic_root,
                                                      tmp_path, prelude,
                                                      tiny_train_options,
                                                      tiny_extract_options):
    data = tiny_extract_options(synthetic_root)
    cache = tmp_path / 'cache'
    out = _run_tool(prelude, 'extract_tracks.py', SYNTHETIC_CONFIG,
                    '--cache-dir', str(cache), '--cfg-options', *data)
    assert len(list(cache.rglob('*.npz'))) == 4, out[-2000:]

    work = tmp_path / 'work'
    _run_tool(prelude, 'train.py', SYNTHETIC_CONFIG, '--work-dir', str(work),
              '--cfg-options', *tiny_train_options(synthetic_root, 1))
    ckpt = work / 'iter_1.pth'
    assert ckpt.is_file()

    # the checkpoint carries its (tiny) config
    out = _run_tool(prelude, 'evaluate.py', 'overcluster', str(ckpt),
                    '--data-root', synthetic_root,
                    '--input-size', '56', '--ks', '6',
                    '--set', 'pca_dim=16')  # the tiny ViT is 32 wide
    assert 'overcluster K=6 mIoU' in out


@pytest.mark.slow
def test_make_test_sets_up_without_full_mmcv(tmp_path):
    """`make test` on a fresh venv runs the wheels-only dev set-up, never the
    full one (full mmcv may need a compiler)."""
    venv = tmp_path / 'venv'
    proc = subprocess.run(['make', '-n', 'test', f'VENV={venv}'], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f'install_deps.sh --dev {venv}' in proc.stdout, proc.stdout
    assert '--full' not in proc.stdout, proc.stdout
