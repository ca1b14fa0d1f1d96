from .synthetic_dataset import SyntheticVideoDataset
from .transforms import *  # noqa: F401,F403
from .video_trajectory_dataset import (VideoTrajectoryDataset, clip_starts,
                                       effective_stride, sample_clip_indices)

__all__ = ['SyntheticVideoDataset', 'VideoTrajectoryDataset', 'clip_starts',
           'effective_stride', 'sample_clip_indices']

from .synthetic_layouts import (make_ade_layout, make_davis_layout,  # noqa
                                make_voc_layout, make_ytvos_layout)

__all__ += ['make_voc_layout', 'make_ade_layout', 'make_davis_layout',
            'make_ytvos_layout']
