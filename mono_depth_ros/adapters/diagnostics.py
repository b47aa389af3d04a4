"""One ``/diagnostics`` builder for the node and the bag runner: the same keys, levels and message.

:func:`diagnostic_report` turns run-time statistics and the last frame's scale into a level, a message and
key/values; :func:`config_key_values` adds the configuration keys; :func:`diagnostics_message` builds the
``diagnostic_msgs/DiagnosticArray`` with any :class:`~mono_depth_ros.core.msg_factory.MessageFactory` (rclpy's
classes in the node, rosbags' in the bag runner).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mono_depth_ros.adapters.input_bits import PARAMETER, SIXTEEN_BIT_KEYS
from mono_depth_ros.adapters.stats import StatsSnapshot
from mono_depth_ros.config import NODE_NAME
from mono_depth_ros.core.msg_factory import MessageFactory, make_header
from mono_depth_ros.depth_config import DepthConfig

LEVELS = ("OK", "WARN", "ERROR", "STALE")
"""diagnostic_msgs/DiagnosticStatus level names (values 0..3)."""
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"


@dataclass(frozen=True)
class DiagnosticReport:
    """One ``diagnostic_msgs/DiagnosticStatus``: level name (:data:`LEVELS`), message and key/values (strings)."""

    level: str
    message: str
    values: tuple[tuple[str, str], ...]


def diagnostic_report(
    stats: StatsSnapshot,
    scale: Any,
    extra: Mapping[str, Any] | None = None,
    temporal: Any = None,
    silence_ns: int = 0,
) -> DiagnosticReport:
    """Level, message and key/values for ``/diagnostics``.

    Args:
        stats: :meth:`RuntimeStats.snapshot`.
        scale: the last frame's :class:`~mono_depth_ros.pipeline.ScaleStatus` (its ``key_values``: scale, shift,
            mode, health, inliers, inlier ratio, residual, age, reason), or None before the first frame.
        extra: more key/values (backend, device, encoding, ...), appended as ``str(value)``.
        temporal: the last frame's :class:`~mono_depth_ros.pipeline.TemporalStatus` (``temporal_*`` keys: state,
            kept share, frames filtered, frames passed through without a camera pose), or None (filter off).
        silence_ns: ns since the frame of ``scale`` and ``temporal`` was published (node clock; 0: just now): the
            scale's ``age_s`` grows by it and ``last_frame_age_s`` says it, so that values held while the camera is
            silent read as old, not as of ``age_s 0.000``.

    Level: ERROR when the worker hit an unexpected exception within the window or a frame's model output was
    unusable (``core.model_output``: NaN / Inf beyond ``model.max_invalid_share``, another size, out of memory;
    ``severe_in_window``); WARN when nothing was published
    within the window, when messages were rejected within it, when 16-bit frames whose scaling looks wrong were
    counted within it (``frames_high_bits_unused``, ``frames_above_significant_bits``: while the cause stands, every
    frame is), or when the scale health is ``degraded``; ERROR also when it is ``lost`` (core.scale.Health: ok /
    degraded / lost); else OK.
    """
    values: list[tuple[str, str]] = [
        ("fps", f"{stats.fps:.2f}"),
        ("latency_p50_ms", f"{stats.latency_p50_ms:.1f}"),
        ("latency_p95_ms", f"{stats.latency_p95_ms:.1f}"),
        ("frames_received", str(stats.received)),
        ("frames_published", str(stats.published)),
        ("frames_dropped_stale", str(stats.dropped)),
        ("frames_unstamped", str(stats.frames_unstamped)),
        *((key, str(stats.sixteen_bit.get(key, 0))) for key in SIXTEEN_BIT_KEYS),  # published, scaling suspect
        ("images_missing", str(stats.images_missing)),
        ("bad_messages", str(sum(stats.bad.values()))),  # images: received = published + dropped + bad + errors
        *((f"bad_messages.{reason}", str(count)) for reason, count in sorted(stats.bad.items())),
        ("inputs_unused", str(sum(stats.unused.values()))),  # scans, camera_infos, predictions: no image outcome
        *((f"inputs_unused.{reason}", str(count)) for reason, count in sorted(stats.unused.items())),
        ("worker_errors", str(stats.worker_errors)),
    ]
    health, mode, extrinsic = "no frame yet", "none", ""
    if scale is not None:
        scale_values = scale.key_values(silence_ns)
        values += [*scale_values, ("last_frame_age_s", f"{max(int(silence_ns), 0) * 1e-9:.3f}")]
        keyed = dict(scale_values)
        health, mode, extrinsic = keyed["scale_health"], keyed["scale_mode"], keyed.get("lidar_extrinsic", "")
    values += temporal.key_values() if temporal is not None else []
    values += [(str(key), str(value)) for key, value in (extra or {}).items()]
    window = f"{stats.window_s:g} s"
    if stats.errors_in_window:
        level, message = "ERROR", f"{stats.errors_in_window} worker error(s) in the last {window}; see the log"
    elif stats.severe_in_window:
        level = "ERROR"
        message = (
            f"{stats.severe_in_window} frame(s) with invalid model output (NaN / Inf, <= 0, another size) or a "
            f"model out of memory in the last {window}; see the log"
        )
    elif stats.published_in_window == 0:
        level = "WARN"
        message = f"no depth published in the last {window} ({stats.received} input frame(s) received so far)"
    elif health == "lost":
        level, message = "ERROR", f"scale lost ({mode}): published depth is not metric"
    elif stats.bad_in_window:
        level = "WARN"
        message = f"{stats.bad_in_window} bad message(s) in the last {window}; see bad_messages.*, inputs_unused.*"
    elif stats.sixteen_bit_in_window:
        keys = ", ".join(key for key in SIXTEEN_BIT_KEYS if stats.sixteen_bit.get(key))
        level = "WARN"
        message = f"{stats.sixteen_bit_in_window} 16-bit frame(s) scaled wrongly? in the last {window}; see {keys} "
        message += f"and the log for the {PARAMETER} to set"
    elif health != "ok" and extrinsic:
        level, message = "WARN", f"LiDAR -> camera transform looks wrong ({extrinsic}; see scale_reason), scale {mode}"
    elif health != "ok":
        level, message = "WARN", f"scale health {health} ({mode})"
    else:
        latency = "n/a" if math.isnan(stats.latency_p95_ms) else f"{stats.latency_p95_ms:.0f} ms"
        latency += " (see frames_unstamped)" if stats.frames_unstamped else ""
        level, message = "OK", f"{stats.fps:.1f} fps, p95 latency {latency}, scale from {mode}"
    return DiagnosticReport(level=level, message=message, values=tuple(values))


def config_key_values(config: DepthConfig, resolve: Callable[[str], str] = str) -> dict[str, str]:
    """The configuration keys every ``/diagnostics`` status carries (node and bag runner alike); ``lidar_topic`` as
    subscribed (the node's ``resolve``: rclpy's ``resolve_topic_name``, namespace and remap rules applied)."""
    return {
        "backend": config.model.backend,
        "encoding": config.output.encoding,
        "sync_mode": config.sync.mode,
        "lidar_topic": resolve(config.topics.lidar) if config.topics.lidar else "none",
        "scale_mode_requested": config.scale.mode,
    }


def status_name(node_fqn: str) -> str:
    """The node's status name: its fully qualified name without the leading ``/`` (``front/mono_depth_node: depth``
    in namespace ``front``), so that two cameras' nodes give two statuses."""
    return f"{node_fqn.lstrip('/')}: depth"


STATUS_SUFFIX = status_name(NODE_NAME)
"""The end of every mono_depth_node's (and the bag runner's) status name: ``mono_depth_node: depth``."""

DEPTH_STATUS_KEYS = ("frames_received", "backend")
"""Keys every depth status carries (:func:`diagnostic_report`, :func:`config_key_values`), whatever the node's name."""


def is_depth_status(status: Any) -> bool:
    """Whether ``status`` (a ``diagnostic_msgs/DiagnosticStatus``) is the depth status of a node of this package (or
    of the bag runner) under any node name: a name that is :data:`STATUS_SUFFIX` in some namespace
    (``front/mono_depth_node: depth``, whatever its values: a recorded one without them too), or one that ends with
    ``: depth`` and whose values carry :data:`DEPTH_STATUS_KEYS` (``left/depth_left: depth`` of a node a user's launch
    file named ``depth_left``: ``Node(name=...)``, ``-r __node:=``). Another package's ``rgbd/driver: depth`` (or
    ``my_mono_depth_node: depth``) without those keys is not one. The one rule of
    :class:`~mono_depth_ros.adapters.input_watch.PeerFrames` and of the bag runner's copy of recorded statuses."""
    name = str(status.name)
    if name == STATUS_SUFFIX or name.endswith("/" + STATUS_SUFFIX):
        return True
    if not name.endswith(": depth"):
        return False
    keys = {str(value.key) for value in status.values}
    return all(key in keys for key in DEPTH_STATUS_KEYS)


def diagnostics_message(
    factory: MessageFactory, report: DiagnosticReport, stamp_ns: int, name: str, hardware_id: str
) -> Any:
    """A ``diagnostic_msgs/DiagnosticArray`` with one status: ``report`` named ``name`` (e.g. ``node: depth``)."""
    status = factory.new(
        "diagnostic_msgs/msg/DiagnosticStatus",
        level=factory.byte(LEVELS.index(report.level)),
        name=name,
        message=report.message,
        hardware_id=hardware_id,
        values=[factory.new("diagnostic_msgs/msg/KeyValue", key=k, value=v) for k, v in report.values],
    )
    return factory.new(DIAGNOSTIC_ARRAY, header=make_header(factory, stamp_ns, ""), status=[status])


@dataclass(frozen=True)
class LastFrame:
    """What ``/diagnostics`` reports of the last published frame, made whole by the publish thread and swapped in by
    one assignment, so that the executor's diagnostics timer reads one frame's values with that frame's publish time
    (four attributes set one by one were read half old, half new: the new scale aged since the frame before).

    Attributes:
        scale, temporal: its ``ScaleStatus`` and ``TemporalStatus`` (None: no frame yet, the filter off).
        frame_id: its image's frame_id ("" before the first).
        published_ns: node clock (int ns) at its publish; the ages in ``/diagnostics`` grow since.
    """

    scale: Any = None
    temporal: Any = None
    frame_id: str = ""
    published_ns: int = 0
