"""SIGINT / SIGTERM for a process that runs rclpy: a flag, not an exception thrown into ROS calls."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopSignals:
    """SIGINT / SIGTERM noted in a flag instead of a ``KeyboardInterrupt`` thrown into whatever code runs.

    Install it before ``rclpy.init()``: rclpy's handler chains to this one and shuts the context down, so ``spin``
    ends; the flag tells ``main`` that an error raised by the shutdown race (Humble's RCLError "context is not
    valid", or a pybind11 RuntimeError for an interrupt inside ``take_message``, both seen on real Humble) is a
    requested stop. Ctrl-C under ``ros2 launch`` arrives twice (terminal and launch): :meth:`ignore_further`
    keeps the second from interrupting the clean-up.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    @classmethod
    def install(cls) -> StopSignals:
        """Handlers for SIGINT and SIGTERM that set the flag (call from the main thread)."""
        stop = cls()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop._note)
        return stop

    def _note(self, signum: int, frame: Any) -> None:
        self._event.set()

    @property
    def received(self) -> bool:
        """True once SIGINT or SIGTERM arrived."""
        return self._event.is_set()

    def ignore_further(self) -> None:
        """Ignore SIGINT from now on (shutting down; SIGTERM still ends the process via rclpy's chain)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
