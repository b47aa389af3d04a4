"""A period of ROS time that survives the clock going back (a bag played with ``--clock --loop``).

A ROS-time timer (``Node.create_timer`` on the node's clock) is restarted by rcl whenever the clock jumps back before
its last call: with ``use_sim_time`` and a looped bag shorter than the period it never fired (the node published
no ``/diagnostics`` while its depth flowed), and a longer bag lost a period at every pass. :class:`RosTimePeriod`
is polled instead, from a timer on the steady clock, and counts the ROS time that went forward: the played time of
every pass adds up. A clock that stands still (a paused player, no ``/clock`` yet) still stops it, as it stops a
ROS-time timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mono_depth_ros.core.errors import ConfigError

POLL_S = 0.05  # how often the steady timer polls the ROS clock (the action is at most this late)


class RosTimePeriod:
    """Calls ``action`` once per ``period_s`` of ROS time gone forward; :meth:`poll` it from a steady timer.

    Args:
        period_s: seconds of ROS time between calls (> 0).
        clock: the ROS clock: ``clock.now().nanoseconds`` (the node's ``get_clock()``, which follows
            ``use_sim_time``).
        action: what to do once a period (e.g. publish ``/diagnostics``).

    Time going back counts as no time (a loop's new pass goes on counting from where the last one stopped); a jump
    forward of more than a period (a first ``/clock``, a skipped stretch) gives one call, not one per period.
    """

    def __init__(self, period_s: float, clock: Any, action: Callable[[], Any]) -> None:
        if not period_s > 0.0:
            msg = f"period {period_s} s must be > 0"
            raise ConfigError(msg)
        self._period_ns = round(period_s * 1e9)
        self._clock = clock
        self._action = action
        self._last_ns: int | None = None  # the clock at the previous poll
        self._elapsed_ns = 0  # ROS time gone forward since the last call

    def poll(self) -> bool:
        """Advance by the ROS time gone forward since the last poll; call ``action`` when a period is full.

        Returns:
            True when ``action`` was called.
        """
        now = int(self._clock.now().nanoseconds)
        if self._last_ns is not None:
            self._elapsed_ns += max(now - self._last_ns, 0)
        self._last_ns = now
        if self._elapsed_ns < self._period_ns:
            return False
        leap = self._elapsed_ns >= 2 * self._period_ns  # one call, then a period from now
        self._elapsed_ns = 0 if leap else self._elapsed_ns - self._period_ns  # else in step
        self._action()
        return True
