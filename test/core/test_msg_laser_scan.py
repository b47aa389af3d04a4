"""LaserScan → points as laser_geometry's projectLaser gives them: angles, kept ranges, per-beam times."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.msg_factory import make_header
from mono_depth_ros.core.msg_laser_scan import laser_sweep_middle_offset_ns, points_from_laser_scan, project_laser
from test.core.ros_msg_support import DISTROS, cdr_round_trip, rosbags_factory


def test_beam_i_points_along_angle_min_plus_i_increments_in_the_scan_plane() -> None:
    out = project_laser([1.0, 2.0, 3.0, 4.0], -math.pi / 2, math.pi / 2, 0.1, 10.0)
    expected = [[0.0, -1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [-4.0, 0.0, 0.0]]  # right, ahead, left, behind
    np.testing.assert_allclose(out.points_in_laser, expected, atol=1e-6)
    assert out.points_in_laser.dtype == np.float32 and out.points_in_laser.shape == (4, 3)


def test_ranges_outside_min_max_and_non_finite_are_dropped_as_laser_geometry_drops_them() -> None:
    ranges = [0.05, 0.1, np.nan, np.inf, -np.inf, 5.0, 10.0, 12.0, 9.99]
    out = project_laser(ranges, 0.0, 0.01, 0.1, 10.0, time_increment_s=1e-4)
    kept = [1, 5, 8]  # range_min <= r < range_max (laser_geometry: ri < range_cutoff and ri >= range_min)
    np.testing.assert_allclose(np.linalg.norm(out.points_in_laser, axis=1), [0.1, 5.0, 9.99], rtol=1e-6)
    np.testing.assert_array_equal(out.point_dt_ns, np.array(kept) * 100_000)  # i * time_increment
    assert out.point_dt_ns.dtype == np.int64


def test_an_infinite_range_max_and_a_clockwise_scan_are_read_as_they_are() -> None:
    out = project_laser([1.0, np.inf, 50.0], math.pi / 2, -math.pi / 2, 0.1, math.inf)  # left, ahead, right
    np.testing.assert_allclose(out.points_in_laser, [[0.0, 1.0, 0.0], [0.0, -50.0, 0.0]], atol=1e-5)


def test_a_nan_time_increment_gives_no_per_beam_times_and_bad_fields_are_refused() -> None:
    out = project_laser([1.0, 1.0], 0.0, 0.1, 0.1, 10.0, time_increment_s=math.nan)
    np.testing.assert_array_equal(out.point_dt_ns, [0, 0])
    for corrupt_s in (10.0, 3e38, -1e300):  # beams spanning no sweep (over MAX_SPAN_NS): no beam times either
        out = project_laser([1.0, 1.0, 1.0], 0.0, 0.1, 0.1, 10.0, time_increment_s=corrupt_s)
        np.testing.assert_array_equal(out.point_dt_ns, [0, 0, 0])
    with pytest.raises(ShapeError, match="angle_increment nan"):
        project_laser([1.0, 1.0], 0.0, math.nan, 0.1, 10.0)
    for angle_min in (math.nan, math.inf, -math.inf):  # one beam: its angle_min is still read, and must be finite
        with pytest.raises(ShapeError, match=f"angle_min {angle_min}"):
            project_laser([1.0], angle_min, math.nan, 0.1, 10.0)
    with pytest.raises(ShapeError, match="range_min nan"):
        project_laser([1.0], 0.0, 0.1, math.nan, 10.0)
    with pytest.raises(ShapeError, match="1-D"):
        project_laser(np.ones((2, 2)), 0.0, 0.1, 0.1, 10.0)


@pytest.mark.parametrize("distro", DISTROS)
def test_a_cdr_laser_scan_message_is_read_field_by_field(distro: str) -> None:
    factory = rosbags_factory(distro)
    msg = factory.new(
        "sensor_msgs/msg/LaserScan",
        header=make_header(factory, 5, "laser"),
        angle_min=-math.pi,
        angle_max=math.pi,
        angle_increment=2 * math.pi / 360,
        time_increment=1.0 / (10 * 360),
        scan_time=0.1,
        range_min=0.15,
        range_max=12.0,
        ranges=factory.float32_sequence(np.full(360, 2.0, np.float32)),
        intensities=factory.float32_sequence(np.zeros(0, np.float32)),
    )
    out = points_from_laser_scan(cdr_round_trip(msg, distro))
    assert out.points_in_laser.shape == (360, 3)
    np.testing.assert_allclose(out.points_in_laser[0], [-2.0, 0.0, 0.0], atol=1e-5)  # angle_min = -pi: behind
    assert out.point_dt_ns[-1] == pytest.approx(359 * 1e9 / 3600, abs=10)  # the last beam ~0.1 s after (float32)


@pytest.mark.parametrize(
    ("beams", "time_increment", "middle_ns"),
    [(360, 1 / 3600, 49_861_111), (1, 0.1, 0), (10, math.nan, 0), (1800, 10.0, 0), (1800, -3e38, 0), (2, 1e300, 0)],
)
def test_the_sweep_middle_is_half_the_beams_times_after_the_stamp(
    beams: int, time_increment: float, middle_ns: int
) -> None:
    """Pairing dates a scan by its sweep's middle (a cloud's per-point times, a LaserScan's beams: the first at the
    header stamp, beam i at i * time_increment, kept or not)."""

    scan = SimpleNamespace(ranges=[1.0] * beams, time_increment=time_increment)  # the fields it reads
    assert laser_sweep_middle_offset_ns(scan) == pytest.approx(middle_ns, abs=1)


@settings(max_examples=40, deadline=None)
@given(
    ranges=st.lists(st.floats(width=32), max_size=12),
    range_min=st.one_of(st.floats(width=32, allow_nan=False), st.just(-math.inf)),
    range_max=st.one_of(st.floats(width=32, allow_nan=False), st.just(math.inf)),
    angle_increment=st.floats(-1.0, 1.0).filter(bool),  # 0: refused (below)
)
@example(ranges=[-math.inf, 2.0], range_min=-math.inf, range_max=math.inf, angle_increment=0.5)  # every seed
def test_every_kept_beam_is_a_finite_point_whatever_the_limits(
    ranges: list[float], range_min: float, range_max: float, angle_increment: float
) -> None:
    """range_min -Inf (a driver's "no lower limit") kept a -Inf "too close" range: a point at (-Inf, NaN, 0) went on to
    the scale fit, which the Scan's points promise never to hold."""
    out = project_laser(ranges, 0.0, angle_increment, range_min, range_max)
    assert np.isfinite(out.points_in_laser).all()
    assert out.points_in_laser.shape == (out.point_dt_ns.shape[0], 3)


def test_a_minus_inf_range_min_drops_minus_inf_ranges_and_keeps_the_finite_ones() -> None:
    out = project_laser([-np.inf, 2.0, np.inf], 0.0, 0.5, -math.inf, math.inf, time_increment_s=1e-3)
    np.testing.assert_allclose(out.points_in_laser, [[2.0 * math.cos(0.5), 2.0 * math.sin(0.5), 0.0]], rtol=1e-6)
    np.testing.assert_array_equal(out.point_dt_ns, [1_000_000])


@pytest.mark.parametrize("increment", [0.0, -0.0])
def test_a_zero_angle_increment_for_several_beams_is_refused_naming_it_and_one_beam_is_read(increment: float) -> None:
    """angle_increment 0 for 360 beams put every beam on the ray of angle_min: a wall of points along one line, which
    the scale fit took as LiDAR returns, unreported. A single beam (a 1-D range
    finder published as a LaserScan) has no increment to use."""
    with pytest.raises(ShapeError, match=r"angle_increment is 0 for 360 beams.*angle_max - angle_min"):
        project_laser(np.full(360, 2.0), -math.pi, increment, 0.1, 10.0)
    one = project_laser([2.0], 0.0, increment, 0.1, 10.0)
    np.testing.assert_allclose(one.points_in_laser, [[2.0, 0.0, 0.0]])


@pytest.mark.parametrize("increment", [math.nan, math.inf, -math.inf])
def test_a_single_beam_with_a_non_finite_angle_increment_is_read_along_angle_min(increment: float) -> None:
    """Gazebo's ray sensor with 1 sample publishes angle_increment = (angle_max - angle_min) / (samples - 1): NaN
    (0 / 0), or +-Inf when angle_max != angle_min. One beam uses no increment; it was refused as a broken scan."""
    one = project_laser([2.0], math.pi / 2, increment, 0.1, 10.0, time_increment_s=math.nan)
    np.testing.assert_allclose(one.points_in_laser, [[0.0, 2.0, 0.0]], atol=1e-6)  # along angle_min: left
    np.testing.assert_array_equal(one.point_dt_ns, [0])
    assert project_laser([np.inf], 0.0, increment, 0.1, 10.0).points_in_laser.shape == (0, 3)  # no return: no point


def test_gazebos_one_sample_ray_sensor_message_is_read_as_one_beam() -> None:
    """The message as gazebo_ros_ray_sensor publishes it for <samples>1</samples>: angle_min == angle_max, NaN
    increment."""
    factory = rosbags_factory(DISTROS[0])
    msg = factory.new(
        "sensor_msgs/msg/LaserScan",
        header=make_header(factory, 5, "sonar"),
        angle_min=0.0,
        angle_max=0.0,
        angle_increment=math.nan,
        time_increment=0.0,
        scan_time=0.0,
        range_min=0.05,
        range_max=4.0,
        ranges=factory.float32_sequence(np.array([1.5], np.float32)),
        intensities=factory.float32_sequence(np.zeros(1, np.float32)),
    )
    out = points_from_laser_scan(cdr_round_trip(msg, DISTROS[0]))
    np.testing.assert_allclose(out.points_in_laser, [[1.5, 0.0, 0.0]])
