"""adapters.lifecycle_wait: a managed node left unconfigured said nothing at all (a user without a lifecycle manager
saw a silent node); now one INFO line at start with the commands, and one warning when images are published while it
is still not active. The real node is in test/ros2/test_ros2_launch.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mono_depth_ros.adapters.lifecycle_wait import InactiveWatch, image_topic, managed_start, waiting_text

from .support import FakeTimer


class Clock:
    """A monotonic clock in seconds that tests advance."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


CONFIGURE_CALL = (
    '`ros2 service call /cam1/mono_depth_node/change_state lifecycle_msgs/srv/ChangeState "{transition: {id: 1}}"`'
)


def test_the_start_line_names_the_resolved_node_and_both_ways_to_configure_and_activate() -> None:
    text = waiting_text("/cam1/mono_depth_node")
    assert text.startswith("/cam1/mono_depth_node is a managed (lifecycle) node and starts unconfigured")
    assert (
        "`ros2 lifecycle set /cam1/mono_depth_node configure` then `ros2 lifecycle set /cam1/mono_depth_node activate`"
        in text
    )
    assert f"(without the lifecycle CLI: {CONFIGURE_CALL} then " in text and "{transition: {id: 3}}" in text


def watch(states: list[str], publishers: list[int], warnings: list[str], clock: Clock) -> InactiveWatch:
    return InactiveWatch(
        "/mono_depth_node", lambda: states[-1], lambda: ("/camera/image_raw", publishers[-1]), warnings.append, clock
    )


def test_images_published_to_a_node_still_not_active_after_10_s_are_said_once() -> None:
    clock, states, publishers, warnings = Clock(), ["unconfigured"], [1], list[str]()
    unconfigured = watch(states, publishers, warnings, clock)
    clock.advance(9.9)
    unconfigured.poll()
    assert warnings == []  # not before 10 s
    clock.advance(0.2)
    unconfigured.poll()
    assert warnings == [
        "1 publisher(s) on the image topic /camera/image_raw, but /mono_depth_node is unconfigured: it takes no image "
        "until it is active (no lifecycle manager drives it?): `ros2 lifecycle set /mono_depth_node configure` then "
        "`ros2 lifecycle set /mono_depth_node activate` (without the lifecycle CLI: `ros2 service call "
        '/mono_depth_node/change_state lifecycle_msgs/srv/ChangeState "{transition: {id: 1}}"` then `ros2 service '
        'call /mono_depth_node/change_state lifecycle_msgs/srv/ChangeState "{transition: {id: 3}}"`)'
    ]
    assert unconfigured.done
    clock.advance(60.0)
    unconfigured.poll()
    assert len(warnings) == 1  # once


def test_a_node_a_lifecycle_manager_configured_and_keeps_inactive_is_not_warned_about() -> None:
    """Nav2's lifecycle_manager configures every node, then activates them in order (a costmap waiting for TF holds
    the rest), or keeps the node inactive on purpose: "no lifecycle manager drives it?" was warned 10 s after the
    start while it sat inactive, and again after a cleanup back to unconfigured. Whoever requested a transition
    drives the node: the watch is done at the first state other than unconfigured."""
    clock, states, publishers, warnings = Clock(), ["unconfigured"], [1], list[str]()
    managed = watch(states, publishers, warnings, clock)
    clock.advance(2.0)
    states.append("inactive")  # configured by the manager
    managed.poll()
    assert managed.done
    clock.advance(30.0)
    managed.poll()
    states.append("unconfigured")  # cleaned up on purpose
    clock.advance(30.0)
    managed.poll()
    assert warnings == []
    inactive = watch(["inactive"], publishers, warnings, clock)  # configured before the first poll
    clock.advance(10.0)
    inactive.poll()
    assert inactive.done and warnings == []


def test_nothing_is_said_without_images_nor_once_the_node_was_active() -> None:
    clock, states, publishers, warnings = Clock(), ["unconfigured"], [0], list[str]()
    idle = watch(states, publishers, warnings, clock)
    clock.advance(30.0)
    idle.poll()
    assert warnings == [] and not idle.done  # no camera yet: watched on
    publishers.append(2)
    idle.poll()
    assert warnings[0].startswith("2 publisher(s) on the image topic /camera/image_raw, but /mono_depth_node is")
    managed = watch(states, publishers, warnings, clock)
    states.append("active")  # a lifecycle manager brought it up
    managed.poll()
    states.append("inactive")  # and paused it later: its business
    clock.advance(30.0)
    managed.poll()
    assert managed.done and len(warnings) == 1


class Node:
    """rclpy's LifecycleNode as far as managed_start reads it."""

    def __init__(self, params: dict[str, str], state: str = "unconfigured", publishers: int = 1) -> None:
        self.params, self.infos, self.timers = params, [object()] * publishers, list[Any]()
        self.logged: list[tuple[str, str]] = []
        self._state_machine = SimpleNamespace(current_state=(1, state))
        self.asked: list[str] = []

    def get_logger(self) -> Any:
        return SimpleNamespace(
            info=lambda text: self.logged.append(("info", text)),
            warning=lambda text: self.logged.append(("warn", text)),
        )

    def get_fully_qualified_name(self) -> str:
        return "/cam1/mono_depth_node"

    def get_parameter(self, name: str) -> Any:
        return SimpleNamespace(value=self.params[name])

    def resolve_topic_name(self, topic: str) -> str:
        return topic if topic.startswith("/") else "/cam1/" + topic

    def get_publishers_info_by_topic(self, topic: str) -> list[object]:
        self.asked.append(topic)
        return self.infos

    def create_timer(self, period_s: float, callback: Any, clock: Any = None) -> FakeTimer:
        timer = FakeTimer()
        self.timers.append((period_s, callback, clock, timer))
        return timer


def test_managed_start_logs_the_line_and_polls_the_image_topic_as_it_will_be_subscribed() -> None:
    node, clock = Node({"image_topic": "image_raw", "image_transport": "compressed"}), Clock()
    assert managed_start(node, "steady", clock) is not None
    assert node.logged == [("info", waiting_text("/cam1/mono_depth_node"))]
    ((period_s, poll, timer_clock, timer),) = node.timers
    assert (period_s, timer_clock) == (1.0, "steady")
    poll()
    assert len(node.logged) == 1 and node.asked == []  # the graph is not asked before 10 s
    clock.advance(10.0)
    poll()
    assert node.asked == ["/cam1/image_raw/compressed"] and timer.canceled  # the base resolved, then /compressed
    level, text = node.logged[1]
    assert level == "warn" and "on the image topic /cam1/image_raw/compressed, but" in text
    assert "/cam1/mono_depth_node is unconfigured" in text
    raw = Node({"image_topic": "/camera/image_raw", "image_transport": "raw"})
    assert image_topic(raw) == "/camera/image_raw"
    raw._state_machine = SimpleNamespace()  # an rclpy whose state machine says no state: the line, no watch
    assert managed_start(raw, "steady", clock) is None and raw.timers == [] and raw.logged[0][0] == "info"
