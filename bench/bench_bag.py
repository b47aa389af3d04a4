"""Bag runner throughput and per-stage time: how much of a `mono-depth bag` run is spent outside the network.

Builds a KITTI input bag (../shared/data, frames repeated), then runs it twice in the same process:

* ``unet``: the project's own model (a tiny resnet18 unet at the 192×640 network input; random weights when no
  shipped default model exists: the speed is the same) on ``--device`` (default cpu), with LiDAR scale recovery;
* ``external``: the same bag with an external relative_inverse prediction (no network): the baseline of everything
  around the model.

Prints ms per frame per stage (startup = model load and warm-up, index = first pass, decode, preprocess, model,
scale, postprocess, cloud, encode, write), frames per second, and the fraction of the per-frame time (startup
excluded) spent outside the network. Usage::

    .venv/bin/python bench/bench_bag.py [--frames 12] [--device cpu] [--storage sqlite3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag  # noqa: E402
from mono_depth_ros.bag.summary import STAGES  # noqa: E402
from test.conftest import shared_data_dir  # noqa: E402
from test.kitti_bag import load_kitti_frames, write_kitti_bag  # noqa: E402


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


def _run(bag: Path, out: Path, params: dict[str, str | bool], storage: str) -> BagSummary:
    return run_bag(bag, out, params, BagRunOptions(storage=storage, progress=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=12, help="frames in the bench bag (KITTI frames repeated)")
    parser.add_argument("--device", default="cpu", help="device of the unet run")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"), help="output storage")
    args = parser.parse_args()
    kitti = shared_data_dir() / "kitti_object_3frames" / "training"
    if not kitti.is_dir():
        print(f"KITTI frames not found at {kitti} (set MONO_DEPTH_DATA)", file=sys.stderr)
        return 1
    frames = load_kitti_frames(kitti, ["000001", "000002"])
    frames = [frames[i % len(frames)] for i in range(args.frames)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_kitti_bag(folder / "in", frames, prediction="relative_inverse")
        seconds = time.perf_counter() - started
        print(f"input bag: {args.frames} KITTI frames 1242x375 + Velodyne, written in {seconds:.1f} s")
        weights, label = _weights(folder)
        lidar = {"lidar_topic": "/lidar/points", "scale.mode": "lidar"}
        runs = {
            f"unet ({args.device})": _run(
                folder / "in",
                folder / "out_unet",
                {**lidar, "model.weights": weights, "device": args.device, "model.golden_check": "warn"},
                args.storage,
            ),
            "external": _run(
                folder / "in",
                folder / "out_external",
                {**lidar, "model.backend": "external", "model.output_kind": "relative_inverse"},
                args.storage,
            ),
        }
    print(f"model: {label}, network input {_input_size(weights)}; output storage {args.storage}")
    names = list(runs)
    print(f"{'stage (ms/frame)':<18}" + "".join(f"{name:>18}" for name in names))
    for stage in STAGES:
        row = [runs[name].stage_ms.get(stage, 0.0) / max(runs[name].frames_out, 1) for name in names]
        print(f"{stage:<18}" + "".join(f"{value:>18.1f}" for value in row))
    totals = [1000.0 * runs[name].elapsed_s / max(runs[name].frames_out, 1) for name in names]
    print(f"{'wall total':<18}" + "".join(f"{value:>18.1f}" for value in totals))
    print(f"{'frames/s':<18}" + "".join(f"{runs[name].fps:>18.2f}" for name in names))
    unet = runs[names[0]]
    steady_ms = 1000.0 * unet.elapsed_s - unet.stage_ms["startup"]
    outside = 1.0 - unet.stage_ms["model"] / steady_ms if steady_ms > 0 else float("nan")
    print(f"fraction of the unet run (startup excluded) outside the network: {outside:.1%}")
    print(f"per frame, the external run takes {totals[1] / totals[0]:.1%} of the unet run's wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
