"""Bag runner throughput and per-stage time: how much of a `mono-depth bag` run is spent outside the network.

Builds KITTI input bags (../shared/data, frames repeated, with their Velodyne scans): one at the camera's 1242×375 and
one with the same frames enlarged to 1920×1080 (intrinsics scaled with them), then runs them in the same process:

* ``unet``: the shipped model (a random-weight tiny unet at 96×320 when none ships: the same speed) on ``--device``
  with LiDAR scale recovery and the default ``output.downscale`` (auto: published at the network's resolution);
* ``unet full``: the same at camera resolution (``output.downscale=1``, the default before the output policy);
* ``external``: an external relative_inverse prediction (no network): the cost of everything around a model.

Prints ms per frame per stage (startup = model load and warm-up, index = first pass, decode, preprocess, model =
the depth source with its resizing, network = the forward pass alone, scale, postprocess, cloud, encode, write),
CPU ms per frame, and the share of each unet run's per-frame time (startup excluded) outside the network.
``--load N`` runs N busy processes beside it (a robot's computer is never idle). Usage::

    .venv/bin/python bench/bench_bag.py [--frames 12] [--device cpu] [--storage sqlite3] [--load 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag  # noqa: E402
from mono_depth_ros.bag.summary import STAGES  # noqa: E402
from test.conftest import shared_data_dir  # noqa: E402
from test.kitti_bag import KittiFrame, load_kitti_frames, write_kitti_bag  # noqa: E402


def _weights(folder: Path) -> tuple[str, str]:
    """The shipped default model if there is one, else a random-weight tiny unet (same speed)."""
    from mono_depth_ros.core.errors import CheckpointError
    from mono_depth_ros.models.depth_source import default_weights

    try:
        return str(default_weights()), "shipped default"
    except CheckpointError:
        import torch

        from mono_depth_ros.models.checkpoint import save_checkpoint
        from mono_depth_ros.models.registry import build_model
        from mono_depth_ros.models.unet import make_unet_spec

        torch.manual_seed(0)
        spec = make_unet_spec("resnet18", "tiny")
        path = save_checkpoint(folder / "tiny.safetensors", build_model(spec).state_dict(), spec)
        return str(path), "random-weight unet resnet18/tiny"


def _input_size(weights: str) -> str:
    """``HxW`` network input of a checkpoint, from its ModelSpec."""
    from mono_depth_ros.models.checkpoint import read_checkpoint_spec

    policy = read_checkpoint_spec(weights).input
    return f"{policy.height}x{policy.width}"


def enlarged(frame: KittiFrame, width: int, height: int) -> KittiFrame:
    """The frame as a ``width`` × ``height`` camera would see it (image resized, intrinsics and P scaled)."""
    import cv2

    intrinsics = frame.intrinsics.resized(width, height)
    sx, sy = width / frame.rgb.shape[1], height / frame.rgb.shape[0]
    projection = frame.projection.copy()
    projection[:, :3] = intrinsics.matrix
    projection[0, 3] *= sx
    projection[1, 3] *= sy
    rgb = np.ascontiguousarray(cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_LINEAR))
    return replace(frame, rgb=rgb, projection=projection, intrinsics=intrinsics)


def _busy() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def _run(bag: Path, out: Path, params: dict[str, Any], storage: str) -> tuple[BagSummary, float]:
    """The summary and the CPU seconds of this process during the run."""
    cpu = time.process_time()
    summary = run_bag(bag, out, params, BagRunOptions(storage=storage, progress=False))
    return summary, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=12, help="frames per bench bag (KITTI frames repeated)")
    parser.add_argument("--device", default="cpu", help="device of the unet runs")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"), help="output storage")
    parser.add_argument("--load", type=int, default=0, help="busy background processes during the runs")
    args = parser.parse_args()
    kitti = shared_data_dir() / "kitti_object_3frames" / "training"
    if not kitti.is_dir():
        print(f"KITTI frames not found at {kitti} (set MONO_DEPTH_DATA)", file=sys.stderr)
        return 1
    frames = load_kitti_frames(kitti, ["000001", "000002"])
    frames = [frames[i % len(frames)] for i in range(args.frames)]
    load = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(args.load)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_kitti_bag(folder / "kitti", frames, prediction="relative_inverse")
        write_kitti_bag(folder / "hd", [enlarged(f, 1920, 1080) for f in frames])
        print(f"input bags: {args.frames} KITTI frames + Velodyne at 1242x375 and at 1920x1080, "
              f"written in {time.perf_counter() - started:.1f} s; {args.load} busy background process(es)")  # fmt: skip
        weights, label = _weights(folder)
        lidar = {"lidar_topic": "/lidar/points", "scale.mode": "lidar"}
        unet = {**lidar, "model.weights": weights, "device": args.device, "model.golden_check": "warn"}
        external = {**lidar, "model.backend": "external", "model.output_kind": "relative_inverse"}
        plan = {
            "unet 1242x375": ("kitti", unet),
            "unet full 1242x375": ("kitti", {**unet, "output.downscale": 1}),
            "unet 1920x1080": ("hd", unet),
            "unet full 1920x1080": ("hd", {**unet, "output.downscale": 1}),
            "external 1242x375": ("kitti", external),
        }  # fmt: skip
        for process in load:
            process.start()
        try:
            runs = {name: _run(folder / bag, folder / f"out{i}", params, args.storage)
                    for i, (name, (bag, params)) in enumerate(plan.items())}  # fmt: skip
        finally:
            for process in load:
                process.terminate()
    _print(runs, f"model: {label}, network input {_input_size(weights)}; output storage {args.storage}")
    return 0


def _print(runs: dict[str, tuple[BagSummary, float]], title: str) -> None:
    print(title)
    names = list(runs)
    width = max(len(name) for name in names) + 2
    print(f"{'stage (ms/frame)':<18}" + "".join(f"{name:>{width}}" for name in names))
    for stage in STAGES:
        row = [summary.stage_ms.get(stage, 0.0) / max(summary.frames_out, 1) for summary, _ in runs.values()]
        print(f"{stage:<18}" + "".join(f"{value:>{width}.1f}" for value in row))
    wall = {name: 1000.0 * s.elapsed_s / max(s.frames_out, 1) for name, (s, _) in runs.items()}
    cpu = {name: 1000.0 * c / max(s.frames_out, 1) for name, (s, c) in runs.items()}
    print(f"{'wall total':<18}" + "".join(f"{wall[name]:>{width}.1f}" for name in names))
    print(f"{'CPU total':<18}" + "".join(f"{cpu[name]:>{width}.1f}" for name in names))
    print(f"{'frames/s':<18}" + "".join(f"{runs[name][0].fps:>{width}.2f}" for name in names))
    for name, (summary, _) in runs.items():
        if name.startswith("unet"):
            steady_ms = 1000.0 * summary.elapsed_s - summary.stage_ms["startup"]
            network = summary.stage_ms.get("network", 0.0) or summary.stage_ms["model"]
            print(f"{name}: {1.0 - network / steady_ms:.1%} of the per-frame wall time is outside the network")
    for size in ("1242x375", "1920x1080"):
        full, auto = wall.get(f"unet full {size}"), wall.get(f"unet {size}")
        if full and auto:
            print(f"{size}: the output policy costs {auto / full:.2f} x the camera-resolution run per frame")
    if wall.get("unet 1242x375") and wall.get("unet 1920x1080"):
        print(f"frame cost 1920x1080 / 1242x375 (default policy): {wall['unet 1920x1080'] / wall['unet 1242x375']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
