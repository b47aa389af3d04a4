"""Every file of a folder dataset checked from its header before training: what the loader would only find at the
batch holding the frame (a ``ShapeError`` raised inside a ``DataLoader`` worker, hours into a run) is refused when
the datasets are built, naming the file and the remedy.

Checked per frame, without decoding pixels: the image size (PNG ``IHDR``, JPEG ``SOFn``; a JPEG without its ``EOI``
is refused, a PNG cut short before its ``IEND`` or a file of neither kind decoded once: refused when it cannot be), a
depth or sparse-depth PNG being single-channel 16-bit of the image's size, a ``.npy`` / ``.npz`` being a 2-D float
array of that size, a ``seen/`` mask of that size, the sources of a sequence frame being of the target's size, and
(:func:`check_folder`) each frame being of its intrinsics' image size.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mono_depth_ros.core.errors import ConfigError, DataFileError
from mono_depth_ros.training.data.folder import FolderDataset
from mono_depth_ros.training.data.kitti_files import jpeg_is_truncated, unreadable_file_message
from mono_depth_ros.training.data.records import DepthFile, FrameRecord

Size = tuple[int, int]  # width, height in pixels
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOURS = {0: "grey", 2: "RGB", 3: "palette", 4: "grey + alpha", 6: "RGBA"}
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0..SOF15 (not DHT, JPG, DAC)


def png_header(path: Path) -> tuple[int, int, int, int] | None:
    """``(width, height, bit depth, colour type)`` of a PNG's ``IHDR``; None when ``path`` is no PNG."""
    with Path(path).open("rb") as stream:
        head = stream.read(29)
    if len(head) < 29 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, bits, colour = struct.unpack(">IIBB", head[16:26])
    return int(width), int(height), int(bits), int(colour)


def _jpeg_segments(stream: BinaryIO, stop: frozenset[int]) -> int | None:
    """Walk a JPEG's segment headers from after SOI to the first marker in ``stop``; that marker (the stream just
    after its length), or None when the file is no JPEG, is cut short there or has a corrupt segment length."""
    if stream.read(2) != b"\xff\xd8":
        return None
    while True:
        marker = stream.read(4)
        if len(marker) < 4 or marker[0] != 0xFF:
            return None
        (length,) = struct.unpack(">H", marker[2:])
        if length < 2:  # a corrupt segment length: unknown, left to the loader
            return None
        if marker[1] in stop:
            return int(marker[1])
        stream.seek(length - 2, 1)


def jpeg_size(path: Path) -> Size | None:
    """``(width, height)`` of a JPEG's frame header (``SOFn``); None when ``path`` is no JPEG or it is cut short."""
    with Path(path).open("rb") as stream:
        if _jpeg_segments(stream, _JPEG_FRAME_MARKERS) is None:
            return None
        frame = stream.read(5)
    if len(frame) < 5:
        return None
    height, width = struct.unpack(">HH", frame[1:])
    return int(width), int(height)


def image_size(path: Path) -> Size | None:
    """``(width, height)`` of a PNG or JPEG from its header; None for another format (not checked here)."""
    png = png_header(path)
    return (png[0], png[1]) if png is not None else jpeg_size(path)


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk and its CRC: a PNG's last 12 bytes


def _ends_with(path: Path, end: bytes) -> bool:
    with Path(path).open("rb") as stream:
        stream.seek(0, 2)
        if stream.tell() < len(end):
            return False
        stream.seek(-len(end), 2)
        return stream.read() == end


def _png_complete(path: Path) -> bool:
    return _ends_with(path, _PNG_END)


def _jpeg_complete(path: Path) -> bool:
    """Whether a JPEG holds its end marker (EOI) after its first scan, whatever trailer follows it
    (:func:`~.kitti_files.jpeg_is_truncated`, which the loader's :func:`~.kitti_files.load_rgb` refuses as well)."""
    return not jpeg_is_truncated(path)


def readable_image_size(path: Path) -> Size:
    """``(width, height)`` of an image the loader can read: the header of a whole PNG or JPEG (ending with its
    ``IEND`` / ``EOI``); a JPEG without its ``EOI`` is refused (OpenCV reads it, the missing rows grey); any other
    file (a PNG without its end, a file of another format, an empty one) is decoded once to know.

    Raises:
        ConfigError: the file cannot be decoded, naming it and the remedy.
    """
    png = png_header(path)
    if png is not None and _png_complete(path):
        return png[0], png[1]
    size = jpeg_size(path) if png is None else None
    if size is not None and not _jpeg_complete(path):  # OpenCV reads it, its missing rows grey (128)
        msg = (
            f"{path}: the JPEG ends before its end marker (EOI): cut short, as an interrupted copy leaves it "
            f"(OpenCV reads it with the missing rows grey); copy it again"
        )
        raise ConfigError(msg)
    if size is not None:
        return size
    return _require_decodable(path, "image")


def _require_decodable(path: Path, what: str) -> Size:
    """``(width, height)`` of ``path`` decoded by OpenCV as the loader decodes it.

    Raises:
        ConfigError: it cannot be decoded, naming it and the remedy.
    """
    import cv2

    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR if what == "image" else cv2.IMREAD_UNCHANGED)
    if decoded is None:
        msg = f"{unreadable_file_message(path, what)} (an interrupted copy leaves such files: copy it again)"
        raise ConfigError(msg)
    return int(decoded.shape[1]), int(decoded.shape[0])


def _array_header(path: Path) -> tuple[tuple[int, ...], np.dtype[np.generic]]:
    """Shape (singleton axes dropped, as the loader drops them) and dtype of an ``.npy`` or of the array of an
    ``.npz`` (its only one, else ``depth``) the loader reads, from the array's header: an ``.npz`` member is not
    decompressed past it.

    Raises:
        OSError, ValueError, KeyError: no such array, or not one NumPy reads (an ``.npz`` cut short included).
    """
    if path.suffix.lower() == ".npy":
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # the header only; pages read on access
        return tuple(int(n) for n in np.squeeze(array).shape), array.dtype
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name.removesuffix(".npy") for name in archive.namelist()]
            if not names:
                return (0,), np.dtype(np.float64)
            name = names[0] if len(names) == 1 else "depth"
            if name not in names:
                msg = f"no array named 'depth' among {names}"
                raise KeyError(msg)
            with archive.open(f"{name}.npy") as stream:
                version = np.lib.format.read_magic(stream)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(stream)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ValueError(err) from None
    return tuple(int(n) for n in shape if n != 1), dtype


def _check_depth(depth: DepthFile, image: Path, size: Size, what: str) -> None:
    path = depth.path
    width, height = size
    resize = (
        f"resize it to {width}x{height} with nearest-neighbour (cv2.resize(depth, ({width}, {height}), "
        f"interpolation=cv2.INTER_NEAREST)), or the image and its intrinsics to the depth's size"
    )
    if path.suffix.lower() == ".png":
        header = png_header(path)
        if header is None:
            msg = f"{path}: {what} is no PNG file (its suffix says PNG); write a uint16 PNG or a float .npy"
            raise ConfigError(msg)
        got_w, got_h, bits, colour = header
        if bits != 16 or colour != 0:
            msg = (
                f"{path}: {what} PNG is {bits}-bit {_PNG_COLOURS.get(colour, f'colour type {colour}')}; depth PNGs "
                f"are single-channel uint16 ({depth.png_scale:g} per metre, 0 = no data): an 8-bit or colour PNG "
                f"is a picture of depth, not depth; export the raw depth (uint16 PNG, or .npy float metres)"
            )
            raise ConfigError(msg)
        if (got_w, got_h) != size:
            msg = f"{path} is {got_w}x{got_h}, its image {image} is {width}x{height}: {resize}"
            raise ConfigError(msg)
        if not _png_complete(path):  # cut short after its header: decode it once to know
            _require_decodable(path, "depth PNG")
        return
    try:
        shape, dtype = _array_header(path)
    except (OSError, ValueError, KeyError) as err:
        msg = f"{path}: {what} cannot be read as a NumPy array ({err}); write it with np.save (float metres)"
        raise ConfigError(msg) from None
    if not np.issubdtype(dtype, np.floating) or len(shape) != 2:
        msg = (
            f"{path}: {what} is {dtype} {shape}; a .npy / .npz holds a 2-D array of float metres (NaN / <= 0 = no "
            f"data): for integer millimetres np.save(FILE, depth_mm / 1000.0), or write a uint16 PNG"
        )
        raise ConfigError(msg)
    if shape != (height, width):
        msg = f"{path} is {shape[1]}x{shape[0]}, its image {image} is {width}x{height}: {resize}"
        raise ConfigError(msg)


def sized(sizes: dict[Path, Size]) -> Callable[[Path], Size]:
    """:func:`readable_image_size` read once per file, into ``sizes`` (``(width, height)`` by path)."""

    def size_of(path: Path) -> Size:
        if path not in sizes:
            sizes[path] = readable_image_size(path)
        return sizes[path]

    return size_of


def source_of_another_size(record: FrameRecord, size_of: Callable[[Path], Size]) -> tuple[Path, Size] | None:
    """The first source of ``record`` whose image is not the size of its target's, with that size; None: all are."""
    size = size_of(record.rgb_path)
    return next(((source.path, other) for source in record.sources if (other := size_of(source.path)) != size), None)


def check_frame_files(records: Sequence[FrameRecord]) -> dict[Path, Size]:
    """Check every file of ``records`` from its header (see the module docstring); returns the image sizes read.

    Raises:
        ConfigError: a depth / sparse-depth / seen file that the loader would refuse, or a source of another size,
            naming the file and the remedy. DataFileError: a file that cannot be opened.
    """
    sizes: dict[Path, Size] = {}
    size_of = sized(sizes)
    for record in records:
        try:
            size = size_of(record.rgb_path)
            if (changed := source_of_another_size(record, size_of)) is not None:
                path, other = changed
                msg = (
                    f"{path} is {other[0]}x{other[1]}, the frame it is a source of ({record.rgb_path}) "
                    f"{size[0]}x{size[1]}: a sequence is one camera at one size; resize the frames (and their "
                    f"intrinsics) to one size, or split the folder where the size changes"
                )
                raise ConfigError(msg)
            for depth, what in ((record.depth, "depth"), (record.sparse_depth, "sparse depth")):
                if depth is not None:
                    _check_depth(depth, record.rgb_path, size, what)
            if record.seen is not None:
                header = png_header(record.seen)
                if header is not None and header[:2] != size:
                    msg = (
                        f"{record.seen} is {header[0]}x{header[1]}, its image {record.rgb_path} is {size[0]}x"
                        f"{size[1]}; write an 8-bit mask of the image's size"
                    )
                    raise ConfigError(msg)
        except OSError as err:
            msg = f"cannot read a file of frame {record.name}: {err}"
            raise DataFileError(msg) from None
    return sizes


def check_folder(dataset: FolderDataset) -> None:
    """:func:`check_frame_files` of a folder's frames, and its intrinsics against their image sizes: one intrinsics
    file is one camera in pixels of one image size (the size it states as ``image_width`` / ``image_height``, else
    that of its first frame), so a frame of another size under it would train with a camera matrix off by the
    size ratio.

    Raises:
        ConfigError: as :func:`check_frame_files`, or a frame whose size is not its intrinsics' size, naming the
            image, the intrinsics file and the remedy.
    """
    sizes = check_frame_files(dataset.records)
    first: dict[Path, tuple[Path, Size]] = {}
    for record, camera_file in zip(dataset.records, dataset.camera_files, strict=True):
        size = sizes[record.rgb_path]
        stated = dataset.calibrated_sizes.get(camera_file)
        if stated is not None and size != stated:
            msg = (
                f"{record.rgb_path} is {size[0]}x{size[1]}, but {camera_file} is calibrated at {stated[0]}x"
                f"{stated[1]} (image_width, image_height): its camera matrix is in pixels of that size; give the "
                f"images at that size, or the intrinsics of this one"
            )
            raise ConfigError(msg)
        image, expected = first.setdefault(camera_file, (record.rgb_path, size))
        if size != expected:
            frame_file = dataset.root / "intrinsics" / f"{record.rgb_path.stem}.json"
            msg = (
                f"{record.rgb_path} is {size[0]}x{size[1]}, but {camera_file} is one camera in pixels of one size, "
                f"that of {image.name} ({expected[0]}x{expected[1]}): give this frame its own intrinsics in "
                f"{frame_file} (a resized image's fx, fy, cx, cy scale with it), or resize it to "
                f"{expected[0]}x{expected[1]}"
            )
            raise ConfigError(msg)
