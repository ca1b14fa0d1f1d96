"""Loading a config with errors that name the file at fault."""
import contextlib
import os.path as osp
import uuid
from typing import Optional, Tuple

from mmengine.config import Config


class ConfigError(ValueError):
    """A config (or one it inherits from) cannot be loaded."""


def find_missing_base(path: str, _seen=None) -> Optional[Tuple[str, str]]:
    """The first ``_base_`` file of ``path``'s inheritance chain that does
    not exist, as ``(config naming it, missing path)``; None if all exist.
    Package bases (``'pkg::...'``) are not checked."""
    seen = set() if _seen is None else _seen
    path = osp.abspath(path)
    if path in seen:
        return None
    seen.add(path)
    bases = Config._get_base_files(path)
    for base in ([bases] if isinstance(bases, str) else bases):
        if '::' in base:
            continue
        full = osp.normpath(osp.join(osp.dirname(path), base))
        if not osp.isfile(full):
            return path, full
        found = find_missing_base(full, seen)
        if found:
            return found
    return None


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile(path)`` with ``cfg_options`` (``--cfg-options``
    overrides) merged, and clear errors: a missing config file or a missing
    ``_base_`` (naming the config that names it, and the path it resolves
    to), or a ``'pkg::'`` base that cannot be resolved.

    Raises:
        ConfigError: as above (nothing was created or written).
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file {path} does not exist')
    try:
        missing = find_missing_base(path)
    except (SyntaxError, OSError) as e:
        raise ConfigError(f'cannot parse config {path}: {e}') from e
    if missing:
        parent, base = missing
        raise ConfigError(
            f'config {path}: its _base_ file {base} does not exist (named in '
            f'the _base_ of {parent}; relative _base_ paths are resolved '
            'from the folder of the config that names them)')
    try:
        cfg = Config.fromfile(path)
    except ModuleNotFoundError as e:
        if 'pkg_resources' in str(e):
            raise ConfigError(
                f'config {path} inherits a package config (_base_ = '
                "'pkg::...'), which mmengine resolves with pkg_resources "
                '(not installed: setuptools >= 82 dropped it). Vendor the '
                'base config as a file and name it by its path.') from e
        raise
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


@contextlib.contextmanager
def registry_scope(cfg: Optional[Config] = None):
    """A context in which registries build in ``cfg``'s ``default_scope``
    (mmpretrain when unset or without a config), restoring the caller's
    default scopes on exit, the very instances: a Runner built inside
    (mmseg's, say) leaves no scope behind that breaks the next build.
    (mmengine's ``DefaultScope.overwrite_default_scope`` restores deep
    copies, so a caller's scope object is no longer the current one.)"""
    from mmengine.registry import DefaultScope
    scope = (cfg.get('default_scope') if cfg is not None else None) \
        or 'mmpretrain'
    saved = dict(DefaultScope._instance_dict)
    DefaultScope.get_instance(f'mosic_mm-{uuid.uuid4().hex}',
                              scope_name=scope)
    try:
        yield
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(saved)
