"""Shared by the adapter tests: a clock the test sets by hand."""

from __future__ import annotations

MS = 1_000_000


class FakeClock:
    """A ``() -> int`` nanosecond clock that reads ``now_ns`` (starts at 0; tests advance it)."""

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns
