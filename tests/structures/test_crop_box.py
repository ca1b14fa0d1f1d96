"""sample_crop_box, the one random-resized-crop sampler: boxes inside the
image with the asked area and aspect, torchvision's distribution, uniform
positions, and its centred fallback."""
import numpy as np
import pytest
import torch

from mosic_mm.structures import sample_crop_box


def _boxes(n, hw, scale, ratio, seed=0):
    """[n, 4] boxes (x0, y0, w, h) from sample_crop_box."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        x0, y0, x1, y1 = sample_crop_box(hw, scale, ratio, rng=rng)
        out.append((x0, y0, x1 - x0, y1 - y0))
    return np.array(out)


def _torchvision_boxes(n, hw, scale, ratio, seed=0):
    """The same draw with torchvision's RandomResizedCrop.get_params (the
    algorithm of the reference's clip RandomResizedCrop)."""
    from torchvision.transforms import RandomResizedCrop
    gen = torch.Generator().manual_seed(seed)
    state = torch.get_rng_state()
    torch.set_rng_state(gen.get_state())
    try:
        img = torch.empty(1, *hw)
        out = [RandomResizedCrop.get_params(img, list(scale), list(ratio))
               for _ in range(n)]
    finally:
        torch.set_rng_state(state)  # the global RNG as the test found it
    return np.array([(j, i, w, h) for i, j, h, w in out])


def test_boxes_fit_with_their_area_and_aspect_and_fall_back_centred():
    rng = np.random.RandomState(0)
    for _ in range(200):
        x0, y0, x1, y1 = sample_crop_box((50, 80), (0.4, 1.0),
                                         (3 / 4, 4 / 3), rng=rng)
        cw, ch = x1 - x0, y1 - y0
        assert 0 <= x0 and x1 <= 80 and 0 <= y0 and y1 <= 50
        assert 0.35 <= cw * ch / 4000 <= 1.0
        assert 0.7 <= cw / ch <= 1.4
    # no attempts -> centre crop, ratio clamped to 4/3 for a 2:1 image
    # (and to 3/4 for a 1:2 one)
    assert sample_crop_box((30, 60), (0.4, 1.0), (3 / 4, 4 / 3), 0) == \
        (10, 0, 50, 30)
    assert sample_crop_box((60, 30), (0.4, 1.0), (3 / 4, 4 / 3), 0) == \
        (0, 10, 30, 50)
    assert sample_crop_box((30, 30), (0.4, 1.0), (3 / 4, 4 / 3), 0) == \
        (0, 0, 30, 30)


def test_a_generator_and_row_first_draw_the_same_kind_of_box():
    """A ``np.random.Generator`` (``integers``) works as a RandomState does;
    ``row_first`` only swaps which offset is drawn first."""
    a = sample_crop_box((90, 160), (0.3, 0.3), (1.0, 1.0),
                        rng=np.random.default_rng(0))
    b = sample_crop_box((90, 160), (0.3, 0.3), (1.0, 1.0),
                        rng=np.random.default_rng(0), row_first=True)
    assert (a[2] - a[0], a[3] - a[1]) == (b[2] - b[0], b[3] - b[1])
    # the two offsets come from the same two draws, in the other order:
    # the Generator's draws after the area and aspect ones are x0-first
    rng = np.random.default_rng(0)
    rng.uniform(0.3, 0.3), rng.uniform(0.0, 0.0)
    w, h = a[2] - a[0], a[3] - a[1]
    first, second = rng.integers(0, 160 - w + 1), rng.integers(0, 90 - h + 1)
    assert (a[0], a[1]) == (first, second)
    rng = np.random.default_rng(0)
    rng.uniform(0.3, 0.3), rng.uniform(0.0, 0.0)
    first, second = rng.integers(0, 90 - h + 1), rng.integers(0, 160 - w + 1)
    assert (b[1], b[0]) == (first, second)


def test_positions_cover_every_offset_uniformly():
    """A fixed crop size (one scale, one ratio) on a non-square image: every
    x0 in 0..W-w and y0 in 0..H-h is drawn, about equally often."""
    hw = (40, 70)
    boxes = _boxes(6000, hw, (0.3, 0.3), (1.5, 1.5))
    w, h = boxes[0, 2], boxes[0, 3]
    assert (boxes[:, 2] == w).all() and (boxes[:, 3] == h).all()
    assert w == round((0.3 * 40 * 70 * 1.5)**0.5) and w > h
    for col, span in ((0, hw[1] - w), (1, hw[0] - h)):
        counts = np.bincount(boxes[:, col], minlength=span + 1)
        assert counts.size == span + 1  # never beyond the image
        expected = len(boxes) / (span + 1)
        assert counts.min() > 0.6 * expected and \
            counts.max() < 1.4 * expected, (col, counts)


@pytest.mark.parametrize('ratio', [(3 / 4, 4 / 3), (1 / 4, 4.0)])
def test_box_distribution_matches_torchvision(ratio):
    """Two-sample KS tests of width, height and relative position against
    torchvision's get_params (area uniform in scale, aspect log-uniform in
    ratio, uniform position)."""
    from scipy.stats import ks_2samp
    hw, scale, n = (90, 160), (0.4, 1.0), 3000
    ours = _boxes(n, hw, scale, ratio, seed=1)
    ref = _torchvision_boxes(n, hw, scale, ratio, seed=1)
    for name, a, b in (
            ('w', ours[:, 2], ref[:, 2]), ('h', ours[:, 3], ref[:, 3]),
            ('log aspect', np.log(ours[:, 2] / ours[:, 3]),
             np.log(ref[:, 2] / ref[:, 3])),
            ('area', ours[:, 2] * ours[:, 3], ref[:, 2] * ref[:, 3]),
            ('x0 rel', ours[:, 0] / np.maximum(1, hw[1] - ours[:, 2]),
             ref[:, 0] / np.maximum(1, hw[1] - ref[:, 2])),
            ('y0 rel', ours[:, 1] / np.maximum(1, hw[0] - ours[:, 3]),
             ref[:, 1] / np.maximum(1, hw[0] - ref[:, 3]))):
        assert ks_2samp(a, b).pvalue > 1e-3, name
