"""The demo's result: a typed record, and the accuracy + timing tables printed at the end (and saved)."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mono_depth_ros.demo.evaluate import AccuracyRow
from mono_depth_ros.demo.outputs import ScaleSample

REAL_WEIGHTS_HINT = (
    "to use real weights, fetch Depth Anything V2 once where there is internet (`mono-depth weights "
    "depth-anything-v2-small --out DIR`, or copy a Hugging Face model folder) and add "
    "--param model.backend=depth_anything_v2 --param model.weights=DIR; nothing is downloaded at run time"
)


@dataclass
class DemoReport:
    """What ``mono-depth demo`` did and measured.

    Attributes:
        scenario: ``synthetic`` or ``kitti``. description: one line about the data (frames, size, seed).
        out_dir, input_bag, output_bag: where everything was written.
        source_label: what predicted the depth (``"oracle prediction, not a network"`` or the network's weights).
        is_oracle: the depth came from the oracle, not from a network.
        truth_label: what the accuracy is measured against.
        frames_in, frames_out: images in the input bag / depth images the bag runner wrote.
        accuracy: the pipeline's row first, then baselines.
        scale_track: the scale the pipeline reported per frame; true_scales: the oracle's per sample (NaN unknown).
        timings_s: wall time per demo stage (seconds). stage_ms: the bag runner's time per stage (ms, all frames).
        pictures: picture name → PNG path.
        notes: remarks worth reading (fallbacks, skipped frames, how to use real weights).
    """

    scenario: str
    description: str
    out_dir: Path
    input_bag: Path
    output_bag: Path
    source_label: str
    is_oracle: bool
    truth_label: str
    frames_in: int = 0
    frames_out: int = 0
    accuracy: list[AccuracyRow] = field(default_factory=list)
    scale_track: list[ScaleSample] = field(default_factory=list)
    true_scales: list[float] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    stage_ms: dict[str, float] = field(default_factory=dict)
    pictures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pipeline_accuracy(self) -> AccuracyRow:
        """The pipeline's own row (the first)."""
        return self.accuracy[0]

    def format(self) -> str:
        """The printed report: header, accuracy table, scale summary, timing table, outputs, notes."""
        tag = "  [ORACLE PREDICTION, NOT A NETWORK]" if self.is_oracle else ""
        source = self.source_label.upper() if self.is_oracle else self.source_label
        lines = [f"mono-depth demo: {self.description}", f"depth source: {source}", ""]
        lines += [*self._accuracy_lines(tag), "", *self._scale_lines(), "", *self._timing_lines(), ""]
        lines.append(f"input bag   {self.input_bag}")
        if self.output_bag.exists():
            lines.append(f"output bag  {self.output_bag}   (play it: ros2 bag play {self.output_bag})")
        else:  # the bag runner keeps no output bag that would hold no message
            lines.append(f"output bag  none: nothing was written, so {self.output_bag} was not kept")
        if self.pictures:
            names = ", ".join(p.name for p in self.pictures.values())
            lines.append(f"pictures    {self.out_dir}/  {names}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def _accuracy_lines(self, tag: str) -> list[str]:
        frames = self.pipeline_accuracy.metrics.count if self.accuracy else 0
        lines = [f"accuracy vs {self.truth_label} (mean over {frames} frames){tag}"]
        lines.append(f"  {'depth':<46}{'AbsRel':>8}{'RMSE m':>9}{'δ<1.25':>9}{'coverage':>10}")
        for row in self.accuracy:
            m = row.metrics
            lines.append(f"  {row.name:<46}{m.abs_rel:>8.3f}{m.rmse:>9.2f}{m.a1:>9.3f}{row.coverage:>10.1%}")
        return lines

    def _scale_lines(self) -> list[str]:
        health = Counter(s.health for s in self.scale_track)
        text = ", ".join(f"{name} {count}" for name, count in sorted(health.items())) or "none reported"
        lines = [f"scale: {len(self.scale_track)} frames reported ({text})"]
        pairs = [(s.scale, t) for s, t in zip(self.scale_track, self.true_scales, strict=False) if math.isfinite(t)]
        if pairs:
            errors = [abs(s / t - 1.0) for s, t in pairs if math.isfinite(s)]
            if errors:
                worst, mean = max(errors), sum(errors) / len(errors)
                lines.append(f"  recovered vs the oracle's true scale: mean error {mean:.1%}, worst {worst:.1%}")
        return lines

    def _timing_lines(self) -> list[str]:
        frames = max(self.frames_out, 1)
        lines = [f"timing (wall clock; {self.frames_out} of {self.frames_in} frames written)"]
        lines.append(f"  {'stage':<34}{'total s':>9}{'ms/frame':>10}")
        for name, seconds in self.timings_s.items():
            if name.startswith(" ") and seconds < 0.005:
                continue  # an empty "of which" line (no model to start)
            lines.append(f"  {name:<34}{seconds:>9.2f}{seconds * 1000 / frames:>10.1f}")
        runner = ", ".join(f"{k} {v / frames:.1f}" for k, v in self.stage_ms.items() if v > 0)
        if runner:
            lines.append(f"  bag runner ms/frame by stage: {runner}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (paths as strings, metrics as dicts)."""
        return {
            "scenario": self.scenario,
            "description": self.description,
            "source": self.source_label,
            "is_oracle": self.is_oracle,
            "truth": self.truth_label,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "accuracy": [{"name": r.name, "coverage": r.coverage, **r.metrics.as_dict()} for r in self.accuracy],
            "scale": [
                {"stamp_ns": s.stamp_ns, "scale": s.scale, "shift": s.shift, "health": s.health, "true_scale": t}
                for s, t in zip(self.scale_track, self.true_scales, strict=False)
            ],
            "timings_s": self.timings_s,
            "runner_stage_ms": self.stage_ms,
            "input_bag": str(self.input_bag),
            "output_bag": str(self.output_bag),
            "pictures": {k: str(v) for k, v in self.pictures.items()},
            "notes": self.notes,
        }

    def save(self) -> tuple[Path, Path]:
        """Write ``report.txt`` (the printed text) and ``report.json`` into ``out_dir``; returns both paths."""
        text_path, json_path = self.out_dir / "report.txt", self.out_dir / "report.json"
        text_path.write_text(self.format())
        # NaN is not JSON: write null instead.
        json_path.write_text(json.dumps(_nan_to_none(self.as_dict()), indent=2, ensure_ascii=False) + "\n")
        return text_path, json_path


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
