"""The ROS clock going back (``use_sim_time``: a bag played with ``--clock --loop``, a simulator reset): a new start.

Stamps alone must go back more than :data:`~mono_depth_ros.core.scale.recovery.TIME_JUMP_BACK_NS` (1 s) to reset
the scale filter: a recording with a single late stamp is no reset. A bag shorter than that, looped, went back less
at every pass, and the scale filter carried the last pass's state into the next (the second pass's depth 4 % off the
first's, and off the bag runner's). The ROS clock itself going back is no late stamp: tf2_ros' C++ buffer clears
itself on any jump back of its clock. :class:`ClockWentBack` hears the node clock's jumps back (an rclpy jump
callback) and tells the worker, at the first frame stamped before the frame it processed last (frames of the old pass
still in flight are not the new start), to forget what the pipeline holds of time (``on_new_pass``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ClockWentBack:
    """Marks a jump back of the ROS clock; :meth:`frame` calls ``on_new_pass`` at the first frame of the new pass.

    Args:
        on_new_pass: what to forget (the node: the pipeline's scale and temporal filter state).

    Thread-safe: :meth:`on_jump` runs in the executor (with the ``/clock`` message), :meth:`frame` in the worker.

    Attributes:
        new_passes: how many times ``on_new_pass`` was called.
    """

    def __init__(self, on_new_pass: Callable[[], Any]) -> None:
        self._on_new_pass = on_new_pass
        self._lock = threading.Lock()
        self._jumped = False  # the clock went back since the last new pass
        self._last_ns: int | None = None  # the stamp of the frame processed last
        self._handle: Any = None  # rclpy's JumpHandle (kept: the registration lives with it)
        self.new_passes = 0

    @classmethod
    def attach(cls, clock: Any, threshold: Any, duration: Any, on_new_pass: Callable[[], Any]) -> ClockWentBack:
        """One registered on ``clock`` (rclpy's ``Clock``: ``create_jump_callback``) for any jump back of it;
        ``threshold`` and ``duration`` are rclpy's ``JumpThreshold`` and ``Duration`` classes."""
        watch = cls(on_new_pass)
        any_back = threshold(min_forward=None, min_backward=duration(nanoseconds=-1), on_clock_change=False)
        watch._handle = clock.create_jump_callback(any_back, post_callback=watch.on_jump)
        return watch

    def on_jump(self, jump: Any) -> None:
        """rclpy's post-jump callback (``TimeJump``: ``delta.nanoseconds``): a jump back is remembered."""
        if int(jump.delta.nanoseconds) < 0:
            with self._lock:
                self._jumped = True

    def frame(self, stamp_ns: int) -> bool:
        """A frame stamped ``stamp_ns`` is about to be processed (in order); returns True when it starts a new pass
        (the clock went back and this stamp is before the last frame's), after ``on_new_pass``."""
        with self._lock:
            new_pass = self._jumped and self._last_ns is not None and int(stamp_ns) < self._last_ns
            if new_pass:
                self._jumped = False
                self.new_passes += 1
            self._last_ns = int(stamp_ns)
        if new_pass:
            self._on_new_pass()
        return new_pass
