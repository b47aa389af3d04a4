from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mono_depth_ros.core.errors import CalibrationError, DataFileError, ShapeError
from mono_depth_ros.training.data.kitti_files import (
    load_depth_png,
    load_object_calibration,
    load_rgb,
    load_velodyne,
    raw_image_extension,
    raw_image_message,
    read_calib_file,
    read_depth_png,
)


def test_calibration_of_frame_1(kitti_object_dir: Path) -> None:
    calib = load_object_calibration(kitti_object_dir / "calib" / "000001.txt", 1242, 375)
    assert calib.intrinsics.fx == pytest.approx(721.5377)
    assert calib.intrinsics.cx == pytest.approx(609.5593)
    # camera 2 sits ~6 cm left of camera 0: P2[0,3] / fx = 44.857 / 721.5 m
    raw = read_calib_file(kitti_object_dir / "calib" / "000001.txt")
    r0 = raw["R0_rect"].reshape(3, 3)
    velo_to_cam = raw["Tr_velo_to_cam"].reshape(3, 4)
    p2 = raw["P2"].reshape(3, 4)
    point_velo = np.array([10.0, 1.0, -1.0])
    rect0 = r0 @ (velo_to_cam[:, :3] @ point_velo + velo_to_cam[:, 3])
    pixel = p2 @ np.append(rect0, 1.0)
    mine = calib.cam_from_velo.apply(point_velo)
    u = calib.intrinsics.fx * mine[0] / mine[2] + calib.intrinsics.cx
    assert u == pytest.approx(pixel[0] / pixel[2], abs=1e-6)
    assert (calib.cam_from_velo.dst_frame, calib.cam_from_velo.src_frame) == ("camera", "velodyne")


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "calib.txt"
    bad.write_text("P0: 1 2 3\n")
    with pytest.raises(CalibrationError, match=r"calib\.txt"):
        load_object_calibration(bad, 10, 10)
    truncated = tmp_path / "scan.bin"
    np.arange(7, dtype=np.float32).tofile(truncated)
    with pytest.raises(ShapeError, match="multiple of 4"):
        load_velodyne(truncated)
    with pytest.raises(DataFileError, match="no such depth PNG file"):
        load_depth_png(tmp_path / "missing.png")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFileError, match="exists but is not a decodable image"):
        load_rgb(garbage)


def test_read_depth_png_keeps_the_stored_values_and_refuses_other_pngs(tmp_path: Path) -> None:
    values = np.array([[0, 1, 256], [65535, 1000, 7]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), values)
    read = read_depth_png(tmp_path / "d.png")
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, values)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ShapeError, match=r"depth PNG must be single-channel uint16, got uint8 \(2, 3, 3\)"):
        read_depth_png(tmp_path / "rgb.png")
    with pytest.raises(ShapeError, match="must be single-channel uint16 millimetres, got uint8"):
        read_depth_png(tmp_path / "rgb.png", "millimetres")
    with pytest.raises(DataFileError, match="no such depth PNG file"):
        read_depth_png(tmp_path / "missing.png")


def test_annotated_depth_png(kitti_depth_dir: Path) -> None:
    depth = load_depth_png(kitti_depth_dir / "depth" / "0000000005.png")
    assert depth.shape == (375, 1242) and depth.dtype == np.float32
    valid = np.isfinite(depth)
    assert 0.1 < valid.mean() < 0.3
    assert np.nanmin(depth) > 1.0 and np.nanmax(depth) < 90.0


def test_a_truncated_jpeg_is_refused_not_read_as_a_grey_frame(tmp_path: Path, nyu_dir: Path) -> None:
    """libjpeg decodes a JPEG cut short (an interrupted copy or download) up to the cut and fills the rest with grey,
    saying only 'Premature end of JPEG file' on stderr, of no file: the real NYU frame cut to 3000 bytes was read as a
    480×640 image 96 % grey and scored by `mono-depth eval` (and trained on). Its entropy-coded data after the last
    start of scan never reaches the end-of-image marker: refused naming the file. A whole JPEG with bytes after its
    end marker (a phone's trailer) is read as before."""
    whole = (nyu_dir / "rgb" / "rgb_00050.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[:3000])
    with pytest.raises(DataFileError, match=r"cut\.jpg.*truncated.*replace or remove it"):
        load_rgb(cut)
    trailer = tmp_path / "trailer.JPG"
    trailer.write_bytes(whole + b"SEFH\x00\x00trailing data SEFT")
    bgr = cv2.imread(str(nyu_dir / "rgb" / "rgb_00050.jpg"))
    assert bgr is not None
    expected = bgr[..., ::-1]
    np.testing.assert_array_equal(load_rgb(trailer), expected)
    np.testing.assert_array_equal(load_rgb(nyu_dir / "rgb" / "rgb_00050.jpg"), expected)


def test_a_jpeg_whose_trailer_holds_the_start_of_scan_bytes_is_read(tmp_path: Path, nyu_dir: Path) -> None:
    """A motion photo (the JPEG, then its MP4 video) is whole, but its video's bytes may hold ``FF DA`` with no
    ``FF D9`` after them: looking for the end marker after the *last* ``FF DA`` of the file refused 12 of 20 such
    files (the real NYU frame + 200 kB of seeded random video), in ``load_rgb`` and in the training folder check
    alike; the end marker is looked for after the *first* scan, found by walking the segment headers. A frame cut
    short, inside its scans or its headers, is still refused by both."""
    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.training.data.folder_check import readable_image_size

    whole = (nyu_dir / "rgb" / "rgb_00050.jpg").read_bytes()
    expected = load_rgb(nyu_dir / "rgb" / "rgb_00050.jpg")
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(16) + b"\x00\x00\x10\x08mdat" + b"\x65\xff\xda\x07" + bytes(4096)
    motion = tmp_path / "motion.jpg"
    motion.write_bytes(whole + video)
    np.testing.assert_array_equal(load_rgb(motion), expected)
    assert readable_image_size(motion) == (640, 480)
    scan = whole.index(b"\xff\xda")
    for name, cut in (("scan", whole[: scan + 2000] + video), ("header", whole[: scan - 10])):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(cut)
        with pytest.raises(DataFileError, match=rf"{name}\.jpg"):  # the header cut: no image at all for OpenCV
            load_rgb(path)
        with pytest.raises(ConfigError, match=rf"{name}\.jpg"):
            readable_image_size(path)


def test_raw_image_extension_is_the_one_the_drive_holds(tmp_path: Path) -> None:
    """KITTI raw as downloaded (.png), monodepth2's converted copy (.jpg), both (.png wins), neither (.png, the name
    a missing-file message gives; :func:`raw_image_message` adds the other)."""
    stem = tmp_path / "0000000000"
    assert raw_image_extension(stem) == ".png"
    stem.with_suffix(".jpg").write_bytes(b"")
    assert raw_image_extension(stem) == ".jpg"
    stem.with_suffix(".png").write_bytes(b"")
    assert raw_image_extension(stem) == ".png"
    assert raw_image_message("x missing").endswith("(images are read as .png or .jpg, whichever the drive holds)")
