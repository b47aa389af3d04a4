"""``python -m bench`` (``make bench``): run every benchmark in turn with its defaults and print their tables.

Each one is also a module of its own (``python -m bench.bench_cloud --help`` ...). The soak test and the slower
model benchmark take minutes; pass names to run a subset: ``python -m bench bench_cloud bench_scale``.
"""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = (
    "bench_cloud", "bench_outliers", "bench_scale", "bench_bag", "bench_threads", "bench_synthetic",
    "bench_unet_presets", "bench_models", "bench_temporal", "bench_worker", "bench_onnx_binding", "bench_device_post",
    "bench_input_aspect", "bench_costmap_real", "bench_window_upsample", "bench_sixteen_bit",
)  # fmt: skip

SOAKS = ("soak_pipeline", "soak_bag")  # minutes each, by name only (the real node's soak: test/ros2/soak_node.py)
# the real node in ROS 2 (needs ROS sourced, not this venv): python3 -m bench.bench_node (bench/node_clocks.py inside)
ON_DEVICE = ("bench_gpu",)  # the lent GPU's run (bench/gpu.sh): by name only


def main(names: list[str]) -> int:
    """Run the named benchmarks (all of :data:`BENCHMARKS` when none) and return the first non-zero status."""
    known = BENCHMARKS + SOAKS + ON_DEVICE
    unknown = sorted(set(names) - set(known))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    import torch

    status = 0
    threads = torch.get_num_threads()  # a benchmark (or the model it loads) may set it: each one starts from this
    for name in names or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [f"bench.{name}"]
        try:
            result = module.main()
        finally:
            torch.set_num_threads(threads)
        status = status or int(result or 0)
        print(f"=== {name}: {time.perf_counter() - started:.1f} s ===", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
