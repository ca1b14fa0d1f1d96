"""Point tracks: the trackers (``trackers/``), the cache they fill
(:mod:`.cache`, :mod:`.extraction`), the pipeline steps that give a clip its
tracks (:mod:`.transforms`: ``TrackPoints`` on the fly, ``LoadTracks`` from
the cache) and the TAP-Vid metrics that score a tracker (:mod:`.metrics`).

Interface of every tracker (docs/conventions.md): ``tracker.track(frames
uint8 [T,H,W,3], queries float32 [N,3] as (t, x, y)) -> (tracks [T,N,2],
visibility [T,N])``.
"""
from .metrics import average_metrics, tapvid_metrics
from .trackers import (
                       BaseTracker,
                       BootsTAPIR,
                       CoTracker3,
                       DISFlowTracker,
                       StaticTracker,
                       SyntheticGroundTruthTracker,
                       build_tracker,
                       check_tracker_cfg,
)
from .transforms import LoadTracks, TrackPoints, track_grid

__all__ = [
    'BaseTracker', 'BootsTAPIR', 'CoTracker3', 'DISFlowTracker',
    'StaticTracker',
    'SyntheticGroundTruthTracker', 'build_tracker', 'check_tracker_cfg',
    'LoadTracks', 'TrackPoints', 'track_grid', 'average_metrics',
    'tapvid_metrics'
]
