"""``/diagnostics`` of the bag runner: the node's builder (:mod:`mono_depth_ros.adapters.diagnostics`) on bag time.

The same keys, levels and message as the live node. Differences that come from running offline: time is the image
stamps (bag time; an image stamped 0, its recording time on the stamps' clock: :func:`status_clock_ns`),
``latency_*_ms`` is the pipeline's processing time per frame (there is no capture → publish delay, so stamps 0 cost
nothing: ``frames_unstamped`` stays 0), ``frames_dropped_stale`` and ``worker_errors`` stay 0 (every image is
processed in order), and
``bad_messages.<reason>`` counts the images skipped under the node's key for the same fault (``BagSummary.bad``: the
DepthError class, ``no_camera_info``, ``no_prediction``, ``bad_cdr``; ``damaged_input`` for images the input's
storage lost, which a live node never receives), ``inputs_unused.<reason>``
its warnings of another input's message not used (``BagSummary.unused``: an undecodable camera_info, a scan empty,
undecodable or not placed by TF), so that ``frames_received = frames_published + bad_messages`` as in the node;
``frames_high_bits_unused`` / ``frames_above_significant_bits`` its warnings of a 16-bit frame scaled wrongly
(``BagSummary.sixteen_bit``), WARN in a status whose window (the node's, 5 s) counted one, as the node's does.
A status goes every ``diagnostics.period_s`` of bag time and, after the last image (a whole run or a stop), once
more where frames came after the last one: the output bag's last status counts every image processed. Each is
stamped, and tells its ages, as the node's status at that time would: a status goes at the first frame written at or
after its due time (``age_s`` of that frame's scale, ``last_frame_age_s`` 0), but where the camera drops out (no frame
written for more than a period and more than :data:`DROPOUT_INTERVALS` of its usual frame interval: no image for 3 s
of a 10 Hz camera), or is slower than the period (its usual interval longer: a 0.5 Hz camera with ``period_s`` 1, whose
statuses went every 2 s where the node's timer publishes every 1 s), the statuses due within the silence go at their
due times, as the node's timer publishes them, with
the last frame's ages grown by the silence (:meth:`BagDiagnostics.silent`: OK, then WARN after 5 s, as the node's).
Every status's fps / ``published_in_window`` are the node's (its ``RuntimeStats`` over its window, on bag time, the
node started at the first image); a silence longer than
:data:`LONGEST_SILENCE_NS` (recordings merged, stamps 0 among others) is no dropout: no status within it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mono_depth_ros.adapters.diagnostics import config_key_values, diagnostic_report, diagnostics_message
from mono_depth_ros.adapters.stats import NS_PER_S, RuntimeStats, StatsSnapshot, diagnostics_window_s
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.config import NODE_NAME
from mono_depth_ros.core.errors import ModelOutputError
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import FrameOutput

INVALID_OUTPUT_KEY = ModelOutputError.__name__
LATENCY_WINDOW = 100  # frames behind the latency percentiles
DROPOUT_INTERVALS = 2.0
"""A silence (bag time since the last frame written) longer than this many of the camera's usual frame intervals (the
median gap between its last :data:`RECENT_IMAGES` images) is a dropout: the statuses due within it go at their due
times. Within it, frames at the camera's rate faster than the period (a gap a little over a period from a camera's
jitter), a status goes with the next frame; a camera slower than the period (its usual interval longer) has statuses
due between its frames, as the node's timer, at their due times."""
RECENT_IMAGES = 16
LONGEST_SILENCE_NS = 3600 * 10**9
"""Bag time (int ns) between an image and the last frame written beyond which :meth:`BagDiagnostics.silent` writes
no statuses: another recording (bags merged, a driver's stamp 0 among real stamps), not a camera dropout."""


@dataclass
class BagDiagnostics:
    """When to write ``/diagnostics`` (every ``period_ns`` of image stamps, and :meth:`final` at the end) and what
    it says.

    Attributes:
        period_ns: ``diagnostics.period_s`` in int ns.
        config: the run's configuration (its keys go into every status).
        name: the status name, the node's as it names its own (``front/mono_depth_node: depth``).
        latencies_ms: pipeline time of the last :data:`LATENCY_WINDOW` written frames (their p50 / p95).
        per_frame: the demo's statuses (its scale plot reads one per frame): a camera slower than the period gets
            its status at the frame at or after each due time, none between its frames; only a dropout's go at their
            due times. False (a bag run): the node's, a status every period.
    """

    period_ns: int
    config: DepthConfig
    name: str = f"{NODE_NAME}: depth"
    per_frame: bool = False
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    _next_ns: int | None = None
    _faults: tuple[int, int, int, int] = (0, 0, 0, 0)  # :func:`_faults` handed to the node's counter so far
    _sixteen_bit_seen: dict[str, int] = field(default_factory=dict)  # summary.sixteen_bit handed to it so far
    _last: tuple[Any, Any, str, int] | None = None  # the last written frame's scale, temporal status, frame_id, stamp
    _counted: tuple[int, int, int, int] | None = None  # :func:`_counts` at the last status
    _images: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_IMAGES + 1))  # stamps given to silent
    _played_ns: int | None = None  # the node's clock (int ns): bag time, shifted on where the stamps go back
    _shift_ns: int = 0  # what the stamps are shifted by (their clock went back: the node's goes on)
    _last_written: tuple[int, int] | None = None  # the last two written stamps' gap and the last stamp (int ns)
    _rates: RuntimeStats | None = None  # the node's fps / published_in_window on the played clock

    def update(
        self, factory: MessageFactory, output: FrameOutput, summary: BagSummary, clock_ns: int | None = None
    ) -> Any:
        """A DiagnosticArray at the first frame at or after the due time, else None (``clock_ns``, int ns: the frame's
        time on the statuses' clock, default its stamp; the runner gives :func:`status_clock_ns`); the due times a
        period apart, in step as the node's timer (:class:`~mono_depth_ros.adapters.ros_clock.PlayedPeriod`),
        unless a period was missed: then a period after this frame (a due time a period after each status's frame
        drifted by the frame interval: a 30 Hz camera at ``period_s`` 0.05 had a status every 66.7 ms, the node every
        50 ms)."""
        stamp_ns = output.stamp_ns if clock_ns is None else clock_ns
        if self._last_written is not None:
            gap_ns, previous_ns = self._last_written
            if 0 <= stamp_ns - previous_ns <= LONGEST_SILENCE_NS:
                gap_ns = stamp_ns - previous_ns
            else:  # the stamps went back, or on by another recording's (a driver's stamp 0 among real stamps, then
                # the real ones again): the node publishes it a usual gap later (shifted on by the whole leap, the
                # played clock grew by 1.7e18 ns at each stamp 0 and overflowed int64 at the fifth: OverflowError)
                self._shift_ns += previous_ns - stamp_ns + gap_ns
            self._last_written = (gap_ns, stamp_ns)
        else:
            self._last_written = (0, stamp_ns)
        rates = self._node_rates(stamp_ns)
        self._count_faults(summary)  # this frame's (an input unused, a 16-bit warning), at its stamp
        rates.frame_published(0)  # published at its stamp (latency: the bag's own)
        self._last = (output.scale, output.temporal, output.frame_id, stamp_ns)
        jumped_back = self._next_ns is not None and stamp_ns < self._next_ns - 2 * self.period_ns
        if self._next_ns is not None and stamp_ns < self._next_ns and not jumped_back:
            return None  # (a clock that jumps back by more than a period restarts the schedule)
        in_step = -1 if self._next_ns is None or jumped_back else self._next_ns + self.period_ns
        self._next_ns = in_step if in_step > stamp_ns else stamp_ns + self.period_ns
        return self._status(factory, summary, stamp_ns)

    def silent(self, factory: MessageFactory, summary: BagSummary, stamp_ns: int) -> Iterator[tuple[int, Any]]:
        """The statuses due while the camera was silent, before an image stamped ``stamp_ns`` (int ns; written or
        skipped, asked before it is processed, in order): ``(due ns, DiagnosticArray)`` for each due time before it
        when it comes more than a period after the last frame written (no more than :data:`LONGEST_SILENCE_NS`) from a
        camera slower than the period (its usual interval longer; at the second image, its interval unknown: two
        periods or more after the first) or after a dropout (more than :data:`DROPOUT_INTERVALS` of the camera's usual
        interval), as the node's timer publishes them while no frame comes: the last frame's values, their ages grown
        by the silence (``last_frame_age_s``, ``age_s``), the counts then; none before the first frame written.
        Each is made as it is taken (up to 72,000 in an hour's dropout at ``diagnostics.period_s`` 0.05 s: 330 MB
        held at once in a list): take them all before the image is processed.
        """
        before = tuple(self._images)
        self._images.append(stamp_ns)
        self._node_rates(before[-1] if before else stamp_ns)  # the first image: the node's start
        self._count_faults(summary)  # the image before's, were it skipped: at its stamp, as the node counts it
        if self._last is None or self._next_ns is None:
            return iter(())
        silence_ns = stamp_ns - self._last[3]
        if not self.period_ns < silence_ns <= LONGEST_SILENCE_NS:
            return iter(())  # within a period (most images): no interval median needed
        gaps = np.diff(np.asarray(before, dtype=np.int64))
        gaps = gaps[gaps > 0]  # (a clock that went back: no interval)
        if not gaps.size:  # the second image: the camera's interval unknown, a due time a whole period before it
            if self.per_frame or silence_ns < 2 * self.period_ns:  # (a jitter over the period is no silence)
                return iter(())
            return self._due(factory, summary, stamp_ns)
        usual_ns = float(np.median(gaps))
        if (self.per_frame or usual_ns <= self.period_ns) and silence_ns <= DROPOUT_INTERVALS * usual_ns:
            return iter(())  # frames at the camera's rate, faster than the period: their statuses go with them
        return self._due(factory, summary, stamp_ns)

    def _due(self, factory: MessageFactory, summary: BagSummary, stamp_ns: int) -> Iterator[tuple[int, Any]]:
        """:meth:`silent`'s statuses, one at a time: each due time before ``stamp_ns`` (int ns)."""
        assert self._next_ns is not None  # (silent: a status was written)
        while self._next_ns < stamp_ns:
            due_ns, self._next_ns = self._next_ns, self._next_ns + self.period_ns
            yield due_ns, self._status(factory, summary, due_ns)

    def final(self, factory: MessageFactory, summary: BagSummary, stamp_ns: int) -> Any:
        """The run's last DiagnosticArray, at ``stamp_ns`` (int ns: the last image's stamp), when a frame was
        processed after the last status (else None, as when nothing was written): without it the output bag's last
        status left out the frames of the last, unfinished period."""
        if self._last is None or self._counted == _counts(summary):
            return None
        return self._status(factory, summary, stamp_ns)

    def _node_rates(self, stamp_ns: int) -> RuntimeStats:
        """The node's counter of published frames (:class:`~mono_depth_ros.adapters.stats.RuntimeStats` over its
        window, :func:`~mono_depth_ros.adapters.stats.diagnostics_window_s`) on the node's clock at ``stamp_ns``
        (int ns of bag time): the stamps shifted where they went back, never before the clock's latest time (a
        status stamped before the last frame: the node publishes after it). Made at the first image: the node
        started as the camera did (its first window's fps over the frames' own span, as the node's)."""
        played_ns = stamp_ns + self._shift_ns
        if self._played_ns is None:
            self._played_ns = played_ns
        elif played_ns - self._played_ns <= LONGEST_SILENCE_NS:  # (an image skipped stamped by another recording's
            self._played_ns = max(self._played_ns, played_ns)  # clock, far ahead: not the node's time)
        if self._rates is None:
            window_s = diagnostics_window_s(self.period_ns / NS_PER_S)
            self._rates = RuntimeStats(window_s, clock_ns=lambda: self._played_ns or 0)
        return self._rates

    def _count_faults(self, summary: BagSummary) -> None:
        """Hand the node's counter the faults counted since the last call (images skipped, ModelOutputError among
        them, other inputs unused, 16-bit frames scaled wrongly: :func:`_faults`), at the node's clock now (the
        image's stamp: :meth:`update` counts a written frame's, :meth:`silent` a skipped image's before the next
        image), so that a status's ``*_in_window`` counts are the node's over its window (WARN / ERROR for 5 s after
        a fault, as the node's), not those since the last status (WARN in one period only)."""
        rates, (skipped, severe, unused, _) = self._rates, self._faults
        if rates is None:
            return
        now = _faults(summary)
        for _ in range(now[0] - skipped - (now[1] - severe)):
            rates.bad_message("skipped")
        for _ in range(now[1] - severe):
            rates.bad_message(INVALID_OUTPUT_KEY, severe=True)
        for _ in range(now[2] - unused):
            rates.input_unused("unused")
        for key, count in summary.sixteen_bit.items():
            for _ in range(count - self._sixteen_bit_seen.get(key, 0)):
                rates.sixteen_bit_frame(key, "")
        self._sixteen_bit_seen = dict(summary.sixteen_bit)
        self._faults = now

    def _status(self, factory: MessageFactory, summary: BagSummary, stamp_ns: int) -> Any:
        """The status at ``stamp_ns`` (int ns), at a frame, within a silence or the final one alike: fps,
        ``published_in_window`` and ``window_s`` the node's (:meth:`_node_rates`: its window, 5 s, its first window's
        rate over the frames' span; a silence's OK, then WARN 'no depth published in the last 5 s', as the node
        says). At a frame they were over one period (a 10 Hz camera at ``period_s`` 1, 1 s after a 3 s dropout: 10 fps,
        the node 4.2 over its 5 s), within a silence over the node's window: two windows in one run."""
        assert self._last is not None  # a frame was written
        scale, temporal, frame_id, last_ns = self._last
        latencies = np.asarray(self.latencies_ms, dtype=np.float64)
        latencies = latencies[np.isfinite(latencies)]
        p50, p95 = np.percentile(latencies, [50, 95]).tolist() if latencies.size else [float("nan")] * 2
        self._node_rates(stamp_ns)
        self._count_faults(summary)
        assert self._rates is not None  # (made just before)
        rates = self._rates.snapshot()  # the node's, at every status (at a frame, silent, final)
        skipped = summary.skipped.total
        snapshot = StatsSnapshot(
            received=summary.frames_out + skipped,
            published=summary.frames_out,
            dropped=0,
            bad=dict(summary.bad),
            worker_errors=0,
            fps=rates.fps,
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            published_in_window=rates.published_in_window,
            bad_in_window=rates.bad_in_window,
            errors_in_window=0,
            window_s=rates.window_s,
            severe_in_window=rates.severe_in_window,
            unused=dict(summary.unused),
            sixteen_bit=dict(summary.sixteen_bit),
            sixteen_bit_in_window=rates.sixteen_bit_in_window,
        )
        self._counted = _counts(summary)
        silence_ns = stamp_ns - last_ns  # bag time since the last frame written (published at its stamp), as the node
        report = diagnostic_report(snapshot, scale, config_key_values(self.config), temporal, silence_ns)
        return diagnostics_message(factory, report, stamp_ns, self.name, frame_id)


def status_clock_ns(stamp_ns: int, log_ns: int, lead_ns: int = 0) -> int:
    """An image's time on the statuses' clock (int ns): its stamp, or, where it is stamped 0 (a driver that does not
    stamp), its bag time (``log_ns``, when it was recorded) plus ``lead_ns`` (int ns: the stamp minus the bag time of
    the image stamped last before it, of the first one stamped where none is before, 0 where none is: the recording
    delay, or sim time's offset from the wall time it was recorded on): the node's timer publishes every period
    whatever the stamps. A bag stamped 0 throughout had one status at its first frame (and the final one),
    none between; bag time alone for a few images stamped 0 among sim-time stamps (100 s, recorded at 1.7e9 s of wall
    time) stamped their statuses 1.7e9 s among 100 s ones and restarted the schedule at each next stamp."""
    return stamp_ns if stamp_ns != 0 else log_ns + lead_ns


def _counts(summary: BagSummary) -> tuple[int, int, int, int]:
    """What a status counts: frames written, images skipped, other inputs' messages not used, 16-bit frames scaled
    wrongly?"""
    return summary.frames_out, summary.skipped.total, sum(summary.unused.values()), summary.sixteen_bit.total()


def _faults(summary: BagSummary) -> tuple[int, int, int, int]:
    """Images skipped, of them for an invalid model output (ERROR), other inputs' messages unused, 16-bit frames
    scaled wrongly?"""
    skipped, severe = summary.skipped.total, summary.bad.get(INVALID_OUTPUT_KEY, 0)
    return skipped, severe, sum(summary.unused.values()), summary.sixteen_bit.total()
