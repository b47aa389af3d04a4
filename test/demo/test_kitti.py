"""The --kitti variant on the real KITTI frames: held-out truth, bag layout, and the plain-words notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.demo import run_demo
from mono_depth_ros.demo.kitti import kitti_frame_names, write_kitti_bag
from mono_depth_ros.demo.report import REAL_WEIGHTS_HINT
from mono_depth_ros.training.data.kitti_files import load_velodyne
from test.demo.support import assert_output_frames_are_in_the_input_tf, nav2_overrides, write_tiny_checkpoint


def test_frame_names_need_image_scan_and_calibration(tmp_path: Path, kitti_object_dir: Path) -> None:
    assert kitti_frame_names(kitti_object_dir) == ["000000", "000001", "000002"]
    with pytest.raises(ConfigError, match="KITTI 3D-object 'training' folder"):
        kitti_frame_names(tmp_path)


def test_half_the_scan_is_recorded_and_the_other_half_is_the_truth(tmp_path: Path, kitti_object_dir: Path) -> None:
    truths = write_kitti_bag(tmp_path / "bag", kitti_object_dir, 0, max_frames=1)
    truth = truths[0]
    scan = load_velodyne(kitti_object_dir / "velodyne" / "000000.bin")
    assert 0.45 < truth.lidar_in_camera.shape[0] / scan.shape[0] < 0.55
    assert truth.gt_depth_m.shape == (370, 1224) and truth.true_scale is None
    covered = np.isfinite(truth.gt_depth_m)
    assert 0.01 < covered.mean() < 0.05 and np.nanmin(truth.gt_depth_m) > 0  # sparse, in front of the camera
    with Reader(tmp_path / "bag") as reader:
        topics = {c.topic: c.msgcount for c in reader.connections}
    assert topics == {"/tf_static": 1, "/lidar/points": 1, "/camera/camera_info": 1, "/camera/image_raw": 1}


def test_every_frame_the_nav2_outputs_use_is_in_the_kitti_bags_tf_tree(tmp_path: Path, kitti_object_dir: Path) -> None:
    report = run_demo(tmp_path / "out", 0, 1, kitti_dir=kitti_object_dir, oracle=True, overrides=nav2_overrides())
    assert_output_frames_are_in_the_input_tf(report)


def test_kitti_demo_with_the_oracle_says_its_numbers_mean_nothing(tmp_path: Path, kitti_object_dir: Path) -> None:
    report = run_demo(tmp_path / "out", 0, 1, kitti_dir=kitti_object_dir, oracle=True)
    assert report.scenario == "kitti" and report.frames_out == 1 and report.is_oracle
    assert report.pipeline_accuracy.metrics.abs_rel < 0.2
    text = report.format()
    assert "held-out half" in text and "its accuracy means nothing" in text and REAL_WEIGHTS_HINT in text
    assert "--param model.backend=depth_anything_v2 --param model.weights=DIR" in text


def test_kitti_demo_with_the_shipped_model_says_it_is_not_a_real_world_model(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    assets = tmp_path / "assets"
    write_tiny_checkpoint(assets / "default.safetensors")
    report = run_demo(tmp_path / "out", 0, 1, kitti_dir=kitti_object_dir, assets_dir=assets)
    assert not report.is_oracle and "shipped model" in report.source_label
    text = report.format()
    assert "not a real-world model" in text and REAL_WEIGHTS_HINT in text
    assert np.isfinite(report.pipeline_accuracy.metrics.abs_rel)


def test_a_wrong_kitti_folder_fails_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no frame with image_2"):
        run_demo(tmp_path / "out", kitti_dir=tmp_path)
    assert not (tmp_path / "out").exists()
