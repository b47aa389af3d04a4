"""In-process probe for ``test.ros2.soak_live``: put this folder first on ``PYTHONPATH`` and set
``MONO_DEPTH_SOAK_PROBE=FILE``; every ``MONO_DEPTH_SOAK_PROBE_S`` s (default 5) a daemon thread writes one JSON line
to FILE: the length of every container (list, tuple, dict, set, deque) reachable from the running
``MonoDepthNode`` through attributes and container values, up to a depth, keyed by its attribute path. The soak
compares the first and last lines: a path whose length grows with the frames is a leak. Only in the node's process
(it waits for ``mono_depth_ros.node`` to be imported); elsewhere it does nothing."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from typing import Any

MAX_DEPTH = 7
MAX_ELEMENTS = 64  # containers longer than this are measured, not entered


def _children(obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [(f"[{k!r}]"[:60], v) for k, v in list(obj.items())[:MAX_ELEMENTS]]
    if isinstance(obj, (list, tuple, deque)):
        return [(f"[{i}]", v) for i, v in enumerate(list(obj)[:MAX_ELEMENTS])]
    found: list[tuple[str, Any]] = []
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        found += [(f".{k}", v) for k, v in list(attrs.items())]
    for slot in getattr(type(obj), "__slots__", ()) or ():
        if isinstance(slot, str) and hasattr(obj, slot):
            found.append((f".{slot}", getattr(obj, slot)))
    return found


def _interesting(obj: Any) -> bool:
    module = getattr(type(obj), "__module__", "") or ""
    return module.startswith(("mono_depth_ros", "rclpy", "tf2_ros", "message_filters", "collections"))


def sizes(root: Any) -> dict[str, int]:
    """Container lengths reachable from ``root`` (path -> len)."""
    out: dict[str, int] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("node", root, 0)]
    while stack:
        path, obj, depth = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, bytearray, int, float, type)) or depth > MAX_DEPTH:
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, tuple, dict, set, frozenset, deque)):
            bounded = isinstance(obj, deque) and obj.maxlen is not None
            out[path + (f" (maxlen {obj.maxlen})" if bounded else "")] = len(obj)
            if len(obj) > MAX_ELEMENTS or isinstance(obj, (set, frozenset)):
                continue
        elif not _interesting(obj) and depth > 0:
            continue
        if type(obj).__module__ == "numpy":
            continue
        try:
            stack.extend((path + name, child, depth + 1) for name, child in _children(obj))
        except (RuntimeError, ReferenceError):  # changed while read: the next sample
            continue
    return out


def _run(path: str, period_s: float) -> None:
    while "mono_depth_ros.node" not in sys.modules:
        time.sleep(0.5)
    import gc

    node_module = sys.modules["mono_depth_ros.node"]
    root = None
    with open(path, "a") as out:
        while True:
            time.sleep(period_s)
            if root is None:
                found = [o for o in gc.get_objects() if isinstance(o, node_module.MonoDepthNode)]
                if not found:
                    continue
                root = found[0]
            try:
                sample = sizes(root)
            except Exception as err:  # a probe must not end the node
                sample = {"_error": 1, repr(err)[:80]: 1}
            out.write(json.dumps({"t": time.monotonic(), "sizes": sample}) + "\n")
            out.flush()


if os.environ.get("MONO_DEPTH_SOAK_PROBE"):
    threading.Thread(
        target=_run,
        args=(os.environ["MONO_DEPTH_SOAK_PROBE"], float(os.environ.get("MONO_DEPTH_SOAK_PROBE_S", "5"))),
        daemon=True,
        name="soak-probe",
    ).start()
