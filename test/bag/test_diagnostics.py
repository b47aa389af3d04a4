"""The bag runner's /diagnostics: the node's builder on bag time, one status per period."""

from __future__ import annotations

from pathlib import Path

from mono_depth_ros.bag.diagnostics import BagDiagnostics
from mono_depth_ros.bag.summary import BagSummary, Skip, pipeline_reason
from mono_depth_ros.core.errors import ModelOutputError
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
    summary.skip(Skip("no prediction", "x", "no_prediction"))
    summary.frames_out = 2
    tracker.latencies_ms.extend([10.0, 20.0, 30.0])
    later = FrameOutput(**{**output.__dict__, "stamp_ns": output.stamp_ns + 10})
    warn = tracker.update(FACTORY, later, summary)
    assert warn is not None and warn.status[0].level == 1 and "1 bad message" in warn.status[0].message
    values = {kv.key: kv.value for kv in warn.status[0].values}
    assert values["latency_p50_ms"] == "20.0" and values["bad_messages.no_prediction"] == "1"  # the node's key
    assert values["frames_received"] == "3" and values["inputs_unused"] == "0"
    summary.input_unused("lidar.empty_scan", "scan at 1.0 s has no finite, non-zero points")  # its frame written
    summary.frames_out = 3
    third = FrameOutput(**{**output.__dict__, "stamp_ns": output.stamp_ns + 20})
    unused = tracker.update(FACTORY, third, summary)
    assert unused is not None and unused.status[0].level == 1 and "2 bad message" in unused.status[0].message  # the
    # skipped image and the scan in the node's 5 s window (was 1: the scan, the one since the last status)
    values = {kv.key: kv.value for kv in unused.status[0].values}
    assert (values["inputs_unused"], values["inputs_unused.lidar.empty_scan"]) == ("1", "1")
    assert (values["frames_received"], values["bad_messages"]) == ("4", "1")  # a scan is no image
    assert summary.warnings.counts["lidar.empty_scan"] == 1  # still a warning of the summary


def test_bag_diagnostics_follow_a_clock_that_jumps_back() -> None:
    """A bag whose stamps restart (two recordings merged, sim time reset): statuses go on at once, and the rate
    counts only the frames of the last period, not those stamped ahead of the jump."""
    period_ns, step_ns = 1_000_000_000, 100_000_000
    tracker = BagDiagnostics(period_ns=period_ns, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)

    def statuses(start_ns: int, n: int) -> list[dict[str, str]]:
        found = []
        for i in range(n):
            summary.frames_out += 1
            frame = FrameOutput(**{**output.__dict__, "stamp_ns": start_ns + i * step_ns})
            message = tracker.update(FACTORY, frame, summary)
            if message is not None:
                found.append({kv.key: kv.value for kv in message.status[0].values})
        return found

    assert len(statuses(100 * period_ns, 25)) == 3  # 100.0 s, 101.0 s, 102.0 s
    after = statuses(10 * period_ns, 25)  # the clock is back at 10 s
    assert len(after) == 3, after
    assert [float(values["fps"]) for values in after[1:]] == [10.0, 10.0]


def test_bag_latency_is_processing_time_for_frames_stamped_0() -> None:
    """Offline, latency is the pipeline's time per frame: a stamp 0 (driver that does not stamp) changes nothing."""
    tracker = BagDiagnostics(period_ns=10, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    summary.frames_out = 1
    tracker.latencies_ms.append(25.0)
    message = tracker.update(FACTORY, FrameOutput(**{**_output(cloud=False).__dict__, "stamp_ns": 0}), summary)
    assert message is not None
    values = {kv.key: kv.value for kv in message.status[0].values}
    assert (values["latency_p95_ms"], values["frames_unstamped"]) == ("25.0", "0")


def test_bag_diagnostics_final_counts_the_frames_after_the_last_status_and_only_then() -> None:
    """The last, unfinished period: frames written or skipped after the last status are in a final one, at the
    stamp given (the last image's); none when nothing came after it, or when no frame was written."""
    tracker = BagDiagnostics(period_ns=1_000, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    assert tracker.final(FACTORY, summary, 5) is None  # nothing written: no status to give
    output = _output(cloud=False)
    summary.frames_out = 1
    assert tracker.update(FACTORY, output, summary) is not None
    assert tracker.final(FACTORY, summary, output.stamp_ns) is None  # the last status counted everything
    summary.frames_out = 2
    second = FrameOutput(**{**output.__dict__, "stamp_ns": output.stamp_ns + 100})
    assert tracker.update(FACTORY, second, summary) is None  # within the period
    summary.skip(Skip("no prediction", "x", "no_prediction"))  # a third image, skipped
    final = tracker.final(FACTORY, summary, output.stamp_ns + 200)
    assert final is not None and final.status[0].level == 1  # the skipped image is in its window
    values = {kv.key: kv.value for kv in final.status[0].values}
    assert (values["frames_received"], values["frames_published"], values["bad_messages"]) == ("3", "2", "1")
    assert (final.header.stamp.sec * 10**9 + final.header.stamp.nanosec) == output.stamp_ns + 200
    assert values["fps"] == "10000000.00"  # the node's first window: over the frames' span (one gap, 100 ns)
    assert tracker.final(FACTORY, summary, output.stamp_ns + 200) is None  # once


def test_an_invalid_model_output_makes_the_bag_status_error_under_the_nodes_key() -> None:
    """An image skipped for a model output of NaN (``pipeline: ModelOutputError`` in the summary) is
    ``bad_messages.ModelOutputError`` and makes the status ERROR, as in the node."""
    tracker = BagDiagnostics(period_ns=10, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    summary.frames_out = 1
    assert tracker.update(FACTORY, output, summary) is not None
    summary.skip(Skip(pipeline_reason(ModelOutputError), "model output is all NaN", "ModelOutputError"))
    summary.frames_out = 2
    status = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": output.stamp_ns + 10}), summary)
    assert status is not None and status.status[0].level == 2
    values = {kv.key: kv.value for kv in status.status[0].values}
    assert (values["bad_messages"], values["bad_messages.ModelOutputError"]) == ("1", "1")


def test_16_bit_frames_scaled_wrongly_are_their_own_keys_in_the_bag_status_and_warn_in_the_nodes_window() -> None:
    """``BagSummary.sixteen_bit_frame`` (adapters.input_bits' report in the bag runner): the summary's warning under
    the node's key and the key's count in /diagnostics, apart from ``inputs_unused`` (it was
    ``inputs_unused.image.high_bits_unused``); WARN in the statuses whose window (the node's, 5 s) counted one, OK
    after it (the totals stay; it was OK at the next status, as a one-period window said, where the node says WARN for
    5 s); a frame counted after the last status calls for a final one."""
    tracker = BagDiagnostics(period_ns=10, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)

    def status(frames_out: int, text: str = "", later_ns: int = 0) -> tuple[int, str, dict[str, str]]:
        if text:
            summary.sixteen_bit_frame("frames_high_bits_unused", text)
        summary.frames_out = frames_out
        frame = FrameOutput(**{**output.__dict__, "stamp_ns": output.stamp_ns + 10 * frames_out + later_ns})
        message = tracker.update(FACTORY, frame, summary)
        assert message is not None
        (found,) = message.status
        return found.level, found.message, {kv.key: kv.value for kv in found.values}

    level, _, values = status(1)
    assert (level, values["frames_high_bits_unused"], values["frames_above_significant_bits"]) == (0, "0", "0")
    level, message, values = status(2, "mono16 images peak at 4095 over their first 30 frames")
    assert level == 1 and message.startswith("1 16-bit frame(s) scaled wrongly?"), message
    assert "see frames_high_bits_unused and the log for the image_significant_bits to set" in message, message
    assert (values["frames_high_bits_unused"], values["inputs_unused"]) == ("1", "0"), values
    assert not [key for key in values if key.startswith("inputs_unused.")], values
    assert summary.warnings.counts["frames_high_bits_unused"] == 1 and not summary.unused
    level, _, values = status(3)
    assert (level, values["frames_high_bits_unused"]) == (1, "1")  # none in this period, one in the node's window
    level, _, values = status(4, later_ns=5_000_000_000)
    assert (level, values["frames_high_bits_unused"]) == (0, "1")  # none in the node's 5 s: OK, the total kept
    summary.sixteen_bit_frame("frames_above_significant_bits", "mono16 pixel value 65520 exceeds 4095")
    final = tracker.final(FACTORY, summary, output.stamp_ns + 5_000_000_045)
    assert final is not None and final.status[0].level == 1, final
    assert "see frames_high_bits_unused, frames_above_significant_bits and" in final.status[0].message


def test_statuses_due_while_the_camera_is_silent_go_at_their_due_times_with_the_ages_grown() -> None:
    """A 3 s dropout in a 10 Hz camera (period 1 s): the node's timer publishes at 1, 2 and 3 s with the last frame's
    ages grown by the silence (0.6, 1.6, 2.6 s); the bag runner wrote nothing until the next frame, whose status said
    age 0. Frames closer than a period go as before: their statuses at the first frame at or after the due time."""
    second = 1_000_000_000
    tracker = BagDiagnostics(period_ns=second, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    found: list[tuple[int, dict[str, str]]] = []

    def frame(stamp_ns: int) -> None:
        for due_ns, message in tracker.silent(FACTORY, summary, stamp_ns):
            found.append((due_ns, {kv.key: kv.value for kv in message.status[0].values}))
        summary.frames_out += 1
        message = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
        if message is not None:
            found.append((stamp_ns, {kv.key: kv.value for kv in message.status[0].values}))

    start = output.stamp_ns
    for tenth in [*range(5), *range(35, 40)]:  # 0.0-0.4 s, then nothing until 3.5 s
        frame(start + tenth * second // 10)
    shown = [
        ((stamp - start) / second, values["last_frame_age_s"], values["frames_published"]) for stamp, values in found
    ]
    assert shown == [(0.0, "0.000", "1"), (1.0, "0.600", "5"), (2.0, "1.600", "5"), (3.0, "2.600", "5")], shown
    assert [values["age_s"] for _, values in found[1:]] == ["0.600", "1.600", "2.600"]  # the scale's, as aged
    final = tracker.final(FACTORY, summary, start + 39 * second // 10)  # the frames after the dropout
    assert final is not None
    values = {kv.key: kv.value for kv in final.status[0].values}
    assert (values["last_frame_age_s"], values["frames_published"]) == ("0.000", "10")
    assert list(tracker.silent(FACTORY, summary, start + 3700 * second)) == []  # over an hour: another recording


def test_frames_at_the_cameras_rate_faster_than_the_period_give_one_status_each_and_no_silent_ones() -> None:
    """``diagnostics.period_s`` 0.1 s on a 10 Hz camera whose stamps jitter by up to 5 ms (gaps of 95-105 ms): a
    gap a little over a period is the camera's usual one, no dropout: no status between frames (``silent``), one at
    the frame at or after each due time, the due times a period apart as the node's timer's (it publishes 6 in these
    0.5 s): due times a period after each status's frame drifted with the jitter, and the frames 5 ms before theirs
    (0.2, 0.4 s) had none, 4 statuses. (At 0.05 s the camera is slower than the period: the node's timer publishes
    between its frames, and so does the bag runner: the last test of this module.)"""
    tracker = BagDiagnostics(period_ns=100_000_000, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    written = []
    for index, jitter_ms in enumerate([0, 5, 0, 5, 0, 5]):
        stamp_ns = output.stamp_ns + index * 100_000_000 + jitter_ms * 1_000_000
        assert list(tracker.silent(FACTORY, summary, stamp_ns)) == []
        summary.frames_out += 1
        message = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
        written.append(message is not None)
    assert written == [True] * 6
    assert len(list(tracker.silent(FACTORY, summary, output.stamp_ns + 900_000_000))) == 3  # 0.6-0.8 s


def test_a_camera_faster_than_the_period_gets_a_status_each_period_as_the_nodes_timer() -> None:
    """A 30 Hz camera (frames every 33.3 ms) with ``diagnostics.period_s`` 0.05 s for 3 s: the node's timer
    publishes at 0, 0.05, ..., 3 s (61); the bag runner writes one at the first frame at or after each due time, the
    due times kept in the timer's step. With each due time a period after the last status's frame it wrote one every
    66.7 ms (46), three quarters of the node's."""
    tracker = BagDiagnostics(period_ns=50_000_000, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    written = []
    for index in range(91):
        stamp_ns = output.stamp_ns + index * 100_000_000 // 3
        assert list(tracker.silent(FACTORY, summary, stamp_ns)) == []
        summary.frames_out += 1
        if tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary) is not None:
            written.append(stamp_ns - output.stamp_ns)
    assert len(written) == 61, [ns / 1e6 for ns in written]
    due_ns = [50_000_000 * k for k in range(61)]
    assert all(0 <= at - due < 100_000_000 // 3 for at, due in zip(written, due_ns, strict=True)), written


def test_statuses_within_a_dropout_warn_as_the_node_does_after_its_window_not_after_one_period() -> None:
    """A 7 s dropout of a 10 Hz camera (period 1 s): the node's window is 5 s (``diagnostics_window_s``), so its
    statuses at 1-5 s say OK (the frames at 0.0-0.4 s in it) and WARN 'no depth published in the last 5 s' at 6 and
    7 s. The bag runner's said WARN 'in the last 1 s' from 2 s on (its one-period window), where the node said OK."""
    second = 1_000_000_000
    tracker = BagDiagnostics(period_ns=second, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    start, found = output.stamp_ns, []
    for tenth in [*range(5), 75]:  # 0.0-0.4 s, then nothing until 7.5 s
        stamp_ns = start + tenth * second // 10
        found += [(due_ns, message.status[0]) for due_ns, message in tracker.silent(FACTORY, summary, stamp_ns)]
        summary.frames_out += 1
        tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
    said = [((due_ns - start) // second, status.level, status.message.split(" (")[0]) for due_ns, status in found]
    ok = [(at_s, 0) for at_s in range(1, 6)]
    assert [(at_s, level) for at_s, level, _ in said[:5]] == ok, said
    assert said[5:] == [(at_s, 1, "no depth published in the last 5 s") for at_s in (6, 7)], said


def test_the_statuses_of_a_long_dropout_are_made_one_at_a_time_as_they_are_written() -> None:
    """A dropout of 59 min at ``diagnostics.period_s`` 0.05 s is 70,800 statuses (as many as the node publishes); the
    list ``silent`` returned held them all at once before the first was written (330 MB). Each is made as it is taken:
    the first at hand, one built."""
    tracker = BagDiagnostics(period_ns=50_000_000, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    for index in range(3):
        stamp_ns = output.stamp_ns + index * 50_000_000  # (a 20 Hz camera: a status at each frame)
        assert list(tracker.silent(FACTORY, summary, stamp_ns)) == []
        summary.frames_out += 1
        tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
    built = []
    status = tracker._status
    tracker._status = lambda *args, **kwargs: built.append(args[2]) or status(*args, **kwargs)  # type: ignore[method-assign]
    due_ns, _ = next(iter(tracker.silent(FACTORY, summary, stamp_ns + 59 * 60 * 10**9)))
    assert (due_ns - stamp_ns, len(built)) == (50_000_000, 1), built[:3]


def test_a_camera_slower_than_the_period_gets_a_status_every_period_as_the_nodes_timer_publishes() -> None:
    """A 0.5 Hz camera (frames at 0, 2, 4, 6 s) with ``diagnostics.period_s`` 1 s: the node's timer publishes at 0, 1,
    ..., 6 s, those between frames with the last frame's ages grown by 1 s; the bag runner wrote a status at each
    frame only (0, 2, 4, 6 s: half the node's), the camera's usual interval being no dropout."""
    second = 1_000_000_000
    tracker = BagDiagnostics(period_ns=second, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    start, found = output.stamp_ns, []
    for at_s in range(0, 7, 2):
        stamp_ns = start + at_s * second
        found += [(due_ns, message.status[0]) for due_ns, message in tracker.silent(FACTORY, summary, stamp_ns)]
        summary.frames_out += 1
        message = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
        if message is not None:
            found.append((stamp_ns, message.status[0]))
    shown = []
    for stamp_ns, status in found:
        values = {kv.key: kv.value for kv in status.values}
        shown.append(((stamp_ns - start) // second, values["last_frame_age_s"], values["frames_published"]))
    ages = ["0.000", "1.000"] * 3 + ["0.000"]
    assert shown == [(at_s, ages[at_s], str(at_s // 2 + 1)) for at_s in range(7)], shown
    assert {status.level for _, status in found} == {0}, found  # OK: a frame within the node's 5 s window


def test_the_demos_per_frame_statuses_give_one_status_each_frame_of_a_camera_slower_than_the_period() -> None:
    """``per_frame`` (the demo's, its scale plot reads one status per frame): ``diagnostics.period_s`` 0.05 s on a 10
    Hz camera gives one status at each frame and none between them; a dropout's still go at their due times."""
    tracker = BagDiagnostics(period_ns=50_000_000, config=DepthConfig.from_params(), per_frame=True)
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    written = []
    for index in range(6):
        stamp_ns = output.stamp_ns + index * 100_000_000
        assert list(tracker.silent(FACTORY, summary, stamp_ns)) == []
        summary.frames_out += 1
        written.append(tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary))
    assert all(message is not None for message in written)
    assert len(list(tracker.silent(FACTORY, summary, output.stamp_ns + 800_000_000))) == 5  # 0.3 s: 0.55-0.75 s


def test_every_status_says_the_fps_the_nodes_stats_say_for_the_same_frames() -> None:
    """A 10 Hz camera with +/-30 ms jitter for 8 s (``period_s`` 1 s), a 3 s dropout in it: at every status (at a
    frame, within the dropout, the final one) fps and the window are what the node's ``RuntimeStats`` (its 5 s window,
    started at the first image) says at that time for frames published at their stamps. The bag runner's at a frame
    were over one period (1.00, 10.00, 10.00 fps at 6, 7, 8 s, after the dropout, where the node said 4.20, 4.20,
    4.00; 1.00 at the first frame, the node 0.00), within the dropout over 5 s before the node's first window ended
    (6.00 at 3 and 4 s, the node 10.00 and 7.44)."""
    from mono_depth_ros.adapters.stats import RuntimeStats

    second, tenth = 1_000_000_000, 100_000_000
    tracker = BagDiagnostics(period_ns=second, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    start = output.stamp_ns
    jitter = [0, 30, -30, 10, -20, 25, -25, 0, 15, -10]  # ms, cycled
    stamps = [start + i * tenth + jitter[i % 10] * 1_000_000 for i in range(80) if not 30 <= i < 60]
    now = [start]
    node = RuntimeStats(5.0, clock_ns=lambda: now[0])
    said, told = [], []

    def compare(stamp_ns: int, message: object) -> None:
        now[0] = stamp_ns
        expected = node.snapshot()
        values = {kv.key: kv.value for kv in message.status[0].values}  # type: ignore[attr-defined]
        said.append(((stamp_ns - start) / second, values["fps"]))
        told.append(((stamp_ns - start) / second, f"{expected.fps:.2f}"))

    for stamp_ns in stamps:
        for due_ns, message in tracker.silent(FACTORY, summary, stamp_ns):
            compare(due_ns, message)
        summary.frames_out += 1
        now[0] = stamp_ns
        node.frame_published(0)
        message = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
        if message is not None:
            compare(stamp_ns, message)
    summary.skip(Skip("no prediction", "x", "no_prediction"))  # one more image: a final status
    final = tracker.final(FACTORY, summary, stamps[-1] + tenth)
    assert final is not None
    compare(stamps[-1] + tenth, final)
    assert len(said) == 9 and said == told, (said, told)


def test_a_fault_warns_in_every_status_of_the_nodes_window_after_it_as_the_node_does() -> None:
    """A 10 Hz camera for 9 s (``period_s`` 1 s), the image at 0.55 s skipped (``no_prediction``), the one at 2.35 s
    with its model output NaN (``ModelOutputError``): every status says the level, message (but its latency) and fps
    the node's ``RuntimeStats`` (5 s window) gives for the same images at their stamps: WARN at 1 and 2 s, ERROR at
    3-7 s, OK at 0, 8 and 9 s. The bag runner's counts were since its last status: WARN at 1 s, ERROR at 3 s, OK at
    2 and 4-7 s."""
    import re

    from mono_depth_ros.adapters.diagnostics import diagnostic_report
    from mono_depth_ros.adapters.stats import RuntimeStats

    second, step = 1_000_000_000, 50_000_000
    tracker = BagDiagnostics(period_ns=second, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    start = output.stamp_ns
    now = [start]
    node = RuntimeStats(5.0, clock_ns=lambda: now[0])
    severe = ModelOutputError.__name__
    faults = {
        11: Skip("no prediction", "x", "no_prediction"),
        47: Skip(pipeline_reason(ModelOutputError), "NaN", severe),
    }
    said, told = [], []

    def compare(stamp_ns: int, message: object) -> None:
        now[0] = stamp_ns
        (status,) = message.status  # type: ignore[attr-defined]
        expected = diagnostic_report(node.snapshot(), output.scale, {}, output.temporal, 0)
        at_s = (stamp_ns - start) / second
        said.append((at_s, status.level, re.sub(r"p95 latency [^,]*, ", "", status.message)))
        level = ("OK", "WARN", "ERROR").index(expected.level)
        told.append((at_s, level, re.sub(r"p95 latency [^,]*, ", "", expected.message)))

    for index in range(0, 181, 2):  # 10 Hz, with the faulty images between (0.55 s, 2.35 s)
        for at in ([index - 1] if index - 1 in faults else []) + [index]:
            stamp_ns = start + at * step
            for due_ns, message in tracker.silent(FACTORY, summary, stamp_ns):
                compare(due_ns, message)
            now[0] = stamp_ns
            if at in faults:
                summary.skip(faults[at])
                node.frame_received()
                node.bad_message(faults[at].key, severe=faults[at].key == severe)
                continue
            summary.frames_out += 1
            node.frame_received()
            node.frame_published(0)
            message = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
            if message is not None:
                compare(stamp_ns, message)
    assert [level for _, level, _ in told] == [0, 1, 1, 2, 2, 2, 2, 2, 0, 0], told
    assert said == told, (said, told)


def test_a_drivers_stamp_0_among_real_stamps_leaves_the_nodes_fps_as_it_is_and_raises_nothing() -> None:
    """A 10 Hz camera stamping 2023 times (``period_s`` 1 s) for 30 s whose driver stamps 0 on every 50th frame, and
    one image (skipped) stamped 2 h ahead: every status's fps is the node's for frames published at their arrival, a
    usual gap apart. The played clock was shifted on by each leap back to the real stamps (1.7e18 ns): OverflowError
    in ``RuntimeStats.snapshot`` at the fifth stamp 0 (``run_bag`` raised on such a bag); the image 2 h ahead moved it
    2 h on, every frame after it published at that one time."""
    from mono_depth_ros.adapters.stats import RuntimeStats

    tenth = 100_000_000
    tracker = BagDiagnostics(period_ns=10 * tenth, config=DepthConfig.from_params())
    summary = BagSummary(Path("in"), Path("out"))
    output = _output(cloud=False)
    start = 1_700_000_000 * 10**9
    arrived = [start]
    node = RuntimeStats(5.0, clock_ns=lambda: arrived[0])
    said, told = [], []
    for index in range(300):
        arrived[0] = start + index * tenth
        if index == 140:  # skipped, stamped by another clock
            list(tracker.silent(FACTORY, summary, arrived[0] + 7200 * 10**9))
            summary.skip(Skip("no prediction", "x", "no_prediction"))
            node.bad_message("no_prediction")
            continue
        stamp_ns = 0 if index % 50 == 25 else arrived[0]
        assert not list(tracker.silent(FACTORY, summary, stamp_ns))  # (no dropout: a frame every 0.1 s)
        summary.frames_out += 1
        node.frame_published(0)
        message = tracker.update(FACTORY, FrameOutput(**{**output.__dict__, "stamp_ns": stamp_ns}), summary)
        if message is not None:
            said.append((index, {kv.key: kv.value for kv in message.status[0].values}["fps"]))
            told.append((index, f"{node.snapshot().fps:.2f}"))
    assert len(said) > 30 and said == told, (said, told)
