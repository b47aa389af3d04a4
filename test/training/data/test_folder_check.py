"""training/data/folder_check.py: a folder's files checked from their headers before training."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.folder import FolderDataset
from mono_depth_ros.training.data.folder_check import check_frame_files, image_size, jpeg_size, png_header


def test_header_sizes_are_the_decoded_sizes(nyu_dir: Path, kitti_depth_dir: Path, tmp_path: Path) -> None:
    files = [*sorted((nyu_dir / "rgb").glob("*.jpg")), *sorted((kitti_depth_dir / "rgb").glob("*.png"))]
    for path in files:
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert decoded is not None
        assert image_size(path) == (decoded.shape[1], decoded.shape[0])
    depth = sorted((kitti_depth_dir / "depth").glob("*.png"))[0]
    assert png_header(depth) == (1242, 375, 16, 0)  # single-channel uint16
    assert jpeg_size(depth) is None and png_header(files[0]) is None
    progressive = tmp_path / "p.jpg"  # a progressive frame header (SOF2), not SOF0
    rgb = cv2.imread(str(files[0]))
    assert rgb is not None
    cv2.imwrite(str(progressive), rgb[:100, :70], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert jpeg_size(progressive) == (70, 100)
    (tmp_path / "cut.jpg").write_bytes(progressive.read_bytes()[:30])
    assert jpeg_size(tmp_path / "cut.jpg") is None  # cut short: unknown, left to the loader


def test_a_sequence_of_frames_of_two_sizes_and_a_seen_mask_of_another(nyu_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "f"
    (root / "rgb").mkdir(parents=True)
    for i, image in enumerate(sorted((nyu_dir / "rgb").glob("*.jpg"))):
        (root / "rgb" / f"{i}.jpg").symlink_to(image)
    (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    check_frame_files(FolderDataset(root, frame_offsets=(-1, 1)).records)
    (root / "rgb" / "2.jpg").unlink()
    rgb = cv2.imread(str(sorted((nyu_dir / "rgb").glob("*.jpg"))[2]))
    assert rgb is not None
    cv2.imwrite(str(root / "rgb" / "2.jpg"), cv2.resize(rgb, (320, 240)))
    with pytest.raises(ConfigError, match=r"rgb/2\.jpg is 320x240, the frame it is a source of .*rgb/1\.jpg.* 640x480"):
        check_frame_files(FolderDataset(root, frame_offsets=(-1, 1)).records)
    (root / "seen").mkdir()
    cv2.imwrite(str(root / "seen" / "0.png"), np.full((240, 320), 255, dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"seen/0\.png is 320x240, its image .*rgb/0\.jpg is 640x480"):
        check_frame_files(FolderDataset(root).records)


def test_an_image_of_another_format_under_a_png_name_is_decoded_once(kitti_depth_dir: Path, tmp_path: Path) -> None:
    from mono_depth_ros.training.data.folder_check import readable_image_size

    rgb = cv2.imread(str(sorted((kitti_depth_dir / "rgb").glob("*.png"))[0]))
    assert rgb is not None
    cv2.imwrite(str(tmp_path / "x.bmp"), rgb[:50, :80])
    (tmp_path / "x.bmp").rename(tmp_path / "x.png")  # OpenCV reads by content: the loader takes it
    assert readable_image_size(tmp_path / "x.png") == (80, 50)
    (tmp_path / "x.png").write_bytes(b"<html>404</html>")
    with pytest.raises(ConfigError, match=r"x\.png: the file exists but is not a decodable image"):
        readable_image_size(tmp_path / "x.png")


def test_npz_depth_is_checked_from_its_array_header(
    nyu_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an .npz depth map was decompressed whole to read its shape (3.9 ms a frame: 3 min for a 45k-frame folder at
    # each training start), and one cut short by a copy raised zipfile.BadZipFile out of the build
    root = tmp_path / "f"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for image, depth in zip(
        sorted((nyu_dir / "rgb").glob("*.jpg")), sorted((nyu_dir / "depth").glob("*.png")), strict=True
    ):
        (root / "rgb" / image.name).symlink_to(image)
        raw = cv2.imread(str(depth), cv2.IMREAD_UNCHANGED)
        assert raw is not None
        np.savez_compressed(root / "depth" / f"{image.stem}.npz", depth=raw[None] / np.float32(1000.0))
    (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    records = FolderDataset(root).records

    def no_decompress(*_: object) -> None:
        raise AssertionError("an .npz array decompressed to read its shape")

    with monkeypatch.context() as patch:
        patch.setattr(np.lib.npyio.NpzFile, "__getitem__", no_decompress)
        check_frame_files(records)  # (1, 480, 640) float32: singleton axis dropped, as the loader does
        np.savez(root / "depth" / f"{records[0].rgb_path.stem}.npz", depth=np.zeros((240, 320), np.float32))
        with pytest.raises(ConfigError, match=r"\.npz is 320x240, its image .*640x480"):
            check_frame_files(records)
        np.savez(root / "depth" / f"{records[0].rgb_path.stem}.npz", depth=np.zeros((480, 640), np.int32))
        with pytest.raises(ConfigError, match=r"\.npz: depth is int32 \(480, 640\)"):
            check_frame_files(records)
        np.savez(root / "depth" / f"{records[0].rgb_path.stem}.npz", a=np.zeros(1), b=np.zeros(1))
        with pytest.raises(ConfigError, match=r"\.npz: depth cannot be read as a NumPy array"):
            check_frame_files(records)
    last = root / "depth" / f"{records[2].rgb_path.stem}.npz"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(ConfigError, match=r"\.npz: depth cannot be read as a NumPy array"):
        check_frame_files(records[1:])
