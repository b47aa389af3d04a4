"""Render a short synthetic drive into an input rosbag2: camera, 16-beam LiDAR, TF and (optionally) the oracle.

Bag layout (topic names are the node's defaults; frames from :mod:`mono_depth_ros.core.synthetic`):

=========================  ==============================  ========================================================
topic                      type                            content
=========================  ==============================  ========================================================
/camera/image_raw          sensor_msgs/Image rgb8          rendered frame, frame_id ``camera_optical_frame``
/camera/camera_info        sensor_msgs/CameraInfo          rectified, no distortion (P = [K | 0])
/lidar/points              sensor_msgs/PointCloud2         x, y, z, intensity float32 + ring uint16, frame ``lidar``,
                                                           same stamp as the image (a synchronised rig)
/tf_static                 tf2_msgs/TFMessage              ``base_link`` → ``camera_optical_frame``,
                                                           ``camera_optical_frame`` → ``lidar`` and
                                                           ``base_link`` → ``camera_frame`` (the body frame
                                                           /depth/scan is stamped in with nav2), once
/tf                        tf2_msgs/TFMessage              ``map`` → ``base_link`` per frame (ground-truth odometry)
/depth_model/prediction    sensor_msgs/Image 32FC1         only with an oracle: relative inverse depth (see .oracle),
                                                           image stamp, recorded 40 ms after the image
=========================  ==============================  ========================================================

Frames are 100 ms apart (10 Hz); receive (bag) times are the stamps plus small per-topic latencies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.ros_msgs import tf_message_from
from mono_depth_ros.core.synthetic import FRAME_LIDAR, SensorRig, iter_sequence, kitti_like_intrinsics
from mono_depth_ros.demo.bag_builder import BagBuilder, add_camera, add_oracle, lidar_cloud
from mono_depth_ros.demo.oracle import ORACLE_LABEL, OracleConfig, OracleStream
from mono_depth_ros.demo.scenario import (
    BASE_PARAMS,
    LIDAR_TOPIC,
    PREDICTION_TOPIC,
    FrameTruth,
    ProgressFn,
    Scenario,
    no_progress,
)

_MS = 1_000_000
LIDAR_RANGE_NOISE_M = 0.02  # a real 16-beam unit's ranging noise; the exact depth stays exact


def write_synthetic_bag(
    path: Path,
    seed: int,
    n_frames: int,
    intrinsics: PinholeIntrinsics,
    *,
    beams: int = 16,
    rig: SensorRig | None = None,
    oracle: OracleConfig | None = None,
    progress: ProgressFn = no_progress,
) -> list[FrameTruth]:
    """Render ``n_frames`` of a drive (deterministic from ``seed``) and record them (layout in the module docstring).

    Args:
        path: bag folder to create (must not exist).
        seed: world, textures, LiDAR noise and oracle errors.
        n_frames: frames to render (10 Hz).
        intrinsics: camera intrinsics (image size = intrinsics size).
        beams: LiDAR beams (rings) over -15°..+15°.
        rig: sensor mounting (default :class:`SensorRig`).
        oracle: record an oracle prediction on /depth_model/prediction with these errors (None: no prediction).
        progress: called once per rendered frame (stage ``render``).

    Returns:
        Truth per frame: exact depth (+inf sky), the scan in the camera frame, the oracle's true scale / shift.
    """
    rig = rig or SensorRig()
    stream = OracleStream(seed, oracle) if oracle is not None else None
    custom = {"mono_depth_ros.demo": f"synthetic drive, seed {seed}"}
    if stream is not None:
        custom["mono_depth_ros.demo.prediction"] = f"{PREDICTION_TOPIC}: {ORACLE_LABEL} (relative_inverse)"
    truths: list[FrameTruth] = []
    sequence = iter_sequence(seed, n_frames, intrinsics, beams, rig=rig, range_noise_m=LIDAR_RANGE_NOISE_M)
    with BagBuilder(path, custom_data=custom) as bag:
        factory = bag.factory
        for frame in sequence:
            stamp_ns = frame.stamp_ns
            if frame.index == 0:
                statics = [rig.base_from_cam, rig.cam_from_lidar, rig.base_from_cam_body]
                static = tf_message_from(factory, statics, stamp_ns - 50 * _MS)
                bag.add("/tf_static", static, stamp_ns - 50 * _MS)
            bag.add("/tf", tf_message_from(factory, [frame.world_from_base], stamp_ns), stamp_ns)
            scan = lidar_cloud(
                factory, frame.points_in_lidar, stamp_ns, FRAME_LIDAR, frame.lidar_intensity, frame.lidar_ring
            )
            bag.add(LIDAR_TOPIC, scan, stamp_ns + 5 * _MS)
            header = add_camera(bag, stamp_ns, frame.rgb, intrinsics)
            true_scale = true_shift = None
            if stream is not None:
                true_scale, true_shift = add_oracle(bag, stream, frame.depth_m, header, stamp_ns)
            lidar_in_camera = frame.cam_from_lidar.apply(frame.points_in_lidar.astype(np.float64)).astype(np.float32)
            truths.append(FrameTruth(stamp_ns, intrinsics, frame.depth_m, lidar_in_camera, true_scale, true_shift))
            progress("render", frame.index + 1, n_frames)
    return truths


def record_synthetic(
    input_bag: Path,
    seed: int,
    frames: int,
    width: int,
    height: int,
    beams: int = 16,
    oracle: OracleConfig | None = None,
    progress: ProgressFn = no_progress,
) -> Scenario:
    """:func:`write_synthetic_bag` with KITTI-like intrinsics, as a :class:`Scenario`.

    The scenario's parameters add the rig's camera height and pitch (the ground-plane fallback uses them).
    """
    rig = SensorRig()
    truths = write_synthetic_bag(
        input_bag, seed, frames, kitti_like_intrinsics(width, height),
        beams=beams, rig=rig, oracle=oracle, progress=progress,
    )  # fmt: skip
    params = BASE_PARAMS | {
        "scale.camera_height_m": rig.camera_height_m,
        "scale.camera_pitch_rad": rig.camera_pitch_rad,
    }
    return Scenario(
        "synthetic",
        f"synthetic drive, {frames} frames {width}x{height} at 10 Hz, {beams}-beam LiDAR, seed {seed}",
        input_bag, truths, params, "exact synthetic depth",
    )  # fmt: skip
