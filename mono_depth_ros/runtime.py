"""ROS-free run-time pieces of the node: latest-frame hand-off, worker thread, statistics, diagnostics, parameters.

The rclpy shell (:mod:`mono_depth_ros.node`) only wires these to topics, timers and parameter services, so
everything here is tested without ROS:

* :class:`LatestSlot` + :class:`FrameWorker`: the executor thread drops the newest input into a one-item slot and
  returns at once; a worker thread processes whatever is newest. A frame replaced before the worker took it is
  *stale*: dropped and counted, so the executor never backs up behind inference.
* :class:`RuntimeStats`: frames received / published / dropped, bad messages per reason, worker errors, fps and
  capture→publish latency percentiles over a sliding window (int nanoseconds in, milliseconds out).
* :func:`diagnostic_report`: the level, message and key/values of the ``/diagnostics`` status.
* :class:`ScanPairing`, :func:`select_scan`, :func:`lookup_cam_from_scan`, :class:`CameraModelCache`: the LiDAR
  scan for an image (held until a scan that arrives after its image is in) and its TF lookup, one CameraModel per
  calibration.

Parameter descriptors and run-time parameter checks live in :mod:`mono_depth_ros.node_params`.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.ros_msgs import camera_model_from_camera_info
from mono_depth_ros.node_params import device_fallback
from mono_depth_ros.pipeline import DepthPipeline

T = TypeVar("T")
NS_PER_S = 1_000_000_000
LEVELS = ("OK", "WARN", "ERROR", "STALE")
"""diagnostic_msgs/DiagnosticStatus level names (values 0..3); the node maps them to the message constants."""


class LatestSlot(Generic[T]):
    """A one-item, thread-safe hand-off: :meth:`put` never blocks and replaces an item nobody has taken yet."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> bool:
        """Offer ``item``; returns True when it replaced an untaken (now dropped) item. Ignored once closed."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item (removing it), waiting up to ``timeout_s`` (None = forever); None on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiter; later puts are ignored and takes return None."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


class FrameWorker(Generic[T]):
    """A daemon thread running ``handle(item)`` for each item it takes from ``slot``.

    Any exception from ``handle`` goes to ``on_error`` and the thread carries on: one bad frame (or a bug hit
    by one frame) must not stop the node. ``on_error`` itself must not raise.
    """

    def __init__(
        self,
        slot: LatestSlot[T],
        handle: Callable[[T], None],
        on_error: Callable[[Exception], None],
        name: str = "mono_depth_worker",
    ) -> None:
        self._slot = slot
        self._handle = handle
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Close the slot and join the thread; True when it ended within ``timeout_s`` seconds."""
        self._slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._slot.take()
            if item is None:
                return
            try:
                self._handle(item)
            except Exception as err:  # reported through on_error: the thread must survive
                self._on_error(err)


class StopSignals:
    """SIGINT / SIGTERM noted in a flag instead of a ``KeyboardInterrupt`` thrown into whatever code runs.

    Install it before ``rclpy.init()``: rclpy's handler chains to this one and shuts the context down, so ``spin``
    ends; the flag tells ``main`` that an error raised by the shutdown race (Humble's RCLError "context is not
    valid", or a pybind11 RuntimeError for an interrupt inside ``take_message``, both seen on real Humble) is a
    requested stop. Ctrl-C under ``ros2 launch`` arrives twice (terminal and launch): :meth:`ignore_further`
    keeps the second from interrupting the clean-up.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    @classmethod
    def install(cls) -> StopSignals:
        """Handlers for SIGINT and SIGTERM that set the flag (call from the main thread)."""
        stop = cls()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop._note)
        return stop

    def _note(self, signum: int, frame: Any) -> None:
        self._event.set()

    @property
    def received(self) -> bool:
        """True once SIGINT or SIGTERM arrived."""
        return self._event.is_set()

    def ignore_further(self) -> None:
        """Ignore SIGINT from now on (shutting down; SIGTERM still ends the process via rclpy's chain)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(frozen=True)
class StatsSnapshot:
    """Counters since start and rates over the last ``window_s`` seconds (see :class:`RuntimeStats`)."""

    received: int
    published: int
    dropped: int
    bad: dict[str, int]
    worker_errors: int
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    published_in_window: int
    bad_in_window: int
    errors_in_window: int
    window_s: float


class RuntimeStats:
    """Thread-safe frame counters, fps and capture→publish latency over a sliding window.

    Args:
        window_s: length of the window for fps, latency percentiles and the ``*_in_window`` counts.
        clock_ns: monotonic clock in int nanoseconds (injectable for tests).
    """

    def __init__(self, window_s: float = 5.0, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        if not window_s > 0.0:
            msg = f"statistics window {window_s} s must be > 0"
            raise ConfigError(msg)
        self._window_ns = int(window_s * NS_PER_S)
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._start_ns = clock_ns()
        self._received = 0
        self._dropped = 0
        self._worker_errors = 0
        self._bad: Counter[str] = Counter()
        self._published: deque[tuple[int, int]] = deque()  # (publish time ns, latency ns)
        self._published_total = 0
        self._bad_times: deque[int] = deque()
        self._error_times: deque[int] = deque()

    def frame_received(self) -> None:
        """One synchronised input set arrived."""
        with self._lock:
            self._received += 1

    def frame_dropped(self, count: int = 1) -> None:
        """Stale frames replaced in the latest-frame slot before the worker took them."""
        with self._lock:
            self._dropped += count

    def bad_message(self, reason: str) -> None:
        """A message (or frame) rejected for ``reason`` (e.g. the DepthError class name)."""
        with self._lock:
            self._bad[reason] += 1
            self._bad_times.append(self._clock_ns())

    def worker_error(self) -> None:
        """An unexpected exception (a bug) in the worker; the node carries on."""
        with self._lock:
            self._worker_errors += 1
            self._error_times.append(self._clock_ns())

    def frame_published(self, latency_ns: int) -> None:
        """A frame's outputs went out, ``latency_ns`` after its capture stamp."""
        with self._lock:
            self._published.append((self._clock_ns(), int(latency_ns)))
            self._published_total += 1

    def snapshot(self) -> StatsSnapshot:
        """Current counters, fps (frames per second) and latency p50 / p95 in milliseconds (NaN without data)."""
        with self._lock:
            now = self._clock_ns()
            horizon = now - self._window_ns
            for times in (self._bad_times, self._error_times):
                while times and times[0] < horizon:
                    times.popleft()
            while self._published and self._published[0][0] < horizon:
                self._published.popleft()
            stamps = np.array([t for t, _ in self._published], dtype=np.int64)
            latencies_ms = np.array([lat for _, lat in self._published], dtype=np.float64) / 1e6
            count = int(stamps.size)
            if now - self._start_ns >= self._window_ns:
                fps = count * NS_PER_S / self._window_ns
            elif count >= 2 and stamps[-1] > stamps[0]:
                fps = (count - 1) * NS_PER_S / float(stamps[-1] - stamps[0])
            else:
                fps = 0.0
            p50, p95 = np.percentile(latencies_ms, [50, 95]).tolist() if count else [float("nan")] * 2
            return StatsSnapshot(
                received=self._received,
                published=self._published_total,
                dropped=self._dropped,
                bad=dict(self._bad),
                worker_errors=self._worker_errors,
                fps=float(fps),
                latency_p50_ms=float(p50),
                latency_p95_ms=float(p95),
                published_in_window=count,
                bad_in_window=len(self._bad_times),
                errors_in_window=len(self._error_times),
                window_s=self._window_ns / NS_PER_S,
            )


@dataclass(frozen=True)
class DiagnosticReport:
    """One ``diagnostic_msgs/DiagnosticStatus``: level name (:data:`LEVELS`), message and key/values (strings)."""

    level: str
    message: str
    values: tuple[tuple[str, str], ...]


def diagnostic_report(stats: StatsSnapshot, scale: Any, extra: Mapping[str, Any] | None = None) -> DiagnosticReport:
    """Level, message and key/values for ``/diagnostics``.

    Args:
        stats: :meth:`RuntimeStats.snapshot`.
        scale: the last frame's :class:`~mono_depth_ros.pipeline.ScaleStatus` (its ``key_values``: scale, shift,
            mode, health, inliers, inlier ratio, residual, age, reason), or None before the first frame.
        extra: more key/values (backend, device, encoding, ...), appended as ``str(value)``.

    Level: ERROR when the worker hit an unexpected exception within the window; WARN when nothing was published
    within the window, when messages were rejected within it, or when the scale health is ``degraded``; ERROR
    also when it is ``lost`` (core.scale.Health: ok / degraded / lost); else OK.
    """
    values: list[tuple[str, str]] = [
        ("fps", f"{stats.fps:.2f}"),
        ("latency_p50_ms", f"{stats.latency_p50_ms:.1f}"),
        ("latency_p95_ms", f"{stats.latency_p95_ms:.1f}"),
        ("frames_received", str(stats.received)),
        ("frames_published", str(stats.published)),
        ("frames_dropped_stale", str(stats.dropped)),
        ("bad_messages", str(sum(stats.bad.values()))),
        *((f"bad_messages.{reason}", str(count)) for reason, count in sorted(stats.bad.items())),
        ("worker_errors", str(stats.worker_errors)),
    ]
    health, mode = "no frame yet", "none"
    if scale is not None:
        scale_values = scale.key_values()
        values += scale_values
        health, mode = dict(scale_values)["scale_health"], dict(scale_values)["scale_mode"]
    values += [(str(key), str(value)) for key, value in (extra or {}).items()]
    window = f"{stats.window_s:g} s"
    if stats.errors_in_window:
        level, message = "ERROR", f"{stats.errors_in_window} worker error(s) in the last {window}; see the log"
    elif stats.published_in_window == 0:
        level = "WARN"
        message = f"no depth published in the last {window} ({stats.received} input frame(s) received so far)"
    elif health == "lost":
        level, message = "ERROR", f"scale lost ({mode}): published depth is not metric"
    elif stats.bad_in_window:
        level, message = "WARN", f"{stats.bad_in_window} bad message(s) in the last {window}; see bad_messages.*"
    elif health != "ok":
        level, message = "WARN", f"scale health {health} ({mode})"
    else:
        level, message = "OK", f"{stats.fps:.1f} fps, p95 latency {stats.latency_p95_ms:.0f} ms, scale from {mode}"
    return DiagnosticReport(level=level, message=message, values=tuple(values))


def select_scan(scans: Any, stamp_ns: int, max_age_ns: int) -> Any:
    """The item of ``scans`` (``(stamp_ns, payload)`` pairs) closest in time to ``stamp_ns`` within ``max_age_ns``.

    Returns the ``(stamp_ns, payload)`` pair, or None when every scan is further than ``max_age_ns`` away.
    """
    best = None
    for item in list(scans):
        gap = abs(int(item[0]) - int(stamp_ns))
        if gap <= max_age_ns and (best is None or gap < best[0]):
            best = (gap, item)
    return None if best is None else best[1]


@dataclass(frozen=True)
class Paired(Generic[T]):
    """A frame released by :class:`ScanPairing`, with the scan chosen for it (None: no scan within the age limit).

    ``waited_ns``: how long the frame was held (monotonic); ``timed_out``: released because ``wait_s`` ran out.
    """

    item: T
    stamp_ns: int
    scan: tuple[int, Any] | None
    waited_ns: int
    timed_out: bool


class ScanPairing(Generic[T]):
    """Pairs each image with its LiDAR scan when the scan arrives *after* the image, as real sensors deliver them.

    A frame is held (never the executor: :meth:`add_frame`, :meth:`add_scan` and :meth:`poll` return at once) until
    the choice of its scan is final, then released with the scan closest to its stamp within ``max_age_ns``:

    * a scan stamped at or after the frame has arrived (scans arrive in stamp order: later ones are further away);
    * the next scan, expected one scan period (median of recent stamp gaps) after the last, cannot be closer than
      the best one at hand, or cannot be within ``max_age_ns`` even half a period early (a low-rate LiDAR: no
      pointless wait);
    * the frame has waited ``wait_ns`` (a late scan costs only this frame's LiDAR scale); when no scan arrived
      during that wait, the LiDAR is taken as stopped and later frames are not held until a scan arrives again
      (a dead LiDAR delays one frame, not every frame).

    Frames leave in arrival order. At most ``max_waiting`` frames are held; an older one is released as is when more
    arrive. Thread-safe. Times: stamps in int ns (ROS time of the headers), waits on ``clock_ns`` (monotonic ns).
    """

    def __init__(
        self,
        max_age_ns: int,
        wait_ns: int,
        *,
        max_scans: int = 10,
        max_waiting: int = 8,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._lock = threading.Lock()
        self._scans: deque[tuple[int, Any]] = deque(maxlen=max_scans)
        self._waiting: deque[tuple[int, int, T]] = deque()  # (stamp ns, arrival ns, item)
        self._max_waiting = max_waiting
        self._clock_ns = clock_ns
        self._gave_up = False  # a frame timed out with no scan arriving meanwhile: hold none until a scan comes
        self.max_age_ns = int(max_age_ns)
        self.wait_ns = int(wait_ns)

    def add_scan(self, stamp_ns: int, scan: Any) -> list[Paired[T]]:
        """Cache a scan; returns the frames whose choice it made final."""
        with self._lock:
            self._scans.append((int(stamp_ns), scan))
            self._gave_up = False
            return self._release()

    def add_frame(self, stamp_ns: int, item: T) -> list[Paired[T]]:
        """Hold a frame; returns the frames (possibly this one) that can go now."""
        with self._lock:
            self._waiting.append((int(stamp_ns), self._clock_ns(), item))
            return self._release()

    def poll(self) -> list[Paired[T]]:
        """Frames released by the passing of time (call it from a timer, e.g. every 20 ms)."""
        with self._lock:
            return self._release()

    @property
    def waiting(self) -> int:
        """Frames held now."""
        with self._lock:
            return len(self._waiting)

    def scan_period_ns(self) -> int | None:
        """Median gap between the cached scans' stamps (None with fewer than two scans)."""
        stamps = sorted(stamp for stamp, _ in self._scans)
        gaps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
        return int(np.median(gaps)) if gaps else None

    def _release(self) -> list[Paired[T]]:
        now = self._clock_ns()
        period = self.scan_period_ns()
        released: list[Paired[T]] = []
        while self._waiting:
            stamp, arrived, item = self._waiting[0]
            best = select_scan(self._scans, stamp, self.max_age_ns)
            timed_out = now - arrived >= self.wait_ns
            overflow = len(self._waiting) > self._max_waiting
            if not (timed_out or overflow or self._final(stamp, best, period, now)):
                break  # later frames wait behind this one: outputs keep their order
            self._waiting.popleft()
            final = self._final(stamp, best, period, now)
            if timed_out and not final:
                self._gave_up = True  # the LiDAR stopped: later frames go at once until a scan arrives again
            released.append(Paired(item, stamp, best, now - arrived, timed_out and not final))
        return released

    def _final(self, stamp: int, best: tuple[int, Any] | None, period: int | None, now: int) -> bool:
        if self._gave_up:
            return True  # the last wait went unanswered: the LiDAR is stopped (or was never there)
        if not self._scans:
            return False  # no scan yet (start-up): wait for the first one, at most wait_ns
        newest = max(scan_stamp for scan_stamp, _ in self._scans)
        if newest >= stamp:
            return True
        if period is None:
            return False
        next_gap = newest + period - stamp  # the expected next scan's distance from this frame
        if next_gap > self.max_age_ns + period // 2:  # half a period of margin: a LiDAR's phase can jump (restart)
            return True
        return best is not None and abs(best[0] - stamp) <= next_gap


def lookup_cam_from_scan(
    tf_buffer: Any, camera_frame: str, image_stamp: Any, cloud_header: Any, motion_frame: str, timeout: Any
) -> Any:
    """tf2 ``TransformStamped`` taking a scan into the camera: the extrinsic at the scan stamp, or with
    ``motion_frame`` (e.g. ``odom``) ``lookup_transform_full``: camera at the image stamp <- lidar at the scan stamp.

    ``tf_buffer`` is a ``tf2_ros.Buffer``; ``timeout`` an ``rclpy.duration.Duration`` (zero: never wait).
    """
    lidar_frame = str(cloud_header.frame_id)
    if motion_frame:
        return tf_buffer.lookup_transform_full(
            camera_frame, image_stamp, lidar_frame, cloud_header.stamp, motion_frame, timeout=timeout
        )
    return tf_buffer.lookup_transform(camera_frame, lidar_frame, cloud_header.stamp, timeout=timeout)


class CameraModelCache:
    """Reuses one :class:`CameraModel` (and its undistortion maps) while the camera_info content stays the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._model: CameraModel | None = None

    def get(self, info: Any) -> CameraModel:
        """The model for a ``sensor_msgs/CameraInfo`` (any flavour); raises what the conversion raises."""
        roi = info.roi
        key = (
            int(info.width),
            int(info.height),
            str(info.distortion_model),
            *(np.asarray(getattr(info, name), dtype=np.float64).tobytes() for name in ("d", "k", "r", "p")),
            int(info.binning_x),
            int(info.binning_y),
            (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
        )
        with self._lock:
            if key != self._key or self._model is None:
                self._model = camera_model_from_camera_info(info)
                self._key = key
            return self._model


def build_pipeline(params: Mapping[str, ParamValue], logger: Any) -> DepthPipeline:
    """The pipeline with the network that ``model.*`` and ``device`` describe (none for ``external``).

    An explicit ``cuda`` / ``cuda:N`` without CUDA falls back to the CPU with a warning (``auto`` does so inside
    the loader). Missing weights raise CheckpointError (``main`` logs it and exits with code 1).
    """
    if str(params["model.backend"]) == "external":
        return DepthPipeline(params, None)

    def cuda_available() -> bool:
        import torch  # only for a CUDA request

        return bool(torch.cuda.is_available())

    device, warning = device_fallback(str(params["device"]), cuda_available)
    if warning:
        logger.warning(warning)
    from mono_depth_ros.models.depth_source import build_depth_source  # torch only when a network runs

    return DepthPipeline(params, build_depth_source({**params, "device": device}))
