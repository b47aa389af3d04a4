"""ExtrinsicCheck on real KITTI frames: KITTI's own calibration stays quiet, the frame mistakes users make are named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.extrinsic_check import (
    ExtrinsicCheck,
    ExtrinsicCheckConfig,
    ExtrinsicVerdict,
    ViewStats,
    view_stats,
)
from test.kitti_bag import KittiFrame, load_kitti_frames

# body_from_optical (REP 103 body x forward, y left, z up <- optical z forward, x right, y down)
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
ROLL_180 = np.diag([-1.0, -1.0, 1.0])
UPSIDE_DOWN = np.diag([1.0, -1.0, -1.0])
YAW_90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _rotation(matrix: np.ndarray) -> RigidTransform:
    return RigidTransform(matrix, np.zeros(3))


def _named(t: RigidTransform) -> RigidTransform:
    return RigidTransform(t.rotation, t.translation, "camera_optical", "velodyne")


# What TF says (cam_from_lidar as used) when the user made each mistake; argument: KITTI's true transform.
MISTAKES: dict[str, Callable[[RigidTransform], RigidTransform]] = {
    "roll_180": lambda t: _rotation(ROLL_180) @ t,  # camera / optical frame rolled 180° in TF
    "lidar_upside_down": lambda t: t @ _rotation(UPSIDE_DOWN),  # an Ouster mounted upside down, TF says upright
    "body_frame": lambda t: _rotation(BODY_FROM_OPTICAL) @ t,  # image stamped camera_link (x forward) as optical
    "inverted": lambda t: t.inverse(),  # static_transform_publisher with parent and child swapped
}


@pytest.fixture(scope="module")
def kitti(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)


def _verdict(
    frames: list[KittiFrame], mistake: Callable[[RigidTransform], RigidTransform] | None
) -> ExtrinsicVerdict | None:
    check = ExtrinsicCheck()
    verdict = None
    for frame in frames:
        given = frame.cam_from_velo if mistake is None else mistake(frame.cam_from_velo)
        verdict = check.observe(frame.scan[:, :3], _named(given), frame.intrinsics)
    return verdict


def test_kitti_calibration_is_not_flagged(kitti: list[KittiFrame]) -> None:
    assert _verdict(kitti, None) is None


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_frame_mistake_on_real_kitti_scans_is_named_with_its_remedy(kitti: list[KittiFrame], name: str) -> None:
    verdict = _verdict(kitti, MISTAKES[name])
    assert verdict is not None and verdict.mistake == name
    assert "camera_optical" in verdict.text or "velodyne" in verdict.text  # the user's frames are named
    assert "Remedy:" in verdict.text


def test_no_verdict_before_the_configured_number_of_scans(kitti: list[KittiFrame]) -> None:
    assert _verdict(kitti[:2], MISTAKES["roll_180"]) is None  # two scans of three: not yet


def test_a_transform_fixed_at_run_time_clears_the_verdict(kitti: list[KittiFrame]) -> None:
    check = ExtrinsicCheck(ExtrinsicCheckConfig(frames=2))
    for frame in kitti[:2]:
        verdict = check.observe(frame.scan[:, :3], _named(MISTAKES["roll_180"](frame.cam_from_velo)), frame.intrinsics)
    assert verdict is not None
    fixed = kitti[2]
    assert check.observe(fixed.scan[:, :3], _named(fixed.cam_from_velo), fixed.intrinsics) is None


def test_view_stats_counts_the_nearest_points_below_the_principal_point(kitti: list[KittiFrame]) -> None:
    frame = kitti[0]
    upright = view_stats(frame.scan[:, :3], frame.cam_from_velo.matrix, frame.intrinsics)
    flipped = view_stats(frame.scan[:, :3], (_rotation(ROLL_180) @ frame.cam_from_velo).matrix, frame.intrinsics)
    assert upright.near_low_share > 0.9 and flipped.near_low_share < 0.1
    assert 15_000 < upright.in_image < 25_000  # the README: 18-20k of ~120k land in the image
    assert np.isnan(ViewStats(10, 0, 0, 0).near_low_share)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="upside_down_share"):
        ExtrinsicCheckConfig(upside_down_share=0.7, upright_share=0.6)
