"""Shared by the adapter tests: a clock the test sets by hand, a timer that records its cancels and resets, an rclpy
node as the LiDAR feed uses it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

MS = 1_000_000


class FakeClock:
    """A ``() -> int`` nanosecond clock that reads ``now_ns`` (starts at 0; tests advance it)."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


class FakeTimer:
    """rclpy's Timer as the polls gated by what they hold use it (adapters.lidar.PairingPoll, SyncWatch.polled_by):
    cancel, reset (restarts the period), is_canceled."""

    def __init__(self) -> None:
        self.canceled, self.resets = False, 0

    def cancel(self) -> None:
        self.canceled = True

    def reset(self) -> None:
        self.canceled, self.resets = False, self.resets + 1

    def is_canceled(self) -> bool:
        return self.canceled


@dataclass
class FakeNode:
    """What :class:`~mono_depth_ros.adapters.lidar_feed.LidarFeed` uses of an rclpy node: subscriptions and timers
    made, warnings logged."""

    subscriptions: list[tuple[Any, str, Callable[[Any], None], Any]] = field(default_factory=list)
    timers: list[tuple[float, Callable[[], None], Any, FakeTimer]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def create_subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any) -> str:
        self.subscriptions.append((msg_type, topic, callback, qos))
        return f"subscription {len(self.subscriptions)}"

    def destroy_subscription(self, subscription: Any) -> bool:
        return True

    def create_timer(self, period_s: float, callback: Callable[[], None], *, clock: Any) -> FakeTimer:
        timer = FakeTimer()
        self.timers.append((period_s, callback, clock, timer))
        return timer

    def get_publishers_info_by_topic(self, topic: str) -> list[Any]:
        return []

    def get_logger(self) -> Any:
        return SimpleNamespace(warning=self.warnings.append, info=lambda text: None)
