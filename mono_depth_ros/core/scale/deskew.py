"""De-skewing a spinning LiDAR's sweep through TF: each point moved by the motion at its own time (ROS-free).

A sweep takes ~100 ms; a robot at 10 m/s moves 1 m meanwhile. TF time travel (``lidar.motion_frame``) with the
header stamp alone moves every point as if measured at that stamp: the points the camera sees, measured mid-sweep,
were shifted by the motion between the stamp and their own time (0.5 m at 10 m/s for a sweep stamped at its start or
end, 3-5 % of their depth at 10-20 m, the sign following the driver's stamping convention). With per-point times
(:mod:`~mono_depth_ros.core.point_times`) the points are grouped into :data:`BIN_NS` slices of the sweep and each
slice takes the transform at its own middle time (TF asked every :data:`KNOT_NS`, the slices between
interpolated).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.lidar import LidarScan, check_reach, largest_coordinate

BIN_NS = 2_000_000
"""Width of a de-skew slice: at 10 m/s a point is at most 1 cm (half a slice of motion) from its own time's place."""

KNOT_NS = 10_000_000
"""TF is looked up every 10 ms of a sweep; the slices between interpolate (odometry on /tf: 50-100 Hz samples)."""

TransformAt = Callable[[int], RigidTransform | None]
"""``at(t_ns)`` → ``camera(image stamp) <- lidar(t_ns)`` (TF time travel through the motion frame), None when TF
cannot answer for that time."""


def deskewed_scan(
    points_in_lidar: npt.NDArray[np.floating],
    point_dt_ns: npt.NDArray[np.int64],
    stamp_ns: int,
    cam_from_lidar: RigidTransform,
    at: TransformAt,
    bin_ns: int = BIN_NS,
) -> tuple[LidarScan, int]:
    """The scan with every point moved to where it is at ``stamp_ns`` as the camera sees it at the image stamp.

    Args:
        points_in_lidar: (N, 3) float x, y, z in metres, LiDAR frame, each measured at ``stamp_ns + point_dt_ns``.
        point_dt_ns: (N,) int64 ns after ``stamp_ns`` (the header stamp) of each point.
        stamp_ns: the header stamp (int ns).
        cam_from_lidar: ``camera(image stamp) <- lidar(stamp_ns)``, the transform the scan is given with.
        at: the same transform for another LiDAR time (:data:`TransformAt`).
        bin_ns: slice width.

    Returns:
        A :class:`LidarScan` whose points, given in the LiDAR frame at ``stamp_ns``, land where each point's own
        time puts them (``cam_from_lidar`` unchanged, so the extrinsic check still sees the real extrinsic), and the
        number of slices TF could not place: those take the transform of the nearest slice it could (TF lagging
        behind the sweep's end in the node: a few ms of motion off instead of the header stamp's tens), or with no
        slice placed, the header stamp's (as without de-skewing).

    Raises:
        TransformError: ``cam_from_lidar`` or a slice's transform puts the sweep past float32
            (:func:`~mono_depth_ros.core.scale.lidar.check_reach`: a corrupt translation tf2 stored).
    """
    points = np.asarray(points_in_lidar)
    dt = np.asarray(point_dt_ns, dtype=np.int64)
    if points.shape[0] == 0:
        return LidarScan(points, cam_from_lidar, stamp_ns), 0
    first = int(dt.min())
    middle = (first + int(dt.max())) // 2
    slot = (dt - first) // bin_ns  # < MAX_SPAN_NS / bin_ns + 1 slots: a table, not a sort (np.unique: 3x the cost)
    present = np.bincount(slot) > 0
    slots = np.flatnonzero(present)
    inverse = (np.cumsum(present) - 1).take(slot)
    # each transform is checked before its float32 cast (a corrupt 1e300 m odometry sample at one slice's time:
    # Inf points with a RuntimeWarning, dropped unnoticed): refused as LidarScan refuses the header stamp's
    largest = largest_coordinate(points)
    check_reach(points, cam_from_lidar, largest)
    lidar_from_cam = cam_from_lidar.inverse().matrix
    # TF is asked every KNOT_NS of the sweep (a lookup costs ~0.5 ms in the bag runner's TfBuffer: 51 slices took 24
    # ms a scan); a slice between two placed knots interpolates them: linearly, as tf2 interpolates its samples
    # (rotation entries too: over 10 ms of a 1 rad/s turn that is off by ~1e-5, a millimetre at 100 m).
    middles = slots * bin_ns + bin_ns // 2  # slice middle times after `first`
    n_knots = int(middles[-1]) // KNOT_NS + 2
    knots = np.repeat(np.eye(4)[None], n_knots, axis=0)  # lidar(stamp) <- lidar(knot time)
    knot_placed = np.zeros(n_knots, dtype=bool)
    for j in range(n_knots):
        found = at(stamp_ns + first + j * KNOT_NS)
        if found is not None:
            check_reach(points, found, largest)
            knots[j], knot_placed[j] = lidar_from_cam @ found.matrix, True
    left = middles // KNOT_NS
    weight = ((middles - left * KNOT_NS) / KNOT_NS)[:, None, None]
    moves = (1.0 - weight) * knots[left] + weight * knots[left + 1]  # lidar(stamp) <- lidar(slice time)
    placed = knot_placed[left] & knot_placed[left + 1]
    moves[~placed] = np.eye(4)
    missing = int(np.count_nonzero(~placed))
    if 0 < missing < slots.size:  # TF not there yet for the sweep's end: the nearest placed slice's time is closer
        have = np.flatnonzero(placed)
        nearest = have[np.abs(slots[have][None, :] - slots[~placed][:, None]).argmin(axis=1)]
        moves[~placed] = moves[nearest]
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.dtype(np.float32)
    by_axis = np.empty((3, points.shape[0]), dtype=dtype)
    coefficients = moves[:, :3, :].astype(dtype)  # (slices, 3, 4)
    for row in range(3):
        out = by_axis[row]
        np.multiply(points[:, 0], coefficients[:, row, 0].take(inverse), out=out)
        for axis in (1, 2):
            out += points[:, axis] * coefficients[:, row, axis].take(inverse)
        out += coefficients[:, row, 3].take(inverse)
    return LidarScan(by_axis.T, cam_from_lidar, stamp_ns, sweep_middle_ns=middle), missing  # times spent: no dt
