"""What a managed (lifecycle) node says at start: it is unconfigured and waits for ``configure`` / ``activate``.

``mono_depth_lifecycle_node`` (``lifecycle:=true``) starts unconfigured: no model, no publisher, no subscription
until a lifecycle manager (Nav2's, or a user) requests configure, then activate. It logged nothing at all: a user
without a lifecycle manager saw a silent node. :func:`managed_start` logs one INFO line naming the node's resolved
name and the commands (``ros2 lifecycle set``, and the ``change_state`` service call for installs without the
lifecycle CLI), then polls (:class:`InactiveWatch`): once ``after_s`` (10 s) have passed with the node never
configured and a publisher on its image topic, it warns once that images are published but the node takes none,
with the transitions to request. A node that left unconfigured has someone driving it (Nav2's lifecycle manager
keeps one inactive while others activate, or on purpose): nothing is said, and the timer is cancelled. ROS-free:
duck-typed on rclpy's ``LifecycleNode`` (``test/adapters/test_lifecycle_wait.py``, ``test/ros2/test_ros2_launch.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mono_depth_ros.adapters.lifecycle_requests import refuse_unoffered
from mono_depth_ros.adapters.topic_names import shown_topic, subscribed_image_topic

WAIT_S = 10.0  # unconfigured this long after the start, with images published: said once
POLL_S = 1.0
TRANSITION_IDS = {"configure": 1, "activate": 3}  # lifecycle_msgs/Transition ids (ros2 service call asks by id)


def commands(node_fqn: str, transitions: list[str]) -> str:
    """The commands that request ``transitions`` of ``node_fqn``: ``ros2 lifecycle set`` and, for installs without
    the lifecycle CLI, the ``change_state`` service call by transition id."""
    cli = " then ".join(f"`ros2 lifecycle set {node_fqn} {name}`" for name in transitions)
    calls = " then ".join(
        f'`ros2 service call {node_fqn}/change_state lifecycle_msgs/srv/ChangeState "{{transition: {{id: '
        f'{TRANSITION_IDS[name]}}}}}"`'
        for name in transitions
    )
    return f"{cli} (without the lifecycle CLI: {calls})"


def waiting_text(node_fqn: str) -> str:
    """The start-up line of the managed node ``node_fqn`` (its fully qualified name)."""
    return (
        f"{node_fqn} is a managed (lifecycle) node and starts unconfigured: it loads no model and subscribes nothing "
        f"until a lifecycle manager (or you) requests configure, then activate: "
        + commands(node_fqn, ["configure", "activate"])
    )


def unconfigured_text(node_fqn: str, image_topic: str, publishers: int) -> str:
    """The warning for images published on ``image_topic`` (as subscribed) while ``node_fqn`` is unconfigured."""
    return (
        f"{publishers} publisher(s) on the image topic {image_topic}, but {node_fqn} is unconfigured: it takes no "
        f"image until it is active (no lifecycle manager drives it?): " + commands(node_fqn, ["configure", "activate"])
    )


class InactiveWatch:
    """Warns once when the node is still unconfigured ``after_s`` after the start while its image topic has
    publishers. Done at the first other state: whoever requested that transition drives the node (Nav2's lifecycle
    manager configures all its nodes, then activates them in order, or keeps one inactive on purpose).

    Args:
        node_fqn: the node's fully qualified name.
        state: the node's lifecycle state label now (``unconfigured``, ``inactive``, ``active``, ...).
        image_publishers: the image topic as subscribed (for the text) and its publishers' count now.
        warn: the node's logger.warning.
        now: monotonic clock in seconds; the watch starts at construction.
    """

    def __init__(
        self,
        node_fqn: str,
        state: Callable[[], str],
        image_publishers: Callable[[], tuple[str, int]],
        warn: Callable[[str], object],
        now: Callable[[], float] = time.monotonic,
        after_s: float = WAIT_S,
    ) -> None:
        self._fqn, self._state, self._images, self._warn, self._now = node_fqn, state, image_publishers, warn, now
        self._due = now() + after_s
        self.done = False  # warned, or the node left unconfigured: nothing more to say
        self.timer: Any = None  # the timer that polls it (rclpy's Timer), cancelled when done

    def poll(self) -> None:
        """Check once (a steady timer calls it); the graph is asked only after ``after_s``, while unconfigured."""
        if not self.done:
            self.done = self._check()
        if self.done and self.timer is not None:
            self.timer.cancel()

    def _check(self) -> bool:
        """Whether the watch is done after this check (warned, or the node left unconfigured)."""
        state = self._state()
        if state != "unconfigured":  # a manager or a user requested a transition: they drive it (inactive on purpose)
            return True
        if self._now() < self._due:
            return False
        topic, publishers = self._images()
        if publishers:
            self._warn(unconfigured_text(self._fqn, topic, publishers))
        return publishers > 0


def image_topic(node: Any) -> str:
    """The image topic the node will subscribe, from its parameters now (with compressed transport ``/compressed``
    appended to the resolved base, as the node does: :func:`~.topic_names.subscribed_image_topic`)."""
    topic, transport = str(node.get_parameter("image_topic").value), node.get_parameter("image_transport").value
    return subscribed_image_topic(topic, str(transport), node.resolve_topic_name)


def managed_start(node: Any, clock: Any = None, now: Callable[[], float] = time.monotonic) -> InactiveWatch | None:
    """For rclpy's ``LifecycleNode`` ``node``, just made: refuse unoffered transitions (``lifecycle_requests``), log
    :func:`waiting_text`, and poll an :class:`InactiveWatch` on a timer of ``clock`` (a steady clock: played time may
    not move; ``now``: the watch's clock) until it is done. Returns the watch (None when ``node`` has no rclpy state
    machine to read)."""
    logger, fqn = node.get_logger(), node.get_fully_qualified_name()
    refuse_unoffered(node, logger.warning)  # without its services: nothing to wrap
    logger.info(waiting_text(fqn))
    machine: Any = getattr(node, "_state_machine", None)
    if not hasattr(machine, "current_state"):
        return None

    def images() -> tuple[str, int]:
        topic = image_topic(node)  # (the graph look-up remaps the name it is given, as the subscription does)
        return shown_topic(topic, node.resolve_topic_name), len(node.get_publishers_info_by_topic(topic))

    watch = InactiveWatch(fqn, lambda: str(machine.current_state[1]), images, logger.warning, now)
    watch.timer = node.create_timer(POLL_S, watch.poll, clock=clock) if clock else node.create_timer(POLL_S, watch.poll)
    return watch
