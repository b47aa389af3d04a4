"""The report: labelled tables, JSON without NaN, empty "of which" lines dropped."""

from __future__ import annotations

import json
import math
from pathlib import Path

from mono_depth_ros.demo.evaluate import AccuracyRow
from mono_depth_ros.demo.outputs import ScaleSample
from mono_depth_ros.demo.report import DemoReport
from mono_depth_ros.evaluation.metrics import NAN_METRICS, DepthMetrics


def _report(tmp_path: Path, is_oracle: bool) -> DemoReport:
    metrics = DepthMetrics(0.05, 0.1, 1.2, 0.06, 0.02, 0.97, 0.99, 1.0, count=2)
    return DemoReport(
        scenario="synthetic",
        description="test",
        out_dir=tmp_path,
        input_bag=tmp_path / "input_bag",
        output_bag=tmp_path / "output_bag",
        source_label="oracle prediction, not a network" if is_oracle else "network: x.safetensors",
        is_oracle=is_oracle,
        truth_label="exact synthetic depth",
        frames_in=2,
        frames_out=2,
        accuracy=[AccuracyRow("pipeline", metrics, 0.95), AccuracyRow("baseline", NAN_METRICS, math.nan)],
        scale_track=[ScaleSample(1, 0.1, -0.01, "ok", "lidar", 50), ScaleSample(2, 0.11, -0.01, "ok", "lidar", 40)],
        true_scales=[0.1, 0.1],
        timings_s={"render": 1.0, "  of which model start-up": 0.0, "total": 2.0},
    )


def test_the_oracle_label_is_in_the_header_and_the_accuracy_table(tmp_path: Path) -> None:
    text = _report(tmp_path, True).format()
    lines = text.splitlines()
    assert lines[1] == "depth source: ORACLE PREDICTION, NOT A NETWORK"
    assert "accuracy vs exact synthetic depth" in text and "[ORACLE PREDICTION, NOT A NETWORK]" in text
    assert "0.050" in text and "95.0%" in text
    assert "mean error 5.0%, worst 10.0%" in text  # 0.11 vs 0.1
    assert "of which model start-up" not in text  # nothing to start
    assert "ORACLE" not in _report(tmp_path, False).format()


def test_saved_json_has_no_nan(tmp_path: Path) -> None:
    text_path, json_path = _report(tmp_path, True).save()
    loaded = json.loads(json_path.read_text())  # strict JSON: NaN became null
    assert loaded["accuracy"][1]["abs_rel"] is None and loaded["accuracy"][0]["abs_rel"] == 0.05
    assert "NaN" not in json_path.read_text() and text_path.read_text().startswith("mono-depth demo: test")


def test_an_output_bag_the_runner_did_not_keep_is_not_offered_to_play(tmp_path: Path) -> None:
    """A demo whose every frame was skipped: the bag runner keeps no output bag (it would hold no message), and the
    report offered ``ros2 bag play`` of a folder that is not there."""
    report = _report(tmp_path, False)
    assert f"output bag  none: nothing was written, so {tmp_path / 'output_bag'} was not kept" in report.format()
    assert "ros2 bag play" not in report.format()
    (tmp_path / "output_bag").mkdir()
    assert f"(play it: ros2 bag play {tmp_path / 'output_bag'})" in report.format()
