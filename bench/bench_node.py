"""The live node's cost around the network, in real ROS 2: KITTI camera + Velodyne at 10 Hz into ``mono_depth_node``.

Needs ROS 2 sourced and the package's pip dependencies beside it (``scripts/ros2_tier.sh`` makes them; pass their
folder with ``--pydeps``, default: the newest ``~/.cache/mono_depth_ros/ros2-pydeps-*``). Per run it starts the
node of a source tree (``--tree``, default this repository; no colcon build: ``bench/node_clocks.py`` runs the
tree's ``mono_depth_ros.node.main`` with per-frame CPU clocks inside) with the shipped model, LiDAR scale on
``/lidar/points`` (static TF camera <- velodyne), ``OMP_NUM_THREADS=1`` and the node's thread policy
(``model.threads`` 0 = auto), and from this process publishes real KITTI frames (image rgb8 + camera_info + the
Velodyne scan, stamped "now", reliable) at ``--rate-hz``, subscribing to ``/depth/image`` and ``/depth/points``.
Cameras: ``kitti`` (1242x375), ``hd`` (the same frames enlarged to 1920x1080, intrinsics scaled), each at the
default output policy, and ``kitti-full`` / ``hd-full`` (``output.downscale`` 1: output at camera resolution).

After ``--warmup`` frames it measures ``--frames`` frames and prints, per run: the node process's CPU per published
frame and per frame sent (a frame the worker drops under load still costs the executor and the DDS threads) over
that window (``/proc/PID/stat``: all its threads: the executor taking and deserialising the inputs, the worker's
compute and publish threads, the DDS threads) split by thread; inside the worker, per frame (CPU of the
thread, medians): decoding the messages (image view, scan, TF lookup), the pipeline's stages, building the output
messages, and the ``publish`` calls (rclpy's conversion, serialisation and the DDS write); minor page faults per
frame (x 4 KiB = fresh memory the OS had to back) of the process and of each stage; and latency from the image
stamp to the cloud's and the depth image's arrival here (median, p95). With several ``--tree``, the trees run in
A B, B A, ... rounds and every row gets the per-round ratio (last tree / first tree: median and min-max).
``--profile DIR``: one more run per tree and camera under cProfile (worker and executor threads, on their CPU time),
stats in DIR. ``--env BENCH_NODE_CLOCK=faults``: the pipeline's stage rows read fresh pages (KiB) instead of CPU ms
(which stage allocates); ``--env NAME=VALUE`` in general sets the node's environment (``MALLOC_*`` tunables...).

    source ~/.cache/mono_depth_ros/ros2-humble/env.sh
    ROS_DOMAIN_ID=77 python3 -m bench.bench_node [--cameras kitti,hd] [--rounds 1] [--tree A --tree B]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLOCKS = Path(__file__).resolve().parent / "node_clocks.py"
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
CAMERAS = {"kitti": (None, 0), "hd": ((1920, 1080), 0), "kitti-full": (None, 1), "hd-full": ((1920, 1080), 1)}


def proc_stat(pid: int, task: str = "") -> tuple[float, int]:
    """(user + system CPU seconds, minor page faults) of ``pid`` or of its thread ``task``."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S, int(fields[7])


def tasks_stat(pid: int) -> dict[str, tuple[float, int]]:
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out[task] = proc_stat(pid, task)
        except OSError:
            continue
    return out


def default_pydeps() -> Path:
    found = sorted(Path.home().glob(".cache/mono_depth_ros/ros2-pydeps-*/.complete"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit("no ~/.cache/mono_depth_ros/ros2-pydeps-*: run scripts/ros2_tier.sh once (or pass --pydeps)")
    return found[-1].parent


class Arrivals:
    """Arrival wall time (ns, the clock the stamps come from) per header stamp, of one topic."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_stamp: dict[int, int] = {}

    def __call__(self, msg: Any) -> None:
        now = time.time_ns()
        with self.lock:
            self.by_stamp[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = now


def run_once(
    args: argparse.Namespace,
    tree: Path,
    camera: str,
    probe: Any,
    frames: list[Any],
    logs: Path,
    profile: Path | None = None,
) -> dict[str, float]:
    """One node process, warm-up then the measured window; returns the row values."""
    from test.kitti_bag import CAMERA_FRAME, LIDAR_FRAME, kitti_camera_info, velodyne_cloud
    from test.ros2.harness import RELIABLE, write_params

    downscale = CAMERAS[camera][1]
    params = {"lidar_topic": "/lidar/points", "input_qos": "reliable", "diagnostics.period_s": 1.0}
    if downscale:
        params["output.downscale"] = downscale
    params.update({k: yaml_value(v) for k, v in (item.split("=", 1) for item in args.param)})
    params_path = write_params(logs / f"{camera}.yaml", params)
    stats_path = logs / f"{camera}-{os.getpid()}-{time.monotonic_ns()}.json"
    pythonpath = f"{tree}:{os.environ.get('PYTHONPATH', '')}:{args.pydeps}"  # the tree's package first
    env = {**os.environ, **dict(item.split("=", 1) for item in args.env), "PYTHONPATH": pythonpath}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, str(CLOCKS), str(stats_path), *([str(profile)] if profile else []), "--"]
    command += ["--ros-args", "--params-file", str(params_path)]
    log = open(logs / f"{camera}.log", "wb")  # noqa: SIM115 - closed below
    node = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
    factory = probe.factory
    from mono_depth_ros.core import ros_msgs

    images = [
        ros_msgs.image_from_array(factory, f.rgb, "rgb8", ros_msgs.make_header(factory, 0, CAMERA_FRAME))
        for f in frames
    ]
    infos = [kitti_camera_info(factory, f, 0) for f in frames]
    scans = [velodyne_cloud(factory, f.scan, 0, LIDAR_FRAME) for f in frames]
    # the message classes are the probe's factory's (rclpy's): no ROS import in bench/
    image_type, cloud_type = type(images[0]), type(scans[0])
    pub_image = probe.publisher(image_type, "/camera/image_raw", RELIABLE)
    pub_info = probe.publisher(type(infos[0]), "/camera/camera_info", RELIABLE)
    pub_scan = probe.publisher(cloud_type, "/lidar/points", RELIABLE)
    clouds, depths = Arrivals(), Arrivals()
    subs = [
        probe.node.create_subscription(cloud_type, "/depth/points", clouds, RELIABLE),
        probe.node.create_subscription(image_type, "/depth/image", depths, RELIABLE),
    ]
    window: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 120.0
        while not (
            probe.node.count_subscribers("/camera/image_raw")
            and pub_scan.get_subscription_count()
            and probe.node.count_publishers("/depth/points")
            and pub_info.get_subscription_count()
        ):
            if node.poll() is not None or time.monotonic() > deadline:
                tail = (logs / f"{camera}.log").read_text()[-3000:]
                raise RuntimeError(f"node did not start ({node.poll()}): {tail}")
            time.sleep(0.1)
        time.sleep(1.0)  # start-up work done
        idle0 = (proc_stat(node.pid)[0], time.monotonic())
        time.sleep(args.idle_s)  # no input: the cost of the node's timers alone
        idle1 = (proc_stat(node.pid)[0], time.monotonic())
        window["idle"] = (idle1[0] - idle0[0]) / (idle1[1] - idle0[1])
        probe.send_static_tf(frames[0].cam_from_velo, probe.now_ns())
        time.sleep(0.5)
        period = 1.0 / args.rate_hz
        stamps: list[int] = []
        started = time.monotonic()
        for index in range(args.warmup + args.frames):
            if index == args.warmup:
                window["t0"] = (proc_stat(node.pid), tasks_stat(node.pid), time.monotonic())
            stamp = probe.now_ns()
            k = index % len(frames)
            for msg in (infos[k], images[k], scans[k]):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            pub_info.publish(infos[k])
            pub_image.publish(images[k])
            pub_scan.publish(scans[k])
            if index >= args.warmup:
                stamps.append(stamp)
            time.sleep(max(0.0, started + (index + 1) * period - time.monotonic()))
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and stamps[-1] not in clouds.by_stamp:
            time.sleep(0.02)
        window["t1"] = (proc_stat(node.pid), tasks_stat(node.pid), time.monotonic())
        rss_kib = int(
            next(
                line for line in Path(f"/proc/{node.pid}/status").read_text().splitlines() if line.startswith("VmRSS")
            ).split()[1]
        )
    finally:
        for sub in subs:
            probe.node.destroy_subscription(sub)
        for pub in (pub_image, pub_info, pub_scan):
            probe.node.destroy_publisher(pub)
        if node.poll() is None:
            node.send_signal(signal.SIGINT)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
        log.close()
    inside = json.loads(stats_path.read_text())
    return summarise(args, stamps, window, inside, clouds, depths, rss_kib, node.pid)


def yaml_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def summarise(
    args: argparse.Namespace,
    stamps: list[int],
    window: dict[str, Any],
    inside: dict[str, Any],
    clouds: Arrivals,
    depths: Arrivals,
    rss_kib: int,
    pid: int,
) -> dict[str, float]:
    (cpu0, flt0), tasks0, _ = window["t0"]
    (cpu1, flt1), tasks1, _ = window["t1"]
    published = [s for s in stamps if s in clouds.by_stamp]
    n = max(1, len(published))
    row: dict[str, float] = {
        "frames sent": len(stamps),
        "clouds received": len(published),
        "node CPU ms/frame": (cpu1 - cpu0) * 1e3 / n,
        "node CPU ms per frame sent": (cpu1 - cpu0) * 1e3 / max(1, len(stamps)),
        "node fresh pages KiB/frame": (flt1 - flt0) * PAGE_KIB / n,
        "node CPU with no input, ms per s": window["idle"] * 1e3,
    }
    roles = {str(tid): role for role, tid in inside["threads"].items()}
    roles[str(pid)] = "executor"
    by_role: dict[str, float] = defaultdict(float)
    for task, (cpu, _) in tasks1.items():
        by_role[roles.get(task, "other threads")] += cpu - tasks0.get(task, (0.0, 0))[0]
    for role in ("executor", "compute", "publish", "other threads"):
        row[f"thread {role} CPU ms/frame"] = by_role[role] * 1e3 / n
    for role in ("executor", "other threads"):  # these receive every frame sent, published or not
        row[f"thread {role} CPU ms per frame sent"] = by_role[role] * 1e3 / max(1, len(stamps))
    records = [inside["records"][str(s)] for s in published if str(s) in inside["records"]]
    if records:
        med = lambda key: statistics.median(r.get(key, 0.0) for r in records)  # noqa: E731
        row["decode (image, scan, TF) CPU ms"] = med("input_cpu") * 1e3
        stages = sorted({k for r in records for k in r["timings"]})
        for stage in stages:
            row[f"pipeline {stage} CPU ms"] = statistics.median(r["timings"].get(stage, 0.0) for r in records)
        row["compute stage CPU ms"] = med("process_cpu") * 1e3
        row["output_messages CPU ms"] = med("messages_cpu") * 1e3
        row["publish calls CPU ms"] = (med("publish_stage_cpu") - med("messages_cpu")) * 1e3
        row["publish stage CPU ms"] = med("publish_stage_cpu") * 1e3
        row["compute fresh pages KiB"] = med("process_flt") * PAGE_KIB
        row["output_messages fresh pages KiB"] = med("messages_flt") * PAGE_KIB
        row["publish stage fresh pages KiB"] = med("publish_stage_flt") * PAGE_KIB
    if records and "compute_start_ns" in records[0]:
        for label, key in (
            ("compute start", "compute_start_ns"),
            ("compute end", "compute_end_ns"),
            ("publish end", "publish_end_ns"),
        ):
            row[f"latency stamp->{label} median ms"] = statistics.median(
                (inside["records"][str(s)][key] - s) / 1e6 for s in published if str(s) in inside["records"]
            )
    lat = sorted((clouds.by_stamp[s] - s) / 1e6 for s in published)
    if lat:
        row["latency stamp->cloud median ms"] = statistics.median(lat)
        row["latency stamp->cloud p95 ms"] = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
    dlat = sorted((depths.by_stamp[s] - s) / 1e6 for s in stamps if s in depths.by_stamp)
    if dlat:
        row["latency stamp->depth image median ms"] = statistics.median(dlat)
    row["RSS MiB at end"] = rss_kib / 1024
    return row


def load_frames(camera: str) -> list[Any]:
    from bench.bench_bag import enlarged
    from test.kitti_bag import load_kitti_frames

    frames = load_kitti_frames(REPO.parent / "shared/data/kitti_object_3frames/training")
    size = CAMERAS[camera][0]
    return [enlarged(f, *size) for f in frames] if size else frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="source tree whose node runs (repeat: A B rounds)")
    parser.add_argument("--cameras", default="kitti,hd", help=f"comma-separated, of {', '.join(CAMERAS)}")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--idle-s", type=float, default=3.0, help="seconds of no input measured before the frames")
    parser.add_argument("--pydeps", type=Path, default=None)
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE (YAML value) for the node")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE in the node's environment")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's row here")
    parser.add_argument("--profile", type=Path, default=None, help="also one cProfile run per tree and camera")
    args = parser.parse_args(argv)
    args.pydeps = args.pydeps or default_pydeps()
    trees = [t.resolve() for t in (args.tree or [REPO])]
    cameras = args.cameras.split(",")
    unknown = sorted(set(cameras) - set(CAMERAS))
    if unknown:
        parser.error(f"unknown camera(s) {unknown}; choose from {', '.join(CAMERAS)}")

    sys.path.append(str(args.pydeps))  # the test helpers read bags (rosbags): beside ROS's Python as for the node
    from test.ros2.harness import start_probe, stop_probe

    probe = start_probe("mono_depth_bench_node")
    logs = Path(tempfile.mkdtemp(prefix="mono_depth_bench_node_"))
    results: dict[tuple[int, str, str], dict[str, float]] = {}
    domain = os.environ.get("ROS_DOMAIN_ID")
    print(
        f"trees: {', '.join(map(str, trees))}; pydeps {args.pydeps}; logs {logs}; ROS_DOMAIN_ID {domain}; "
        f"{args.warmup} + {args.frames} frames at {args.rate_hz} Hz",
        flush=True,
    )
    try:
        frames = {camera: load_frames(camera) for camera in cameras}
        for rnd in range(args.rounds):
            order = trees if rnd % 2 == 0 else trees[::-1]
            for camera in cameras:
                for tree in order:
                    row = run_once(args, tree, camera, probe, frames[camera], logs)
                    results[(rnd, camera, str(tree))] = row
                    print(
                        f"round {rnd + 1} {camera} {tree}: CPU {row['node CPU ms/frame']:.1f} ms/frame, "
                        f"{int(row['clouds received'])}/{int(row['frames sent'])} published",
                        flush=True,
                    )
        if args.profile:
            for camera in cameras:
                for index, tree in enumerate(trees):
                    folder = args.profile / f"{camera}-{index}"
                    folder.mkdir(parents=True, exist_ok=True)
                    run_once(args, tree, camera, probe, frames[camera], logs, folder)
                    print(f"profile {camera} {tree}: {folder}", flush=True)
    finally:
        stop_probe(probe)
    if args.json:
        args.json.write_text(json.dumps([[r, c, t, row] for (r, c, t), row in results.items()]))
    print_tables(results, trees, cameras, args.rounds)
    return 0


def print_tables(
    results: dict[tuple[int, str, str], dict[str, float]], trees: list[Path], cameras: list[str], rounds: int
) -> None:
    for camera in cameras:
        keys = list(dict.fromkeys(k for (r, c, _), row in results.items() if c == camera for k in row))
        head = " | ".join(f"tree {i + 1}" for i in range(len(trees)))
        extra = " | last/first: median (min-max)" if len(trees) > 1 else ""
        print(f"\n{camera}: medians over {rounds} round(s); CPU of the node process (all its threads)\n")
        print(f"| row | {head}{extra} |")
        print("|---|" + "---:|" * len(trees) + ("---|" if extra else ""))
        for key in keys:
            cells = []
            for tree in trees:
                vals = [results[(r, camera, str(tree))].get(key) for r in range(rounds)]
                vals = [v for v in vals if v is not None]
                cells.append(f"{statistics.median(vals):.2f}" if vals else "-")
            line = f"| {key} | " + " | ".join(cells)
            if extra:
                ratios = []
                for r in range(rounds):
                    a = results[(r, camera, str(trees[0]))].get(key)
                    b = results[(r, camera, str(trees[-1]))].get(key)
                    if a and b is not None:
                        ratios.append(b / a)
                line += " | " + (
                    f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-"
                )
            print(line + " |")
    for index, tree in enumerate(trees):
        print(f"tree {index + 1}: {tree}")


if __name__ == "__main__":
    sys.exit(main())
