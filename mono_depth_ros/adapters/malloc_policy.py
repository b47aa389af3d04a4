"""Keep the memory a frame freed for the next frame (glibc's malloc), instead of faulting it in again every frame.

Each frame allocates and frees the same large buffers: the network's activations (torch's CPU allocator takes them
from ``malloc``), the decoded messages, the post-processing temporaries. glibc returns freed memory at the top of a
heap to the system once more than ``M_TRIM_THRESHOLD`` is free there, and its dynamic thresholds (twice the largest
block freed so far, at most 64 MiB) sit below a frame's working set: the shipped model's forward pass at 96x320 had
about 5.9 MB of fresh pages (1,500 minor page faults) per frame on the node's worker thread, and the same again each
frame, at a cost of 3-4 ms CPU per frame on a 2-core machine (``bench/bench_node.py``; about 22 % of ``predict``).

:func:`keep_freed_memory` sets ``M_MMAP_THRESHOLD`` to glibc's largest value (32 MiB on 64-bit: blocks below it come
from the heaps, blocks above it are mapped and unmapped as before) and ``M_TRIM_THRESHOLD`` to
:data:`TRIM_THRESHOLD_BYTES` (up to that much free memory stays in each heap for the next frame). The process then
holds its per-frame working set (up to 64 MiB of it) once instead of faulting it in again. Process-wide and once per
process; nothing is computed differently. On a C library without ``mallopt`` (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's maximum on 64-bit (HEAP_MAX_SIZE / 2); a larger value is refused
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024

_lock = threading.Lock()
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Set the malloc thresholds above (once per process); True when glibc took both.

    Called by :func:`~mono_depth_ros.adapters.model.build_pipeline`: the node and the bag runner run frames for as
    long as the process lives, and their working set repeats frame after frame.
    """
    global _applied
    with _lock:
        if _applied is None:
            _applied = _set_thresholds()
        return _applied


def _set_thresholds() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc: its allocator has its own policy
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the mmap threshold first: setting either one ends glibc's dynamic adjustment of both
    mmap_set = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return mmap_set and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
