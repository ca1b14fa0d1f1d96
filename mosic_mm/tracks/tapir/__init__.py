"""TAPIR, BootsTAPIR and online BootsTAPIR point trackers in PyTorch.

Loads google-deepmind/tapnet's released PyTorch checkpoints strictly and
reproduces tapnet's PyTorch model. Depends on torch and numpy only.

Inputs: ``video`` float [B, T, H, W, 3] in [-1, 1]; ``query_points``
[B, N, 3] as (t, y, x) pixels, origin at the top-left pixel's corner.
Outputs: ``tracks`` [B, N, T, 2] (x, y) in the same frame, ``occlusion``
and ``expected_dist`` logits [B, N, T].

    model = build_tapir('bootstapir', 'bootstapir_checkpoint_v2.pt')
    out = model(video, query_points)                # offline
    online = build_tapir('causal_bootstapir',
                         'causal_bootstapir_checkpoint.pt')
    out = online.track_online(video, query_points)  # causal, bounded memory
"""
from .model import TAPIR, FeatureGrids, OnlineState, QueryFeatures, visible
from .ops import default_refinement_resolutions
from .weights import (
                      CHECKPOINT_FILES,
                      TAPIR_VARIANTS,
                      CheckpointMismatchError,
                      build_tapir,
                      check_state_dict,
                      load_tapir_weights,
)

__all__ = [
    'TAPIR', 'FeatureGrids', 'QueryFeatures', 'OnlineState', 'visible',
    'build_tapir',
    'load_tapir_weights', 'check_state_dict', 'CheckpointMismatchError',
    'TAPIR_VARIANTS', 'CHECKPOINT_FILES', 'default_refinement_resolutions'
]
