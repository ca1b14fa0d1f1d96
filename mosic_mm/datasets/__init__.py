from .mixed_dataset import MixedVideoDataset
from .mixed_sampler import MixedRatioSampler
from .synthetic_dataset import SyntheticVideoDataset
from .transforms import *  # noqa: F401,F403
from .video_io import CorruptVideoError
from .video_trajectory_dataset import (VideoTrajectoryDataset, clip_starts,
                                       effective_stride, sample_clip_indices)

__all__ = ['CorruptVideoError', 'MixedRatioSampler', 'MixedVideoDataset',
           'SyntheticVideoDataset',
           'VideoTrajectoryDataset', 'clip_starts', 'effective_stride',
           'sample_clip_indices']
