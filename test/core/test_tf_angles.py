"""degrees_read_as_radians: a static transform given in degrees is recognised; radians and measured angles are not."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import transforms3d.euler as te
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.tf_angles import ROUND_DEGREES, degrees_read_as_radians


def _rpy(roll: float, pitch: float, yaw: float) -> RigidTransform:
    return RigidTransform(te.euler2mat(roll, pitch, yaw, "sxyz"), np.zeros(3), "camera_link", "camera_optical")


def test_the_optical_rotation_given_in_degrees_is_named_with_the_radians_meant() -> None:
    hint = degrees_read_as_radians(_rpy(-90.0, 0.0, -90.0))  # --roll -90 --yaw -90: radians, -2.0354 each
    assert "camera_link <- camera_optical" in hint and "roll -90, yaw -90 given in degrees" in hint
    assert "--roll -1.5708 --yaw -1.5708" in hint


def test_a_pitch_in_degrees_comes_back_as_the_other_euler_solution_and_is_still_found() -> None:
    assert "pitch 90" in degrees_read_as_radians(_rpy(0.0, 90.0, 0.0))
    assert "roll 180" in degrees_read_as_radians(_rpy(180.0, 0.0, 0.0))


def test_radians_and_measured_angles_are_quiet(kitti_object_dir: Path) -> None:
    from test.kitti_bag import load_kitti_frames

    assert degrees_read_as_radians(_rpy(-math.pi / 2, 0.0, -math.pi / 2)) == ""
    assert degrees_read_as_radians(_rpy(0.0, 0.0, 0.0)) == ""
    assert degrees_read_as_radians(_rpy(math.pi, 0.0, math.pi / 2)) == ""
    for frame in load_kitti_frames(kitti_object_dir):  # calibrated: no round angles
        assert degrees_read_as_radians(frame.cam_from_velo) == ""
    rng = np.random.default_rng(0)
    chance = sum(bool(degrees_read_as_radians(_rpy(*rng.uniform(-math.pi, math.pi, 3)))) for _ in range(2000))
    assert chance == 0


round_or_zero = st.sampled_from((0, *ROUND_DEGREES))


@settings(max_examples=300, deadline=None)
@given(round_or_zero, round_or_zero, round_or_zero)
def test_every_round_triple_read_as_radians_is_named_and_the_fix_is_the_rotation_meant(
    roll: int, pitch: int, yaw: int
) -> None:
    """static_transform_publisher given ``--roll r --pitch p --yaw y`` in round degrees publishes
    euler(r, p, y) in radians (tf2's fixed-axis x-y-z): the hint is never empty, and the radians it tells to publish
    make the rotation of the degrees meant (matrices compared: either Euler solution, gimbal lock too)."""
    assume((roll, pitch, yaw) != (0, 0, 0))
    hint = degrees_read_as_radians(_rpy(float(roll), float(pitch), float(yaw)))
    assert hint, f"--roll {roll} --pitch {pitch} --yaw {yaw} (degrees read as radians) not recognised"
    told = dict(re.findall(r"--(roll|pitch|yaw) (-?\d+\.\d+)", hint.split(" publish ")[1]))
    fix = te.euler2mat(*(float(told.get(name, 0.0)) for name in ("roll", "pitch", "yaw")), "sxyz")
    meant = te.euler2mat(math.radians(roll), math.radians(pitch), math.radians(yaw), "sxyz")
    np.testing.assert_allclose(fix, meant, atol=2e-4)  # the hint's 4 decimals
