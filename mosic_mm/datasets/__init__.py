from .synthetic_dataset import SyntheticVideoDataset
from .transforms import *  # noqa: F401,F403
from .video_trajectory_dataset import (VideoTrajectoryDataset,
                                       sample_clip_indices)

__all__ = ['SyntheticVideoDataset', 'VideoTrajectoryDataset',
           'sample_clip_indices']
