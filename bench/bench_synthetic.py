"""Speed of the synthetic world: camera frames/s at 192×640 and 375×1242, LiDAR scans/s, whole sequence frames/s.

Run: ``.venv/bin/python bench/bench_synthetic.py [--repeats N] [--seed S]``. Prints a table; the ``ratio``
column compares each row with the baseline measured in the same run (all camera rays against all primitives,
without the renderer's per-primitive screen-rectangle culling, at 192×640), so it is comparable across machines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from mono_depth_ros.core.geometry import pixel_rays
from mono_depth_ros.core.synthetic import SensorRig, drive_poses, iter_sequence, kitti_like_intrinsics
from mono_depth_ros.core.synthetic_world import SyntheticWorld


def _seconds_per_call(work: Callable[[int], object], repeats: int) -> float:
    work(0)  # warm-up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        work(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per row (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    world = SyntheticWorld(args.seed, length_m=300.0)
    rig = SensorRig()
    poses = drive_poses(world.road, args.repeats + 1, 8.0, 10.0)
    cams = [p @ rig.base_from_cam for p in poses]
    lidars = [p @ rig.base_from_lidar for p in poses]
    small, large = kitti_like_intrinsics(640, 192), kitti_like_intrinsics(1242, 375)

    ray_x, ray_y = pixel_rays(small)
    dirs_in_cam = np.stack(np.broadcast_arrays(ray_x[None, :], ray_y[:, None], np.float32(1.0)), -1).reshape(-1, 3)

    def all_against_all(i: int) -> object:
        return world.cast_rays(cams[i].translation, dirs_in_cam @ cams[i].rotation.astype(np.float32).T)

    def sequence_frame(_: int) -> object:
        return list(iter_sequence(args.seed, 1, small, 16, world=world))

    rows: list[tuple[str, str, Callable[[int], object]]] = [
        ("depth rays, all vs all (baseline)", "192x640", all_against_all),
        ("render rgb+depth", "192x640", lambda i: world.render(cams[i], small)),
        ("render rgb+depth", "375x1242", lambda i: world.render(cams[i], large)),
        ("lidar 16 beams, 0.2 deg", "28800 rays", lambda i: world.lidar_scan(lidars[i], beams=16)),
        ("lidar 64 beams, 0.2 deg", "115200 rays", lambda i: world.lidar_scan(lidars[i], beams=64)),
        ("sequence frame (render + 16-beam scan)", "192x640", sequence_frame),
    ]
    print(f"synthetic world: {len(world.scene.walls)} walls, {len(world.scene.boxes)} boxes, "
          f"{len(world.scene.cylinders)} poles; median of {args.repeats} calls")  # fmt: skip
    print(f"{'what':42s} {'size':>12s} {'ms/call':>9s} {'calls/s':>8s} {'per min':>8s} {'ratio':>6s}")
    baseline = None
    for name, size, work in rows:
        seconds = _seconds_per_call(work, args.repeats)
        baseline = baseline or seconds
        print(f"{name:42s} {size:>12s} {seconds * 1e3:9.1f} {1 / seconds:8.1f} {60 / seconds:8.0f} "
              f"{baseline / seconds:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
