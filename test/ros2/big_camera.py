"""A big, fast camera into the real node: ``ros2 launch`` on a real ROS 2, W x H rgb8 (or JPEG) images at a rate.

Publishes a synthetic W x H rgb8 ``Image`` (or, with ``--compressed``, its JPEG as ``CompressedImage``) and its
``CameraInfo`` (same stamp) at ``--rate-hz`` with the publisher QoS ``--camera-qos`` (a reliable driver such as most
camera drivers, or best effort), to the node launched with ``input_qos`` ``--node-qos``, for ``--duration-s``. Every
``--sample-s`` it prints the node's resident memory, its CPU use and the last ``/diagnostics`` counts; at the end the
busiest threads, the output sizes, and a check that ``/diagnostics`` accounts for the images sent: received (those
that reached the node) + images_missing (their camera_info came, they did not: lost in transport or dropped from
the subscription's history) covers at least 90% of them (the rest: the last second, images before the first one).
Speed figures are printed, not checked. Run with ROS 2 sourced and the package built beside it
(``scripts/ros2_tier.sh`` shows how), from the repository root::

    ROS_DOMAIN_ID=77 python3 -m test.ros2.big_camera --width 3840 --height 2160 --rate-hz 30 --node-qos reliable

Exit code 1 when the check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ACCOUNTED_SHARE = 0.9


def synthetic_rgb(width: int, height: int) -> np.ndarray:
    """A smooth colour ramp with a little noise (compresses like a camera frame, not like noise or a flat image)."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], axis=-1).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 20, rgb.shape, dtype=np.uint8)
    return np.minimum(rgb.astype(np.uint16) + noise, 255).astype(np.uint8)


def cpu_s(pid: int, task: str = "") -> float:
    """User + system CPU seconds of ``pid`` (or of its thread ``task``)."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu(pid: int) -> dict[str, tuple[str, float]]:
    """Thread id -> (name, CPU seconds) of ``pid``."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
            out[task] = (name, cpu_s(pid, task))
        except OSError:
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--rate-hz", type=float, default=30.0)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--camera-qos", choices=("reliable", "sensor_data"), default="reliable")
    parser.add_argument("--node-qos", choices=("reliable", "sensor_data"), default="sensor_data")
    parser.add_argument("--compressed", action="store_true", help="publish JPEG CompressedImage (quality 90)")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE for the node")
    args = parser.parse_args(argv)

    import cv2
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CompressedImage, Image, PointCloud2

    from mono_depth_ros.core import ros_msgs
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from test.ros2.harness import BEST_EFFORT, RELIABLE, Launched, Probe, diagnostic_values, rclpy_factory, write_params
    from test.ros2.soak_node import node_pid, proc_status

    rclpy.init()
    probe = Probe("mono_depth_big_camera")
    logs = Path(tempfile.mkdtemp(prefix="mono_depth_big_camera_"))
    extra = dict(item.split("=", 1) for item in args.param)
    values = {"diagnostics.period_s": 1.0, "input_qos": args.node_qos, **extra}
    if args.compressed:
        values["image_transport"] = "compressed"
    params = write_params(logs / "params.yaml", values)
    launched = Launched({"device": "cpu", "use_lidar": "false", "params_file": str(params)}, logs / "node.log")
    qos = RELIABLE if args.camera_qos == "reliable" else BEST_EFFORT
    factory = rclpy_factory()
    width, height = args.width, args.height
    rgb = synthetic_rgb(width, height)
    image: Any = ros_msgs.image_from_array(factory, rgb, "rgb8", ros_msgs.make_header(factory, 0, "camera_optical"))
    topic = "/camera/image_raw"
    if args.compressed:
        image = CompressedImage(format="rgb8; jpeg compressed bgr8")
        image.header.frame_id = "camera_optical"
        image.data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        topic += "/compressed"
    focal = 0.7 * width
    intrinsics = PinholeIntrinsics(focal, focal, width / 2.0, height / 2.0, width, height)
    info = ros_msgs.camera_info_from_intrinsics(factory, intrinsics, image.header)
    pub_image = probe.publisher(CompressedImage if args.compressed else Image, topic, qos)
    pub_info = probe.publisher(type(info), "/camera/camera_info", qos)
    last: dict[str, str] = {}
    sizes: dict[str, list[int]] = {"depth": [], "points": []}
    lock = threading.Lock()

    def on_diagnostics(msg: Any) -> None:
        found = diagnostic_values(msg)
        if found is not None:
            with lock:
                last.update(found)

    probe.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    # reliable readers of the outputs, as rviz2 subscribes by default
    probe.node.create_subscription(Image, "/depth/image", lambda m: sizes["depth"].append(len(m.data)), RELIABLE)
    probe.node.create_subscription(
        PointCloud2, "/depth/points", lambda m: sizes["points"].append(len(m.data)), RELIABLE
    )
    sent, code = 0, 0
    try:
        launched.wait_ready(probe, topic=topic)
        pid = node_pid(launched.process.pid)
        time.sleep(1.0)  # discovery
        size_mb = len(image.data) / 1e6
        print(f"{width}x{height} {'JPEG' if args.compressed else 'rgb8'} ({size_mb:.1f} MB) at {args.rate_hz:g} Hz, "
              f"camera {args.camera_qos}, node input_qos {args.node_qos}")  # fmt: skip
        threads0, cpu0 = threads_cpu(pid), cpu_s(pid)
        started = next_sample = time.monotonic()
        while (now := time.monotonic()) - started < args.duration_s:
            stamp = probe.now_ns()
            image.header.stamp = info.header.stamp = ros_msgs.time_from_ns(factory, stamp)
            pub_info.publish(info)
            pub_image.publish(image)
            sent += 1
            if now >= next_sample:
                with lock:
                    seen = dict(last)
                counts = "  ".join(f"{key} {seen.get(key, '-')}" for key in ("frames_received", "images_missing",
                                   "frames_published", "frames_dropped_stale", "bad_messages", "latency_p50_ms",
                                   "latency_p95_ms"))  # fmt: skip
                rss_mb, _ = proc_status(pid)
                busy = 100.0 * (cpu_s(pid) - cpu0) / max(now - started, 1e-3)
                print(f"{now - started:5.0f} s  sent {sent:5d}  RSS {rss_mb:6.0f} MB  CPU {busy:4.0f}%  {counts}")
                next_sample += args.sample_s
            time.sleep(max(0.0, started + sent / args.rate_hz - time.monotonic()))
        time.sleep(3.0)  # the last images' give-up time, and a /diagnostics or two
        elapsed = time.monotonic() - started
        threads1 = threads_cpu(pid)
        busiest = sorted(((cpu - threads0.get(t, ("", 0.0))[1], name) for t, (name, cpu) in threads1.items()))[::-1]
        print("busiest threads (CPU s):", ", ".join(f"{name} {cpu:.1f}" for cpu, name in busiest[:5]))
        print(f"node CPU {100.0 * (cpu_s(pid) - cpu0) / elapsed:.0f}% of one core, RSS {proc_status(pid)[0]:.0f} MB")
        for key, got in sizes.items():
            if got:
                print(
                    f"/depth/{'image' if key == 'depth' else 'points'}: {len(got)} messages of {got[-1] / 1e6:.2f} MB"
                )
        with lock:
            seen = dict(last)
        received, missing = int(seen.get("frames_received", 0)), int(seen.get("images_missing", 0))
        print(f"sent {sent}: received {received} + images_missing {missing} = {received + missing}")
        if received + missing < ACCOUNTED_SHARE * sent:
            print(f"FAIL: /diagnostics accounts for fewer than {ACCOUNTED_SHARE:.0%} of the images sent")
            code = 1
    finally:
        exit_code = launched.stop()
        print(f"ros2 launch exit code after SIGINT: {exit_code}; log: {launched.log_path}")
        probe.close()
        rclpy.try_shutdown()
    return code or (1 if exit_code else 0)


if __name__ == "__main__":
    sys.exit(main())
