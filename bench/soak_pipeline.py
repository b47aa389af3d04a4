"""Soak: N frames through DepthPipeline + message encoding; resident memory at start, along the way and at the end.

Small synthetic frames (a sloped plane with a box), an external relative_inverse prediction with per-frame scale and
shift, a sparse LiDAR for scale recovery, an organized XYZRGB cloud and Humble message encoding (rosbags classes),
so every stage that allocates per frame runs. Every 100th frame carries a bad input (wrong prediction size) that
must be rejected with a DepthError and counted, as the node does. Usage::

    python -m bench.soak_pipeline [--frames 10000]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.config import defaults
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.geometry import RigidTransform, backproject_depth
from mono_depth_ros.core.ros_msgs import (
    MessageFactory,
    camera_info_from_intrinsics,
    depth_image_from_metres,
    make_header,
    pointcloud2_from_structured,
)
from mono_depth_ros.pipeline import DepthPipeline, FrameInput, LidarInput


def rss_mib() -> float:
    """Current resident set size (MiB) from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    args = parser.parse_args()
    intr = PinholeIntrinsics(120.0, 120.0, 63.5, 39.5, width=128, height=80)
    camera = CameraModel.from_intrinsics(intr)
    truth = np.tile(np.linspace(25.0, 3.0, intr.height, dtype=np.float32)[:, None], (1, intr.width))
    truth[20:50, 40:80] = 7.0
    cam_from_lidar = RigidTransform(np.eye(3), [0.0, 0.1, 0.0], "camera", "lidar")
    lidar_points = cam_from_lidar.inverse().apply(backproject_depth(truth, intr)[::4, ::4].reshape(-1, 3))
    rgb = np.random.default_rng(0).integers(0, 255, size=(intr.height, intr.width, 3), dtype=np.uint8)
    params = {**defaults(), "model.backend": "external", "model.output_kind": "relative_inverse", "cloud.rgb": True}
    pipeline = DepthPipeline(params)
    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))
    rng = np.random.default_rng(1)
    samples: list[tuple[int, float]] = [(0, rss_mib())]
    rejected = 0
    started = time.perf_counter()
    for i in range(args.frames):
        if i and i % (args.frames // 10 or 1) == 0:
            samples.append((i, rss_mib()))
        stamp_ns = 1_000_000_000 + i * 100_000_000
        scale, shift = rng.uniform(0.2, 2.0), rng.uniform(0.0, 0.05)
        prediction = (scale / truth + shift).astype(np.float32)
        if i % 100 == 99:
            prediction = prediction[:-1]  # a bad message: must be rejected, counted, and not leak
        frame = FrameInput(
            stamp_ns, "camera", rgb, camera, True, LidarInput(lidar_points, cam_from_lidar, stamp_ns), prediction
        )
        try:
            out = pipeline.process_frame(frame)
        except DepthError:
            rejected += 1
            continue
        header = make_header(factory, stamp_ns, out.frame_id)
        depth_image_from_metres(factory, out.depth_m, out.encoding, header)
        camera_info_from_intrinsics(factory, out.intrinsics, header)
        assert out.cloud is not None
        pointcloud2_from_structured(
            factory, header, out.cloud.points, out.cloud.height, out.cloud.width, out.cloud.is_dense
        )
    elapsed = time.perf_counter() - started
    samples.append((args.frames, rss_mib()))
    print("| frames | RSS MiB |\n|---:|---:|")
    for frames, rss in samples:
        print(f"| {frames} | {rss:.1f} |")
    growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else float("nan")
    rate = args.frames / elapsed
    print(f"\n{args.frames} frames in {elapsed:.1f} s ({rate:.0f} frames/s); rejected {rejected} bad frames")
    print(f"RSS growth after the first 10 % of the frames: {growth:+.1f} MiB")


if __name__ == "__main__":
    main()
