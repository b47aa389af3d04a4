"""``/diagnostics`` of the bag runner: the node's builder (:mod:`mono_depth_ros.adapters.diagnostics`) on bag time.

The same keys, levels and message as the live node. Differences that come from running offline: time is the image
stamps (bag time), ``latency_*_ms`` is the pipeline's processing time per frame (there is no capture → publish
delay, so stamps 0 cost nothing: ``frames_unstamped`` stays 0), ``frames_dropped_stale`` and ``worker_errors``
stay 0 (every image is processed in order), and
``bad_messages.<reason>`` counts the images skipped under the node's key for the same fault (``BagSummary.bad``: the
DepthError class, ``no_camera_info``, ``no_prediction``, ``bad_cdr``; ``damaged_input`` for images the input's
storage lost, which a live node never receives), ``inputs_unused.<reason>``
its warnings of another input's message not used (``BagSummary.unused``: an undecodable camera_info, a scan empty,
undecodable or not placed by TF), so that ``frames_received = frames_published + bad_messages`` as in the node;
``frames_high_bits_unused`` / ``frames_above_significant_bits`` its warnings of a 16-bit frame scaled wrongly
(``BagSummary.sixteen_bit``), WARN in a status whose period counted one, as the node's window does.
A status goes every ``diagnostics.period_s`` of bag time and, after the last image (a whole run or a stop), once
more where frames came after the last one: the output bag's last status counts every image processed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mono_depth_ros.adapters.diagnostics import config_key_values, diagnostic_report, diagnostics_message
from mono_depth_ros.adapters.stats import StatsSnapshot
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.config import NODE_NAME
from mono_depth_ros.core.errors import ModelOutputError
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import FrameOutput

INVALID_OUTPUT_KEY = ModelOutputError.__name__
LATENCY_WINDOW = 100  # frames behind the latency percentiles


@dataclass
class BagDiagnostics:
    """When to write ``/diagnostics`` (every ``period_ns`` of image stamps, and :meth:`final` at the end) and what
    it says.

    Attributes:
        period_ns: ``diagnostics.period_s`` in int ns.
        config: the run's configuration (its keys go into every status).
        name: the status name, the node's as it names its own (``front/mono_depth_node: depth``).
        latencies_ms: pipeline time of the last :data:`LATENCY_WINDOW` written frames (their p50 / p95).
    """

    period_ns: int
    config: DepthConfig
    name: str = f"{NODE_NAME}: depth"
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    _published: list[int] = field(default_factory=list)  # stamps of written frames within the last period
    _next_ns: int | None = None
    _skipped_before: int = 0
    _unused_before: int = 0
    _sixteen_bit_before: int = 0
    _invalid_output_before: int = 0
    _last: tuple[Any, Any, str] | None = None  # the last written frame's scale, temporal status and frame_id
    _counted: tuple[int, int, int, int] | None = None  # :func:`_counts` at the last status

    def update(self, factory: MessageFactory, output: FrameOutput, summary: BagSummary) -> Any:
        """A DiagnosticArray when a period has passed since the last one, else None."""
        self._published.append(output.stamp_ns)
        self._last = (output.scale, output.temporal, output.frame_id)
        jumped_back = self._next_ns is not None and output.stamp_ns < self._next_ns - 2 * self.period_ns
        if self._next_ns is not None and output.stamp_ns < self._next_ns and not jumped_back:
            return None  # (a clock that jumps back by more than a period restarts the schedule)
        self._next_ns = output.stamp_ns + self.period_ns
        return self._status(factory, summary, output.stamp_ns, drop_later=jumped_back)

    def final(self, factory: MessageFactory, summary: BagSummary, stamp_ns: int) -> Any:
        """The run's last DiagnosticArray, at ``stamp_ns`` (int ns: the last image's stamp), when a frame was
        processed after the last status (else None, as when nothing was written): without it the output bag's last
        status left out the frames of the last, unfinished period."""
        if self._last is None or self._counted == _counts(summary):
            return None
        return self._status(factory, summary, stamp_ns, drop_later=True)  # (an image stamped before the last output)

    def _status(self, factory: MessageFactory, summary: BagSummary, stamp_ns: int, *, drop_later: bool) -> Any:
        assert self._last is not None  # a frame was written
        scale, temporal, frame_id = self._last
        latencies = np.asarray(self.latencies_ms, dtype=np.float64)
        latencies = latencies[np.isfinite(latencies)]
        p50, p95 = np.percentile(latencies, [50, 95]).tolist() if latencies.size else [float("nan")] * 2
        window_ns = max(self.period_ns, 1)
        recent = [stamp for stamp in self._published if stamp > stamp_ns - window_ns]
        if drop_later:  # the clock jumped back (or the last image is stamped before the last output): the frames
            # stamped after this status are not in its window
            recent = [stamp for stamp in recent if stamp <= stamp_ns]
        self._published = recent
        skipped, unused, sixteen_bit = summary.skipped.total, sum(summary.unused.values()), summary.sixteen_bit.total()
        invalid_output = summary.bad.get(INVALID_OUTPUT_KEY, 0)
        snapshot = StatsSnapshot(
            received=summary.frames_out + skipped,
            published=summary.frames_out,
            dropped=0,
            bad=dict(summary.bad),
            worker_errors=0,
            fps=len(recent) * 1e9 / window_ns,
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            published_in_window=len(recent),
            bad_in_window=skipped - self._skipped_before + unused - self._unused_before,
            errors_in_window=0,
            window_s=window_ns / 1e9,
            severe_in_window=invalid_output - self._invalid_output_before,
            unused=dict(summary.unused),
            sixteen_bit=dict(summary.sixteen_bit),
            sixteen_bit_in_window=sixteen_bit - self._sixteen_bit_before,
        )
        self._skipped_before, self._invalid_output_before, self._unused_before = skipped, invalid_output, unused
        self._sixteen_bit_before = sixteen_bit
        self._counted = _counts(summary)
        report = diagnostic_report(snapshot, scale, config_key_values(self.config), temporal)
        return diagnostics_message(factory, report, stamp_ns, self.name, frame_id)


def _counts(summary: BagSummary) -> tuple[int, int, int, int]:
    """What a status counts: frames written, images skipped, other inputs' messages not used, 16-bit frames scaled
    wrongly?"""
    return summary.frames_out, summary.skipped.total, sum(summary.unused.values()), summary.sixteen_bit.total()
