"""Speckle filter (core.cloud_outliers): time per frame, and phantoms removed against real points lost.

Run: ``.venv/bin/python -m bench.bench_outliers [--runs N] [--seeds K]``. Inputs are the synthetic scenes with exact
depth of test/core/test_cloud_outliers.py (walls, a box before a wall, the ground under a pitched and a rolled
camera, two street frames; +inf beyond 80 m), rendered at three published sizes: 414×125 (a KITTI camera through a
96×320 network, the node's default), 1242×375 (KITTI at full size) and 320×180 (a 1920×1080 camera of the same
field of view, 1/6). Speckles are injected at known pixels (single pixels and 2×2 clumps at 0.5× / 2× the depth,
single pixels at a random depth; see ``inject_speckles``), ``--seeds`` layouts per scene.

* Time: the median over ``--runs`` rounds (cases interleaved) of process CPU time and wall time per frame, on the
  "street, near" frame with speckles, against the edge filter the node already runs and a radius-outlier baseline.
* Quality: phantoms removed = share of speckle pixels flagged; real lost = share of the valid true pixels off the
  speckles that are flagged, pooled over scenes and seeds; "worst scene" is the largest per-scene loss; "clean" is
  the loss on the exact depth without speckles; "1 % noise" repeats the test after 1 % Gaussian per-pixel noise on
  the true depth (harsher than a network's, whose errors are smooth). The edge filter marks only pixels between two
  surfaces (blends; none in exact depth): it is not a speckle filter and leaves speckles and their neighbours alone.

The radius-outlier baseline is PCL's RadiusOutlierRemoval moved into the image: a valid pixel stays when at least
``n`` of the other pixels of its 5×5 window have a 3-D point within ``f`` × the nearer of the two depths of its own
point (no neighbours outside the image, as in 3-D; reflecting the border instead keeps 2×2 clumps there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository's test package, not the standard library's

from mono_depth_ros.core.camera import PinholeIntrinsics  # noqa: E402
from mono_depth_ros.core.cloud_outliers import OutlierFilter, outlier_mask  # noqa: E402
from mono_depth_ros.core.cloud_record import valid_depth_mask  # noqa: E402
from mono_depth_ros.core.edges import depth_edge_mask  # noqa: E402
from mono_depth_ros.core.geometry import pixel_rays  # noqa: E402
from mono_depth_ros.core.synthetic import kitti_like_intrinsics  # noqa: E402
from test.core.test_cloud_outliers import KITTI, inject_speckles, render_scenes  # noqa: E402

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
MaskFn = Callable[[F32, PinholeIntrinsics], Mask]

SIZES: dict[str, PinholeIntrinsics] = {
    "414×125": KITTI.resized(414, 125),
    "1242×375": KITTI,
    "320×180": kitti_like_intrinsics(1920, 1080).resized(320, 180),
}


def radius_outlier_mask(
    depth_m: F32, intrinsics: PinholeIntrinsics, min_neighbours: int = 4, radius_fraction: float = 0.05, window: int = 5
) -> Mask:
    """Baseline: True at valid pixels with fewer than ``min_neighbours`` 3-D neighbours in their window.

    A neighbour is another valid pixel of the ``window`` × ``window`` square (inside the image) whose point lies within
    ``radius_fraction`` × min(both depths) metres; each pair is tested once (the relation is symmetric).
    """
    half = window // 2
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = valid_depth_mask(depth)
    z = np.where(valid, depth, np.float32(np.nan))
    ray_x, ray_y = pixel_rays(intrinsics)
    coords = [np.pad(c, half, constant_values=np.nan) for c in (z * ray_x[None, :], z * ray_y[:, None], z)]
    radius2 = np.square(coords[2] * np.float32(radius_fraction))
    rows, cols = coords[2].shape
    count = np.zeros((rows, cols), dtype=np.uint8)
    offsets = [(0, dx) for dx in range(1, half + 1)]
    offsets += [(dy, dx) for dy in range(1, half + 1) for dx in range(-half, half + 1)]
    with np.errstate(invalid="ignore"):
        for dy, dx in offsets:  # pairs (a, b = a + (dy, dx)) over the padded image, each pair once
            a = (slice(0, rows - dy), slice(max(0, -dx), cols - max(0, dx)))
            b = (slice(dy, rows), slice(max(0, dx), cols + min(0, dx)))
            dist2 = np.zeros(count[a].shape, dtype=np.float32)
            for c in coords:
                diff = c[a] - c[b]
                diff *= diff
                dist2 += diff
            close = dist2 <= np.minimum(radius2[a], radius2[b])
            count[a] += close
            count[b] += close
    return valid & (count[half : rows - half, half : cols - half] < min_neighbours)


def _speckle(config: OutlierFilter) -> MaskFn:
    return lambda depth, _intrinsics: outlier_mask(depth, config)


def _speckle_then_edges(depth: F32, _intrinsics: PinholeIntrinsics) -> Mask:
    """The recommended order: speckles to NaN first, then the edge filter (NaN neighbours mark nothing)."""
    speckles = outlier_mask(depth)
    cleaned = np.where(speckles, np.float32(np.nan), depth)
    return speckles | depth_edge_mask(cleaned, 0.1)


METHODS: list[tuple[str, MaskFn]] = [
    ("speckle filter, tolerance 0.05 (default)", _speckle(OutlierFilter())),
    ("speckle filter, tolerance 0.03", _speckle(OutlierFilter(tolerance=0.03))),
    ("speckle filter, tolerance 0.1", _speckle(OutlierFilter(tolerance=0.1))),
    ("speckle filter, tolerance 0.05, min_support 2", _speckle(OutlierFilter(min_support=2))),
    ("edge filter 0.1 (node default; flying pixels between two surfaces)", lambda d, _i: depth_edge_mask(d, 0.1)),
    ("speckle filter, then edge filter 0.1", _speckle_then_edges),
    ("radius baseline: 5×5, ≥ 4 within 5 % of depth", lambda d, i: radius_outlier_mask(d, i, 4, 0.05)),
    ("radius baseline: 5×5, ≥ 4 within 10 % of depth", lambda d, i: radius_outlier_mask(d, i, 4, 0.10)),
    ("radius baseline: 5×5, ≥ 3 within 5 % of depth", lambda d, i: radius_outlier_mask(d, i, 3, 0.05)),
]


def _timing_table(runs: int, frames: dict[str, F32]) -> None:
    cases: list[tuple[str, str, Callable[[], object]]] = []
    for size, intrinsics in SIZES.items():
        depth = frames[size]
        cases += [
            (size, "speckle filter (outlier_mask, default)", lambda d=depth: outlier_mask(d)),
            (size, "edge filter (depth_edge_mask 0.1)", lambda d=depth: depth_edge_mask(d, 0.1)),
            (size, "radius baseline 5×5, ≥ 4 within 5 %", lambda d=depth, i=intrinsics: radius_outlier_mask(d, i)),
        ]
    cpu: dict[tuple[str, str], list[float]] = {(s, n): [] for s, n, _ in cases}
    wall: dict[tuple[str, str], list[float]] = {(s, n): [] for s, n, _ in cases}
    for _, _, fn in cases:
        fn()  # warm-up
    for _ in range(runs):
        for size, name, fn in cases:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            fn()
            wall[size, name].append((time.perf_counter() - wall0) * 1e3)
            cpu[size, name].append((time.process_time() - cpu0) * 1e3)
    print(f'## Time per frame ("street, near" with speckles), median of {runs} rounds\n')
    print("| size | pixels | case | CPU ms | wall ms | ns per pixel (CPU) |")
    print("|---|---:|---|---:|---:|---:|")
    for size, name, _ in cases:
        pixels = frames[size].size
        cpu_ms, wall_ms = float(np.median(cpu[size, name])), float(np.median(wall[size, name]))
        print(f"| {size} | {pixels} | {name} | {cpu_ms:.3f} | {wall_ms:.3f} | {cpu_ms * 1e6 / pixels:.1f} |")


def _quality_table(size: str, scenes: dict[str, F32], seeds: int) -> None:
    intrinsics = SIZES[size]
    # per method: pooled counts (phantoms flagged, phantoms, real flagged, real), per-scene loss, clean, noisy
    rows = []
    per_scene: dict[str, dict[str, tuple[float, float]]] = {}
    for label, fn in METHODS:
        totals = np.zeros(4)
        clean = np.zeros(2)
        noisy = np.zeros(4)
        scene_counts: dict[str, npt.NDArray[np.float64]] = {}
        for name, truth in scenes.items():
            valid = valid_depth_mask(truth)
            flagged = fn(truth, intrinsics)
            clean += [int((flagged & valid).sum()), int(valid.sum())]
            counts = np.zeros(4)
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                speckled, phantom, _ = inject_speckles(truth, rng)
                counts += _counts(fn(speckled, intrinsics), truth, phantom)
                noise = (truth * (1.0 + 0.01 * rng.standard_normal(truth.shape))).astype(np.float32)
                speckled, phantom, _ = inject_speckles(noise, rng)
                noisy += _counts(fn(speckled, intrinsics), noise, phantom)
            scene_counts[name] = counts
            totals += counts
        worst = max(c[2] / c[3] for c in scene_counts.values())
        rows.append((label, totals, worst, clean, noisy))
        per_scene[label] = {name: (c[0] / c[1], c[2] / c[3]) for name, c in scene_counts.items()}
    phantoms = int(rows[0][1][1])
    real = int(rows[0][1][3])
    print(f"\n## Quality at {size}: {len(scenes)} scenes × {seeds} speckle layouts ({phantoms} speckle pixels, "
          f"{real} real points)\n")  # fmt: skip
    print("| method | phantoms removed % | real lost % | worst scene lost % | clean: lost % "
          "| 1 % noise: removed % | 1 % noise: lost % |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, totals, worst, clean, noisy in rows:
        print(
            f"| {label} | {100 * totals[0] / totals[1]:.2f} | {100 * totals[2] / totals[3]:.3f} | {100 * worst:.3f} "
            f"| {100 * clean[0] / clean[1]:.3f} | {100 * noisy[0] / noisy[1]:.2f} | {100 * noisy[2] / noisy[3]:.3f} |"
        )
    shown = [METHODS[0][0], METHODS[4][0], METHODS[6][0]]
    print(f"\nPer scene at {size}, removed % / lost %:\n")
    print("| scene | " + " | ".join(label.split(" (")[0] for label in shown) + " |")
    print("|---|" + "---:|" * len(shown))
    for name in scenes:
        cells = [per_scene[label][name] for label in shown]
        print(f"| {name} | " + " | ".join(f"{100 * r:.2f} / {100 * lost:.3f}" for r, lost in cells) + " |")


def _counts(flagged: Mask, truth: F32, phantom: Mask) -> npt.NDArray[np.float64]:
    real = valid_depth_mask(truth) & ~phantom
    return np.array([(flagged & phantom).sum(), phantom.sum(), (flagged & real).sum(), real.sum()], dtype=np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timing rounds (each case once per round); median")
    parser.add_argument("--seeds", type=int, default=3, help="speckle layouts per scene for the quality tables")
    args = parser.parse_args()

    scenes = {size: render_scenes(intrinsics) for size, intrinsics in SIZES.items()}
    frames = {
        size: inject_speckles(scenes[size]["street, near"], np.random.default_rng(0))[0] for size in SIZES
    }  # fmt: skip
    print("# Speckle filter (core.cloud_outliers): time and phantoms removed vs real points lost\n")
    print(
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"CPU = process CPU time, wall = elapsed time.\n"
    )
    _timing_table(args.runs, frames)
    for size in SIZES:
        _quality_table(size, scenes[size], args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
