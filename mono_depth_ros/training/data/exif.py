"""The EXIF orientation tag of a JPEG or PNG image, read from its header without decoding the pixels.

A phone stores its sensor's pixels and an orientation tag (TIFF tag 274) that tells viewers how to turn them
upright: 1 = as stored, 3 = turned 180°, 6 = turned 90° clockwise, 8 = 90° counter-clockwise (2, 4, 5, 7: the same
mirrored). OpenCV's ``imread`` with ``IMREAD_COLOR`` applies it (``IMREAD_UNCHANGED``, as depth PNGs are read,
does not), so an image with a tag other than 1 is read turned relative to the depth map and intrinsics written for
the stored pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

ORIENTATION_TAG = 0x0112
UPRIGHT = 1
TURNS = {
    1: "as stored",
    2: "mirrored",
    3: "turned 180°",
    4: "mirrored vertically",
    5: "mirrored and turned 90°",
    6: "turned 90° clockwise",
    7: "mirrored and turned 90°",
    8: "turned 90° counter-clockwise",
}
_HEADER_BYTES = 1 << 17  # a JPEG's APP1 (EXIF) segment is at most 64 KiB and comes before the image data
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _tiff_orientation(tiff: bytes) -> int:
    """Tag 274 of the first IFD of an EXIF (TIFF) block; 1 when absent or unreadable."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return UPRIGHT
    try:
        (ifd,) = struct.unpack_from(f"{order}I", tiff, 4)
        (count,) = struct.unpack_from(f"{order}H", tiff, ifd)
        for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(f"{order}HH", tiff, entry)
            if tag == ORIENTATION_TAG and kind == 3:  # SHORT
                return int(struct.unpack_from(f"{order}H", tiff, entry + 8)[0])
    except struct.error:
        return UPRIGHT
    return UPRIGHT


def _jpeg_exif(head: bytes) -> bytes | None:
    at = 2
    while at + 4 <= len(head) and head[at] == 0xFF:
        marker = head[at + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no EXIF before the pixels
            return None
        (length,) = struct.unpack_from(">H", head, at + 2)
        if marker == 0xE1 and head[at + 4 : at + 10] == b"Exif\x00\x00":
            return head[at + 10 : at + 2 + length]
        at += 2 + length
    return None


def _png_exif(head: bytes) -> bytes | None:
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(head):
        length, kind = struct.unpack_from(">I4s", head, at)
        if kind == b"eXIf":
            return head[at + 8 : at + 8 + length]
        if kind == b"IEND":
            return None
        at += 12 + length
    return None


def exif_orientation(path: Path) -> int:
    """The EXIF orientation (1–8) of a JPEG or PNG file; 1 (as stored) when it has none or is another format.

    Raises:
        OSError: the file cannot be read.
    """
    with Path(path).open("rb") as stream:
        head = stream.read(_HEADER_BYTES)
    if head.startswith(b"\xff\xd8"):
        block = _jpeg_exif(head)
    elif head.startswith(_PNG_SIGNATURE):
        block = _png_exif(head)
    else:
        return UPRIGHT
    return _tiff_orientation(block) if block else UPRIGHT
