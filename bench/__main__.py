"""``python -m bench`` (``make bench``): run every benchmark in turn with its defaults and print their tables.

Each one is also a module of its own (``python -m bench.bench_cloud --help`` ...). The soak test and the slower
model benchmark take minutes; pass names to run a subset: ``python -m bench bench_cloud bench_scale``.
"""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = ("bench_cloud", "bench_scale", "bench_bag", "bench_synthetic", "bench_unet_presets", "bench_models")


def main(names: list[str]) -> int:
    """Run the named benchmarks (all of :data:`BENCHMARKS` when none) and return the first non-zero status."""
    unknown = sorted(set(names) - set(BENCHMARKS) - {"soak_pipeline"})
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}, soak_pipeline", file=sys.stderr)
        return 2
    status = 0
    for name in names or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [f"bench.{name}"]
        result = module.main()
        status = status or int(result or 0)
        print(f"=== {name}: {time.perf_counter() - started:.1f} s ===", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
