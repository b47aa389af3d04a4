"""Shared by the adapter tests: a clock the test sets by hand, a timer that records its cancels and resets."""

from __future__ import annotations

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
