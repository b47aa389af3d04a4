"""Log throttling per reason: one frequent problem must not hide another in the log.

rclpy throttles per call site (``throttle_duration_sec``): the node logs every skipped frame from one line, so a
camera that sends a bad encoding every frame would keep a calibration error, a TF problem or a negative stamp out of
the log for as long as it lasts. :class:`ReasonThrottle` keeps one period per kind of problem (the reason and the
message with its numbers left out: an empty frame_id and a negative stamp are both a ``TransformError`` but two
problems; two frames' stamps are one) and says how many of that kind it held back, so the next message can say so.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

__all__ = ["ReasonThrottle"]

_NUMBER = re.compile(r"\d+")


class ReasonThrottle:
    """At most one message per reason per ``period_s`` (thread-safe: the worker and the executor both report).

    Args:
        period_s: seconds between two messages of one reason (> 0).
        clock: monotonic seconds (``time.monotonic``; tests pass their own).
    """

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not period_s > 0:
            msg = f"throttle period must be > 0 s, got {period_s}"
            raise ValueError(msg)
        self._period_s = period_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, reason: str, text: str = "") -> str | None:
        """None when a message of this kind (``reason`` and ``text`` without its numbers) was let through less than
        ``period_s`` ago (this one is held back and counted); else the suffix to log with it: empty, or how many of
        this kind were held back since the last one (``" (3 more since the last)"``)."""
        now = self._clock()
        reason = f"{reason}: {_NUMBER.sub('#', text)}"
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self._period_s:
                self._held[reason] = self._held.get(reason, 0) + 1
                return None
            self._last[reason] = now
            held = self._held.pop(reason, 0)
        return f" ({held} more since the last)" if held else ""
