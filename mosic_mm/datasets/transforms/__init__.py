from .formatting import PackTrackInputs
from .geometry import ClipFlip, ClipRandomResizedCrop, ClipResize
from .loading import LoadClip
from .sampling import (
                       SampleClip,
                       clip_starts,
                       effective_stride,
                       pipeline_clip_sampler,
)
from .selection import SelectTracks

__all__ = [
    'PackTrackInputs', 'ClipFlip', 'ClipRandomResizedCrop', 'ClipResize',
    'LoadClip', 'SampleClip', 'SelectTracks', 'clip_starts',
    'effective_stride', 'pipeline_clip_sampler'
]
