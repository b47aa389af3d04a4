"""Synthetic driving sequences: a camera + LiDAR rig driving along a procedural street, with exact ground truth.

Shared by the demo, the tests, training sanity checks and the scale-recovery temporal tests. Everything is
deterministic from ``seed``. Frames (REP 103 / 105):

* ``map`` (world): x forward along the road, y left, z up; ground at z = 0.
* ``base_link``: on the ground below the camera, x forward, y left, z up.
* ``camera_optical_frame``: x right, y down, z forward; ``camera_height_m`` above ground, pitched down by
  ``camera_pitch_rad``.
* ``camera_frame``: the camera's body frame (x forward, y left, z up, REP 103) at the optical centre, pitched like
  it: ``camera_optical_frame`` rotated by the REP 103 quaternion (x, y, z, w) = (-0.5, 0.5, -0.5, 0.5).
* ``lidar``: x forward, y left, z up (not pitched); ``lidar_offset_m`` from the camera centre.

Depth (``depth_m``) is float32 metres along the optical axis; +inf marks sky and anything beyond
``max_depth_m`` (see :mod:`mono_depth_ros.core.synthetic_world`). Times are int nanoseconds.

Example:
    >>> frames = make_sequence(seed=0, n_frames=2, intrinsics=kitti_like_intrinsics(64, 32), beams=4)
    >>> frames[1].stamp_ns - frames[0].stamp_ns
    100000000
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.synthetic_scene import RoadCurve, Scene
from mono_depth_ros.core.synthetic_world import DEFAULT_MAX_DEPTH_M, Frame, LidarScan, SyntheticWorld

__all__ = [
    "FRAME_BASE",
    "FRAME_CAMERA",
    "FRAME_CAMERA_BODY",
    "FRAME_LIDAR",
    "FRAME_WORLD",
    "Frame",
    "LidarScan",
    "RoadCurve",
    "Scene",
    "SensorRig",
    "SequenceFrame",
    "SyntheticWorld",
    "cam_body_from_optical",
    "drive_poses",
    "iter_sequence",
    "kitti_like_intrinsics",
    "make_sequence",
    "vehicle_pose",
]

FRAME_WORLD = "map"
FRAME_BASE = "base_link"
FRAME_CAMERA = "camera_optical_frame"
FRAME_CAMERA_BODY = "camera_frame"  # the node's default /depth/scan frame for FRAME_CAMERA (its _optical stripped)
FRAME_LIDAR = "lidar"
DEFAULT_START_STAMP_NS = 1_700_000_000 * 10**9
# Columns: the optical x (right), y (down), z (forward) axes written in a REP 103 body frame.
_BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _rot_y(angle_rad: float) -> npt.NDArray[np.float64]:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(angle_rad: float) -> npt.NDArray[np.float64]:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def vehicle_pose(x_m: float, y_m: float, yaw_rad: float) -> RigidTransform:
    """``map_from_base_link`` for a vehicle on the ground at (x, y) heading ``yaw_rad`` (counter-clockwise from +x)."""
    return RigidTransform(_rot_z(yaw_rad), np.array([x_m, y_m, 0.0]), FRAME_WORLD, FRAME_BASE)


@dataclass(frozen=True)
class SensorRig:
    """Where the camera and the LiDAR sit on the vehicle.

    Attributes:
        camera_height_m: optical centre above the ground (m).
        camera_pitch_rad: downward tilt of the optical axis (rad, positive = looking down).
        lidar_offset_m: LiDAR origin minus camera centre, in base_link axes (x forward, y left, z up), metres.
    """

    camera_height_m: float = 1.5
    camera_pitch_rad: float = 0.05
    lidar_offset_m: tuple[float, float, float] = (-0.3, 0.0, 0.3)

    def __post_init__(self) -> None:
        if not self.camera_height_m > 0 or not abs(self.camera_pitch_rad) < math.pi / 2:
            msg = (
                f"camera_height_m={self.camera_height_m} must be > 0 and |camera_pitch_rad|="
                f"{abs(self.camera_pitch_rad)} below pi/2"
            )
            raise ConfigError(msg)

    @property
    def base_from_cam(self) -> RigidTransform:
        """``base_link_from_camera_optical_frame``."""
        rotation = _rot_y(self.camera_pitch_rad) @ _BODY_FROM_OPTICAL
        return RigidTransform(rotation, np.array([0.0, 0.0, self.camera_height_m]), FRAME_BASE, FRAME_CAMERA)

    @property
    def base_from_cam_body(self) -> RigidTransform:
        """``base_link_from_camera_frame``: the camera's body frame (x forward, y left, z up) at the optical centre,
        pitched down by ``camera_pitch_rad``; ``camera_frame_from_camera_optical_frame`` is the REP 103 rotation."""
        rotation = _rot_y(self.camera_pitch_rad)
        return RigidTransform(rotation, np.array([0.0, 0.0, self.camera_height_m]), FRAME_BASE, FRAME_CAMERA_BODY)

    @property
    def base_from_lidar(self) -> RigidTransform:
        """``base_link_from_lidar`` (LiDAR axes parallel to base_link)."""
        translation = np.array([0.0, 0.0, self.camera_height_m]) + np.asarray(self.lidar_offset_m, dtype=np.float64)
        return RigidTransform(np.eye(3), translation, FRAME_BASE, FRAME_LIDAR)

    @property
    def cam_from_lidar(self) -> RigidTransform:
        """``camera_optical_frame_from_lidar``: the extrinsic scale recovery uses."""
        return self.base_from_cam.inverse() @ self.base_from_lidar


def cam_body_from_optical() -> RigidTransform:
    """``camera_frame_from_camera_optical_frame``: same origin, the REP 103 rotation (x, y, z, w) =
    (-0.5, 0.5, -0.5, 0.5), for a rig whose TF has only the optical frame (the KITTI demo)."""
    return RigidTransform(_BODY_FROM_OPTICAL, np.zeros(3), FRAME_CAMERA_BODY, FRAME_CAMERA)


def kitti_like_intrinsics(width: int = 640, height: int = 192) -> PinholeIntrinsics:
    """KITTI-like pinhole (horizontal FOV ~82°) for any image size, principal point deliberately off-centre."""
    focal = 0.58 * width
    return PinholeIntrinsics(focal, focal, 0.5 * (width - 1) + 0.01 * width, 0.5 * (height - 1) - 0.02 * height,
                             width=width, height=height)  # fmt: skip


def drive_poses(
    road: RoadCurve | None, n_frames: int, speed_mps: float, rate_hz: float, lane_offset_m: float = -1.75
) -> list[RigidTransform]:
    """``map_from_base_link`` of a vehicle following the road at constant speed, one pose per frame.

    The vehicle starts at x = 0 and keeps ``lane_offset_m`` (left positive; -1.75 = right-hand lane) from the
    centreline; speed is along the driven path. Without a road it drives straight along +x.
    """
    if n_frames < 1 or not speed_mps >= 0 or not rate_hz > 0:
        msg = f"need n_frames >= 1, speed_mps >= 0, rate_hz > 0; got {n_frames}, {speed_mps}, {rate_hz}"
        raise ConfigError(msg)
    travelled_m = speed_mps / rate_hz * np.arange(n_frames)
    if road is None:
        return [vehicle_pose(float(s), 0.0, 0.0) for s in travelled_m]
    x_grid = np.arange(0.0, travelled_m[-1] * 1.1 + 1.0, 0.05)
    path = road.point_at(x_grid, np.full(x_grid.shape, lane_offset_m))
    arc_m = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    x_frames = np.interp(travelled_m, arc_m, x_grid)
    xy = road.point_at(x_frames, np.full(x_frames.shape, lane_offset_m))
    yaw = road.heading(x_frames)
    return [vehicle_pose(float(p[0]), float(p[1]), float(a)) for p, a in zip(xy, yaw, strict=True)]


@dataclass(frozen=True)
class SequenceFrame:
    """One synchronised camera + LiDAR sample with ground truth.

    Attributes:
        index: frame number from 0.
        stamp_ns: capture time (int ns), shared by image and scan.
        rgb: (H, W, 3) uint8 RGB.
        depth_m: (H, W) float32 metres along the optical axis, +inf = sky / beyond range.
        points_in_lidar: (N, 3) float32 metres in the ``lidar`` frame.
        lidar_ring: (N,) uint16 beam index (0 = lowest).
        lidar_intensity: (N,) float32 in [0, 1].
        intrinsics: camera intrinsics of ``rgb`` and ``depth_m``.
        world_from_cam: ``map_from_camera_optical_frame``.
        world_from_base: ``map_from_base_link`` (odometry ground truth).
        cam_from_lidar: ``camera_optical_frame_from_lidar`` (constant over the sequence).
    """

    index: int
    stamp_ns: int
    rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32]
    points_in_lidar: npt.NDArray[np.float32]
    lidar_ring: npt.NDArray[np.uint16]
    lidar_intensity: npt.NDArray[np.float32]
    intrinsics: PinholeIntrinsics
    world_from_cam: RigidTransform
    world_from_base: RigidTransform
    cam_from_lidar: RigidTransform


def iter_sequence(
    seed: int,
    n_frames: int,
    intrinsics: PinholeIntrinsics | None = None,
    beams: int = 16,
    *,
    rate_hz: float = 10.0,
    speed_mps: float = 8.0,
    rig: SensorRig | None = None,
    world: SyntheticWorld | None = None,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
    vertical_fov_deg: tuple[float, float] = (-15.0, 15.0),
    azimuth_step_deg: float = 0.2,
    lidar_max_range_m: float = 100.0,
    range_noise_m: float = 0.0,
    start_stamp_ns: int = DEFAULT_START_STAMP_NS,
) -> Iterator[SequenceFrame]:
    """Yield the frames of :func:`make_sequence` one at a time (constant memory); same arguments."""
    intrinsics = intrinsics if intrinsics is not None else kitti_like_intrinsics()
    rig = rig if rig is not None else SensorRig()
    if world is None:
        world = SyntheticWorld(seed, length_m=max(100.0, n_frames * speed_mps / rate_hz + 50.0))
    noise_rng = np.random.default_rng([seed, 1])
    period_ns = round(1e9 / rate_hz)
    for index, world_from_base in enumerate(drive_poses(world.road, n_frames, speed_mps, rate_hz)):
        world_from_cam = world_from_base @ rig.base_from_cam
        frame = world.render(world_from_cam, intrinsics, max_depth_m)
        scan = world.lidar_scan(
            world_from_base @ rig.base_from_lidar,
            beams=beams,
            vertical_fov_deg=vertical_fov_deg,
            azimuth_step_deg=azimuth_step_deg,
            max_range_m=lidar_max_range_m,
            range_noise_m=range_noise_m,
            rng=noise_rng,
        )
        yield SequenceFrame(
            index=index,
            stamp_ns=start_stamp_ns + index * period_ns,
            rgb=frame.rgb,
            depth_m=frame.depth_m,
            points_in_lidar=scan.points_in_lidar,
            lidar_ring=scan.ring,
            lidar_intensity=scan.intensity,
            intrinsics=intrinsics,
            world_from_cam=world_from_cam,
            world_from_base=world_from_base,
            cam_from_lidar=rig.cam_from_lidar,
        )


def make_sequence(
    seed: int,
    n_frames: int,
    intrinsics: PinholeIntrinsics | None = None,
    beams: int = 16,
    *,
    rate_hz: float = 10.0,
    speed_mps: float = 8.0,
    rig: SensorRig | None = None,
    world: SyntheticWorld | None = None,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
    vertical_fov_deg: tuple[float, float] = (-15.0, 15.0),
    azimuth_step_deg: float = 0.2,
    lidar_max_range_m: float = 100.0,
    range_noise_m: float = 0.0,
    start_stamp_ns: int = DEFAULT_START_STAMP_NS,
) -> list[SequenceFrame]:
    """A list of ``n_frames`` synchronised frames along a generated street (deterministic from ``seed``).

    Args:
        seed: world layout, textures and LiDAR noise.
        n_frames: number of frames.
        intrinsics: camera intrinsics (default :func:`kitti_like_intrinsics`, 640×192).
        beams: LiDAR beams (rings).
        rate_hz: frame rate; stamps are ``start_stamp_ns + index * round(1e9 / rate_hz)``.
        speed_mps: vehicle speed along its path (m/s).
        rig: camera and LiDAR mounting (default :class:`SensorRig`: camera 1.5 m up, pitched 0.05 rad down).
        world: reuse a world (default: a street generated from ``seed``, long enough for the drive).
        max_depth_m: depth beyond this is +inf.
        vertical_fov_deg, azimuth_step_deg, lidar_max_range_m, range_noise_m: LiDAR model, see
            :meth:`SyntheticWorld.lidar_scan`.
        start_stamp_ns: stamp of frame 0 (int ns).
    """
    return list(
        iter_sequence(
            seed,
            n_frames,
            intrinsics,
            beams,
            rate_hz=rate_hz,
            speed_mps=speed_mps,
            rig=rig,
            world=world,
            max_depth_m=max_depth_m,
            vertical_fov_deg=vertical_fov_deg,
            azimuth_step_deg=azimuth_step_deg,
            lidar_max_range_m=lidar_max_range_m,
            range_noise_m=range_noise_m,
            start_stamp_ns=start_stamp_ns,
        )
    )
