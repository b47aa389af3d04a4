"""Runs ``mono_depth_node`` with per-frame CPU clocks inside the node process (for ``bench/bench_node.py``).

Started by bench_node as a script (``python3 bench/node_clocks.py STATS.json [PROFILE_DIR] -- ROS_ARGS...``) with
the tree under test first on ``PYTHONPATH``: the node, pipeline and adapters imported are that tree's. Before the
node is made it wraps, on the class, ``MonoDepthNode._frame_input`` (decoding the messages, the LiDAR scan and its
TF), ``_process`` (that + the pipeline) and ``_publish`` (building the output messages, ``output_messages``, and the
``publish`` calls), each timed with ``time.thread_time`` (CPU of the thread it runs in: the worker's compute and
publish threads) and with the thread's minor page faults (``getrusage(RUSAGE_THREAD)``). The pipeline's and the
inference module's stage clocks (``time.perf_counter``) read ``time.thread_time`` too, so ``timings_ms`` are the
compute thread's CPU per stage. Nothing else changes. On exit it writes, as JSON, one record per published frame
(by stamp) and the native thread ids of the two worker threads (bench_node reads their ``/proc`` CPU). With a
PROFILE_DIR, each worker thread and the executor's (main) thread run under cProfile and their stats are dumped
there (``<role>.prof``).
"""

from __future__ import annotations

import cProfile
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

RECORDS: dict[int, dict[str, Any]] = {}
THREADS: dict[str, int] = {}
PROFILES: dict[str, cProfile.Profile] = {}


class _ThreadClock:
    """``time`` as the timed modules see it: ``perf_counter`` is this thread's CPU time."""

    perf_counter = staticmethod(time.thread_time)
    perf_counter_ns = staticmethod(time.thread_time_ns)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _faults_kib() -> float:
    """This thread's minor page faults x 4 KiB / 1000: what the stage clocks read with BENCH_NODE_CLOCK=faults (their
    milliseconds are then KiB of fresh pages)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt * 4 / 1000


if os.environ.get("BENCH_NODE_CLOCK") == "faults":
    _ThreadClock.perf_counter = staticmethod(_faults_kib)  # type: ignore[assignment]
    _ThreadClock.perf_counter_ns = staticmethod(lambda: int(_faults_kib() * 1e9))  # type: ignore[assignment]


def _cpu() -> tuple[float, int]:
    """(CPU seconds, minor page faults) of the calling thread."""
    return time.thread_time(), resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def _enter(role: str, profile_dir: Path | None) -> None:
    if role not in THREADS:
        THREADS[role] = threading.get_native_id()
        if profile_dir is not None:
            PROFILES[role] = cProfile.Profile(time.thread_time)  # CPU of the thread, not wall
            PROFILES[role].enable()


def install(profile_dir: Path | None) -> None:
    """Wrap the node's worker stages (before the node is made)."""
    from mono_depth_ros import node as node_module
    from mono_depth_ros import pipeline
    from mono_depth_ros.models import inference

    pipeline.time = _ThreadClock()  # type: ignore[assignment]
    inference.time = _ThreadClock()  # type: ignore[assignment]
    cls = node_module.MonoDepthNode
    frame_input, process, publish = cls._frame_input, cls._process, cls._publish
    output_messages = node_module.messages.output_messages
    pending_input: dict[str, float] = {}  # compute thread
    pending_messages: dict[str, float] = {}  # publish thread

    def timed_frame_input(self: Any, frame: Any) -> Any:
        cpu0, flt0 = _cpu()
        out = frame_input(self, frame)
        cpu1, flt1 = _cpu()
        pending_input["input_cpu"], pending_input["input_flt"] = cpu1 - cpu0, flt1 - flt0
        return out

    def timed_process(self: Any, frame: Any) -> Any:
        _enter("compute", profile_dir)
        wall0 = time.time_ns()
        cpu0, flt0 = _cpu()
        out = process(self, frame)
        cpu1, flt1 = _cpu()
        record = RECORDS.setdefault(int(out.stamp_ns), {})
        record.update(pending_input, process_cpu=cpu1 - cpu0, process_flt=flt1 - flt0, timings=dict(out.timings_ms))
        record.update(compute_start_ns=wall0, compute_end_ns=time.time_ns())
        return out

    def timed_output_messages(*args: Any, **kwargs: Any) -> Any:
        cpu0, flt0 = _cpu()
        out = output_messages(*args, **kwargs)
        cpu1, flt1 = _cpu()
        pending_messages["messages_cpu"], pending_messages["messages_flt"] = cpu1 - cpu0, flt1 - flt0
        return out

    def timed_publish(self: Any, out: Any) -> None:
        _enter("publish", profile_dir)
        cpu0, flt0 = _cpu()
        publish(self, out)
        cpu1, flt1 = _cpu()
        record = RECORDS.setdefault(int(out.stamp_ns), {})
        record.update(publish_stage_cpu=cpu1 - cpu0, publish_stage_flt=flt1 - flt0, publish_end_ns=time.time_ns())
        record.update(pending_messages)

    cls._frame_input, cls._process, cls._publish = timed_frame_input, timed_process, timed_publish
    node_module.messages.output_messages = timed_output_messages


def main() -> int:
    stats_path = Path(sys.argv[1])
    split = sys.argv.index("--")
    profile_dir = Path(sys.argv[2]) if split > 2 else None
    install(profile_dir)
    from mono_depth_ros.node import main as node_main

    if profile_dir is not None:
        _enter("executor", profile_dir)
    code = 1
    try:
        code = node_main(["mono_depth_node", *sys.argv[split + 1 :]])
    finally:
        for role, profile in PROFILES.items():
            profile.disable()
            assert profile_dir is not None
            profile.dump_stats(str(profile_dir / f"{role}.prof"))
        stats_path.write_text(json.dumps({"threads": THREADS, "records": {str(k): v for k, v in RECORDS.items()}}))
    return code


if __name__ == "__main__":
    sys.exit(main())
