"""SIGINT / SIGTERM held over a block and raised after it: for native code that clears Python errors.

OpenCV's module init (``import cv2``) runs Python code from C and clears the errors it meets, so the
``KeyboardInterrupt`` of a Ctrl-C that arrived meanwhile was cleared with them: ``ros2 run mono_depth_ros
mono_depth_node`` given a Ctrl-C 0.83-0.97 s after the node started (in the import of ``core/cloud.py``, before the node
installs its stop handlers) ignored it and started the node (seen on real Humble). Within :func:`signals_deferred`
a signal only sets a flag; after the block the handlers are put back and the signal is raised again, so it does what
it would have done (``KeyboardInterrupt``, the default SIGTERM's end of the process, a stop handler's flag).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFERRED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_deferred(signums: tuple[signal.Signals, ...] = DEFERRED) -> Iterator[None]:
    """Hold ``signums`` during the block, then raise each one that arrived (once, in arrival order).

    Only the main thread can set handlers: elsewhere the block runs as it is. A signal whose handler was not set
    from Python (``signal.getsignal`` is None) is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        arrived.append(signum)

    previous = {s: h for s in signums if (h := signal.getsignal(s)) is not None}
    for signum in previous:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for held in dict.fromkeys(arrived):
            signal.raise_signal(held)
