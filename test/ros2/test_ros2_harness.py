"""The tier's containment (harness.py, conftest.py): a test that fails or hangs leaves the probe hearing and no node
of its own running, so the tests after it are unaffected. Each test injects the fault and then checks the next
node or message is heard.

Before: a collector dropped while a message of its topic was queued behind the probe's two busy executor threads made
rclpy Humble's ``take`` raise InvalidHandle outside the ``try`` that releases the callback group; the probe's one
default group stayed held, and every test after it timed out on every topic and service (a loaded machine: 30 of 122
failed in one run, all after the first, which was the first victim)."""

from __future__ import annotations

import ast
import gc
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from std_msgs.msg import String

from .domains import worker_domain_id
from .harness import (
    RELIABLE,
    Collector,
    Launched,
    Probe,
    contain_teardown,
    graph_nodes,
    group_members,
    module_leftovers,
    reap_since,
    started,
    started_count,
    wait_until,
    wait_until_gone_from_graph,
)


def wait_matched(*publishers: Any) -> None:
    wait_until(lambda: all(p.get_subscription_count() > 0 for p in publishers), 10, "the probe's own subscriptions")


def test_the_probe_and_what_the_tests_start_run_in_the_domain_of_their_pytest_xdist_worker(probe: Probe) -> None:
    """scripts/ros2_tier.sh runs the tier on pytest-xdist workers, worker gwN in domain ROS_DOMAIN_ID + N
    (test/ros2/domains.py), so that one worker's probe never hears the other's node: the probe's context and the
    environment the tests' launches inherit are in that domain; a serial run stays in the tier's ROS_DOMAIN_ID."""
    base = os.environ["MONO_DEPTH_ROS2_DOMAIN_BASE"]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    expected = int(base or 0) if worker is None else int(base or 0) + int(worker.removeprefix("gw"))
    assert worker_domain_id(base, worker) in (None, expected)
    assert probe.node.context.get_domain_id() == expected, (base, worker)
    assert os.environ["ROS_DOMAIN_ID"] == str(expected), (base, worker)


@pytest.mark.parametrize("group", ["own", "default"])
def test_a_collector_dropped_while_its_message_waits_for_an_executor_thread_leaves_the_probe_hearing(
    probe: Probe, group: str
) -> None:
    """The race made certain: both executor threads held in a callback, a message for a collector queued behind them,
    the collector dropped, the threads let go. Its task then takes from a destroyed subscription: before, that held
    the probe's callback group for good and the next collector heard nothing. ``own``: collectors of
    :meth:`Probe.collect` (a callback group each); ``default``: two subscriptions in the node's default group (as
    tests' own subscriptions and clients are), which only :class:`ProbeExecutor` releases."""
    gate, held = threading.Event(), []

    def hold(msg: Any) -> None:
        held.append(msg.data)
        gate.wait(30.0)

    def subscribe(topic: str) -> tuple[Collector, Callable[[], None]]:
        if group == "own":
            collector = probe.collect(String, topic)
            return collector, lambda: probe.drop(collector)
        collector = Collector(topic)
        sub = probe.node.create_subscription(String, topic, collector, RELIABLE)
        return collector, lambda: probe.node.destroy_subscription(sub)

    holder = probe.node.create_subscription(String, "/harness/hold", hold, RELIABLE,
                                            callback_group=ReentrantCallbackGroup())  # fmt: skip
    pubs = {name: probe.publisher(String, f"/harness/{name}", RELIABLE) for name in ("hold", "dropped", "next")}
    dropped, drop = subscribe("/harness/dropped")
    try:
        wait_matched(pubs["hold"], pubs["dropped"])
        for index in range(2):
            pubs["hold"].publish(String(data=str(index)))
        wait_until(lambda: len(held) == 2, 10, "both executor threads held")
        pubs["dropped"].publish(String(data="queued"))
        time.sleep(0.5)  # the spin thread finds it ready and queues its task behind the two held threads
        assert dropped.count() == 0
        drop()
    finally:
        gate.set()
    following, drop_following = subscribe("/harness/next")
    try:
        wait_matched(pubs["next"])
        for index in range(3):
            pubs["next"].publish(String(data=str(index)))
        assert [m.data for m in following.wait_for(3, timeout_s=10)] == ["0", "1", "2"]
        assert dropped.count() == 0  # taken from nothing: the dropped collector's callback did not run
    finally:
        drop_following()
        probe.node.destroy_subscription(holder)
        for publisher in pubs.values():
            probe.node.destroy_publisher(publisher)


def test_a_callback_that_raises_leaves_the_probe_hearing(probe: Probe) -> None:
    """A test's own subscription whose callback raises: before, Humble's ``spin`` ended at the next message (the
    MultiThreadedExecutor re-raises a finished task's exception) and the probe heard nothing more."""

    def fail(msg: Any) -> None:
        raise RuntimeError(f"injected: {msg.data}")

    failing = probe.node.create_subscription(String, "/harness/raise", fail, RELIABLE)
    pubs = {name: probe.publisher(String, f"/harness/{name}", RELIABLE) for name in ("raise", "after")}
    following = probe.collect(String, "/harness/after")
    try:
        wait_matched(*pubs.values())
        pubs["raise"].publish(String(data="boom"))
        time.sleep(0.5)
        for index in range(3):
            pubs["after"].publish(String(data=str(index)))
            time.sleep(0.2)
        assert [m.data for m in following.wait_for(3, timeout_s=10)] == ["0", "1", "2"]
        assert "RuntimeError: injected: boom" in probe.errors
    finally:
        probe.drop(following)
        probe.node.destroy_subscription(failing)
        for publisher in pubs.values():
            probe.node.destroy_publisher(publisher)


def revived_hears(probe: Probe, publisher: Any, collector: Collector) -> None:
    """The probe does not hear itself; :meth:`Probe.revive` makes it hear again, and ``collector`` gets the three
    messages ``publisher`` sends then."""
    assert not probe.hears(1.0)
    probe.revive()
    assert probe.hears()
    for index in range(3):
        publisher.publish(String(data=str(index)))
    assert [m.data for m in collector.wait_for(3, timeout_s=10)] == ["0", "1", "2"]


def test_a_deaf_probe_is_revived_but_hears_nothing_from_a_publisher_that_stopped(probe: Probe) -> None:
    """What the tier's conftest does before each test: both executor threads held in callbacks that never return (a
    deaf probe: :meth:`Probe.hears` false), :meth:`Probe.revive` makes it hear again, its collectors included; a
    publisher that published nothing since (a node that really stopped) is still not heard, so its test still fails."""
    gate, held = threading.Event(), []

    def hold(msg: Any) -> None:
        held.append(msg.data)
        gate.wait(30.0)

    holder = probe.node.create_subscription(String, "/harness/hold", hold, RELIABLE,
                                            callback_group=ReentrantCallbackGroup())  # fmt: skip
    pubs = {name: probe.publisher(String, f"/harness/{name}", RELIABLE) for name in ("hold", "live", "stopped")}
    live, stopped = probe.collect(String, "/harness/live"), probe.collect(String, "/harness/stopped")
    try:
        wait_matched(*pubs.values())
        pubs["stopped"].publish(String(data="before"))
        stopped.wait_for(1, timeout_s=10)
        for index in range(2):
            pubs["hold"].publish(String(data=str(index)))
        wait_until(lambda: len(held) == 2, 10, "both executor threads held")
        revived_hears(probe, pubs["live"], live)
        time.sleep(0.5)
        assert [m.data for m in stopped.messages] == ["before"]
    finally:
        gate.set()
        probe.drop(live)
        probe.drop(stopped)
        probe.node.destroy_subscription(holder)
        for publisher in pubs.values():
            probe.node.destroy_publisher(publisher)


def test_a_probe_whose_default_callback_group_is_held_does_not_hear_itself_and_is_revived(probe: Probe) -> None:
    """A test's own subscription (the node's default callback group, as tests' own subscriptions, clients and timers
    are) whose callback never returns: one executor thread and the default group are held, the other thread still
    runs the collectors' groups of their own. Before, :meth:`Probe.hears` listened through a collector of such a
    group: it heard, the probe was not revived, and every later test's own subscription or client heard nothing.
    Now it does not hear, and :meth:`Probe.revive` frees the default group."""
    gate, held = threading.Event(), []

    def hold(msg: Any) -> None:
        held.append(msg.data)
        gate.wait(30.0)

    holder = probe.node.create_subscription(String, "/harness/hold_default", hold, RELIABLE)
    pubs = {name: probe.publisher(String, f"/harness/{name}", RELIABLE) for name in ("hold_default", "next")}
    following = Collector("/harness/next")
    subscription = probe.node.create_subscription(String, "/harness/next", following, RELIABLE)
    try:
        wait_matched(*pubs.values())
        pubs["hold_default"].publish(String(data="held"))
        wait_until(lambda: held == ["held"], 10, "the default group held")
        revived_hears(probe, pubs["next"], following)
    finally:
        gate.set()
        probe.node.destroy_subscription(subscription)
        probe.node.destroy_subscription(holder)
        for publisher in pubs.values():
            probe.node.destroy_publisher(publisher)


def test_the_teardown_leaves_running_a_process_group_that_only_reuses_the_pid_of_one_it_started() -> None:
    """PID reuse (pid_max is 32768 on the tier's machine, where other tiers run at the same time): a process group
    the harness started has ended and its leader was reaped; its number now leads another session's process group
    (say another tier's ``ros2 launch``). The teardown must leave that group running: it is not the tier's."""
    index = started_count()
    ours = started(subprocess.Popen(["true"], start_new_session=True), ["true"])
    ours.wait()
    foreign = subprocess.Popen(["sleep", "60"], start_new_session=True)  # not the tier's
    try:
        ours.pid = foreign.pid  # what PID reuse does: the ended leader's number leads someone else's group
        assert reap_since(index) == []
        assert foreign.poll() is None, f"the teardown stopped a process group it did not start ({foreign.returncode})"
    finally:
        foreign.kill()
        foreign.wait()


TALKER = """
import subprocess, sys
import rclpy
from std_msgs.msg import String

subprocess.Popen(["sleep", "600"])  # a second process of the group, as a launch's node is
rclpy.init()
node = rclpy.create_node("harness_talker")
publisher = node.create_publisher(String, "/harness/talker", 10)
node.create_timer(0.1, lambda: publisher.publish(String(data=sys.argv[1])))
rclpy.spin(node)
"""
# Cyclone's participant lease is 10 s: a SIGKILLed participant stays in the graph that long; 2 s for the talkers
SHORT_LEASE = (
    '<CycloneDDS><Domain id="any"><Discovery><LeaseDuration>2 s</LeaseDuration></Discovery></Domain></CycloneDDS>'
)


def talker(word: str) -> tuple[subprocess.Popen[bytes], str]:
    """A small rclpy node (``/harness_talker`` publishing ``word`` on /harness/talker at 10 Hz, with a child process)
    in a process group of its own, noted for :func:`reap_since` as the harness's launches are; and its command."""
    env = {**os.environ, "CYCLONEDDS_URI": ",".join(filter(None, (os.environ.get("CYCLONEDDS_URI"), SHORT_LEASE)))}
    command = ["python3", "-c", TALKER, word]
    process = started(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True), command)  # fmt: skip
    return process, " ".join(command)


def test_a_sigstopped_node_left_running_is_stopped_and_the_next_node_is_heard(probe: Probe) -> None:
    """A test that hangs with its node frozen (SIGSTOP: it answers neither SIGINT nor the graph) and never stops it:
    what the tier's teardown does after each test (:func:`reap_since`: SIGINT, SIGKILL after the grace, waited for,
    the group's second process included), then the graph is waited clear of it; the next node of the same name on
    the same topic is heard. (A small rclpy node, not the depth node: two launches of it took 20 s more.)"""
    known = graph_nodes(probe)
    heard = probe.collect(String, "/harness/talker")
    try:
        index = started_count()
        frozen, command = talker("frozen")
        wait_until(lambda: "frozen" in {m.data for m in heard.messages}, 30, "the first talker")
        wait_until(lambda: len(group_members(frozen.pid)) == 2, 10, "the talker's child process")
        os.killpg(frozen.pid, signal.SIGSTOP)
        assert reap_since(index, grace_s=0.5) == [command]
        assert group_members(frozen.pid) == [] and frozen.returncode == -signal.SIGKILL
        assert wait_until_gone_from_graph(probe, known) == set()
        index = started_count()
        after, command = talker("after")
        wait_until(lambda: "after" in {m.data for m in heard.messages}, 30, "the next talker")
        assert reap_since(index) == [command]
        assert group_members(after.pid) == []
    finally:
        probe.drop(heard)


RELAY = """
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

rclpy.init()
node = rclpy.create_node("harness_relay")
out = node.create_publisher(String, "/harness/relay_out", 10)
best_effort = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)  # as the node's default input_qos
node.create_subscription(String, "/harness/relay_in", out.publish, best_effort)
rclpy.spin(node)
"""


def test_a_message_sent_once_on_a_new_publisher_reaches_a_best_effort_reader_once_wait_matched_returns(
    probe: Probe,
) -> None:
    """A best-effort reader drops what a new writer sends before the reader's side has matched the writer; the
    writer's ``get_subscription_count()`` shows its own side only (explore120: a single frame on a fresh publisher,
    2-3 of 8 lost by the depth node). :meth:`Probe.wait_matched` waits for both: a relay in another process (a
    participant of its own, as the node under test) with a best-effort subscription made long before gets each
    message sent once on a publisher made just before (with the publisher's side alone, ``settle_s`` 0: 4 runs of
    5 failed, 5 of 60 messages lost)."""
    relayed = probe.collect(String, "/harness/relay_out")
    command = ["python3", "-c", RELAY]
    started(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
            command)  # fmt: skip
    index = started_count() - 1
    lost = []
    try:
        wait_until(lambda: probe.node.count_publishers("/harness/relay_out") > 0, 30, "the relay")
        for attempt in range(12):
            publisher = probe.publisher(String, "/harness/relay_in")  # best effort, as drivers publish
            try:
                probe.wait_matched(publisher)
                publisher.publish(String(data=str(attempt)))
                try:
                    wait_until(lambda a=str(attempt): a in {m.data for m in relayed.messages}, 3.0, "the relay")
                except AssertionError:
                    lost.append(attempt)
            finally:
                probe.node.destroy_publisher(publisher)
    finally:
        reap_since(index)
        probe.drop(relayed)
    assert lost == [], f"sent once on a new publisher, lost: {lost} of 12"


class _MatchedAheadOfTheGraph:
    """A reliable publisher of the probe that has matched ``matched`` subscriptions of ``topic``: the state the probe
    sees for a moment when a node's subscription appears after the publisher was made (the match comes from the DDS
    layer, the graph's listing of that subscription from rmw's discovery thread after it: seen 2 times in 80 on real
    Humble + Cyclone DDS with 1 ms polls)."""

    def __init__(self, topic: str, matched: int) -> None:
        self.topic_name, self.qos_profile, self.matched = topic, RELIABLE, matched

    def get_subscription_count(self) -> int:
        return self.matched


def test_wait_matched_settles_a_reliable_match_whose_subscription_the_graph_does_not_list_yet(probe: Probe) -> None:
    """A reliable publisher matched to a subscription the probe's graph does not list yet (it may be a best-effort
    reader, as the node's default input_qos) gets :data:`DISCOVERY_SETTLE_S` (here ``settle_s``) too (before: no
    best-effort subscription in the graph, no settle, and a frame sent at once could be lost); one matched to the
    reliable subscriptions the graph lists gets none."""
    settle_s = 0.5
    started_s = time.monotonic()
    probe.wait_matched(_MatchedAheadOfTheGraph("/harness/not_listed_yet", 1), settle_s=settle_s)
    assert time.monotonic() - started_s >= settle_s
    listed = probe.collect(String, "/harness/listed_reliable", RELIABLE)
    try:
        wait_until(lambda: probe.node.count_subscribers("/harness/listed_reliable") == 1, 10, "the collector")
        started_s = time.monotonic()
        probe.wait_matched(_MatchedAheadOfTheGraph("/harness/listed_reliable", 1), settle_s=settle_s)
        assert time.monotonic() - started_s < settle_s
    finally:
        probe.drop(listed)


def test_a_node_still_in_the_graph_after_the_teardown_is_reported(probe: Probe) -> None:
    """The teardown stops what a test left running, then waits the graph clear of its nodes; one still there after the
    wait (a node outside the groups it stopped, which would answer for the next test's node) was not reported: the
    wait's result was dropped. Here a node of this process (never stopped by a signal) beside a group left running."""
    known = graph_nodes(probe)
    index = started_count()
    started(subprocess.Popen(["sleep", "60"], start_new_session=True), ["sleep", "60"])
    lingering = rclpy.create_node("harness_lingering")
    try:
        wait_until(lambda: "/harness_lingering" in graph_nodes(probe), 10, "the lingering node in the graph")
        problems = contain_teardown(index, probe, known, passed=False, graph_timeout_s=0.5)
        assert len(problems) == 1 and "/harness_lingering" in problems[0], problems
        index = started_count()
        started(subprocess.Popen(["sleep", "60"], start_new_session=True), ["sleep", "60"])
        problems = contain_teardown(index, probe, known | {"/harness_lingering"}, passed=True, graph_timeout_s=0.5)
        assert problems == ["the test passed but left running (stopped now): sleep 60"], problems
    finally:
        lingering.destroy_node()


def test_a_node_left_in_the_graph_with_no_process_group_left_running_is_reported(probe: Probe) -> None:
    """A node outside the process groups the harness notes (a launch's child that double-forked out of its group, a
    component container, a node of the test process) that a passing test leaves in the graph answers for the next
    test's node. Before, the teardown looked at the graph only when it had stopped a group, and reported nothing."""
    known = graph_nodes(probe)
    index = started_count()
    lingering = rclpy.create_node("harness_lingering")
    try:
        wait_until(lambda: "/harness_lingering" in graph_nodes(probe), 10, "the lingering node in the graph")
        problems = contain_teardown(index, probe, known, passed=True, graph_timeout_s=0.5)
        assert problems == [
            "still in the graph 0.5 s after the test: /harness_lingering (a process not started through "
            "harness.started() or not stopped by its group's signal, or a node of the test process still held: "
            "destroy_node() it, a LifecycleNode's state machine with it)"
        ], problems
    finally:
        lingering.destroy_node()
    assert contain_teardown(index, probe, known, passed=True) == []  # gone: nothing to report


def test_a_node_of_the_test_process_held_only_by_a_reference_cycle_is_collected_not_left_in_the_graph(
    probe: Probe,
) -> None:
    """A node the test no longer holds but a reference cycle does (a node constructor that raised: the exception's
    traceback holds the constructor's frame and the node; test_ros2_operator.py's pitch test) stayed in the graph,
    under the name of the node the later tests start, until Python's cycle collector happened to run. The teardown
    collects the garbage before it waits on the graph."""
    known = graph_nodes(probe)
    index = started_count()
    gc.disable()  # the cycle collector runs at the teardown's call only
    try:
        cycle: dict[str, Any] = {"node": rclpy.create_node("harness_garbage")}
        cycle["self"] = cycle
        wait_until(lambda: "/harness_garbage" in graph_nodes(probe), 10, "the node in the graph")
        del cycle
        assert contain_teardown(index, probe, known, passed=True, graph_timeout_s=5.0) == []
    finally:
        gc.enable()


def collecting_one(probe: Probe, topic: str) -> tuple[Any, Collector]:
    """A publisher on ``topic`` and a collector of it that has received the publisher's "during"; both to destroy."""
    publisher = probe.publisher(String, topic, RELIABLE)
    collector = probe.collect(String, topic)
    try:
        wait_matched(publisher)
        publisher.publish(String(data="during"))
        collector.wait_for(1, timeout_s=10)
    except BaseException:
        probe.drop(collector)
        probe.node.destroy_publisher(publisher)
        raise
    return publisher, collector


_left_behind: list[Collector] = []


def test_a_static_transform_a_test_sent_is_not_latched_for_the_nodes_of_the_tests_after(probe: Probe) -> None:
    """The probe's /tf_static publisher latches its last message (transient local, depth 1): a node started in any
    later test got the transform an earlier test had sent (the tests depended on their order). A subscriber made
    before the teardown gets it (the latching works); one made at once after it gets nothing, not even an
    empty message."""
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from tf2_msgs.msg import TFMessage

    from mono_depth_ros.core.geometry import RigidTransform

    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.send_static_tf(RigidTransform(np.eye(3), np.zeros(3), "harness_camera", "harness_lidar"), probe.now_ns())
    during = probe.collect(TFMessage, "/tf_static", latched)
    frames = lambda collector: {t.child_frame_id for m in collector.messages for t in m.transforms}  # noqa: E731
    wait_until(lambda: "harness_lidar" in frames(during), 10, "the latched transform, during the test")
    probe.drop(during)
    assert contain_teardown(started_count(), probe, graph_nodes(probe), passed=True) == []
    after = probe.collect(TFMessage, "/tf_static", latched)
    try:
        time.sleep(2.0)  # the latched message reaches a new subscriber in milliseconds (it did: `during`)
        assert after.messages == [], frames(after)
    finally:
        probe.drop(after)


def test_a_node_a_module_left_in_the_graph_is_reported_by_the_module_teardown(probe: Probe) -> None:
    """Each test's teardown checks the graph; the module's did not, and a module-scoped fixture's node outlives the
    tests (a node shared by the module's tests): one left answered for the next module's node unreported."""
    known = graph_nodes(probe)
    left = rclpy.create_node("harness_module_leftover")
    try:
        wait_until(lambda: "/harness_module_leftover" in graph_nodes(probe), 10, "the node in the graph")
        problems = module_leftovers(probe, known, graph_timeout_s=1.0)
        assert len(problems) == 1 and problems[0].startswith("still in the graph 1 s after the module: "), problems
        assert "/harness_module_leftover" in problems[0], problems
    finally:
        left.destroy_node()
    assert module_leftovers(probe, known, graph_timeout_s=10.0) == []
    assert module_leftovers(None, None) == []  # no probe made: no graph to look at


def test_a_collector_left_behind_by_a_test(probe: Probe) -> None:
    """The first half of the next test: a test that ends without dropping its collector (as one that fails before
    its ``probe.drop`` does)."""
    publisher, collector = collecting_one(probe, "/harness/left_behind")
    probe.node.destroy_publisher(publisher)
    _left_behind.append(collector)


def test_the_collector_a_test_left_behind_is_dropped_before_the_next_test(probe: Probe) -> None:
    """The collector the test before left behind no longer subscribes, and took nothing published since. Before, it
    stayed subscribed for the rest of the session, taking (and holding) every later message on its topic."""
    if not _left_behind:
        pytest.skip("runs after test_a_collector_left_behind_by_a_test")
    left = _left_behind.pop()
    publisher = probe.publisher(String, "/harness/left_behind", RELIABLE)
    try:
        time.sleep(1.0)  # discovery: a subscription still there would have matched by now
        assert publisher.get_subscription_count() == 0
        publisher.publish(String(data="after"))
        time.sleep(0.5)
        assert [m.data for m in left.messages] == ["during"]
    finally:
        probe.node.destroy_publisher(publisher)


def test_a_collector_a_test_left_is_dropped_by_the_teardown(probe: Probe) -> None:
    """A collector a test made and did not drop (it failed before its ``probe.drop``; test_ros2_node's module-scoped
    ``outputs`` never dropped its four) went on taking every message on its topic for the rest of the session: at the
    end of a run of test_ros2_node's diagnostics test and then an operator test, the four still held 8 messages each,
    6.5 MB of clouds among them. The teardown drops the collectors made since the test began, and only those."""
    kept = probe.collect(String, "/harness/kept")
    before, held = probe.collectors(), probe.held()
    publisher, left = collecting_one(probe, "/harness/left")
    try:
        # the publisher held too: it stays for the check below
        assert contain_teardown(started_count(), probe, graph_nodes(probe), True, 0.5, [*held, publisher]) == []
        assert probe.collectors() == before and kept in probe.collectors()
        wait_until(lambda: publisher.get_subscription_count() == 0, 10, "the left collector unsubscribed")
        publisher.publish(String(data="after"))
        time.sleep(0.5)
        assert [m.data for m in left.messages] == ["during"]
    finally:
        probe.drop(left)
        probe.drop(kept)
        probe.node.destroy_publisher(publisher)


_left_publisher = "/harness/left_publisher"


def test_a_publisher_left_behind_by_a_test(probe: Probe) -> None:
    """The first half of the next test: a test that ends without destroying its publisher, best effort as
    :class:`~test.ros2.harness.KittiFeeder`'s (every test that made a feeder or ``probe.publisher`` and did not
    destroy it: test_ros2_launch's temporal filter test left three on /camera/*, /lidar/points)."""
    probe.publisher(String, _left_publisher)
    ours = lambda: [i.node_name for i in probe.node.get_publishers_info_by_topic(_left_publisher)]  # noqa: E731
    wait_until(lambda: ours() == [probe.node.get_name()], 10, f"the probe's publisher on {_left_publisher}")


def test_the_publisher_a_test_left_behind_is_gone_before_the_next_test(probe: Probe) -> None:
    """The publisher the test before left is destroyed: neither the probe nor the graph holds it. Before, it stayed
    for the rest of the session: a later test's node on that topic saw two publishers, one of them another test's
    (test_ros2_launch's bit-for-bit test: 2 on /camera/image_raw; test_ros2_bag_play: the probe's /clock)."""
    assert [p.topic_name for p in probe.node.publishers if p.topic_name == _left_publisher] == []
    gone = lambda: probe.node.get_publishers_info_by_topic(_left_publisher) == []  # noqa: E731
    wait_until(gone, 10, f"no publisher on {_left_publisher} in the graph")


def test_the_teardown_destroys_the_publishers_clients_services_and_timers_a_test_made_and_keeps_the_others(
    probe: Probe,
) -> None:
    """What a test made on the probe (a publisher, a service client, a service, a timer) is destroyed by the
    teardown; what was held before it (a module-scoped fixture's publisher) stays, and so does the probe's own (its
    echo, with which it hears itself, and /tf's publisher), also for a module whose teardown holds nothing before it
    (the first module, before the probe was made)."""
    from std_srvs.srv import Trigger

    kept = probe.publisher(String, "/harness/kept_publisher")
    held = probe.held()
    made = [
        probe.publisher(String, "/harness/made_publisher"),
        probe.node.create_client(Trigger, "/harness/made_service"),
        probe.node.create_service(Trigger, "/harness/made_service", lambda request, response: response),
        probe.node.create_timer(60.0, lambda: None),
    ]
    try:
        assert contain_teardown(started_count(), probe, graph_nodes(probe), True, 0.5, held) == []
        entities = probe.held()
        assert kept in entities and not [entity for entity in made if entity in entities], entities
        gone = lambda: probe.node.get_publishers_info_by_topic("/harness/made_publisher") == []  # noqa: E731
        wait_until(gone, 10, "no /harness/made_publisher in the graph")
        assert probe.drop_since([]) == ["publisher /harness/kept_publisher"]
        assert probe.hears() and probe.tf.pub_tf in probe.held()
    finally:
        probe.node.destroy_publisher(kept)


def unnoted_starts(source: str) -> list[int]:
    """The lines of ``source`` (a tier module) where a process is started out of the teardown's reach: a
    ``subprocess.Popen`` that is not the argument of a ``started(...)`` call, or is one without
    ``start_new_session=True`` (no process group of its own), and is not marked ``# not the tier's``."""
    lines = source.splitlines()
    tree = ast.parse(source)
    noted = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "started"
        for arg in node.args
        if isinstance(arg, ast.Call)
        and any(
            k.arg == "start_new_session" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in arg.keywords
        )
    }
    return [
        call.lineno
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "Popen"
        and id(call) not in noted and "# not the tier's" not in lines[call.lineno - 1]
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("p = subprocess.Popen(cmd)\n", [1]),
        ("p = started(subprocess.Popen(cmd, start_new_session=True), cmd)\n", []),
        ("p = started(subprocess.Popen(cmd), cmd)\n", [1]),  # in the test's own group: killpg cannot reach it
        ("p = started(subprocess.Popen(cmd, start_new_session=False), cmd)\n", [1]),
        ("p = subprocess.Popen(cmd)  # not the tier's\n", []),
    ],
)
def test_the_start_scan_reports_a_process_out_of_the_teardowns_reach(source: str, reported: list[int]) -> None:
    """:func:`unnoted_starts` reports a ``Popen`` outside ``started(...)`` and one noted without a process group of
    its own (``start_new_session=True``): :func:`reap_since` signals the group whose number is the process's PID, so
    a process left in the test's group is never signalled and outlives the teardown's SIGKILL."""
    assert unnoted_starts(source) == reported


def test_every_process_a_tier_test_starts_is_noted_for_the_teardown() -> None:
    """A process a test starts with ``subprocess.Popen`` and does not note with :func:`started` in a process group of
    its own is out of the teardown's reach: a test that dies before stopping it leaves its node in the graph for
    the tests after it (test_ros2_operator.py's node executables were). Every ``Popen`` in the tier's modules is
    the argument of a ``started(...)`` call with ``start_new_session=True``, or marked ``# not the tier's`` (this
    module's foreign process): :func:`unnoted_starts`."""
    unnoted = [
        f"{path.name}:{line}"
        for path in sorted(Path(__file__).parent.glob("*.py"))
        for line in unnoted_starts(path.read_text())
    ]
    assert unnoted == [], f"started without harness.started() in a group of its own: {unnoted}"


def launched_over(log_path: Path) -> Launched:
    """A :class:`Launched` whose log is ``log_path``, with no ``ros2 launch`` behind it: the test writes the node's
    lines into the file itself (as launch does, through a handle of its own)."""
    launched = Launched.__new__(Launched)
    launched.log_path = log_path
    launched._log = open(log_path, "wb")  # noqa: SIM115 - closed by the test
    return launched


def test_said_waits_for_a_line_that_reaches_the_log_after_it_is_asked_for(tmp_path: Path) -> None:
    """The CI failure: the publisher saw the node's subscription and the test read the log at once, before the node's
    ': subscribed' line had come through launch's pipe. :meth:`Launched.said` waits for the line and returns it."""
    launched = launched_over(tmp_path / "node.log")
    line = "[mono_depth_node-1] [INFO] [1.0] [mono_depth_node]: lidar_topic /scan is published as LaserScan: subscribed"
    asked = threading.Event()

    def node_says() -> None:
        asked.wait(10)
        time.sleep(0.3)
        with open(launched.log_path, "a") as out:
            out.write("[mono_depth_node-1] [INFO] [0.9] [mono_depth_node]: an earlier line\n" + line + "\n")

    writer = threading.Thread(target=node_says, daemon=True)
    try:
        writer.start()
        assert ": subscribed" not in launched.log  # what the test read at once
        asked.set()
        assert launched.said(": subscribed") == line
        assert launched.said(re.compile(r"is published as \w+: subscribed")) == line
    finally:
        writer.join(10)
        launched._log.close()


def test_said_names_the_text_and_shows_the_log_when_the_line_never_comes(tmp_path: Path) -> None:
    """A node that never says the line: the failure names what was awaited and shows the log's tail (what the node
    said instead), after ``timeout_s``, not at once."""
    launched = launched_over(tmp_path / "node.log")
    try:
        launched.log_path.write_text("[mono_depth_node-1] [WARN] [1.0] [mono_depth_node]: something else\n")
        started_s = time.monotonic()
        with pytest.raises(AssertionError) as failure:
            launched.said(": subscribed", timeout_s=0.5)
        assert time.monotonic() - started_s >= 0.5
        message = str(failure.value)
        assert "waiting for ': subscribed' in the launch log" in message, message
        assert "launch log:\n[mono_depth_node-1] [WARN] [1.0] [mono_depth_node]: something else" in message, message
        with pytest.raises(AssertionError, match=r"waiting for 'sub\\\\w\+' in the launch log"):
            launched.said(re.compile(r"sub\w+"), timeout_s=0.2)
    finally:
        launched._log.close()
