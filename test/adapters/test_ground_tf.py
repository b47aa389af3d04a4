from __future__ import annotations

import math
from collections.abc import Callable
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
from mono_depth_ros.core.scale.ground import GroundPlaneConfig, ground_pose
from mono_depth_ros.core.scale.recovery import RecoveryConfig, ScaleRecovery
from mono_depth_ros.core.synthetic import SensorRig
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.pipeline import DepthPipeline, FrameInput

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


class PausingTf:
    """TF base_footprint <- camera of a joint whose state stops reaching TF between ``pauses`` (start, end) ns:
    a lookup at a stamp inside a pause fails as tf2's extrapolation does."""

    def __init__(self, transform: RigidTransform, pauses: list[tuple[int, int]]) -> None:
        self.transform, self.pauses = transform, pauses

    def __call__(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        if any(start <= stamp_ns <= end for start, end in self.pauses):
            msg = f"Lookup would require extrapolation into the future when looking up {target} <- {source}"
            raise TransformError(msg)
        return self.transform


def test_a_tf_that_pauses_holds_its_last_pose_for_two_seconds_on_real_kitti_frames(kitti_object_dir: Path) -> None:
    """Real KITTI frames 000000 / 000002 (prediction: the real Velodyne depth, densified, at half scale), one image
    every 0.1 s, the parameters at KITTI's nominal 1.65 m and 0° (10 % / 5 % off on these frames), TF giving the
    scan's road plane but pausing from 0.6 to 1.4 s and stopping after 2.0 s (a pan-tilt joint's state that lags or
    stops). Each frame without TF got the parameters' prior: the ground-plane scale drifted from -0.5 % to +7.8 %
    over the 1 s pause on 000000, reported ok. Now TF's last pose stands in for 2 s (each frame reported
    ``ground_frame.held`` once 0.3 s old): within 1.5 % through the pause and to 4.0 s, then the parameters'
    prior, reported ``ground_frame.no_transform`` with the last pose's age. A frame whose pose is held more than
    ``LAG_NS`` (0.2 s) is not current (a joint turning through the pause: 9° at 0.3 s and 30°/s, a third of the
    scale): its scale's health was ``ok``; now ``degraded``, the reason naming the pose's age."""
    from test.kitti_bag import load_kitti_frames

    parameters = scale_config(**{"scale.camera_height_m": 1.65})
    for frame in load_kitti_frames(kitti_object_dir, tuple(ROAD_PLANES)):
        tf = PausingTf(
            footprint_from_cam(*ROAD_PLANES[frame.name]), [(600_000_000, 1_400_000_000), (2_050_000_000, 10**10)]
        )
        warnings = Warnings()
        poses = GroundPoses("base_footprint", tf, warnings)
        prediction = 0.5 * densify_nearest(frame.lidar_depth_m)
        recovery = ScaleRecovery(RecoveryConfig(mode="ground_plane", ground=GroundPlaneConfig(1.65, 0.0)))
        errors: dict[int, float] = {}
        reasons_at: dict[int, str] = {}
        for tenth in range(50):
            stamp = tenth * 100_000_000
            pose = poses.pose(CAMERA, stamp, parameters)
            assert (pose is None) == (tenth > 40), (frame.name, tenth)
            result = recovery.update(prediction, OutputKind.DEPTH_UP_TO_SCALE, stamp, frame.intrinsics, None, pose)
            stale = 8 <= tenth <= 14 or 23 <= tenth <= 40  # TF's pose more than 0.2 s old: not current
            assert str(result.health.value) == ("degraded" if stale else "ok"), (frame.name, tenth, result)
            assert ("s old (held: TF paused?)" in result.reason) == stale, (frame.name, tenth, result.reason)
            errors[tenth], reasons_at[tenth] = result.scale / 2.0 - 1.0, result.reason
        assert "TF's camera pose (scale.ground_frame) is 0.300 s old" in reasons_at[8], reasons_at[8]
        assert max(abs(errors[tenth]) for tenth in range(41)) < 0.015, (frame.name, errors)
        assert abs(errors[49]) > 0.03, (frame.name, errors)  # the parameters' prior, once the hold is over
        reasons = [reason for reason, _ in warnings.seen]
        held_reasons = ["ground_frame.held"] * (7 + 18) + ["ground_frame.no_transform"] * 9  # 0.1, 0.2 s: a lag
        assert reasons == ["ground_frame.disagrees", *held_reasons], reasons  # 1.65 m, 0° against TF's, at first
        assert (poses.lagging, poses.held, poses.unused) == (4, 25, 9)
        held, expired = warnings.seen[1][1], warnings.seen[-1][1]
        assert "holds TF's pose from 0.300 s before" in held and "for up to 2 s" in held, held
        assert "extrapolation into the future" in held and "lag behind its images or pause" in held, held
        assert "TF's last pose is 2.900 s older (held up to 2 s)" in expired, expired
        assert "scale.camera_height_m=1.65 m" in expired, expired


def test_the_node_counts_and_logs_once_a_held_ground_pose() -> None:
    """The node's :func:`tf2_frame_poses`: a frame given the held pose is counted each time
    (``inputs_unused.ground_frame.held`` in /diagnostics) and logged once per camera frame."""
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer = StaticBuffer(factory, footprint_from_cam(1.53, -1.4))
    logged, counted = list[str](), list[str]()
    config = DepthConfig.from_params({"scale.ground_frame": "base_footprint"})
    poses = tf2_frame_poses(config, buffer, factory, (LookupFailed,), logged.append, counted.append)
    rgb = np.zeros((4, 6, 3), np.uint8)
    frame = FrameInput(
        1_000_000_000, CAMERA, rgb, CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4))
    )
    found = poses.add_to(frame, config.scale).ground_pose
    assert found is not None and found.height_m == pytest.approx(1.53)
    buffer.transform = replace(buffer.transform, src_frame="gone")  # the joint's TF stops
    for later in (1, 2, 5):
        later_frame = replace(frame, stamp_ns=frame.stamp_ns + later * 500_000_000)
        held = found._replace(age_ns=later * 500_000_000)  # not current: the frame's scale is degraded
        assert poses.add_to(later_frame, config.scale).ground_pose == (held if later < 5 else None)
    assert counted == ["ground_frame.held", "ground_frame.held", "ground_frame.no_transform"], counted
    assert len(logged) == 2 and "holds TF's pose from 0.500 s before" in logged[0], logged


def test_parameters_changed_at_run_time_are_compared_with_tf_again() -> None:
    """``ros2 param set ... scale.camera_height_m`` at run time: the parameters in force are compared with TF again.
    The disagreement was reported once per camera frame for good: parameters corrected, then set wrong again (1.2 m),
    said nothing, in GroundPoses and in the node's log (once per reason and camera frame). Now each new pair of
    values that disagrees is reported once, by the node too."""
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer, logged, counted = StaticBuffer(factory, footprint_from_cam(1.69, 1.4)), list[str](), list[str]()
    config = DepthConfig.from_params({"scale.ground_frame": "base_footprint", "scale.camera_height_m": 1.65})
    poses = tf2_frame_poses(config, buffer, factory, (LookupFailed,), logged.append, counted.append)
    rgb = np.zeros((4, 6, 3), np.uint8)
    intrinsics = PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4)
    frame = FrameInput(1_000_000_000, CAMERA, rgb, CameraModel.from_intrinsics(intrinsics))
    settings = [(1.65, 0.0), (1.65, 0.0), (1.69, 0.0244), (1.2, 0.0244), (1.2, 0.0244), (1.65, 0.0)]
    for height, pitch in settings:
        changed = config.with_changes({"scale.camera_height_m": height, "scale.camera_pitch_rad": pitch})
        assert poses.add_to(frame, changed.scale).ground_pose is not None
    assert len(logged) == 3 and not counted, logged  # 1.65 m / 0°; 1.2 m; 1.65 m / 0° again after 1.2 m
    assert "scale.camera_height_m=1.65 m and scale.camera_pitch_rad=0 (+0.00°)" in logged[0], logged[0]
    assert "scale.camera_height_m=1.2 m and scale.camera_pitch_rad=0.0244 (+1.40°)" in logged[1], logged[1]
    assert "scale.camera_height_m=1.65 m" in logged[2], logged[2]


def test_a_tf_behind_every_image_holds_tfs_newest_pose() -> None:
    """A joint's TF that always ends 20 ms before the image never answers at an image stamp, so there was no pose to
    hold: every frame took the parameters' prior. With a ``newest`` query (tf2's time 0, the node) TF's newest pose
    is held (real tf2: test/ros2/test_ros2_inputs.py::
    test_real_tf2_lagging_behind_every_image_or_pausing_holds_the_newest_ground_pose)."""
    transform, answered = footprint_from_cam(0.8, 12.0), [0]

    def lookup(target: str, source: str, stamp_ns: int) -> RigidTransform:
        if stamp_ns > answered[0]:
            msg = f"Lookup would require extrapolation into the future when looking up {target} <- {source}"
            raise TransformError(msg)
        return transform

    counts = []
    for lag_ns in (20_000_000, 300_000_000):  # TF's newest, 20 ms behind the image; 0.3 s
        warnings = Warnings()
        poses = GroundPoses("base_footprint", lookup, warnings, newest=lambda _target, _source: answered[0])
        for k in range(1, 6):
            answered[0] = 10**9 + k * 33_000_000 - lag_ns
            pose = poses.pose(CAMERA, 10**9 + k * 33_000_000, scale_config())
            assert pose is not None and math.degrees(pose.pitch_rad) == pytest.approx(12.0), (k, pose)
        counts.append((poses.lagging, poses.held, poses.unused, len(warnings.seen)))
    assert counts == [(5, 0, 0, 0), (0, 5, 0, 5)], counts  # 20 ms: a lag, unreported; 0.3 s: held, reported
    assert warnings.seen[0][0] == "ground_frame.held" and "TF's pose from 0.300 s before" in warnings.seen[0][1]
    without = GroundPoses("base_footprint", lookup, Warnings())  # the bag runner: no newest query
    assert without.pose(CAMERA, 10**9, scale_config()) is None and without.unused == 1


def test_a_wrong_height_set_again_after_a_correction_is_warned_again() -> None:
    """``ros2 param set`` to TF's height (agrees), then back to the same wrong 1.65 m: the once-per-pair memory kept
    the first wrong pair, so the second time said nothing. Each change to a disagreeing pair is reported."""
    tf, warnings = StaticTf({CAMERA: footprint_from_cam(1.69, 1.4)}), Warnings()
    poses = GroundPoses("base_footprint", tf, warnings)
    settings = [(1.65, 0.0), (1.65, 0.0), (1.69, 0.0244), (1.65, 0.0), (1.65, 0.0)]
    for height, pitch in settings:
        scale = scale_config(**{"scale.camera_height_m": height, "scale.camera_pitch_rad": pitch})
        assert poses.pose(CAMERA, 10**9, scale) is not None
    reasons = [reason for reason, _ in warnings.seen]
    assert reasons == ["ground_frame.disagrees"] * 2, warnings.seen  # 1.65 m; 1.65 m again after 1.69 m
    assert all("scale.camera_height_m=1.65 m" in text for _, text in warnings.seen), warnings.seen


def test_a_tf_behind_every_image_is_held_again_after_time_went_back() -> None:
    """``ros2 bag play --loop`` of a 5 s recording, TF 20 ms behind every image (the node's tf2: buffer cleared when
    /tf goes back, time 0 its newest): the last pose of the first pass (stamp 4.97 s) was newer than any TF of the
    second pass, so TF's newest was never taken again; the second pass's first 3 s had the parameters' prior
    (``ground_frame.no_transform``), the rest held the first pass's pose. Time going back forgets it (as the temporal
    filter's poses)."""
    answered = [0]

    def lookup(target: str, source: str, stamp_ns: int) -> RigidTransform:
        if stamp_ns != answered[0]:
            msg = f"Lookup would require extrapolation into the future when looking up {target} <- {source}"
            raise TransformError(msg)
        return footprint_from_cam(0.8, 12.0 if stamp_ns % 2 else 10.0)  # the tilt, told apart by the stamp

    warnings = Warnings()
    poses = GroundPoses("base_footprint", lookup, warnings, newest=lambda _target, _source: answered[0])
    for bag_pass in range(2):
        for k in range(1, 151):  # 30 Hz, 5 s
            answered[0] = k * 33_333_333 - 20_000_000  # TF's newest, 20 ms behind the image
            pose = poses.pose(CAMERA, k * 33_333_333, scale_config())
            assert pose is not None, (bag_pass, k)
            expected = 12.0 if answered[0] % 2 else 10.0
            assert math.degrees(pose.pitch_rad) == pytest.approx(expected), (bag_pass, k, pose)
    assert poses.unused == 0, warnings.seen[-1]


class LaggingBuffer:
    """tf2's ``lookup_transform`` for a joint's TF whose newest stamp is ``newest_ns``: time 0 gives the newest, a
    later stamp raises as tf2's extrapolation does (a stamp up to it: the same pose)."""

    def __init__(self, factory: MessageFactory, transform: RigidTransform) -> None:
        self.factory, self.transform, self.newest_ns = factory, transform, 0

    def lookup_transform(self, target: str, source: str, time: Any) -> Any:
        stamp_ns = time.sec * 10**9 + time.nanosec
        if stamp_ns > self.newest_ns:
            raise LookupFailed(f"Lookup would require extrapolation into the future when looking up {target}")
        return transform_stamped_from_rigid(self.factory, self.transform, stamp_ns or self.newest_ns)


def test_a_tf_steadily_20_ms_behind_the_images_is_not_a_warning_in_diagnostics() -> None:
    """A pan-tilt joint's TF (robot_state_publisher at the joint state's stamp) that ends 20 ms before every 30 Hz
    image: a normal steady state, TF's newest pose is as good as an answer (the temporal filter extrapolates such a
    lag silently). Every frame was counted ``inputs_unused.ground_frame.held``, a bad message in /diagnostics' window:
    WARN forever, and the log asked whether TF lags. Now a lag up to ``LAG_NS`` (0.2 s) is TF's answer, unreported;
    a TF that pauses longer is held and reported as before."""
    from mono_depth_ros.adapters.diagnostics import diagnostic_report
    from mono_depth_ros.adapters.stats import RuntimeStats
    from mono_depth_ros.pipeline import ScaleStatus

    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    buffer, logged, now = LaggingBuffer(factory, footprint_from_cam(0.8, 12.0)), list[str](), [0]
    stats = RuntimeStats(window_s=1.0, clock_ns=lambda: now[0])
    config = DepthConfig.from_params({"scale.ground_frame": "base_footprint"})
    poses = tf2_frame_poses(config, buffer, factory, (LookupFailed,), logged.append, stats.input_unused)
    camera = CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4))
    levels = []
    for k in range(1, 151):  # 5 s at 30 Hz
        image_ns = 10**9 + k * 33_333_333
        paused = 3 * 10**9 <= image_ns <= 4 * 10**9  # the joint's state stops for 1 s
        buffer.newest_ns = buffer.newest_ns if paused else image_ns - 20_000_000
        now[0] = image_ns
        frame = FrameInput(image_ns, CAMERA, np.zeros((4, 6, 3), np.uint8), camera)
        pose = poses.add_to(frame, config.scale).ground_pose
        assert pose is not None and math.degrees(pose.pitch_rad) == pytest.approx(12.0), k
        stats.frame_published_at(image_ns, image_ns + 30_000_000)
        scale = ScaleStatus(mode="ground_plane", health="ok", scale=1.0)  # each frame's ground fit: ok
        levels.append(diagnostic_report(stats.snapshot(), scale).level)
    assert set(levels[:55]) == {"OK"}, levels  # steadily 20 ms behind, to 2.8 s
    assert "WARN" in levels[60:90], levels  # the pause: TF's pose held and reported
    unused = stats.snapshot().unused
    assert set(unused) == {"ground_frame.held"} and 20 < unused["ground_frame.held"] < 30, unused
    assert len(logged) == 1 and "lag behind its images or pause" in logged[0], logged


def test_parameters_that_disagree_with_a_tf_behind_every_image_are_warned() -> None:
    """A joint's TF 20 ms behind every image (the node's tf2; its newest pose used) and scale.camera_height_m 1.65 m
    against TF's 0.8 m: the comparison ran only for a pose found at an image stamp, so the node never warned, while
    the bag runner (its TF whole: an answer at every stamp) did. Now the pose used is compared, whichever way found."""
    answered = [0]

    def lookup(target: str, source: str, stamp_ns: int) -> RigidTransform:
        if stamp_ns > answered[0]:
            msg = f"Lookup would require extrapolation into the future when looking up {target} <- {source}"
            raise TransformError(msg)
        return footprint_from_cam(0.8, 12.0)

    warnings = Warnings()
    poses = GroundPoses("base_footprint", lookup, warnings, newest=lambda _target, _source: answered[0])
    for k in range(1, 6):
        answered[0] = 10**9 + k * 33_000_000 - 20_000_000
        assert poses.pose(CAMERA, 10**9 + k * 33_000_000, scale_config(**{"scale.camera_height_m": 1.65})) is not None
    assert [reason for reason, _ in warnings.seen] == ["ground_frame.disagrees"], warnings.seen
    assert "0.800 m above the ground" in warnings.seen[0][1] and "scale.camera_height_m=1.65 m" in warnings.seen[0][1]


DEG_PER_S = 30.0  # a pan-tilt joint's tilt rate


class TurningJoint:
    """TF base_footprint <- camera of a tilt joint at ``height_m`` pitched ``pitch_deg(stamp_ns)`` (° down), known to
    TF up to ``newest_ns`` (later: tf2's extrapolation error; ``newest`` is tf2's time 0). Its samples are
    interpolated as tf2 does: at a constant rate, the exact pose at any stamp up to the newest."""

    def __init__(self, height_m: float, pitch_deg: Callable[[int], float]) -> None:
        self.height_m, self.pitch_deg, self.newest_ns = height_m, pitch_deg, 0

    def __call__(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        if stamp_ns > self.newest_ns:
            msg = f"Lookup would require extrapolation into the future when looking up {target} <- {source}"
            raise TransformError(msg)
        return footprint_from_cam(self.height_m, self.pitch_deg(stamp_ns))

    def newest(self, _target: str, _source: str) -> int:
        return self.newest_ns


def pitched_prediction(frame: Any, pitch_deg: float) -> Any:
    """Frame ``frame``'s real Velodyne depth, densified, at half scale (the true scale is 2), as seen by its camera
    pitched from the scan's road plane (``ROAD_PLANES``) to ``pitch_deg`` (° down) about its optical centre."""
    from mono_depth_ros.core.geometry import zbuffer_depth

    height_m, road_pitch_deg = ROAD_PLANES[frame.name]
    moved = footprint_from_cam(height_m, pitch_deg).inverse() @ footprint_from_cam(height_m, road_pitch_deg)
    points = moved.apply(frame.cam_from_velo.apply(frame.scan[:, :3].astype(np.float64)))
    return 0.5 * densify_nearest(zbuffer_depth(points, frame.intrinsics)[0])


def ground_scale_error(frame: Any, prediction: Any, pose: Any) -> float:
    """The ground-plane scale's error (share of the true scale 2) of one frame with ``pose``, parameters 1.65 m, 0°
    (its health: ``degraded`` where the pose is TF's held more than 0.2 s, else ``ok``)."""
    recovery = ScaleRecovery(RecoveryConfig(mode="ground_plane", ground=GroundPlaneConfig(1.65, 0.0)))
    result = recovery.update(prediction, OutputKind.DEPTH_UP_TO_SCALE, 0, frame.intrinsics, None, pose)
    expected = "degraded" if pose.age_ns > 200_000_000 else "ok"
    assert str(result.health.value) == expected, (frame.name, pose, result.reason)
    return float(result.scale) / 2.0 - 1.0


def test_a_tilt_joint_turning_behind_a_lagging_tf_is_followed_on_real_kitti_frames(kitti_object_dir: Path) -> None:
    """Real KITTI frames 000000 / 000002, their camera on a tilt joint turning at 30°/s (each 30 Hz image: the scan
    seen from the pitch of its stamp, 4° either side of the road's), the joint's TF 20 ms or 100 ms behind every
    image (the node's tf2; ``newest``: its time 0). TF's newest pose was held as the pose at the image stamp: the
    pitch 0.6° / 3° behind, the scale off by that much pitch's cost. Extrapolated from TF's two newest poses as the
    temporal filter does (:meth:`~mono_depth_ros.adapters.motion.CameraPoses.extrapolate`), within the scale error
    of TF answering at the stamp."""
    from test.kitti_bag import load_kitti_frames

    start_ns, period_ns = 10**9, 33_333_333
    stamps = [start_ns + k * period_ns for k in range(5)]  # tilting down from the road's pitch, 4° in all
    for frame in load_kitti_frames(kitti_object_dir, tuple(ROAD_PLANES)):
        height_m, road_deg = ROAD_PLANES[frame.name]

        def pitch_deg(stamp_ns: int, road_deg: float = road_deg) -> float:
            return road_deg + DEG_PER_S * (stamp_ns - start_ns) / 1e9

        predictions = {stamp: pitched_prediction(frame, pitch_deg(stamp)) for stamp in stamps}
        exact = {  # TF's answer at the image stamp
            stamp: ground_scale_error(
                frame, predictions[stamp], ground_pose(footprint_from_cam(height_m, pitch_deg(stamp)))
            )
            for stamp in stamps
        }
        for lag_ns in (20_000_000, 100_000_000):
            joint = TurningJoint(height_m, pitch_deg)
            warnings = Warnings()
            poses = GroundPoses("base_footprint", joint, warnings, newest=joint.newest)
            for stamp in stamps:
                joint.newest_ns = stamp - lag_ns
                pose = poses.pose(CAMERA, stamp, scale_config())
                assert pose is not None and pose.height_m == pytest.approx(height_m), (frame.name, lag_ns, stamp)
                off_deg = math.degrees(pose.pitch_rad) - pitch_deg(stamp)  # held: -0.6°, -3°
                error = ground_scale_error(frame, predictions[stamp], pose)  # held: +4-8 %, +26-39 %
                assert abs(off_deg) < 0.01 and abs(error - exact[stamp]) < 0.002, (frame.name, lag_ns, off_deg, error)
            assert (poses.lagging, poses.held, poses.unused, warnings.seen) == (len(stamps), 0, 0, [])  # a lag
        assert max(abs(error) for error in exact.values()) < 0.015, exact  # TF at the stamp: -0.5 % / +1.5 %


def test_a_tilt_joint_that_stops_is_overshot_no_longer_than_the_unreported_lag_on_real_kitti_frames(
    kitti_object_dir: Path,
) -> None:
    """Where extrapolation is wrong: the tilt joint of the test above stops after 0.1 s of turning at 30°/s. With its
    TF steadily 100 ms behind, the pitch overshoots by at most the lag's worth (3°) for the lag and the velocity's
    base (50 ms) after the stop, a mirror of the hold, which lagged as much through the whole turn: the worst frame's
    scale is off by less than the held one's was. With TF pausing as the joint stops, the overshoot grows until
    ``LAG_NS`` (0.2 s: 6°, -29 %), then TF's last pose is held (the stopped joint's: exact), each such frame reported
    ``ground_frame.held``. It grew on to ``temporal.max_extrapolation_s`` (0.5 s by default: 15°, -53 %), 7-15° off
    on the frames past 0.2 s (reported ``held``, their scale ``ok``)."""
    from test.kitti_bag import load_kitti_frames

    start_ns, period_ns, stop_ns = 10**9, 33_333_333, 10**9 + 100_000_000
    temporal = DepthConfig.from_params({"temporal.max_extrapolation_s": 0.3}).temporal
    for frame in load_kitti_frames(kitti_object_dir, ("000000",)):
        height_m, road_deg = ROAD_PLANES[frame.name]

        def pitch_deg(stamp_ns: int, road_deg: float = road_deg) -> float:
            return road_deg + DEG_PER_S * (min(stamp_ns, stop_ns) - start_ns) / 1e9

        joint, warnings = TurningJoint(height_m, pitch_deg), Warnings()
        poses = GroundPoses("base_footprint", joint, warnings, newest=joint.newest, temporal=temporal)
        over_deg = {}
        for k in range(12):  # TF steadily 100 ms behind
            stamp = start_ns + k * period_ns
            joint.newest_ns = stamp - 100_000_000
            pose = poses.pose(CAMERA, stamp, scale_config())
            assert pose is not None
            over_deg[k] = math.degrees(pose.pitch_rad) - pitch_deg(stamp)
        overshot = {k: round(over, 3) for k, over in over_deg.items() if abs(over) > 1e-6}
        assert overshot == {4: 1.0, 5: 2.0, 6: 3.0, 7: 1.0}, over_deg  # held: -3° through the turn, -2°, -1° after
        worst_ns = start_ns + 6 * period_ns
        prediction = pitched_prediction(frame, pitch_deg(worst_ns))
        overshoot = ground_scale_error(frame, prediction, ground_pose(footprint_from_cam(height_m, road_deg + 6.0)))
        held = ground_scale_error(  # the hold 3° behind, in the turn
            frame, pitched_prediction(frame, road_deg + 1.0), ground_pose(footprint_from_cam(height_m, road_deg - 2.0))
        )
        assert -0.2 < overshoot < -0.15 and 0.25 < held < 0.3, (overshoot, held)  # -18 %, +28 %

        joint, warnings = TurningJoint(height_m, pitch_deg), Warnings()
        poses = GroundPoses("base_footprint", joint, warnings, newest=joint.newest)  # the default bound: 0.5 s
        over_deg, errors = {}, {}
        for k in range(15):  # TF 20 ms behind until the joint stops, then silent
            stamp = start_ns + k * period_ns
            joint.newest_ns = min(stamp - 20_000_000, stop_ns)
            pose = poses.pose(CAMERA, stamp, scale_config())
            assert pose is not None
            over_deg[k] = round(math.degrees(pose.pitch_rad) - pitch_deg(stamp), 3)
            errors[k] = ground_scale_error(frame, pitched_prediction(frame, pitch_deg(stamp)), pose)
        # extrapolated up to LAG_NS (0.2 s) after TF's last pose, then that pose held: it was extrapolated on to the
        # temporal filter's 0.5 s, 15° (-53 %) off, 7-15° past 0.2 s
        assert [over_deg[k] for k in range(3, 15)] == [0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0], over_deg  # ° (rounded)
        assert min(errors.values()) > -0.32 and -0.32 < errors[9] < -0.27, errors  # 6° at 0.2 s: -29 %
        assert max(abs(errors[k]) for k in range(10, 15)) < 0.02, errors  # the stopped joint's pose, held
        assert [reason for reason, _ in warnings.seen] == ["ground_frame.held"] * 5, warnings.seen  # > 0.2 s
        assert "holds TF's pose from 0.233 s before" in warnings.seen[0][1], warnings.seen[0][1]
        assert (poses.lagging, poses.held) == (10, 5), (poses.lagging, poses.held)


def test_the_bag_runners_tf_ending_while_the_joint_turns_is_extrapolated_from_the_last_poses_at_image_stamps() -> None:
    """The bag runner (no ``newest`` query: its TF holds the whole bag, and a lookup past the end of a moving
    transform's /tf fails, as tf2's would): /tf ends at the fourth 30 Hz image while the tilt joint turns at 30°/s.
    The images after it held the last pose found at an image stamp, 1°, 2°, ... behind. Now extrapolated from the last
    two found, as the temporal filter's camera poses are there, to ``temporal.max_extrapolation_s`` (0.1 s here),
    then held."""
    start_ns, period_ns = 10**9, 33_333_333

    def pitch_deg(stamp_ns: int) -> float:
        return 5.0 + DEG_PER_S * (stamp_ns - start_ns) / 1e9

    joint = TurningJoint(0.8, pitch_deg)
    joint.newest_ns = start_ns + 3 * period_ns  # the last /tf
    temporal = DepthConfig.from_params({"temporal.max_extrapolation_s": 0.1}).temporal
    poses = GroundPoses("base_footprint", joint, Warnings(), temporal=temporal)
    off_deg = []
    for k in range(8):
        stamp = start_ns + k * period_ns
        pose = poses.pose(CAMERA, stamp, scale_config())
        assert pose is not None and pose.height_m == pytest.approx(0.8), k
        off_deg.append(round(math.degrees(pose.pitch_rad) - pitch_deg(stamp), 3))
    assert off_deg == [0, 0, 0, 0, 0, 0, 0, -4], off_deg  # held: 0, 0, 0, 0, -1, -2, -3, -4
    assert (poses.lagging, poses.held, poses.unused) == (4, 0, 0)  # within 0.2 s of the last /tf: a lag


def test_a_frame_without_tfs_pose_past_the_hold_has_its_ground_plane_scale_degraded_on_real_kitti_frames(
    kitti_object_dir: Path,
) -> None:
    """The node's path (:func:`tf2_frame_poses`, then the pipeline) on real KITTI frames 000000 / 000002 (external
    prediction: the Velodyne depth, densified, at half scale), ``scale.mode=ground_plane``, the parameters at KITTI's
    nominal 1.65 m and 0° (10 % / 5 % off these frames' roads), ``scale.ground_frame`` giving the road plane at the
    first frame, then the joint's TF lost; a second camera frame TF never holds. A frame past the 2 s hold, and every
    frame of the second camera, took the parameters' prior with its scale ``ok`` (only
    ``inputs_unused.ground_frame.no_transform`` counted, warned once), though ``scale.ground_frame`` is set because
    the parameters are not the camera's pose. Now ``degraded``, its ``scale_reason`` naming the missing TF and the
    values used; without ``scale.ground_frame``, ``ok`` as before."""
    from test.kitti_bag import load_kitti_frames

    params = {
        "model.backend": "external",
        "model.output_kind": "depth_up_to_scale",
        "scale.mode": "ground_plane",
        "scale.camera_height_m": 1.65,
        "cloud.enabled": False,
    }
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    for frame in load_kitti_frames(kitti_object_dir, tuple(ROAD_PLANES)):
        camera = CameraModel.from_intrinsics(frame.intrinsics)
        prediction = 0.5 * densify_nearest(frame.lidar_depth_m)
        outcomes = {}
        for ground_frame in ("base_footprint", ""):
            config = DepthConfig.from_params({**params, "scale.ground_frame": ground_frame})
            buffer = StaticBuffer(factory, footprint_from_cam(*ROAD_PLANES[frame.name]))
            logged, counted = list[str](), list[str]()
            poses = tf2_frame_poses(config, buffer, factory, (LookupFailed,), logged.append, counted.append)
            pipeline = DepthPipeline(config)
            seen = []
            for stamp_ns, frame_id in ((10**9, CAMERA), (35 * 10**8, CAMERA), (36 * 10**8, "other")):
                if stamp_ns > 10**9:
                    buffer.transform = replace(buffer.transform, src_frame="gone")  # the joint's TF lost
                image = FrameInput(stamp_ns, frame_id, frame.rgb, camera, prediction=prediction)
                scale = pipeline.process_frame(poses.add_to(image, config.scale)).scale
                seen.append((scale.health, scale.reason))
            outcomes[ground_frame] = seen
            assert counted == (["ground_frame.no_transform"] * 2 if ground_frame else []), counted
        assert [health for health, _ in outcomes[""]] == ["ok"] * 3, (frame.name, outcomes[""])
        (tf_health, _), *lost = outcomes["base_footprint"]
        assert tf_health == "ok", (frame.name, outcomes)  # TF's pose at the image stamp
        used = "the ground-plane prior uses scale.camera_height_m=1.65 m and scale.camera_pitch_rad=0"
        for (health, reason), camera_frame in zip(lost, (CAMERA, "other"), strict=True):
            assert health == "degraded", (frame.name, camera_frame, reason)
            assert f"no TF base_footprint <- {camera_frame} for the camera's height" in reason, reason
            assert used in reason, reason
        assert "TF's last pose is 2.500 s older (held up to 2 s)" in lost[0][1], lost[0][1]


def test_a_tf_that_puts_the_camera_below_the_ground_frame_degrades_the_frames_ground_plane_scale() -> None:
    """TF putting the camera 0.2 m below ``scale.ground_frame`` (a frame not on the ground): the parameters' prior,
    counted ``inputs_unused.ground_frame.not_above``, and the frame's input to the pipeline says why, for its
    ground-plane scale to be ``degraded`` (:meth:`GroundPoses.add_to`)."""
    below = RigidTransform(np.eye(3), np.array([0.0, 0.0, -0.2]), "base_footprint", CAMERA)
    poses = GroundPoses("base_footprint", StaticTf({CAMERA: below}), Warnings())
    frame = FrameInput(
        7,
        CAMERA,
        np.zeros((4, 6, 3), np.uint8),
        CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4)),
    )
    posed = poses.add_to(frame, scale_config())
    assert posed.ground_pose is None and poses.unused == 1
    assert posed.ground_pose_missing.startswith(f"TF puts camera {CAMERA} -0.200 m above scale.ground_frame"), posed
    found = GroundPoses("base_footprint", StaticTf({CAMERA: footprint_from_cam(1.69, 1.4)}), Warnings())
    assert found.add_to(frame, scale_config()).ground_pose_missing == ""  # TF's pose: nothing missing
    assert GroundPoses("", StaticTf({}), Warnings()).add_to(frame, scale_config()).ground_pose_missing == ""


class StartingJoint(TurningJoint):
    """:class:`TurningJoint` whose TF starts at ``oldest_ns``: earlier stamps fail as tf2's extrapolation into the
    past does."""

    def __init__(self, height_m: float, pitch_deg: Callable[[int], float], oldest_ns: int) -> None:
        super().__init__(height_m, pitch_deg)
        self.oldest_ns = oldest_ns

    def __call__(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        if stamp_ns < self.oldest_ns:
            msg = f"Lookup would require extrapolation into the past when looking up {target} <- {source}"
            raise TransformError(msg)
        return super().__call__(target, source, stamp_ns)


def test_a_pose_from_after_the_image_is_not_current_either_on_real_kitti_frames(kitti_object_dir: Path) -> None:
    """Real KITTI frames 000000 / 000002 on the tilt joint turning at 30°/s; images stamped 0-0.3 s queued behind a
    slow transport and processed once the joint's TF, started at 0.5 s, reaches 0.6 s. They are stamped before TF's
    oldest pose: TF's newest is held, a pose from 0.6-0.3 s *after* the image (18-9° off), each frame reported
    ``ground_frame.held``, but its ground-plane scale -57 %, -53 % on 000000, -40 % on 000002 (whose first two
    frames find no ground where the pose puts it: ``lost``), reported ``ok``: only a pose older than the image was
    checked against ``POSE_CURRENT_NS``. Now a pose more than 0.2 s from the image on either side is not current:
    ``degraded``, the reason naming how far ahead of the image it is."""
    from test.kitti_bag import load_kitti_frames

    start_ns = 10**9
    for frame in load_kitti_frames(kitti_object_dir, tuple(ROAD_PLANES)):
        height_m, road_deg = ROAD_PLANES[frame.name]

        def pitch_deg(stamp_ns: int, road_deg: float = road_deg) -> float:
            return road_deg + DEG_PER_S * (stamp_ns - start_ns) / 1e9

        joint, warnings = StartingJoint(height_m, pitch_deg, start_ns + 500_000_000), Warnings()
        poses = GroundPoses("base_footprint", joint, warnings, newest=joint.newest)
        recovery = ScaleRecovery(RecoveryConfig(mode="ground_plane", ground=GroundPlaneConfig(1.65, 0.0)))
        for k in range(4):  # images at 0, 0.1, 0.2, 0.3 s, processed when TF's newest is 0.6 s
            stamp = start_ns + k * 100_000_000
            joint.newest_ns = start_ns + 600_000_000
            pose = poses.pose(CAMERA, stamp, scale_config())
            assert pose is not None and pose.age_ns == stamp - joint.newest_ns, (frame.name, k, pose)
            prediction = pitched_prediction(frame, pitch_deg(stamp))
            result = recovery.update(prediction, OutputKind.DEPTH_UP_TO_SCALE, stamp, frame.intrinsics, None, pose)
            assert result.health.value != "ok", (frame.name, k, result.reason)
            if result.mode.value == "ground_plane":  # 000002's first two: no ground where the pose puts it
                assert abs(result.scale / 2.0 - 1.0) > 0.3, (frame.name, k, result.scale)  # 9-18° off: -40 % to -57 %
            ahead = f"{(joint.newest_ns - stamp) / 1e9:.3f} s ahead of this frame"
            held = f"is {ahead} (held: an image from before TF's first pose?)"
            assert f"TF's camera pose (scale.ground_frame) {held}" in result.reason, result.reason
        assert [reason for reason, _ in warnings.seen] == ["ground_frame.held"] * 4, warnings.seen
        assert "holds TF's pose from 0.600 s after the image" in warnings.seen[0][1], warnings.seen[0][1]


def test_a_lagging_frame_asks_tf_four_times_for_the_same_pose() -> None:
    """TF steadily 20 ms behind the images of a turning tilt joint (the node's tf2): each frame asked TF six times,
    its newest stamp and the pose there twice (once for the held pose, once for the extrapolation's newer pose), where
    before the extrapolation it asked three times. Asked once each per frame now: the lookup at the image stamp,
    TF's newest stamp, the pose there and the extrapolation's older pose; the poses are the same."""
    start_ns, period_ns = 10**9, 33_333_333

    def pitch_deg(stamp_ns: int) -> float:
        return 5.0 + DEG_PER_S * (stamp_ns - start_ns) / 1e9

    joint = TurningJoint(0.8, pitch_deg)
    calls: list[tuple[str, int | None]] = []

    def lookup(target: str, source: str, stamp_ns: int) -> RigidTransform:
        calls.append(("lookup", stamp_ns))
        return joint(target, source, stamp_ns)

    def newest(target: str, source: str) -> int:
        calls.append(("newest", None))
        return joint.newest(target, source)

    poses = GroundPoses("base_footprint", lookup, Warnings(), newest=newest)
    for k in range(1, 6):
        stamp = start_ns + k * period_ns
        joint.newest_ns = stamp - 20_000_000
        del calls[:]
        pose = poses.pose(CAMERA, stamp, scale_config())
        assert pose is not None and abs(math.degrees(pose.pitch_rad) - pitch_deg(stamp)) < 0.01, k
        newer, older = joint.newest_ns, joint.newest_ns - 50_000_000
        assert calls == [("lookup", stamp), ("newest", None), ("lookup", newer), ("lookup", older)], (k, calls)
    assert poses.lagging == 5
