"""Tests for training/distill.py: tiny end-to-end runs (features, LiDAR) and the student in the bag runner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.bag import run_bag
from mono_depth_ros.bag.runner import BagRunOptions
from mono_depth_ros.models.checkpoint import load_checkpoint
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.distillation.run import distill
from test.kitti_bag import load_kitti_frames, write_kitti_bag
from test.training.distill_support import synthetic_clip, tiny_config, write_teacher


def test_tiny_run_writes_a_loadable_calibrated_student(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, teacher, folder = setup
    config = tiny_config(
        tmp_path, teacher, data={"folders": [str(folder)]}, teacher={"features": True}, loss={"feature_weight": 0.5}
    )
    result = distill(config)
    assert result.step == 4 and result.model_path == tmp_path / "run" / "model.safetensors"
    assert result.labels is not None and result.labels.labelled == 6
    assert result.output_kind is OutputKind.METRIC and result.calibration is not None
    assert result.calibration.target == "teacher" and result.calibration.scale > 0
    loaded = load_checkpoint(result.model_path)
    assert loaded.spec.output_kind is OutputKind.METRIC and loaded.golden is not None
    clip = synthetic_clip(frames=6)  # the folder's camera: the one the student's metres belong to
    expected = (clip.intrinsics.fx / clip.spec.width, clip.intrinsics.fy / clip.spec.height)
    assert loaded.spec.training_focal == pytest.approx(expected)
    assert json.loads(loaded.metadata["calibration"])["scale"] == pytest.approx(result.calibration.scale)
    assert "projection" not in " ".join(loaded.state_dict)  # the head stays in the training state only
    estimator = DepthEstimator.open("unet", result.model_path, EstimatorConfig(device="cpu", warmup_runs=0))
    assert estimator.golden_report is not None and estimator.golden_report.passed
    depth = estimator.predict(np.zeros((48, 96, 3), dtype=np.uint8)).values
    assert depth.shape == (48, 96) and np.isfinite(depth).all()
    rows = list(csv.DictReader((tmp_path / "run" / "train.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"] and {"ssi", "features"} <= set(rows[0])


def test_lidar_makes_a_metric_student_of_a_relative_teacher(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, folder = setup
    teacher = write_teacher(tmp_path / "t.safetensors", OutputKind.DEPTH_UP_TO_SCALE)
    plain = tiny_config(tmp_path / "plain", teacher, data={"folders": [str(folder)]})
    assert distill(plain, label_only=True).output_kind is OutputKind.DEPTH_UP_TO_SCALE
    config = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]}, loss={"lidar_weight": 0.1})
    result = distill(config)
    assert result.output_kind is OutputKind.METRIC
    assert result.calibration is not None and result.calibration.target == "lidar"
    assert "lidar" in next(csv.DictReader((tmp_path / "run" / "train.csv").open()))


def test_bag_runner_runs_the_student(kitti_object_dir: Path, setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Distil on a real KITTI bag (with its LiDAR), then run the bag runner with model.weights = the student."""
    _, teacher, _ = setup
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, load_kitti_frames(kitti_object_dir))
    config = tiny_config(
        tmp_path,
        teacher,
        data={"bags": [str(bag)], "lidar_topic": "/lidar/points"},
        loss={"lidar_weight": 0.1},
        run={"steps": 2, "batch_size": 3},
    )
    result = distill(config)
    assert result.model_path is not None and result.output_kind is OutputKind.METRIC
    params = {"model.weights": str(result.model_path), "lidar_topic": "/lidar/points", "device": "cpu"}
    summary = run_bag(bag, tmp_path / "out", params, BagRunOptions(progress=False))
    assert summary.frames_in == 3 and summary.frames_out == 3
