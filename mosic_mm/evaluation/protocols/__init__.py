"""One class per frozen-feature protocol, each with its frozen settings
dataclass (paper values, each with its source in the official code)."""
from typing import Dict, Type

from ..protocol import Protocol
from .hummingbird import Hummingbird, HummingbirdSettings
from .linear import LinearProbe, LinearSettings
from .overclustering import Overclustering, OverclusteringSettings
from .propagation import LabelPropagation, PropagationSettings
from .video_clustering import VideoClustering, VideoClusteringSettings

__all__ = ['PROTOCOLS', 'Hummingbird', 'HummingbirdSettings', 'LinearProbe',
           'LinearSettings', 'Overclustering', 'OverclusteringSettings',
           'LabelPropagation', 'PropagationSettings', 'VideoClustering',
           'VideoClusteringSettings']

#: protocol name -> class
PROTOCOLS: Dict[str, Type[Protocol]] = {
    p.name: p for p in (Hummingbird, LinearProbe, Overclustering,
                        VideoClustering, LabelPropagation)}
