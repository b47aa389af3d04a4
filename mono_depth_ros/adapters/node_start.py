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
    value and its remedy): its own error is added to it as a note.
    """
    try:
        yield
    except BaseException as err:
        try:
            node.destroy_node()
        except Exception as cleanup:
            err.add_note(f"(destroying the node that could not start failed too: {type(cleanup).__name__}: {cleanup})")
        raise
