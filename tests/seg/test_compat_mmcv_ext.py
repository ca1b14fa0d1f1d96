"""The stand-in for mmcv's compiled ops (mosic_mm.compat_mmcv_ext): under
mmcv-lite, ``mosic_mm.seg`` makes mmsegmentation importable, a compiled op
fails when called with an error naming it and ``make setup-full``, and the
pure-PyTorch ops work; with full mmcv the stand-in is never installed.

mmcv-lite is simulated in a subprocess by hiding ``mmcv._ext`` from the
import system (as it is absent under mmcv-lite), so these tests mean the
same in a venv with full mmcv (`make setup-full`)."""
import importlib.machinery
import importlib.util
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from mosic_mm import compat_mmcv_ext

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _python(code: str):
    return subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_without_ext_mmseg_needs_the_standin(hide_modules_prelude):
    """The premise: under mmcv-lite mmseg cannot be imported on its own."""
    proc = _python(hide_modules_prelude(('mmcv._ext', ))
                   + 'import mmseg.models\n')
    assert proc.returncode != 0
    assert "No module named 'mmcv._ext'" in proc.stderr


@pytest.mark.slow
def test_mmseg_under_mmcv_lite(hide_modules_prelude):
    proc = _python(hide_modules_prelude(('mmcv._ext', )) + textwrap.dedent("""
        import os.path as osp

        import torch
        from mmengine.config import Config
        from mmengine.registry import DefaultScope

        # the project's mmseg model (ViT + BN/1x1 head); loading the config
        # imports mosic_mm.seg (custom_imports), which installs the stand-in
        cfg = Config.fromfile(osp.join('configs', 'benchmarks', 'mmseg',
                                       'linear_synthetic.py'))
        import importlib.util
        print('ORIGIN', importlib.util.find_spec('mmcv._ext').origin)
        import mmseg.models  # noqa: F401
        from mmseg.registry import MODELS
        cfg.model.backbone.init_cfg = None  # random weights
        with DefaultScope.overwrite_default_scope('mmseg'):
            model = MODELS.build(cfg.model)
        logits = model(torch.rand(2, 3, 112, 112), mode='tensor')
        print('LOGITS', tuple(logits.shape))

        import mmcv.ops
        # pure PyTorch: grid_sample
        points = mmcv.ops.point_sample(torch.rand(1, 2, 4, 4),
                                       torch.rand(1, 5, 2))
        print('POINT_SAMPLE', tuple(points.shape))
        # compiled: mmcv._ext.nms
        try:
            mmcv.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
        except RuntimeError as e:
            print('NMS', type(e).__name__, e)
        """))
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr)[-4000:]
    assert f'ORIGIN {compat_mmcv_ext.__file__}' in out, out
    assert 'LOGITS (2, 6, 8, 8)' in out, out
    assert 'POINT_SAMPLE (1, 2, 5)' in out, out
    nms = next(line for line in out.splitlines() if line.startswith('NMS'))
    assert 'CompiledOpUnavailable' in nms, nms
    assert "'nms'" in nms and '`make setup-full`' in nms, nms


def test_standin_module_and_its_errors():
    spec = compat_mmcv_ext.StandinFinder().find_spec('mmcv._ext')
    assert compat_mmcv_ext.StandinFinder().find_spec('mmcv.ops') is None
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    assert ext.__spec__ is spec and ext.__name__ == 'mmcv._ext'
    assert hasattr(ext, 'sigmoid_focal_loss_forward')
    assert not hasattr(ext, '__path__')  # a module, not a package
    with pytest.raises(compat_mmcv_ext.CompiledOpUnavailable,
                       match=r"'roi_align_forward'.*`make setup-full`"):
        ext.roi_align_forward(1, 2, x=3)


class _RealExtFinder:
    """Stands for full mmcv: finds an ``mmcv._ext``."""

    def find_spec(self, name, path=None, target=None):
        if name == 'mmcv._ext':
            return importlib.machinery.ModuleSpec(name, None,
                                                  origin='_ext.so')
        return None


class _NoExtFinder:
    """Stands for mmcv-lite: no finder knows ``mmcv._ext``."""

    def find_spec(self, name, path=None, target=None):
        return None


def _only_finder(monkeypatch, finder):
    """``finder`` alone on sys.meta_path (no stand-in) and mmcv._ext not
    imported yet; both restored after the test."""
    import mmcv  # noqa: F401  (find_spec('mmcv._ext') needs the parent)
    monkeypatch.setattr(sys, 'meta_path', [finder])
    if 'mmcv._ext' in sys.modules:
        monkeypatch.delitem(sys.modules, 'mmcv._ext')


def test_not_installed_with_full_mmcv(monkeypatch):
    _only_finder(monkeypatch, _RealExtFinder())
    assert compat_mmcv_ext.install() is False
    assert not compat_mmcv_ext.installed()
    assert len(sys.meta_path) == 1


def test_installed_once_under_mmcv_lite(monkeypatch):
    _only_finder(monkeypatch, _NoExtFinder())
    assert compat_mmcv_ext.install() is True
    assert compat_mmcv_ext.install() is True
    assert len(sys.meta_path) == 2
    assert isinstance(sys.meta_path[-1], compat_mmcv_ext.StandinFinder)
    assert importlib.util.find_spec('mmcv._ext').origin == \
        compat_mmcv_ext.__file__
