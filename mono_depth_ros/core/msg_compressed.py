"""``sensor_msgs/CompressedImage`` (jpeg / png / tiff) ⇄ numpy through OpenCV ``imdecode`` / ``imencode``.

Accepted ``format`` strings: ``"jpeg"``, ``"jpg"``, ``"png"``, ``"tiff"`` (cv_bridge, camera drivers) and
image_transport's ``"<encoding>; <codec> compressed <encoding>"`` (e.g. ``"rgb8; jpeg compressed bgr8"``). Decoded
colour is returned as **RGB** whatever the wire order: the compressed pixels are in the order of the encoding after
``compressed`` (compressed_image_transport converts colour to bgr8 / bgr16 for jpeg and png), else in the order of the
encoding before ``;`` (its tiff keeps the message's pixels: ``"rgb8; tiff compressed "`` holds RGB), else BGR (a bare
codec name: an OpenCV image); a bayer camera's png or tiff (``"bayer_rggb8; png compressed "``) holds its mosaic,
which :func:`compressed_image_to_rgb8` demosaics as the raw Image is; a depth camera's (``"16UC1; png compressed "``,
``"32FC1; tiff compressed "``) is refused there as the raw depth Image is (no camera picture). A CMYK JPEG or TIFF
decodes to its RGB colours: OpenCV converts it (JPEG in Adobe polarity, as PIL reads it too). ``compressedDepth``
(compressed_depth_image_transport) is not supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.depth_codec import DEPTH_ENCODINGS
from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.msg_factory import MessageFactory, header_from, uint8_buffer
from mono_depth_ros.core.msg_image import (
    COLOUR_ENCODINGS,
    IMAGE_ENCODINGS,
    SIXTEEN_BITS,
    demosaic_to_rgb8,
    grey_to_rgb8,
    is_opencv_type_name,
    not_a_camera_picture,
    uint16_to_uint8,
)

COMPRESSED_CODECS: dict[str, str] = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png", "tiff": ".tiff", "tif": ".tiff"}
MAX_DECODED_PIXELS = 8192 * 8192
"""Largest ``width * height`` a CompressedImage may declare (8192 x 8192, twice an 8K UHD frame): a few kB of deflate
or JPEG can declare gigapixels (a decompression bomb), refused from the header before anything is allocated."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _tiff_size(data: npt.NDArray[np.uint8], order: str) -> tuple[int, int] | None:
    """``(width, height)`` of a TIFF's first image (ImageWidth 256, ImageLength 257 of its first IFD), or None."""
    import struct

    raw = np.ascontiguousarray(data).data  # no copy: OpenCV writes the IFD after the pixels
    try:
        (ifd,) = struct.unpack_from(order + "I", raw, 4)
        (count,) = struct.unpack_from(order + "H", raw, ifd)
        sizes: dict[int, int] = {}
        for at in range(ifd + 2, ifd + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", raw, at)
            if tag in (256, 257):  # SHORT (3) or LONG (4), held in the entry's value field
                (sizes[tag],) = struct.unpack_from(order + ("H" if kind == 3 else "I"), raw, at + 8)
    except struct.error:  # offsets past the data: a header cut short
        return None
    return (sizes[256], sizes[257]) if len(sizes) == 2 else None


def declared_size(data: npt.NDArray[np.uint8]) -> tuple[int, int] | None:
    """``(width, height)`` a PNG (IHDR), JPEG (first start-of-frame segment) or TIFF (first IFD) declares in its
    header; None for other data (garbage, BigTIFF) or a header cut short. Reads the header only, never the pixels."""
    head = data[:24].tobytes()
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(data, "<" if head[0] == ord("I") else ">")
    if not head.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 9 <= data.size:  # segments: 0xFF, marker, 2-byte length (including itself), body
        if data[at] != 0xFF:
            return None
        marker = int(data[at + 1])
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _JPEG_SOF:
            return int(data[at + 7]) << 8 | int(data[at + 8]), int(data[at + 5]) << 8 | int(data[at + 6])
        at += 2 + (int(data[at + 2]) << 8 | int(data[at + 3]))
    return None


def jpeg_cut_short(data: npt.NDArray[np.uint8]) -> bool:
    """True for JPEG data (``FF D8`` first) that a cut ended before its end-of-image marker (``FF D9``): inside its
    segment headers, or inside its scans (no ``FF D9`` after the first start of scan ``FF DA``, found by walking the
    segment lengths past any EXIF thumbnail: entropy-coded data never holds ``FF D9``, an ``FF`` there is stuffed as
    ``FF 00``). Also True for headers that cannot be walked (a segment length under 2, no marker where one starts).
    libjpeg decodes cut data up to the cut and fills the rest grey with a warning only. Bytes after the end marker (a
    phone's trailer, a motion photo's video, an MPF second image) are allowed whatever they hold. False for other data.

    Args:
        data: 1-D uint8 file or message bytes (a view; read, never copied unless it does not end with ``FF D9``).
    """
    n = int(data.size)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False
    if data[n - 2] == 0xFF and data[n - 1] == 0xD9:
        return False
    at = 2
    while at + 4 <= n:  # segments: 0xFF, marker, 2-byte length (including itself), body
        marker = int(data[at + 1])
        if data[at] != 0xFF:
            return True
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # a fill byte, or a marker with no length
            at += 1 if marker == 0xFF else 2
            continue
        length = int(data[at + 2]) << 8 | int(data[at + 3])
        if length < 2:
            return True
        if marker == 0xDA:  # the first scan: an end marker must follow it
            coded = data[at + 2 + length :]
            return not bool(((coded[:-1] == 0xFF) & (coded[1:] == 0xD9)).any())
        at += 2 + length
    return True  # cut inside the headers


def compressed_codec(image_format: str) -> str:
    """The codec (``"jpeg"``, ``"jpg"``, ``"png"``, ``"tiff"`` or ``"tif"``) a CompressedImage ``format`` names.

    Raises:
        EncodingError: ``compressedDepth``, an empty or an unknown format.
    """
    text = image_format.strip().lower()
    if "compresseddepth" in text:
        msg = (
            f"CompressedImage format {image_format!r} (compressed_depth_image_transport) is not supported; "
            f"subscribe to the raw depth Image topic instead"
        )
        raise EncodingError(msg)
    if ";" in text:
        text = text.split(";", 1)[1].strip()
    codec = text.split()[0] if text else ""
    if codec not in COMPRESSED_CODECS:
        msg = (
            f"CompressedImage format {image_format!r} is not supported; expected 'jpeg', 'png', 'tiff' or "
            f"image_transport's '<encoding>; <codec> compressed <encoding>'"
        )
        raise EncodingError(msg)
    return codec


def compressed_pixel_encoding(image_format: str) -> str:
    """The encoding of the pixels a CompressedImage of this ``format`` holds, lower case; empty for a bare codec name.

    The encoding after ``compressed`` names them (``"rgb8; jpeg compressed bgr8"``: bgr8); without one, the message's
    own encoding before ``;`` does: compressed_image_transport converts only colour images (to bgr8 / bgr16) for png,
    and nothing for tiff, so ``"rgb8; tiff compressed "`` holds rgb8 and ``"bayer_rggb8; png compressed "`` the
    camera's mosaic.
    """
    source, separator, rest = image_format.partition(";")
    if not separator:
        return ""
    words = rest.split()
    named = words[2] if len(words) > 2 and words[1].lower() == "compressed" else source
    return named.strip().lower()


def compressed_pixels_are_rgb(image_format: str) -> bool:
    """True when the colour pixels of a CompressedImage of this ``format`` were compressed in RGB order
    (:func:`compressed_pixel_encoding`); a bare codec name (``"jpeg"``) is an OpenCV image: BGR."""
    return compressed_pixel_encoding(image_format).startswith("rgb")


def compressed_image_to_array(msg: Any) -> npt.NDArray[Any]:
    """Decode a CompressedImage into a new array.

    Returns:
        ``(H, W, 3)`` uint8 (or uint16 for 16-bit png / tiff) **RGB** for colour data (alpha dropped; channel order
        from ``format``, see :func:`compressed_pixels_are_rgb`), ``(H, W)`` uint8 or uint16 for grey data.

    Raises:
        EncodingError: unsupported ``format`` (see :func:`compressed_codec`), empty or undecodable ``data``, or a
            PNG / JPEG / TIFF header declaring more than :data:`MAX_DECODED_PIXELS` pixels.
    """
    import cv2

    image_format = str(msg.format)
    codec = compressed_codec(image_format)
    data = uint8_buffer(msg.data)
    if data.size == 0:
        msg_text = f"CompressedImage ({image_format!r}) has no data"
        raise EncodingError(msg_text)
    size = declared_size(data)
    if size is not None and size[0] * size[1] > MAX_DECODED_PIXELS:
        msg_text = (
            f"CompressedImage ({image_format!r}) declares {size[0]}x{size[1]} pixels in {data.size} bytes, over the "
            f"limit of {MAX_DECODED_PIXELS} pixels (8192x8192); a corrupt or hostile message, not decoded"
        )
        raise EncodingError(msg_text)
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        msg_text = (
            f"cannot decode {data.size} bytes of CompressedImage data as {codec} (format {image_format!r}); "
            f"truncated data or a wrong format string"
        )
        raise EncodingError(msg_text)
    if decoded.ndim == 2:
        return np.ascontiguousarray(decoded)
    if compressed_pixels_are_rgb(image_format):
        return np.ascontiguousarray(decoded[..., :3])  # RGB(A) → RGB
    return np.ascontiguousarray(decoded[..., 2::-1])  # BGR(A) → RGB


def compressed_image_to_rgb8(msg: Any, significant_bits: int = SIXTEEN_BITS) -> npt.NDArray[np.uint8]:
    """Decode a CompressedImage to ``(H, W, 3)`` uint8 RGB (grey replicated, a bayer mosaic demosaiced, 16-bit scaled
    by ``255 / (2**significant_bits - 1)``: :func:`~.msg_image.uint16_to_uint8`).

    Raises:
        EncodingError: as :func:`compressed_image_to_array`, a depth image (``format`` names ``16UC1`` or ``32FC1``
            before ``;``, as compressed_image_transport writes a depth camera's png / tiff) or another OpenCV type
            name (``8UC1``, ``8UC3``: the pixel type only; the raw Image of it is refused alike), or pixels that are
            not 8 or 16 bit (a float tiff).
    """
    source, separator, _ = str(msg.format).partition(";")
    named = source.strip()  # refused as the raw Image of this encoding is: a depth image, an OpenCV type name
    if separator and named not in COLOUR_ENCODINGS and (named in DEPTH_ENCODINGS or is_opencv_type_name(named)):
        msg_text = f"CompressedImage ({str(msg.format)!r}): {not_a_camera_picture(source.strip())}"
        raise EncodingError(msg_text)
    pixels = compressed_image_to_array(msg)
    if pixels.dtype not in (np.uint8, np.uint16):
        msg_text = f"CompressedImage ({str(msg.format)!r}) holds {pixels.dtype} pixels; expected an 8 or 16 bit image"
        raise EncodingError(msg_text)
    if pixels.ndim == 2:
        encoding = compressed_pixel_encoding(str(msg.format))
        if encoding.startswith("bayer_") and encoding in IMAGE_ENCODINGS:  # the camera's mosaic (png, tiff)
            return demosaic_to_rgb8(pixels, encoding, significant_bits)
        return grey_to_rgb8(pixels, significant_bits)
    if pixels.dtype == np.uint16:
        return uint16_to_uint8(pixels, significant_bits)
    rgb: npt.NDArray[np.uint8] = pixels
    return rgb


def compressed_sixteen_bit_peak(msg: Any) -> int | None:
    """The largest pixel value of a CompressedImage whose ``format`` names a 16-bit colour encoding (``"mono16; png
    compressed "``, ``"rgb16; png compressed bgr16"``: png / tiff keep 16 bits), decoded once more for it; None for
    any other (8-bit named, a bare codec name) or an image decoded to 8 bit.

    Raises:
        EncodingError: as :func:`compressed_image_to_array`.
    """
    encoding = compressed_pixel_encoding(str(msg.format))
    if not encoding.endswith("16") or encoding not in COLOUR_ENCODINGS:
        return None
    pixels = compressed_image_to_array(msg)
    return int(pixels.max()) if pixels.dtype == np.uint16 and pixels.size else None


def compressed_image_from_array(
    factory: MessageFactory, pixels: npt.NDArray[Any], header: Any, codec: str = "jpeg", jpeg_quality: int = 90
) -> Any:
    """Compress ``pixels`` into a new CompressedImage with a copy of ``header``.

    Args:
        factory: message classes and array style of the output flavour.
        pixels: ``(H, W, 3)`` uint8 **RGB**, or ``(H, W)`` uint8 grey; ``(H, W)`` uint16 only with ``png``.
        header: the input message's header (stamp and frame_id are copied).
        codec: ``"jpeg"`` (lossy) or ``"png"`` (lossless).
        jpeg_quality: 1..100, used for jpeg only.

    Returns:
        A message whose ``format`` follows image_transport, e.g. ``"rgb8; jpeg compressed bgr8"``.
    """
    import cv2

    if codec not in ("jpeg", "png"):
        msg = f"compression codec {codec!r} is not supported; use 'jpeg' or 'png'"
        raise EncodingError(msg)
    if not 1 <= jpeg_quality <= 100:
        msg = f"jpeg_quality {jpeg_quality} must be in 1..100"
        raise ConfigError(msg)
    if pixels.size == 0:
        msg = f"cannot compress an empty image of shape {pixels.shape}"
        raise ShapeError(msg)
    if pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8:
        source, wire, to_encode = "rgb8", "bgr8", np.ascontiguousarray(pixels[..., ::-1])
    elif pixels.ndim == 2 and pixels.dtype == np.uint8:
        source, wire, to_encode = "mono8", "mono8", np.ascontiguousarray(pixels)
    elif pixels.ndim == 2 and pixels.dtype == np.uint16:
        if codec != "png":
            msg = "16-bit grey images can only be compressed as png (jpeg is 8-bit)"
            raise EncodingError(msg)
        source, wire, to_encode = "mono16", "mono16", np.ascontiguousarray(pixels)
    else:
        msg = (
            f"cannot compress an array of shape {pixels.shape} and dtype {pixels.dtype}; "
            f"expected (H, W, 3) uint8 RGB, (H, W) uint8 or (H, W) uint16 (png)"
        )
        raise ShapeError(msg)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if codec == "jpeg" else []
    ok, encoded = cv2.imencode(COMPRESSED_CODECS[codec], to_encode, params)
    if not ok:
        msg = f"OpenCV could not encode a {pixels.shape} {pixels.dtype} image as {codec}"
        raise EncodingError(msg)
    return factory.new(
        "sensor_msgs/msg/CompressedImage",
        header=header_from(factory, header),
        format=f"{source}; {codec} compressed {wire}",
        data=factory.uint8_sequence(encoded),
    )
