"""Token masking of the student: the kept count, the kept set, and which
loss terms survive (hand-made grids)."""
import pytest
import torch

from mosic_mm.models.utils.masking import (
    kept_token_count,
    points_in_kept,
    sample_kept_tokens,
    terms_kept,
)


@pytest.mark.parametrize('num,ratio,rule,kept', [
    (256, 0.3, 'floor_dropped', 180),  # 256 - int(76.8), the official rule
    (256, 0.3, 'round_kept', 179),  # round(179.2)
    (256, 0.1, 'floor_dropped', 231),
    (256, 0.0, 'floor_dropped', 256),
    (16, 0.99, 'round_kept', 1),  # at least one token
])
def test_kept_token_count(num, ratio, rule, kept):
    assert kept_token_count(num, ratio, rule) == kept


def test_unknown_count_rule_is_an_error():
    with pytest.raises(ValueError, match='mask_count'):
        kept_token_count(16, 0.5, 'floor')


def test_kept_set_is_sorted_unique_and_its_grid():
    torch.manual_seed(0)
    keep, grid = sample_kept_tokens(3, 16, 5, 'cpu')
    assert keep.shape == (3, 5) and grid.shape == (3, 16)
    for row, g in zip(keep, grid):
        assert torch.equal(row, row.sort().values)
        assert len(set(row.tolist())) == 5
        assert g.nonzero().flatten().tolist() == row.tolist()


def test_a_point_is_kept_with_the_token_it_falls_in():
    """Tokens of 14 px on a 4x4 grid; only token (row 0, column 1),
    x in [14, 28), y in [0, 14), is kept; points beyond the grid clamp."""
    pts = torch.tensor([[[0., 0.], [20., 3.], [55., 55.], [27.9, 13.9],
                         [28., 0.]]])
    kept_grid = torch.zeros(1, 16, dtype=torch.bool)
    kept_grid[0, 1] = True
    got = points_in_kept(pts, kept_grid, (4, 4), 14)
    assert got.tolist() == [[False, True, False, True, False]]


@pytest.mark.parametrize('rule,expected', [
    ('each_frame', [[[True, False, False], [False, True, True]]]),
    ('first_frame', [[[True, False, False], [True, False, False]]]),
])
def test_which_terms_masking_drops(rule, expected):
    """A 2x2 grid of 14 px tokens (28 px input) keeping only token (0, 1):
    'each_frame' drops a term whose frame-t point is masked, 'first_frame'
    a track whose frame-0 point is."""
    kept = torch.tensor([[False, True, False, False]])
    tracks = torch.tensor([[  # [B=1, T=2, N=3, 2] (x, y)
        [[20., 3.], [3., 3.], [20., 20.]],  # frame 0: kept, masked, masked
        [[3., 3.], [20., 3.], [20., 5.]],  # frame 1: masked, kept, kept
    ]])
    assert terms_kept(tracks, kept, (2, 2), 14, rule).tolist() == expected
    with pytest.raises(ValueError, match='mask_rule'):
        terms_kept(tracks, kept, (2, 2), 14, 'reference')
