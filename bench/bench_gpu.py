"""End to end per frame on the inference device: host image in → depth image bytes + cloud bytes out (issue 21).

Each row runs real KITTI frames (image + Velodyne, LiDAR scale recovery on) through :class:`DepthPipeline` built from
parameters exactly as the node builds it (``adapters.model.build_pipeline``) and times ``process_frame`` from the
host image to the encoded depth image and the organized cloud on the host: median and p95 over ``--frames`` frames
after ``--warmup`` frames, and the network's own median (``timings_ms["network"]``, CUDA events on a GPU).

Models (random weights: speed does not depend on them):

* ``DA-V2-S 518``: Depth Anything V2 Small (24.8 M parameters) at a fixed 518×518 input;
* ``DA-V2-S policy``: the same at its input policy's size for a 1242×375 camera;
* ``shipped``: the shipped default model (a random-weight tiny unet at its size when none ships);
* ``unet r18 192x640``: the project's ResNet-18 encoder-decoder (``small`` widths) at 192×640.

Rows per model: fp32 / fp16 / bf16 × eager / CUDA graphs / torch.compile (``--compile``: inductor takes about a
minute per row), fp32 channels-last, ONNX Runtime (the CPU provider on a CPU; the CUDA provider, and with
``--tensorrt`` TensorRT first, where the installed build has them), and post-processing on the device vs on the host
(``output.device_postprocess``).
Then the half-precision output difference per model (relative L2 of the prediction against fp32 on the same frames:
the data for the golden self-test's tolerance), and the training throughput of the ResNet-18
encoder-decoder at 192×640 (images/s, AMP bf16 / fp16 vs fp32).
``--sections`` picks among ``e2e``, ``precision`` and ``train``.

On the CPU (``--quick``) every section runs at tiny sizes with a few frames: a check of the script, not figures.
Usage::

    .venv/bin/python -m bench.bench_gpu --device cpu --quick      # here, before a GPU run
    python3 -m bench.bench_gpu --device cuda --sections e2e,precision,train     # on the lent GPU (bench/gpu.sh)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.adapters.model import build_pipeline  # noqa: E402
from mono_depth_ros.core.camera import CameraModel  # noqa: E402
from mono_depth_ros.core.scale.lidar import LidarScan  # noqa: E402
from mono_depth_ros.pipeline import DepthPipeline, FrameInput  # noqa: E402

KITTI_NAMES = ("000001", "000002")
CAMERA_FRAME = "camera_optical"


@dataclass(frozen=True)
class Frame:
    """One KITTI frame as the pipeline takes it."""

    rgb: np.ndarray
    camera: CameraModel
    points_in_lidar: np.ndarray
    cam_from_lidar: Any


@dataclass(frozen=True)
class Row:
    """One timed configuration."""

    model: str
    variant: str
    median_ms: float
    p95_ms: float
    network_ms: float
    note: str = ""


def kitti_frames(data: Path) -> list[Frame]:
    """The KITTI object frames under ``data/kitti_object_3frames/training`` (image_2, velodyne, calib)."""
    from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_rgb, load_velodyne

    root = data / "kitti_object_3frames" / "training"
    frames = []
    for name in KITTI_NAMES:
        rgb = load_rgb(root / "image_2" / f"{name}.png")
        calib = load_object_calibration(root / "calib" / f"{name}.txt", rgb.shape[1], rgb.shape[0])
        scan = load_velodyne(root / "velodyne" / f"{name}.bin")
        points = np.ascontiguousarray(scan[:, :3], dtype=np.float32)
        frames.append(Frame(rgb, CameraModel.from_intrinsics(calib.intrinsics), points, calib.cam_from_velo))
    return frames


def frame_inputs(frames: list[Frame]) -> Iterator[FrameInput]:
    """Endless 10 Hz stream over ``frames``, each image with its scan at the same stamp."""
    index = 0
    while True:
        frame = frames[index % len(frames)]
        stamp = 1_000_000_000 + index * 100_000_000
        lidar = LidarScan(frame.points_in_lidar, frame.cam_from_lidar, stamp)
        yield FrameInput(stamp, CAMERA_FRAME, frame.rgb, frame.camera, lidar=lidar)
        index += 1


def timed_rows(pipeline: DepthPipeline, frames: list[Frame], warmup: int, count: int) -> tuple[float, float, float]:
    """(median, p95, network median) ms per frame of ``process_frame``, host image in → bytes out."""
    stream = frame_inputs(frames)
    for _ in range(warmup):
        pipeline.process_frame(next(stream))
    totals, networks = [], []
    for _ in range(count):
        frame = next(stream)
        start = time.perf_counter()
        output = pipeline.process_frame(frame)  # depth_wire and the cloud are host numpy: the frame is done
        totals.append((time.perf_counter() - start) * 1e3)
        networks.append(output.timings_ms.get("network", float("nan")))
    return statistics.median(totals), float(np.percentile(totals, 95)), statistics.median(networks)


def model_files(folder: Path, quick: bool) -> dict[str, dict[str, Any]]:
    """Model parameters (backend, checkpoint with random weights) of the benchmarked models, by row name."""
    from mono_depth_ros.core.errors import CheckpointError
    from mono_depth_ros.models.checkpoint import save_checkpoint
    from mono_depth_ros.models.depth_anything import VARIANTS, build_depth_anything, depth_anything_spec
    from mono_depth_ros.models.depth_source import default_weights
    from mono_depth_ros.models.registry import build_model
    from mono_depth_ros.models.spec import InputPolicy
    from mono_depth_ros.models.unet import make_unet_spec

    torch.manual_seed(0)
    files: dict[str, dict[str, Any]] = {}
    da_backend = {"model.backend": "depth_anything_v2"}
    da_spec = depth_anything_spec(VARIANTS["small"])
    fixed = 70 if quick else 518
    square = replace(da_spec, input=InputPolicy(fixed, fixed, keep_aspect=False, multiple_of=14))
    policy = da_spec if not quick else replace(da_spec, input=replace(da_spec.input, height=70, max_long_side=238))
    da = build_depth_anything(da_spec).state_dict()
    square_path = save_checkpoint(folder / "da_square.safetensors", da, square)
    files[f"DA-V2-S {fixed}"] = {**da_backend, "model.weights": str(square_path)}
    policy_path = save_checkpoint(folder / "da_policy.safetensors", da, policy)
    files["DA-V2-S policy"] = {**da_backend, "model.weights": str(policy_path)}
    try:
        shipped = default_weights()
    except CheckpointError:
        tiny = make_unet_spec("resnet18", "tiny", input_policy=InputPolicy(96, 320))
        shipped = save_checkpoint(folder / "tiny.safetensors", build_model(tiny).state_dict(), tiny)
    files["shipped"] = {"model.weights": str(shipped)}
    hw = (64, 192) if quick else (192, 640)
    unet = make_unet_spec("resnet18", "small", input_policy=InputPolicy(*hw))
    name = f"unet r18 {hw[0]}x{hw[1]}"
    unet_path = save_checkpoint(folder / "unet_r18.safetensors", build_model(unet).state_dict(), unet)
    files[name] = {"model.weights": str(unet_path)}
    return files


def torch_variants(device: str, compile_rows: bool) -> list[tuple[str, dict[str, Any]]]:
    """(name, model parameters) of the torch rows the device can run: eager and CUDA graphs per precision, or with
    ``compile_rows`` fp32 eager (the baseline) and one torch.compile row (fp16 on CUDA, fp32 on the CPU)."""
    cuda = device.startswith("cuda")
    precisions: tuple[str, ...] = ("fp32", "fp16", "bf16") if cuda else ("fp32", "bf16")
    if compile_rows:  # one compile row (about a minute of inductor each): the precision auto picks there
        precisions = ("fp16",) if cuda else ("fp32",)
    rows: list[tuple[str, dict[str, Any]]] = [("fp32 eager", {"model.precision": "fp32"})]
    for precision in precisions:
        if compile_rows:
            rows.append((f"{precision} compile", {"model.precision": precision, "model.compile": True}))
            continue
        if precision != "fp32":
            rows.append((f"{precision} eager", {"model.precision": precision}))
        if cuda:
            rows.append((f"{precision} cuda graphs", {"model.precision": precision, "model.cuda_graphs": True}))
    if not compile_rows:
        rows.append(("fp32 channels_last", {"model.precision": "fp32", "model.channels_last": True}))
    if cuda and not compile_rows:
        rows.append(("auto (default)", {"model.precision": "auto"}))
    return rows


def onnx_providers(device: str, tensorrt: bool) -> list[str]:
    """The ONNX Runtime provider lists worth a row (empty without onnxruntime): the CPU's on a CPU; CUDA's, and with
    ``tensorrt`` TensorRT's (engine builds take minutes), where the installed build has them."""
    try:
        import onnxruntime
    except ImportError:
        return []
    if not device.startswith("cuda"):
        return ["cpu"]
    available = set(onnxruntime.get_available_providers())
    rows = ["cuda,cpu"] if "CUDAExecutionProvider" in available else []
    if tensorrt and "TensorrtExecutionProvider" in available:
        rows.append("tensorrt,cuda,cpu")
    return rows


def export_for_onnx(weights: str, folder: Path, frames: list[Frame]) -> str:
    """The checkpoint exported to ONNX at its network size for the frames' camera."""
    from mono_depth_ros.models.checkpoint import load_checkpoint
    from mono_depth_ros.models.export import export_onnx
    from mono_depth_ros.models.preprocess import network_input_size
    from mono_depth_ros.models.registry import build_model

    loaded = load_checkpoint(weights)
    spec = loaded.spec
    network = build_model(spec)
    network.load_state_dict(loaded.state_dict)
    height, width = frames[0].rgb.shape[:2]
    hw = network_input_size((height, width), spec.input)
    path = folder / f"{Path(weights).stem}.onnx"
    export_onnx(network.eval(), spec, path, hw, exporter="legacy")
    return str(path)


def run_row(
    rows: list[Row], model: str, variant: str, params: dict[str, Any], frames: list[Frame], args: argparse.Namespace
) -> DepthPipeline | None:
    """Time one configuration; a failure is a row with the error (the run goes on)."""
    try:
        pipeline = build_pipeline(params, warn=lambda text: print(f"  [{model} {variant}] {text}", file=sys.stderr))
        median, p95, network = timed_rows(pipeline, frames, args.warmup, args.frames)
    except Exception as err:  # a benchmark row reports what broke; the table goes on
        traceback.print_exc(file=sys.stderr)
        rows.append(Row(model, variant, float("nan"), float("nan"), float("nan"), f"{type(err).__name__}: {err}"))
        _print_row(rows)
        return None
    rows.append(Row(model, variant, median, p95, network))
    _print_row(rows)
    return pipeline


def _print_row(rows: list[Row]) -> None:
    """The last row as a table line (ratio to the same model's fp32 eager row, measured first), flushed."""
    row = rows[-1]
    eager = next((r.median_ms for r in rows if r.model == row.model and r.variant == "fp32 eager"), float("nan"))
    line = f"| {row.model} | {row.variant} | {row.median_ms:.2f} | {row.p95_ms:.2f} | {row.network_ms:.2f}"
    print(f"{line} | {row.median_ms / eager:.2f} | {row.note[:120]} |", flush=True)


def relative_l2(precision: str, base: dict[str, Any], frames: list[Frame]) -> float:
    """||pred(precision) - pred(fp32)|| / ||pred(fp32)|| over the frames, at the network's own output."""
    from mono_depth_ros.models.depth_source import build_depth_source

    reference = build_depth_source({**base, "model.precision": "fp32"})
    other = build_depth_source({**base, "model.precision": precision})
    assert reference is not None and other is not None
    num = den = 0.0
    for frame in frames:
        a = reference.predict(frame.rgb)
        b = other.predict(frame.rgb)
        ok = np.isfinite(a) & np.isfinite(b)
        num += float(np.sum((b[ok] - a[ok]).astype(np.float64) ** 2))
        den += float(np.sum(a[ok].astype(np.float64) ** 2))
    return float(np.sqrt(num / max(den, 1e-30)))


def training_throughput(device: str, quick: bool, steps: int) -> list[tuple[str, float]]:
    """Images/s of the ResNet-18 encoder-decoder at 192×640 (batch 8, supervised L1 on random data, Adam)."""
    from mono_depth_ros.models.registry import build_model
    from mono_depth_ros.models.spec import InputPolicy
    from mono_depth_ros.models.unet import make_unet_spec

    hw = (64, 192) if quick else (192, 640)
    batch = 2 if quick else 8
    rows = []
    modes: list[tuple[str, torch.dtype | None]] = [("fp32", None), ("AMP bf16", torch.bfloat16)]
    if device.startswith("cuda"):
        modes.append(("AMP fp16", torch.float16))
    for name, dtype in modes:
        torch.manual_seed(0)
        network = build_model(make_unet_spec("resnet18", "small", input_policy=InputPolicy(*hw))).to(device).train()
        optimiser = torch.optim.Adam(network.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler(device.split(":")[0], enabled=dtype == torch.float16)
        images = torch.rand(batch, 3, *hw, device=device)
        target = torch.rand(batch, 1, *hw, device=device) + 0.1
        for _ in range(3):
            _train_step(network, optimiser, scaler, dtype, images, target)
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            _train_step(network, optimiser, scaler, dtype, images, target)
        _sync(device)
        rows.append((name, steps * batch / (time.perf_counter() - start)))
        print(f"train {name}: {rows[-1][1]:.1f} images/s", file=sys.stderr, flush=True)
    return rows


def _train_step(
    network: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    dtype: torch.dtype | None,
    images: torch.Tensor,
    target: torch.Tensor,
) -> None:
    """One supervised L1 step (autocast to ``dtype`` when given; the scaler is on for fp16 only)."""
    with torch.autocast(images.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        out = network(images)
        prediction = out[0] if isinstance(out, (list, tuple)) else out
        prediction = prediction["depth"] if isinstance(prediction, dict) else prediction
        loss = (prediction.float() - target[:, :, : prediction.shape[-2], : prediction.shape[-1]]).abs().mean()
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimiser)
    scaler.update()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _section(title: str, body: Callable[[], None]) -> None:
    """Run one section; a failure prints its traceback and the next section runs."""
    print(f"\n## {title}\n", flush=True)
    try:
        body()
    except Exception:  # one broken section must not cost the device run the others
        traceback.print_exc()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=200, help="timed frames per row")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames per row first")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 4 frames: a check of the script on CPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile rows only (about a minute each)")
    parser.add_argument("--tensorrt", action="store_true", help="ONNX Runtime TensorRT rows (minutes of engine builds)")
    parser.add_argument(
        "--sections", default="e2e,precision", help="comma-separated: e2e (end to end), precision, train"
    )
    parser.add_argument("--models", default="", help="comma-separated row names to keep (default all)")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.warmup = min(args.frames, 4), min(args.warmup, 1)
    from test.conftest import shared_data_dir

    frames = kitti_frames(shared_data_dir())
    cuda = args.device.startswith("cuda")
    name = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"# bench_gpu on {name}: torch {torch.__version__}; KITTI 1242x375 + Velodyne, scale.mode lidar")
    print(f"{args.frames} timed frames per row after {args.warmup}; ms per frame, host image in -> host bytes out")
    base = {"device": args.device, "lidar_topic": "/lidar/points", "scale.mode": "lidar", "model.golden_check": "warn"}
    rows: list[Row] = []
    differences: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wanted = set(args.sections.split(","))
        files = model_files(folder, args.quick) if wanted & {"e2e", "precision"} else {}
        if args.models:
            files = {k: v for k, v in files.items() if k in args.models.split(",")}

        def end_to_end() -> None:
            print("| model | variant | median ms | p95 ms | network ms | x fp32 eager | note |")
            print("|---|---|---:|---:|---:|---:|---|", flush=True)  # each row as it is done: a time limit keeps them
            for model, model_params in files.items():
                params = {**base, **model_params}
                for variant, extra in torch_variants(args.device, args.compile):
                    run_row(rows, model, variant, {**params, **extra}, frames, args)
                if args.compile:
                    continue
                for setting in ("off", "on"):
                    extra = {"model.precision": "fp32", "output.device_postprocess": setting}
                    run_row(rows, model, f"fp32 post-processing {setting}", {**params, **extra}, frames, args)
                providers = onnx_providers(args.device, args.tensorrt)
                if providers:
                    onnx = export_for_onnx(str(model_params["model.weights"]), folder, frames)
                    for provider in providers:
                        extra = {"model.backend": "onnx", "model.weights": onnx, "model.onnx_providers": provider}
                        run_row(rows, model, f"onnxruntime {provider}", {**params, **extra}, frames, args)

        def precision_difference() -> None:
            for model, model_params in files.items():
                for precision in ("fp16", "bf16") if args.device.startswith("cuda") else ("bf16",):
                    try:
                        value = relative_l2(precision, {**base, **model_params}, frames)
                    except Exception:  # the other models' rows still count
                        traceback.print_exc()
                        value = float("nan")
                    differences.append((model, precision, value))
            print("| model | precision | relative L2 vs fp32 |")
            print("|---|---|---:|")
            for model, precision, value in differences:
                print(f"| {model} | {precision} | {value:.2e} |")

        def training() -> None:
            steps = 3 if args.quick else 30
            print(f"| ResNet-18 encoder-decoder, batch {2 if args.quick else 8} | images/s | x fp32 |")
            print("|---|---:|---:|")
            results = training_throughput(args.device, args.quick, steps)
            for mode, rate in results:
                print(f"| {mode} | {rate:.1f} | {rate / results[0][1]:.2f} |")

        sections = {
            "e2e": ("End to end per frame", end_to_end),
            "precision": ("Half precision against fp32 (golden self-test tolerance)", precision_difference),
            "train": ("Training throughput", training),
        }
        for key in args.sections.split(","):
            _section(*sections[key])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
