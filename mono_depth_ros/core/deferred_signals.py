"""SIGINT / SIGTERM held over a block and raised after it: for native code that clears Python errors.

OpenCV's module init (``import cv2``) runs Python code from C and clears the errors it meets, so the
``KeyboardInterrupt`` of a Ctrl-C that arrived meanwhile was cleared with them: ``ros2 run mono_depth_ros
mono_depth_node`` given a Ctrl-C 0.83-0.97 s after the node started (in the import of ``core/cloud.py``, before the node
installs its stop handlers) ignored it and started the node (seen on real Humble). Within :func:`signals_deferred`
a signal only sets a flag; after the block the handlers are put back and the signal is raised again, so it does what
it would have done (``KeyboardInterrupt``, the default SIGTERM's end of the process, a stop handler's flag).
A handler installed from C (``rclpy.init``'s, which ``signal.getsignal`` does not see) is put back too, from libc's
``sigaction``: ``signal.signal`` alone put back Python's record instead, and a program that imported the package after
``rclpy.init`` died of the next SIGTERM without its clean-up (real Humble).
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFERRED = (signal.SIGINT, signal.SIGTERM)
_SIGACTION_BYTES = 1024  # more than any libc's struct sigaction (glibc x86_64 / aarch64: 152)


def _os_handlers(signums: tuple[int, ...]) -> dict[int, ctypes.Array[ctypes.c_char]] | None:
    """The process's ``struct sigaction`` of each of ``signums``, as libc returns it (None where libc has none)."""
    try:
        sigaction = ctypes.CDLL(None, use_errno=True).sigaction
    except (OSError, AttributeError):
        return None
    saved = {}
    for signum in signums:
        saved[signum] = ctypes.create_string_buffer(_SIGACTION_BYTES)
        if sigaction(int(signum), None, saved[signum]) != 0:
            return None
    return saved


def _put_back(saved: dict[int, ctypes.Array[ctypes.c_char]]) -> None:
    sigaction = ctypes.CDLL(None, use_errno=True).sigaction
    for signum, action in saved.items():
        sigaction(int(signum), action, None)


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
    os_handlers = _os_handlers(tuple(previous))  # Python's record may not be what the OS calls: rclpy's from C
    for signum in previous:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # Python's record (what a handler from C chains to)
        if os_handlers is not None:
            _put_back(os_handlers)  # and what the OS calls
        for held in dict.fromkeys(arrived):
            signal.raise_signal(held)
