"""Network latency per backend × resolution: eager torch vs torch.compile vs ONNX Runtime (vs TorchScript).

Models (random weights: the speed does not depend on them):

* the project's own unet (resnet18, ``--unet-width`` preset, default ``tiny``) at 192×640 and 384×1280;
* Depth Anything V2 Small (the real 24.8 M parameter configuration) at 266×882 (KITTI under the capped policy)
  and 518×518.

Each cell is the median of ``--repeats`` (>= 10 by default) timed forward passes after ``--warmup`` untimed ones, on
the network input only (the engine's pre/post-processing is excluded), with ``torch.get_num_threads()`` threads for
every runtime. The ``× eager`` column is the ratio to eager torch measured in the same run for the same cell; the
one-off cost (compile, export) is reported separately. Run::

    .venv/bin/python -m bench.bench_models [--quick] [--no-compile] [--threads N] [--torchscript] [--device cpu]

On a shared machine, ``--threads 1`` gives the steadiest numbers: OpenMP thread teams stall badly when other
processes hold the cores.

``--quick``: 3 repeats, one resolution per model, no torch.compile (inductor needs minutes per shape on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.timing import median_ms
from mono_depth_ros.models.backend import TensorOutput
from mono_depth_ros.models.depth_anything import VARIANTS, build_depth_anything, depth_anything_spec
from mono_depth_ros.models.export import export_onnx, export_torchscript
from mono_depth_ros.models.onnx_model import OnnxBackend
from mono_depth_ros.models.spec import ModelSpec
from mono_depth_ros.models.torchscript_model import TorchScriptBackend
from mono_depth_ros.models.unet import build_unet, make_unet_spec


@dataclass(frozen=True)
class Row:
    """One table row."""

    model: str
    hw: tuple[int, int]
    backend: str
    median_ms: float
    setup_s: float
    baseline_ms: float


def _median_ms(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, warmup: int, repeats: int) -> float:
    with torch.no_grad():
        return median_ms(lambda: run(x), repeats, warmup=warmup, sync=torch.cuda.synchronize if x.is_cuda else None)


def _cells(
    name: str, network: nn.Module, spec: ModelSpec, hw: tuple[int, int], args: argparse.Namespace, tmp: Path
) -> list[Row]:
    device = torch.device(args.device)
    module = TensorOutput(network).eval().to(device)
    x = torch.randn(1, 3, *hw, device=device)
    rows: list[Row] = []
    eager = _median_ms(module, x, args.warmup, args.repeats)
    rows.append(Row(name, hw, "eager", eager, 0.0, eager))
    if args.compile:
        compiled = torch.compile(module, dynamic=False)
        start = time.perf_counter()
        with torch.no_grad():
            compiled(x)  # compiles
        setup = time.perf_counter() - start
        rows.append(Row(name, hw, "torch.compile", _median_ms(compiled, x, args.warmup, args.repeats), setup, eager))
    stem = f"{name.replace(' ', '_')}_{hw[0]}x{hw[1]}"
    start = time.perf_counter()
    export_onnx(network, spec, tmp / f"{stem}.onnx", hw, exporter=args.exporter)
    onnx = OnnxBackend(tmp / f"{stem}.onnx", device, cpu_threads=torch.get_num_threads())
    setup = time.perf_counter() - start
    rows.append(Row(name, hw, "onnxruntime", _median_ms(onnx.infer, x, args.warmup, args.repeats), setup, eager))
    if args.torchscript:
        start = time.perf_counter()
        export_torchscript(network, spec, tmp / f"{stem}.pt", hw)
        script = TorchScriptBackend(tmp / f"{stem}.pt", device)
        setup = time.perf_counter() - start
        rows.append(Row(name, hw, "torchscript", _median_ms(script.infer, x, args.warmup, args.repeats), setup, eager))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 repeats, one size per model, no torch.compile")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--torchscript", action="store_true", help="also time the TorchScript backend")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime intra-op threads (default: torch's)")
    parser.add_argument("--unet-width", default="tiny", choices=("tiny", "small", "base"))
    parser.add_argument("--exporter", default="legacy", choices=("dynamo", "legacy"), help="ONNX exporter")
    args = parser.parse_args()
    unet_sizes = [(192, 640), (384, 1280)]
    da_sizes = [(266, 882), (518, 518)]
    if args.quick:
        args.repeats, args.compile = min(args.repeats, 3), False
        unet_sizes, da_sizes = unet_sizes[:1], da_sizes[:1]
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    unet_spec = make_unet_spec("resnet18", args.unet_width)
    da_spec = depth_anything_spec(VARIANTS["small"])
    models = [
        (f"unet r18 {args.unet_width}", build_unet(unet_spec).eval(), unet_spec, unet_sizes),
        ("DA-V2-S", build_depth_anything(da_spec).eval(), da_spec, da_sizes),
    ]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, network, spec, sizes in models:
            for hw in sizes:
                for row in _cells(name, network, spec, hw, args, Path(folder)):
                    print(f"{row.model} {row.hw} {row.backend}: {row.median_ms:.1f} ms", file=sys.stderr, flush=True)
                    rows.append(row)
    threads = torch.get_num_threads()
    print(f"\ndevice {args.device}, {threads} threads, median of {args.repeats} after {args.warmup} warm-up runs\n")
    print("| model | input (H×W) | backend | median ms | speed-up vs eager | setup s |")
    print("|---|---|---|---:|---:|---:|")
    for row in rows:
        size = f"{row.hw[0]}×{row.hw[1]}"
        ratio = row.baseline_ms / row.median_ms
        print(f"| {row.model} | {size} | {row.backend} | {row.median_ms:.1f} | {ratio:.2f} | {row.setup_s:.1f} |")


if __name__ == "__main__":
    main()
