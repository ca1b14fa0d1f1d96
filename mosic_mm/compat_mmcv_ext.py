"""A stand-in for mmcv's compiled extension ``mmcv._ext`` under mmcv-lite.

mmsegmentation 1.2.2 imports ``mmcv.ops`` when it is imported (e.g.
``mmseg/utils/mask_classification.py`` takes ``point_sample``), and every
module of ``mmcv.ops`` loads ``mmcv._ext`` on import
(``mmcv.utils.ext_loader.load_ext``: ``import_module('mmcv._ext')``, then
``hasattr`` for each C++ function it binds). mmcv-lite ships ``mmcv.ops``
without ``mmcv._ext``, so ``import mmseg.models`` fails there, although
nothing this project runs in mmseg (ViT, BN + 1x1 head, losses, metrics,
Runner) calls a compiled op.

:func:`install` puts a finder at the end of ``sys.meta_path`` that answers
``mmcv._ext`` with a real module (it has a ``__spec__``) whose every public
attribute is a function raising :class:`CompiledOpUnavailable`, naming the
op and ``make setup-full``. It does so only when no ``mmcv._ext`` is found
(mmcv-lite): with full mmcv it changes nothing. ``mmcv.ops`` then imports,
its pure-PyTorch ops (``point_sample``, ...) work and a compiled op fails
when called, not when imported.

``mosic_mm.seg`` installs it before importing mmseg; the main ``mosic_mm``
package does not, so the main job keeps seeing mmcv-lite as it is.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import sys

NAME = 'mmcv._ext'


class CompiledOpUnavailable(RuntimeError):
    """A compiled mmcv op was called under mmcv-lite (no ``mmcv._ext``)."""


def _unavailable_op(op: str):
    """The stand-in for the C++ function ``mmcv._ext.<op>``."""

    def call(*args, **kwargs):
        raise CompiledOpUnavailable(
            f"mmcv op '{op}' (mmcv._ext.{op}) is compiled C++ code, and this "
            'venv has mmcv-lite, which has no compiled ops. Install full '
            'mmcv with `make setup-full` (docs/setup.md).')

    call.__name__ = call.__qualname__ = op
    return call


def _module_getattr(name: str):
    """Module ``__getattr__`` (PEP 562) of the stand-in: any public name is
    a compiled op, so ``load_ext``'s ``hasattr`` checks pass."""
    if name.startswith('_'):
        raise AttributeError(f'module {NAME!r} has no attribute {name!r}')
    return _unavailable_op(name)


class _Loader(importlib.abc.Loader):

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        module.__doc__ = ('Stand-in for mmcv\'s compiled ops under mmcv-lite '
                          '(mosic_mm.compat_mmcv_ext): calling any op raises '
                          'CompiledOpUnavailable.')
        module.__getattr__ = _module_getattr


class StandinFinder(importlib.abc.MetaPathFinder):
    """Finds the stand-in ``mmcv._ext``; consulted only after every other
    finder has found nothing (it is last on ``sys.meta_path``)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != NAME:
            return None
        return importlib.machinery.ModuleSpec(NAME, _Loader(),
                                              origin=__file__)


def installed() -> bool:
    """Whether the stand-in finder is on ``sys.meta_path``."""
    return any(isinstance(f, StandinFinder) for f in sys.meta_path)


def install() -> bool:
    """Make ``mmcv._ext`` importable as the stand-in if mmcv has no compiled
    extension (mmcv-lite). Idempotent. Returns whether the stand-in is
    active; False (and nothing changed) with full mmcv."""
    if installed():
        return True
    if importlib.util.find_spec(NAME) is not None:  # full mmcv's own
        return False
    sys.meta_path.append(StandinFinder())
    return True
