from .masking import (
                      kept_token_count,
                      points_in_kept,
                      sample_kept_tokens,
                      terms_kept,
)
from .point_sampling import sample_at_points
from .sinkhorn import sinkhorn_knopp
from .teacher_forward import TeacherForward
from .token_backbone import TokenViT, vit_patch_size

__all__ = [
    'kept_token_count', 'points_in_kept', 'sample_kept_tokens', 'terms_kept',
    'sample_at_points', 'sinkhorn_knopp', 'TeacherForward', 'TokenViT',
    'vit_patch_size'
]
