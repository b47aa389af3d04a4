"""Tests for training/labelling.py: resizing labels, features and LiDAR to the cache's sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.training.distillation.config import TeacherConfig
from mono_depth_ros.training.distillation.label_sources import BagSource, UnlabelledFrame
from mono_depth_ros.training.distillation.labelling import (
    LabelReport,
    SourceReport,
    feature_grid,
    label_sources,
    lidar_depth_at,
    make_pseudo_label,
    pool_features,
    resize_rgb,
    resize_values,
)
from mono_depth_ros.training.distillation.pseudo_labels import read_pseudo_label
from mono_depth_ros.training.distillation.teacher import Teacher, TeacherOutput
from test.kitti_bag import CAMERA_INFO_TOPIC, IMAGE_TOPIC, LIDAR_TOPIC, load_kitti_frames
from test.raw_kitti_bag import raw_frames, write_raw_bag
from test.training.distill_support import write_teacher


@settings(max_examples=30, deadline=None)
@given(
    value=st.floats(0.1, 100.0),
    size=st.tuples(st.integers(8, 40), st.integers(8, 40)),
    out=st.tuples(st.integers(2, 40), st.integers(2, 40)),
    holes=st.floats(0.0, 0.6),
    seed=st.integers(0, 1000),
)
def test_resize_of_a_constant_map_is_constant(
    value: float, size: tuple[int, int], out: tuple[int, int], holes: float, seed: int
) -> None:
    values = np.full(size, value, dtype=np.float32)
    values[np.random.default_rng(seed).random(size) < holes] = np.nan
    resized = resize_values(values, out)
    assert resized.shape == out and resized.dtype == np.float32
    valid = np.isfinite(resized)
    np.testing.assert_allclose(resized[valid], value, rtol=1e-5)
    if not np.isfinite(values).any():
        assert not valid.any()


def test_resize_needs_half_a_valid_footprint() -> None:
    values = np.array([[1.0, np.nan, np.nan, np.nan], [3.0, 5.0, np.nan, np.nan]], dtype=np.float32)
    resized = resize_values(values, (1, 2))
    assert resized[0, 0] == pytest.approx(3.0) and np.isnan(resized[0, 1])  # (1 + 3 + 5) / 3; 0 of 4 valid
    with pytest.raises(ShapeError, match="must be"):
        resize_values(np.zeros((2, 2, 3)), (1, 1))


def test_features_pool_and_lidar_projects_at_the_label_size() -> None:
    features = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    pooled = pool_features(features, (2, 3))
    assert pooled.dtype == np.float16 and pooled.shape == (2, 2, 3)
    assert float(pooled[0, 0, 0]) == pytest.approx(features[0, :2, :2].mean())
    assert feature_grid((96, 320), 16) == (6, 20) and feature_grid((8, 8), 16) == (1, 1)
    intrinsics = PinholeIntrinsics(100.0, 100.0, 49.5, 29.5, width=100, height=60)
    points = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, 3.0], [1.0, 0.5, 10.0]])
    depth_m = lidar_depth_at(points, intrinsics, (30, 50))
    expected, _ = zbuffer_depth(points, intrinsics.resized(50, 30))
    np.testing.assert_array_equal(depth_m, expected)
    assert np.nanmin(depth_m) == 3.0  # nearest return wins
    assert np.isnan(lidar_depth_at(None, intrinsics, (3, 4))).all()


def test_make_pseudo_label_resizes_everything() -> None:
    intrinsics = PinholeIntrinsics(50.0, 50.0, 39.5, 19.5, width=80, height=40)
    frame = UnlabelledFrame("k", np.zeros((40, 80, 3), dtype=np.uint8), intrinsics, np.array([[0.0, 0.0, 4.0]]))
    output = TeacherOutput(np.full((40, 80), 2.0, dtype=np.float32), np.ones((5, 2, 4), dtype=np.float32))
    label = make_pseudo_label(frame, output, (20, 40), (2, 2))
    assert label.rgb.shape == (20, 40, 3) and label.label.shape == (20, 40) and label.lidar_points == 1
    assert label.features is not None and label.features.shape == (5, 2, 2)
    np.testing.assert_allclose(label.k, intrinsics.resized(40, 20).matrix)
    with pytest.raises(ShapeError, match="does not match"):
        make_pseudo_label(frame, TeacherOutput(np.zeros((4, 4), dtype=np.float32), None), (20, 40), (2, 2))
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    np.testing.assert_array_equal(resize_rgb(rgb, (4, 6)), rgb)
    assert resize_rgb(rgb, (2, 3)).shape == (2, 3, 3)
    assert resize_rgb(rgb, (8, 12)).dtype == np.uint8


def test_report_format() -> None:
    report = LabelReport(Path("/c"), [SourceReport("bag-1", 2, 3, 1, {"no camera_info": 4})])
    assert report.labelled == 2 and report.cached == 3
    text = report.format()
    assert "2 labelled, 3 already cached" in text and "bag-1: 2 new (1 with LiDAR), 3 cached; no camera_info: 4" in text


def test_labels_and_lidar_of_a_raw_cameras_black_fill_are_nan(kitti_object_dir: Path, tmp_path: Path) -> None:
    """A raw plumb_bob camera whose P keeps the whole raw view: where the undistorted image is black fill the node
    publishes NaN, so the student gets no teacher label and no LiDAR there (they taught it depth from black)."""
    frames = raw_frames(load_kitti_frames(kitti_object_dir, ("000001", "000002")), "plumb_bob", (160, 80))
    bag = tmp_path / "raw"
    write_raw_bag(bag, frames)
    source = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC, image_is_rectified=False)
    teacher = Teacher.open(TeacherConfig(weights=str(write_teacher(tmp_path / "t.safetensors")), features=False))
    label_hw = (40, 80)
    report = label_sources(teacher, [source], tmp_path / "cache", label_hw, progress=False)
    assert report.labelled == 2
    seen = frames[0].camera.seen_mask(label_hw)
    assert seen is not None and 0.05 < float((~seen).mean()) < 0.4
    for key in source.keys:
        cached = read_pseudo_label(tmp_path / "cache" / source.name / f"{key}.npz")
        assert np.isfinite(cached.label[seen]).all() and not np.isfinite(cached.label[~seen]).any()
        assert int(np.isfinite(cached.lidar_depth_m[seen]).sum()) > 500
        assert not np.isfinite(cached.lidar_depth_m[~seen]).any()


def test_cached_images_are_resized_as_the_node_resizes_the_students_input(kitti_object_dir: Path) -> None:
    """The student learns on the cached image at its input size; on line the node resizes the camera image with its
    preprocess (antialiased bilinear): the cache holds that same image (cv2's area average was sharper: 1.5 grey
    levels apart on average on this KITTI frame at 96 × 320, 13 at the 99th percentile)."""
    import torch

    from mono_depth_ros.models.preprocess import preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    rgb = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    for hw in ((96, 320), (500, 1300)):
        node = preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None], hw, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))[0]
        cached = torch.from_numpy(resize_rgb(rgb, hw)).permute(2, 0, 1).float() / 255
        torch.testing.assert_close(cached, node, atol=0.5 / 255 + 1e-6, rtol=0)


def test_a_metric_focal_teacher_on_a_folder_without_intrinsics_names_the_folders_remedy(tmp_path: Path) -> None:
    """A metric_focal teacher (Depth Anything 3 metric, Metric3D) gives metres only with the camera's focal length;
    a bare image folder has none. Labelling stopped with the estimator's 'needs the camera's focal length (camera_info
    K / P)', a node's remedy; it now names the folder and its intrinsics.yaml, before any frame of it is labelled."""
    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.models.spec import OutputKind
    from mono_depth_ros.training.distillation.label_sources import FolderSource
    from mono_depth_ros.training.distillation.teacher import teacher_from_network
    from test.models.tiny_models import tiny_unet
    from test.training.distill_support import synthetic_clip, write_folder

    bare = write_folder(tmp_path / "bare", synthetic_clip(frames=2), intrinsics=False)
    teacher = teacher_from_network(*tiny_unet(3, OutputKind.METRIC_FOCAL))
    with pytest.raises(ConfigError, match=r"focal length.*bare.*intrinsics\.yaml"):
        label_sources(teacher, [FolderSource(bare)], tmp_path / "cache", (48, 96), progress=False)
    assert not list((tmp_path / "cache").glob("*/*.npz"))
    with_camera = write_folder(tmp_path / "camera", synthetic_clip(frames=2))  # intrinsics.yaml: labelled in metres
    report = label_sources(teacher, [FolderSource(with_camera)], tmp_path / "cache", (48, 96), progress=False)
    assert report.labelled == 2
