"""Training videos: where they are (``sources``), which clip is read
(``SampleClip``) and how (``transforms``), and the datasets over them."""
from .mixed_dataset import MixedVideoDataset
from .mixed_sampler import MixedRatioSampler
from .sources.video_io import CorruptVideoError
from .synthetic_dataset import SyntheticVideoDataset
from .transforms import *  # noqa: F401,F403
from .video_dataset import VideoTrajectoryDataset, video_id_getter

__all__ = ['CorruptVideoError', 'MixedRatioSampler', 'MixedVideoDataset',
           'SyntheticVideoDataset', 'VideoTrajectoryDataset',
           'video_id_getter']
