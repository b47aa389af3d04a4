"""Wall-clock timing of a callable for the benchmarks: warm-up calls, then one sample per call, in milliseconds.

Ratios go in the tables (each benchmark times its baseline in the same run); these helpers only take the samples.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def samples_ms(
    run: Callable[[], object], repeat: int, *, warmup: int = 1, sync: Callable[[], object] | None = None
) -> list[float]:
    """``repeat`` wall times of ``run()`` in milliseconds, after ``warmup`` untimed calls.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before the clock starts and before it stops, so that an
    asynchronous device's queued work is counted in the call that queued it.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}: time at least one call")
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        if sync is not None:
            sync()
        start = time.perf_counter()
        run()
        if sync is not None:
            sync()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def median_ms(
    run: Callable[[], object], repeat: int, *, warmup: int = 1, sync: Callable[[], object] | None = None
) -> float:
    """The median of :func:`samples_ms` (same arguments), in milliseconds."""
    return statistics.median(samples_ms(run, repeat, warmup=warmup, sync=sync))
