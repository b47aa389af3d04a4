from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.adapters.motion import CameraPoses, tf2_camera_poses
from mono_depth_ros.core.errors import TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.ros_msgs import transform_stamped_from_rigid
from mono_depth_ros.depth_config import DepthConfig

MS = 1_000_000


class LaggingTf:
    """Poses of a camera driving 1 m/s along x, known only up to ``latest_ns``."""

    def __init__(self) -> None:
        self.latest_ns = 0
        self.queries: list[tuple[str, str, int]] = []

    def __call__(self, fixed: str, camera: str, stamp_ns: int) -> RigidTransform:
        self.queries.append((fixed, camera, stamp_ns))
        if stamp_ns > self.latest_ns:
            msg = f"extrapolation into the future at {stamp_ns}"
            raise TransformError(msg)
        return RigidTransform(np.eye(3), np.array([stamp_ns * 1e-9, 0.0, 0.0]), fixed, camera)


class LookupLagError(Exception):
    """What tf2 raises for a stamp past its newest transform (ExtrapolationException)."""


class LaggingBuffer:
    """tf2's lookup_transform: a camera driving 1 m/s along x in odom, /tf up to ``latest_ns``; time 0 = latest."""

    def __init__(self, factory: MessageFactory) -> None:
        self.factory, self.latest_ns = factory, 0

    def lookup_transform(self, target: str, source: str, time: Any) -> Any:
        stamp_ns = time.sec * 10**9 + time.nanosec or self.latest_ns
        if stamp_ns > self.latest_ns:
            raise LookupLagError(f"extrapolation into the future: {stamp_ns} > {self.latest_ns}")
        pose = RigidTransform(np.eye(3), np.array([stamp_ns * 1e-9, 0.0, 0.0]), target, source)
        return transform_stamped_from_rigid(self.factory, pose, stamp_ns)


def config(**changes: Any) -> Any:
    return DepthConfig.from_params({"temporal.enabled": True, **changes}).temporal


def test_pose_in_the_fixed_frame_at_the_image_stamp() -> None:
    tf = LaggingTf()
    tf.latest_ns = 10**9
    poses = CameraPoses(config(**{"temporal.fixed_frame": "map"}), tf)
    pose = poses.pose("camera_optical", 500 * MS)
    assert pose is not None
    np.testing.assert_allclose(pose.translation, [0.5, 0.0, 0.0])
    assert tf.queries == [("map", "camera_optical", 500 * MS)]


def test_tf_lagging_behind_the_image_is_extrapolated_at_constant_velocity() -> None:
    tf = LaggingTf()
    poses = CameraPoses(config(**{"temporal.max_extrapolation_s": 0.25}), tf)
    for stamp in (0, 100 * MS):
        tf.latest_ns = stamp
        assert poses.pose("cam", stamp) is not None
    ahead = poses.pose("cam", 300 * MS)  # TF still ends at 100 ms
    assert ahead is not None
    np.testing.assert_allclose(ahead.translation, [0.3, 0.0, 0.0], atol=1e-9)
    assert poses.extrapolated == 1
    assert poses.pose("cam", 400 * MS) is None  # 0.3 s past the newest pose: beyond max_extrapolation_s
    assert poses.pose("other_cam", 150 * MS) is None  # no history for that camera


def test_a_single_pose_cannot_be_extrapolated_and_other_errors_propagate() -> None:
    tf = LaggingTf()
    poses = CameraPoses(config(), tf)
    assert poses.pose("cam", 0) is not None
    assert poses.pose("cam", 50 * MS) is None

    def broken(fixed: str, camera: str, stamp_ns: int) -> RigidTransform:
        raise RuntimeError("a bug, not a missing transform")

    with pytest.raises(RuntimeError, match="a bug"):
        CameraPoses(config(), broken).pose("cam", 0)


def test_tf2_poses_ask_the_buffer_without_waiting_and_are_none_when_the_filter_is_off() -> None:
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    transform = RigidTransform(np.eye(3), np.array([1.0, 2.0, 3.0]), "odom", "cam")

    class Tf2LookupError(Exception):
        pass

    class Buffer:
        def __init__(self) -> None:
            self.calls: list[tuple[Any, ...]] = []

        def lookup_transform(self, target: str, source: str, time: Any) -> Any:
            self.calls.append((target, source, time.sec, time.nanosec))
            if time.sec > 5:
                raise Tf2LookupError(target)
            return transform_stamped_from_rigid(factory, transform, 0)

    buffer = Buffer()
    assert tf2_camera_poses(DepthConfig.from_params({}).temporal, buffer, factory, (Tf2LookupError,)) is None
    poses = tf2_camera_poses(config(), buffer, factory, (Tf2LookupError,))
    assert poses is not None
    pose = poses.pose("cam", 2 * 10**9 + 5)
    assert pose is not None
    np.testing.assert_allclose(pose.translation, [1.0, 2.0, 3.0])
    assert buffer.calls == [("odom", "cam", 2, 5)]
    assert poses.pose("cam", 9 * 10**9) is None


def test_tf_that_always_lags_behind_the_images_is_extrapolated_from_its_newest_poses() -> None:
    """odom published 20 ms after the camera's stamp, every frame: the lookup at the image stamp failed every time, so
    there were never two looked-up poses to extrapolate from: no pose for any frame, the temporal filter never ran
    (temporal_no_motion_frames = every frame). The newest poses TF holds are extrapolated instead."""
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer = LaggingBuffer(factory)
    poses = tf2_camera_poses(config(), buffer, factory, (LookupLagError,))
    assert poses is not None
    found = []
    for k in range(1, 6):  # 30 Hz images, TF 20 ms behind each
        stamp = 10**9 + k * 33 * MS
        buffer.latest_ns = stamp - 20 * MS
        found.append(poses.pose("cam", stamp))
    assert all(pose is not None for pose in found)
    np.testing.assert_allclose([pose.translation[0] for pose in found if pose is not None],
                               [1.0 + k * 0.033 for k in range(1, 6)], atol=1e-9)  # fmt: skip
    assert poses.extrapolated == 5
    buffer.latest_ns = 10**9  # TF stopped: 0.8 s behind, past temporal.max_extrapolation_s (0.5)
    assert poses.pose("cam", 10**9 + 800 * MS) is None


def test_tf_lagging_behind_the_images_is_extrapolated_again_after_time_went_back() -> None:
    """``ros2 bag play --loop`` with odom published 20 ms after the camera's stamp: the poses kept from the end of
    the first pass were newer than anything TF held in the next, so TF's newest poses never replaced them and no
    frame of any later pass had a pose (the temporal filter passed every one through, temporal_no_motion_frames).
    Poses from after a frame, by more than 1 s (time went back), are forgotten."""
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer = LaggingBuffer(factory)
    poses = tf2_camera_poses(config(), buffer, factory, (LookupLagError,))
    assert poses is not None
    stamps = [10**10 + k * 33 * MS for k in range(1, 61)]  # a 2 s bag at 30 Hz, played twice
    found = []
    for stamp in stamps + stamps:
        buffer.latest_ns = stamp - 20 * MS
        found.append(poses.pose("cam", stamp))
    assert all(pose is not None for pose in found), [k for k, pose in enumerate(found) if pose is None][:3]
    np.testing.assert_allclose([pose.translation[0] for pose in found if pose is not None],
                               [stamp * 1e-9 for stamp in stamps + stamps], atol=1e-9)  # fmt: skip
