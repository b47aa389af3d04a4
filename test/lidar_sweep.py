"""A real KITTI Velodyne scan re-measured as a spinning LiDAR on a moving car would publish it, in drivers' layouts.

The KITTI scan is taken as the static world seen from the LiDAR at the image stamp. The car drives along the
camera's optical axis at ``speed_mps``; the LiDAR turns once per :data:`SWEEP_NS` starting behind the car (azimuth
180°, turning clockwise seen from above, as the HDL-64E and KITTI's sweeps do) and faces forward at the image stamp
(KITTI triggers the camera so). Each point is measured from where the LiDAR is at its own time, and published with
that time in the driver's field, the header stamped as the driver stamps it (layouts read from the drivers' sources):

============  ===============================================  ==========================  =========================
layout        fields (offset)                                  time field                  header stamp
============  ===============================================  ==========================  =========================
``ouster``    x y z (0 4 8) intensity (16) t (20) reflectivity  ``t`` UINT32 ns after stamp  sweep start
              ring ambient (24 26 28) range (32), step 48
``velodyne``  x y z intensity (0..12) ring (16) time (18), 22   ``time`` FLOAT32 s, relative  sweep end (driver default)
``hesai``     x y z intensity (0..12) ring (16) timestamp (18)  ``timestamp`` FLOAT64 abs. s  sweep start
``livox``     x y z intensity (0..12) tag line (16 17)          ``timestamp`` FLOAT64 abs. ns sweep start
              timestamp (18), 26
============  ===============================================  ==========================  =========================

Ouster clouds also carry no-return points at (0, 0, 0) (every 7th point here), as ouster-ros publishes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.ros_msgs import MessageFactory, make_header, pointcloud2_from_structured
from test.kitti_bag import KittiFrame

SWEEP_NS = 100_000_000  # 10 Hz
Layout = Literal["ouster", "velodyne", "hesai", "livox"]
LAYOUTS: tuple[Layout, ...] = ("ouster", "velodyne", "hesai", "livox")

_XYZI = {"x": ("<f4", 0), "y": ("<f4", 4), "z": ("<f4", 8)}
_DTYPES: dict[str, tuple[dict[str, tuple[str, int]], int]] = {
    "ouster": (
        {
            **_XYZI,
            "intensity": ("<f4", 16),
            "t": ("<u4", 20),
            "reflectivity": ("<u2", 24),
            "ring": ("<u2", 26),
            "ambient": ("<u2", 28),
            "range": ("<u4", 32),
        },
        48,
    ),
    "velodyne": ({**_XYZI, "intensity": ("<f4", 12), "ring": ("<u2", 16), "time": ("<f4", 18)}, 22),
    "hesai": ({**_XYZI, "intensity": ("<f4", 12), "ring": ("<u2", 16), "timestamp": ("<f8", 18)}, 26),
    "livox": (
        {**_XYZI, "intensity": ("<f4", 12), "tag": ("u1", 16), "line": ("u1", 17), "timestamp": ("<f8", 18)},
        26,
    ),
}


def layout_dtype(layout: Layout) -> np.dtype:
    """The structured dtype of a driver's point (offsets and point_step as it publishes them)."""
    fields, itemsize = _DTYPES[layout]
    return np.dtype(
        {
            "names": list(fields),
            "formats": [f for f, _ in fields.values()],
            "offsets": [o for _, o in fields.values()],
            "itemsize": itemsize,
        }
    )


@dataclass(frozen=True)
class Sweep:
    """A skewed sweep: the points as measured (LiDAR frame at each point's time), their absolute times (int ns),
    and the header stamp the layout's driver gives it."""

    points_in_lidar: npt.NDArray[np.float32]
    point_ns: npt.NDArray[np.int64]
    stamp_ns: int


def skewed_sweep(
    frame: KittiFrame, image_ns: int, speed_mps: float, stamp: Literal["start", "end"], sweep_offset_ns: int = 0
) -> Sweep:
    """The frame's scan measured during a sweep centred on ``image_ns + sweep_offset_ns`` by a car at ``speed_mps``
    (see module); the scan is the world seen from the LiDAR at ``image_ns``."""
    points = frame.scan[:, :3].astype(np.float64)
    azimuth = np.arctan2(points[:, 1], points[:, 0])
    fraction = (np.pi - azimuth) / (2.0 * np.pi)  # 0 behind, 0.5 forward, clockwise from above
    start_ns = image_ns + sweep_offset_ns - SWEEP_NS // 2
    point_ns = start_ns + np.rint(fraction * SWEEP_NS).astype(np.int64)
    cam_from_velo = frame.cam_from_velo
    travelled = speed_mps * (point_ns - image_ns) * 1e-9  # camera's z at each point's time, image stamp = 0
    in_camera = cam_from_velo.apply(points)
    in_camera[:, 2] -= travelled
    measured = cam_from_velo.inverse().apply(in_camera).astype(np.float32)
    return Sweep(measured, point_ns, start_ns if stamp == "start" else start_ns + SWEEP_NS)


def driver_stamp(layout: Layout) -> Literal["start", "end"]:
    """Where the layout's driver stamps its sweep."""
    return "end" if layout == "velodyne" else "start"


def sweep_cloud(factory: MessageFactory, sweep: Sweep, layout: Layout, frame_id: str) -> Any:
    """The sweep as the layout's driver publishes it (unorganized, little-endian)."""
    n = sweep.points_in_lidar.shape[0]
    points = np.zeros(n, dtype=layout_dtype(layout))
    for column, axis in enumerate("xyz"):
        points[axis] = sweep.points_in_lidar[:, column]
    offset_ns = sweep.point_ns - sweep.stamp_ns
    if layout == "ouster":
        points["t"] = offset_ns.astype(np.uint32)
        for axis in "xyz":
            points[axis][::7] = 0.0  # no return
    elif layout == "velodyne":
        points["time"] = (offset_ns * 1e-9).astype(np.float32)
    elif layout == "hesai":
        points["timestamp"] = sweep.point_ns // 1_000_000_000 + (sweep.point_ns % 1_000_000_000) * 1e-9
    else:
        points["timestamp"] = sweep.point_ns.astype(np.float64)
    header = make_header(factory, sweep.stamp_ns, frame_id)
    return pointcloud2_from_structured(factory, header, points, 1, n, is_dense=True)


def odom_from_camera(speed_mps: float, image_ns: int, stamp_ns: int, odom: str, camera: str) -> RigidTransform:
    """The camera's pose in ``odom`` (its axes at the image stamp, origin there) at ``stamp_ns``."""
    travelled = speed_mps * (stamp_ns - image_ns) * 1e-9
    return RigidTransform(np.eye(3), np.array([0.0, 0.0, travelled]), odom, camera)


def sweep_laser_scan(factory: MessageFactory, sweep: Sweep, frame_id: str, beams: int = 1800) -> Any:
    """The sweep's points near 0° elevation as a level 2D LiDAR turning the same way publishes them: a
    ``sensor_msgs/LaserScan`` stamped at the sweep's start (its first beam, behind the car: ``sweep`` made with
    ``stamp="start"``), beam ``i`` at azimuth
    ``π - i * 2π / beams`` (clockwise: a negative ``angle_increment``) measured ``i * time_increment`` later, with
    ``time_increment = SWEEP_NS / beams``; per beam the flattest point within half a beam and ±0.25°, NaN where none."""
    points = sweep.points_in_lidar.astype(np.float64)
    horizontal_m = np.hypot(points[:, 0], points[:, 1])
    elevation = np.abs(np.arctan2(points[:, 2], horizontal_m))
    increment = 2 * np.pi / beams
    beam = np.round((np.pi - np.arctan2(points[:, 1], points[:, 0])) / increment).astype(np.int64) % beams
    near = np.flatnonzero(elevation < np.deg2rad(0.25))
    order = near[np.lexsort((elevation[near], beam[near]))]
    first = order[np.unique(beam[order], return_index=True)[1]]
    ranges = np.full(beams, np.nan, np.float32)
    ranges[beam[first]] = horizontal_m[first]
    return factory.new(
        "sensor_msgs/msg/LaserScan",
        header=make_header(factory, sweep.stamp_ns, frame_id),
        angle_min=np.pi,
        angle_max=np.pi - (beams - 1) * increment,
        angle_increment=-increment,
        time_increment=SWEEP_NS * 1e-9 / beams,
        scan_time=SWEEP_NS * 1e-9,
        range_min=0.5,
        range_max=120.0,
        ranges=factory.float32_sequence(ranges),
        intensities=factory.float32_sequence(np.zeros(0, np.float32)),
    )
