"""The conventions every other part of mosic_mm shares (docs/conventions.md):
point coordinates (inside, flip, crop and resize, grid queries), the crop
sampler, and the metainfo keys a clip's data sample carries."""
from .boxes import sample_crop_box
from .data_sample import (
                          DATASET_NAME_KEY,
                          SKIPPED_CLIPS_KEY,
                          set_sample_metainfo,
)
from .points import (
                          crop_resize_points,
                          flip_points,
                          grid_queries,
                          points_inside,
)

__all__ = ['sample_crop_box', 'DATASET_NAME_KEY', 'SKIPPED_CLIPS_KEY',
           'set_sample_metainfo', 'crop_resize_points', 'flip_points',
           'grid_queries', 'points_inside']
