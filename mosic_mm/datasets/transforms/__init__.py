from .formatting import PackTrackInputs
from .geometry import ClipFlip, ClipRandomResizedCrop, ClipResize
from .loading import LoadClip
from .selection import SelectTracks
from .tracking import LoadTracks, TrackPoints, track_grid

__all__ = [
    'PackTrackInputs', 'ClipFlip', 'ClipRandomResizedCrop', 'ClipResize',
    'LoadClip', 'LoadTracks', 'SelectTracks', 'TrackPoints', 'track_grid'
]
