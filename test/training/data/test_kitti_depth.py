"""KITTI annotated depth: the Metric3D demo frames (real data), the official and val_selection layouts (tmp trees)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.kitti_depth import KittiDepthDataset

WIDTH, HEIGHT = 16, 8


def test_annotated_demo_frames_in_metres(kitti_depth_dir: Path) -> None:
    dataset = KittiDepthDataset.from_annotations(kitti_depth_dir)
    assert len(dataset) == 3
    assert [r.name for r in dataset.records] == [f"rgb/{n:010d}.png" for n in (5, 50, 100)]
    sample = dataset[0]
    assert sample.rgb.shape == (3, 375, 1242) and 0.0 <= float(sample.rgb.min()) <= float(sample.rgb.max()) <= 1.0
    raw = cv2.imread(str(kitti_depth_dir / "depth" / "0000000005.png"), cv2.IMREAD_UNCHANGED)
    depth = sample.depth[0].numpy()
    np.testing.assert_array_equal(np.isnan(depth), raw == 0)
    np.testing.assert_allclose(depth[raw > 0], raw[raw > 0] / 256.0, rtol=1e-6)  # uint16 / 256 = metres
    assert 0.15 < np.isfinite(depth).mean() < 0.25  # ~20 % of pixels annotated
    assert np.nanmin(depth) > 1.0 and np.nanmax(depth) < 90.0
    annotations = json.loads((kitti_depth_dir / "test_annotations.json").read_text())
    fx, fy, cx, cy = annotations["files"][0]["cam_in"]
    torch.testing.assert_close(sample.k, torch.tensor([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=torch.float32))
    assert torch.isnan(sample.sparse_depth).all()


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), array)


def _calib(date_dir: Path) -> None:
    date_dir.mkdir(parents=True, exist_ok=True)
    p2 = "20 0 7.5 2.0 0 21 3.5 0 0 0 1 0"
    p3 = "20 0 7.0 -10.0 0 21 3.5 0 0 0 1 0"
    (date_dir / "calib_cam_to_cam.txt").write_text(
        f"R_rect_00: 1 0 0 0 1 0 0 0 1\nS_rect_02: {WIDTH} {HEIGHT}\nP_rect_02: {p2}\n"
        f"S_rect_03: {WIDTH} {HEIGHT}\nP_rect_03: {p3}\n"
    )
    (date_dir / "calib_velo_to_cam.txt").write_text("R: 1 0 0 0 1 0 0 0 1\nT: 0 0 0\n")


def test_official_layout(tmp_path: Path) -> None:
    drive = "2011_09_26_drive_0001_sync"
    gt = np.zeros((HEIGHT, WIDTH), dtype=np.uint16)
    gt[2, 3] = 256 * 10  # 10 m
    sparse = np.zeros_like(gt)
    sparse[5, 6] = 512  # 2 m
    for frame in (4, 5, 6):
        for camera in ("image_02", "image_03"):
            _png(tmp_path / "raw/2011_09_26" / drive / camera / "data" / f"{frame:010d}.png",
                 np.full((HEIGHT, WIDTH, 3), frame * 10, dtype=np.uint8))  # fmt: skip
    for camera in ("image_02", "image_03"):
        _png(tmp_path / "annotated/train" / drive / "proj_depth/groundtruth" / camera / "0000000005.png", gt)
        _png(tmp_path / "velodyne/train" / drive / "proj_depth/velodyne_raw" / camera / "0000000005.png", sparse)
    _calib(tmp_path / "raw/2011_09_26")
    dataset = KittiDepthDataset.from_official(
        tmp_path / "annotated", tmp_path / "raw", "train", sparse_root=tmp_path / "velodyne", frame_offsets=(-1, 1)
    )
    assert len(dataset) == 2
    left, right = dataset[0], dataset[1]
    assert left.name == f"train/{drive}/image_02/0000000005"
    assert float(left.depth[0, 2, 3]) == 10.0 and int(torch.isfinite(left.depth).sum()) == 1
    assert float(left.sparse_depth[0, 5, 6]) == 2.0 and int(torch.isfinite(left.sparse_depth).sum()) == 1
    assert float(left.k[0, 2]) == 7.5 and float(right.k[0, 2]) == 7.0
    assert left.source_offsets == (-1, 1)
    assert float(left.sources[0].mean()) == pytest.approx(40 / 255)
    assert float(left.rgb.mean()) == pytest.approx(50 / 255)
    with pytest.raises(ConfigError, match="no annotated depth"):
        KittiDepthDataset.from_official(tmp_path / "annotated", tmp_path / "raw", "val")
    with pytest.raises(ConfigError, match="do not exist"):
        KittiDepthDataset.from_official(tmp_path / "annotated", tmp_path / "raw", "train", frame_offsets=(2,))


def test_val_selection_layout(tmp_path: Path) -> None:
    stem = "2011_09_26_drive_0002_sync_{}_0000000005_image_02"
    gt = np.zeros((HEIGHT, WIDTH), dtype=np.uint16)
    gt[1, 1] = 1280  # 5 m
    _png(tmp_path / "image" / f"{stem.format('image')}.png", np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8))
    _png(tmp_path / "groundtruth_depth" / f"{stem.format('groundtruth_depth')}.png", gt)
    _png(tmp_path / "velodyne_raw" / f"{stem.format('velodyne_raw')}.png", gt)
    (tmp_path / "intrinsics").mkdir()
    (tmp_path / "intrinsics" / f"{stem.format('image')}.txt").write_text("721.5 0 609.5 0 721.5 172.8 0 0 1\n")
    dataset = KittiDepthDataset.from_val_selection(tmp_path)
    sample = dataset[0]
    assert float(sample.depth[0, 1, 1]) == 5.0 and float(sample.sparse_depth[0, 1, 1]) == 5.0
    assert sample.k[0].tolist() == pytest.approx([721.5, 0.0, 609.5])
    assert sample.k[1].tolist() == pytest.approx([0.0, 721.5, 172.8])
    (tmp_path / "intrinsics" / f"{stem.format('image')}.txt").write_text("1 2 3\n")
    with pytest.raises(ConfigError, match="9 values"):
        KittiDepthDataset.from_val_selection(tmp_path)
    with pytest.raises(ConfigError, match="no images"):
        KittiDepthDataset.from_val_selection(tmp_path / "nothing")


def test_official_layout_reads_monodepth2s_jpeg_copy_of_kitti_raw(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """The annotated depth of the real KITTI demo frames beside a raw tree whose images are monodepth2's ``.jpg``
    copies (its default preparation): each frame is the converted image. Before, ``from_official`` looked for
    ``.png`` only and refused every frame as missing; a tree with neither names both extensions."""
    from mono_depth_ros.training.data.kitti_files import load_rgb
    from test.kitti_raw_tree import IMPROVED_DRIVE, add_improved_drive

    indices = add_improved_drive(kitti_depth_dir, tmp_path / "raw")
    annotated = tmp_path / "annotated" / "train" / Path(IMPROVED_DRIVE).name
    annotated.mkdir(parents=True)
    (annotated / "proj_depth").symlink_to(tmp_path / "raw" / IMPROVED_DRIVE / "proj_depth")
    images = tmp_path / "raw" / IMPROVED_DRIVE / "image_02" / "data"
    for png in sorted(images.glob("*.png")):
        cv2.imwrite(str(png.with_suffix(".jpg")), load_rgb(png)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        png.unlink()
    dataset = KittiDepthDataset.from_official(tmp_path / "annotated", tmp_path / "raw", "train", cameras=(2,))
    assert [r.rgb_path.name for r in dataset.records] == [f"{i:010d}.jpg" for i in indices]
    jpeg = load_rgb(images / f"{indices[0]:010d}.jpg")
    torch.testing.assert_close(dataset[0].rgb, torch.from_numpy(jpeg.transpose(2, 0, 1).copy()).float() / 255)
    assert 50_000 < int(torch.isfinite(dataset[0].depth).sum()) < 150_000
    for jpg in images.glob("*.jpg"):
        jpg.unlink()
    with pytest.raises(ConfigError, match=rf"{indices[0]:010d}\.png.*\.jpg"):
        KittiDepthDataset.from_official(tmp_path / "annotated", tmp_path / "raw", "train", cameras=(2,))
