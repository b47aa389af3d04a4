"""ZoeDepth's host upsampling of its image window: intermediates in reused arrays against fresh temporaries.

Run: ``.venv/bin/python -m bench.bench_window_upsample [--runs N]``. ZoeDepth reads its image at a fractional window of
its map (``models.preprocess.reflect_pad_window``: NYU 480x640 in a 384x512 map at (31.02, 36.51, 321.96, 438.98));
``upsample_edge_aware_host`` resamples that window by gathers (cv2.resize knows no fractional offset). Three roads,
interleaved on the same map, each the median of ``--runs`` rounds of wall and thread CPU time per frame:

* ``temporaries``: the window road before: separable gathers and a blend through fresh temporaries (about 13 MB a
  frame at 480x640; the test's reference ``test/models/test_preprocess.py::gathered_window``, behind the same edge
  test);
* ``reused``: the window road now: the same gathers, the blend in place in this thread's reused arrays, only the
  output fresh;
* ``crop + cv2``: the crop of whole pixels with ``cv2.resize`` (the road before the exact window: 0.55 px off at NYU).

Twice: with glibc's default malloc thresholds (a process that never called ``keep_freed_memory``: a test, a script),
then in a child process with ``adapters.malloc_policy.keep_freed_memory`` (the node and the bag runner, through
``build_pipeline``), where freed temporaries are not faulted in again. Ratios are to ``temporaries`` in the same run;
every output of ``reused`` is checked to be the bytes of ``temporaries``.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository's test package, not the standard library's

from mono_depth_ros.adapters.malloc_policy import keep_freed_memory  # noqa: E402
from mono_depth_ros.models import preprocess  # noqa: E402
from mono_depth_ros.models.preprocess import reflect_pad_box, reflect_pad_window, upsample_edge_aware_host  # noqa: E402
from test.models.test_preprocess import gathered_window  # noqa: E402

CASES = {"480x640": (480, 640), "1080x1920": (1080, 1920)}  # output sizes, all from NYU's window of a 384x512 map
MAP_HW = (384, 512)
Window = tuple[float, float, float, float]


def nyu_like_map(map_hw: tuple[int, int]) -> np.ndarray:
    """A (h, w) float32 depth map: a smooth room (2-6 m) with boxes in front (depth steps) and a few NaN."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0 : map_hw[0], 0 : map_hw[1]].astype(np.float32)
    depth = 2.0 + 4.0 * rows / map_hw[0] + 0.5 * np.sin(cols / 40.0)
    for _ in range(12):
        top, left = rng.integers(0, map_hw[0] - 40), rng.integers(0, map_hw[1] - 40)
        depth[top : top + 40, left : left + 60] = rng.uniform(0.8, 1.8)
    depth[rng.random(map_hw) < 0.005] = np.nan
    dense: np.ndarray = depth.astype(np.float32)
    return dense


def upsampled(source: np.ndarray, out_hw: tuple[int, int], window: Window | None) -> np.ndarray:
    out = upsample_edge_aware_host(source, out_hw, window=window)
    assert out is not None, "OpenCV is missing"
    return np.asarray(out, dtype=np.float32)


def with_temporaries(source: np.ndarray, out_hw: tuple[int, int], window: Window) -> np.ndarray:
    """The same edge test, the window resampled through fresh temporaries (the road before)."""
    reused = preprocess._window_host
    preprocess._window_host = gathered_window
    try:
        return upsampled(source, out_hw, window)
    finally:
        preprocess._window_host = reused


def table(runs: int) -> None:
    source = nyu_like_map(MAP_HW)
    window = reflect_pad_window((480, 640), MAP_HW)
    box = reflect_pad_box((480, 640), MAP_HW)
    assert window is not None and box is not None
    top, left, height, width = box
    crop = source[top : top + height, left : left + width]
    for name, out_hw in CASES.items():
        roads: dict[str, Callable[[], np.ndarray]] = {
            "temporaries": functools.partial(with_temporaries, source, out_hw, window),
            "reused": functools.partial(upsampled, source, out_hw, window),
            "crop + cv2": functools.partial(upsampled, crop, out_hw, None),
        }
        assert roads["reused"]().tobytes() == roads["temporaries"]().tobytes(), name
        wall: dict[str, list[float]] = {key: [] for key in roads}
        cpu: dict[str, list[float]] = {key: [] for key in roads}
        for _ in range(runs):  # interleaved: load on the computer hits every road alike
            for key, road in roads.items():
                started, started_cpu = time.perf_counter(), time.thread_time()
                road()
                cpu[key].append((time.thread_time() - started_cpu) * 1e3)
                wall[key].append((time.perf_counter() - started) * 1e3)
        base_wall, base_cpu = float(np.median(wall["temporaries"])), float(np.median(cpu["temporaries"]))
        cells = [
            f"{np.median(wall[key]):.2f} / {np.median(cpu[key]):.2f} | "
            f"{np.median(wall[key]) / base_wall:.2f} / {np.median(cpu[key]) / base_cpu:.2f}"
            for key in roads
        ]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="rounds per case (median)")
    parser.add_argument("--keep-freed-memory", action="store_true", help="this process only, as the node (internal)")
    args = parser.parse_args(argv)
    if args.keep_freed_memory:
        keep_freed_memory()
        print("\nwith keep_freed_memory (the node, the bag runner):", flush=True)
    else:
        print("with glibc's default malloc thresholds:")
    print("| output | temporaries ms wall / CPU | ratio | reused ms | ratio | crop + cv2 ms | ratio |")
    print("|---|---|---|---|---|---|---|", flush=True)
    table(args.runs)
    if args.keep_freed_memory:
        return 0
    child = [sys.executable, "-m", "bench.bench_window_upsample", "--runs", str(args.runs), "--keep-freed-memory"]
    return subprocess.run(child, cwd=REPO, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
