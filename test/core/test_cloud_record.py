from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from mono_depth_ros.core.cloud_record import (
    NAN_BITS,
    XYZ_DTYPE,
    XYZRGB_DTYPE,
    PointCloud,
    cloud_from_packed,
    range_bounds,
    unorganized_cloud,
    unpack_rgb,
    valid_depth_mask,
)
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.point_fields import FLOAT32, XYZ_FIELDS, XYZRGB_FIELDS, fields_from_dtype

TINY = float(np.finfo(np.float32).tiny)
BIG = float(np.finfo(np.float32).max)


def test_dtypes_have_the_depth_image_proc_offsets() -> None:
    assert fields_from_dtype(XYZ_DTYPE) == (list(XYZ_FIELDS), 16, False)
    assert fields_from_dtype(XYZRGB_DTYPE) == (list(XYZRGB_FIELDS), 32, False)
    assert [f.offset for f in XYZRGB_FIELDS] == [0, 4, 8, 16]
    assert all(f.datatype == FLOAT32 and f.count == 1 for f in XYZRGB_FIELDS)
    assert np.array([NAN_BITS], np.uint32).view(np.float32)[0] != np.array([NAN_BITS], np.uint32).view(np.float32)[0]


def test_range_bounds_exclude_zero_negative_and_inf() -> None:
    assert range_bounds() == (TINY, BIG)
    assert range_bounds(0.1, 80.0) == (float(np.float32(0.1)), 80.0)
    assert range_bounds(1e-45, 1e39) == (TINY, BIG)  # below the smallest normal / above the largest finite float32
    for low, high in ((-1.0, 5.0), (5.0, 5.0), (6.0, 5.0), (0.0, math.nan)):
        with pytest.raises(ConfigError, match="min_range"):
            range_bounds(low, high)


def test_valid_depth_mask_on_special_values() -> None:
    depth = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, -2.0, 1e-40, 0.5, 1.0, 3.0, 3.0001]], np.float32)
    np.testing.assert_array_equal(valid_depth_mask(depth)[0], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(valid_depth_mask(depth, 1.0, 3.0)[0], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0])
    assert valid_depth_mask(depth.astype(np.float64), 1.0, 3.0).dtype == np.bool_


def test_point_cloud_record_checks_and_freezes_its_view() -> None:
    packed = np.zeros((6, 8), np.float32)
    packed[:, 4] = np.array([0xFF8000] * 6, np.uint32).view(np.float32)
    wrapped = cloud_from_packed(packed, 2, 3, is_dense=False)
    assert (wrapped.height, wrapped.width, wrapped.row_step, wrapped.point_step) == (2, 3, 96, 32)
    assert wrapped.fields == XYZRGB_FIELDS and wrapped.has_rgb and not wrapped.is_bigendian
    assert np.shares_memory(wrapped.points, packed)  # no copy
    assert packed.flags.writeable and not wrapped.points.flags.writeable  # only the cloud's view is frozen
    np.testing.assert_array_equal(wrapped.rgb(), [[255, 128, 0]] * 6)
    assert wrapped.data.nbytes == 6 * 32 and wrapped.tobytes() == packed.tobytes()
    xyz_only = cloud_from_packed(np.zeros((6, 4), np.float32), 6, 1, is_dense=True)
    assert (xyz_only.point_step, xyz_only.fields, xyz_only.has_rgb) == (16, XYZ_FIELDS, False)
    with pytest.raises(ShapeError, match="no rgb"):
        xyz_only.rgb()
    bad_shapes: list[npt.NDArray[Any]] = [np.zeros((6, 5), np.float32), np.zeros((6, 8)), np.zeros((5, 8), np.float32)]
    for bad in bad_shapes:
        with pytest.raises(ShapeError, match="packed points"):
            cloud_from_packed(bad, 2, 3, is_dense=False)
    with pytest.raises(ShapeError, match="do not match"):
        PointCloud(packed.reshape(-1).view(XYZRGB_DTYPE), 2, 2, XYZRGB_FIELDS, 32, False)


def test_unorganized_cloud_packs_points_and_colours() -> None:
    c = unorganized_cloud(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([0xFF0000, 0x0000FF], np.uint32))
    assert (c.height, c.width, c.is_dense, c.point_step) == (1, 2, True, 32)
    np.testing.assert_array_equal(c.xyz(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(c.rgb(), [[255, 0, 0], [0, 0, 255]])
    raw = np.frombuffer(c.tobytes(), np.uint8).reshape(2, 32)
    assert not raw[:, 12:16].any() and not raw[:, 20:].any() and not raw[:, 19].any()  # padding and alpha zero
    assert unorganized_cloud(np.zeros((0, 3))).width == 0
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        unorganized_cloud(np.zeros((2, 2)))
    with pytest.raises(ShapeError, match="rgb_packed"):
        unorganized_cloud(np.zeros((2, 3)), np.zeros(3, np.uint32))


def test_unpack_rgb_any_shape() -> None:
    packed = np.array([[0x123456, 0xFFFFFF], [0, 0x80FF01]], np.uint32)
    np.testing.assert_array_equal(
        unpack_rgb(packed), [[[0x12, 0x34, 0x56], [255, 255, 255]], [[0, 0, 0], [0x80, 0xFF, 0x01]]]
    )
