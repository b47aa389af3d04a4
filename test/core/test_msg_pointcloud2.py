from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.errors import EncodingError, ShapeError
from mono_depth_ros.core.msg_factory import MessageFactory, stamp_to_ns
from mono_depth_ros.core.msg_pointcloud2 import (
    point_fields_from_msg,
    pointcloud2_from_structured,
    pointcloud2_to_structured,
    sweep_middle_offset_ns,
    xyz_and_times_from_pointcloud2,
    xyz_from_pointcloud2,
)
from mono_depth_ros.core.point_fields import FLOAT32, NUMPY_TO_DATATYPE, PointField

from .ros_msg_support import DISTROS, FRAME_ID, STAMP_NS, cdr_round_trip, input_header, rosbags_factory

# Velodyne driver layout: x y z (pad 4) intensity ring (pad 2) time -> 32 bytes with 4 trailing padding bytes
VELODYNE = np.dtype(
    {
        "names": ["x", "y", "z", "intensity", "ring", "time"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f4"],
        "offsets": [0, 4, 8, 16, 20, 24],
        "itemsize": 32,
    }
)
VELODYNE_NAMES = ("x", "y", "z", "intensity", "ring", "time")


def velodyne_points(count: int, seed: int = 0) -> npt.NDArray[np.void]:
    rng = np.random.default_rng(seed)
    points = np.zeros(count, dtype=VELODYNE)
    for axis in "xyz":
        points[axis] = rng.uniform(-50, 50, count)
    points["intensity"] = rng.uniform(0, 255, count)
    points["ring"] = rng.integers(0, 32, count)
    points["time"] = np.linspace(0.0, 0.1, count)
    if count >= 10:
        points["x"][3] = np.nan  # no return, marked NaN
        points["y"][5] = np.inf
        for axis in "xyz":
            points[axis][7] = 0.0  # no return, marked (0, 0, 0)
        points["z"][9] = 0.0  # a real point on the z = 0 plane stays
    return points


def wire_cloud(
    factory: MessageFactory,
    points: npt.NDArray[np.void],
    height: int,
    width: int,
    *,
    row_pad: int = 0,
    big_endian: bool = False,
) -> Any:
    """A PointCloud2 built by hand (independently of pointcloud2_from_structured)."""
    wire = np.zeros(points.shape, dtype=points.dtype.newbyteorder(">" if big_endian else "<"))
    wire[...] = points  # zeroed padding bytes
    rows = wire.reshape(height, width).view(np.uint8).reshape(height, -1)
    data = np.concatenate([rows, np.full((height, row_pad), 0xCD, dtype=np.uint8)], axis=1).reshape(-1)
    fields = [
        factory.new("sensor_msgs/msg/PointField", name=n, offset=o, datatype=d, count=c)
        for n, o, d, c in [(f.name, f.offset, f.datatype, f.count) for f in _fields_of(points.dtype)]
    ]
    return factory.new(
        "sensor_msgs/msg/PointCloud2",
        header=input_header(factory),
        height=height,
        width=width,
        fields=fields,
        is_bigendian=big_endian,
        point_step=points.dtype.itemsize,
        row_step=rows.shape[1] + row_pad,
        data=data.copy(),
        is_dense=False,
    )


def _fields_of(dtype: np.dtype) -> list[PointField]:
    assert dtype.fields is not None
    return [PointField(name, spec[1], NUMPY_TO_DATATYPE[spec[0].str[1:]]) for name, spec in dtype.fields.items()]


def expected_xyz(points: npt.NDArray[np.void]) -> npt.NDArray[np.floating]:
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=-1).reshape(-1, 3)
    keep = np.isfinite(xyz).all(axis=1) & (xyz != 0).any(axis=1)
    valid: npt.NDArray[np.floating] = xyz[keep]
    return valid


@pytest.mark.parametrize("distro", DISTROS)
@pytest.mark.parametrize(("height", "width"), [(1, 24), (4, 6)], ids=["unorganized", "organized"])
def test_velodyne_layout_round_trip_is_bit_exact(distro: str, height: int, width: int) -> None:
    factory = rosbags_factory(distro)
    points = velodyne_points(height * width)
    msg = pointcloud2_from_structured(factory, input_header(factory), points, height, width, is_dense=False)
    msg = cdr_round_trip(msg, distro)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (height, width, 32, 32 * width)
    assert msg.is_bigendian is False and msg.is_dense is False
    assert (stamp_to_ns(msg.header.stamp), msg.header.frame_id) == (STAMP_NS, FRAME_ID)
    assert point_fields_from_msg(msg) == _fields_of(VELODYNE)
    structured = pointcloud2_to_structured(msg)
    assert structured.shape == (height, width) and structured.dtype == VELODYNE
    assert structured.tobytes() == points.tobytes()
    xyz = xyz_from_pointcloud2(msg)
    assert xyz.dtype == np.float32 and xyz.shape == (height * width - 3, 3)
    np.testing.assert_array_equal(xyz, expected_xyz(points))


@pytest.mark.parametrize("distro", DISTROS)
def test_big_endian_cloud_with_row_padding(distro: str) -> None:
    factory = rosbags_factory(distro)
    points = velodyne_points(12, seed=4)
    msg = cdr_round_trip(wire_cloud(factory, points, 3, 4, row_pad=6, big_endian=True), distro)
    structured = pointcloud2_to_structured(msg)
    assert structured.shape == (3, 4)
    assert all(structured.dtype[name].isnative for name in VELODYNE_NAMES)
    for name in VELODYNE_NAMES:
        np.testing.assert_array_equal(structured[name].reshape(-1), points[name])
    np.testing.assert_array_equal(xyz_from_pointcloud2(msg), expected_xyz(points))


def test_little_endian_cloud_with_row_padding_keeps_point_padding() -> None:
    factory = rosbags_factory("humble")
    points = velodyne_points(10, seed=5)
    msg = wire_cloud(factory, points, 2, 5, row_pad=3)
    assert pointcloud2_to_structured(msg).reshape(-1).tobytes() == points.tobytes()


def test_float64_xyz_and_count_fields() -> None:
    dtype = np.dtype({"names": ["x", "y", "z", "normal"], "formats": ["<f8", "<f8", "<f8", ("<f4", (3,))]})
    points = np.zeros(4, dtype=dtype)
    points["x"], points["y"], points["z"] = [1.0, 0.0, 2.0, 3.0], [1.0, 0.0, 2.0, 3.0], [1e-300, 0.0, 2.0, 3.0]
    points["normal"] = np.arange(12, dtype=np.float32).reshape(4, 3)
    factory = rosbags_factory("jazzy")
    msg = cdr_round_trip(pointcloud2_from_structured(factory, input_header(factory), points, 1, 4, True), "jazzy")
    assert [(f.name, f.datatype, f.count) for f in msg.fields][-1] == ("normal", FLOAT32, 3)
    np.testing.assert_array_equal(pointcloud2_to_structured(msg)["normal"][0], points["normal"])
    xyz = xyz_from_pointcloud2(msg)
    assert xyz.dtype == np.float64
    np.testing.assert_array_equal(xyz, [[1.0, 1.0, 1e-300], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])


@pytest.mark.parametrize("byte_order", [">", "<"])
def test_writer_converts_to_little_endian_and_zeroes_padding(byte_order: Literal["<", ">"]) -> None:
    points = velodyne_points(6)
    dirty = np.empty(12, dtype=VELODYNE.newbyteorder(byte_order))
    dirty.view(np.uint8)[:] = 0xEE  # garbage in the padding bytes
    dirty[::2] = points
    factory = rosbags_factory("humble")
    msg = pointcloud2_from_structured(factory, input_header(factory), dirty[::2], 2, 3, False)  # strided input
    assert msg.is_bigendian is False
    assert bytes(msg.data) == points.tobytes()


@pytest.mark.parametrize("style", ["numpy", "array.array"])
def test_contiguous_points_are_copied_once_and_never_aliased(style: str) -> None:
    from .ros_msg_support import rclpy_style_factory

    factory = rosbags_factory("humble") if style == "numpy" else rclpy_style_factory()
    points = np.zeros(6, dtype=VELODYNE)  # contiguous, padding zero (as CloudBuilder leaves it)
    points[:] = velodyne_points(6)
    expected = points.tobytes()
    msg = pointcloud2_from_structured(factory, input_header(factory), points, 2, 3, False)
    points["x"] = -1.0  # the caller reuses its buffer for the next frame
    assert bytes(msg.data) == expected
    dirty = np.empty(6, dtype=VELODYNE)
    dirty.view(np.uint8)[:] = 0xEE  # contiguous with garbage in the padding
    dirty[:] = velodyne_points(6)
    msg = pointcloud2_from_structured(factory, input_header(factory), dirty, 2, 3, False)
    assert bytes(msg.data) == expected
    assert (dirty.view(np.uint8).reshape(6, 32)[:, 12:16] == 0xEE).all()  # the caller's padding is left alone


def test_empty_cloud() -> None:
    factory = rosbags_factory("humble")
    msg = cdr_round_trip(
        pointcloud2_from_structured(factory, input_header(factory), np.zeros(0, VELODYNE), 1, 0, True), "humble"
    )
    assert pointcloud2_to_structured(msg).shape == (1, 0)
    assert xyz_from_pointcloud2(msg).shape == (0, 3)


_XYZ32 = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [0, 4, 8], "itemsize": 16})


@settings(max_examples=40, deadline=None)
@given(
    xyz=hnp.arrays(
        np.float32,
        st.tuples(st.integers(0, 30), st.just(3)),
        elements=st.sampled_from([0.0, -0.0, 1.5, -2.25, 100.0, float("nan"), float("inf"), float("-inf")]),
    )
)
def test_xyz_filter_property(xyz: npt.NDArray[np.float32]) -> None:
    points = np.zeros(xyz.shape[0], dtype=_XYZ32)
    points["x"], points["y"], points["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    factory = rosbags_factory("humble")
    msg = pointcloud2_from_structured(factory, input_header(factory), points, 1, xyz.shape[0], False)
    out = xyz_from_pointcloud2(msg)
    keep = np.isfinite(xyz).all(axis=1) & (xyz != 0).any(axis=1)
    assert out.tobytes() == xyz[keep].tobytes()


@pytest.mark.parametrize("invalid", [False, True])
def test_xyz_of_a_cloud_with_and_without_invalid_points(invalid: bool) -> None:
    """Every point valid (no gathers) and one NaN point give the same rows for the valid points, in order."""
    points = np.zeros(1000, dtype=VELODYNE)
    for axis in "xyz":
        points[axis] = np.random.default_rng(9).uniform(1, 50, 1000)
    if invalid:
        points["z"][17] = np.nan
    factory = rosbags_factory("humble")
    xyz = xyz_from_pointcloud2(pointcloud2_from_structured(factory, input_header(factory), points, 1, 1000, False))
    kept = np.arange(1000) != 17 if invalid else np.ones(1000, dtype=bool)
    expected = np.stack([points[axis][kept] for axis in ("x", "y", "z")], axis=1)
    assert xyz.T.flags.c_contiguous and xyz.tobytes() == expected.astype(np.float32).tobytes()  # columns contiguous


def test_xyz_field_errors_name_the_field() -> None:
    factory = rosbags_factory("humble")
    no_z = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("intensity", "<f4")])
    msg = pointcloud2_from_structured(factory, input_header(factory), no_z, 1, 2, True)
    with pytest.raises(EncodingError, match=r"no field 'z' \(fields: x, y, intensity\)"):
        xyz_from_pointcloud2(msg)
    int_x = np.zeros(2, dtype=[("x", "<u2"), ("y", "<f4"), ("z", "<f4")])
    msg = pointcloud2_from_structured(factory, input_header(factory), int_x, 1, 2, True)
    with pytest.raises(EncodingError, match=r"field 'x' has datatype 4 and count 1; x, y, z must be FLOAT32"):
        xyz_from_pointcloud2(msg)


def test_size_errors_name_the_field() -> None:
    factory = rosbags_factory("humble")
    msg = wire_cloud(factory, velodyne_points(4), 1, 4)
    msg.row_step = 100
    with pytest.raises(ShapeError, match=r"row_step 100 is shorter than width\*point_step = 4\*32 = 128"):
        pointcloud2_to_structured(msg)
    msg.row_step = 128
    msg.data = msg.data[:-2]
    for read in (pointcloud2_to_structured, xyz_from_pointcloud2):
        with pytest.raises(ShapeError, match=r"data has 126 bytes but row_step\*height = 128\*1 = 128"):
            read(msg)
    msg = wire_cloud(factory, velodyne_points(4), 1, 4)
    msg.point_step = 24
    msg.row_step = 96
    with pytest.raises(ShapeError, match=r"PointField 'time' at offset 24 .* does not fit in point_step 24"):
        pointcloud2_to_structured(msg)
    msg = wire_cloud(factory, velodyne_points(4), 1, 4)
    msg.fields[4].datatype = 9
    with pytest.raises(EncodingError, match="PointField 'ring' has unknown datatype 9"):
        pointcloud2_to_structured(msg)
    msg = wire_cloud(factory, velodyne_points(4), 1, 4)
    msg.fields, msg.point_step, msg.row_step = [], 0, 0
    with pytest.raises(ShapeError, match="point_step is 0 for 1x4 points"):
        pointcloud2_to_structured(msg)


def test_writer_errors() -> None:
    factory = rosbags_factory("humble")
    header = input_header(factory)
    with pytest.raises(ShapeError, match="must be a structured array"):
        pointcloud2_from_structured(factory, header, np.zeros((4, 3), dtype=np.float32), 1, 4, True)
    with pytest.raises(ShapeError, match=r"height\*width = 2\*3 does not match 4 points"):
        pointcloud2_from_structured(factory, header, velodyne_points(4), 2, 3, True)


def test_a_point_step_numpy_cannot_hold_is_a_shape_error_not_a_value_error() -> None:
    """A corrupt point_step (>= 2**31) must be a ShapeError the scan paths count, not numpy's ValueError."""
    factory = rosbags_factory("humble")
    msg = wire_cloud(factory, velodyne_points(1), 1, 1)
    msg.point_step = msg.row_step = 2**31
    for read in (pointcloud2_to_structured, xyz_from_pointcloud2):
        with pytest.raises(ShapeError, match=r"point_step 2147483648 is larger than 2147483647 bytes"):
            read(msg)
    msg.point_step = msg.row_step = 2**31 - 1  # the largest numpy can hold: the size check speaks
    for read in (pointcloud2_to_structured, xyz_from_pointcloud2):
        with pytest.raises(ShapeError, match=r"data has 32 bytes but row_step\*height = 2147483647\*1"):
            read(msg)


def test_a_repeated_x_y_or_z_field_is_an_error_not_the_last_one_silently() -> None:
    """Two fields named ``x`` (e.g. clouds concatenated field-wise) make the coordinates ambiguous."""
    factory = rosbags_factory("humble")
    points = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("x2", "<f4")])
    points["x"], points["x2"], points["y"], points["z"] = [1.0, 2.0], [5.0, 6.0], 3.0, 4.0
    msg = pointcloud2_from_structured(factory, input_header(factory), points, 1, 2, True)
    msg.fields[3].name = "x"
    for read in (pointcloud2_to_structured, xyz_from_pointcloud2):
        with pytest.raises(ShapeError, match=r"duplicate field names"):
            read(msg)


@pytest.mark.parametrize(("axis", "offset"), [("y", 0), ("z", 2), ("z", 4)])
def test_x_y_z_fields_sharing_bytes_are_an_error_not_copied_coordinates(axis: str, offset: int) -> None:
    """``y`` at ``x``'s offset (a driver's offset table off by one field) was read as y = x: every point moved onto
    the plane y = x and used for the metric scale, counted nowhere."""
    factory = rosbags_factory("humble")
    points = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    points["x"], points["y"], points["z"] = [1.0, 2.0, 3.0], 4.0, 5.0
    msg = pointcloud2_from_structured(factory, input_header(factory), points, 1, 3, True)
    msg.fields["xyz".index(axis)].offset = offset
    with pytest.raises(ShapeError, match=rf"PointCloud2 field '{axis}' at offset {offset} overlaps field"):
        xyz_from_pointcloud2(msg)


def _valid_mask(points: npt.NDArray[np.void]) -> npt.NDArray[np.bool_]:
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=-1).reshape(-1, 3)
    mask: npt.NDArray[np.bool_] = np.isfinite(xyz).all(axis=1) & (xyz != 0).any(axis=1)
    return mask


@pytest.mark.parametrize("big_endian", [False, True], ids=["little", "big"])
@pytest.mark.parametrize(("height", "width", "row_pad"), [(1, 24, 0), (4, 6, 5)], ids=["unorganized", "organized"])
def test_times_of_the_valid_points_follow_them(big_endian: bool, height: int, width: int, row_pad: int) -> None:
    """Velodyne ``time`` (float32 s after the stamp): one time per kept point, NaN and (0, 0, 0) points dropped with
    theirs, whatever the byte order and row padding."""
    factory = rosbags_factory("humble")
    points = velodyne_points(height * width)
    msg = wire_cloud(factory, points, height, width, row_pad=row_pad, big_endian=big_endian)
    xyz, offsets = xyz_and_times_from_pointcloud2(msg)
    np.testing.assert_array_equal(xyz, xyz_from_pointcloud2(msg))
    keep = _valid_mask(points)
    assert offsets is not None and offsets.dtype == np.int64
    np.testing.assert_array_equal(offsets, np.rint(points["time"][keep].astype(np.float64) * 1e9).astype(np.int64))


def test_ouster_cloud_times_and_no_return_points() -> None:
    """ouster-ros: point_step 48 with padding, ``t`` UINT32 ns after the stamp, no-return points at (0, 0, 0) (they
    must not become points at the sensor origin, nor shift the times of the others)."""
    ouster = np.dtype(
        {
            "names": ["x", "y", "z", "intensity", "t", "reflectivity", "ring", "ambient", "range"],
            "formats": ["<f4", "<f4", "<f4", "<f4", "<u4", "<u2", "<u2", "<u2", "<u4"],
            "offsets": [0, 4, 8, 16, 20, 24, 26, 28, 32],
            "itemsize": 48,
        }
    )
    rows, columns = 8, 16
    points = np.zeros(rows * columns, dtype=ouster)
    rng = np.random.default_rng(3)
    for axis in "xyz":
        points[axis] = rng.uniform(1.0, 30.0, points.size)
    points["t"] = np.tile(np.arange(columns, dtype=np.uint32) * 6_250_000, rows)  # one time per column
    no_return = rng.random(points.size) < 0.3
    for axis in "xyz":
        points[axis][no_return] = 0.0
    msg = wire_cloud(rosbags_factory("humble"), points, rows, columns)
    xyz, offsets = xyz_and_times_from_pointcloud2(msg)
    assert xyz.shape == (int(np.count_nonzero(~no_return)), 3) and (xyz != 0).any(axis=1).all()
    assert offsets is not None
    np.testing.assert_array_equal(offsets, points["t"][~no_return].astype(np.int64))


def test_a_cloud_without_a_time_field_has_no_times() -> None:
    factory = rosbags_factory("humble")
    plain = np.zeros(5, dtype=np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [0, 4, 8]}))
    plain["x"] = 1.0
    xyz, offsets = xyz_and_times_from_pointcloud2(wire_cloud(factory, plain, 1, 5))
    assert xyz.shape == (5, 3) and offsets is None
    empty = wire_cloud(factory, velodyne_points(0), 1, 0)
    xyz, offsets = xyz_and_times_from_pointcloud2(empty)
    assert xyz.shape == (0, 3) and offsets is None


@pytest.mark.parametrize(
    ("field", "values", "middle_ns"),
    [
        ("t", np.array([0, 25_000_000, 99_999_000], np.uint32), 49_999_500),  # ouster: stamped at the start
        ("time", np.array([-0.1, -0.05, 0.0], np.float32), -50_000_000),  # velodyne: stamped at the end
        ("intensity", np.array([1.0, 2.0, 3.0], np.float32), 0),  # no time field
        ("time", np.array([0.0, 5.0, 10.0], np.float32), 0),  # no sweep: not used
    ],
)
def test_sweep_middle_offset(field: str, values: npt.NDArray[np.generic], middle_ns: int) -> None:
    dtype = np.dtype({"names": ["x", "y", "z", field], "formats": ["<f4"] * 3 + [values.dtype.newbyteorder("<")],
                      "offsets": [0, 4, 8, 12], "itemsize": 16})  # fmt: skip
    points = np.zeros(values.size, dtype=dtype)
    points["x"], points[field] = 1.0, values
    msg = wire_cloud(rosbags_factory("humble"), points, 1, values.size, big_endian=True)
    assert abs(sweep_middle_offset_ns(msg) - middle_ns) <= 1  # float32 seconds: a ns of rounding
