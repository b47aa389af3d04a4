"""The ``std_msgs/Header`` at the start of a serialised (CDR) message, read without deserialising the rest.

Image, CompressedImage, PointCloud2 and CameraInfo all begin with a Header. CDR: a 4-byte encapsulation header
(byte 1: 0 big-endian, 1 little-endian), then ``int32 sec``, ``uint32 nanosec``, ``uint32`` string length (with
its NUL) and the frame id bytes, all 4-aligned from byte 4. Reading these 16 + n bytes instead of the whole message
is what lets the bag runner index a camera's stamps without decoding a single image.
"""

from __future__ import annotations

import struct

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
