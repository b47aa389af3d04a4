"""Payloads of a bag recorded with ``--compression-mode message``: each message is one zstd frame.

rosbags decompresses them inside its reader's message loop, where one damaged frame raises out of the loop and ends
the whole run. Here each payload is decompressed on its own (:func:`decompressed`), so a damaged one costs that
message only: reading it raises :data:`ZSTD_ERROR`, which the bag reader turns into an
:class:`~mono_depth_ros.core.errors.EncodingError`. The first pass wants only the header: the head of the message
(:data:`~.payload.HEAD_BYTES`) is decompressed at once, the rest when the message is decoded. A frame that
decompresses to more than :data:`MESSAGE_BYTES_MAX` (a zstd bomb: a few kilobytes that expand to gigabytes) is
stopped there and raises :class:`FrameTooLarge`: it costs that message, not the process's memory.

A CDR payload starts with its encapsulation header (``00 00`` or ``00 01``), never with the zstd magic
(:func:`is_zstd_frame`): that is how a storage file read without its metadata.yaml tells the mode.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead

if sys.version_info >= (3, 14):  # the zstd rosbags uses
    from compression import zstd
else:  # pragma: no cover - depends on the Python version
    from backports import zstd

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_ERROR: type[Exception] = zstd.ZstdError
"""Raised when a frame is truncated or corrupt (reading a :class:`~.payload.PayloadHead` from :func:`decompressed`)."""

MESSAGE_BYTES_MAX = 512 * 2**20
"""Bytes one decompressed message may hold: 512 MiB, over 20 times a 4K RGB image (24 MiB) or a 2.2-million-point
32-byte cloud (70 MiB); a frame that expands past it is not a message (read at call time: tests lower it)."""


class FrameTooLarge(ZSTD_ERROR):  # type: ignore[misc,valid-type]  # ZSTD_ERROR is zstd.ZstdError
    """A frame that decompresses to more than its limit; the message reads ``limit`` and, when the frame says it,
    the size it declares."""

    def __init__(self, limit: int, declared: int) -> None:
        """``limit``: the bytes allowed; ``declared``: the size the frame header states, 0 when it states none."""
        said = f" (its header declares {declared} bytes)" if declared else ""
        super().__init__(f"decompresses to more than {limit / 2**20:.0f} MiB{said}")
        self.limit = limit
        self.declared = declared


def is_zstd_frame(raw: bytes | bytearray | memoryview) -> bool:
    """True when the payload is a zstd frame (starts with the zstd magic number)."""
    return bytes(raw[:4]) == ZSTD_MAGIC


def decompressed(raw: bytes | bytearray | memoryview) -> bytes | PayloadHead:
    """The message inside one zstd frame.

    A message longer than :data:`~.payload.HEAD_BYTES` comes as a :class:`~.payload.PayloadHead`: its first bytes now,
    the whole message when :meth:`~.payload.PayloadHead.full` is called (which raises :data:`ZSTD_ERROR` for a damaged
    frame, :class:`FrameTooLarge` for one that decompresses past :data:`MESSAGE_BYTES_MAX`). A frame whose head cannot
    be decompressed gives an empty head: no header is read from it, and the message fails when it is decoded.
    """
    frame = bytes(raw)
    decompressor = zstd.ZstdDecompressor()
    try:
        head = decompressor.decompress(frame, max_length=HEAD_BYTES)
    except ZSTD_ERROR:
        head = b""
    else:
        if decompressor.eof:  # the whole message fitted in the head
            return head
    try:
        size = zstd.get_frame_info(frame).decompressed_size or 0
    except ZSTD_ERROR:
        size = 0
    return PayloadHead(head, size, lambda: _bounded(frame, size, MESSAGE_BYTES_MAX))


def bounded_zstd(data: bytes, limit: int) -> bytes:
    """``data`` (zstd frames) decompressed, never more than ``limit`` bytes held beyond the result.

    Raises:
        FrameTooLarge: it decompresses to more than ``limit``. ZSTD_ERROR: it is truncated or corrupt.
    """
    return _bounded(data, 0, limit)


def _bounded(frame: bytes, declared: int, limit: int) -> bytes:
    """``frame`` (one or more zstd frames, as :func:`zstd.decompress` reads them) decompressed, at most ``limit`` bytes
    held at any time beyond the result; ``declared``: the first frame's stated size (0: none).

    Raises:
        FrameTooLarge: it declares or decompresses to more than ``limit``. ZSTD_ERROR: it is truncated or corrupt.
    """
    if declared > limit:
        raise FrameTooLarge(limit, declared)
    parts: list[bytes] = []
    total = 0
    data = frame
    while True:
        decompressor = zstd.ZstdDecompressor()
        part = decompressor.decompress(data, max_length=limit - total + 1)
        total += len(part)
        if total > limit:
            raise FrameTooLarge(limit, declared)
        if not decompressor.eof:
            msg = "Compressed data ended before the end-of-stream marker was reached"  # zstd.decompress's words
            raise ZSTD_ERROR(msg)
        parts.append(part)
        data = decompressor.unused_data
        if not data:
            return parts[0] if len(parts) == 1 else b"".join(parts)


def decompress_file(source: Path, target: Path) -> None:
    """Decompress a storage file compressed whole (``--compression-mode file``) into ``target``, streaming.

    Raises:
        ZSTD_ERROR: ``source`` is not zstd or corrupt. EOFError: it ends inside a frame (what decompressed before is
        in ``target``). OSError: a file cannot be read or written.
    """
    with source.open("rb") as packed, zstd.open(packed, "rb") as stream, target.open("wb") as out:
        shutil.copyfileobj(stream, out)
