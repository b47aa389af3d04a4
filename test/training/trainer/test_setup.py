"""Tests for training/train_setup.py: spec from config, datasets per objective, learning-rate schedules, AMP module."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.objectives.assemble import Objective
from mono_depth_ros.training.trainer.config import OptimConfig
from mono_depth_ros.training.trainer.setup import (
    TrainModule,
    build_datasets,
    build_spec,
    lr_schedule,
    measured_training_focal,
)
from test.bag.support import INTRINSICS, write_moving_bag
from test.training.tiny import tiny_config


def test_spec_and_datasets_follow_the_objective(tmp_path: Path) -> None:
    supervised = tiny_config(tmp_path, tmp_path / "clips", "supervised")
    spec = build_spec(supervised)
    assert spec.output_kind is OutputKind.METRIC and (spec.input.height, spec.input.width) == (32, 64)
    assert spec.params["encoder_width"] == 4 and spec.params["decoder_channels"] == [4, 4, 4, 4, 4]
    train, val = build_datasets(supervised)
    assert val is not None
    assert len(train) == 12 and train.frame_offsets == () and len(val) == 2  # every frame is a target
    selfsup = tiny_config(tmp_path, tmp_path / "clips", "selfsup")
    assert build_spec(selfsup).output_kind is OutputKind.DEPTH_UP_TO_SCALE
    train, _ = build_datasets(selfsup)
    assert len(train) == 8 and train.frame_offsets == (-1, 1)  # frames with both neighbours


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ({}, OutputKind.DEPTH_UP_TO_SCALE),  # monocular video: depth and translation up to one factor
        ({"data__stereo_baseline_m": 0.5}, OutputKind.METRIC),  # + a right camera 0.5 m away (monodepth2's MS)
        ({"data__stereo_baseline_m": 0.5, "data__frame_offsets": "[]"}, OutputKind.METRIC),  # the pair alone (S)
        ({"loss__pose_source": "ground_truth"}, OutputKind.METRIC),  # the drives' true poses, in metres
        ({"data__kind": "kitti_raw", "data__root": "/kitti", "data__split": "s.txt"}, OutputKind.DEPTH_UP_TO_SCALE),
        (
            {"data__kind": "kitti_raw", "data__root": "/kitti", "data__split": "s.txt", "data__stereo": True},
            OutputKind.METRIC,  # image_03 at the calibration's baseline
        ),
    ],
    ids=["monocular", "synthetic_MS", "synthetic_S", "true_poses", "kitti_M", "kitti_MS"],
)
def test_selfsup_is_metric_where_a_metric_pose_fixes_its_scale(
    tmp_path: Path, extra: dict[str, object], kind: OutputKind
) -> None:
    """The photometric term warps by each source's pose: the pose network's (monocular) leaves depth and translation
    free up to one factor, but a stereo partner at the rig's baseline in metres, or the drives' true poses, reproject
    right only with depth in metres. Such runs were declared depth_up_to_scale, so the node asked for a scale source
    and evaluation median-scaled them; their metric scale is shown on real KITTI frames in test_kitti_raw.py."""
    config = tiny_config(tmp_path, tmp_path / "clips", "selfsup", **extra)
    assert config.output_kind is kind and build_spec(config).output_kind is kind
    assert bool(config.metric_sources) == (kind is OutputKind.METRIC)


def test_true_poses_of_a_standing_camera_fix_no_scale(tmp_path: Path) -> None:
    """``loss.pose_source: ground_truth`` fixes the scale through the true poses' translation in metres; a drive at
    ``data.speed_mps`` 0 has none (every true pose is the identity, every source frame the target itself), so the
    photometric error is the same for any depth. Such a run was declared metric and its arbitrary scale published as
    metres by the node without a scale source; it is depth up to scale (a stereo partner still makes it metric)."""
    config = tiny_config(tmp_path, tmp_path / "clips", "selfsup", loss__pose_source="ground_truth", data__speed_mps=0.0)
    train, _ = build_datasets(config)
    item = train[0]
    assert torch.equal(item["source_from_target"][:, :3, 3], torch.zeros(2, 3))  # no translation: nothing in metres
    assert torch.equal(item["sources"][0], item["rgb"]) and torch.equal(item["sources"][1], item["rgb"])
    assert config.output_kind is OutputKind.DEPTH_UP_TO_SCALE and not config.metric_sources
    assert build_spec(config).output_kind is OutputKind.DEPTH_UP_TO_SCALE
    moving = tiny_config(tmp_path, tmp_path / "clips", "selfsup", loss__pose_source="ground_truth")
    assert moving.output_kind is OutputKind.METRIC
    stereo = tiny_config(tmp_path, tmp_path / "clips", "selfsup", data__speed_mps=0.0, data__stereo_baseline_m=0.5)
    assert stereo.output_kind is OutputKind.METRIC


def test_lr_schedule_shapes() -> None:
    cosine = lr_schedule(OptimConfig(schedule="cosine", warmup_steps=10, min_lr_ratio=0.1), total_steps=110)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.55) and cosine(110) == pytest.approx(0.1)
    poly = lr_schedule(OptimConfig(schedule="poly", warmup_steps=0, poly_power=1.0, min_lr_ratio=0.0), 100)
    assert poly(50) == pytest.approx(0.5) and poly(100) == 0.0
    constant = lr_schedule(OptimConfig(schedule="constant", warmup_steps=0), 100)
    assert constant(0) == constant(99) == 1.0


def test_a_warm_up_longer_than_the_run_is_taken_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A short trial of a recipe (``warmup_steps`` 50, ``--set run.steps=20``) trains as asked, the lr still rising
    at its last step (20 / 50 × optim.lr), and says so; a warm-up inside the run is not warned about."""
    with caplog.at_level("WARNING", logger="mono_depth_ros.training.trainer.setup"):
        short = lr_schedule(OptimConfig(warmup_steps=50), total_steps=20)
    assert short(19) == pytest.approx(0.4)  # the schedule is the same: only the warning is new
    assert "optim.warmup_steps 50 is longer than the run (run.steps 20)" in caplog.text
    assert "0.4 x optim.lr" in caplog.text and "set optim.warmup_steps below run.steps" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mono_depth_ros.training.trainer.setup"):
        lr_schedule(OptimConfig(warmup_steps=20), total_steps=20)  # reaches optim.lr at its last step
    assert not caplog.records


def test_bf16_runs_the_network_only() -> None:
    config = tiny_config(Path("/unused"), Path("/unused"), "supervised")
    spec = build_spec(config)
    module = TrainModule(build_model(spec), Objective(config.loss, 0.5, 100.0, spec.mean, spec.std), spec, "bf16")
    batch = {"rgb": torch.rand(1, 3, 32, 64), "depth": torch.full((1, 1, 32, 64), 5.0)}
    result = module(batch)
    assert result.total.dtype == torch.float32 and torch.isfinite(result.total)


def test_photometric_objectives_on_recorded_data_need_frame_offsets(tmp_path: Path) -> None:
    # a rosbag used to fall back to neighbours (-1, 1) without a pose network: every loss was NaN, so were the weights
    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=3)
    for objective in ("selfsup", "lidar_semi"):
        config = tiny_config(
            tmp_path,
            tmp_path / "clips",
            objective,
            data__kind="rosbag",
            data__root=str(tmp_path / "bag"),
            data__frame_offsets="[]",
        )
        with pytest.raises(ConfigError, match=rf"loss\.objective={objective} needs data\.frame_offsets"):
            build_datasets(config)


def test_true_poses_on_recorded_data_are_refused_before_it_loads(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """Recorded frames have no temporal poses: ``loss.pose_source=ground_truth`` on real KITTI frames in a folder
    trained on NaN poses and stopped at its first checkpoint as 'diverged: lower optim.lr'."""
    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    for image in sorted((kitti_depth_dir / "rgb").glob("*.png")):
        (folder / "rgb" / image.name).symlink_to(image)
    (folder / "intrinsics.yaml").write_text("fx: 707.05\nfy: 707.05\ncx: 604.08\ncy: 180.51\n")
    config = tiny_config(
        tmp_path,
        tmp_path / "clips",
        "selfsup",
        data__kind="folder",
        data__root=str(folder),
        loss__pose_source="ground_truth",
    )
    with pytest.raises(ConfigError, match=r"loss\.pose_source=ground_truth .* data\.kind=folder"):
        build_datasets(config)
    assert len(build_datasets(replace(config, loss=replace(config.loss, pose_source="predicted")))[0]) == 1


def test_the_training_camera_is_measured_as_the_network_sees_it(tmp_path: Path) -> None:
    """Synthetic drives render a KITTI-like camera at the input size; recorded frames are resized to the input size
    as the node does (both ratios kept), and the random zoom, which divides the depth by itself, is left out."""
    train, _ = build_datasets(tiny_config(tmp_path, tmp_path / "clips", "supervised"))
    assert measured_training_focal(train) == pytest.approx((0.58, 0.58 * 64 / 32))
    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=4)  # a 64x48 camera for a 64x32 input
    recorded = tiny_config(
        tmp_path, tmp_path / "clips", "selfsup", data__kind="rosbag", data__root=str(tmp_path / "bag")
    )
    train, _ = build_datasets(recorded)
    assert recorded.data.scale_range != (1.0, 1.0)  # zoomed in training, not in the record
    expected = (INTRINSICS.fx / INTRINSICS.width, INTRINSICS.fy / INTRINSICS.height)
    assert measured_training_focal(train) == pytest.approx(expected, rel=1e-6)


def test_lidar_semi_without_any_lidar_is_refused(tmp_path: Path) -> None:
    """lidar_semi writes a metric checkpoint; without a LiDAR return in the data it learns photometric depth at an
    arbitrary scale that the node would then publish as metres: refused, naming the missing LiDAR, as supervised
    training without a depth target is."""
    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=3)
    bag = str(tmp_path / "bag")
    rosbag = tiny_config(tmp_path, tmp_path / "clips", "lidar_semi", data__kind="rosbag", data__root=bag)
    with pytest.raises(ConfigError, match=r"lidar_semi.*no LiDAR.*data\.lidar_topic"):
        build_datasets(rosbag)
    with pytest.raises(ConfigError, match=r"lidar_semi.*no LiDAR.*data\.beams"):
        build_datasets(tiny_config(tmp_path, tmp_path / "clips", "lidar_semi", data__beams=0))
    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    for index in range(3):
        cv2.imwrite(str(folder / "rgb" / f"{index}.png"), np.zeros((8, 16, 3), dtype=np.uint8))
    (folder / "intrinsics.yaml").write_text("fx: 10\nfy: 10\ncx: 7.5\ncy: 3.5\n")
    config = tiny_config(tmp_path, tmp_path / "clips", "lidar_semi", data__kind="folder", data__root=str(folder))
    with pytest.raises(ConfigError, match=r"lidar_semi.*no LiDAR.*sparse_depth"):
        build_datasets(config)
    with_lidar = tiny_config(
        tmp_path,
        tmp_path / "clips",
        "lidar_semi",
        data__kind="rosbag",
        data__root=str(tmp_path / "bag"),
        data__lidar_topic="/lidar/points",
        data__cache_dir=str(tmp_path / "cache"),
    )
    train, _ = build_datasets(with_lidar)
    assert len(train) == 1


def test_validation_data_is_not_built_with_validation_off(tmp_path: Path, kitti_depth_dir: Path) -> None:
    """With ``run.validate: false`` the validation drives were rendered all the same (seconds to minutes of CPU for
    the default 20-frame street at the training size; a recorded dataset's validation frames read again): no
    validation data is built, the cache holds the training drives only, and validating says why it cannot."""
    from mono_depth_ros.training.trainer.loop import Trainer

    cache = tmp_path / "clips"
    config = tiny_config(tmp_path / "run", cache, run__validate=False)
    assert config.data.val_seeds == (1001,)  # the helper leaves the unread validation settings out
    train, val = build_datasets(config)
    assert val is None and len(train) == 12
    assert len(list(cache.glob("synthetic_*.npz"))) == len(config.data.train_seeds) == 2  # no validation drive
    recorded = tiny_config(
        tmp_path / "run2", cache, data__kind="kitti_depth", data__root=str(kitti_depth_dir), run__validate=False
    )
    assert build_datasets(recorded)[1] is None
    with pytest.raises(ConfigError, match=r"run\.validate false.*no validation data.*run\.validate true"):
        Trainer(config).validate()
