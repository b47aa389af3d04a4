"""scan_from_depth: bearings and horizontal ranges of a band of rows, REP 117 for no return; the message."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.laser_scan import scan_frame_id, scan_from_depth

INTR = PinholeIntrinsics(100.0, 100.0, 39.5, 29.5, width=80, height=60)


def test_a_wall_gives_its_horizontal_distance_at_each_bearing() -> None:
    depth = np.full((60, 80), 4.0, np.float32)  # a wall 4 m ahead, facing the camera
    scan = scan_from_depth(depth, INTR, band_rows=4, range_min=0.1, range_max=20.0)
    assert scan.ranges.shape == (80,) and scan.ranges.dtype == np.float32
    assert scan.angle_min == pytest.approx(math.atan2(-(79 - 39.5), 100.0))  # the rightmost column
    assert scan.angle_max == pytest.approx(math.atan2(39.5, 100.0)) == pytest.approx(-scan.angle_min)
    assert scan.angle_increment == pytest.approx((scan.angle_max - scan.angle_min) / 79)
    bearings = scan.angle_min + scan.angle_increment * np.arange(80)
    assert np.isfinite(scan.ranges).all()  # every bearing has a column, at the centre too (columns spread out there)
    np.testing.assert_allclose(scan.ranges, 4.0 / np.cos(bearings), rtol=0.03)
    assert (scan.range_min, scan.range_max) == (0.1, 20.0)


def test_nearest_in_the_band_and_no_return_per_rep117() -> None:
    depth = np.full((60, 80), 10.0, np.float32)
    depth[28:32, 40:44] = 3.0  # an obstacle in the band
    depth[:, 0:10] = np.inf  # nothing within range on the left
    depth[:, 10:15] = -np.inf  # too close
    depth[:, 15:20] = np.nan  # no measurement
    depth[0:5, 20:25] = 1.0  # outside the band: ignored
    scan = scan_from_depth(depth, INTR, band_rows=4, range_min=0.5, range_max=20.0)
    right_to_left = scan.ranges[::-1]  # index 0 is the rightmost column
    assert np.nanmin(right_to_left[38:46]) == pytest.approx(3.0, rel=0.01)
    assert np.all(np.isposinf(right_to_left[1:9]))
    assert np.all(np.isneginf(right_to_left[11:14]))
    assert np.all(np.isnan(right_to_left[16:19]))
    assert np.all(right_to_left[21:24] > 9.0)


@pytest.mark.parametrize("fx", [40.0, 100.0, 300.0])
def test_open_space_is_inf_at_every_bearing_whatever_the_field_of_view(fx: float) -> None:
    intrinsics = PinholeIntrinsics(fx, fx, 159.5, 29.5, width=320, height=60)
    scan = scan_from_depth(np.full((60, 320), np.inf, np.float32), intrinsics, 4, 0.1, 20.0)
    assert np.isposinf(scan.ranges).all()  # no NaN wedge straight ahead: Nav2 would neither mark nor clear it


def test_frame_id_and_bad_arguments() -> None:
    assert scan_frame_id("camera_optical") == "camera"
    assert scan_frame_id("camera_color_optical_frame") == "camera_color_frame"
    assert scan_frame_id("front_cam") == "front_cam"
    assert scan_frame_id("camera_optical", "base_scan") == "base_scan"
    depth = np.ones((60, 80), np.float32)
    with pytest.raises(ConfigError, match=r"scan\.band_rows"):
        scan_from_depth(depth, INTR, 0, 0.1, 20.0)
    with pytest.raises(ConfigError):
        scan_from_depth(depth, INTR, 4, 5.0, 1.0)
    with pytest.raises(ShapeError):
        scan_from_depth(depth[:10], INTR, 4, 0.1, 20.0)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_the_laser_scan_message_round_trips_through_cdr(distro: str) -> None:
    from mono_depth_ros.core.ros_msgs import laser_scan_message, make_header

    from .ros_msg_support import TYPESTORES, fake_to_rosbags, rclpy_style_factory, rosbags_factory

    scan = scan_from_depth(np.full((60, 80), 4.0, np.float32), INTR, 4, 0.1, 20.0)
    for factory in (rosbags_factory(distro), rclpy_style_factory()):
        message = laser_scan_message(factory, make_header(factory, 5_000_000_007, "camera"), scan)
        if factory.sequence_style == "array.array":
            message = fake_to_rosbags(message, distro)
        store = TYPESTORES[distro]
        back = store.deserialize_cdr(
            store.serialize_cdr(message, "sensor_msgs/msg/LaserScan"), "sensor_msgs/msg/LaserScan"
        )
        np.testing.assert_array_equal(back.ranges, scan.ranges)
        assert back.header.frame_id == "camera" and back.angle_increment == pytest.approx(scan.angle_increment)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 400),
    st.floats(0.3, 3.0),
    st.floats(-0.2, 1.2),
    st.floats(0.0, 1.0, exclude_max=True),
    st.floats(0.5, 30.0),
)
def test_a_pole_in_one_column_is_at_its_bearing_in_the_scan(
    width: int, focal_share: float, cx_share: float, column_share: float, depth_m: float
) -> None:
    """One column of the band at depth z (the rest open space, +Inf): the scan's bearing nearest the column's,
    atan2(-(u - cx) / fx, 1) (x right in the optical frame is -y in the scan frame: counter-clockwise from the
    rightmost column), holds z · sqrt(1 + ((u - cx) / fx)^2), and no bearing more than 1.5 increments away holds
    anything but +Inf; angle_increment is positive and the bearings span angle_min..angle_max."""
    fx, cx = focal_share * width, cx_share * width
    column = int(column_share * width)
    depth = np.full((20, width), np.inf, np.float32)
    depth[:, column] = depth_m
    scan = scan_from_depth(depth, PinholeIntrinsics(fx, fx, cx, 9.5, width=width, height=20), 3, 0.1, 1000.0)
    slope = (column - cx) / fx
    bearing = math.atan2(-slope, 1.0)
    angles = scan.angle_min + scan.angle_increment * np.arange(width)
    assert scan.angle_increment > 0.0 and angles[-1] == pytest.approx(scan.angle_max)
    assert scan.angle_min == pytest.approx(math.atan2(-(width - 1 - cx) / fx, 1.0), abs=1e-6)  # float32 slopes
    nearest = int(np.argmin(np.abs(angles - bearing)))
    assert scan.ranges[nearest] == pytest.approx(depth_m * math.sqrt(1.0 + slope * slope), rel=1e-5)
    far = np.abs(angles - bearing) > 1.5 * scan.angle_increment + 1e-12
    assert np.isposinf(scan.ranges[far]).all()


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 120),
    st.floats(0.4, 2.5),
    st.floats(0.0, 1.0),
    st.integers(1, 5),
    st.data(),
)
def test_every_return_is_a_band_pixel_near_its_bearing_and_every_pixel_in_range_is_seen(
    width: int, focal_share: float, cx_share: float, band_rows: int, data: st.DataObject
) -> None:
    """Random band depths with NaN / ±Inf / out-of-range values (range_min 0.5 m, range_max 20 m), written out per
    pixel: bearing atan2(-(u - cx) / fx, 1), horizontal range z · sqrt(1 + ((u - cx) / fx)^2). Each finite range of
    the scan is the range of a pixel in range whose bearing is within 1.5 increments of its own; each pixel in range
    makes the bearing nearest its own no farther than it (nearest wins); a bearing without a return is +Inf / -Inf
    only beside a pixel beyond / nearer than the limits, NaN only where its own pixels measured nothing."""
    height = 7
    depth = data.draw(
        hnp.arrays(
            np.float32,
            (height, width),
            elements=st.one_of(st.floats(0.125, 30.0, width=32), st.sampled_from([np.nan, np.inf, -np.inf])),
        )
    )
    fx, cx = focal_share * width, cx_share * (width - 1)
    intrinsics = PinholeIntrinsics(fx, fx, cx, 3.0, width=width, height=height)
    scan = scan_from_depth(depth, intrinsics, band_rows, 0.5, 20.0)
    top = min(max(0, 3 - band_rows // 2), height - band_rows)
    band = depth[top : top + band_rows].astype(np.float64)
    slope = (np.arange(width) - cx) / fx
    pixel_range = band * np.sqrt(1.0 + slope**2)
    pixel_bearing = np.broadcast_to(np.arctan2(-slope, 1.0), band.shape)
    with np.errstate(invalid="ignore"):
        in_range = np.isfinite(pixel_range) & (pixel_range >= 0.5) & (pixel_range <= 20.0)
    angles = scan.angle_min + scan.angle_increment * np.arange(width)
    for i in np.flatnonzero(np.isfinite(scan.ranges)):
        near = in_range & (np.abs(pixel_bearing - angles[i]) <= 1.5 * scan.angle_increment + 1e-9)
        assert np.any(np.isclose(pixel_range[near], scan.ranges[i], rtol=1e-5)), f"bearing {i}: no pixel of its range"
    for r, bearing in zip(pixel_range[in_range], pixel_bearing[in_range], strict=True):
        nearest = int(np.argmin(np.abs(angles - bearing)))
        assert scan.ranges[nearest] <= r * (1 + 1e-5)
    # REP 117 where a bearing has no return: +Inf from a pixel beyond range_max, -Inf from one nearer than range_min,
    # NaN only where the pixels that fall on it measured nothing
    with np.errstate(invalid="ignore"):
        beyond = np.isposinf(band) | (np.isfinite(pixel_range) & (pixel_range > 20.0))
        closer = np.isneginf(band) | (np.isfinite(pixel_range) & (pixel_range < 0.5))
    for i in np.flatnonzero(~np.isfinite(scan.ranges)):
        near = np.abs(pixel_bearing - angles[i]) <= 1.5 * scan.angle_increment + 1e-9
        if np.isposinf(scan.ranges[i]):
            assert beyond[near].any()
        elif np.isneginf(scan.ranges[i]):
            assert closer[near].any()
        else:
            own = np.argmin(np.abs(angles[:, None, None] - pixel_bearing[None]), axis=0) == i
            assert np.isnan(band[own]).all()
