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
from typing import BinaryIO

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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_INTEGER_TYPES = {3: "H", 4: "I"}  # TIFF type → struct format: SHORT, LONG (in the entry's last 4 bytes)


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
            if tag == ORIENTATION_TAG and kind in _INTEGER_TYPES:  # SHORT as the standard says; LONG as some write it
                return int(struct.unpack_from(f"{order}{_INTEGER_TYPES[kind]}", tiff, entry + 8)[0])
    except struct.error:
        return UPRIGHT
    return UPRIGHT


def _jpeg_exif(stream: BinaryIO) -> bytes | None:
    """The EXIF block of a JPEG's APP1 segment, reading only the segment headers before it."""
    while True:
        marker = stream.read(4)
        if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):  # end, or the scan: no EXIF before
            return None
        (length,) = struct.unpack(">H", marker[2:])
        if length < 2:  # a corrupt segment length: stop rather than step back onto it
            return None
        if marker[1] == 0xE1:
            segment = stream.read(length - 2)
            if segment.startswith(b"Exif\x00\x00"):
                return segment[6:]
            continue
        stream.seek(length - 2, 1)


def _png_exif(stream: BinaryIO) -> bytes | None:
    """The data of a PNG's ``eXIf`` chunk (before the image data, as the PNG specification places it)."""
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind == b"eXIf":
            return stream.read(length)
        if kind in (b"IDAT", b"IEND"):
            return None
        stream.seek(length + 4, 1)  # the data and its CRC


def exif_orientation(path: Path) -> int:
    """The EXIF orientation (1–8) of a JPEG or PNG file; 1 (as stored) when it has none or is another format.

    Raises:
        OSError: the file cannot be read.
    """
    with Path(path).open("rb") as stream:
        signature = stream.read(len(_PNG_SIGNATURE))
        if signature.startswith(b"\xff\xd8"):
            stream.seek(2)
            block = _jpeg_exif(stream)
        elif signature == _PNG_SIGNATURE:
            block = _png_exif(stream)
        else:
            return UPRIGHT
    return _tiff_orientation(block) if block else UPRIGHT
