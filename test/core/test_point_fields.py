from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import EncodingError, ShapeError
from mono_depth_ros.core.point_fields import (
    FLOAT32,
    UINT16,
    XYZ_FIELDS,
    XYZ_POINT_STEP,
    XYZRGB_FIELDS,
    XYZRGB_POINT_STEP,
    PointField,
    dtype_from_fields,
    fields_from_dtype,
)


def test_depth_image_proc_layouts() -> None:
    xyz = dtype_from_fields(XYZ_FIELDS, XYZ_POINT_STEP)
    assert xyz.itemsize == 16 and [xyz.fields[n][1] for n in "xyz"] == [0, 4, 8]
    xyzrgb = dtype_from_fields(XYZRGB_FIELDS, XYZRGB_POINT_STEP)
    assert xyzrgb.itemsize == 32 and xyzrgb.fields["rgb"][1] == 16


def test_round_trip_of_a_lidar_layout_with_counts_and_big_endian() -> None:
    fields = [
        PointField("x", 0, FLOAT32),
        PointField("y", 4, FLOAT32),
        PointField("z", 8, FLOAT32),
        PointField("ring", 16, UINT16),
        PointField("normal", 20, FLOAT32, 3),
    ]
    dtype = dtype_from_fields(fields, 48, is_bigendian=True)
    assert dtype["x"].byteorder == ">"
    back, step, big = fields_from_dtype(dtype)
    assert back == fields and step == 48 and big


def test_bad_layouts_raise_named_errors() -> None:
    with pytest.raises(EncodingError, match=r"'i'.*datatype 9"):
        dtype_from_fields([PointField("i", 0, 9)], 4)
    with pytest.raises(ShapeError, match=r"'z'.*point_step 10"):
        dtype_from_fields(XYZ_FIELDS, 10)
    with pytest.raises(ShapeError, match="duplicate"):
        dtype_from_fields([PointField("x", 0, FLOAT32), PointField("x", 4, FLOAT32)], 8)
    with pytest.raises(ShapeError, match="structured"):
        fields_from_dtype(np.dtype(np.float32))


@settings(max_examples=30, deadline=None)
@given(
    datatype=st.integers(1, 8),
    count=st.one_of(st.integers(0, 4), st.integers(2**31 - 8, 2**32 - 1)),
    offset=st.one_of(st.integers(0, 24), st.integers(2**31 - 8, 2**32 - 1)),
    point_step=st.integers(0, 32),
)
def test_any_field_layout_gives_a_dtype_or_a_named_error(
    datatype: int, count: int, offset: int, point_step: int
) -> None:
    """A PointField's uint32 count or offset as a corrupt message sends them (2**32 - 1): a ShapeError naming the
    field, not numpy's ValueError ("dimension does not fit into a C int") out of pointcloud2_to_structured."""
    field = PointField("intensity", offset, datatype, count)
    try:
        dtype = dtype_from_fields([field], point_step)
    except ShapeError as err:
        assert "'intensity'" in str(err) and f"point_step {point_step}" in str(err)
        return
    assert dtype.itemsize == point_step
    assert count < 1 or dtype.fields["intensity"][0].itemsize == count * dtype.fields["intensity"][0].base.itemsize
