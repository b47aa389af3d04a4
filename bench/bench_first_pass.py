"""What reading every scan's per-point times costs the bag runner's first pass.

The first pass (:func:`~mono_depth_ros.bag.index.index_bag`) reads images and scans by their heads only; it reads
each scan whose head names a time field whole, for where that scan's sweep has its middle after its header stamp,
as ``LidarFeed.add_scan`` does for every scan the node receives. Before, it read only the first scan whole and gave its
offset to every scan. This builds a KITTI bag (../shared/data frames, repeated, each with its Velodyne scan as
velodyne_pointcloud publishes it: x y z intensity ring time, 22 bytes a point, the header at the sweep's end) and
times, alternating in the same process, the first pass as it is (``every scan``) and with the first scan's offset
given to every scan (``first scan``, the former behaviour: ``_sweep_middle_ns`` answered once). For scale, the second
pass's decode of the same scans (deserialise + ``decode_scan``, which every frame with LiDAR pays). Prints ms per
frame and the ratio. Usage::

    .venv/bin/python bench/bench_first_pass.py [--frames 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mono_depth_ros.bag.index as index_module  # noqa: E402
from mono_depth_ros.adapters.messages import decode_scan  # noqa: E402
from mono_depth_ros.bag.index import index_bag, resolve_topics  # noqa: E402
from mono_depth_ros.bag.reader import InputBag, typestore_for  # noqa: E402
from mono_depth_ros.bag.summary import BagSummary  # noqa: E402
from mono_depth_ros.core.ros_msgs import image_from_array, make_header, tf_message_from  # noqa: E402
from mono_depth_ros.demo.bag_builder import BagBuilder  # noqa: E402
from mono_depth_ros.depth_config import DepthConfig  # noqa: E402
from test.conftest import shared_data_dir  # noqa: E402
from test.kitti_bag import kitti_camera_info, load_kitti_frames  # noqa: E402
from test.lidar_sweep import SWEEP_NS, skewed_sweep, sweep_cloud  # noqa: E402

PARAMS = {"lidar_topic": "/lidar/points"}


def write_bag(path: Path, frames: int) -> int:
    """``frames`` KITTI frames at 10 Hz with their Velodyne sweeps; returns the mean scan payload (bytes)."""
    kitti = load_kitti_frames(shared_data_dir() / "kitti_object_3frames" / "training")
    sizes = []
    with BagBuilder(path) as bag:
        factory = bag.factory
        start_ns = 1_700_000_000_000_000_000
        bag.add("/tf_static", tf_message_from(factory, [kitti[0].cam_from_velo], start_ns - 1), start_ns - 1)
        for i in range(frames):
            frame, stamp_ns = kitti[i % len(kitti)], start_ns + i * SWEEP_NS
            header = make_header(factory, stamp_ns, "camera")
            bag.add("/camera/camera_info", kitti_camera_info(factory, frame, stamp_ns, "camera"), stamp_ns + 1)
            bag.add("/camera/image_raw", image_from_array(factory, frame.rgb, "rgb8", header), stamp_ns + 2)
            cloud = sweep_cloud(factory, skewed_sweep(frame, stamp_ns, 0.0, "end"), "velodyne", "velodyne")
            sizes.append(len(cloud.data))
            bag.add("/lidar/points", cloud, stamp_ns + SWEEP_NS // 2 + 5_000_000)
    return int(statistics.mean(sizes))


def first_pass_s(path: Path, first_scan_only: bool = False) -> float:
    """The first pass's wall time (s); ``first_scan_only``: the first scan's offset given to every scan."""
    whole = index_module._sweep_middle_ns
    first: list[int | None] = []

    def once(bag: InputBag, message: Any, decoded: Any = None) -> int | None:
        if not first:
            first.append(whole(bag, message, decoded))
        return first[0]

    if first_scan_only:
        index_module._sweep_middle_ns = once
    try:
        started = time.perf_counter()
        summary = BagSummary(path, path)
        with InputBag(path, typestore_for("humble")) as bag:
            topics = resolve_topics(DepthConfig.from_params(PARAMS), bag, summary)
            index_bag(bag, topics, summary, topics.all)
        return time.perf_counter() - started
    finally:
        index_module._sweep_middle_ns = whole


def scan_decode_s(path: Path) -> float:
    """What the second pass spends decoding the same scans (every frame with LiDAR pays it)."""
    started = time.perf_counter()
    with InputBag(path, typestore_for("humble")) as bag:
        for message in bag.messages({"/lidar/points"}, heads={"/lidar/points"}):
            decode_scan(bag.deserialize(message), message.msgtype)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in"
        scan_bytes = write_bag(path, args.frames)
        first_pass_s(path)  # warm: codecs generated, the file in the page cache
        times: dict[str, list[float]] = {"first scan": [], "every scan": [], "decode": []}
        for _ in range(args.repeats):
            times["first scan"].append(first_pass_s(path, first_scan_only=True))
            times["every scan"].append(first_pass_s(path))
            times["decode"].append(scan_decode_s(path))
    ms = {name: statistics.median(values) * 1000.0 / args.frames for name, values in times.items()}
    print(f"{args.frames} KITTI frames, scan payload {scan_bytes / 1e6:.2f} MB (velodyne layout, per-point time)")
    print(f"first pass, the first scan's offset for every scan (before): {ms['first scan']:.2f} ms/frame")
    print(f"first pass, each scan's own offset (after):                  {ms['every scan']:.2f} ms/frame")
    print(f"ratio after / before: {ms['every scan'] / ms['first scan']:.1f}x "
          f"(+{ms['every scan'] - ms['first scan']:.2f} ms/frame)")  # fmt: skip
    print(f"second pass, decoding the same scans (for scale):            {ms['decode']:.2f} ms/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
