"""What a scan's sweep middle costs the node's LiDAR road when it is read twice, against once.

The node's ``LidarFeed.add_scan`` pairs every scan by the middle of its sweep
(:func:`~mono_depth_ros.adapters.messages.sweep_middle_offset_ns`: every point's time read), and the worker's
:func:`~mono_depth_ros.adapters.messages.decode_scan` of the scan paired read every point's time again for
``Scan.sweep_middle_ns``; it now takes it from the pairing stamp (``paired_ns``). This builds one 128x1024 Ouster
cloud as ouster-ros publishes it (x y z intensity t reflectivity ring ambient range: the test/lidar_sweep.py layout,
``t`` UINT32 ns over a 100 ms sweep, every 7th point a no-return at (0, 0, 0)) and times, alternating in the same
process, the pairing read plus the decode as it was (``twice``) and as it is (``once``). Prints ms per cloud and the
ratio. Usage::

    .venv/bin/python bench/bench_sweep_middle.py [--clouds 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.adapters.messages import decode_scan, sweep_middle_offset_ns  # noqa: E402
from mono_depth_ros.core.ros_msgs import make_header, pointcloud2_from_structured, stamp_to_ns  # noqa: E402
from test.core.ros_msg_support import rosbags_factory  # noqa: E402
from test.lidar_sweep import SWEEP_NS, layout_dtype  # noqa: E402

BEAMS, COLUMNS = 128, 1024


def ouster_cloud() -> Any:
    """One organized 128x1024 Ouster cloud stamped at its sweep's start."""
    rng = np.random.default_rng(0)
    points = np.zeros(BEAMS * COLUMNS, dtype=layout_dtype("ouster"))
    for axis in "xyz":
        points[axis] = rng.uniform(-50.0, 50.0, points.size).astype(np.float32)
        points[axis][::7] = 0.0  # no return
    points["t"] = np.tile(np.linspace(0, SWEEP_NS, COLUMNS, dtype=np.uint32), BEAMS)
    factory = rosbags_factory("humble")
    header = make_header(factory, 1_700_000_000_000_000_000, "os_sensor")
    return pointcloud2_from_structured(factory, header, points, BEAMS, COLUMNS, is_dense=False)


def per_cloud_s(cloud: Any, clouds: int, once: bool) -> float:
    """Seconds per cloud: the pairing read, then the decode (``once``: given the pairing stamp)."""
    started = time.perf_counter()
    for _ in range(clouds):
        paired_ns = stamp_to_ns(cloud.header.stamp) + sweep_middle_offset_ns(cloud)  # node: LidarFeed.add_scan
        decode_scan(cloud, paired_ns=paired_ns) if once else decode_scan(cloud)  # node: LidarFeed.scan_input
    return (time.perf_counter() - started) / clouds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clouds", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cloud = ouster_cloud()
    paired_ns = stamp_to_ns(cloud.header.stamp) + sweep_middle_offset_ns(cloud)
    middle_ns = decode_scan(cloud, paired_ns=paired_ns).sweep_middle_ns
    assert middle_ns == decode_scan(cloud).sweep_middle_ns != 0, middle_ns  # the same value on both
    per_cloud_s(cloud, 5, True)  # warm
    times: dict[str, list[float]] = {"twice": [], "once": [], "read": []}
    for _ in range(args.repeats):
        times["twice"].append(per_cloud_s(cloud, args.clouds, once=False))
        times["once"].append(per_cloud_s(cloud, args.clouds, once=True))
        started = time.perf_counter()
        for _ in range(args.clouds):
            sweep_middle_offset_ns(cloud)
        times["read"].append((time.perf_counter() - started) / args.clouds)
    ms = {name: statistics.median(values) * 1000.0 for name, values in times.items()}
    print(f"{BEAMS}x{COLUMNS} Ouster cloud ({len(cloud.data) / 1e6:.1f} MB), {args.clouds} clouds x {args.repeats}")
    print(f"one sweep-middle read:                      {ms['read']:.3f} ms")
    print(f"pairing read + decode, read twice (before): {ms['twice']:.3f} ms/cloud")
    print(f"pairing read + decode, read once (after):   {ms['once']:.3f} ms/cloud")
    print(f"ratio after / before: {ms['once'] / ms['twice']:.3f} ({ms['twice'] - ms['once']:+.3f} ms/cloud saved)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
