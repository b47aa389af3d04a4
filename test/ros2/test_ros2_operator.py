"""An operator's actions on the live node while a camera streams real KITTI frames at 10 Hz: lifecycle transitions,
``ros2 param set`` of the run-time parameters, a camera_info of another size mid-stream, SIGINT / SIGTERM.

Invariants checked throughout: no traceback in the node's log, every service answered within a bound, every image
the node received accounted for in ``/diagnostics`` (published, dropped or a bad message with its reason).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from test.kitti_bag import KittiFrame

from .harness import (
    NODE_FQN,
    RELIABLE,
    FrameStream,
    KittiFeeder,
    Launched,
    Probe,
    node_statuses,
    wait_until,
    write_params,
)

ANSWER_S = 10.0  # the bound within which the node answers a service


def accounted(status: dict[str, str]) -> bool:
    """Every image received is published, dropped (stale or at a stop) or a counted bad message."""
    counts = {k: int(status[k]) for k in ("frames_received", "frames_published", "frames_dropped_stale")}
    bad = int(status["bad_messages"]) - int(status.get("bad_messages.no_camera_info", 0))  # not in received
    return counts["frames_received"] == counts["frames_published"] + counts["frames_dropped_stale"] + bad


def test_a_transition_the_state_does_not_offer_is_refused_and_the_node_answers_on(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A ChangeState request by id for a transition the current state does not have (activate while unconfigured,
    configure while active: a lifecycle manager out of step with the node) raised rclpy's RCLError "Transition is not
    registered" in the executor: the node died with a traceback. rclcpp answers success = false; so does the node,
    and it goes on in its state, publishing."""
    params = write_params(ros_logs / "wrong_transition.yaml", {"diagnostics.period_s": 0.25})
    launched = Launched({"device": "cpu", "lifecycle": "true", "params_file": str(params)}, ros_logs / "wrong_tr.log")
    stream = FrameStream(KittiFeeder(probe, kitti_frames))
    try:
        assert probe.lifecycle(NODE_FQN) == "unconfigured"
        with pytest.raises(AssertionError, match="transition activate failed"):
            probe.lifecycle(NODE_FQN, "activate", timeout_s=ANSWER_S)
        assert probe.lifecycle(NODE_FQN, timeout_s=ANSWER_S) == "unconfigured"
        assert probe.lifecycle(NODE_FQN, "configure") == "inactive"
        assert probe.lifecycle(NODE_FQN, "activate") == "active"
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        depth.wait_for(2, timeout_s=30)
        for wrong in ("configure", "cleanup", "unconfigured_shutdown"):
            with pytest.raises(AssertionError, match=f"transition {wrong} failed"):
                probe.lifecycle(NODE_FQN, wrong, timeout_s=ANSWER_S)
        assert probe.lifecycle(NODE_FQN, timeout_s=ANSWER_S) == "active"
        count = depth.count()
        depth.wait_for(count + 2, timeout_s=10)  # still publishing
        probe.drop(depth)
        assert "transition configure (1) refused: the node is active; it offers: deactivate, shutdown" in launched.log
    finally:
        stream.stop()
        code = launched.stop()
    assert code == 0 and "Traceback" not in launched.log, launched.log[-3000:]


def test_frames_in_flight_at_deactivate_are_in_a_last_diagnostics_status(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """Deactivate while frames stream in: the frames published or dropped since the last periodic status were in
    no status (the timer goes with deactivate, and cleanup + configure start the counts anew): a supervisor saw
    images received and never published. A status is published at deactivate, in which every image adds up (the
    period, 60 s, is longer than the test: no other status comes)."""
    params = write_params(ros_logs / "deactivate_count.yaml", {"diagnostics.period_s": 60.0})
    launched = Launched({"device": "cpu", "lifecycle": "true", "params_file": str(params)}, ros_logs / "deact.log")
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    stream = FrameStream(KittiFeeder(probe, kitti_frames))
    try:
        for cycle in range(2):
            before = depth.count()  # the counts start anew at each configure
            assert probe.lifecycle(NODE_FQN, "configure") == "inactive"
            assert probe.lifecycle(NODE_FQN, "activate") == "active"
            depth.wait_for(depth.count() + 4, timeout_s=30)
            deactivated = time.monotonic_ns()  # the status comes before the transition's answer
            assert probe.lifecycle(NODE_FQN, "deactivate", timeout_s=ANSWER_S) == "inactive"
            published = depth.count() - before

            def last_status(after: int = deactivated) -> dict[str, str] | None:
                with diagnostics.lock:
                    late = [msg for arrival, msg in diagnostics.items if arrival > after]
                return (node_statuses(late) or [None])[-1]

            wait_until(lambda: last_status() is not None, 5, f"a /diagnostics status after deactivate ({cycle})")
            status = last_status()
            assert status is not None and accounted(status), status
            assert int(status["frames_published"]) >= published >= 4, (status, published)
            assert probe.lifecycle(NODE_FQN, "cleanup", timeout_s=ANSWER_S) == "unconfigured"
        probe.drop(depth)
        probe.drop(diagnostics)
    finally:
        stream.stop()
        code = launched.stop()
    assert code == 0 and "Traceback" not in launched.log, launched.log[-3000:]
