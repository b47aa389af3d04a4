"""Bag runner throughput and per-stage time: how much of a `mono-depth bag` run is spent outside the network.

Builds KITTI input bags (../shared/data, frames repeated, with their Velodyne scans): one at the camera's 1242×375 and
one with the same frames enlarged to 1920×1080 (intrinsics scaled with them), then runs them in the same process:

* ``unet``: the shipped model (a random-weight tiny unet at 96×320 when none ships: the same speed) on ``--device``
  with LiDAR scale recovery and the default ``output.downscale`` (auto: published at the network's resolution);
* ``unet full``: the same at camera resolution (``output.downscale=1``, the default before the output policy);
* ``unet r18 192x640``: a ResNet-18 unet at 192×640 (random weights: the same speed), the size of a model trained
  with ``model.input_height/width`` 192/640 (``--no-large`` skips it): the share for a network that is not tiny;
* ``external``: an external relative_inverse prediction (no network): the cost of everything around a model.

Prints, per run, ms per frame per stage (decode = reading and decoding the image and its scan, preprocess, model =
the depth source's own work besides the network (resizing in and out), network = the forward pass alone, scale,
postprocess, cloud, encode, write, other = pairing and bookkeeping), the steady per-frame time (wall time over the
second pass: what a long bag costs per frame), the once-per-run costs (startup: model load and warm-up; the first
pass) and the whole run per frame, each stage's share of the steady time, the share outside the network (of the
steady wall time, and of the steady CPU time: this process's CPU over the same span, less its CPU inside the
forward passes, torch's pool threads included; a wall-clock network time would count, on a loaded machine, the time
the network waits for a core as network CPU), and the per-frame allocations after warm-up (the last three quarters
of the second pass): fresh pages (minor page faults x 4 KiB: every allocation the OS had to back, torch and SQLite
included) and, from a second run of the default-policy configurations under ``tracemalloc``, the peak of Python and
numpy memory between two messages above what was held before (a frame's payloads, decoding and processing) and the
traced memory left behind per frame (a leak shows here). ``--load N`` runs N busy processes beside it (a robot's
computer is never idle). Usage::

    .venv/bin/python bench/bench_bag.py [--frames 24] [--device cpu] [--storage sqlite3] [--load 0] [--no-trace]
        [--no-large]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.adapters.signals import StopSignals  # noqa: E402
from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag  # noqa: E402
from mono_depth_ros.bag.runner import _SecondPass  # noqa: E402
from test.conftest import shared_data_dir  # noqa: E402
from test.kitti_bag import KittiFrame, load_kitti_frames, write_kitti_bag  # noqa: E402


def _large_weights(folder: Path) -> str:
    """A random-weight ResNet-18 unet (``small`` widths) at 192×640: a trained model's size, its speed."""
    import torch

    from mono_depth_ros.models.checkpoint import save_checkpoint
    from mono_depth_ros.models.registry import build_model
    from mono_depth_ros.models.unet import make_unet_spec

    torch.manual_seed(0)
    spec = make_unet_spec("resnet18", "small")
    return str(save_checkpoint(folder / "r18_192x640.safetensors", build_model(spec).state_dict(), spec))


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


PAGE = resource.getpagesize()
MIB = 1024.0 * 1024.0


_SECOND_PASS = _SecondPass.run.__code__
"""The code that asks between two input messages of the second pass (what :class:`_Meter` samples)."""


@dataclass
class _Meter(StopSignals):
    """Never asks the run to stop: samples page faults, CPU time and (under tracemalloc) the traced memory each time
    the second pass asks, i.e. between two input messages (a frame is processed in one such gap). Only the second
    pass's questions are sampled (keyed on the asker, :data:`_SECOND_PASS`): run_bag asks before it opens the output
    bag too (samples from there on counted the output bag's creation and the second pass's set-up as the frames'
    cost: 'other', ~0.7 ms a frame of a 24-frame run), and a count of questions to skip would silently measure the
    wrong window the day it asks once more. ``asked``: the questions, ``skipped``: those not the second pass's."""

    faults: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)  # traced peak above the traced memory at the previous sample
    traced: list[int] = field(default_factory=list)

    network_cpu: list[float] = field(default_factory=list)  # CPU seconds spent in forward passes so far

    asked: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        super().__init__()

    def __call__(self) -> bool:
        self.asked += 1
        if sys._getframe(1).f_code is not _SECOND_PASS:  # run_bag's own questions: no message of the second pass
            self.skipped += 1
            return False
        self.faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
        self.cpu.append(time.process_time())
        self.network_cpu.append(_NETWORK_CPU_S[0])
        self.wall.append(time.perf_counter())
        if tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            self.peaks.append(peak - (self.traced[-1] if self.traced else current))
            self.traced.append(current)
            tracemalloc.reset_peak()
        return False

    def steady(self, values: list[int] | list[float], frames: int, warm: bool = True) -> float:
        """Per frame over the samples of the second pass: the last three quarters (``warm``: the first quarter fills
        caches and buffers), or all of them (what the per-stage means cover). From the first message to the last one
        the runner processes all frames but the last (processed after the last message)."""
        if len(values) < 4 or frames <= 1:
            return float("nan")
        first = len(values) // 4 if warm else 0
        return (values[-1] - values[first]) / ((frames - 1) * (len(values) - 1 - first) / (len(values) - 1))


_NETWORK_CPU_S = [0.0]
"""CPU seconds of this process spent inside ``DepthEstimator._run_network`` (see :func:`_metered_network`)."""


@contextmanager
def _metered_network() -> Iterator[None]:
    """Count this process's CPU time inside every forward pass into ``_NETWORK_CPU_S`` (the bag runner runs one
    frame at a time: nothing else of this process works while the network does, besides torch's own threads).

    On CUDA the forward pass returns with its kernels queued; the stream is synchronised inside the window, so that
    the CPU the driver spends waiting for the network counts as the network's (one wait per frame more than the
    runner makes by itself). torch's OpenMP workers may spin a little after the last parallel region of the pass:
    that CPU lands outside the window (counted as not the network's).
    """
    import torch

    from mono_depth_ros.models.inference import DepthEstimator

    original = DepthEstimator._run_network

    def metered(self: DepthEstimator, *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            if self.device.type == "cuda":
                torch.cuda.current_stream(self.device).synchronize()
            _NETWORK_CPU_S[0] += time.process_time() - start

    DepthEstimator._run_network = metered  # type: ignore[method-assign]
    try:
        yield
    finally:
        DepthEstimator._run_network = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class _Run:
    summary: BagSummary
    cpu_s: float  # CPU seconds of this process during the run (startup included)
    meter: _Meter


def _run(bag: Path, out: Path, params: dict[str, Any], storage: str, trace: bool = False) -> _Run:
    """The summary, the CPU seconds of this process during the run and the samples between messages."""
    meter = _Meter()
    if trace:
        tracemalloc.start()
    cpu = time.process_time()
    try:
        with _metered_network():
            summary = run_bag(bag, out, params, BagRunOptions(storage=storage, progress=False), stop=meter)
    finally:
        if trace:
            tracemalloc.stop()
    if summary.frames_in and not meter.cpu:  # the second pass's loop moved out of _SecondPass.run: say so
        raise RuntimeError(f"no sample of the second pass ({meter.asked} questions, none from _SecondPass.run)")
    return _Run(summary, time.process_time() - cpu, meter)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=24, help="frames per bench bag (KITTI frames repeated)")
    parser.add_argument("--device", default="cpu", help="device of the unet runs")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"), help="output storage")
    parser.add_argument("--load", type=int, default=0, help="busy background processes during the runs")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs (Python/numpy temporaries)")
    parser.add_argument("--no-large", action="store_true", help="skip the ResNet-18 192x640 run")
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
        if not args.no_large:
            plan["unet r18 192x640"] = ("kitti", {**unet, "model.weights": _large_weights(folder)})
        for process in load:
            process.start()
        try:
            runs = {name: _run(folder / bag, folder / f"out{i}", params, args.storage)
                    for i, (name, (bag, params)) in enumerate(plan.items())}  # fmt: skip
            defaults = [name for name in plan if name in ("unet 1242x375", "unet 1920x1080")]
            traced = {} if args.no_trace else {
                name: _run(folder / plan[name][0], folder / f"traced{i}", plan[name][1], args.storage, trace=True)
                for i, name in enumerate(defaults)
            }  # fmt: skip
        finally:
            for process in load:
                process.terminate()
    _print(runs, f"model: {label}, network input {_input_size(weights)}; output storage {args.storage}")
    _print_allocations(runs, traced)
    return 0


ROWS = ("decode", "preprocess", "model", "network", "scale", "postprocess", "cloud", "encode", "write")
"""Per-frame stage rows; ``model`` shows the depth source's work besides the network (the stage less ``network``)."""


def _stages_ms(run: _Run) -> dict[str, float]:
    """ms per frame per row (the run's mean), ``steady`` (wall time per frame over the second pass: no startup,
    first pass, opening or closing) and ``other`` (the part of it no stage accounts for: pairing, bookkeeping)."""
    summary = run.summary
    frames = max(summary.frames_out, 1)
    ms = {stage: summary.stage_ms.get(stage, 0.0) / frames for stage in ROWS}
    ms["model"] -= ms["network"]
    steady = 1000.0 * run.meter.steady(run.meter.wall, summary.frames_out, warm=False)
    ms["other"] = steady - sum(ms.values())
    ms["steady"] = steady
    return ms


def _row(label: str, values: list[float], width: int, spec: str = ".1f") -> str:
    return f"{label:<22}" + "".join(f"{value:>{width}{spec}}" for value in values)


def _print(runs: dict[str, _Run], title: str) -> None:
    print(title)
    names = list(runs)
    width = max(len(name) for name in names) + 2
    stages = {name: _stages_ms(run) for name, run in runs.items()}
    print(f"{'stage (ms/frame)':<22}" + "".join(f"{name:>{width}}" for name in names))
    labels = {"model": "model (not network)", "other": "other (pairing...)", "steady": "steady total"}
    for key in (*ROWS, "other", "steady"):
        print(_row(labels.get(key, key), [stages[name][key] for name in names], width))
    for stage, label in (("startup", "startup (ms, once)"), ("index", "first pass (ms, once)")):
        print(_row(label, [run.summary.stage_ms.get(stage, 0.0) for run in runs.values()], width))
    print(
        _row(
            "whole run (ms/frame)",
            [1000.0 * r.summary.elapsed_s / max(r.summary.frames_out, 1) for r in runs.values()],
            width,
        )
    )
    cpu = [1000.0 * r.meter.steady(r.meter.cpu, r.summary.frames_out, warm=False) for r in runs.values()]
    print(_row("CPU steady (ms/frame)", cpu, width))
    print(_row("frames/s", [run.summary.fps for run in runs.values()], width, ".2f"))
    print(f"{'share of steady time':<22}" + "".join(f"{name:>{width}}" for name in names))
    for key in (*ROWS, "other"):
        shares = [100.0 * stages[name][key] / stages[name]["steady"] for name in names]
        print(_row(labels.get(key, key), shares, width, ".1f"))
    outside = [100.0 * (1.0 - stages[name]["network"] / stages[name]["steady"]) for name in names]
    print(_row("outside the network %", outside, width))
    network_cpu = [
        1000.0 * r.meter.steady(r.meter.network_cpu, r.summary.frames_out, warm=False) for r in runs.values()
    ]
    print(_row("network CPU (ms/frame)", network_cpu, width))
    outside_cpu = [100.0 * (1.0 - net / ms) for net, ms in zip(network_cpu, cpu, strict=True)]
    print(_row("  of steady CPU %", outside_cpu, width))
    wall = {name: stages[name]["steady"] for name in names}
    for size in ("1242x375", "1920x1080"):
        full, auto = wall.get(f"unet full {size}"), wall.get(f"unet {size}")
        if full and auto:
            print(f"{size}: the output policy costs {auto / full:.2f} x the camera-resolution run per frame")
    if wall.get("unet 1242x375") and wall.get("unet 1920x1080"):
        ratio = wall["unet 1920x1080"] / wall["unet 1242x375"]
        print(f"frame cost 1920x1080 / 1242x375 (default policy, steady): {ratio:.2f} (goal <= 1.5)")


def _print_allocations(runs: dict[str, _Run], traced: dict[str, _Run]) -> None:
    names = list(runs)
    width = max(len(name) for name in names) + 2
    print(f"{'allocations per frame':<22}" + "".join(f"{name:>{width}}" for name in names))
    pages = [r.meter.steady(r.meter.faults, r.summary.frames_out) for r in runs.values()]
    print(_row("fresh pages (MiB)", [p * PAGE / MIB for p in pages], width, ".2f"))
    if not traced:
        return
    peak = [max(traced[n].meter.peaks[len(traced[n].meter.peaks) // 4 :]) / MIB if n in traced else float("nan")
            for n in names]  # fmt: skip
    kept = [traced[n].meter.steady(traced[n].meter.traced, traced[n].summary.frames_out) / MIB if n in traced
            else float("nan") for n in names]  # fmt: skip
    print(_row("py/numpy peak (MiB)", peak, width, ".2f"))
    print(_row("py/numpy kept (MiB)", kept, width, ".3f"))


if __name__ == "__main__":
    sys.exit(main())
