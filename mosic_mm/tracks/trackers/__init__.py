"""Point trackers: ``tracker.track(frames, queries) -> (tracks, vis)``."""
from mmengine.registry import DefaultScope

from mosic_mm.registry import TRACKERS

from .base import BaseTracker
from .bootstapir import TAPIR_WEIGHTS, BootsTAPIR
from .cotracker import COTRACKER_INSTALL, CoTracker3
from .dis_flow import DISFlowTracker
from .static import StaticTracker
from .synthetic_gt import SyntheticGroundTruthTracker

__all__ = [
    'BaseTracker', 'BootsTAPIR', 'CoTracker3', 'DISFlowTracker',
    'StaticTracker', 'TAPIR_WEIGHTS',
    'SyntheticGroundTruthTracker',
    'build_tracker', 'check_tracker_cfg'
]

# Trackers over optional packages that are not on PyPI: type -> how to get.
# They are always registered; their ``check_cfg`` raises ImportError with
# these instructions when the package is missing.
_OPTIONAL_TRACKERS = {
    'CoTracker3': COTRACKER_INSTALL,
}


def check_tracker_cfg(cfg) -> None:
    """Raise unless ``cfg`` names a registered, usable tracker: ``KeyError``
    listing the registered trackers and the optional ones with how to install
    them; the tracker class's own ``check_cfg`` (if any) raises for a missing
    package or checkpoint. Cheap, so configs are checked when a pipeline is
    built, not in a worker.
    """
    if not hasattr(cfg, 'get') or 'type' not in cfg:
        raise TypeError(
            f"tracker config must be a dict with a 'type' key, got {cfg!r}")
    tracker_type = cfg['type']
    if isinstance(tracker_type, str) and TRACKERS.get(tracker_type) is None:
        registered = ', '.join(sorted(TRACKERS.module_dict)) or '(none)'
        optional = '; '.join(f"'{name}' needs {how}"
                             for name, how in _OPTIONAL_TRACKERS.items())
        raise KeyError(
            f'unknown tracker type {tracker_type!r}. Registered trackers: '
            f'{registered}. Optional trackers: {optional}.')
    cls = TRACKERS.get(tracker_type) if isinstance(tracker_type,
                                                   str) else tracker_type
    if hasattr(cls, 'check_cfg'):
        cls.check_cfg(cfg)


def build_tracker(cfg) -> BaseTracker:
    """Build a tracker from a config such as ``dict(type='DISFlowTracker')``
    (checked by :func:`check_tracker_cfg`); a built tracker is returned
    unchanged."""
    if isinstance(cfg, BaseTracker):
        return cfg
    check_tracker_cfg(cfg)
    # TRACKERS has no parent in mmpretrain's tree: build in its own scope so
    # that a default scope 'mmpretrain' does not log a registry warning.
    with DefaultScope.overwrite_default_scope(TRACKERS.scope):
        return TRACKERS.build(cfg)
