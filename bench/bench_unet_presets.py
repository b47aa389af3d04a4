"""Forward latency of the unet presets and options at KITTI input size (192×640), relative to resnet18-tiny.

Run: ``.venv/bin/python -m bench.bench_unet_presets [--device cuda] [--repeats 10]``. Prints a table; no assertions.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from bench.timing import median_ms
from mono_depth_ros.models.registry import parameter_counts
from mono_depth_ros.models.unet import build_unet, make_unet_spec

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("resnet18", "tiny", {}),
    ("resnet18", "tiny", {"aspp": True, "difference": True}),
    ("resnet18", "tiny", {"pixel_shuffle": True}),
    ("resnet18", "small", {}),
    ("resnet34", "small", {}),
    ("resnet50", "base", {}),
]


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median milliseconds per forward pass (after one warm-up)."""
    with torch.inference_mode():
        return median_ms(lambda: model(x), repeats, sync=torch.cuda.synchronize if x.is_cuda else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    x = torch.randn(1, 3, args.height, args.width, device=args.device)
    baseline = None
    print(f"{'model':<44}{'params (M)':>12}{'ms':>10}{'× tiny':>9}")
    for encoder, width, options in CASES:
        model = build_unet(make_unet_spec(encoder, width, **options)).eval().to(args.device)
        ms = time_forward(model, x, args.repeats)
        baseline = baseline or ms
        label = f"{encoder} {width} {'+'.join(options) or '-'}"
        millions = parameter_counts(model)["total"] / 1e6
        print(f"{label:<44}{millions:>12.2f}{ms:>10.1f}{ms / baseline:>9.2f}")


if __name__ == "__main__":
    main()
