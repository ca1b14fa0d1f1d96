"""DINO's label propagation (mosic_mm.evaluation.protocols.propagation):
its settings and the propagation on features with a known answer."""
import numpy as np
import torch

from mosic_mm.evaluation.metrics.davis import evaluate_video
from mosic_mm.evaluation.protocols.propagation import (
    PropagationSettings,
    propagate_labels,
)


def test_settings_are_dinos():
    s = PropagationSettings()
    assert (s.n_context, s.radius, s.topk, s.temperature) == (7, 12, 5, 0.1)
    assert s.input_size == 'native'


def _moving_object(T=6, grid=8, p=4):
    """Masks [T, grid*p, grid*p] of a 2x2-patch object moving one patch per
    frame, and features [T, 3, grid, grid] = one-hot of the label."""
    masks = np.zeros((T, grid * p, grid * p), np.int64)
    feats = np.zeros((T, 3, grid, grid), np.float32)
    feats[:, 0] = 1
    for t in range(T):
        r, c = 1 + t % 4, 2 + t % 3
        masks[t, r * p:(r + 2) * p, c * p:(c + 2) * p] = 2
        feats[t, :, r:r + 2, c:c + 2] = 0
        feats[t, 2, r:r + 2, c:c + 2] = 1
    return masks, feats


def test_label_propagation_follows_features():
    masks, feats = _moving_object()
    pred = propagate_labels(torch.from_numpy(feats), masks[0], radius=3)
    # patch centres are exact; bilinear upsampling only rounds the corners
    centres = (slice(None), slice(2, None, 4), slice(2, None, 4))
    np.testing.assert_array_equal(pred[centres], masks[centres])
    res = evaluate_video(masks, pred)[2]
    assert res['J'] > 0.9 and res['F'] == 1.0
    # uninformative features lose the object
    pred = propagate_labels(torch.ones(6, 3, 8, 8), masks[0])
    assert evaluate_video(masks, pred)[2]['J'] < 0.5
