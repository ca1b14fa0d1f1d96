from .sinkhorn import sinkhorn_knopp
from .track_sampling import sample_at_points
from .vit_tokens import (embed_tokens, forward_blocks, keep_tokens,
                         patch_featmap, vit_patch_size)

__all__ = [
    'sinkhorn_knopp', 'sample_at_points', 'embed_tokens', 'forward_blocks',
    'keep_tokens', 'patch_featmap', 'vit_patch_size'
]
