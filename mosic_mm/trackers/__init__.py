"""Point trackers: ``tracker.track(frames, queries) -> (tracks, vis)``."""
from mosic_mm.registry import TRACKERS
from .base import BaseTracker, grid_queries
from .dis_flow import DISFlowTracker

__all__ = [
    'BaseTracker', 'DISFlowTracker', 'grid_queries', 'build_tracker',
    'check_tracker_cfg'
]

# Trackers from optional packages that are not on PyPI: type -> how to get.
_OPTIONAL_TRACKERS = {
    'CoTracker3':
    "the optional 'cotracker' package (not on PyPI; install it from "
    'https://github.com/facebookresearch/co-tracker, code and weights are '
    'CC-BY-NC 4.0)',
}


def check_tracker_cfg(cfg) -> None:
    """Raise unless ``cfg`` names a registered tracker: ``KeyError`` listing
    the registered trackers, and the optional ones with how to install them.
    Cheap, so configs are checked when a pipeline is built, not in a worker.
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


def build_tracker(cfg) -> BaseTracker:
    """Build a tracker from a config such as ``dict(type='DISFlowTracker')``
    (checked by :func:`check_tracker_cfg`); a built tracker is returned
    unchanged."""
    if isinstance(cfg, BaseTracker):
        return cfg
    check_tracker_cfg(cfg)
    return TRACKERS.build(cfg)
