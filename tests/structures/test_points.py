"""Point coordinates as docs/conventions.md defines them: (x, y) pixels, x
the column, pixel centres at integers, an (H, W) image covering
[-0.5, W-0.5) x [-0.5, H-0.5); inside, flip, crop-resize and the grid of
query points."""
import numpy as np
import pytest

from mosic_mm.structures import (
    crop_resize_points,
    flip_points,
    grid_queries,
    points_inside,
)


def test_inside_is_the_half_open_pixel_rectangle():
    # a 5 (H) x 10 (W) image: x (columns) runs to 9.5, y (rows) to 4.5
    pts = np.array([[0., 0.], [9., 4.], [-0.5, -0.5], [9.49, 4.49],
                    [9.5, 4.4], [9.4, 4.5], [-0.51, 2.], [3., -0.51],
                    [4.4, 9.], [np.nan, 1.]], np.float32)
    assert points_inside(pts, (5, 10)).tolist() == [
        True, True, True, True, False, False, False, False, False, False]
    # any leading shape ([T, N, 2] tracks), bool out
    grid = np.broadcast_to(pts, (3, 2) + pts.shape)
    out = points_inside(grid, (5, 10))
    assert out.shape == (3, 2, len(pts)) and out.dtype == bool
    np.testing.assert_array_equal(out[2, 1], points_inside(pts, (5, 10)))


def test_crop_resize_maps_pixel_edges_to_pixel_edges():
    pts = np.array([[0., 0.], [9., 4.], [-0.5, -0.5]], np.float32)
    # resize 10x5 -> 20x10 (W x H): pixel centre 0 -> 0.5, edge -0.5 stays
    out = crop_resize_points(pts, (0, 0, 10, 5), (10, 20))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.5, 0.5], [18.5, 8.5], [-0.5, -0.5]])
    # the crop offset only
    out = crop_resize_points(pts[1:2], (4, 2, 10, 5), (3, 6))
    np.testing.assert_allclose(out, [[5., 2.]])
    # the whole image is the plain resize x' = (x + 0.5) * W' / W - 0.5,
    # with different x and y scales (an x/y swap cannot pass)
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.5, 30, (4, 7, 2))
    got = crop_resize_points(xy, (0, 0, 50, 30), (24, 80))
    want = (xy + 0.5) * [80 / 50, 24 / 30] - 0.5
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert got.shape == xy.shape
    # a crop maps its own rectangle onto the output image, points outside
    # it outside (never clamped)
    box = (3, 5, 13, 9)  # x0, y0, x1, y1: 10 wide, 4 high
    corners = np.array([[2.5, 4.5], [12.49, 8.49], [12.5, 6.], [1., 1.]])
    mapped = crop_resize_points(corners, box, (8, 20))
    np.testing.assert_allclose(mapped[0], [-0.5, -0.5], atol=1e-6)
    assert points_inside(mapped, (8, 20)).tolist() == [True, True, False,
                                                       False]
    np.testing.assert_allclose(mapped[3], [(1 - 3 + 0.5) * 2 - 0.5,
                                           (1 - 5 + 0.5) * 2 - 0.5])


def test_flip_mirrors_x_only_and_returns_a_new_array():
    pts = np.array([[[10., 5.], [35., 14.], [-3., 2.]]], np.float32)
    before = pts.copy()
    out = flip_points(pts, 40)
    np.testing.assert_array_equal(out[..., 0], [[29., 4., 42.]])
    np.testing.assert_array_equal(out[..., 1], pts[..., 1])
    assert out.dtype == np.float32 and out is not pts
    np.testing.assert_array_equal(pts, before)  # the input is left alone
    np.testing.assert_array_equal(flip_points(out, 40), pts)  # involution
    # pixel centres map to pixel centres: column j -> W - 1 - j
    cols = np.stack([np.arange(40.), np.zeros(40)], -1)
    np.testing.assert_array_equal(flip_points(cols, 40)[:, 0],
                                  np.arange(40.)[::-1])
    # integer input becomes float32 too
    assert flip_points(np.array([[1, 2]]), 8).tolist() == [[6.0, 2.0]]


def test_grid_queries_positions_and_row_major_order():
    q = grid_queries(4, 8, 2, t=3)
    assert q.dtype == np.float32 and q.shape == (4, 3)
    # 4x2-px cells: centres x = 1.5, 5.5 and y = 0.5, 2.5; y outer, x inner
    np.testing.assert_allclose(
        q, [[3, 1.5, 0.5], [3, 5.5, 0.5], [3, 1.5, 2.5], [3, 5.5, 2.5]])
    np.testing.assert_allclose(grid_queries(5, 9, 1), [[0, 4.0, 2.0]])
    q = grid_queries(224, 224, 16)
    assert q.shape == (256, 3) and (q[:, 0] == 0).all()
    np.testing.assert_allclose(q[:3, 1], [6.5, 20.5, 34.5])  # 14-px cells
    np.testing.assert_allclose(q[16, 1:], [6.5, 20.5])  # second grid row
    # point k is grid row k // g, column k % g, on a non-square image
    q = grid_queries(30, 70, 5)
    k = np.arange(25)
    np.testing.assert_allclose(q[:, 1], (k % 5 + 0.5) * 14 - 0.5)
    np.testing.assert_allclose(q[:, 2], (k // 5 + 0.5) * 6 - 0.5)
    assert points_inside(q[:, 1:], (30, 70)).all()


@pytest.mark.parametrize('args,name', [
    ((8, 8, 0), 'grid_size'), ((8, 8, 2.5), 'grid_size'),
    ((0, 8, 2), 'height'), ((8, -1, 2), 'width'),
    ((8, 8, 2, -1), 't'), ((8, 8, 2, 0.5), 't')])
def test_grid_queries_rejects_bad_arguments_naming_them(args, name):
    with pytest.raises(ValueError, match=f'^{name} must be'):
        grid_queries(*args)
