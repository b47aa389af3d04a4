"""Raw (distorted) cameras made from real KITTI frames, written as a robot's rosbag2 (tests of the training readers).

A raw camera of ``raw_size`` pixels looks through the rectified KITTI image: every raw pixel's ray (K + D undone by
OpenCV) is looked up in image_2 (bilinear, border replicated), so the bag carries what a raw driver publishes: the
distorted image and a camera_info with K, D and a P of the whole raw view (``cv2.getOptimalNewCameraMatrix`` at
alpha 1 for plumb_bob, ``cv2.fisheye.estimateNewCameraMatrixForUndistortRectify`` at balance 1 for equidistant). That
P reaches past the raw image at the corners: undistorting fills them black (:meth:`CameraModel.seen_mask` is False
there), as on a real robot whose calibration keeps every raw pixel.

Bag layout (the node's default topics, as :mod:`test.kitti_bag`): ``/camera/image_raw`` rgb8, ``/camera/camera_info``,
``/lidar/points`` (the whole Velodyne scan, stamped ``lidar_offset_ns`` after the image: a late scan),
``/tf_static`` camera_optical <- velodyne.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.ros_msgs import camera_info_from_model, image_from_array, make_header, tf_message_from
from mono_depth_ros.demo.bag_builder import BagBuilder, lidar_cloud
from mono_depth_ros.evaluation.scale_rigs import undistorted_rays
from test.kitti_bag import (
    CAMERA_FRAME,
    CAMERA_INFO_TOPIC,
    IMAGE_TOPIC,
    LIDAR_FRAME,
    LIDAR_TOPIC,
    PREDICTION_TOPIC,
    KittiFrame,
)

Model = Literal["plumb_bob", "equidistant"]
PLUMB_BOB_D = (-0.25, 0.06, 0.001, -0.001, 0.0)
EQUIDISTANT_D = (0.05, 0.01, -0.005, 0.001)
START_NS = 1_700_000_000_000_000_000


@dataclass(frozen=True)
class RawFrame:
    """One raw frame: the distorted image, its calibration, and the KITTI truth it was made from."""

    rgb: npt.NDArray[np.uint8]
    camera: CameraModel
    kitti: KittiFrame


def _rays(camera: CameraModel) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(H, W) normalised ray coordinates x = X/Z, y = Y/Z of every raw pixel (K + D undone)."""
    import cv2

    raw = camera.raw_intrinsics()
    u, v = np.meshgrid(np.arange(raw.width, dtype=np.float64), np.arange(raw.height, dtype=np.float64))
    pixels = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
    d = np.asarray(camera.d, dtype=np.float64)
    if camera.distortion_model == "equidistant":
        rays = cv2.fisheye.undistortPoints(pixels, camera.k, d[:4])
    else:  # iterated to convergence (OpenCV's undistortPoints stops after 5 iterations)
        return undistorted_rays(u, v, (raw.fx, raw.fy, raw.cx, raw.cy), camera.d)
    rays = rays.reshape(raw.height, raw.width, 2)
    return rays[..., 0], rays[..., 1]


def raw_camera(kitti: KittiFrame, model: Model, raw_size: tuple[int, int]) -> CameraModel:
    """A raw camera of ``raw_size`` (width, height) inside KITTI's view; P shows its whole raw view (black corners)."""
    import cv2

    width, height = raw_size
    k_kitti = kitti.intrinsics
    # a focal length that keeps the raw view inside the KITTI image (90 % of its half-extent at the edge centres)
    fx = (width / 2) / (0.9 * k_kitti.cx / k_kitti.fx)
    fy = (height / 2) / (0.9 * min(k_kitti.cy, k_kitti.height - 1 - k_kitti.cy) / k_kitti.fy)
    k = np.array([[fx, 0.0, (width - 1) / 2], [0.0, fy, (height - 1) / 2], [0.0, 0.0, 1.0]])
    if model == "equidistant":
        d = np.array(EQUIDISTANT_D)
        p3 = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(k, d, (width, height), np.eye(3), balance=1.0)
    else:
        d = np.array(PLUMB_BOB_D)
        p3, _ = cv2.getOptimalNewCameraMatrix(k, d, (width, height), 1.0, (width, height))
    p = np.hstack([np.asarray(p3, dtype=np.float64), np.zeros((3, 1))])
    return CameraModel(width, height, model, tuple(float(c) for c in d), k, np.eye(3), p)


def raw_view(
    camera: CameraModel, kitti: KittiFrame, image: npt.NDArray[Any], nearest: bool = False
) -> npt.NDArray[Any]:
    """``image`` (any (H, W[, C]) map over KITTI's rectified image: the RGB, a depth map) as the raw ``camera`` sees
    it: each raw pixel's ray looked up in it (bilinear, or nearest for depth; border replicated)."""
    import cv2

    x, y = _rays(camera)
    k = kitti.intrinsics
    map_u = (k.fx * x + k.cx).astype(np.float32)
    map_v = (k.fy * y + k.cy).astype(np.float32)
    flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.remap(image, map_u, map_v, flag, borderMode=cv2.BORDER_REPLICATE))


def raw_frames(kitti_frames: Sequence[KittiFrame], model: Model, raw_size: tuple[int, int]) -> list[RawFrame]:
    """Each KITTI frame seen by one raw camera (made from the first frame's calibration) of ``raw_size``."""
    camera = raw_camera(kitti_frames[0], model, raw_size)
    return [RawFrame(raw_view(camera, frame, frame.rgb).astype(np.uint8), camera, frame) for frame in kitti_frames]


def write_raw_bag(
    path: Path,
    frames: Sequence[RawFrame],
    *,
    period_ns: int = 100_000_000,
    lidar_offset_ns: int = 40_000_000,
    storage: str = "sqlite3",
    start_ns: int = START_NS,
    pause_after: int | None = None,
    pause_ns: int = 5_000_000_000,
    predictions: Sequence[npt.NDArray[np.float32]] | None = None,
) -> list[int]:
    """The raw frames as a rosbag2 (layout in the module docstring); returns the image stamps. ``pause_after``: the
    recording pauses ``pause_ns`` after that frame (index). ``predictions``: one external prediction a frame (raw
    pixels, 32FC1) on the node's default prediction topic, 40 ms after its image."""
    stamps = []
    with BagBuilder(path, storage=storage) as bag:
        factory = bag.factory
        last: RigidTransform | None = None
        for index, frame in enumerate(frames):
            stamp_ns = start_ns + index * period_ns
            if pause_after is not None and index > pause_after:
                stamp_ns += pause_ns
            extrinsic = frame.kitti.cam_from_velo
            if last is None or not np.allclose(last.matrix, extrinsic.matrix):
                bag.add("/tf_static", tf_message_from(factory, [extrinsic], stamp_ns - 1), stamp_ns - 1)
                last = extrinsic
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            bag.add(CAMERA_INFO_TOPIC, camera_info_from_model(factory, frame.camera, header), stamp_ns + 1_000_000)
            bag.add(IMAGE_TOPIC, image_from_array(factory, frame.rgb, "rgb8", header), stamp_ns + 2_000_000)
            if predictions is not None:
                message = image_from_array(factory, predictions[index], "32FC1", header)
                bag.add(PREDICTION_TOPIC, message, stamp_ns + 40_000_000)
            scan_ns = stamp_ns + lidar_offset_ns
            scan = frame.kitti.scan[:, :3]
            bag.add(LIDAR_TOPIC, lidar_cloud(factory, scan, scan_ns, LIDAR_FRAME), scan_ns + 5_000_000)
            stamps.append(stamp_ns)
    return stamps
