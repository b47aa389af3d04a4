from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.msg_compressed import (
    compressed_codec,
    compressed_image_from_array,
    compressed_image_to_array,
    compressed_image_to_rgb8,
    compressed_sixteen_bit_peak,
    declared_size,
    jpeg_cut_short,
)
from mono_depth_ros.core.msg_factory import stamp_to_ns
from mono_depth_ros.core.msg_image import image_from_array, image_to_rgb8

from .ros_msg_support import DISTROS, FRAME_ID, STAMP_NS, cdr_round_trip, input_header, rosbags_factory


def smooth_rgb(height: int = 24, width: int = 32) -> npt.NDArray[np.uint8]:
    """A gradient image with distinct channels (jpeg-friendly, colour order visible)."""
    v, u = np.mgrid[0:height, 0:width]
    return np.stack([u * 255 // (width - 1), v * 255 // (height - 1), np.full_like(u, 40)], axis=2).astype(np.uint8)


def compressed_msg(distro: str, data: npt.NDArray[np.uint8], image_format: str) -> Any:
    factory = rosbags_factory(distro)
    return factory.new("sensor_msgs/msg/CompressedImage", header=input_header(factory), format=image_format, data=data)


@pytest.mark.parametrize("distro", DISTROS)
def test_png_colour_round_trip_is_exact_and_rgb(distro: str) -> None:
    factory = rosbags_factory(distro)
    rgb = np.random.default_rng(1).integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
    msg = cdr_round_trip(compressed_image_from_array(factory, rgb, input_header(factory), codec="png"), distro)
    assert msg.format == "rgb8; png compressed bgr8"
    assert (stamp_to_ns(msg.header.stamp), msg.header.frame_id) == (STAMP_NS, FRAME_ID)
    np.testing.assert_array_equal(compressed_image_to_array(msg), rgb)
    np.testing.assert_array_equal(compressed_image_to_rgb8(msg), rgb)


@pytest.mark.parametrize("distro", DISTROS)
def test_jpeg_colour_round_trip_is_close(distro: str) -> None:
    factory = rosbags_factory(distro)
    rgb = smooth_rgb()
    msg = cdr_round_trip(compressed_image_from_array(factory, rgb, input_header(factory), jpeg_quality=95), distro)
    assert msg.format == "rgb8; jpeg compressed bgr8"
    decoded = compressed_image_to_array(msg)
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb.astype(int)).mean() < 3.0


@pytest.mark.parametrize("image_format", ["jpeg", "jpg", "png", "bgr8; jpeg compressed bgr8"])
def test_plain_formats_decode_to_rgb(image_format: str) -> None:
    bgr_red = np.zeros((8, 8, 3), dtype=np.uint8)
    bgr_red[..., 2] = 255
    extension = ".png" if image_format == "png" else ".jpg"
    ok, encoded = cv2.imencode(extension, bgr_red)
    assert ok
    msg = cdr_round_trip(compressed_msg("humble", encoded.reshape(-1), image_format), "humble")
    rgb = compressed_image_to_array(msg)
    assert rgb[..., 0].min() > 240 and rgb[..., 1:].max() < 15


def test_bgra_png_drops_alpha() -> None:
    bgra = np.zeros((4, 5, 4), dtype=np.uint8)
    bgra[..., 0], bgra[..., 3] = 200, 17  # blue, alpha
    ok, encoded = cv2.imencode(".png", bgra)
    assert ok
    rgb = compressed_image_to_array(compressed_msg("jazzy", encoded.reshape(-1), "png"))
    assert rgb.shape == (4, 5, 3)
    assert (rgb[..., 2] == 200).all() and (rgb[..., :2] == 0).all()


@pytest.mark.parametrize("distro", DISTROS)
def test_grey_png_round_trips_8_and_16_bit(distro: str) -> None:
    factory = rosbags_factory(distro)
    rng = np.random.default_rng(2)
    cases: list[tuple[npt.NDArray[Any], str]] = [
        (rng.integers(0, 256, size=(5, 6), dtype=np.uint8), "mono8; png compressed mono8"),
        (rng.integers(0, 65536, size=(5, 6), dtype=np.uint16), "mono16; png compressed mono16"),
    ]
    for grey, fmt in cases:
        msg = cdr_round_trip(compressed_image_from_array(factory, grey, input_header(factory), codec="png"), distro)
        assert msg.format == fmt
        decoded = compressed_image_to_array(msg)
        assert decoded.dtype == grey.dtype
        np.testing.assert_array_equal(decoded, grey)
        rgb = compressed_image_to_rgb8(msg)
        assert rgb.shape == (5, 6, 3) and rgb.dtype == np.uint8
        expected8 = grey if grey.dtype == np.uint8 else np.rint(grey / 257.0).astype(np.uint8)
        np.testing.assert_array_equal(rgb[..., 1], expected8)


def _image_transport_tiff(pixels: npt.NDArray[Any], encoding: str) -> tuple[npt.NDArray[np.uint8], str]:
    """What compressed_image_transport (Humble, ``format: tiff``) publishes for an Image of ``encoding``: the
    message's pixels encoded as they are (no conversion to bgr8, so no target encoding in ``format``)."""
    ok, encoded = cv2.imencode(".tiff", pixels)
    assert ok
    return encoded.reshape(-1), f"{encoding}; tiff compressed "


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "rgb16", "bgr16"])
def test_tiff_of_compressed_image_transport_decodes_in_the_order_of_its_encoding(encoding: str) -> None:
    """``ros2 run image_transport republish raw compressed`` with ``out.format:=tiff`` (seen on real Humble):
    ``"rgb8; tiff compressed "`` holds RGB pixels, ``"bgr8; tiff compressed "`` BGR ones."""
    rgb = smooth_rgb()
    grey = rgb[..., 0]
    alpha = np.full(rgb.shape[:2], 255, dtype=np.uint8)
    wire = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.dstack([rgb, alpha]),
        "bgra8": np.dstack([rgb[..., ::-1], alpha]),
        "mono8": grey,
        "mono16": grey.astype(np.uint16) * 257,
        "rgb16": rgb.astype(np.uint16) * 257,
        "bgr16": rgb[..., ::-1].astype(np.uint16) * 257,
    }[encoding]
    data, image_format = _image_transport_tiff(np.ascontiguousarray(wire), encoding)
    msg = cdr_round_trip(compressed_msg("humble", data, image_format), "humble")
    expected = np.repeat(grey[..., np.newaxis], 3, axis=2) if encoding.startswith("mono") else rgb
    np.testing.assert_array_equal(compressed_image_to_rgb8(msg), expected)


@pytest.mark.parametrize("codec", ["png", "tiff"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_a_bayer_mosaic_compressed_by_image_transport_is_demosaiced_as_the_raw_image(
    kitti_object_dir: Path, pattern: str, bits: int, codec: str
) -> None:
    """A raw colour camera (bayer_* image_raw, most industrial drivers) with image_transport's compressed plugin:
    png and tiff keep the message's pixels (the mosaic, ``"bayer_rggb8; png compressed "``: compressed_publisher.cpp
    converts only colour encodings to bgr), and its subscriber hands the mosaic on as bayer_rggb8 to be demosaiced.
    It was read as a grey image: the network saw the mosaic's checkerboard of red, green and blue samples, no colour.
    Decoded, it must be the raw Image's RGB (lossless codecs: exactly)."""
    frame = cv2.imread(str(kitti_object_dir / "image_2" / "000002.png"))
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)[100:196, 400:560]
    mosaic = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for (row, col), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), pattern, strict=True):
        mosaic[row::2, col::2] = rgb[row::2, col::2, "rgb".index(colour)]
    wire = mosaic if bits == 8 else mosaic.astype(np.uint16) * 257 + 3
    encoding = f"bayer_{pattern}{bits}"
    factory = rosbags_factory("humble")
    raw = image_to_rgb8(image_from_array(factory, wire, encoding, input_header(factory)))
    ok, encoded = cv2.imencode(f".{codec}", wire)
    assert ok
    msg = cdr_round_trip(compressed_msg("humble", encoded.reshape(-1), f"{encoding}; {codec} compressed "), "humble")
    decoded = compressed_image_to_rgb8(msg)
    np.testing.assert_array_equal(decoded, raw)
    assert np.abs(decoded[2:-2, 2:-2].astype(int) - rgb[2:-2, 2:-2].astype(int)).mean() < 8.0  # the frame's colours
    # jpeg is 8-bit colour or grey: the plugin converts the mosaic to mono8 first, and grey it stays
    ok, grey_jpeg = cv2.imencode(".jpg", cv2.cvtColor(mosaic, cv2.COLOR_BayerBG2GRAY))
    assert ok
    grey_msg = compressed_msg("humble", grey_jpeg.reshape(-1), f"{encoding}; jpeg compressed mono8")
    grey = compressed_image_to_rgb8(grey_msg)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


@pytest.mark.parametrize(("image_format", "order"), [("rgb8; png compressed rgb8", "rgb"), ("png", "bgr")])
def test_a_format_naming_rgb_pixels_is_not_reordered(image_format: str, order: str) -> None:
    """The compressed pixels are in the order of the encoding after ``compressed`` (else the one before ``;``);
    a bare codec name means OpenCV's BGR."""
    rgb = smooth_rgb()
    ok, encoded = cv2.imencode(".png", rgb if order == "rgb" else rgb[..., ::-1])
    assert ok
    msg = compressed_msg("humble", encoded.reshape(-1), image_format)
    np.testing.assert_array_equal(compressed_image_to_rgb8(msg), rgb)


@pytest.mark.parametrize(("codec", "image_format"), [("JPEG", "jpeg"), ("TIFF", "tiff"), ("JPEG", "bgr8; jpeg")])
def test_a_cmyk_jpeg_or_tiff_decodes_to_its_rgb_colours(codec: str, image_format: str) -> None:
    """A CMYK file (Photoshop, PIL; no ROS tool writes one) decodes to its colours, as OpenCV's imdecode gives them to
    compressed_image_transport: JPEG in Adobe polarity (inverted CMYK, as PIL and OpenCV assume), converted to BGR by
    OpenCV; TIFF through libtiff's RGBA reader (BGRA, alpha dropped). Checked with OpenCV 4.6 and 5.0."""
    image_module = pytest.importorskip("PIL.Image")
    import io

    cmyk = np.random.default_rng(0).integers(0, 256, (6, 8, 4), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    buffer = io.BytesIO()
    image_module.fromarray(cmyk, "CMYK").save(buffer, codec, **({"quality": 100} if codec == "JPEG" else {}))
    msg = compressed_msg("humble", np.frombuffer(buffer.getvalue(), np.uint8), image_format)
    expected = (255 - cmyk[..., :3].astype(np.float64)) * (255 - cmyk[..., 3:].astype(np.float64)) / 255
    rgb = compressed_image_to_rgb8(msg)
    assert rgb.shape == (48, 64, 3)
    centres = np.abs(rgb.astype(np.float64) - expected)[4::8, 4::8]  # block centres: JPEG ringing stays at the edges
    assert centres.max() <= 2.0  # the colours, not their inverse (~255 off) nor red and blue swapped


def test_codec_parsing() -> None:
    assert compressed_codec("jpeg") == "jpeg"
    assert compressed_codec(" PNG ") == "png"
    assert compressed_codec("rgb8; jpeg compressed bgr8") == "jpeg"
    assert compressed_codec("mono8; jpeg compressed ") == "jpeg"
    with pytest.raises(EncodingError, match=r"'16UC1; compressedDepth png'.*compressed_depth_image_transport"):
        compressed_codec("16UC1; compressedDepth png")
    assert compressed_codec("rgb8; tiff compressed ") == "tiff"
    with pytest.raises(EncodingError, match="format 'webp' is not supported; expected 'jpeg', 'png', 'tiff'"):
        compressed_codec("webp")
    with pytest.raises(EncodingError, match="format '' is not supported"):
        compressed_codec("")


def test_decode_errors_name_the_problem() -> None:
    with pytest.raises(EncodingError, match=r"CompressedImage \('jpeg'\) has no data"):
        compressed_image_to_array(compressed_msg("humble", np.zeros(0, dtype=np.uint8), "jpeg"))
    junk = np.frombuffer(b"definitely not a jpeg", dtype=np.uint8).copy()
    with pytest.raises(EncodingError, match=r"cannot decode 21 bytes of CompressedImage data as jpeg"):
        compressed_image_to_array(compressed_msg("humble", junk, "jpeg"))
    with pytest.raises(EncodingError, match="compressedDepth"):
        compressed_image_to_array(compressed_msg("humble", junk, "16UC1; compressedDepth"))


def test_a_float_tiff_is_refused_as_colour_input() -> None:
    ok, encoded = cv2.imencode(".tiff", np.ones((4, 5), dtype=np.float32))
    assert ok
    with pytest.raises(EncodingError, match=r"\('tiff'\) holds float32 pixels"):
        compressed_image_to_rgb8(compressed_msg("humble", encoded.reshape(-1), "tiff"))


def test_encode_errors_name_the_problem() -> None:
    factory = rosbags_factory("humble")
    header = input_header(factory)
    rgb = smooth_rgb(4, 4)
    with pytest.raises(EncodingError, match="codec 'webp' is not supported"):
        compressed_image_from_array(factory, rgb, header, codec="webp")
    with pytest.raises(ConfigError, match=r"jpeg_quality 0 must be in 1\.\.100"):
        compressed_image_from_array(factory, rgb, header, jpeg_quality=0)
    with pytest.raises(EncodingError, match="16-bit grey images can only be compressed as png"):
        compressed_image_from_array(factory, np.zeros((4, 4), dtype=np.uint16), header)
    with pytest.raises(ShapeError, match=r"shape \(4, 4, 3\) and dtype float32"):
        compressed_image_from_array(factory, rgb.astype(np.float32), header)
    with pytest.raises(ShapeError, match="empty image"):
        compressed_image_from_array(factory, np.zeros((0, 4, 3), dtype=np.uint8), header)


def _png_declaring(width: int, height: int) -> npt.NDArray[np.uint8]:
    """An 8-bit RGB PNG declaring ``width`` x ``height``, with (at most) its first 64 rows of zeros: a few bytes on
    the wire (a complete image of 64 rows or fewer; a real bomb deflates all its rows to ~1/1000 of their size)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + 3 * width)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(min(height, 64))) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return np.frombuffer(png, dtype=np.uint8)


def _jpeg_declaring(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A small real JPEG whose SOF0 frame header is rewritten to declare ``width`` x ``height``."""
    ok, encoded = cv2.imencode(".jpg", np.zeros((8, 8, 3), dtype=np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return np.frombuffer(bytes(data), dtype=np.uint8)


def _tiff_declaring(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A small real TIFF (OpenCV's, little-endian) whose first IFD is rewritten to declare ``width`` x ``height``."""
    import struct

    ok, encoded = cv2.imencode(".tiff", np.zeros((8, 8, 3), dtype=np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for at in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<H" if kind == 3 else "<I", data, at + 8, value)
    return np.frombuffer(bytes(data), dtype=np.uint8)


@pytest.mark.parametrize("make", [_png_declaring, _jpeg_declaring, _tiff_declaring], ids=["png", "jpeg", "tiff"])
def test_a_compressed_image_declaring_more_pixels_than_any_camera_is_refused_before_decoding(make: Any) -> None:
    """A message declaring 30000 x 30000 pixels in its header is refused before any pixel is decoded, naming the size
    and the limit (a complete 2.6 MB PNG of that size, a decompression bomb, was decoded to 2.7 GB: 5 GB of RSS with
    the channel copy)."""
    image_format = {_png_declaring: "png", _jpeg_declaring: "jpeg", _tiff_declaring: "tiff"}[make]
    data = make(30000, 30000)
    with pytest.raises(EncodingError, match=r"30000x30000.*limit"):
        compressed_image_to_array(compressed_msg("humble", data, image_format))
    assert declared_size(make(64, 48)) == (64, 48)
    if make is _png_declaring:  # a complete image at a camera's size still decodes
        assert compressed_image_to_array(compressed_msg("humble", make(64, 48), image_format)).shape[:2] == (48, 64)
    ok, real_jpeg = cv2.imencode(".jpg", smooth_rgb(24, 32))  # OpenCV's JFIF (APP0, DQT, SOF0 ...)
    assert ok and declared_size(real_jpeg.reshape(-1)) == (32, 24)
    assert declared_size(np.frombuffer(b"\xff\xd8\xff", dtype=np.uint8)) is None  # header cut short


def test_a_jpeg_cut_short_is_told_from_a_whole_one_past_thumbnails_fill_bytes_and_trailers(nyu_dir: Path) -> None:
    """:func:`jpeg_cut_short` on the real NYU frame: whole, with an EXIF thumbnail (a JPEG of its own, end marker
    included, inside APP1), with fill bytes before a marker, progressive, and with a trailer holding ``FF DA`` (a
    motion photo's video) it is whole; cut inside its first or a later scan (the thumbnail's end marker before it)
    or inside its headers it is cut short; other data is no JPEG."""
    whole = (nyu_dir / "rgb" / "rgb_00050.jpg").read_bytes()
    ok, thumb = cv2.imencode(".jpg", smooth_rgb())
    assert ok
    app1 = b"\xff\xe1" + (len(thumb) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + thumb.tobytes()
    exif = whole[:2] + app1 + whole[2:]
    filled = whole[:2] + b"\xff\xff" + whole[2:]
    bgr = cv2.imread(str(nyu_dir / "rgb" / "rgb_00050.jpg"))
    assert bgr is not None
    ok, progressive = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    video = b"\x00\x00\x00\x18ftypmp42\x65\xff\xda\x07" + bytes(64)
    second = progressive.tobytes().index(b"\xff\xda", progressive.tobytes().index(b"\xff\xda") + 2)
    for data in (whole, exif, filled, progressive.tobytes(), whole + video, exif + video):
        assert not jpeg_cut_short(np.frombuffer(data, dtype=np.uint8))
    scan = exif.index(b"\xff\xda", len(app1))
    for data in (exif[: scan + 3000], exif[: scan + 3000] + video, progressive.tobytes()[: second + 500], exif[:40]):
        assert jpeg_cut_short(np.frombuffer(data, dtype=np.uint8))
    assert not jpeg_cut_short(np.frombuffer(b"\x89PNG\r\n\x1a\n" + bytes(40), dtype=np.uint8))


@pytest.mark.parametrize(
    "image_format", ["16UC1; png compressed ", "16UC1; tiff compressed ", "32FC1; tiff compressed "]
)
def test_a_depth_cameras_compressed_image_is_refused_as_the_raw_depth_image_is(
    kitti_depth_dir: Path, image_format: str
) -> None:
    """A depth camera's image as compressed_image_transport writes it (png / tiff keep a 16UC1 image's millimetres,
    ``"16UC1; png compressed "``) on the image topic: the raw Image of the same depth is refused as no camera
    picture; before, the compressed one was decoded as a grey picture and the network ran on a depth map."""
    depth_png = cv2.imread(str(sorted((kitti_depth_dir / "depth").glob("*.png"))[0]), cv2.IMREAD_UNCHANGED)
    assert depth_png is not None and depth_png.dtype == np.uint16  # KITTI depth: value / 256 m
    assert np.count_nonzero(depth_png) > 1000
    depth_mm = np.round(depth_png.astype(np.float64) / 256.0 * 1000.0).astype(np.uint16)
    depth = depth_mm if image_format.startswith("16UC1") else (depth_mm / np.float32(1000.0)).astype(np.float32)
    ok, encoded = cv2.imencode(".png" if "png" in image_format else ".tiff", depth)
    assert ok
    encoding = image_format.split(";")[0]
    raw = image_from_array(rosbags_factory("humble"), depth, encoding, input_header(rosbags_factory("humble")))
    with pytest.raises(EncodingError, match=rf"'{encoding}' is not a colour encoding: a depth image; set image_topic"):
        image_to_rgb8(raw)
    message = compressed_msg("humble", encoded.reshape(-1), image_format)
    with pytest.raises(EncodingError, match=rf"'{encoding}' is not a colour encoding: a depth image; set image_topic"):
        compressed_image_to_rgb8(message)
    assert compressed_image_to_array(message).shape == depth.shape  # its pixels, for a reader that wants depth


@pytest.mark.parametrize("image_format", ["8UC1; png compressed ", "8UC3; png compressed ", "16UC3; tiff compressed "])
def test_an_opencv_type_named_compressed_image_is_refused_as_the_raw_image_is(
    kitti_object_dir: Path, image_format: str
) -> None:
    """KITTI 000002 as an image of an OpenCV type name (``8UC1``: the pixel type, not what its channels are), raw and
    as compressed_image_transport writes it: the raw Image was refused (cv_bridge refuses it as rgb8 too) and the
    compressed one decoded, as a grey (8UC1) or BGR (8UC3) picture: one camera, two answers by transport."""
    bgr = cv2.imread(str(kitti_object_dir / "image_2" / "000002.png"))
    assert bgr is not None
    encoding = image_format.split(";")[0]
    pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if encoding == "8UC1" else bgr
    pixels = pixels.astype(np.uint16) * 257 if encoding.startswith("16") else pixels
    ok, encoded = cv2.imencode(".png" if "png" in image_format else ".tiff", pixels)
    assert ok
    layout = {"8UC1": "mono8", "8UC3": "bgr8", "16UC3": "bgr16"}[encoding]  # the bytes of that layout, renamed
    raw = image_from_array(rosbags_factory("humble"), pixels, layout, input_header(rosbags_factory("humble")))
    raw.encoding = encoding
    refusal = rf"'{encoding}' is not a colour encoding: it names the pixel type only"
    with pytest.raises(EncodingError, match=refusal):
        image_to_rgb8(raw)
    with pytest.raises(EncodingError, match=refusal):
        compressed_image_to_rgb8(compressed_msg("humble", encoded.reshape(-1), image_format))


def test_a_12_bit_png_scales_with_significant_bits_and_its_peak_is_read() -> None:
    """A 12-bit camera's mono16 (0..4095) and a bgr16 png (compressed_image_transport's colour png): the raw Image's
    scaling by 255 / (2**significant_bits - 1); the peak is read for 16-bit formats only."""
    factory = rosbags_factory("humble")
    header = input_header(factory)
    grey = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    twelve = np.rint(grey.astype(np.float64) * 4095 / 255).astype(np.uint16)
    mono = compressed_image_from_array(factory, twelve, header, codec="png")
    assert compressed_image_to_rgb8(mono).max() <= 16  # cv_bridge's scale: 16x too dark
    np.testing.assert_array_equal(compressed_image_to_rgb8(mono, 12)[..., 0], grey)
    assert compressed_sixteen_bit_peak(mono) == 4095
    rgb = smooth_rgb()
    rgb12 = np.rint(rgb.astype(np.float64) * 4095 / 255).astype(np.uint16)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb12[..., ::-1]))
    assert ok
    colour = compressed_msg("humble", png.ravel(), "rgb16; png compressed bgr16")
    np.testing.assert_array_equal(compressed_image_to_rgb8(colour, 12), rgb)
    assert compressed_sixteen_bit_peak(colour) == int(rgb12.max())
    jpeg = compressed_image_from_array(factory, rgb, header)
    assert compressed_sixteen_bit_peak(jpeg) is None  # 8-bit named: not decoded again


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="known gap: a cut frame followed by an older frame's tail (usb_cam mjpeg publishes the whole V4L2 buffer) "
    "ends with that frame's FF D9; only an entropy decode can tell, and libjpeg's warning (on stderr, not exposed by "
    "cv2 or PIL) is missing for about a quarter of such splices (bench/RESULTS-session-notes.md, explore113)",
)
def test_a_cut_jpeg_followed_by_a_stale_frames_tail_is_cut_short(nyu_dir: Path) -> None:
    """usb_cam (mjpeg) publishes the whole V4L2 buffer: a frame cut in the middle is followed there by the tail of an
    older, longer frame, whose end marker ``FF D9`` then follows the cut frame's scan, and zeros. The decoder takes
    the stale bytes as the cut frame's own: no error, the image is whole above the cut and garbled below it. This
    shows it decodes silently; :func:`jpeg_cut_short` should (and does not yet) tell it cut short."""
    new = (nyu_dir / "rgb" / "rgb_00100.jpg").read_bytes()
    old = (nyu_dir / "rgb" / "rgb_00050.jpg").read_bytes()
    assert len(old) > len(new)
    buffer = np.zeros(64 * 1024, dtype=np.uint8)  # the V4L2 buffer, as published
    buffer[: len(old)] = np.frombuffer(old, dtype=np.uint8)
    buffer[: len(new) // 2] = np.frombuffer(new, dtype=np.uint8)[: len(new) // 2]  # the new frame, cut

    decoded = compressed_image_to_array(compressed_msg("humble", buffer, "jpeg"))  # no EncodingError: silent
    reference = compressed_image_to_array(compressed_msg("humble", np.frombuffer(new, dtype=np.uint8), "jpeg"))
    error = np.abs(decoded.astype(np.int16) - reference.astype(np.int16)).mean(axis=(1, 2))  # per row, 8-bit levels
    rows = error.shape[0]
    whole_above, garbled_below = error[: rows // 4].max() == 0, error[-rows // 4 :].mean() > 20
    if not (whole_above and garbled_below):  # the premise: not an AssertionError, which the xfail would take
        pytest.fail(f"the splice no longer decodes whole above the cut and garbled below it: {error[:: rows // 8]}")
    assert jpeg_cut_short(buffer)
