from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.raycast import (
    Boxes,
    Cylinders,
    Walls,
    box_normals,
    cylinder_normals,
    intersect_boxes,
    intersect_cylinders,
    intersect_ground,
    intersect_walls,
    wall_normals,
)

UNIT_BOX = Boxes([[2.0, -0.5, 0.0]], [[3.0, 0.5, 1.0]])
POLE = Cylinders([[5.0, 0.0]], [0.25], [0.0], [3.0])
WALL = Walls([[5.0, -2.0]], [[5.0, 2.0]], [0.0], [4.0])

directions_st = hnp.arrays(np.float64, 3, elements=st.floats(-1, 1)).filter(lambda d: np.linalg.norm(d) > 0.1)
origins_st = hnp.arrays(np.float64, 3, elements=st.floats(-4, 4))


def _inside_box(points: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float) -> np.ndarray:
    return np.all((points > lo + margin) & (points < hi - margin), axis=-1)


def test_ground_hit_depth_and_misses() -> None:
    dirs = np.array([[1.0, 0.0, -0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -2.0]], dtype=np.float32)
    t = intersect_ground([0.0, 0.0, 1.5], dirs)
    np.testing.assert_allclose(t, [3.0, np.inf, np.inf, 0.75])
    assert t.dtype == np.float32


def test_box_hit_from_outside_and_axis_parallel_rays_are_nan_safe() -> None:
    dirs = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], dtype=np.float32)
    origins = np.array([[0.0, 0.0, 0.5], [0.0, 0.5, 0.5], [0.0, 0.0, 0.5], [0.0, 0.0, 0.5]], dtype=np.float32)
    t = intersect_boxes(origins, dirs, UNIT_BOX)
    assert t.shape == (4, 1)
    assert t[0, 0] == pytest.approx(2.0)
    assert not np.isnan(t).any()
    assert np.isinf(t[2, 0])  # pointing away
    assert np.isinf(t[3, 0])  # passes beside the box (y = 2 at x = 2)


def test_ray_starting_inside_a_box_does_not_hit_it() -> None:
    t = intersect_boxes([2.5, 0.0, 0.5], np.array([[1.0, 0.0, 0.0]]), UNIT_BOX)
    assert np.isinf(t[0, 0])


@settings(max_examples=150, deadline=None)
@given(origins_st, directions_st)
def test_box_hit_is_on_the_surface_and_first_along_the_ray(origin: np.ndarray, direction: np.ndarray) -> None:
    lo, hi = np.array([-1.0, -0.5, -0.25]), np.array([1.0, 0.5, 0.75])
    assume(not _inside_box(origin[None], lo, hi, -1e-6)[0])  # rays start outside the box, not on its faces
    t = intersect_boxes(origin, direction[None], Boxes(lo[None], hi[None]))[0, 0]
    samples = origin + np.linspace(0, 30, 3001)[:, None] * direction
    if np.isfinite(t):
        hit = origin + t * direction
        assert np.all(hit >= lo - 1e-9) and np.all(hit <= hi + 1e-9)
        assert np.min(np.minimum(np.abs(hit - lo), np.abs(hit - hi))) < 1e-9  # on a face
        before = origin + np.linspace(0, t, 200, endpoint=False)[:, None] * direction
        assert not _inside_box(before, lo, hi, 1e-9).any()
    else:
        assert not _inside_box(samples, lo, hi, 1e-2).any()


def test_cylinder_side_and_top_cap() -> None:
    t = intersect_cylinders([0.0, 0.0, 1.0], np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), POLE)
    assert t[0, 0] == pytest.approx(4.75)
    assert np.isinf(t[1, 0])
    from_above = intersect_cylinders([5.1, 0.0, 10.0], np.array([[0.0, 0.0, -1.0]]), POLE)
    assert from_above[0, 0] == pytest.approx(7.0)  # top cap at z = 3
    over_the_top = intersect_cylinders([0.0, 0.0, 3.5], np.array([[1.0, 0.0, 0.0]]), POLE)
    assert np.isinf(over_the_top[0, 0])


@settings(max_examples=150, deadline=None)
@given(origins_st, directions_st)
def test_cylinder_hit_is_on_the_surface(origin: np.ndarray, direction: np.ndarray) -> None:
    pole = Cylinders([[0.5, -0.5]], [0.7], [-1.0], [1.0])
    radial = np.linalg.norm(origin[:2] - pole.center_xy[0])
    assume(not (radial <= 0.7 + 1e-6 and origin[2] <= 1.0 + 1e-6))  # rays start outside the pole, not on it
    assume(origin[2] > -1.0 + 1e-6)  # the bottom cap is not modelled (poles stand on the ground): no rays from below it
    t = intersect_cylinders(origin, direction[None], pole)[0, 0]
    samples = origin + np.linspace(0, 30, 3001)[:, None] * direction
    inside = (np.linalg.norm(samples[:, :2] - pole.center_xy[0], axis=1) < 0.7 - 1e-2) & (
        np.abs(samples[:, 2]) < 1.0 - 1e-2
    )
    if np.isfinite(t):
        hit = origin + t * direction
        on_side = abs(np.linalg.norm(hit[:2] - pole.center_xy[0]) - 0.7) < 1e-7 and -1 - 1e-9 <= hit[2] <= 1 + 1e-9
        on_cap = abs(hit[2] - 1.0) < 1e-9 and np.linalg.norm(hit[:2] - pole.center_xy[0]) <= 0.7 + 1e-9
        assert on_side or on_cap
        assert not inside[np.linspace(0, 30, 3001) < t - 1e-6].any()
    else:
        assert not inside.any()


def test_wall_is_hit_from_both_sides_within_its_extent() -> None:
    dirs = np.array([[1.0, 0.0, 0.0], [1.0, 0.3, 0.0], [1.0, 0.0, 1.0]], dtype=np.float32)
    t = intersect_walls([0.0, 0.0, 1.0], dirs, WALL)
    np.testing.assert_allclose(t[:, 0], [5.0, 5.0, np.inf])  # third ray passes above the wall (z = 6 at x = 5)
    behind = intersect_walls([8.0, 0.0, 1.0], np.array([[-1.0, 0.0, 0.0]]), WALL)
    assert behind[0, 0] == pytest.approx(3.0)
    beside = intersect_walls([0.0, 3.0, 1.0], np.array([[1.0, 0.0, 0.0]]), WALL)
    assert np.isinf(beside[0, 0])


def test_many_primitives_give_one_column_each() -> None:
    walls = Walls([[5.0, -2.0], [7.0, -2.0]], [[5.0, 2.0], [7.0, 2.0]], [0.0, 0.0], [4.0, 4.0])
    t = intersect_walls(np.zeros(3), np.array([[1.0, 0.0, 0.1]], dtype=np.float32), walls)
    np.testing.assert_allclose(t, [[5.0, 7.0]])


@given(hnp.arrays(np.float64, 3, elements=st.floats(-100, 100)))
def test_shifted_primitives_give_the_same_t(offset: np.ndarray) -> None:
    origin = np.array([0.0, 0.3, 0.5])
    dirs = np.array([[1.0, 0.01, 0.0], [1.0, 0.0, 0.02]])
    for prims, kernel in ((UNIT_BOX, intersect_boxes), (POLE, intersect_cylinders), (WALL, intersect_walls)):
        expected = kernel(origin, dirs, prims)  # type: ignore[operator]
        shifted = kernel(origin - offset, dirs, prims.shifted(offset))  # type: ignore[operator]
        np.testing.assert_allclose(shifted, expected, rtol=1e-9)


def test_normals_point_outward_or_towards_the_ray() -> None:
    points = np.array([[2.0, 0.0, 0.5], [2.5, 0.0, 1.0], [2.5, -0.5, 0.3]], dtype=np.float32)
    boxes = UNIT_BOX.take(np.zeros(3, dtype=np.intp))
    np.testing.assert_array_equal(box_normals(points, boxes), [[-1, 0, 0], [0, 0, 1], [0, -1, 0]])
    poles = POLE.take(np.zeros(2, dtype=np.intp))
    on_pole = np.array([[4.75, 0.0, 1.0], [5.1, 0.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(cylinder_normals(on_pole, poles), [[-1, 0, 0], [0, 0, 1]], atol=1e-6)
    walls = WALL.take(np.zeros(2, dtype=np.intp))
    normals = wall_normals(np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=np.float32), walls)
    np.testing.assert_allclose(normals, [[-1, 0, 0], [1, 0, 0]], atol=1e-7)


def test_bad_shapes_are_rejected_with_the_shape() -> None:
    with pytest.raises(ShapeError, match=r"\(R, 3\)"):
        intersect_ground(np.zeros(3), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="origins"):
        intersect_boxes(np.zeros((2, 3)), np.ones((4, 3)), UNIT_BOX)
    with pytest.raises(ShapeError, match="min <= max"):
        Boxes([[1.0, 0.0, 0.0]], [[0.0, 1.0, 1.0]])
    with pytest.raises(ShapeError, match="radius"):
        Cylinders([[0.0, 0.0]], [0.0], [0.0], [1.0])
    with pytest.raises(ShapeError, match="non-zero length"):
        Walls([[1.0, 1.0]], [[1.0, 1.0]], [0.0], [1.0])
    with pytest.raises(ShapeError, match="one per primitive"):
        Walls([[1.0, 1.0]], [[2.0, 1.0]], [0.0, 1.0], [1.0])


def test_empty_primitive_sets_give_empty_columns() -> None:
    empty = Boxes(np.zeros((0, 3)), np.zeros((0, 3)))
    assert intersect_boxes(np.zeros(3), np.ones((5, 3)), empty).shape == (5, 0)
    assert len(empty) == 0
