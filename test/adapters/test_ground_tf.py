from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.adapters.ground_tf import GroundPoses, tf2_frame_poses
from mono_depth_ros.adapters.motion import no_pose_text
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.errors import TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.ros_msgs import transform_stamped_from_rigid
from mono_depth_ros.core.scale.ground import GroundPlaneConfig
from mono_depth_ros.core.scale.recovery import RecoveryConfig, ScaleRecovery
from mono_depth_ros.core.synthetic import SensorRig
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.pipeline import FrameInput

CAMERA = "camera_optical"
# KITTI object frames: the camera's height and pitch above the road plane fitted to each frame's own Velodyne scan
# (m, ° down; test_ground.py's road_planes). KITTI's nominal camera height is 1.65 m.
ROAD_PLANES = {"000000": (1.69, 1.4), "000002": (1.53, -1.4)}


def footprint_from_cam(height_m: float, pitch_deg: float) -> RigidTransform:
    """TF base_footprint <- camera optical frame of a camera ``height_m`` up, pitched ``pitch_deg`` down."""
    rig = SensorRig(camera_height_m=height_m, camera_pitch_rad=math.radians(pitch_deg))
    return RigidTransform(rig.base_from_cam.rotation, rig.base_from_cam.translation, "base_footprint", CAMERA)


class StaticTf:
    """The bag runner's TF query (``lookup(target, source, stamp_ns)``) over one static transform per source."""

    def __init__(self, transforms: dict[str, RigidTransform]) -> None:
        self.transforms = transforms
        self.queries: list[tuple[str, str, int]] = []

    def __call__(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        self.queries.append((target, source, stamp_ns))
        if target != "base_footprint" or source not in self.transforms:
            msg = f"no transform {target} <- {source}"
            raise TransformError(msg)
        return self.transforms[source]


class Warnings:
    """The :data:`~mono_depth_ros.adapters.ground_tf.Report` callback: every call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, reason: str, camera_frame: str, text: str) -> None:
        assert camera_frame in text
        self.seen.append((reason, text))


def scale_config(**changes: Any) -> Any:
    return DepthConfig.from_params({"scale.ground_frame": "base_footprint", **changes}).scale


def test_no_ground_frame_means_the_parameters_and_no_lookup() -> None:
    tf, warnings = StaticTf({}), Warnings()
    poses = GroundPoses("", tf, warnings)
    assert poses.pose(CAMERA, 5, scale_config(**{"scale.ground_frame": ""})) is None
    assert tf.queries == [] and warnings.seen == [] and poses.unused == 0
    assert DepthConfig.from_params({}).scale.ground_frame == ""  # the default: parameters only


def test_the_pose_comes_from_the_ground_frame_at_the_image_stamp() -> None:
    tf, warnings = StaticTf({CAMERA: footprint_from_cam(1.69, 1.4)}), Warnings()
    poses = GroundPoses("base_footprint", tf, warnings)
    pose = poses.pose(CAMERA, 123, scale_config())  # parameters at their defaults: not given, nothing to compare
    assert pose is not None
    assert pose.height_m == pytest.approx(1.69) and math.degrees(pose.pitch_rad) == pytest.approx(1.4)
    assert tf.queries == [("base_footprint", CAMERA, 123)] and warnings.seen == []
    agreeing = scale_config(**{"scale.camera_height_m": 1.7, "scale.camera_pitch_rad": math.radians(1.0)})
    assert poses.pose(CAMERA, 124, agreeing) == pose and warnings.seen == []  # within 5 cm and 1°


def test_parameters_that_disagree_with_tf_are_warned_once_naming_both() -> None:
    tf, warnings = StaticTf({CAMERA: footprint_from_cam(1.69, 1.4)}), Warnings()
    poses = GroundPoses("base_footprint", tf, warnings)
    wrong_pitch = scale_config(**{"scale.camera_height_m": 1.65, "scale.camera_pitch_rad": 0.0})
    for stamp in range(3):
        pose = poses.pose(CAMERA, stamp, wrong_pitch)
        assert pose is not None and pose.height_m == pytest.approx(1.69)  # TF's is used
    assert len(warnings.seen) == 1 and warnings.seen[0][0] == "ground_frame.disagrees"  # once per camera frame
    text = warnings.seen[0][1]
    assert "1.690 m above the ground, pitched 0.0244 rad (+1.40°)" in text, text
    assert "scale.camera_height_m=1.65 m and scale.camera_pitch_rad=0 (+0.00°)" in text, text
    wrong_height = scale_config(**{"scale.camera_height_m": 1.5, "scale.camera_pitch_rad": 0.0244})
    other = GroundPoses("base_footprint", tf, warnings)
    assert other.pose(CAMERA, 0, wrong_height) is not None
    assert len(warnings.seen) == 2 and "scale.camera_height_m=1.5 m" in warnings.seen[1][1]


def test_no_transform_or_a_frame_not_on_the_ground_falls_back_to_the_parameters() -> None:
    below = RigidTransform(np.eye(3), np.array([0.0, 0.0, -0.2]), "base_footprint", "upside")
    tf, warnings = StaticTf({"upside": below}), Warnings()
    poses = GroundPoses("base_footprint", tf, warnings)
    for _ in range(2):
        assert poses.pose("other_optical", 7, scale_config()) is None
        assert poses.pose("upside", 7, scale_config()) is None
    assert poses.unused == 4 and len(warnings.seen) == 4  # every frame (the node logs once, counts each)
    reasons = [reason for reason, _ in warnings.seen]
    assert reasons == ["ground_frame.no_transform", "ground_frame.not_above"] * 2
    (_, missing), (_, not_above) = warnings.seen[:2]
    assert "no TF base_footprint <- other_optical" in missing and "no transform base_footprint <- other" in missing
    assert "scale.camera_height_m=1.5 m and scale.camera_pitch_rad=0 until it does" in missing
    assert "-0.200 m above scale.ground_frame='base_footprint'" in not_above and "REP 120" in not_above
    fallback = "the ground-plane prior uses scale.camera_height_m=1.5 m and scale.camera_pitch_rad=0 until it does"
    assert missing.endswith("; " + fallback) and not_above.endswith("(base_footprint, REP 120)? " + fallback)
    assert warnings.seen[2:] == warnings.seen[:2]  # built per reported frame, the same words each time


class LookupFailed(Exception):
    """What tf2 raises for a frame it does not hold (LookupException, a TransformException)."""


class StaticBuffer:
    """tf2's ``lookup_transform`` over one static transform (any stamp)."""

    def __init__(self, factory: MessageFactory, transform: RigidTransform) -> None:
        self.factory, self.transform = factory, transform
        self.times: list[Any] = []

    def lookup_transform(self, target: str, source: str, time: Any) -> Any:
        self.times.append(time)
        if (target, source) != (self.transform.dst_frame, self.transform.src_frame):
            raise LookupFailed(f'"{source}" passed to lookupTransform argument source_frame does not exist.')
        return transform_stamped_from_rigid(self.factory, self.transform, 0)


def test_the_node_looks_the_pose_up_in_tf2_and_adds_it_to_the_frame() -> None:
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer, logged, counted = StaticBuffer(factory, footprint_from_cam(1.53, -1.4)), list[str](), list[str]()
    config = DepthConfig.from_params({"scale.ground_frame": "base_footprint", "scale.camera_height_m": 1.65})
    poses = tf2_frame_poses(config, buffer, factory, (LookupFailed,), logged.append, counted.append)
    assert poses.camera is None  # the temporal filter is off
    rgb = np.zeros((4, 6, 3), np.uint8)
    frame = FrameInput(
        3_000_000_001, CAMERA, rgb, CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4))
    )
    posed = poses.add_to(frame, config.scale)
    assert posed.ground_pose is not None and posed.world_from_cam is None
    assert posed.ground_pose.height_m == pytest.approx(1.53)
    assert math.degrees(posed.ground_pose.pitch_rad) == pytest.approx(-1.4)
    assert (buffer.times[0].sec, buffer.times[0].nanosec) == (3, 1)  # at the image stamp
    assert len(logged) == 1 and "scale.camera_height_m=1.65 m" in logged[0]  # 12 cm and 1.4° apart
    assert poses.add_to(frame, config.scale).ground_pose == posed.ground_pose and len(logged) == 1 and not counted
    other = replace(frame, frame_id="other_optical")  # not in TF: the parameters', counted each frame, logged once
    for _ in range(3):
        assert poses.add_to(other, config.scale).ground_pose is None
    assert counted == ["ground_frame.no_transform"] * 3 and len(logged) == 2, logged
    assert "no TF base_footprint <- other_optical" in logged[1] and "scale.camera_height_m=1.65 m" in logged[1]


def test_tf_gives_real_kitti_frames_the_scale_a_wrong_parameter_misses(kitti_object_dir: Path) -> None:
    """Real KITTI frames 000000 / 000002 (prediction: the real Velodyne depth, densified, at half scale: the true
    scale is 2): with the parameters at KITTI's nominal 1.65 m and 0° the ground-plane scale is off by the road's
    height and pitch in these frames' scans (1.69 m, +1.4°: +10 %; 1.53 m, -1.4°: -5 %), reported ``ok``; with TF
    base_footprint <- camera giving the scan's road plane it is within 1 % (-0.5 %, +0.7 %)."""
    from test.kitti_bag import load_kitti_frames

    for frame in load_kitti_frames(kitti_object_dir, tuple(ROAD_PLANES)):
        tf = StaticTf({CAMERA: footprint_from_cam(*ROAD_PLANES[frame.name])})
        pose = GroundPoses("base_footprint", tf, Warnings()).pose(CAMERA, 0, scale_config())
        prediction = 0.5 * densify_nearest(frame.lidar_depth_m)
        scales = {}
        for name, given in (("parameters", None), ("tf", pose)):
            recovery = ScaleRecovery(RecoveryConfig(mode="ground_plane", ground=GroundPlaneConfig(1.65, 0.0)))
            result = recovery.update(prediction, OutputKind.DEPTH_UP_TO_SCALE, 0, frame.intrinsics, None, given)
            assert str(result.health.value) == "ok", (frame.name, name, result)
            scales[name] = result.scale / 2.0 - 1.0
        assert abs(scales["tf"]) < 0.015, (frame.name, scales)
        assert abs(scales["parameters"]) > 0.04 and abs(scales["parameters"]) > 4 * abs(scales["tf"]), (
            frame.name,
            scales,
        )


def test_the_node_warns_once_per_camera_when_the_temporal_filter_has_no_pose() -> None:
    """``temporal.enabled`` with ``temporal.fixed_frame`` not in TF (no odometry, a wrong frame name): the frame
    goes through unfiltered and the pipeline counts it (``temporal_no_motion_frames``); the node said nothing of it
    in its log, where the bag runner warns (``temporal: no camera pose``). Now once per camera, in the same words."""
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer, logged, counted = StaticBuffer(factory, footprint_from_cam(1.53, -1.4)), list[str](), list[str]()
    config = DepthConfig.from_params({"temporal.enabled": True, "temporal.fixed_frame": "odom"})
    poses = tf2_frame_poses(config, buffer, factory, (LookupFailed,), logged.append, counted.append)
    rgb = np.zeros((4, 6, 3), np.uint8)
    frame = FrameInput(
        3_000_000_001, CAMERA, rgb, CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4))
    )
    for stamp_ns in (3_000_000_001, 3_100_000_001):
        assert poses.add_to(replace(frame, stamp_ns=stamp_ns), config.scale).world_from_cam is None
    assert logged == [no_pose_text(CAMERA, "odom", 3_000_000_001)], logged
    assert "no TF from 'camera_optical' to temporal.fixed_frame 'odom' at 3.000000001 s" in logged[0]
    assert "temporal_no_motion_frames" in logged[0]
    assert not counted  # a frame published without a pose: counted by the pipeline, no unused input
    assert poses.add_to(replace(frame, frame_id="other_optical"), config.scale).world_from_cam is None
    assert len(logged) == 2 and "'other_optical'" in logged[1]  # each camera once
