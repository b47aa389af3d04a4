"""The node's first frames after start-up: latency and process CPU of frames 1..N after activate, per frame index.

One process is one start of the node, as a robot starts it: ``mono_depth_node`` (the shipped model, LiDAR scale on
``/lidar/points`` with the KITTI camera <- Velodyne transform in TF, ``lidar.wait_s`` 0) driven through the in-test
rclpy stand-in (``test/ros_standin.py``, as ``test/test_node.py`` drives it: the node's own code path, its raw
subscriptions' callbacks, worker thread and publishers) with real KITTI frames (rgb8 image + camera_info + the
Velodyne scan, serialised to CDR before the clock starts, 100 ms apart). Each frame is delivered (scan, camera_info,
image, as the executor would call the callbacks) after the previous one was published; its row is the wall time
from the first callback to its last output published (``/depth/points``) and the process CPU (all threads) over the
same window, and how many message types rosbags generated (de)serialisers for inside it (its own counter: the same
with any tree). ``activate``: the node's construction (configure + activate: model load, self-test, subscriptions).

The tree measured is the one this script is in; before / after of a change, rounds A B B A, through
``bench/ab_trees.py`` (it runs the script of each tree: copy this one into a tree from before it)::

    git archive BEFORE | tar -x -C /tmp/before; cp bench/bench_first_frames.py /tmp/before/bench/
    git archive AFTER | tar -x -C /tmp/after
    python bench/ab_trees.py --tree /tmp/before --tree /tmp/after --rounds 4 -- bench/bench_first_frames.py
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tree this script is in: its package and test/ (the stand-in, the KITTI loader)

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

STAMP_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000


def _counting_generations() -> list[str]:
    """The types rosbags generates code for from here on, in any typestore (appended as each is generated)."""
    from rosbags.typesys.store import Typestore

    generated: list[str] = []
    original = Typestore.get_msgdef

    def recording(self: Typestore, typename: str) -> Any:
        if typename not in self.cache:
            generated.append(typename)
        return original(self, typename)

    Typestore.get_msgdef = recording  # type: ignore[method-assign]
    return generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10, help="frames after activate")
    args = parser.parse_args(argv)

    from test import ros_standin
    from test.conftest import shared_data_dir
    from test.core.ros_msg_support import cdr_bytes, fake_to_rosbags, rclpy_style_factory
    from test.kitti_bag import kitti_camera_info, load_kitti_frames, velodyne_cloud

    kitti = shared_data_dir() / "kitti_object_3frames" / "training"
    frames = load_kitti_frames(kitti)
    for name, module in ros_standin.modules().items():
        sys.modules[name] = module
    node_module = importlib.import_module("mono_depth_ros.node")
    from mono_depth_ros.core import ros_msgs

    factory = rclpy_style_factory()
    inputs = []  # (topic, CDR bytes) per frame, made before the node starts (the helpers' serialisers too)
    for index in range(args.frames):
        frame, stamp_ns = frames[index % len(frames)], STAMP_NS + index * PERIOD_NS
        header = ros_msgs.make_header(factory, stamp_ns, frame.cam_from_velo.dst_frame)
        messages = [
            ("/lidar/points", velodyne_cloud(factory, frame.scan, stamp_ns, frame.cam_from_velo.src_frame)),
            ("/camera/camera_info", kitti_camera_info(factory, frame, stamp_ns)),
            ("/camera/image_raw", ros_msgs.image_from_array(factory, frame.rgb, "rgb8", header)),
        ]
        inputs.append([(topic, cdr_bytes(fake_to_rosbags(msg, "humble"), "humble")) for topic, msg in messages])
    transform = ros_msgs.transform_stamped_from_rigid(factory, frames[0].cam_from_velo, STAMP_NS)

    generated = _counting_generations()
    parameter = sys.modules["rclpy.parameter"].Parameter
    overrides = {"lidar_topic": "/lidar/points", "lidar.wait_s": 0.0}
    sys.modules["rclpy"].init()
    wall, cpu = time.perf_counter(), time.process_time()
    node = node_module.MonoDepthNode(parameter_overrides=[parameter(k, value=v) for k, v in overrides.items()])
    rows = [("activate", time.perf_counter() - wall, time.process_time() - cpu, len(generated))]
    node.tf_listener.buffer.set_transform(transform, "bench")  # static: /tf_static before the first frame
    points = node.publishers["depth/points"]
    try:
        for index, messages in enumerate(inputs):
            made = len(generated)
            wall, cpu = time.perf_counter(), time.process_time()
            for topic, raw in messages:
                node.subscription(topic).callback(raw)
            if len(points.wait_for(index + 1)) <= index:
                print(f"frame {index + 1} was not published", file=sys.stderr)
                return 1
            rows.append(
                (f"frame {index + 1}", time.perf_counter() - wall, time.process_time() - cpu, len(generated) - made)
            )
    finally:
        node.destroy_node()
    unused = node._stats.snapshot().unused
    if unused:
        print(f"inputs unused: {dict(unused)}", file=sys.stderr)
    print(f"the node's first {args.frames} frames after activate (KITTI 1242x375 + Velodyne, shipped model, CPU)")
    print(f"{'after start':<12}  {'wall ms':>9}  {'cpu ms':>9}  {'types made':>10}")
    for label, wall_s, cpu_s, count in rows:
        print(f"{label:<12}  {1000 * wall_s:9.1f}  {1000 * cpu_s:9.1f}  {count:10d}")
    steady = np.median([row[1] for row in rows[3:]]) if len(rows) > 3 else float("nan")
    print(f"(median wall of frames 3..{args.frames}: {1000 * steady:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
