"""Depth (+ RGB) → PointCloud2 bytes at KITTI size, against a memcpy of the same output size.

Run: ``.venv/bin/python -m bench.bench_cloud [--runs N]``. Input: a synthetic 1242×375 float32 depth image (a
ground plane and walls, 5 % NaN holes, everything finite elsewhere) and a random RGB image, with KITTI's
intrinsics. Every case runs once per round, rounds interleaved, so machine load drifts hit all cases alike; the
table gives the median over the rounds of the process CPU time and of the wall time (on a busy shared machine
the wall time of the longer cases includes time slices given to other processes). The per-point Python loop is
timed on a subset of pixels (every 97th) and scaled to the full image, as the table says.
"""

from __future__ import annotations

import argparse
import math
import os
import struct
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from mono_depth_ros.core import cloud
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import CloudBuilder, organized_cloud, strided_cloud, voxel_cloud
from mono_depth_ros.core.cloud_torch import organized_cloud_torch
from mono_depth_ros.core.msg_factory import MessageFactory, make_header
from mono_depth_ros.core.ros_msgs import pointcloud2_from_cloud

INTRINSICS = PinholeIntrinsics(707.0493, 707.0493, 604.0814, 180.5066, width=1242, height=375)
LOOP_EVERY = 97  # the Python loop handles every 97th pixel; its time is scaled by the pixel ratio


def synthetic_frame(seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """(375, 1242) float32 depth in metres (ground plane below the horizon, walls above, 5 % NaN) and RGB uint8."""
    rng = np.random.default_rng(seed)
    h, w = INTRINSICS.height, INTRINSICS.width
    v = np.arange(h, dtype=np.float64)[:, None] - INTRINSICS.cy
    u = np.arange(w, dtype=np.float64)[None, :] - INTRINSICS.cx
    ground = np.where(v > 1, 1.65 * INTRINSICS.fy / np.maximum(v, 1), np.inf)  # camera 1.65 m above a flat road
    walls = np.where(np.abs(u) > 1, 8.0 * INTRINSICS.fx / np.maximum(np.abs(u), 1), np.inf)  # walls 8 m to each side
    depth = np.minimum(np.minimum(ground, walls), 80.0).astype(np.float32)
    depth[rng.random((h, w)) < 0.05] = np.nan
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return depth, rgb


def python_loop(depth: npt.NDArray[np.float32], rgb: npt.NDArray[np.uint8], pixels: list[tuple[int, int]]) -> bytes:
    """The straightforward version: one struct.pack_into per point (XYZRGB layout)."""
    fx, fy, cx, cy = INTRINSICS.fx, INTRINSICS.fy, INTRINSICS.cx, INTRINSICS.cy
    buf = bytearray(32 * len(pixels))
    for i, (v, u) in enumerate(pixels):
        d = float(depth[v, u])
        if math.isfinite(d) and d > 0:
            x, y, z = (u - cx) * d / fx, (v - cy) * d / fy, d
        else:
            x = y = z = math.nan
        r, g, b = (int(c) for c in rgb[v, u])
        struct.pack_into("<3f4xI12x", buf, 32 * i, x, y, z, (r << 16) | (g << 8) | b)
    return bytes(buf)


def numpy_only(builder: CloudBuilder, depth: npt.NDArray[np.float32], rgb: npt.NDArray[np.uint8]) -> None:
    """The organized XYZRGB path with OpenCV switched off (what a pip install without the ``cv`` extra runs)."""
    saved = cloud._CV2
    cloud._CV2 = None
    try:
        builder.organized(depth, INTRINSICS, rgb)
    finally:
        cloud._CV2 = saved


def cloud_message(builder: CloudBuilder, factory: MessageFactory, depth: npt.NDArray[np.float32],
                  rgb: npt.NDArray[np.uint8]) -> object:  # fmt: skip
    """What the node and the bag runner publish: the organized XYZRGB cloud as a PointCloud2 message."""
    return pointcloud2_from_cloud(factory, make_header(factory, 0, "camera_optical_frame"), builder.organized(
        depth, INTRINSICS, rgb))  # fmt: skip


def _factories() -> tuple[MessageFactory, MessageFactory]:
    """rosbags (numpy ``uint8[]``, the bag runner) and rclpy-style (``array.array``, the node) message factories."""
    from rosbags.typesys import Stores, get_typestore

    from test.core.ros_msg_support import rclpy_style_factory

    return MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE)), rclpy_style_factory()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="rounds (each case once per round); median reported")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the torch row is the CPU fallback of a GPU path; threads only add contention here

    depth, rgb = synthetic_frame()
    n_pixels = depth.size
    bytes_xyzrgb = n_pixels * 32
    bytes_xyz = n_pixels * 16
    src_xyzrgb, dst_xyzrgb = np.ones(bytes_xyzrgb, np.uint8), np.empty(bytes_xyzrgb, np.uint8)
    src_xyz, dst_xyz = np.ones(bytes_xyz, np.uint8), np.empty(bytes_xyz, np.uint8)
    builder, builder_xyz, builder_np, builder_msg = CloudBuilder(), CloudBuilder(), CloudBuilder(), CloudBuilder()
    rosbags_factory, rclpy_factory = _factories()
    flat = np.arange(0, n_pixels, LOOP_EVERY)
    loop_pixels = [(int(i) // depth.shape[1], int(i) % depth.shape[1]) for i in flat]
    depth_t, rgb_t, k_t = torch.from_numpy(depth), torch.from_numpy(rgb), torch.from_numpy(INTRINSICS.matrix)

    strided = strided_cloud(depth, INTRINSICS, 4, rgb)
    voxels = voxel_cloud(depth, INTRINSICS, 0.1, rgb)
    # (name, output description, baseline key, function)
    cases: list[tuple[str, str, str, Callable[[], object]]] = [
        ("memcpy (np.copyto), XYZRGB size", f"{bytes_xyzrgb / 1e6:.1f} MB", "rgb",
         lambda: np.copyto(dst_xyzrgb, src_xyzrgb)),
        ("memcpy (np.copyto), XYZ size", f"{bytes_xyz / 1e6:.1f} MB", "xyz", lambda: np.copyto(dst_xyz, src_xyz)),
        ("organized XYZ, CloudBuilder", "375×1242 × 16 B", "xyz", lambda: builder_xyz.organized(depth, INTRINSICS)),
        ("organized XYZRGB, CloudBuilder", "375×1242 × 32 B", "rgb", lambda: builder.organized(depth, INTRINSICS, rgb)),
        ("organized XYZRGB, CloudBuilder + .tobytes()", "bytes object", "rgb",
         lambda: builder.organized(depth, INTRINSICS, rgb).tobytes()),
        ("organized XYZRGB → PointCloud2, rosbags (bag runner)", "message, numpy data", "rgb",
         lambda: cloud_message(builder_msg, rosbags_factory, depth, rgb)),
        ("organized XYZRGB → PointCloud2, rclpy style (node)", "message, array.array data", "rgb",
         lambda: cloud_message(builder_msg, rclpy_factory, depth, rgb)),
        ("organized XYZRGB, organized_cloud() (fresh scratch)", "375×1242 × 32 B", "rgb",
         lambda: organized_cloud(depth, INTRINSICS, rgb)),
        ("organized XYZRGB, numpy only (no OpenCV)", "375×1242 × 32 B", "rgb",
         lambda: numpy_only(builder_np, depth, rgb)),
        ("organized XYZRGB, torch CPU + .numpy()", "(465750, 8) f32", "rgb",
         lambda: organized_cloud_torch(depth_t, k_t, rgb_t).numpy()),
        ("strided 4, XYZRGB", f"{strided.width} points", "rgb", lambda: strided_cloud(depth, INTRINSICS, 4, rgb)),
        ("voxel 0.1 m, XYZRGB", f"{voxels.width} points", "rgb", lambda: voxel_cloud(depth, INTRINSICS, 0.1, rgb)),
        (f"per-point Python loop (1/{LOOP_EVERY} of pixels, scaled ×{n_pixels / len(loop_pixels):.1f})",
         "XYZRGB", "rgb", lambda: python_loop(depth, rgb, loop_pixels)),
    ]  # fmt: skip
    scale = {name: 1.0 for name, *_ in cases}
    scale[cases[-1][0]] = n_pixels / len(loop_pixels)

    cpu_ms: dict[str, list[float]] = {name: [] for name, *_ in cases}
    wall_ms: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for fn in (c[3] for c in cases):
        fn()  # warm-up: caches, scratch and output buffers, allocator
    for _ in range(args.runs):
        for name, _, _, fn in cases:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            fn()
            wall_ms[name].append((time.perf_counter() - wall0) * 1e3 * scale[name])
            cpu_ms[name].append((time.process_time() - cpu0) * 1e3 * scale[name])
    cpu = {name: float(np.median(t)) for name, t in cpu_ms.items()}
    wall = {name: float(np.median(t)) for name, t in wall_ms.items()}
    cpu_base = {"rgb": cpu[cases[0][0]], "xyz": cpu[cases[1][0]]}
    wall_base = {"rgb": wall[cases[0][0]], "xyz": wall[cases[1][0]]}

    print(f"# depth + RGB → PointCloud2 bytes, {INTRINSICS.width}×{INTRINSICS.height}, median of {args.runs} rounds")
    print(
        f"numpy {np.__version__}, OpenCV {cloud._CV2.__version__ if cloud._CV2 is not None else 'absent'}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} thread), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}. CPU = process CPU time (all threads; immune to time slices lost "
        f"to other processes on a shared machine), wall = elapsed time.\n"
    )
    print("| case | output | CPU ms | × memcpy | wall ms | × memcpy (wall) |")
    print("|---|---|---:|---:|---:|---:|")
    for name, output, key, _ in cases:
        print(
            f"| {name} | {output} | {cpu[name]:.3f} | {cpu[name] / cpu_base[key]:.2f} "
            f"| {wall[name]:.3f} | {wall[name] / wall_base[key]:.2f} |"
        )
    name = "organized XYZRGB, CloudBuilder"
    print(
        f"\n{name}: {cpu[name] / cpu_base['rgb']:.2f}× a memcpy of the same size in CPU time, "
        f"{wall[name] / wall_base['rgb']:.2f}× in wall time (target: within 3×)"
    )
    for name in [c[0] for c in cases if "PointCloud2" in c[0]]:
        print(f"{name}: {cpu[name] / cpu_base['rgb']:.2f}× memcpy in CPU time (published message, one copy)")
    _node_buffer_table(args.runs)
    return 0


def _node_buffer_table(runs: int) -> None:
    """The node's cloud message (rclpy's array.array): a new array per frame against one reused FieldBuffer."""
    import resource

    from test.core.ros_msg_support import rclpy_style_factory

    factory = rclpy_style_factory()
    header = make_header(factory, 1, "camera")
    print("\n| node cloud message (XYZ organized) | size | CPU ms new array | CPU ms reused buffer | page faults |")
    print("|---|---|---:|---:|---:|")
    for width, height in ((1242, 375), (1920, 1080)):
        intrinsics = INTRINSICS.resized(width, height)
        points = CloudBuilder().organized(np.full((height, width), 5.0, np.float32), intrinsics, None)
        buffer = factory.field_buffer()
        cells: dict[str, tuple[float, float]] = {}
        for label, data_buffer in (("new", None), ("reused", buffer)):
            pointcloud2_from_cloud(factory, header, points, data_buffer)  # warm-up
            times = []
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(runs):
                cpu0 = time.process_time()
                pointcloud2_from_cloud(factory, header, points, data_buffer)
                times.append((time.process_time() - cpu0) * 1e3)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            cells[label] = (float(np.median(times)), faults / runs)
        size_mb = points.points.nbytes / 1e6
        print(
            f"| {width}×{height} | {size_mb:.1f} MB | {cells['new'][0]:.2f} | {cells['reused'][0]:.2f} "
            f"| {cells['new'][1]:.0f} new / {cells['reused'][1]:.0f} reused per frame |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
