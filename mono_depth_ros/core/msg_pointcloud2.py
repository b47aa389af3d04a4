"""``sensor_msgs/PointCloud2`` ⇄ numpy structured arrays, for any field layout (ROS-free).

Reading honours ``fields`` (any names, datatypes, counts and offsets), ``point_step`` (padding between points),
``row_step`` (padding after each row), ``is_bigendian`` and organized clouds (``height > 1``). Writing produces
little-endian, tightly packed rows (``row_step = width * point_step``) with zeroed padding bytes.
Field layouts ⇄ dtypes come from :mod:`.point_fields`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import DepthError, EncodingError, ShapeError
from mono_depth_ros.core.msg_factory import FieldBuffer, MessageFactory, header_from, stamp_to_ns, uint8_buffer
from mono_depth_ros.core.point_fields import (
    DATATYPE_TO_NUMPY,
    FLOAT32,
    FLOAT64,
    PointField,
    dtype_from_fields,
    fields_from_dtype,
)
from mono_depth_ros.core.point_times import offsets_ns, sweep_span_ns, time_field

_HOST_IS_BIGENDIAN = sys.byteorder == "big"


def point_fields_from_msg(msg: Any) -> list[PointField]:
    """The ``fields`` of a PointCloud2 message (any flavour) as core :class:`PointField` records."""
    return [PointField(str(f.name), int(f.offset), int(f.datatype), int(f.count)) for f in msg.fields]


def _point_rows(msg: Any) -> npt.NDArray[np.uint8]:
    """``(height, width * point_step)`` uint8 bytes of the points, row padding removed (a view: never modify)."""
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    if point_step <= 0 and height * width > 0:
        msg_text = f"PointCloud2 point_step is {point_step} for {height}x{width} points; it must be > 0"
        raise ShapeError(msg_text)
    row_bytes = width * point_step
    if row_step < row_bytes:
        msg_text = (
            f"PointCloud2 row_step {row_step} is shorter than width*point_step = {width}*{point_step} = "
            f"{row_bytes}; the publisher set a wrong row_step or width"
        )
        raise ShapeError(msg_text)
    data = uint8_buffer(msg.data)
    if data.size != row_step * height:
        msg_text = (
            f"PointCloud2 data has {data.size} bytes but row_step*height = {row_step}*{height} = "
            f"{row_step * height}; truncated or inconsistent message"
        )
        raise ShapeError(msg_text)
    return data.reshape(height, row_step)[:, :row_bytes]


def pointcloud2_to_structured(msg: Any) -> npt.NDArray[np.void]:
    """Decode every field of a PointCloud2 into a new structured array.

    Returns:
        ``(height, width)`` structured array (``height == 1`` for unorganized clouds), native byte order, one
        named field per PointField (``count > 1`` as a sub-array), itemsize ``point_step``; padding bytes are
        copied as they are (zeroed when the byte order had to be swapped).
        Values are copied as they are: NaN points stay NaN.

    Raises:
        EncodingError: a field with an unknown datatype code.
        ShapeError: a field past ``point_step``, duplicate names, ``row_step`` or ``data`` sizes that disagree.
    """
    fields = point_fields_from_msg(msg)
    point_step = int(msg.point_step)
    wire_is_bigendian = bool(msg.is_bigendian)
    wire_dtype = dtype_from_fields(fields, point_step, is_bigendian=wire_is_bigendian)
    height, width = int(msg.height), int(msg.width)
    rows = _point_rows(msg)
    native_dtype = dtype_from_fields(fields, point_step, is_bigendian=_HOST_IS_BIGENDIAN)
    if height * width == 0:
        return np.zeros((height, width), dtype=native_dtype)
    points = np.array(rows, order="C").view(wire_dtype).reshape(height, width)  # a byte-exact copy
    if wire_is_bigendian == _HOST_IS_BIGENDIAN:
        return points
    native = np.zeros((height, width), dtype=native_dtype)
    native[...] = points  # field by field, by position: swaps byte order
    return native


def _xyz_by_axis(msg: Any) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.intp] | None]:
    """Every point's ``x, y, z`` as an axis-major ``(3, H*W)`` array, and the indices of the valid ones (finite,
    not all zero; None: every point is valid). Errors as :func:`xyz_from_pointcloud2`."""
    fields = point_fields_from_msg(msg)
    by_name = {f.name: f for f in fields}
    xyz_fields: list[PointField] = []
    for axis in ("x", "y", "z"):
        if sum(f.name == axis for f in fields) > 1:
            msg_text = f"PointCloud2 has duplicate field names: {[f.name for f in fields]}; which {axis!r} is meant?"
            raise ShapeError(msg_text)
        field = by_name.get(axis)
        if field is None:
            msg_text = (
                f"PointCloud2 has no field {axis!r} (fields: {', '.join(by_name) or 'none'}); "
                f"a cloud with float x, y, z is needed"
            )
            raise EncodingError(msg_text)
        if field.datatype not in (FLOAT32, FLOAT64) or field.count != 1:
            msg_text = (
                f"PointCloud2 field {axis!r} has datatype {field.datatype} and count {field.count}; "
                f"x, y, z must be FLOAT32 (7) or FLOAT64 (8) with count 1"
            )
            raise EncodingError(msg_text)
        for other in xyz_fields:  # y at x's offset was read as y = x: every point moved onto a plane
            size, other_size = (np.dtype(DATATYPE_TO_NUMPY[f.datatype]).itemsize for f in (field, other))
            if field.offset < other.offset + other_size and other.offset < field.offset + size:
                msg_text = (
                    f"PointCloud2 field {axis!r} at offset {field.offset} overlaps field {other.name!r} at offset "
                    f"{other.offset}; the publisher's field offsets are wrong (x, y, z must be separate values)"
                )
                raise ShapeError(msg_text)
        xyz_fields.append(field)
    out_dtype = np.float64 if any(f.datatype == FLOAT64 for f in xyz_fields) else np.float32
    wire_dtype = dtype_from_fields(xyz_fields, int(msg.point_step), is_bigendian=bool(msg.is_bigendian))
    rows = _point_rows(msg)
    if rows.size == 0:
        return np.zeros((3, 0), dtype=out_dtype), None
    points = np.ascontiguousarray(rows).view(wire_dtype).reshape(-1)
    # axis-major (3, N) scratch: per-axis masks and gathers are contiguous (a (N, 3) boolean row mask is ~10x slower)
    xyz_by_axis = np.empty((3, points.shape[0]), dtype=out_dtype)
    for row, axis in enumerate(("x", "y", "z")):
        xyz_by_axis[row] = points[axis]
    ok = np.isfinite(xyz_by_axis).all(axis=0)
    ok &= (xyz_by_axis != 0).any(axis=0)
    if ok.all():  # every point valid (drivers that drop bad returns): no index, no gathers
        return xyz_by_axis, None
    return xyz_by_axis, np.flatnonzero(ok)


def xyz_from_pointcloud2(msg: Any) -> npt.NDArray[np.floating]:
    """The valid ``x, y, z`` of a PointCloud2, in the cloud's ``header.frame_id``, in metres.

    Points with any non-finite coordinate and points at exactly ``(0, 0, 0)`` (how many drivers mark "no
    return") are dropped. Other fields (intensity, ring, time, ...) are ignored.

    Returns:
        ``(N, 3)`` float32, or float64 when any of x/y/z is FLOAT64; row-major point order. The array is the
        transpose of an axis-major ``(3, N)`` one (Fortran order): each coordinate column is contiguous, which is
        what the per-axis arithmetic of a projection wants (``np.ascontiguousarray`` gives C order where needed).

    Raises:
        EncodingError: ``x``, ``y`` or ``z`` is missing, not FLOAT32/FLOAT64, or has ``count != 1``.
        ShapeError: inconsistent ``point_step`` / ``row_step`` / ``data`` sizes, ``x``, ``y`` or ``z`` declared
            twice (ambiguous; the last one used to win silently), or two of them sharing bytes.
    """
    xyz_by_axis, valid = _xyz_by_axis(msg)
    if valid is None:
        return xyz_by_axis.T
    kept: npt.NDArray[np.floating] = np.take(xyz_by_axis, valid, axis=1)
    return kept.T


def xyz_and_times_from_pointcloud2(msg: Any) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.int64] | None]:
    """:func:`xyz_from_pointcloud2` and each of those points' measurement time, when the cloud carries one.

    Returns:
        The ``(N, 3)`` points of :func:`xyz_from_pointcloud2`, and ``(N,)`` int64 ns after the header stamp
        (negative: before it) from the driver's time field (``t``, ``time``, ``timestamp``, ``offset_time``: see
        :mod:`.point_times`), or None when the cloud has no such field or its times are no sweep around the stamp.

    Raises:
        as :func:`xyz_from_pointcloud2`.
    """
    xyz_by_axis, valid = _xyz_by_axis(msg)
    xyz: npt.NDArray[np.floating] = xyz_by_axis.T if valid is None else np.take(xyz_by_axis, valid, axis=1).T
    found = time_field(point_fields_from_msg(msg))
    if found is None or xyz.shape[0] == 0:
        return xyz, None
    field, meaning = found
    values = _field_values(msg, field)
    if valid is not None:
        values = values.take(valid)
    return xyz, offsets_ns(values, meaning, stamp_to_ns(msg.header.stamp))


def sweep_middle_offset_ns(msg: Any) -> int:
    """Where the middle of a cloud's sweep lies relative to its header stamp: ``(first + last) / 2`` of its points'
    times (int ns; 0 without a time field, with times that are no sweep, or an undecodable cloud).

    Drivers stamp a sweep at its start (ouster-ros, Hesai, Livox) or its end (velodyne's default); the middle is the
    same instant whichever they chose, and at most half a sweep from when the LiDAR faced any camera. Reads only the
    time field (no validity mask: a no-return point's time is still its column's).
    """
    found = time_field(point_fields_from_msg(msg))
    if found is None:
        return 0
    field, meaning = found
    try:
        values = _field_values(msg, field)
    except DepthError:
        return 0  # the worker reports the cloud when it decodes it
    span = sweep_span_ns(values, meaning, stamp_to_ns(msg.header.stamp))  # called per scan in the node's executor
    return 0 if span is None else (span[0] + span[1]) // 2


def _field_values(msg: Any, field: PointField) -> npt.NDArray[np.generic]:
    """(H*W,) the values of one ``count == 1`` field of every point, as published (a strided view of the data)."""
    wire_dtype = dtype_from_fields([field], int(msg.point_step), is_bigendian=bool(msg.is_bigendian))
    values: npt.NDArray[np.generic] = np.ascontiguousarray(_point_rows(msg)).view(wire_dtype).reshape(-1)[field.name]
    return values


def _padding_runs(fields: list[PointField], point_step: int) -> list[tuple[int, int]]:
    """``[start, stop)`` byte ranges of a point that no field covers."""
    covered = np.zeros(point_step + 1, dtype=bool)
    covered[point_step] = True  # sentinel closes a trailing run
    for f in fields:
        covered[f.offset : f.offset + np.dtype(DATATYPE_TO_NUMPY[f.datatype]).itemsize * f.count] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[True], covered]).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _little_endian_bytes(
    points: npt.NDArray[np.void], fields: list[PointField], point_step: int, padding_is_zero: bool
) -> tuple[npt.NDArray[np.uint8], bool]:
    """``(N, point_step)`` uint8: the points little-endian, padding bytes zero (never the caller's garbage).

    Returns the bytes and whether they are a new array (False: a view of ``points``, which the message copies once;
    only when the caller vouches that the padding is zero already).
    """
    little = dtype_from_fields(fields, point_step, is_bigendian=False)
    if points.dtype == little:  # fast path: the bytes as they are, padding cleared unless known to be zero
        raw = np.ascontiguousarray(points).view(np.uint8).reshape(points.size, point_step)
        if padding_is_zero:
            return raw, not np.may_share_memory(raw, points)
        raw = raw.copy()
        for start, stop in _padding_runs(fields, point_step):
            raw[:, start:stop] = 0
        return raw, True
    packed = np.zeros(points.size, dtype=little)
    packed[...] = points  # field by field, by position: swaps byte order, padding stays zero
    return packed.view(np.uint8).reshape(points.size, point_step), True


def pointcloud2_from_structured(
    factory: MessageFactory,
    header: Any,
    points_structured: npt.NDArray[np.void],
    height: int,
    width: int,
    is_dense: bool,
    *,
    padding_is_zero: bool = False,
    data_buffer: FieldBuffer | None = None,
) -> Any:
    """Encode a structured array as a new little-endian PointCloud2 with a copy of ``header``.

    The point bytes are copied once into the message (twice when padding bytes between fields must be cleared:
    pass ``padding_is_zero=True`` only for arrays whose padding is known to be zero, as in a
    :class:`~mono_depth_ros.core.cloud_record.PointCloud`). With ``data_buffer`` the message's ``data`` is that
    publisher's reused buffer instead (see :class:`~mono_depth_ros.core.msg_factory.FieldBuffer`: one copy for rclpy,
    none for rosbags, whose serialiser copies once).

    Args:
        factory: message classes and array style of the output flavour.
        header: the header of the data the points come from (stamp and frame_id are copied).
        points_structured: ``height * width`` points (any shape, row-major), one field per PointField; its
            itemsize becomes ``point_step`` and its field offsets the PointField offsets.
        height: rows (1 for an unorganized cloud); width: points per row.
        is_dense: True only when no point is invalid (NaN).

    Raises:
        ShapeError: not a structured array, or ``height * width`` differs from the number of points.
        EncodingError: a field dtype with no PointField datatype.
    """
    if points_structured.dtype.fields is None:
        msg = f"points must be a structured array (named fields), got dtype {points_structured.dtype}"
        raise ShapeError(msg)
    if height < 0 or width < 0 or points_structured.size != height * width:
        msg = f"PointCloud2 height*width = {height}*{width} does not match {points_structured.size} points"
        raise ShapeError(msg)
    fields, point_step, _ = fields_from_dtype(points_structured.dtype)
    packed, owned = _little_endian_bytes(points_structured.reshape(-1), fields, point_step, padding_is_zero)
    field_msgs = [
        factory.new(
            "sensor_msgs/msg/PointField",
            name=f.name,
            offset=int(f.offset),
            datatype=int(f.datatype),
            count=int(f.count),
        )
        for f in fields
    ]
    return factory.new(
        "sensor_msgs/msg/PointCloud2",
        header=header_from(factory, header),
        height=int(height),
        width=int(width),
        fields=field_msgs,
        is_bigendian=False,
        point_step=int(point_step),
        row_step=int(point_step * width),
        data=factory.uint8_sequence(packed, copy=not owned) if data_buffer is None else data_buffer.hold(packed),
        is_dense=bool(is_dense),
    )
