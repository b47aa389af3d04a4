"""BagSummary: accounting, reasons with first messages, the printed report."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mono_depth_ros.bag.summary import STAGES, BagSummary, ReasonLog, Skip


def test_reason_log_counts_and_logs_the_first_message_once(caplog: pytest.LogCaptureFixture) -> None:
    log = ReasonLog()
    with caplog.at_level(logging.WARNING, logger="mono_depth_ros.bag"):
        log.add("no prediction", "first")
        log.add("no prediction", "second")
        log.add("image: EncodingError")
    assert log.counts == {"no prediction": 2, "image: EncodingError": 1}
    assert log.examples == {"no prediction": "first", "image: EncodingError": "image: EncodingError"}
    assert log.total == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["no prediction: first", "image: EncodingError: image: EncodingError"]


def test_summary_accounting_and_report() -> None:
    summary = BagSummary(Path("in"), Path("out"), frames_in=4, frames_out=3)
    assert not summary.accounted
    summary.skip(Skip("no camera_info", "no camera_info on /camera/camera_info ...", "no_camera_info"))
    summary.warnings.add("lidar: empty scan", "scan at 1 s has no points")
    summary.scale_health.update(["ok", "ok", "degraded"])
    summary.topic_counts = {"/depth/image": 3}
    summary.add_stage("model", 30.0)
    summary.add_stage("model", 30.0)
    summary.elapsed_s = 2.0
    summary.notes.append("reading /x/compressed instead")
    assert summary.accounted
    assert summary.fps == 2.0
    assert set(STAGES) <= set(summary.stage_ms)
    text = summary.format()
    assert "frames in 4, out 3, skipped 1 in 2.00 s (2.00 frames/s)" in text
    assert "skipped     1 x no camera_info: no camera_info on /camera/camera_info" in text
    assert "warning     1 x lidar: empty scan" in text
    assert "scale health: degraded 1, ok 2" in text
    assert "model 20.0" in text  # ms per output frame
    assert "note: reading /x/compressed instead" in text
    assert BagSummary(Path("a"), Path("b")).fps == 0.0


def test_scale_reasons_that_differ_only_in_figures_are_counted_as_one() -> None:
    summary = BagSummary(Path("in"), Path("out"))
    for age in ("0.60", "0.70", "0.80"):
        summary.add_scale_reason(f"no LiDAR scan; last LiDAR-scaled depth is {age} s old")
    summary.add_scale_reason("LiDAR: 12 valid LiDAR/prediction pairs, need 30 for a scale fit")
    summary.add_scale_reason("LiDAR: 0 valid LiDAR/prediction pairs, need 30 for a scale fit")
    summary.add_scale_reason("no LiDAR scan")
    assert summary.scale_reasons == {
        "no LiDAR scan; last LiDAR-scaled depth is 0.60 s old": 3,
        "LiDAR: 12 valid LiDAR/prediction pairs, need 30 for a scale fit": 2,
        "no LiDAR scan": 1,
    }
    summary.scale_health.update(["degraded"] * 6)
    text = summary.format()
    assert "    3 x no LiDAR scan; last LiDAR-scaled depth is 0.60 s old (2 of them with other figures)" in text
    assert "    1 x no LiDAR scan\n" in text


def test_an_interrupted_run_reports_the_rate_of_the_frames_it_processed() -> None:
    """5000 images, stopped by SIGINT after 1280 in 2 s: the rate was 640 frames/s, not 5000 / 2 (it said 2500: a
    user sizing a long run from a short, interrupted one was off by the share left unread)."""
    summary = BagSummary(Path("in"), Path("out"), frames_in=5000, frames_out=1270, elapsed_s=2.0, interrupted="SIGINT")
    summary.skip(Skip("no camera_info", "", "no_camera_info"), count=10)
    assert summary.not_processed == 3720
    assert summary.fps == 640.0
    assert "frames in 5000, out 1270, skipped 10 in 2.00 s (640.00 frames/s)" in summary.format()


def test_a_skip_is_counted_under_its_reason_and_under_the_nodes_key() -> None:
    """The summary keeps its short reasons; ``bad`` counts the same images under the node's ``bad_messages`` keys,
    which ``/diagnostics`` writes (two reasons of one class are one key, as in the node)."""
    summary = BagSummary(Path("in"), Path("out"))
    summary.skip(Skip("image: ShapeError", "step short", "ShapeError"))
    summary.skip(Skip("pipeline: ShapeError", "prediction of another size", "ShapeError"), count=2)
    summary.skip(Skip("no prediction", "none with the image stamp", "no_prediction"))
    assert summary.skipped.counts == {"image: ShapeError": 1, "pipeline: ShapeError": 2, "no prediction": 1}
    assert summary.bad == {"ShapeError": 3, "no_prediction": 1}
    assert summary.skipped.examples["pipeline: ShapeError"] == "prediction of another size"


def test_an_image_skipped_is_counted_under_a_node_key_whichever_way_it_is_added() -> None:
    """``summary.skipped.add(reason, text)`` counted an image skipped without the node's ``bad_messages`` key (a
    convention to call ``summary.skip`` instead): ``bad_messages`` in ``/diagnostics`` then summed to less than the
    images skipped. The skipped log now takes a :class:`Skip` only, counts its key with it, and hands out copies."""
    summary = BagSummary(Path("in"), Path("out"), frames_in=3)
    summary.skipped.add(Skip("no camera_info", "none at or before 1 s", "no_camera_info"))
    summary.skip(Skip("image: ShapeError", "step short", "ShapeError"), count=2)
    assert summary.skipped.counts == {"no camera_info": 1, "image: ShapeError": 2}
    assert summary.bad == {"no_camera_info": 1, "ShapeError": 2}
    assert sum(summary.bad.values()) == summary.skipped.total == 3
    with pytest.raises(TypeError, match="Skip"):
        summary.skipped.add("no prediction", "none with the image stamp")  # type: ignore[arg-type]
    summary.skipped.counts["no prediction"] += 1  # a copy: nothing counted past the key count
    summary.bad["no_prediction"] += 1
    assert summary.skipped.total == sum(summary.bad.values()) == 3 and summary.accounted
