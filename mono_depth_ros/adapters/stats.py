"""Run-time statistics: images received / published / dropped / bad per reason, other inputs unused per reason, fps
and latency.

Every image received ends in one outcome: published, dropped (stale, or at a stop), bad (``bad_messages.<reason>``)
or a worker error, so that ``received == published + dropped + sum(bad) + worker_errors`` once none is in flight. A
LiDAR scan, camera_info or external prediction that cannot be used is no image: it is counted apart
(``inputs_unused.<reason>``, the reason prefixed with the input: ``lidar.``, ``camera_info.``, ``prediction.``); the
image it came with is published (a scan's: with the fallback scale) or counted under its own outcome. A 16-bit
image whose scaling to 8 bit looks wrong (:mod:`~mono_depth_ros.adapters.input_bits`) is neither: it is published,
and counted under its own key (``frames_high_bits_unused``, ``frames_above_significant_bits``), as a frame published
without a capture stamp is (``frames_unstamped``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mono_depth_ros.adapters.input_bits import SIXTEEN_BIT_KEYS
from mono_depth_ros.adapters.log_throttle import ReasonThrottle
from mono_depth_ros.core.errors import ConfigError

NS_PER_S = 1_000_000_000


def diagnostics_window_s(period_s: float) -> float:
    """The node's statistics window (s) for ``diagnostics.period_s`` ``period_s`` (s): 5 s, or 3 periods where longer
    (fps, latency and the ``*_in_window`` counts of ``/diagnostics``; the bag runner's statuses within a camera
    dropout use it too, so that they say what the node's say)."""
    return max(5.0, 3.0 * period_s)


def seconds_to_ns(seconds: float) -> int:
    """Float seconds (a parameter) → int nanoseconds, rounded (node and bag runner alike: ``int`` truncated 2.01 s
    to 2_009_999_999 ns, one less than the bag runner's bound)."""
    return round(float(seconds) * NS_PER_S)


MAX_STAMP_OFFSET_S = 3600.0
"""A capture stamp further than this from the node clock (or stamp 0) is not a capture time: no latency."""
MAX_STAMP_AHEAD_S = 1.0
"""A capture stamp further than this after the node clock is not a capture time on it either (a camera clock not
synchronised with the node's: its latency would be negative); a smaller skew keeps its latency, as it is."""
CLOCK_STEPS_AHEAD = 2.0
"""With ``use_sim_time`` the node clock is the last ``/clock`` and steps (:class:`~mono_depth_ros.adapters.ros_clock.
ClockSteps`): a stamp up to this many of its recent steps after it (and at least :data:`MAX_STAMP_AHEAD_S`) is a
capture since the last ``/clock``, not a clock ahead: published with no latency (none to read before the next step)."""
CLOCK_FAR_STEPS = 10.0
"""A stamp more than this many of ``/clock``'s recent steps after it (past :data:`CLOCK_STEPS_AHEAD`) is further ahead
than any ``/clock`` rate explains (a live camera stamping the wall time beside a bag played with ``--clock``): warned
with stamping the images with the time on ``/clock`` as the remedy, not publishing ``/clock`` more often."""
CLOCK_STANDS = -1
""":meth:`SteppingClock.step_ns`'s value for a ``/clock`` heard once that has not stepped since for
:data:`~mono_depth_ros.adapters.ros_clock.FIRST_STEP_WAIT_S` of wall time (a paused simulator or bag): no image is
captured since on it, a stamp after it keeps the 1 s rule (a live camera stamping the wall time)."""
SIXTEEN_BIT_LOG_PERIOD_S = 2.0
"""Seconds between two logs of one 16-bit scaling warning (its key and text without numbers; counted every frame)."""


class SteppingClock(Protocol):
    """The node clock's steps under ``use_sim_time`` (:class:`~mono_depth_ros.adapters.ros_clock.ClockSteps`)."""

    def step_ns(self) -> int | None:
        """Its recent step in ns: None where it does not step (the system time), 0 for ``/clock`` whose step is not
        known yet, :data:`CLOCK_STANDS` where it has not stepped since its first message for a while."""

    def changes(self) -> int:
        """How many times the clock changed (``use_sim_time`` set at run time, either way)."""


STAMP_WITH_CLOCK = (
    "stamp the images with the time on /clock (a live camera stamps the wall time: set use_sim_time false for it)"
)
"""The remedy for images not stamped with ``/clock``'s time under ``use_sim_time``."""


def _ahead_cause(ahead_ns: int, step_ns: int | None) -> tuple[str, str, str]:
    """``(cause, why, remedy)`` of a stamp more than it may be ahead of the node clock, up to
    :data:`MAX_STAMP_OFFSET_S` (int ns; ``step_ns``: :meth:`SteppingClock.step_ns`, None on the system time): a
    ``/clock`` that stands; one whose steps are over :data:`CLOCK_FAR_STEPS` times smaller than the gap (no
    ``/clock`` rate explains it); one that steps too far apart; else, on the system time, the camera's clock."""
    ahead = f"{ahead_ns / NS_PER_S:.3f} s ahead of the node clock"
    if step_ns == CLOCK_STANDS:
        why = f"{ahead}, /clock (use_sim_time), which has not moved since its first message"
        return (
            "clock_stands",
            f"{why}: the images are not stamped with its time, no capture time on it",
            f"{STAMP_WITH_CLOCK} or run the clock (a paused simulator or ros2 bag play)",
        )
    if step_ns:  # a /clock whose step is known (0, not known yet, lets up to MAX_STAMP_OFFSET_S through)
        steps = f"{ahead}, /clock (use_sim_time), which steps by up to {step_ns / NS_PER_S:.3f} s"
        if ahead_ns > CLOCK_FAR_STEPS * step_ns:  # no /clock rate explains it
            why = f"{steps}: more than {CLOCK_FAR_STEPS:g} of its steps, which no /clock rate explains"
            return (
                "clock_far",
                f"{why}: the images are not stamped with its time, no capture time on it",
                STAMP_WITH_CLOCK,
            )
        return (
            "clock_behind",
            f"{steps}: more than {CLOCK_STEPS_AHEAD:g} of its steps (and {MAX_STAMP_AHEAD_S:g} s), no capture time "
            "on it",
            "publish /clock more often (ros2 bag play --clock HZ: 40 Hz of wall time by default, so --rate R steps "
            "R/40 s of bag time; the simulator's clock rate) or stamp the images with the time on /clock",
        )
    return (
        "ahead",
        f"{ahead} (more than {MAX_STAMP_AHEAD_S:g} s): the camera's clock is not synchronised with the node's, no "
        "capture time on it",
        "synchronise the camera computer's clock with the node's (chrony or PTP)",
    )


def drained(*holders: Any | None) -> int:
    """How many images the holders (``drain()``: ``ScanPairing``, ``SyncWatch``; None skipped) held for their LiDAR
    scan or camera_info, forgotten now: their subscriptions are going (a stop, a deactivate), so they count dropped."""
    return sum(holder.drain() for holder in holders if holder is not None)


def unused_warning(reason: str, text: str) -> str:
    """The log line of an input not used (:meth:`RuntimeStats.input_unused`): which input, why, what follows."""
    if reason.startswith("lidar."):
        return f"LiDAR scan not used ({reason}): {text}; this frame's scale falls back"
    kind = reason.partition(".")[0]
    return f"{kind} not used ({reason}): {text}; an image left without its {kind} is counted in bad_messages"


def sixteen_bit_warning(key: str, text: str) -> str:
    """The log line of a 16-bit frame whose scaling looks wrong (:meth:`RuntimeStats.sixteen_bit_frame`): the image
    is published, its key in ``/diagnostics`` and why."""
    return f"16-bit image scaled wrongly? (counted in {key}): {text}"


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
    severe_in_window: int = 0  # bad frames that make the output untrustworthy (invalid model output)
    frames_unstamped: int = 0  # published frames whose stamp was 0 or off the clock (:data:`MAX_STAMP_OFFSET_S`, ahead)
    images_missing: int = 0  # images whose camera_info came but which never arrived (not in ``received``)
    unused: dict[str, int] = field(default_factory=dict)  # other inputs not used, per reason (not images)
    sixteen_bit: dict[str, int] = field(default_factory=dict)  # 16-bit frames scaled wrongly? per key (published)
    sixteen_bit_in_window: int = 0  # of those, counted within the window (WARN)


class RuntimeStats:
    """Thread-safe frame counters, fps and capture→publish latency over a sliding window.

    Args:
        window_s: length of the window for fps, latency percentiles and the ``*_in_window`` counts.
        clock_ns: monotonic clock in int nanoseconds (injectable for tests).
        warn: called with a warning: once per cause and clock (the stamp, the clock, the remedy) at the first
            frame :meth:`frame_published_at` finds unstamped; for a 16-bit frame whose scaling looks wrong
            (:meth:`sixteen_bit_frame`), at most every :data:`SIXTEEN_BIT_LOG_PERIOD_S` per key and kind of text.
        clock_steps: the node clock's recent step and changes (:class:`SteppingClock`: the node's
            :class:`~mono_depth_ros.adapters.ros_clock.ClockSteps`); None: a clock that never steps or changes.
    """

    def __init__(
        self,
        window_s: float = 5.0,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        warn: Callable[[str], Any] | None = None,
        clock_steps: SteppingClock | None = None,
    ) -> None:
        if not window_s > 0.0:
            msg = f"statistics window {window_s} s must be > 0"
            raise ConfigError(msg)
        self._window_ns = int(window_s * NS_PER_S)
        self._clock_ns = clock_ns
        self._clock_steps = clock_steps
        self._lock = threading.Lock()
        self._start_ns = clock_ns()
        self._received = 0
        self._dropped = 0
        self._missing = 0
        self._worker_errors = 0
        self._bad: Counter[str] = Counter()
        self._unused: Counter[str] = Counter()
        self._published: deque[tuple[int, float]] = deque()  # (publish time ns, latency ns; NaN: unstamped)
        self._unstamped = 0
        self._unstamped_warned: set[str] = set()  # the causes warned (frame_published_at)
        self._newest_now_ns = -(2**63)  # the latest node clock seen at a publish (it went back: a looped bag)
        self._clock_changes = 0  # clock_steps.changes() at the last publish: another count, another clock
        self._warn = warn
        self._sixteen_bit: Counter[str] = Counter()
        self._sixteen_bit_times: deque[int] = deque()
        self._sixteen_bit_log = ReasonThrottle(SIXTEEN_BIT_LOG_PERIOD_S, clock=lambda: clock_ns() / NS_PER_S)
        self._published_total = 0
        self._bad_times: deque[tuple[int, str]] = deque()  # (time ns, reason)
        self._error_times: deque[int] = deque()
        self._severe_times: deque[int] = deque()

    def frame_received(self) -> None:
        """One synchronised input set arrived."""
        with self._lock:
            self._received += 1

    def images_missing(self, count: int) -> None:
        """Images that never reached the node (their camera_info did): lost in transport or never sent."""
        with self._lock:
            self._missing += count

    def frame_dropped(self, count: int = 1) -> None:
        """Stale frames replaced in the latest-frame slot before the worker took them."""
        with self._lock:
            self._dropped += count

    def bad_message(self, reason: str, severe: bool = False) -> None:
        """An image received (:meth:`frame_received`) and not published for ``reason`` (e.g. the DepthError class
        name, ``no_camera_info``); ``severe``: the model's output itself was unusable (raises /diagnostics to
        ERROR). A problem of another input whose image may still be published: :meth:`input_unused`."""
        with self._lock:
            self._bad[reason] += 1
            now = self._clock_ns()
            self._bad_times.append((now, reason))
            if severe:
                self._severe_times.append(now)

    def input_unused(self, reason: str) -> None:
        """A message of another input than the image (a LiDAR scan, a camera_info, an external prediction) not used
        for ``reason`` (prefixed with the input: ``lidar.empty_scan``, ``camera_info.bad_cdr``); no image outcome,
        but a problem within the window as a bad message is (``bad_in_window``)."""
        with self._lock:
            self._unused[reason] += 1
            self._bad_times.append((self._clock_ns(), reason))

    def bad_message_withdrawn(self, reason: str) -> None:
        """Take back one :meth:`bad_message` for ``reason`` (an image reported unpaired that the synchroniser paired
        later: it was published); nothing when none is counted."""
        with self._lock:
            if self._bad[reason] <= 0:
                del self._bad[reason]
                return
            self._bad[reason] -= 1
            if not self._bad[reason]:
                del self._bad[reason]
            for index in range(len(self._bad_times) - 1, -1, -1):  # its entry in the window, if still there
                if self._bad_times[index][1] == reason:
                    del self._bad_times[index]
                    break

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

    def frame_published_at(self, stamp_ns: int, now_ns: int) -> None:
        """A frame captured at ``stamp_ns`` went out at ``now_ns`` (the node clock): :meth:`frame_published` with
        ``now_ns - stamp_ns``, unless the stamp is 0, more than :data:`MAX_STAMP_OFFSET_S` from ``now_ns`` or more
        than :data:`MAX_STAMP_AHEAD_S` after it (a driver that does not stamp, another clock, a camera clock not
        synchronised with the node's): then the frame counts as published and as
        ``frames_unstamped``, outside the latency percentiles. A stamp after ``now_ns`` once the node clock has gone
        back (an earlier call had a later ``now_ns``: a bag played with ``--clock --loop``, this frame captured in the
        pass before) is published with no latency, not unstamped; a clock change (``use_sim_time`` set at run time:
        ``clock_steps``' changes) starts that history afresh (the system time read before ``/clock`` is no earlier
        time of it; nor is ``now_ns`` of the call that first sees the change: the caller read it before the count),
        and the warnings (each cause warned once on a clock: once more on the new one).
        So is a stamp after a node clock that steps (``/clock``: ``clock_steps``) by up to
        :data:`CLOCK_STEPS_AHEAD` of its recent steps, or by any amount up to
        :data:`MAX_STAMP_OFFSET_S` before its step is known (for a while: :data:`CLOCK_STANDS`): captured since the
        last ``/clock`` (``ros2 bag play --clock`` at ``--rate 50`` steps 1.25 s; a simulator's 0.5 Hz ``/clock``
        2 s), its latency is not on the clock yet; further ahead it is unstamped, warned naming ``/clock``, not the
        camera's clock (beyond :data:`CLOCK_FAR_STEPS` of its steps: the images not stamped with its time)."""
        clock = self._clock_steps
        step_ns, changes = (None, 0) if clock is None else (clock.step_ns(), clock.changes())
        with self._lock:
            if changes != self._clock_changes:  # use_sim_time set: the clock read before is another clock
                # now_ns was read before the count, maybe on the clock before the change: no history of the new one
                self._clock_changes, self._newest_now_ns, went_back = changes, -(2**63), False
                self._unstamped_warned.clear()  # the causes on the new clock are new: each is warned once more
            else:
                went_back = now_ns < stamp_ns and now_ns < self._newest_now_ns  # captured before the clock went back
                self._newest_now_ns = max(self._newest_now_ns, now_ns)
        if went_back:  # a bag's --loop with --clock: "now - stamp" is no latency (it was < 0: latency_p50_ms < 0)
            self._published_without_latency()
            return
        ahead_ns = stamp_ns - now_ns
        if step_ns is None or step_ns == CLOCK_STANDS:
            stepped_ns = 0.0  # the system time, or a /clock that stands: no step to be ahead of
        elif step_ns == 0:
            stepped_ns = MAX_STAMP_OFFSET_S * NS_PER_S  # /clock, its step not known yet (one /clock so far)
        else:
            stepped_ns = max(MAX_STAMP_AHEAD_S * NS_PER_S, CLOCK_STEPS_AHEAD * step_ns)
        if stamp_ns != 0 and now_ns != 0 and 0 < ahead_ns <= stepped_ns:  # since the last /clock: no latency yet
            self._published_without_latency()
            return
        if stamp_ns != 0 and -MAX_STAMP_OFFSET_S * NS_PER_S <= ahead_ns <= MAX_STAMP_AHEAD_S * NS_PER_S:
            self.frame_published(now_ns - stamp_ns)
            return
        if stamp_ns != 0 and now_ns == 0:  # rclpy's ROS time before the first /clock: no camera clock's fault
            cause = "sim_time"
            why = "the node clock is still 0 (use_sim_time with no /clock yet), no capture time on it"
            remedy = "publish /clock (ros2 bag play --clock, the simulator's clock) or set use_sim_time false"
        elif stamp_ns != 0 and 0 < ahead_ns <= MAX_STAMP_OFFSET_S * NS_PER_S:
            cause, why, remedy = _ahead_cause(ahead_ns, step_ns)
        else:
            cause = "off"
            why = f"stamp 0 or more than {MAX_STAMP_OFFSET_S / 3600:g} h off, no capture time"
            remedy = "stamp images in the driver with the node's clock (use_sim_time needs /clock)"
        with self._lock:
            self._published.append((self._clock_ns(), float("nan")))
            self._published_total += 1
            self._unstamped += 1
            first = cause not in self._unstamped_warned  # each cause once: /clock may come, a camera stay off
            self._unstamped_warned.add(cause)
        if first and self._warn is not None:
            self._warn(
                f"image stamped {stamp_ns / NS_PER_S:.3f} s, node clock {now_ns / NS_PER_S:.3f} s: {why}; such frames "
                "are published but left out of latency_*_ms and counted in frames_unstamped (warned once per cause and "
                f"clock); {remedy}"
            )

    def _published_without_latency(self) -> None:
        """A frame published whose capture time is right but not on the node clock (yet): no latency, no fault."""
        with self._lock:
            self._published.append((self._clock_ns(), float("nan")))
            self._published_total += 1

    def sixteen_bit_frame(self, key: str, text: str) -> None:
        """A 16-bit frame whose scaling to 8 bit looks wrong (:class:`~mono_depth_ros.adapters.input_bits.
        SixteenBitInput`'s report; ``key``: one of its :data:`~mono_depth_ros.adapters.input_bits.SIXTEEN_BIT_KEYS`):
        counted under ``key``, no image outcome (the frame goes on to be published), WARN within the window
        (``sixteen_bit_in_window``); ``text`` (what was seen, the ``image_significant_bits`` to set) is logged,
        throttled."""
        if key not in SIXTEEN_BIT_KEYS:
            msg = f"16-bit scaling key {key!r} is none of {SIXTEEN_BIT_KEYS}"
            raise ValueError(msg)
        with self._lock:
            self._sixteen_bit[key] += 1
            self._sixteen_bit_times.append(self._clock_ns())
        if self._warn is not None and (held := self._sixteen_bit_log.allow(key, text)) is not None:
            self._warn(sixteen_bit_warning(key, text) + held)

    def snapshot(self) -> StatsSnapshot:
        """Current counters, fps (frames per second) and latency p50 / p95 in milliseconds (NaN without data)."""
        with self._lock:
            now = self._clock_ns()
            horizon = now - self._window_ns
            for times in (self._error_times, self._severe_times, self._sixteen_bit_times):
                while times and times[0] < horizon:
                    times.popleft()
            while self._bad_times and self._bad_times[0][0] < horizon:
                self._bad_times.popleft()
            while self._published and self._published[0][0] < horizon:
                self._published.popleft()
            stamps = np.array([t for t, _ in self._published], dtype=np.int64)
            latencies_ms = np.array([lat for _, lat in self._published], dtype=np.float64) / 1e6
            latencies_ms = latencies_ms[np.isfinite(latencies_ms)]  # unstamped frames have none
            count = int(stamps.size)
            if now - self._start_ns >= self._window_ns:
                fps = count * NS_PER_S / self._window_ns
            elif count >= 2 and stamps[-1] > stamps[0]:  # the first window: over the frames' own span
                span = float(stamps[-1] - stamps[0])  # and the silence since the last one, beyond one mean gap
                fps = (count - 1) * NS_PER_S / max(span, float(now - stamps[0]) - span / (count - 1))
            else:
                fps = 0.0
            p50, p95 = np.percentile(latencies_ms, [50, 95]).tolist() if latencies_ms.size else [float("nan")] * 2
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
                severe_in_window=len(self._severe_times),
                frames_unstamped=self._unstamped,
                images_missing=self._missing,
                unused=dict(self._unused),
                sixteen_bit=dict(self._sixteen_bit),
                sixteen_bit_in_window=len(self._sixteen_bit_times),
            )
