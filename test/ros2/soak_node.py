"""Soak of the real node: ``ros2 launch`` on a real ROS 2, real KITTI frames at a camera's rate for minutes.

Every ``--sample-s`` seconds it reads the node process's resident memory and thread count (``/proc``) and the last
``/diagnostics`` status, then prints them as a table, and at the end checks that memory and threads stayed flat
after the first minute and that ``/diagnostics`` accounts for every image sent: received = published + dropped
(stale) + bad, give or take the frames in flight. On a CPU the model is slower than the camera, so most frames are
dropped from the latest-frame slot: that is the load case. Run with ROS 2 sourced and the package built beside it
(``scripts/ros2_tier.sh`` shows how), from the repository root::

    ROS_DOMAIN_ID=77 python3 -m test.ros2.soak_node [--duration-s 300] [--rate-hz 30] [--param model.weights=SLOW]

Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MIN_SAMPLES_FOR_TREND = 3
RSS_GROWTH_LIMIT_MB = 20.0  # after the first minute (allocator warm-up, caches)
DIAGNOSTICS_PERIOD_S = 1.0


def node_pid(launch_pid: int, timeout_s: float = 60.0) -> int:
    """The pid of ``mono_depth_node`` started by the ``ros2 launch`` process group ``launch_pid``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                ours = b"mono_depth_node" in cmdline and os.getpgid(int(entry.name)) == launch_pid
                if ours and b"ros2 launch" not in cmdline and b"/ros2 " not in cmdline:
                    return int(entry.name)
            except (OSError, ProcessLookupError):
                continue
        time.sleep(0.2)
    msg = f"no mono_depth_node process in process group {launch_pid} after {timeout_s:.0f} s"
    raise RuntimeError(msg)


def proc_status(pid: int) -> tuple[float, int]:
    """(resident memory in MB, thread count) of ``pid``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024.0, int(fields["Threads"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=float, default=300.0)
    parser.add_argument("--rate-hz", type=float, default=30.0)
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kitti_object_3frames/training"))
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE for the node (e.g. model.weights=)")
    args = parser.parse_args(argv)

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from test.kitti_bag import load_kitti_frames
    from test.ros2.harness import KittiFeeder, Launched, Probe, diagnostic_values, write_params

    rclpy.init()
    probe = Probe("mono_depth_soak")
    logs = Path(tempfile.mkdtemp(prefix="mono_depth_soak_"))
    extra = dict(item.split("=", 1) for item in args.param)  # strings: a float or int parameter needs YAML's type
    params = write_params(logs / "params.yaml", {"diagnostics.period_s": DIAGNOSTICS_PERIOD_S, **extra})
    launched = Launched({"device": "cpu", "use_lidar": "false", "params_file": str(params)}, logs / "node.log")
    last: dict[str, Any] = {}
    arrivals: list[float] = []  # of our /diagnostics statuses (monotonic s): their period under load
    lock = threading.Lock()

    def on_diagnostics(msg: Any) -> None:
        values = diagnostic_values(msg)
        if values is not None:
            with lock:
                last.update(values=values, level=msg.status[0].level, message=msg.status[0].message)
                arrivals.append(time.monotonic())

    probe.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    sent = 0
    rows: list[tuple[float, float, int, dict[str, str], str]] = []
    code = 0
    try:
        launched.wait_ready(probe)
        pid = node_pid(launched.process.pid)
        feeder = KittiFeeder(probe, load_kitti_frames(args.data))
        feeder.wait_connected(lidar=False)
        period_s = 1.0 / args.rate_hz
        started = time.monotonic()
        next_sample = started
        while (now := time.monotonic()) - started < args.duration_s:
            feeder.publish_image(sent, probe.now_ns())
            sent += 1
            if now >= next_sample:
                rss_mb, threads = proc_status(pid)
                with lock:
                    values, message = dict(last.get("values", {})), str(last.get("message", ""))
                rows.append((now - started, rss_mb, threads, values, message))
                counts = "  ".join(
                    f"{label} {values.get(key, '-'):>6}"
                    for label, key in (("received", "frames_received"), ("published", "frames_published"),
                                       ("dropped", "frames_dropped_stale"), ("bad", "bad_messages"), ("fps", "fps"),
                                       ("p95 ms", "latency_p95_ms"))
                )  # fmt: skip
                print(f"{now - started:6.0f} s  sent {sent:6d}  RSS {rss_mb:7.1f} MB  threads {threads:3d}  {counts}  "
                      f"| {message}", flush=True)  # fmt: skip
                next_sample += args.sample_s
            time.sleep(max(0.0, started + sent * period_s - time.monotonic()))
        time.sleep(3.0)  # the frames in flight, and two more /diagnostics
        rss_mb, threads = proc_status(pid)
        with lock:
            values = dict(last.get("values", {}))
        rows.append((time.monotonic() - started, rss_mb, threads, values, str(last.get("message", ""))))
        code = report(rows, sent, arrivals)
    finally:
        exit_code = launched.stop(signal.SIGINT)
        print(f"ros2 launch exit code after SIGINT: {exit_code}; log: {launched.log_path}")
        probe.close()
        rclpy.try_shutdown()
    return code or (1 if exit_code else 0)


def report(rows: list[tuple[float, float, int, dict[str, str], str]], sent: int, arrivals: list[float]) -> int:
    """Print the checks; 1 when one fails."""
    failures = []
    gaps = [b - a for a, b in itertools.pairwise(arrivals[1:])]  # (the first one came at start-up)
    if gaps:
        print(f"/diagnostics every {sorted(gaps)[len(gaps) // 2]:.3f} s (median), at most {max(gaps):.3f} s apart")
        if max(gaps) > 2 * DIAGNOSTICS_PERIOD_S:
            failures.append(f"/diagnostics {max(gaps):.2f} s apart (period {DIAGNOSTICS_PERIOD_S} s)")
    steady = [row for row in rows if row[0] >= 60.0] or rows[-MIN_SAMPLES_FOR_TREND:]
    rss_growth = steady[-1][1] - steady[0][1]
    threads = sorted({row[2] for row in steady})
    values = rows[-1][3]
    received = int(values.get("frames_received", -1))
    accounted = sum(int(values.get(k, 0)) for k in ("frames_published", "frames_dropped_stale", "bad_messages"))
    print(f"\nsent {sent}, received {received}, published + dropped + bad {accounted}")
    print(f"RSS {steady[0][1]:.1f} -> {steady[-1][1]:.1f} MB ({rss_growth:+.1f}) from {steady[0][0]:.0f} s on")
    print(f"threads {threads}")
    if rss_growth > RSS_GROWTH_LIMIT_MB:
        failures.append(f"RSS grew {rss_growth:.1f} MB after the first minute")
    if len(threads) != 1:
        failures.append(f"thread count changed: {threads}")
    if not 0 <= received - accounted <= 2:  # a frame in compute and one in the hand-off
        failures.append(f"/diagnostics does not account for the frames: {received} received, {accounted} accounted")
    if received > sent:
        failures.append(f"more frames received ({received}) than sent ({sent})")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
