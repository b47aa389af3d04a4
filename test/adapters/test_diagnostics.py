"""The one /diagnostics builder: levels, messages, keys."""

from __future__ import annotations

from typing import Any

import pytest

from mono_depth_ros.adapters.diagnostics import LEVELS, diagnostic_report
from mono_depth_ros.adapters.stats import StatsSnapshot
from mono_depth_ros.pipeline import ScaleStatus, TemporalStatus

MS = 1_000_000


SCALE_OK = ScaleStatus(mode="lidar", health="ok", scale=1.25, inliers=120, inlier_ratio=0.8)


def snapshot(**changes: Any) -> StatsSnapshot:
    base: dict[str, Any] = {
        "received": 10, "published": 9, "dropped": 1, "bad": {}, "worker_errors": 0, "fps": 9.5,
        "latency_p50_ms": 50.0, "latency_p95_ms": 80.0, "published_in_window": 9, "bad_in_window": 0,
        "errors_in_window": 0, "window_s": 5.0,
    }  # fmt: skip
    return StatsSnapshot(**{**base, **changes})


def test_report_values_and_ok_level() -> None:
    unused = {"lidar.empty_scan": 1, "camera_info.bad_cdr": 2}
    report = diagnostic_report(snapshot(bad={"EncodingError": 2}, unused=unused), SCALE_OK, {"backend": "unet"})
    values = dict(report.values)
    assert report.level == "OK" and "9.5 fps" in report.message
    assert values["fps"] == "9.50" and values["latency_p95_ms"] == "80.0"
    assert values["frames_dropped_stale"] == "1" and values["bad_messages"] == "2"
    assert values["bad_messages.EncodingError"] == "2"  # images; scans, camera_infos apart (no image outcome):
    assert (values["inputs_unused"], values["inputs_unused.lidar.empty_scan"]) == ("3", "1")
    assert values["inputs_unused.camera_info.bad_cdr"] == "2"
    assert (values["scale"], values["scale_mode"], values["scale_health"]) == ("1.25", "lidar", "ok")
    assert (values["inliers"], values["inlier_ratio"], values["backend"]) == ("120", "0.800", "unet")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in report.values)


@pytest.mark.parametrize(
    ("changes", "scale", "level", "words"),
    [
        ({"errors_in_window": 1}, SCALE_OK, "ERROR", "worker error"),
        ({"published_in_window": 0}, None, "WARN", "no depth published"),
        ({"bad_in_window": 3}, SCALE_OK, "WARN", "bad message"),
        ({}, ScaleStatus(mode="ground_plane", health="degraded", scale=1.0), "WARN", "degraded"),
        ({}, ScaleStatus(mode="fixed", health="lost", scale=1.0), "ERROR", "scale lost"),
        (
            {},
            ScaleStatus(mode="last_good", health="degraded", scale=1.0, lidar_extrinsic="roll_180"),
            "WARN",
            "LiDAR -> camera transform looks wrong (roll_180",
        ),
    ],
)
def test_report_levels(changes: dict[str, Any], scale: Any, level: str, words: str) -> None:
    report = diagnostic_report(snapshot(**changes), scale)
    assert report.level == level and report.level in LEVELS
    assert words in report.message


def test_report_carries_the_fit_quality_and_the_age_of_the_scale() -> None:
    scale = ScaleStatus(mode="last_good", health="degraded", scale=2.0, shift=0.05, inliers=80, inlier_ratio=0.5,
                        residual=0.0423, age_ns=1_500_000_000, reason="no LiDAR scan")  # fmt: skip
    values = dict(diagnostic_report(snapshot(), scale).values)
    assert (values["shift"], values["residual"], values["age_s"]) == ("0.05", "0.0423", "1.500")
    assert values["scale_reason"] == "no LiDAR scan"


def test_the_age_of_the_scale_grows_with_the_silence_since_its_frame() -> None:
    scale = ScaleStatus(mode="lidar", health="ok", scale=2.0, age_ns=500_000_000)
    values = dict(diagnostic_report(snapshot(), scale, silence_ns=2_000_000_000).values)
    assert (values["age_s"], values["last_frame_age_s"]) == ("2.500", "2.000")
    values = dict(diagnostic_report(snapshot(), scale, silence_ns=-1_000_000_000).values)  # the clock went back
    assert (values["age_s"], values["last_frame_age_s"]) == ("0.500", "0.000")


def test_report_reads_enum_health_and_mode() -> None:
    from mono_depth_ros.core.scale import Health, ScaleMode

    scale = ScaleStatus(mode=ScaleMode.LAST_GOOD, health=Health.DEGRADED, scale=2.0)  # type: ignore[arg-type]
    values = dict(diagnostic_report(snapshot(), scale).values)
    assert (values["scale_mode"], values["scale_health"]) == ("last_good", "degraded")


def test_one_message_for_both_flavours_and_the_configuration_keys() -> None:
    from mono_depth_ros.adapters.diagnostics import config_key_values, diagnostics_message
    from mono_depth_ros.bag.reader import typestore_for
    from mono_depth_ros.core.msg_factory import MessageFactory
    from mono_depth_ros.depth_config import DepthConfig

    keys = config_key_values(DepthConfig.from_params({"lidar_topic": "/velodyne_points"}))
    assert keys == {"backend": "unet", "encoding": "32FC1", "sync_mode": "approximate",
                    "lidar_topic": "/velodyne_points", "scale_mode_requested": "lidar"}  # fmt: skip
    remapped = config_key_values(DepthConfig.from_params({"lidar_topic": "/points"}), lambda t: "/r1" + t)
    assert remapped["lidar_topic"] == "/r1/points"  # as the node subscribed it (-r /points:=/r1/points)
    report = diagnostic_report(snapshot(errors_in_window=1), SCALE_OK, keys)
    rosbags = MessageFactory.for_rosbags(typestore_for("humble"))
    from test import ros_standin
    from test.core.ros_msg_support import FAKE_RCLPY_CLASSES

    fakes = (ros_standin.DiagnosticArray, ros_standin.DiagnosticStatus, ros_standin.KeyValue)
    diagnostic_classes = {f"diagnostic_msgs/msg/{c.__name__}": c for c in fakes}
    rclpy = MessageFactory({**FAKE_RCLPY_CLASSES, **diagnostic_classes}, sequence_style="array.array")
    for factory, level in ((rosbags, 2), (rclpy, b"\x02")):  # ERROR: an int in rosbags, one byte in rclpy
        message = diagnostics_message(factory, report, 5, "mono_depth_node: depth", "camera_optical")
        (status,) = message.status
        assert (status.level, status.name, status.hardware_id, status.message) == (
            level, "mono_depth_node: depth", "camera_optical", report.message)  # fmt: skip
        assert [(kv.key, kv.value) for kv in status.values] == list(report.values)


def test_invalid_model_output_raises_the_level_to_error() -> None:
    report = diagnostic_report(snapshot(bad={"ModelOutputError": 2}, bad_in_window=2, severe_in_window=2), SCALE_OK)
    assert report.level == "ERROR" and "invalid model output" in report.message


def test_report_carries_the_temporal_filter_keys_only_when_it_runs() -> None:
    assert not any(key.startswith("temporal") for key, _ in diagnostic_report(snapshot(), SCALE_OK).values)
    status = TemporalStatus("no_motion", 0.0, filtered_frames=7, no_motion_frames=2)
    values = dict(diagnostic_report(snapshot(), SCALE_OK, {"backend": "unet"}, status).values)
    assert values["temporal_state"] == "no_motion"
    assert values["temporal_kept_share"] == "0.000"
    assert (values["temporal_filtered_frames"], values["temporal_no_motion_frames"]) == ("7", "2")
    assert values["backend"] == "unet"


def test_images_missing_is_a_key() -> None:
    assert dict(diagnostic_report(snapshot(images_missing=7), SCALE_OK).values)["images_missing"] == "7"
    assert dict(diagnostic_report(snapshot(), SCALE_OK).values)["images_missing"] == "0"


def test_unstamped_frames_are_a_key() -> None:
    assert dict(diagnostic_report(snapshot(frames_unstamped=4), SCALE_OK).values)["frames_unstamped"] == "4"
    assert dict(diagnostic_report(snapshot(), SCALE_OK).values)["frames_unstamped"] == "0"


def test_16_bit_frames_scaled_wrongly_have_keys_of_their_own_and_warn_while_counted() -> None:
    """``frames_high_bits_unused`` / ``frames_above_significant_bits``: in every status (0 while none is counted, as
    ``frames_unstamped``), apart from ``inputs_unused`` (the frames are published: they were counted there as
    ``inputs_unused.image.*``); WARN while the window counts one, naming the key counted, OK once the window has
    none (the parameter set: the totals stay)."""
    values = dict(diagnostic_report(snapshot(), SCALE_OK).values)
    assert (values["frames_high_bits_unused"], values["frames_above_significant_bits"]) == ("0", "0")
    counted = {"frames_high_bits_unused": 3}
    report = diagnostic_report(snapshot(sixteen_bit=counted, sixteen_bit_in_window=2), SCALE_OK)
    values = dict(report.values)
    assert (values["frames_high_bits_unused"], values["frames_above_significant_bits"]) == ("3", "0")
    assert values["inputs_unused"] == "0" and not [key for key in values if key.startswith("inputs_unused.")]
    assert report.level == "WARN", report
    assert report.message.startswith("2 16-bit frame(s) scaled wrongly? in the last 5 s; see frames_high_bits_unused ")
    assert "frames_above_significant_bits" not in report.message and "image_significant_bits" in report.message
    settled = diagnostic_report(snapshot(sixteen_bit=counted), SCALE_OK)
    assert settled.level == "OK" and dict(settled.values)["frames_high_bits_unused"] == "3"
    both = diagnostic_report(
        snapshot(sixteen_bit={**counted, "frames_above_significant_bits": 1}, sixteen_bit_in_window=1), SCALE_OK
    )
    assert "see frames_high_bits_unused, frames_above_significant_bits and" in both.message, both.message


def test_the_ok_message_without_a_latency_says_why() -> None:
    """Every frame in the window stamped 0: no latency to show, and the message says so instead of 'nan ms'."""
    report = diagnostic_report(snapshot(latency_p95_ms=float("nan"), frames_unstamped=9), SCALE_OK)
    assert report.level == "OK" and "nan" not in report.message and "frames_unstamped" in report.message


def test_a_wrong_lidar_transform_is_a_key_only_when_found() -> None:
    found = ScaleStatus(mode="last_good", health="degraded", scale=1.0, lidar_extrinsic="inverted")
    assert dict(diagnostic_report(snapshot(), found).values)["lidar_extrinsic"] == "inverted"
    assert "lidar_extrinsic" not in dict(diagnostic_report(snapshot(), SCALE_OK).values)


def test_every_key_a_status_can_carry_is_in_the_node_doc() -> None:
    """docs/ros2_node.md "Diagnostics" names every key (with every optional part of the report present)."""
    import re
    from pathlib import Path

    from mono_depth_ros.adapters.diagnostics import config_key_values
    from mono_depth_ros.depth_config import DepthConfig

    scale = ScaleStatus(
        mode="lidar", health="degraded", scale=1.0, reason="why", output_kind="metric", lidar_points_in_image=10,
        lidar_points_used=8, lidar_lag_ns=1, lidar_extrinsic="inverted",
    )  # fmt: skip
    temporal = TemporalStatus("filtered", 0.5, 3, 1)
    extra = config_key_values(DepthConfig.from_params())
    stats = snapshot(bad={"EncodingError": 1}, unused={"lidar.empty_scan": 1})
    report = diagnostic_report(stats, scale, extra, temporal)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ros2_node.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Diagnostics") :].split("\n## ", 1)[0]
    named = set(re.findall(r"`([^`]+)`", section))
    keys = {re.sub(r"^(bad_messages|inputs_unused)\..*", r"\1.<reason>", key) for key, _ in report.values}
    assert len(keys) > 30 and keys <= named, sorted(keys - named)
