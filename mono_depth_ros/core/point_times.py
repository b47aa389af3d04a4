"""Per-point measurement times of a LiDAR cloud, from the time field its driver publishes (ROS-free).

A spinning LiDAR measures a sweep over ~100 ms; drivers put each point's time in a field of the PointCloud2, each
its own way (read from their sources):

==========================  ============  ==========  ===============================================================
driver                      field         datatype    meaning
==========================  ============  ==========  ===============================================================
ouster-ros                  ``t``         UINT32      ns after the header stamp (stamp = sweep start)
velodyne_pointcloud, unitree ``time``     FLOAT32     s relative to the header stamp (velodyne's default stamp is the
                                                      sweep *end*: times are negative)
HesaiLidar_ROS_2.0, rslidar ``timestamp`` FLOAT64     absolute, seconds
livox_ros_driver2           ``timestamp`` FLOAT64     absolute, nanoseconds
livox CustomMsg converted   ``offset_time`` UINT32    ns after the header stamp (the message's timebase)
==========================  ============  ==========  ===============================================================

An absolute ``timestamp`` is told seconds from nanoseconds by which of the two lies within
:data:`MAX_SPAN_NS` of the header stamp; a float field whose values do not fit what its name says is read the other
ways too (a ``time`` of absolute seconds, a ``timestamp`` of seconds after the stamp). Times that fit no reading
(another clock, a field of another meaning) are not used: the scan is then one instant, its header stamp, as before.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.point_fields import FLOAT32, FLOAT64, UINT32, PointField

MAX_SPAN_NS = 1_000_000_000
"""Point times further than this from the header stamp are not a sweep's (a 1 Hz scan still fits): not used."""

RELATIVE_NS = "relative_ns"
RELATIVE_S = "relative_s"
ABSOLUTE = "absolute"  # seconds or nanoseconds, told apart by the header stamp

TIME_FIELDS: dict[str, tuple[frozenset[int], str]] = {
    "t": (frozenset({UINT32}), RELATIVE_NS),
    "time": (frozenset({FLOAT32, FLOAT64}), RELATIVE_S),
    "timestamp": (frozenset({FLOAT64}), ABSOLUTE),
    "offset_time": (frozenset({UINT32}), RELATIVE_NS),
}
"""Field name -> (datatypes read, meaning); the first field of a cloud that matches is used."""


def time_field(fields: list[PointField]) -> tuple[PointField, str] | None:
    """The cloud's per-point time field and its meaning (:data:`TIME_FIELDS`), or None when it has none."""
    by_name = {f.name: f for f in fields if f.count == 1}
    for name, (datatypes, meaning) in TIME_FIELDS.items():
        field = by_name.get(name)
        if field is not None and field.datatype in datatypes:
            return field, meaning
    return None


def offsets_ns(values: npt.NDArray[np.generic], meaning: str, stamp_ns: int) -> npt.NDArray[np.int64] | None:
    """Per-point times as int64 ns after ``stamp_ns`` (the header stamp; negative: before it).

    Args:
        values: (N,) the time field of the valid points, as published.
        meaning: :data:`RELATIVE_NS`, :data:`RELATIVE_S` or :data:`ABSOLUTE` (from :func:`time_field`).
        stamp_ns: the cloud's header stamp, int ns.

    Returns:
        (N,) int64 offsets (a non-finite time counts as the stamp: offset 0), or None when the times are not a sweep
        around the stamp (any offset beyond :data:`MAX_SPAN_NS`) or there are no points.
    """
    if values.size == 0:
        return None
    if meaning == RELATIVE_NS:
        offsets = values.astype(np.int64)
    else:
        seconds = values.astype(np.float64)
        finite = np.isfinite(seconds)
        if not finite.any():
            return None
        middle = float(np.median(seconds[finite]))
        relative = abs(middle) <= MAX_SPAN_NS * 1e-9  # what the field's name says first, then the other readings
        with np.errstate(over="ignore"):  # a corrupt time (1e300 s) scales to Inf: refused below, unwarned
            if relative and meaning == RELATIVE_S:
                scaled = seconds * 1e9
            elif abs(middle - stamp_ns * 1e-9) <= MAX_SPAN_NS * 1e-9:  # absolute seconds (also in a field `time`)
                scaled = (seconds - float(stamp_ns // 1_000_000_000)) * 1e9 - stamp_ns % 1_000_000_000
            elif abs(middle - stamp_ns) <= MAX_SPAN_NS:  # absolute nanoseconds
                scaled = seconds - float(stamp_ns)
            elif relative:  # a `timestamp` in seconds after the stamp
                scaled = seconds * 1e9
            else:
                return None  # another clock, or a field of another meaning
        rounded = np.rint(np.where(finite, scaled, 0.0))
        if not (np.abs(rounded) <= MAX_SPAN_NS).all():  # before the cast: past int64 it gave -2**63, |-2**63| < 0
            return None
        offsets = rounded.astype(np.int64)
    if int(np.abs(offsets).max()) > MAX_SPAN_NS:
        return None
    return offsets


def sweep_span_ns(values: npt.NDArray[np.generic], meaning: str, stamp_ns: int) -> tuple[int, int] | None:
    """The first and last of :func:`offsets_ns` (int ns after ``stamp_ns``), without converting every point: the
    reading is decided on the median as there, and only the extremes (and, when a time is not finite, the stamp it
    counts as) are converted. None where :func:`offsets_ns` gives None."""
    if values.size == 0:
        return None
    if meaning == RELATIVE_NS:
        extremes = np.array([values.min(), values.max()])
        non_finite = False
    else:
        finite = np.isfinite(values)
        if not finite.any():
            return None
        non_finite = not finite.all()
        kept = values[finite] if non_finite else values
        extremes = np.array([kept.min(), np.median(kept), kept.max()])  # median of the three: the median of all
    offsets = offsets_ns(extremes, meaning, stamp_ns)
    if offsets is None:
        return None
    first, last = int(offsets.min()), int(offsets.max())
    return (min(first, 0), max(last, 0)) if non_finite else (first, last)
