"""The ``std_msgs/Header`` at the start of a serialised (CDR) message, read without deserialising the rest.

Image, CompressedImage, PointCloud2 and CameraInfo all begin with a Header. CDR: a 4-byte encapsulation header
(byte 1: 0 big-endian, 1 little-endian), then ``int32 sec``, ``uint32 nanosec``, ``uint32`` string length (with
its NUL) and the frame id bytes, all 4-aligned from byte 4. Reading these 16 + n bytes instead of the whole message
is what lets the bag runner index a camera's stamps without decoding a single image.
"""

from __future__ import annotations

import struct

from mono_depth_ros.core.point_fields import PointField

_MAX_FRAME_ID = 4096  # bytes; a longer "frame id" means the bytes are not a Header
HEADER_BYTES_MAX = 16 + _MAX_FRAME_ID
""":func:`header_from_cdr` reads no byte past this one: on a prefix this long it answers as on the whole message."""


def header_from_cdr(raw: bytes | bytearray | memoryview) -> tuple[int, str] | None:
    """``(stamp_ns, frame_id)`` of a CDR message that starts with a Header, or None when the bytes cannot be one.

    Args:
        raw: the serialised message (rosbag2 stores CDR with its encapsulation header).

    Returns:
        The stamp in int nanoseconds and the frame id; None for a short, non-CDR or implausible header (the caller
        then deserialises the whole message and reports what is wrong with it).
    """
    if len(raw) < 16 or raw[0] != 0 or raw[1] not in (0, 1):
        return None
    order = "<" if raw[1] == 1 else ">"
    sec, nanosec, length = struct.unpack_from(f"{order}iII", raw, 4)
    if nanosec >= 1_000_000_000 or not 1 <= length <= _MAX_FRAME_ID or 16 + length > len(raw):
        return None
    text = bytes(raw[16 : 16 + length])
    if text[-1] != 0:
        return None
    try:
        frame_id = text[:-1].decode()
    except UnicodeDecodeError:
        return None
    return sec * 1_000_000_000 + nanosec, frame_id


def point_fields_from_cdr(raw: bytes | bytearray | memoryview) -> list[PointField] | None:
    """The ``fields`` of a serialised (CDR) ``sensor_msgs/PointCloud2`` (offsets in bytes within a point), read
    from its first bytes without deserialising the points; None when they do not lie in ``raw`` (a head cut before
    the end of ``fields``) or the bytes cannot be a PointCloud2's (the caller then deserialises the whole message).

    After the Header (:func:`header_from_cdr`): ``uint32 height, width``, then the ``uint32`` number of fields and each
    ``PointField``: ``string name`` (``uint32`` length with its NUL, then the bytes), ``uint32 offset``, ``uint8
    datatype``, ``uint32 count``; every ``uint32`` 4-aligned from byte 4.
    """
    header = header_from_cdr(raw)
    if header is None:
        return None
    order = "<" if raw[1] == 1 else ">"
    at = 16 + len(header[1].encode()) + 1

    def uint32() -> int:
        nonlocal at
        at += -(at - 4) % 4
        if at + 4 > len(raw):
            raise IndexError(at)
        (value,) = struct.unpack_from(f"{order}I", raw, at)
        at += 4
        return int(value)

    try:
        uint32(), uint32()  # height, width
        count = uint32()
        if count > (len(raw) - at) // 13:  # fewer bytes than the fields need: cut or not a PointCloud2
            return None
        fields: list[PointField] = []
        for _ in range(count):
            length = uint32()
            name = bytes(raw[at : at + length])
            if length < 1 or len(name) < length or name[-1] != 0:
                return None
            at += length
            offset = uint32()
            if at >= len(raw):
                return None
            datatype = raw[at]
            at += 1
            fields.append(PointField(name[:-1].decode(), offset, int(datatype), uint32()))
    except (IndexError, UnicodeDecodeError):
        return None
    return fields
