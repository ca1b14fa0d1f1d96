import torch

from mosic_mm.models.utils import sample_at_points

P = 14  # patch size
H, W = 3, 5  # token grid, deliberately non-square


def _index_featmap():
    """Channel 0 = column index, channel 1 = row index; [1, 2, H, W]."""
    rows, cols = torch.meshgrid(
        torch.arange(H, dtype=torch.float32),
        torch.arange(W, dtype=torch.float32),
        indexing='ij')
    return torch.stack([cols, rows])[None]


def _centre(i):
    return i * P + (P - 1) / 2


def test_token_centres_give_column_then_row():
    rc = [(r, c) for r in range(H) for c in range(W)]
    points = torch.tensor([[(_centre(c), _centre(r)) for r, c in rc]])
    out = sample_at_points(_index_featmap(), points, P)
    assert out.shape == (1, H * W, 2)
    expected = torch.tensor([[(float(c), float(r)) for r, c in rc]])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_bilinear_midpoints_and_border():
    feat = torch.randn(2, 4, H, W)
    points = torch.tensor([
        (_centre(1) + P / 2, _centre(2)),  # between columns 1 and 2, row 2
        (_centre(3), _centre(0) + P / 2),  # between rows 0 and 1, column 3
        (-0.5, -0.5),  # image corner: border padding -> token (0, 0)
        (W * P - 0.5, H * P - 0.5),  # opposite corner -> token (H-1, W-1)
    ]).expand(2, -1, -1)
    out = sample_at_points(feat, points, P)
    expected = torch.stack([
        (feat[..., 2, 1] + feat[..., 2, 2]) / 2,
        (feat[..., 0, 3] + feat[..., 1, 3]) / 2,
        feat[..., 0, 0],
        feat[..., H - 1, W - 1],
    ], dim=1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_gradients_reach_featmap_and_dtype_is_kept():
    feat = torch.randn(1, 3, H, W, requires_grad=True)
    points = torch.tensor([[(_centre(1) + 3.0, _centre(1) - 2.0)]])
    sample_at_points(feat, points, P).sum().backward()
    grad = feat.grad[0, 0]
    assert (grad > 0).sum() == 4  # four bilinear neighbours
    torch.testing.assert_close(grad.sum(), torch.tensor(1.0))

    out = sample_at_points(_index_featmap().bfloat16(),
                           torch.tensor([[(_centre(4), _centre(2))]]), P)
    assert out.dtype == torch.bfloat16
    assert out.float().tolist() == [[[4.0, 2.0]]]
