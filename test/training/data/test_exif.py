"""training/data/exif.py: the orientation tag of phone JPEGs and PNGs, as OpenCV's imread applies it."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.exif import exif_orientation
from mono_depth_ros.training.data.folder import require_upright
from mono_depth_ros.training.data.kitti_files import load_rgb


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_tag_is_read_as_opencv_applies_it(nyu_dir: Path, tmp_path: Path, suffix: str, orientation: int) -> None:
    Image = pytest.importorskip("PIL.Image")  # writes the EXIF block; only this test needs Pillow
    rgb = load_rgb(sorted((nyu_dir / "rgb").glob("*.jpg"))[0])
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "phone"  # another tag before it, as cameras write them
    path = tmp_path / f"frame{suffix}"
    Image.fromarray(rgb).save(path, exif=exif)
    assert exif_orientation(path) == orientation
    read = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert read is not None
    turned = read.shape[:2] != rgb.shape[:2]
    assert turned == (orientation in (6, 8))  # OpenCV turns the pixels as the tag says


def test_files_without_the_tag_are_as_stored(nyu_dir: Path, kitti_depth_dir: Path, tmp_path: Path) -> None:
    assert exif_orientation(sorted((nyu_dir / "rgb").glob("*.jpg"))[0]) == 1
    assert exif_orientation(sorted((kitti_depth_dir / "rgb").glob("*.png"))[0]) == 1
    (tmp_path / "x.bmp").write_bytes(b"BM" + bytes(60))
    assert exif_orientation(tmp_path / "x.bmp") == 1
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05")
    assert exif_orientation(tmp_path / "cut.jpg") == 1  # truncated EXIF: no tag read, no crash


def test_a_corrupt_segment_length_reads_as_no_tag(tmp_path: Path) -> None:
    from mono_depth_ros.training.data.folder_check import jpeg_size

    (tmp_path / "zero.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x00" + bytes(32))  # APP0 of length 0
    assert exif_orientation(tmp_path / "zero.jpg") == 1
    assert jpeg_size(tmp_path / "zero.jpg") is None


def _with_orientation(jpeg: bytes, order: bytes, kind: int, orientation: int) -> bytes:
    """``jpeg`` with an APP1 EXIF block whose only tag is the orientation, of TIFF type ``kind`` (3 SHORT, 4 LONG)."""
    o = "<" if order == b"II" else ">"
    value = struct.pack(f"{o}HH", orientation, 0) if kind == 3 else struct.pack(f"{o}I", orientation)
    ifd = struct.pack(f"{o}HHHI", 1, 0x0112, kind, 1) + value + struct.pack(f"{o}I", 0)
    segment = b"Exif\x00\x00" + order + struct.pack(f"{o}HI", 42, 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


@pytest.mark.parametrize("order", [b"II", b"MM"])
def test_an_orientation_stored_as_long_is_read(nyu_dir: Path, tmp_path: Path, order: bytes) -> None:
    frame = sorted((nyu_dir / "rgb").glob("*.jpg"))[0]
    stored = cv2.imread(str(frame), cv2.IMREAD_COLOR)
    assert stored is not None
    for kind in (3, 4):  # SHORT, as the standard says, and LONG, as some writers store it
        path = tmp_path / f"{order.decode()}_{kind}.jpg"
        path.write_bytes(_with_orientation(frame.read_bytes(), order, kind, 6))
        assert exif_orientation(path) == 6, kind
    read = cv2.imread(str(tmp_path / f"{order.decode()}_4.jpg"), cv2.IMREAD_COLOR)
    assert read is not None
    # OpenCV reads the value's first 2 bytes whatever the type: a little-endian LONG 6 turns the image
    assert (read.shape[:2] != stored.shape[:2]) == (order == b"II")
    with pytest.raises(ConfigError, match="EXIF orientation 6"):  # a folder dataset refuses it, not reads it turned
        require_upright(path)
