"""What a bag run did: every input image is either written or skipped with a reason (out + skipped == in).

Reasons are short keys (``"camera_info: CalibrationError"``, ``"no prediction"``); each keeps a count and the first
full message, which names the value and a remedy. Warnings are problems that did not cost the frame (it was still
written, e.g. processed without LiDAR).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

_LOG = logging.getLogger("mono_depth_ros.bag")
STAGES = (
    "startup", "index", "decode", "preprocess", "model", "network", "scale", "postprocess", "cloud", "encode", "write"
)  # fmt: skip
"""Per-stage wall time keys (ms). ``startup`` loads the model (and warms it up), ``index`` is the first pass over the
bag, ``model`` = the depth source with its resizing, ``network`` = the network's own forward pass (part of ``model``),
``postprocess`` = range limits, edge filter and wire encoding of the depth."""


_FIGURE = re.compile(r"[-+]?\d+(?:\.\d+)?")

DAMAGED_INPUT = "input: damaged or truncated bag"
"""Skip reason of images that the input bag lists but its storage could not give back."""
DAMAGED_INPUT_KEY = "damaged_input"
"""Its ``bad_messages`` key (the bag runner's own: a live node receives no image its storage lost)."""


class Skip(NamedTuple):
    """Why an image was not written.

    Attributes:
        reason: the summary's short key (``"camera_info: CalibrationError"``, ``"no prediction"``).
        text: the full message, naming the value and a remedy.
        key: the node's ``bad_messages.<key>`` for the same fault (the DepthError class, ``no_camera_info``,
            ``no_prediction``, ``bad_cdr``), which the run's ``/diagnostics`` counts under.
    """

    reason: str
    text: str
    key: str


def pipeline_reason(error: type[BaseException]) -> str:
    """The skip reason of an image the pipeline refused with ``error`` (one spelling for summary and diagnostics)."""
    return f"pipeline: {error.__name__}"


@dataclass
class ReasonLog:
    """Counts per reason, with the first message of each (logged once, at WARNING)."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, message: str = "", count: int = 1) -> None:
        """Count ``count`` occurrences (one by default); the first message of a reason is kept and logged."""
        self.counts[reason] += count
        if reason not in self.examples:
            self.examples[reason] = message or reason
            _LOG.warning("%s: %s", reason, message or reason)

    @property
    def total(self) -> int:
        """Occurrences over all reasons."""
        return sum(self.counts.values())


class SkipLog:
    """Images not written, counted twice by one call (:meth:`add`): per summary reason (:attr:`counts`, with the
    first text of each, logged once as :class:`ReasonLog` does) and per the node's ``bad_messages`` key
    (:attr:`bad`), so that the two always sum alike. The counters handed out are copies."""

    def __init__(self) -> None:
        self._reasons = ReasonLog()
        self._bad: Counter[str] = Counter()

    def add(self, skip: Skip, count: int = 1) -> None:
        """Count ``count`` images not written for ``skip``: under its reason and under its node key.

        Raises:
            TypeError: ``skip`` is not a :class:`Skip` (a reason without the node's key).
        """
        if not isinstance(skip, Skip):
            msg = f"skipped.add takes a Skip (reason, text, the node's bad_messages key), got {skip!r}"
            raise TypeError(msg)
        self._reasons.add(skip.reason, skip.text, count)
        self._bad[skip.key] += count

    @property
    def counts(self) -> Counter[str]:
        """Images per summary reason (a copy)."""
        return Counter(self._reasons.counts)

    @property
    def examples(self) -> dict[str, str]:
        """The first text of each reason (a copy)."""
        return dict(self._reasons.examples)

    @property
    def bad(self) -> Counter[str]:
        """Images per the node's ``bad_messages`` key (a copy)."""
        return Counter(self._bad)

    @property
    def total(self) -> int:
        """Images not written, over all reasons."""
        return self._reasons.total


@dataclass
class BagSummary:
    """Result of :func:`~mono_depth_ros.bag.runner.run_bag`.

    Attributes:
        input_path, output_path: the bags.
        frames_in: images on the image topic. frames_out: images whose depth was written.
        skipped: why the other images were not written (``skipped.total == frames_in - frames_out``), per reason and
            per the node's ``bad_messages.<key>`` (:class:`SkipLog`).
        bad: the same images per key of the node's ``bad_messages.<key>`` (:class:`Skip`), for ``/diagnostics``.
        warnings: problems that did not cost a frame (LiDAR not used, TF messages malformed, ...).
        unused: the warnings that are a message of another input not used, per reason (:meth:`input_unused`).
        sixteen_bit: the warnings that are a 16-bit frame whose scaling looks wrong, per ``/diagnostics`` key
            (:meth:`sixteen_bit_frame`).
        scale_health: output frames per scale health (``ok``, ``fallback_*``, ...) as the pipeline reported it.
        topic_counts: messages written per output topic (copied inputs included).
        stage_ms: total wall time per stage (see :data:`STAGES`), in milliseconds.
        elapsed_s: wall time of the whole run, seconds.
        notes: one-off remarks about the run (auto-chosen topics, ...).
        input_damage: what the input's storage lost or salvaged (damaged chunks, a truncated file), one line each.
    """

    input_path: Path
    output_path: Path
    frames_in: int = 0
    frames_out: int = 0
    skipped: SkipLog = field(default_factory=SkipLog)
    warnings: ReasonLog = field(default_factory=ReasonLog)
    scale_health: Counter[str] = field(default_factory=Counter)
    topic_counts: dict[str, int] = field(default_factory=dict)
    stage_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    scale_reasons: Counter[str] = field(default_factory=Counter)  # why frames' scale was not ok (see add_scale_reason)
    scale_reasons_other_figures: Counter[str] = field(default_factory=Counter)  # of those, with other figures
    _scale_reason_first: dict[str, str] = field(default_factory=dict, repr=False)  # figures masked -> first text
    interrupted: str = ""  # the signal that stopped the run early (SIGINT / SIGTERM), empty when it ran to the end
    input_damage: list[str] = field(default_factory=list)
    unused: Counter[str] = field(default_factory=Counter)  # of the warnings: another input's message not used
    sixteen_bit: Counter[str] = field(default_factory=Counter)  # of the warnings: 16-bit frames scaled wrongly?

    @property
    def bad(self) -> Counter[str]:
        """The skipped images under the node's ``bad_messages`` keys (a copy; :attr:`SkipLog.bad`)."""
        return self.skipped.bad

    def skip(self, skip: Skip, count: int = 1) -> None:
        """Count ``count`` images not written for ``skip``: in :attr:`skipped` under its reason and under the node's
        ``bad_messages`` key (:attr:`bad`)."""
        self.skipped.add(skip, count)

    def input_unused(self, reason: str, message: str) -> None:
        """A warning (:attr:`warnings`) that a message of another input than the image was not used (an undecodable
        camera_info, an empty scan): also counted in :attr:`unused`, the node's ``inputs_unused`` in
        ``/diagnostics``; its image is written or skipped on its own."""
        self.warnings.add(reason, message)
        self.unused[reason] += 1

    def sixteen_bit_frame(self, key: str, message: str) -> None:
        """A warning (:attr:`warnings`, under ``key``) that a 16-bit frame's scaling to 8 bit looks wrong
        (:class:`~mono_depth_ros.adapters.input_bits.SixteenBitInput`; ``key``: one of its ``SIXTEEN_BIT_KEYS``):
        also counted in :attr:`sixteen_bit`, the node's key of that name in ``/diagnostics``; the frame goes on (no
        image outcome, not :attr:`unused`)."""
        self.warnings.add(key, message)
        self.sixteen_bit[key] += 1

    @property
    def accounted(self) -> bool:
        """True when every input image was written or skipped with a reason (or left unread by an interruption)."""
        return self.frames_out + self.skipped.total + self.not_processed == self.frames_in

    @property
    def not_processed(self) -> int:
        """Images an interruption left unread (0 for a complete run)."""
        return self.frames_in - self.frames_out - self.skipped.total if self.interrupted else 0

    @property
    def fps(self) -> float:
        """Input images processed (written or skipped) per second of wall time (0 before the run ends); an
        interruption's unread images are not counted."""
        return (self.frames_in - self.not_processed) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add_scale_reason(self, reason: str) -> None:
        """Count one frame whose scale was not ok because of ``reason``.

        Reasons that differ only in their figures ("last LiDAR-scaled depth is 0.60 s old", "... 0.70 s old", a fit's
        point count) are one reason, counted under the first text seen; ``scale_reasons_other_figures`` counts how
        many of them had other figures. Counted by their exact text, a LiDAR outage of a minute gave each frame its
        own line, and the report's three most common reasons said "1 x" for a cause that cost every frame.
        """
        first = self._scale_reason_first.setdefault(_FIGURE.sub("#", reason), reason)
        self.scale_reasons[first] += 1
        if first != reason:
            self.scale_reasons_other_figures[first] += 1

    def add_stage(self, stage: str, milliseconds: float) -> None:
        """Accumulate wall time for one stage."""
        self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + milliseconds

    def format(self) -> str:
        """A human-readable report (several lines, ends with a newline)."""
        lines = [
            f"bag {self.input_path} -> {self.output_path}",
            f"frames in {self.frames_in}, out {self.frames_out}, skipped {self.skipped.total} "
            f"in {self.elapsed_s:.2f} s ({self.fps:.2f} frames/s)",
        ]
        if self.interrupted:
            lines.append(
                f"  interrupted by {self.interrupted}: {self.not_processed} frame(s) not processed; the output bag is "
                f"complete up to there ({self.frames_out} frame(s))"
            )
        lines.extend(f"  input damaged: {line}" for line in self.input_damage)
        lines.extend(f"  note: {note}" for note in self.notes)
        for title, log in (("skipped", self.skipped), ("warning", self.warnings)):
            for reason, count in sorted(log.counts.items(), key=lambda item: (-item[1], item[0])):
                lines.append(f"  {title} {count:>5} x {reason}: {log.examples[reason]}")
        if self.scale_health:
            health = ", ".join(f"{name} {count}" for name, count in sorted(self.scale_health.items()))
            lines.append(f"  scale health: {health}")
            for reason, count in self.scale_reasons.most_common(3):
                other = self.scale_reasons_other_figures[reason]
                alike = f" ({other} of them with other figures)" if other else ""
                lines.append(f"    {count:>5} x {reason}{alike}")
        if self.topic_counts:
            topics = ", ".join(f"{topic} {count}" for topic, count in sorted(self.topic_counts.items()))
            lines.append(f"  written: {topics}")
        frames = max(self.frames_out, 1)
        stages = ", ".join(f"{name} {ms / frames:.1f}" for name, ms in self.stage_ms.items() if ms > 0)
        if stages:
            lines.append(f"  ms per output frame: {stages}")
        return "\n".join(lines) + "\n"
