"""The bag runner's /diagnostics: the node's builder on bag time, one status per period."""

from __future__ import annotations

from pathlib import Path

from mono_depth_ros.bag.diagnostics import BagDiagnostics
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import FrameOutput
from test.adapters.test_messages import FACTORY, _output, _round_trip


def test_bag_diagnostics_once_per_period_with_the_node_keys_and_levels() -> None:
    tracker = BagDiagnostics(period_ns=10, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    summary.frames_out = 1
    first = tracker.update(FACTORY, output, summary)
    assert first is not None
    (status,) = _round_trip(first, "diagnostic_msgs/msg/DiagnosticArray").status  # type: ignore[attr-defined]
    assert (status.level, status.name, status.hardware_id) == (0, "mono_depth_node: depth", output.frame_id)
    values = {kv.key: kv.value for kv in status.values}
    assert values["latency_p50_ms"] == "nan" and values["scale_health"] == "ok"
    assert values["frames_published"] == "1" and values["backend"] == "unet" and values["lidar_topic"] == "none"
    assert tracker.update(FACTORY, output, summary) is None  # same stamp: within the period
    summary.skipped.add("no prediction", "x")
    summary.frames_out = 2
    tracker.latencies_ms.extend([10.0, 20.0, 30.0])
    later = FrameOutput(**{**output.__dict__, "stamp_ns": output.stamp_ns + 10})
    warn = tracker.update(FACTORY, later, summary)
    assert warn is not None and warn.status[0].level == 1 and "1 bad message" in warn.status[0].message
    values = {kv.key: kv.value for kv in warn.status[0].values}
    assert values["latency_p50_ms"] == "20.0" and values["bad_messages.no prediction"] == "1"
    assert values["frames_received"] == "3"
