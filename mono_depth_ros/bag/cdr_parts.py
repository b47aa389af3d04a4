"""The CDR bytes of an Image or PointCloud2 as parts: the fields before ``data``, ``data``'s own buffer, the rest.

``typestore.serialize_cdr`` copies a message's ``data`` (the depth pixels, the cloud's points) into a new buffer of
the whole message, which storage then copies again. Here only the small fields are serialised (the message with an
empty ``data``); the length is patched in, and ``data``'s buffer is handed over as it is, so that the storage copies
the payload once, from the builder's buffer into the file (:meth:`~.writer.OutputBag.write_raw`).

The bytes are the same as ``serialize_cdr``'s: ``data`` is a ``uint8[]`` (a ``uint32`` length, aligned to 4 from the
start of the CDR body, then the bytes, unaligned), and what follows it is ``is_dense`` (a ``bool``: no padding) for a
PointCloud2 and nothing for an Image, so its length never moves what comes after.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mono_depth_ros.adapters.messages import IMAGE, POINTCLOUD2

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

AFTER_DATA = {IMAGE: 0, POINTCLOUD2: 1}
"""Bytes each type serialises after its ``data`` field (PointCloud2: ``is_dense``, a bool: no padding; an Image:
none), so that ``data``'s length lies ``AFTER_DATA + 4`` bytes before the end of its CDR bytes."""
_EMPTY = np.zeros(0, dtype=np.uint8)
_BIG_ENDIAN = b"\x00\x00"
"""The encapsulation header of big-endian plain CDR (``\\x00\\x01``: little-endian)."""


@dataclass(frozen=True)
class CdrParts:
    """A serialised message as consecutive buffers: ``head`` (CDR header, the fields before ``data``, its length),
    ``data`` (the message's own ``uint8`` buffer, not copied) and ``tail`` (the fields after it).

    Attributes:
        size: total bytes, as ``len`` of the joined message.
    """

    head: bytes
    data: memoryview
    tail: bytes

    @property
    def size(self) -> int:
        return len(self.head) + self.data.nbytes + len(self.tail)

    def joined(self) -> bytes:
        """The whole message in one ``bytes`` (a copy of ``data``): for a storage that takes one buffer."""
        return b"".join((self.head, self.data, self.tail))


def cdr_parts(typestore: Typestore, message: Any, msgtype: str) -> CdrParts | memoryview:
    """``message`` (a rosbags Image or PointCloud2 whose ``data`` is a contiguous 1-D uint8 numpy array) as
    :class:`CdrParts`; any other message as ``typestore.serialize_cdr`` gives it (one buffer)."""
    data = getattr(message, "data", None)
    after = AFTER_DATA.get(msgtype)
    if (
        after is None
        or not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 1
        or not data.flags.c_contiguous
    ):
        return typestore.serialize_cdr(message, msgtype)
    empty = bytes(typestore.serialize_cdr(replace(message, data=_EMPTY), msgtype))
    at = len(empty) - after - 4  # where data's length is: the uint32 before the (empty) bytes
    order = ">" if empty[:2] == _BIG_ENDIAN else "<"
    head = empty[:at] + struct.pack(order + "I", data.size)
    return CdrParts(head, data.data, empty[at + 4 :])  # ndarray.data: a memoryview of its buffer
