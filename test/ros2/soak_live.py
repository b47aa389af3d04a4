"""Long soak of the live node on a real ROS 2: a robot's inputs and their faults, hunting leaks and drifting counts.

Starts ``mono_depth_node`` (``ros2 launch``, the shipped model on the CPU, LiDAR scale on) and feeds it real KITTI
frames (looped) as a robot would: image + CameraInfo at ``--rate-hz``, PointCloud2 at 10 Hz, a latched /tf_static
(camera <- Velodyne) and a dynamic /tf (odom <- camera, the temporal filter's motion) at ``--tf-hz``, with, during
the run: a viewer that subscribes the outputs for 10 s every 20 s (rviz2 opening and closing a display), the LiDAR
stopping for ``--lidar-gap-s`` and coming back, the /tf publisher's node dying at 70 % of the run (and a new one at
85 %), and at the end 20 s of no input (the idle callbacks' CPU). Every ``--sample-s`` s it prints the node's RSS,
threads, CPU share, the /diagnostics counts and the depth latency (output arrival minus image stamp) of the frames
since the last sample; at the end the containers reachable from the node (``test/ros2/soak_probe``, in the node's
process) whose length grew from the middle to the end, and the checks. Run with ROS 2 and the package sourced, from the
repository root (``scripts/ros2_tier.sh`` shows how)::

    ROS_DOMAIN_ID=77 python3 -m test.ros2.soak_live [--duration-s 300] [--rate-hz 10] [--temporal on|off]

Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from test.ros2.big_camera import cpu_s
from test.ros2.soak_node import node_pid, proc_status

DIAGNOSTICS_PERIOD_S = 1.0
RSS_GROWTH_LIMIT_MB = 20.0
PROBE_DIR = Path(__file__).with_name("soak_probe")


def probe_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=float, default=300.0)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--tf-hz", type=float, default=50.0)
    parser.add_argument("--lidar-gap-s", type=float, default=30.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument("--probe-s", type=float, default=5.0, help="the in-node size probe's period")
    parser.add_argument("--temporal", choices=("on", "off"), default="on")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kitti_object_3frames/training"))
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE for the node")
    args = parser.parse_args(argv)

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    from sensor_msgs.msg import Image, PointCloud2
    from tf2_ros import TransformBroadcaster

    from mono_depth_ros.core import ros_msgs
    from mono_depth_ros.core.geometry import RigidTransform
    from test.kitti_bag import CAMERA_FRAME, load_kitti_frames
    from test.ros2.harness import RELIABLE, KittiFeeder, Launched, Probe, diagnostic_values, transform_msg, write_params

    rclpy.init()
    probe = Probe("mono_depth_soak_live")
    logs = Path(tempfile.mkdtemp(prefix="mono_depth_soak_live_"))
    probe_file = logs / "sizes.jsonl"
    os.environ["MONO_DEPTH_SOAK_PROBE"] = str(probe_file)
    os.environ["MONO_DEPTH_SOAK_PROBE_S"] = str(args.probe_s)
    os.environ["PYTHONPATH"] = f"{PROBE_DIR}:{os.environ.get('PYTHONPATH', '')}"
    extra = dict(item.split("=", 1) for item in args.param)
    params = write_params(
        logs / "params.yaml",
        {"diagnostics.period_s": DIAGNOSTICS_PERIOD_S, "temporal.enabled": args.temporal == "on",
         "temporal.fixed_frame": "odom", **extra},
    )  # fmt: skip
    launched = Launched({"device": "cpu", "lidar": "/lidar/points", "params_file": str(params)}, logs / "node.log")
    frames = load_kitti_frames(args.data)
    lock = threading.Lock()
    last: dict[str, str] = {}
    latencies: list[float] = []  # ms, of the /depth/image messages since the last sample

    def on_diagnostics(msg: Any) -> None:
        values = diagnostic_values(msg)
        if values is not None:
            with lock:
                last.clear()
                last.update(values)

    def on_depth(msg: Any) -> None:
        with lock:
            latencies.append((probe.now_ns() - ros_msgs.stamp_to_ns(msg.header.stamp)) / 1e6)

    probe.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    probe.node.create_subscription(Image, "/depth/image", on_depth, RELIABLE)
    rows: list[dict[str, Any]] = []
    code = 1
    tf_state: dict[str, Any] = {"node": None, "stop": threading.Event()}

    def tf_loop(stop: threading.Event) -> None:
        """odom <- camera: the camera moving forward at 5 m/s, from its own node (a robot's odometry)."""
        node = Node("soak_odometry")
        tf_state["node"] = node
        broadcaster = TransformBroadcaster(node)
        started_ns = probe.now_ns()
        while not stop.wait(1.0 / args.tf_hz):
            now_ns = probe.now_ns()
            z = 5.0 * (now_ns - started_ns) / 1e9
            pose = RigidTransform(((1, 0, 0), (0, 1, 0), (0, 0, 1)), (0.0, 0.0, z), "odom", CAMERA_FRAME)
            broadcaster.sendTransform(transform_msg(pose, now_ns))
        node.destroy_node()  # the odometry's process ends: its /tf writer leaves the graph

    def start_tf() -> threading.Thread:
        tf_state["stop"] = threading.Event()
        thread = threading.Thread(target=tf_loop, args=(tf_state["stop"],), daemon=True)
        thread.start()
        return thread

    try:
        launched.wait_ready(probe)
        pid = node_pid(launched.process.pid)
        probe.send_static_tf(frames[0].cam_from_velo, probe.now_ns())
        feeder = KittiFeeder(probe, frames)
        feeder.wait_connected(lidar=True)
        tf_thread = start_tf()
        period_s = 1.0 / args.rate_hz
        lidar_every = max(1, round(args.rate_hz / 10.0))
        gap = (0.4 * args.duration_s, 0.4 * args.duration_s + args.lidar_gap_s)
        viewers: list[Any] = []
        events: list[str] = []
        sent = scans = 0
        started = time.monotonic()
        next_sample, cpu_then, t_then, published_then = started, cpu_s(pid), started, 0
        phase = {"tf_dead": False, "tf_back": False}
        while (now := time.monotonic()) - started < args.duration_s:
            t = now - started
            stamp = probe.now_ns()
            feeder.publish_image(sent, stamp)
            if sent % lidar_every == 0 and not gap[0] <= t < gap[1]:
                feeder.publish_scan(sent, stamp + 20_000_000)  # a scan stamped just after its image
                scans += 1
            sent += 1
            if int(t) % 20 < 10 and not viewers:  # a viewer opens the outputs
                viewers = [
                    probe.node.create_subscription(Image, "/depth/image", lambda _m: None, RELIABLE),
                    probe.node.create_subscription(PointCloud2, "/depth/points", lambda _m: None, RELIABLE),
                ]
            elif int(t) % 20 >= 10 and viewers:  # and closes them
                for sub in viewers:
                    probe.node.destroy_subscription(sub)
                viewers = []
            if not phase["tf_dead"] and t >= 0.7 * args.duration_s:
                tf_state["stop"].set()
                tf_thread.join(5.0)
                phase["tf_dead"] = True
                events.append(f"{t:.0f} s: /tf publisher died")
            if not phase["tf_back"] and t >= 0.85 * args.duration_s:
                tf_thread = start_tf()
                phase["tf_back"] = True
                events.append(f"{t:.0f} s: /tf publisher back")
            if now >= next_sample:
                rss_mb, threads = proc_status(pid)
                cpu_now = cpu_s(pid)
                with lock:
                    values, lat = dict(last), list(latencies)
                    latencies.clear()
                row = {"t": t, "sent": sent, "rss": rss_mb, "threads": threads,
                       "cpu": (cpu_now - cpu_then) / (now - t_then) if rows else float("nan"), "values": values,
                       "lat_med": statistics.median(lat) if lat else float("nan"),
                       "lat_p95": sorted(lat)[int(0.95 * (len(lat) - 1))] if lat else float("nan"),
                       "n": len(lat)}  # fmt: skip
                published = int(values.get("frames_published", 0))
                frames = published - published_then  # the node's CPU per frame: load-free drift (not latency)
                row["ms_frame"] = 1e3 * (cpu_now - cpu_then) / frames if rows and frames > 0 else float("nan")
                cpu_then, t_then, published_then = cpu_now, now, published
                rows.append(row)
                print_row(row, "lidar gap" if gap[0] <= t < gap[1] else "")
                next_sample += args.sample_s
            time.sleep(max(0.0, started + sent * period_s - time.monotonic()))
        for sub in viewers:
            probe.node.destroy_subscription(sub)
        time.sleep(5.0)  # the frames in flight
        with lock:
            settled = dict(last)
        idle_cpu0, idle_t0 = cpu_s(pid), time.monotonic()
        time.sleep(args.idle_s)
        tf_cpu = (cpu_s(pid) - idle_cpu0) / (time.monotonic() - idle_t0)  # no image, no scan: the /tf stream alone
        tf_state["stop"].set()
        time.sleep(2.0)
        idle_cpu0, idle_t0 = cpu_s(pid), time.monotonic()
        time.sleep(args.idle_s)
        idle_cpu = (cpu_s(pid) - idle_cpu0) / (time.monotonic() - idle_t0)  # no input at all: the idle callbacks
        print(f"node CPU with only /tf at {args.tf_hz:g} Hz: {tf_cpu:.3f} cores")
        rss_mb, threads = proc_status(pid)
        code = report(rows, settled, sent, scans, rss_mb, threads, idle_cpu, probe_lines(probe_file), events)
    finally:
        tf_state["stop"].set()
        exit_code = launched.stop(signal.SIGINT)
        print(f"ros2 launch exit code after SIGINT: {exit_code}; logs: {logs}")
        probe.close()
        rclpy.try_shutdown()
    return code or (1 if exit_code else 0)


def print_row(row: dict[str, Any], note: str) -> None:
    v = row["values"]
    counts = "  ".join(
        f"{label} {v.get(key, '-'):>6}"
        for label, key in (("recv", "frames_received"), ("pub", "frames_published"), ("drop", "frames_dropped_stale"),
                           ("bad", "bad_messages"), ("fps", "fps"))
    )  # fmt: skip
    print(f"{row['t']:6.0f} s sent {row['sent']:6d} RSS {row['rss']:7.1f} MB thr {row['threads']:3d} "
          f"cpu {row['cpu']:5.2f} ({row['ms_frame']:4.0f} ms/frame) "
          f"lat med/p95 {row['lat_med']:6.0f}/{row['lat_p95']:6.0f} ms (n {row['n']:4d}) "
          f"{counts} | {v.get('_message', '')[:70]} {note}", flush=True)  # fmt: skip


def grown_containers(before: dict[str, int], after: dict[str, int], least: int = 8) -> list[tuple[int, str]]:
    """``(growth, path)`` of the containers of the probe's sample ``after`` longer than in ``before`` (a path not
    sampled then: from 0) and at least ``least`` long, smallest growth first; a deque with a ``maxlen`` (its path says
    so: ``soak_probe``) is bounded, never listed."""
    return sorted(
        (length - before.get(path, 0), path)
        for path, length in after.items()
        if length > before.get(path, 0) and length >= least and "(maxlen " not in path
    )


def report(
    rows: list[dict[str, Any]], settled: dict[str, str], sent: int, scans: int, rss_mb: float, threads: int,
    idle_cpu: float, sizes: list[dict[str, Any]], events: list[str],
) -> int:  # fmt: skip
    """Print the summary and the checks; 1 when one fails."""
    failures: list[str] = []
    for event in events:
        print(event)
    third = max(1, len(rows) // 3)
    print("\n| | start | middle | end |\n|---|---|---|---|")
    picks = [rows[min(1, len(rows) - 1)], rows[len(rows) // 2], rows[-1]]
    print("| t (s) | " + " | ".join(f"{r['t']:.0f}" for r in picks) + " |")
    print("| RSS (MB) | " + " | ".join(f"{r['rss']:.1f}" for r in picks) + " |")
    print("| latency median (ms) | " + " | ".join(f"{r['lat_med']:.0f}" for r in picks) + " |")
    print("| latency p95 (ms) | " + " | ".join(f"{r['lat_p95']:.0f}" for r in picks) + " |")
    print("| node CPU (cores) | " + " | ".join(f"{r['cpu']:.2f}" for r in picks) + " |")
    print("| node CPU per published frame (ms) | " + " | ".join(f"{r['ms_frame']:.0f}" for r in picks) + " |")
    early = [r["lat_med"] for r in rows[1 : 1 + third] if r["n"]]
    late = [r["lat_med"] for r in rows[-third:] if r["n"]]
    received = int(settled.get("frames_received", -1))
    accounted = sum(int(settled.get(k, 0)) for k in ("frames_published", "frames_dropped_stale", "bad_messages"))
    print(f"\nsent {sent} images, {scans} scans; settled /diagnostics: received {received}, published + dropped + bad "
          f"{accounted} ({ {k: settled.get(k) for k in sorted(settled) if 'scan' in k or 'lidar' in k} })")  # fmt: skip
    print(f"idle (no input, {threads} threads): node CPU {idle_cpu:.3f} cores; RSS at the end {rss_mb:.1f} MB")
    if received != accounted:
        failures.append(f"/diagnostics: received {received} != published + dropped + bad {accounted}")
    if received > sent:
        failures.append(f"more frames received ({received}) than sent ({sent})")
    steady = rows[len(rows) // 3 :] or rows
    if steady[-1]["rss"] - steady[0]["rss"] > RSS_GROWTH_LIMIT_MB:
        failures.append(f"RSS grew {steady[-1]['rss'] - steady[0]['rss']:.1f} MB after the first third")
    if early and late and statistics.median(late) > 1.5 * statistics.median(early) + 50:
        failures.append(f"latency drifted: median {statistics.median(early):.0f} -> {statistics.median(late):.0f} ms")
    if idle_cpu > 0.05:
        failures.append(f"idle node CPU {idle_cpu:.3f} cores")
    if len(sizes) >= 3:
        mid, end = sizes[len(sizes) // 2]["sizes"], sizes[-1]["sizes"]
        grown = grown_containers(mid, end)
        print(f"\ncontainers reachable from the node: {len(end)}; grew from the middle to the end:")
        for growth, path in grown[-15:]:
            print(f"  {path}: {mid.get(path, 0)} -> {end[path]} (+{growth})")
        biggest = sorted(((n, p) for p, n in end.items()), reverse=True)[:10]
        print("largest at the end: " + ", ".join(f"{p}={n}" for n, p in biggest))
        failures += [f"{path} grew {mid.get(path, 0)} -> {end[path]}" for growth, path in grown if growth >= 16]
    for failure in failures:
        print(f"FAIL: {failure}")
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
