"""A node constructor that raises destroys what it made before its error goes on (ROS-free: duck-typed node).

A bad parameter at start-up (``ConfigError``), missing weights (``CheckpointError``) or any other failure after
``rclpy.node.Node.__init__`` has made the rcl node, its parameter services, the ``/parameter_events`` and ``/rosout``
publishers, and whatever the constructor made after them (publishers, timers, clock callbacks): rclpy frees those in
``destroy_node`` only. Raised from the constructor, the node is no longer the caller's to destroy (it never got it),
and the exception's traceback holds the constructor's frame and with it the node, which then stayed in the ROS
graph, under its name, until the garbage collector met the cycle (a process that handles the error and goes on: a
test, a program embedding the node, a second attempt with corrected parameters under the same name).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["destroyed_on_failure"]


@contextmanager
def destroyed_on_failure(node: Any) -> Iterator[None]:
    """Within: an exception (any, ``KeyboardInterrupt`` too) calls ``node.destroy_node()``, then propagates unchanged.

    A ``destroy_node`` that raises in its turn does not replace the start-up error (the one that names the bad
    value and its remedy): its own error is added to it as a note (Python 3.10 too: :func:`_add_note`).
    """
    try:
        yield
    except BaseException as err:
        try:
            node.destroy_node()
        except Exception as cleanup:
            failed = f"{type(cleanup).__name__}: {cleanup}"
            _add_note(err, f"(destroying the node that could not start failed too: {failed})")
        raise


def _add_note(err: BaseException, note: str) -> None:
    """``err.add_note(note)`` (Python 3.11+); on 3.10 (Humble's on Ubuntu 22.04), which has no ``add_note``, the note
    is appended to ``__notes__`` (3.11's traceback shows it; 3.10's does not) and ``err`` stays the error raised."""
    add_note = getattr(err, "add_note", None)
    if add_note is not None:
        add_note(note)
    else:
        err.__notes__ = [*getattr(err, "__notes__", []), note]
