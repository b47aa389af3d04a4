"""Message payloads read only as far as the reader needs: the first pass over a bag wants the header, not the pixels.

A storage asked for the *heads* of a topic yields, for each of its messages longer than :data:`HEAD_BYTES`, a
:class:`PayloadHead`: the first :data:`HEAD_BYTES` bytes as a ``bytes`` value that also knows the full size and how to
read the rest. :func:`~mono_depth_ros.core.cdr_header.header_from_cdr` decides on such a prefix exactly as on the whole
message (it never reads past byte ``16 + 4096``); anything that needs the whole message calls :func:`whole` first.
"""

from __future__ import annotations

from collections.abc import Callable

from mono_depth_ros.core.cdr_header import HEADER_BYTES_MAX

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
