"""Inference thread policy under load: ``model.threads`` auto against fixed settings, with busy cores beside it.

A robot's computer runs other nodes. torch's intra-op workers spin while they wait for each other, so a pool as wide
as the machine loses time to every busy core. This runs the shipped model on a real KITTI image (1242×375, output at
the network's resolution, as the node does) for each ``model.threads`` setting (0 = auto, and 1 .. the core count)
with 0, 1, ... busy background processes, each setting in a fresh interpreter (no torch setting carries over).
Each cell is measured ``--repeats`` times, the settings in a rotated order each time (a busy machine drifts), and the
median is printed. Prints wall and CPU ms per frame and, per load, how far auto is from the best fixed setting.
Usage::

    .venv/bin/python bench/bench_threads.py [--frames 40] [--repeats 3] [--loads 0,1,2] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _measure(threads: int, frames: int) -> dict[str, float]:
    """In this (fresh) interpreter: median wall and CPU ms per predict of the shipped model."""
    sys.path.insert(0, str(REPO))
    from mono_depth_ros.config import defaults
    from mono_depth_ros.models.depth_source import build_depth_source, inference_threads
    from mono_depth_ros.pipeline import output_downscale
    from test.conftest import shared_data_dir
    from test.kitti_bag import load_kitti_frames

    rgb = load_kitti_frames(shared_data_dir() / "kitti_object_3frames" / "training", ["000001"])[0].rgb
    source = build_depth_source({**defaults(), "device": "cpu", "model.threads": threads})
    assert source is not None
    image_hw = (rgb.shape[0], rgb.shape[1])
    factor = output_downscale(0, image_hw, source.network_hw(image_hw))
    out_hw = (image_hw[0] // factor, image_hw[1] // factor)
    for _ in range(3):
        source.predict(rgb, out_hw)
    walls, cpus = [], []
    for _ in range(frames):
        wall, cpu = time.perf_counter(), time.process_time()
        source.predict(rgb, out_hw)
        walls.append(1000 * (time.perf_counter() - wall))
        cpus.append(1000 * (time.process_time() - cpu))
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "used": inference_threads(threads)}


def _busy() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def _run_setting(threads: int, frames: int) -> dict[str, float]:
    code = f"import json, bench.bench_threads as b; print(json.dumps(b._measure({threads}, {frames})))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="timed predictions per setting")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per cell (median)")
    parser.add_argument("--loads", default="0,1,2", help="busy background processes, comma-separated")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--threads", default=",".join(str(n) for n in range(1, cores + 1)), help="fixed settings")
    args = parser.parse_args()
    fixed = [int(n) for n in args.threads.split(",")]
    settings = [0, *fixed]
    print(f"{cores} usable cores; shipped model on a 1242x375 KITTI image; per cell the median of {args.repeats} runs "
          f"of {args.frames} frames (each the median frame)")  # fmt: skip
    header = "".join(f"{('auto' if t == 0 else f'{t} thr'):>16}" for t in settings)
    print(f"{'busy processes':<16}{header}   auto vs best fixed")
    for load in (int(n) for n in args.loads.split(",")):
        busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(load)]
        for process in busy:
            process.start()
        try:
            runs: dict[int, list[dict[str, float]]] = {t: [] for t in settings}
            for repeat in range(args.repeats):
                for t in settings[repeat % len(settings) :] + settings[: repeat % len(settings)]:
                    runs[t].append(_run_setting(t, args.frames))
            cells = {t: {k: statistics.median(r[k] for r in runs[t]) for k in runs[t][0]} for t in settings}
        finally:
            for process in busy:
                process.terminate()
        row = "".join(f"{cells[t]['wall']:>8.1f}/{cells[t]['cpu']:<7.1f}" for t in settings)
        best = min(cells[t]["wall"] for t in fixed)
        auto = cells[0]
        print(f"{load:<16}{row}   {auto['wall'] / best:.2f} x (auto = {int(auto['used'])} thread(s))")
    print("cells: wall / CPU ms per frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
