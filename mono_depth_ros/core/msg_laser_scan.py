"""``sensor_msgs/LaserScan`` (a planar LiDAR: RPLidar, Hokuyo, SICK) → points in the laser frame (ROS-free).

The projection is laser_geometry's ``LaserProjection.projectLaser``: beam ``i`` points along the angle
``angle_min + i * angle_increment`` about the frame's z axis (x forward, y left: counter-clockwise from x), at
``z = 0``; a beam is kept when ``range_min <= range < range_max`` (so NaN, +Inf "no return / beyond range" and -Inf
"too close", REP 117, are dropped, and so is a range at exactly ``range_max``, which drivers use for "nothing seen");
beam ``i`` was measured ``i * time_increment`` after ``header.stamp`` (the first beam's time), which is the per-point
time offset the scale recovery's de-skew takes (:class:`~mono_depth_ros.core.scale.lidar.LidarScan.point_dt_ns`).
Beam times that span no sweep (a non-finite ``time_increment``, or one whose beams span more than
:data:`~mono_depth_ros.core.point_times.MAX_SPAN_NS`: a corrupt field) are not used, as a cloud's times that are no
sweep: the scan is one instant, its header stamp (:func:`beam_step_ns`). Unlike laser_geometry, an
``angle_increment`` of 0 for more than one beam (every beam on one ray) is refused, not stacked on that ray; a
single beam is read along ``angle_min`` whatever its ``angle_increment`` (NaN from Gazebo's 1-sample ray sensor),
where laser_geometry's ``angle_min + 0 * NaN`` gives a point at NaN. Gazebo classic casts a 1-sample ray along its
frame's x axis (yaw 0) whatever ``min_angle``, which it still publishes as ``angle_min``: the two agree only for a
``min_angle`` of 0 (the message is what is read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.point_times import MAX_SPAN_NS

LASER_SCAN = "sensor_msgs/msg/LaserScan"


@dataclass(frozen=True)
class LaserPoints:
    """The kept beams of one LaserScan.

    Attributes:
        points_in_laser: (N, 3) float32 metres in the scan's ``header.frame_id`` (z = 0: the scan plane).
        point_dt_ns: (N,) int64 time of each point after the header stamp (``i * time_increment``), nanoseconds.
    """

    points_in_laser: npt.NDArray[np.float32]
    point_dt_ns: npt.NDArray[np.int64]


def beam_step_ns(time_increment_s: float, beams: int) -> float:
    """The time between two beams in ns: ``time_increment_s`` in ns, or 0 (no per-beam times) when it is not finite
    or its ``beams`` span more than :data:`~mono_depth_ros.core.point_times.MAX_SPAN_NS` (10 s per beam, float32's
    largest: a corrupt field; the sweep's middle was put that far from the stamp the node pairs the scan by, the
    beam times cast past int64)."""
    if not math.isfinite(time_increment_s):
        return 0.0
    step_ns = time_increment_s * 1e9
    return step_ns if abs(step_ns) * max(beams - 1, 0) <= MAX_SPAN_NS else 0.0


def project_laser(
    ranges_m: npt.ArrayLike,
    angle_min_rad: float,
    angle_increment_rad: float,
    range_min_m: float,
    range_max_m: float,
    time_increment_s: float = 0.0,
) -> LaserPoints:
    """Beams (ranges in metres, beam order) → the :class:`LaserPoints` laser_geometry's ``projectLaser`` keeps.

    A non-finite ``time_increment_s`` (some drivers leave it NaN), or one whose beams span no sweep
    (:func:`beam_step_ns`), is taken as 0: no per-beam times. A ``range_max_m`` of +Inf (a simulator's) keeps every
    finite range from ``range_min_m``; a ``range_min_m`` of -Inf keeps none at -Inf (REP 117's "too close", no
    point). A negative ``angle_increment_rad`` (a LiDAR mounted upside down, scanning clockwise) is used as it is.
    A single beam points along ``angle_min_rad`` whatever ``angle_increment_rad`` is (Gazebo's ray sensor with one
    sample publishes NaN: ``(angle_max - angle_min) / (samples - 1)``).

    Raises:
        ShapeError: ``ranges_m`` is not 1-D, ``angle_min_rad`` (or, for more than one beam, ``angle_increment_rad``)
            is not finite, a range limit is NaN, or
            ``angle_increment_rad`` is 0 for more than one beam (all along one ray: laser_geometry stacks them there).
    """
    ranges = np.asarray(ranges_m, dtype=np.float64)
    if ranges.ndim != 1:
        msg = f"LaserScan ranges must be 1-D (one range per beam), got shape {ranges.shape}"
        raise ShapeError(msg)
    # One beam uses no increment: Gazebo's 1-sample ray sensor publishes (angle_max - angle_min) / 0, NaN
    angles = (angle_min_rad, angle_increment_rad) if ranges.size > 1 else (angle_min_rad,)
    limits = (range_min_m, range_max_m)
    if not all(math.isfinite(value) for value in angles) or any(math.isnan(value) for value in limits):
        msg = (
            f"LaserScan angle_min {angle_min_rad} and angle_increment {angle_increment_rad} must be finite, "
            f"range_min {range_min_m} and range_max {range_max_m} numbers; the laser driver publishes a broken scan"
        )
        raise ShapeError(msg)
    if angle_increment_rad == 0.0 and ranges.size > 1:  # every beam along angle_min: points on one ray, none right
        msg = (
            f"LaserScan angle_increment is 0 for {ranges.size} beams: every beam would point along angle_min "
            f"{angle_min_rad}; the laser driver publishes a broken scan (angle_increment = (angle_max - angle_min) / "
            f"(beams - 1))"
        )
        raise ShapeError(msg)
    index = np.arange(ranges.size)
    with np.errstate(invalid="ignore"):  # NaN compares False: dropped
        kept = (ranges >= range_min_m) & (ranges < range_max_m)
    if range_min_m == -math.inf:  # -Inf ("too close") at or above it: a point at -Inf, NaN went on to the scale fit
        kept &= ranges != -math.inf
    index = index[kept]
    angle = angle_min_rad + index * (angle_increment_rad if ranges.size > 1 else 0.0)
    r = ranges[kept]
    points = np.zeros((index.size, 3), dtype=np.float32)
    points[:, 0] = r * np.cos(angle)
    points[:, 1] = r * np.sin(angle)
    step_ns = beam_step_ns(time_increment_s, ranges.size)
    return LaserPoints(points, np.round(index * step_ns).astype(np.int64))


def points_from_laser_scan(msg: Any) -> LaserPoints:
    """A ``sensor_msgs/LaserScan`` message (rclpy's or rosbags' class) → :func:`project_laser` of its fields."""
    return project_laser(
        np.asarray(msg.ranges, dtype=np.float32),
        float(msg.angle_min),
        float(msg.angle_increment),
        float(msg.range_min),
        float(msg.range_max),
        float(msg.time_increment),
    )


def laser_sweep_middle_offset_ns(msg: Any) -> int:
    """Where the middle of a LaserScan's sweep lies after its header stamp (the first beam's time):
    ``(len(ranges) - 1) * time_increment / 2`` in int ns, as
    :func:`~mono_depth_ros.core.msg_pointcloud2.sweep_middle_offset_ns` gives it for a cloud with per-point times
    (every beam counts, kept or not); 0 with fewer than 2 beams or beam times that span no sweep
    (:func:`beam_step_ns`)."""
    beams = len(msg.ranges)
    return round((beams - 1) * beam_step_ns(float(msg.time_increment), beams) / 2) if beams > 1 else 0
