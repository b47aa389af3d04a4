"""Message payloads read only as far as the reader needs: the first pass over a bag wants the header, not the pixels.

A storage asked for the *heads* of a topic yields, for each of its messages longer than :data:`HEAD_BYTES`, a
:class:`PayloadHead`: the first :data:`HEAD_BYTES` bytes as a ``bytes`` value that also knows the full size and how to
read the rest. :func:`~mono_depth_ros.core.cdr_header.header_from_cdr` decides on such a prefix exactly as on the whole
message (it never reads past byte ``16 + 4096``); anything that needs the whole message calls :func:`whole` first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mono_depth_ros.adapters.messages import POINTCLOUD2
from mono_depth_ros.bag.cdr_parts import AFTER_DATA
from mono_depth_ros.core.cdr_header import HEADER_BYTES_MAX

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

HEAD_BYTES = HEADER_BYTES_MAX
"""Bytes of a payload read for its header: enough for the longest header ``header_from_cdr`` accepts."""


class PayloadHead(bytes):
    """The first bytes of a stored message (a ``bytes`` value) and a way to read all of it while the bag is open.

    Attributes:
        size: the whole payload's length, bytes.
    """

    size: int
    _load: Callable[[], bytes | bytearray]

    def __new__(cls, head: bytes, size: int, load: Callable[[], bytes | bytearray]) -> PayloadHead:
        """``head``: the payload's first bytes; ``size``: its full length; ``load``: reads the whole payload."""
        value = super().__new__(cls, head)
        value.size = size
        value._load = load
        return value

    def full(self) -> bytes | bytearray:
        """The whole payload, read from the storage again."""
        return self._load()


def whole(raw: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    """The complete payload of a message: ``raw`` itself, or the rest read when it is a :class:`PayloadHead`."""
    return raw.full() if isinstance(raw, PayloadHead) else raw


def head_decodes(typestore: Typestore, head: PayloadHead, msgtype: str = POINTCLOUD2) -> bool:
    """Whether the PointCloud2 (or Image: ``msgtype``) of which ``head`` is the first bytes deserialises whole,
    decided without reading the rest: True when its head with zeros in place of the unread bytes (up to
    ``head.size``) deserialises and the fields that decide its layout (everything before ``data``'s bytes: the header,
    ``fields``, ``data``'s length) lie in the head. ``data``'s bytes are opaque (an Image's last field) and
    ``is_dense`` any byte, so the whole payload then deserialises too. False: undecided (the layout reaches past the
    head, or the zero-filled bytes do not deserialise: a cut or corrupt message, or one whose ``fields`` reach past
    the head); read it whole to decide.

    ``head.size`` must be the stored payload's length (a sqlite3 blob's): a decompressed head's is only what its zstd
    frame declares, and the rest of the frame may be cut or decompress to something else; read those whole.

    The bag runner checks so the scans and external predictions no frame decodes (the node's subscription counts
    each cut one), without reading their points or pixels."""
    filled = bytearray(head.size)
    filled[: len(head)] = head
    try:
        message: Any = typestore.deserialize_cdr(memoryview(filled), msgtype)
    except Exception:  # rosbags raises several kinds; decided on the whole payload instead
        return False
    data_length_at = head.size - AFTER_DATA[msgtype] - len(message.data) - 4  # the uint32 before data's bytes
    return data_length_at + 4 <= len(head)
