"""The shared file loader: depth units, listed paths, LiDAR projection, sources and poses."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_velodyne
from mono_depth_ros.training.data.records import (
    DepthFile,
    FrameRecord,
    LidarFile,
    RecordDataset,
    SourceFrame,
    check_files_exist,
    load_depth_file,
    records_from_annotation_json,
    resolve_listed_path,
)

CAMERA = (40.0, 41.0, 7.5, 4.25)


def write_rgb(path: Path, height: int = 10, width: int = 16, value: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.full((height, width, 3), value, dtype=np.uint8)
    rgb[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 10  # red ramp left to right
    cv2.imwrite(str(path), rgb[..., ::-1])
    return rgb


def test_depth_png_millimetres_kitti_scale_and_npy_metres(tmp_path: Path) -> None:
    raw = np.array([[0, 1000, 2500], [65535, 1, 0]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), raw)
    mm = load_depth_file(DepthFile(tmp_path / "d.png"))
    np.testing.assert_allclose(mm, [[np.nan, 1.0, 2.5], [65.535, 0.001, np.nan]], rtol=1e-6)
    kitti = load_depth_file(DepthFile(tmp_path / "d.png", png_scale=256.0))
    np.testing.assert_allclose(kitti, [[np.nan, 1000 / 256, 2500 / 256], [65535 / 256, 1 / 256, np.nan]], rtol=1e-6)
    np.save(tmp_path / "d.npy", np.array([[1.25, 0.0, -1.0], [np.inf, np.nan, 80.0]], dtype=np.float64))
    metres = load_depth_file(DepthFile(tmp_path / "d.npy"))
    assert metres.dtype == np.float32
    np.testing.assert_allclose(metres, [[1.25, np.nan, np.nan], [np.nan, np.nan, 80.0]])
    np.save(tmp_path / "bad.npy", np.ones((2, 2, 2), dtype=np.float32))
    with pytest.raises(ShapeError, match="2-D float"):
        load_depth_file(DepthFile(tmp_path / "bad.npy"))
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(ShapeError, match="uint16"):
        load_depth_file(DepthFile(tmp_path / "rgb.png"))


def test_resolve_listed_path_drops_missing_leading_components(tmp_path: Path) -> None:
    (tmp_path / "rgb").mkdir()
    (tmp_path / "rgb" / "a.png").write_bytes(b"")
    assert resolve_listed_path(tmp_path, "data/kitti_demo/rgb/a.png") == tmp_path / "rgb" / "a.png"
    assert resolve_listed_path(tmp_path, "/rgb/a.png") == tmp_path / "rgb" / "a.png"
    assert resolve_listed_path(tmp_path, "data/x.png") == tmp_path / "data" / "x.png"


def test_annotation_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a readable annotation"):
        records_from_annotation_json(tmp_path, tmp_path / "missing.json", 256.0)
    (tmp_path / "a.json").write_text(json.dumps({"files": [{"rgb": "x.png"}]}))
    with pytest.raises(ConfigError, match="cam_in"):
        records_from_annotation_json(tmp_path, tmp_path / "a.json", 256.0)
    (tmp_path / "b.json").write_text(
        json.dumps({"files": [{"rgb": "x.png", "cam_in": [1, 2, 3, 4], "depth": "d.png"}]})
    )
    (record,) = records_from_annotation_json(tmp_path, tmp_path / "b.json", 256.0)
    assert record.depth is not None and record.depth.png_scale == 256.0 and record.camera == (1.0, 2.0, 3.0, 4.0)


def test_record_with_sources_poses_and_transform(tmp_path: Path) -> None:
    target = write_rgb(tmp_path / "t.png", value=100)
    write_rgb(tmp_path / "s.png", value=200)
    pose = np.eye(4)
    pose[0, 3] = -0.54
    record = FrameRecord(
        "t",
        tmp_path / "t.png",
        CAMERA,
        sources=(SourceFrame(tmp_path / "s.png", -1), SourceFrame(tmp_path / "s.png", 0, pose)),
    )
    calls: list[str] = []

    def tag(sample):  # type: ignore[no-untyped-def]
        calls.append(sample.name)
        return sample

    dataset = RecordDataset([record], transform=tag)
    sample = dataset[0]
    assert calls == ["t"] and len(dataset) == 1
    torch.testing.assert_close(sample.rgb, torch.from_numpy(target.transpose(2, 0, 1).copy()).float() / 255)
    assert sample.sources.shape == (2, 3, 10, 16) and float(sample.sources[0, 1, 0, 0]) == pytest.approx(200 / 255)
    assert sample.source_offsets == (-1, 0)
    assert sample.pose_known.tolist() == [False, True]
    assert torch.isnan(sample.source_from_target[0]).all()
    assert float(sample.source_from_target[1, 0, 3]) == pytest.approx(-0.54)
    assert sample.k.tolist() == [[40.0, 0.0, 7.5], [0.0, 41.0, 4.25], [0.0, 0.0, 1.0]]
    assert torch.isnan(sample.depth).all() and torch.isnan(sample.sparse_depth).all()


def test_source_of_another_size_is_rejected(tmp_path: Path) -> None:
    write_rgb(tmp_path / "t.png")
    write_rgb(tmp_path / "s.png", height=12)
    dataset = RecordDataset(
        [FrameRecord("t", tmp_path / "t.png", CAMERA, sources=(SourceFrame(tmp_path / "s.png", 1),))]
    )
    with pytest.raises(ShapeError, match="source image"):
        dataset[0]


def test_missing_files_and_empty_lists_are_reported(tmp_path: Path) -> None:
    record = FrameRecord("t", tmp_path / "nope.png", CAMERA, depth=DepthFile(tmp_path / "nope_depth.png"))
    with pytest.raises(ConfigError, match="2 file"):
        check_files_exist([record], "test set")
    with pytest.raises(ConfigError, match="no frames"):
        RecordDataset([])


def test_lidar_projection_matches_the_object_calibration_path(kitti_object_dir: Path) -> None:
    """A KITTI object frame: the record's LiDAR path gives the z-buffered projection data/kitti.py's calib gives."""
    rgb_path = kitti_object_dir / "image_2" / "000001.png"
    height, width = cv2.imread(str(rgb_path)).shape[:2]
    calib = load_object_calibration(kitti_object_dir / "calib" / "000001.txt", width, height)
    i = calib.intrinsics
    scan = LidarFile(kitti_object_dir / "velodyne" / "000001.bin", calib.cam_from_velo)
    record = FrameRecord("000001", rgb_path, (i.fx, i.fy, i.cx, i.cy), lidar=scan, lidar_as_depth=True)
    sample = RecordDataset([record])[0]
    points = calib.cam_from_velo.apply(load_velodyne(scan.path)[:, :3].astype(np.float64))
    expected, _ = zbuffer_depth(points, i)
    np.testing.assert_array_equal(sample.sparse_depth[0].numpy(), expected)
    np.testing.assert_array_equal(sample.depth[0].numpy(), expected)
    valid = np.isfinite(expected)
    assert 15_000 < valid.sum() < 25_000  # ~18-20k of ~120k returns land in the image
    assert np.nanmin(expected) > 1.0 and np.nanmax(expected) < 90.0
    assert valid[: height // 3].mean() < valid[height // 2 :].mean()  # the HDL-64 does not see the sky


def test_depth_npz_and_singleton_axes(tmp_path: Path) -> None:
    """Float metres in an .npz (its one array, or the one named ``depth``) and arrays saved as (1, H, W) / (H, W, 1)
    as networks write them, read like a 2-D .npy (an .npz was read as a PNG and refused)."""
    depth = np.array([[1.25, 0.0, -1.0], [np.inf, np.nan, 80.0]], dtype=np.float32)
    expected = [[1.25, np.nan, np.nan], [np.nan, np.nan, 80.0]]
    np.savez(tmp_path / "one.npz", pred=depth[None])
    np.savez_compressed(tmp_path / "named.npz", rgb=np.zeros((2, 3, 3)), depth=depth[..., None])
    np.save(tmp_path / "channel.npy", depth[None])
    for name in ("one.npz", "named.npz", "channel.npy"):
        np.testing.assert_allclose(load_depth_file(DepthFile(tmp_path / name)), expected, err_msg=name)
    np.savez(tmp_path / "two.npz", a=depth, b=depth)
    with pytest.raises(ShapeError, match=r"two\.npz.*\['a', 'b'\].*'depth'"):
        load_depth_file(DepthFile(tmp_path / "two.npz"))


def test_a_depth_map_of_another_size_is_named(kitti_depth_dir: Path, tmp_path: Path) -> None:
    # the loader's error said "depth map is 621x188 but the image is 1242x375": which of a dataset's files, not said
    image = sorted((kitti_depth_dir / "rgb").glob("*.png"))[0]
    depth = sorted((kitti_depth_dir / "depth").glob("*.png"))[0]
    raw = cv2.imread(str(depth), cv2.IMREAD_UNCHANGED)
    assert raw is not None
    half = tmp_path / "half.png"
    cv2.imwrite(str(half), raw[::2, ::2])
    camera = (707.0, 707.0, 604.0, 180.5)
    for field, record in (
        ("depth", FrameRecord("f", image, camera, depth=DepthFile(half, 256.0))),
        ("sparse_depth", FrameRecord("f", image, camera, sparse_depth=DepthFile(half, 256.0))),
    ):
        with pytest.raises(
            ShapeError, match=rf"{field}: .*half\.png \(of 0+5\.png\) is 621x188 but the image is 1242x375"
        ):
            RecordDataset([record])[0]
