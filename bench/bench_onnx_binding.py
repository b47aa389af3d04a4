"""ONNX Runtime: ``OnnxBackend.infer`` with I/O binding on torch memory against ``session.run`` on host numpy
arrays, for the shipped model exported to ONNX (its 96×320 input), the batch on ``--device``.

On the CPU binding only spares the output copies and the numpy conversions; on CUDA (``--device cuda``, needs
onnxruntime-gpu) it also spares the host round trip of the input and outputs. Both paths run in the same process,
rounds alternated; prints the median ms per call, the ratio, and whether both gave the same values. Usage::

    .venv/bin/python -m bench.bench_onnx_binding [--calls 200] [--rounds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from bench.timing import median_ms
from mono_depth_ros.models.backend import open_backend
from mono_depth_ros.models.depth_source import default_weights
from mono_depth_ros.models.export import export_onnx
from mono_depth_ros.models.onnx_model import OnnxBackend


def _median_ms(backend: OnnxBackend, batch: torch.Tensor, calls: int) -> float:
    return median_ms(lambda: backend.infer(batch), calls, warmup=0)


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="infer calls per round and path")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the CUDA execution provider)")
    args = parser.parse_args()
    cpu, device = torch.device("cpu"), torch.device(args.device)
    torch_backend, _ = open_backend("unet", default_weights(), cpu)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "shipped.onnx"
        export_onnx(torch_backend.module, torch_backend.spec, path, exporter="legacy")  # type: ignore[attr-defined]
        paths = {
            "session.run": OnnxBackend(path, device, cpu_threads=1, io_binding=False),
            "I/O binding": OnnxBackend(path, device, cpu_threads=1, io_binding=True),
        }
        spec = torch_backend.spec.input
        batch = torch.randn(1, 3, spec.height, spec.width, generator=torch.Generator().manual_seed(0)).to(device)
        same = torch.equal(paths["session.run"].infer(batch).clone(), paths["I/O binding"].infer(batch))
        results: dict[str, list[float]] = {name: [] for name in paths}
        for round_index in range(args.rounds):
            order = list(paths) if round_index % 2 == 0 else list(reversed(paths))
            for name in order:
                results[name].append(_median_ms(paths[name], batch, args.calls))
    plain, bound = (statistics.median(results[name]) for name in paths)
    providers = paths["I/O binding"].session.get_providers()
    print(f"shipped model, ONNX Runtime {providers} (1 CPU thread), input {spec.height}x{spec.width} on {device}, "
          f"{args.rounds} x {args.calls}")  # fmt: skip
    print(f"{'path':<12} {'ms / call':>9}")
    print(f"{'session.run':<12} {plain:>9.3f}")
    print(f"{'I/O binding':<12} {bound:>9.3f}")
    print(f"binding / run: {bound / plain:.3f}; identical outputs: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
