from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.evaluation.temporal import abs_rel, signed_change, static_correspondences, temporal_error

K = PinholeIntrinsics(60.0, 60.0, 39.5, 23.5, width=80, height=48)


def wall(distance_m: float) -> npt.NDArray[np.float32]:
    return np.full((K.height, K.width), distance_m, dtype=np.float32)


def forward(step_m: float) -> RigidTransform:
    """cur_from_prev of a camera that moved ``step_m`` along its optical axis."""
    return RigidTransform(np.eye(3), np.array([0.0, 0.0, -step_m]))


def test_exact_depth_under_the_known_motion_does_not_flicker() -> None:
    motion = forward(1.0)
    pairs = static_correspondences(wall(10.0), wall(9.0), K, motion)
    assert pairs.source.size > 0.6 * K.width * K.height  # moving closer: the border pixels leave the view
    error = temporal_error(wall(10.0), wall(9.0), pairs, K, motion)
    assert error.mean == pytest.approx(0.0, abs=1e-6)
    assert error.pixels == pairs.source.size


def test_a_five_percent_jump_reads_five_percent() -> None:
    motion = forward(1.0)
    pairs = static_correspondences(wall(10.0), wall(9.0), K, motion)
    error = temporal_error(wall(10.0), wall(9.0) * 1.05, pairs, K, motion)
    assert error.mean == pytest.approx(0.05, rel=1e-4)
    assert error.median == pytest.approx(0.05, rel=1e-4)


def test_the_signed_change_says_farther_or_nearer_where_the_measure_counts() -> None:
    motion = forward(1.0)
    pairs = static_correspondences(wall(10.0), wall(9.0), K, motion)
    exclude = np.zeros((K.height, K.width), bool)
    exclude[:, :20] = True
    for factor in (1.05, 0.95):
        change, target = signed_change(wall(10.0), wall(9.0) * factor, pairs, K, motion, exclude)
        np.testing.assert_allclose(change, factor - 1.0, rtol=1e-4)
        np.testing.assert_array_equal(target, pairs.target[~exclude.reshape(-1)[pairs.target]])
        error = temporal_error(wall(10.0), wall(9.0) * factor, pairs, K, motion, exclude)
        assert error.mean == float(np.mean(np.abs(change))) and error.pixels == change.size


def test_an_error_bound_to_the_wall_still_moves_its_cloud_by_the_error_times_the_step() -> None:
    # a network 10 % too far on this wall in every frame: not flicker, yet the published wall is 11 m away seen from
    # 10 m and 9.9 m away seen from 9 m: it moved 0.1 m (the error times the 1 m step), which the measure counts
    # (the floor that a scene-bound error gives any filter, issue 20's drive 3)
    motion = forward(1.0)
    pairs = static_correspondences(wall(10.0), wall(9.0), K, motion)
    error = temporal_error(wall(10.0) * 1.1, wall(9.0) * 1.1, pairs, K, motion)
    assert error.mean == pytest.approx(0.1 * 1.0 / (11.0 - 1.0), rel=1e-4)
    standing = static_correspondences(wall(10.0), wall(10.0), K, forward(0.0))
    assert temporal_error(wall(10.0) * 1.1, wall(10.0) * 1.1, standing, K, forward(0.0)).mean == pytest.approx(0.0)


def test_without_the_motion_compensation_a_static_wall_would_not_match() -> None:
    pairs = static_correspondences(wall(10.0), wall(9.0), K, forward(0.0))  # the camera moved, the pose says no
    assert pairs.source.size == 0
    error = temporal_error(wall(10.0), wall(9.0), pairs, K, forward(0.0))
    assert np.isnan(error.mean)
    assert error.pixels == 0


def test_a_moving_object_and_its_disocclusion_do_not_count() -> None:
    truth_prev, truth_cur = wall(10.0), wall(10.0)
    truth_prev[10:30, 10:30] = 5.0  # an object leaves this place ...
    truth_cur[10:30, 40:60] = 5.0  # ... and is here now
    pairs = static_correspondences(truth_prev, truth_cur, K, forward(0.0))
    flat = np.zeros(K.height * K.width, bool)
    flat[pairs.target] = True
    counted = flat.reshape(K.height, K.width)
    assert not counted[10:30, 10:30].any()  # disoccluded wall: the previous frame saw the object there
    assert not counted[10:30, 40:60].any()  # the object in its new place: the previous frame saw the wall
    assert counted[35:, :].all()
    published_cur = truth_cur.copy()
    published_cur[10:30, 40:60] = 4.0  # errors on the object are not temporal error of static surfaces
    assert temporal_error(truth_prev, published_cur, pairs, K, forward(0.0)).mean == pytest.approx(0.0)


def test_exclude_mask_and_invalid_published_pixels_drop_out() -> None:
    pairs = static_correspondences(wall(10.0), wall(10.0), K, forward(0.0))
    published = wall(10.0)
    published[:, :40] = np.nan
    exclude = np.zeros((K.height, K.width), bool)
    exclude[:24] = True
    error = temporal_error(wall(10.0), published, pairs, K, forward(0.0), exclude)
    assert error.pixels == 24 * 40


def test_abs_rel_and_shape_checks() -> None:
    truth = wall(10.0)
    assert abs_rel(truth * 1.1, truth) == pytest.approx(0.1, rel=1e-5)
    mask = np.zeros(truth.shape, bool)
    assert np.isnan(abs_rel(truth, truth, mask))
    with pytest.raises(ShapeError, match="one size"):
        static_correspondences(wall(10.0), np.zeros((3, 3), np.float32), K, forward(0.0))


def test_a_pixel_whose_current_truth_is_sky_or_beyond_range_is_not_a_static_surface() -> None:
    # the wall's top rows vanish (sky, or beyond the renderer's range: +inf) while the camera stands: nothing static
    # is seen there now, so a published depth there (a network's guess for the sky) is not a static surface's change
    truth_cur = wall(10.0)
    truth_cur[:12] = np.inf
    pairs = static_correspondences(wall(10.0), truth_cur, K, forward(0.0))
    counted = np.zeros(K.height * K.width, bool)
    counted[pairs.target] = True
    assert not counted.reshape(K.height, K.width)[:12].any()
    assert pairs.target.size == (K.height - 12) * K.width
    published_cur = wall(10.0)
    published_cur[:12] = 50.0
    assert temporal_error(wall(10.0), published_cur, pairs, K, forward(0.0)).mean == pytest.approx(0.0)


def ground(height_m: float, shift_rows: float = 0.0) -> npt.NDArray[np.float32]:
    """True depth of a flat ground ``height_m`` below the camera (optical y down), +inf at and above the horizon;
    ``shift_rows``: each pixel gets the depth of the point ``shift_rows`` rows lower (a sub-pixel shimmer)."""
    rows = np.arange(K.height, dtype=np.float64)[:, None] - K.cy + shift_rows
    with np.errstate(divide="ignore"):
        depth = np.where(rows > 0, height_m * K.fy / rows, np.inf)
    return np.broadcast_to(depth, (K.height, K.width)).astype(np.float32)


def test_exact_depth_of_a_ground_plane_driven_along_does_not_flicker() -> None:
    # driving 1 m along a flat ground the depth image stays the same, but a ground point seen from the previous
    # camera lands between the pixel centres: compared at the nearest pixel, whose ground point lies up to half a row
    # nearer or farther, exact depth read 0.3 % of change a frame (the measure's own floor on every road)
    truth = ground(1.65)
    motion = forward(1.0)
    pairs = static_correspondences(truth, truth, K, motion)
    assert pairs.source.size >= 3 * K.width  # rows whose ground point lands within 1 % of a pixel centre's
    assert temporal_error(truth, truth, pairs, K, motion).mean == pytest.approx(0.0, abs=1e-6)
    # a 5 % jump still reads 5 %, and an error bound to the ground still moves its cloud as on the wall above
    assert temporal_error(truth, truth * 1.05, pairs, K, motion).mean == pytest.approx(0.05, rel=1e-3)


def test_flicker_along_a_slope_reads_its_known_size() -> None:
    # the carry to the target pixel's own point uses the true depths alone: a flicker that varies along the slope must
    # still read its own size. Exact previous depth, the current one sampled a quarter row lower (the image shimmers
    # by a sub-pixel step): at each counted pixel the published depth changed by |d(v + 1/4) - d(v)| / d(v), the
    # previous cloud being exact; and a scale jump 1.05 -> 0.97, whose moved previous point at the pixel's own ground
    # point (true depth d + 1 there) is 1.05 (d + 1) - 1. Compared where the moved point landed, both read 1.5-2.4 %
    # off (0.1031 for 0.1047, 0.0790 for 0.0810).
    truth = ground(1.65)
    motion = forward(1.0)
    pairs = static_correspondences(truth, truth, K, motion)
    here = truth.reshape(-1)[pairs.target].astype(np.float64)
    shimmer = ground(1.65, shift_rows=0.25)
    change = np.abs(shimmer.reshape(-1)[pairs.target] - here) / here
    assert change.mean() > 0.05
    assert temporal_error(truth, shimmer, pairs, K, motion).mean == pytest.approx(change.mean(), rel=1e-4)
    moved = 1.05 * (here + 1.0) - 1.0
    jump = np.mean(np.abs(0.97 * here - moved) / moved)
    assert temporal_error(truth * 1.05, truth * 0.97, pairs, K, motion).mean == pytest.approx(jump, rel=1e-4)
