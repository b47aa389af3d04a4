"""PointCloud2 field layouts ⇄ numpy structured dtypes (ROS-free).

A layout is a list of :class:`PointField` (name, byte offset, datatype code, count) plus ``point_step`` and the
byte order, exactly as ``sensor_msgs/PointField`` describes them. Datatype codes are the PointField constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mono_depth_ros.core.errors import EncodingError, ShapeError

INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)

DATATYPE_TO_NUMPY: dict[int, str] = {
    INT8: "i1",
    UINT8: "u1",
    INT16: "i2",
    UINT16: "u2",
    INT32: "i4",
    UINT32: "u4",
    FLOAT32: "f4",
    FLOAT64: "f8",
}
NUMPY_TO_DATATYPE: dict[str, int] = {v: k for k, v in DATATYPE_TO_NUMPY.items()}
MAX_POINT_STEP = 2**31 - 1  # numpy itemsizes are C ints: a larger point_step is a corrupt message


@dataclass(frozen=True)
class PointField:
    """One ``sensor_msgs/PointField``: ``name`` at byte ``offset``, ``datatype`` code, ``count`` elements."""

    name: str
    offset: int
    datatype: int
    count: int = 1


XYZ_FIELDS = (PointField("x", 0, FLOAT32), PointField("y", 4, FLOAT32), PointField("z", 8, FLOAT32))
XYZ_POINT_STEP = 16  # depth_image_proc / PCL layout: x y z + 4 bytes padding
XYZRGB_FIELDS = (*XYZ_FIELDS, PointField("rgb", 16, FLOAT32))
XYZRGB_POINT_STEP = 32  # x y z pad rgb + 12 bytes padding


def dtype_from_fields(fields: Sequence[PointField], point_step: int, is_bigendian: bool = False) -> np.dtype:
    """Structured dtype with itemsize ``point_step`` holding every field at its offset.

    Fields with ``count > 1`` become sub-arrays. Raises :class:`EncodingError` for an unknown datatype code
    and :class:`ShapeError` when a field runs past ``point_step`` or ``point_step`` exceeds numpy's itemsize limit.
    """
    if point_step > MAX_POINT_STEP:
        msg = (
            f"PointCloud2 point_step {point_step} is larger than {MAX_POINT_STEP} bytes (numpy's itemsize limit); "
            f"the message is corrupt"
        )
        raise ShapeError(msg)
    order = ">" if is_bigendian else "<"
    names: list[str] = []
    formats: list[np.dtype] = []
    offsets: list[int] = []
    for f in fields:
        code = DATATYPE_TO_NUMPY.get(f.datatype)
        if code is None:
            msg = f"PointField {f.name!r} has unknown datatype {f.datatype}; expected 1..8 (INT8..FLOAT64)"
            raise EncodingError(msg)
        base = np.dtype(order + code)
        size = base.itemsize * max(f.count, 1)  # checked before numpy sizes it: a corrupt count (2**32 - 1) is no
        if f.offset < 0 or f.offset + size > point_step:  # C int, its ValueError no named error
            msg = (
                f"PointField {f.name!r} at offset {f.offset} ({f.count} x {base.itemsize} bytes) does not fit in "
                f"point_step {point_step}; the publisher's field count or offset is wrong"
            )
            raise ShapeError(msg)
        fmt = np.dtype((base, (f.count,))) if f.count > 1 else base
        if f.count < 1:
            continue  # count 0 fields carry no data (seen in some drivers); skip them
        names.append(f.name)
        formats.append(fmt)
        offsets.append(f.offset)
    if len(set(names)) != len(names):
        msg = f"PointCloud2 has duplicate field names: {names}"
        raise ShapeError(msg)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})


def fields_from_dtype(dtype: np.dtype) -> tuple[list[PointField], int, bool]:
    """Inverse of :func:`dtype_from_fields`: ``(fields, point_step, is_bigendian)`` of a structured dtype."""
    if dtype.fields is None:
        msg = f"expected a structured dtype, got {dtype}"
        raise ShapeError(msg)
    fields: list[PointField] = []
    big = False
    for name, (field_dtype, offset, *_) in dtype.fields.items():
        base = field_dtype.base
        count = int(np.prod(field_dtype.shape)) if field_dtype.shape else 1
        key = base.str[1:]
        if key not in NUMPY_TO_DATATYPE:
            msg = f"field {name!r} has dtype {base} with no PointField datatype"
            raise EncodingError(msg)
        big = big or base.byteorder == ">"
        fields.append(PointField(name, int(offset), NUMPY_TO_DATATYPE[key], count))
    return fields, dtype.itemsize, big
