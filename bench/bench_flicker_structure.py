"""What a depth source's frame-to-frame change is made of: the shipped network against the temporal oracles.

Run: ``.venv/bin/python -m bench.bench_flicker_structure [--seeds 0,1,2,3,4] [--width 320] [--height 96]
[--frames 12] [--kitti DATA]`` (the goal test's and ``make demo``'s strip settings; 25-30 s on one CPU thread, the
KITTI table included). Prints three tables (four with ``--kitti``); no assertions.

Issue 20: the temporal filter's goal is scored on oracles (:class:`~mono_depth_ros.evaluation.temporal_sequence.
TemporalOracle`) whose per-frame error is :class:`~mono_depth_ros.evaluation.temporal_sequence.OracleNoise`: 1.5 %
smooth (a 3×8 grid of cells) + 3 % i.i.d. per pixel (+ 3 % frame scale for the kinds without metric scale). Any
spatial mean removes the per-pixel term, so a filter with spatial support looks good on the oracles; on the shipped
model it bought nothing (bench/RESULTS-session-notes.md, explore66). This bench measures the same split on both:

1. **Per-frame noise** ("re-exposure"): every frame of the drive through two pipelines (filter off, LiDAR scale)
   that differ only in the per-frame randomness: for the network, two independent draws of the camera's noise
   (:class:`~mono_depth_ros.evaluation.temporal_sequence.ImageNoise`: exposure gain, read noise) on the same exact
   rendering; for an oracle, two independent draws of its per-frame terms (same scene-bound error). ``q = log(d_a /
   d_b)`` on the static pixels with truth (≤ 80 m) is the difference of two independent draws of the source's
   per-frame error, so every RMS below is divided by √2: the std of one draw, in log depth, the unit of
   ``OracleNoise``'s sigmas; *total* is the RMS of ``q`` itself. Bands: *frame* the frame's median of ``q`` (a
   change of the whole frame: scale), *coarse* a masked 31×31 mean of the rest (the oracle's flicker grid: cells of
   32-40 px), *mid* a masked 5×5 mean minus the 31×31 one, *pixel* the rest (what a 5×5 mean removes); the bands
   sum to ``q`` but are not orthogonal (the box means overlap), so their squares need not add up to the total's.
   ``corr 1 / 2 / 4 / 8 px``: the autocorrelation of ``q`` minus its median at those horizontal lags; ``len``: the
   lag (px) where it falls below 1/e.
2. **Along the drive** (what the temporal measure scores): the signed relative change ``r`` of the published depth
   (filter off) at the measure's static correspondences, frame to frame, in the same bands, as mean ``|band|`` (the
   measure's unit, its total the measure itself), and ``noise share``: the mean square of the per-frame noise
   (table 1's total, ×2 for two frames) over the mean square of ``r``, the part of the change that a filter can
   average (the rest is bound to the view: the source's error moving with the image content); ``e world`` /
   ``e image``: the correlation of the log error ``log(d / truth)`` (each frame minus its median) with the previous
   frame's at the same world point (the measure's correspondences) / at the same pixel.
3. **How the error at one world point changes over frames**: that correlation at the same world point ``k`` frames
   apart: an error bound to the scene keeps it, a network's falls as the view changes.

Sources: the shipped network (unet, ``metric``), the goal test's oracles (``metric``, ``relative_inverse``: the
default ``OracleNoise``), and ``NETWORK_LIKE`` (``OracleNoise`` with the network's structure: smooth per-frame noise,
almost no per-pixel part, a scene-bound error whose phases drift as the view changes). Results and what they mean:
bench/RESULTS-session-notes.md, "explore71". ``--kitti DATA`` adds a table on the shared data's real KITTI images
(no sequence there: two camera-noise draws on one image, and the crop shifted by 1-8 px: the content moves, the
true depth does not).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import torch

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.evaluation.temporal import Correspondences, signed_change, static_correspondences
from mono_depth_ros.evaluation.temporal_sequence import (
    NETWORK_LIKE,
    ImageNoise,
    MovingCar,
    OracleNoise,
    TemporalFrame,
    TemporalOracle,
    _Camera,
    oracle_params,
    render_sequence,
    run_sequence,
)
from mono_depth_ros.pipeline import DepthPipeline, DepthSource

F32 = npt.NDArray[np.float32]
LAGS = (1, 2, 4, 8, 16, 32)  # pixels
FRAME_LAGS = (1, 2, 4, 8)
BANDS = ("frame", "coarse", "mid", "pixel")


def masked_mean(values: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_], size: int) -> npt.NDArray[np.float64]:
    """Mean of ``values`` over the ``mask`` pixels of each ``size``×``size`` window (0 where none)."""
    weight = mask.astype(np.float64)
    total = cv2.boxFilter(np.where(mask, values, 0.0), -1, (size, size), normalize=False)
    count = cv2.boxFilter(weight, -1, (size, size), normalize=False)
    return np.where(count > 0, total / np.maximum(count, 1e-9), 0.0)


def bands(values: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]) -> dict[str, npt.NDArray[np.float64]]:
    """``values`` on ``mask`` split into :data:`BANDS` (each an array over the mask's pixels; they sum to it)."""
    median = float(np.median(values[mask]))
    rest = np.where(mask, values - median, 0.0)
    coarse = masked_mean(rest, mask, 31)
    mid = masked_mean(rest, mask, 5) - coarse
    pixel = rest - coarse - mid
    return {
        "frame": np.full(int(mask.sum()), median),
        "coarse": coarse[mask],
        "mid": mid[mask],
        "pixel": pixel[mask],
    }


def autocorrelation(values: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]) -> list[float]:
    """Horizontal autocorrelation of ``values`` minus its median over ``mask``, at :data:`LAGS` (masked pairs)."""
    rest = np.where(mask, values - float(np.median(values[mask])), 0.0)
    out = []
    for lag in LAGS:
        a, b = rest[:, :-lag], rest[:, lag:]
        both = mask[:, :-lag] & mask[:, lag:]
        num = float(np.sum(a[both] * b[both]))
        den = math.sqrt(float(np.sum(a[both] ** 2)) * float(np.sum(b[both] ** 2)))
        out.append(num / den if den > 0 else float("nan"))
    return out


def correlation_length(acf: list[float]) -> float:
    """Lag (px) where the autocorrelation (1 at lag 0, then :data:`LAGS`) falls below 1/e, log-linear between."""
    lags, values = [0, *LAGS], [1.0, *acf]
    for i in range(1, len(lags)):
        if values[i] < 1.0 / math.e:
            lo, hi = values[i - 1], max(values[i], 1e-6)
            t = (math.log(lo) + 1.0) / (math.log(lo) - math.log(hi))
            return lags[i - 1] + t * (lags[i] - lags[i - 1])
    return float("inf")


def _static_mask(frame: TemporalFrame, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """Pixels with a true depth within 80 m, off the moving car (the published image's size must be the frame's)."""
    if frame.depth_m.shape != shape:
        msg = f"published {shape} differs from the frame's {frame.depth_m.shape}: run at output.downscale 1"
        raise ValueError(msg)
    with np.errstate(invalid="ignore"):
        return np.isfinite(frame.depth_m) & (frame.depth_m > 0) & (frame.depth_m <= 80.0) & ~frame.car_mask


class Source:
    """One depth source run through a pipeline (filter off): the shipped network or an oracle of ``kind``."""

    def __init__(
        self, network: DepthSource | None, kind: OutputKind, seed: int, draw: int, noise: OracleNoise | None = None
    ) -> None:
        self.network = network
        self.oracle = None if network is not None else TemporalOracle(kind, seed, noise)
        if self.oracle is not None:  # same scene-bound error (waves, phases, drift), its own per-frame draws
            self.oracle._rng = np.random.default_rng([seed, 0x7E4, draw])
        params: dict[str, ParamValue]
        if network is None:
            params = oracle_params(kind, False)
        else:
            params = {"lidar_topic": "/lidar/points", "output.edge_filter": False, "temporal.enabled": False}
        self.pipeline = DepthPipeline(params, network)

    def predict(self, frame: TemporalFrame) -> F32 | None:
        if self.oracle is None:
            return None
        return self.oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)


def reexposed(exact: list[TemporalFrame], seed: int, draw: int) -> list[TemporalFrame]:
    """``exact`` (rendered without camera noise) with draw ``draw`` of :class:`ImageNoise`."""
    camera = _Camera(seed * 1000 + draw, ImageNoise())
    return [
        TemporalFrame(
            f.index, f.stamp_ns, camera.expose(f.rgb), f.depth_m, f.car_mask, f.world_from_cam, f.lidar, f.intrinsics
        )
        for f in exact
    ]


def measure(
    label: str, network: DepthSource | None, kind: OutputKind, seed: int, exact: list[TemporalFrame], car: MovingCar,
    noise: OracleNoise | None = None,
) -> tuple[str, list[float], list[float]]:  # fmt: skip
    """One row of each table for one source and drive."""
    runs = []
    for draw in (1, 2):
        source = Source(network, kind, seed, draw, noise)
        frames = reexposed(exact, seed, draw)
        runs.append(run_sequence(frames, source.pipeline, source.predict, car.start_frame))
    band_squares: dict[str, list[float]] = {b: [] for b in BANDS}
    squares_q, acfs = [], []
    for frame, a, b in zip(exact, runs[0], runs[1], strict=True):
        mask = _static_mask(frame, a.depth_m.shape) & np.isfinite(a.depth_m) & np.isfinite(b.depth_m)
        mask &= (a.depth_m > 0) & (b.depth_m > 0)
        q = np.log(np.where(mask, a.depth_m, 1.0) / np.where(mask, b.depth_m, 1.0)).astype(np.float64)
        for name, part in bands(q, mask).items():
            band_squares[name].append(float(np.mean(part**2)))
        squares_q.append(float(np.mean(q[mask] ** 2)))
        acfs.append(autocorrelation(q, mask))
    noise_rms = {name: math.sqrt(np.mean(v) / 2.0) for name, v in band_squares.items()}
    # the std of q itself, not of the bands summed in quadrature: the bands overlap (a smooth field has parts in
    # both the 31x31 and the 5x5 mean), their cross terms are not small on a network's output
    total_rms = math.sqrt(float(np.mean(squares_q)) / 2.0)
    acf = [float(x) for x in np.nanmean(acfs, axis=0)]
    row1 = [total_rms, *(noise_rms[b] for b in BANDS), *acf, correlation_length(acf)]
    # along the drive: the first run's published depth, frame to frame, at the measure's correspondences
    change: dict[str, list[float]] = {b: [] for b in BANDS}
    totals, squares, acfs2, world, image, lagged = [], [], [], [], [], []
    for i in range(1, len(exact)):
        prev, cur = exact[i - 1], exact[i]
        published_prev, published = runs[0][i - 1].depth_m, runs[0][i].depth_m
        cur_from_prev = cur.world_from_cam.inverse() @ prev.world_from_cam
        pairs = static_correspondences(prev.depth_m, cur.depth_m, cur.intrinsics, cur_from_prev)
        r_img, mask = _signed_change(published_prev, published, pairs, cur, cur_from_prev)
        if mask.sum() < 100:
            continue
        totals.append(float(np.mean(np.abs(r_img[mask]))))
        squares.append(float(np.mean(r_img[mask] ** 2)))
        for name, part in bands(r_img, mask).items():
            change[name].append(float(np.mean(np.abs(part))))
        acfs2.append(autocorrelation(r_img, mask))
        world.append(_error_correlation(published_prev, published, prev, cur, pairs.source, pairs.target))
        both = np.arange(cur.depth_m.size)
        image.append(_error_correlation(published_prev, published, prev, cur, both, both))
    acf2 = [float(x) for x in np.nanmean(acfs2, axis=0)]
    share = 2.0 * total_rms**2 / float(np.mean(squares))
    for lag in FRAME_LAGS:  # the error at one world point, lag frames apart
        pairs_at = []
        for i in range(lag, len(exact)):
            prev, cur = exact[i - lag], exact[i]
            cur_from_prev = cur.world_from_cam.inverse() @ prev.world_from_cam
            pairs = static_correspondences(prev.depth_m, cur.depth_m, cur.intrinsics, cur_from_prev)
            pairs_at.append(
                _error_correlation(runs[0][i - lag].depth_m, runs[0][i].depth_m, prev, cur, pairs.source, pairs.target)
            )
        lagged.append(float(np.nanmean(pairs_at)))
    row2 = [float(np.mean(totals)), *(float(np.mean(change[b])) for b in BANDS), *acf2, correlation_length(acf2), share,
            float(np.nanmean(world)), float(np.nanmean(image)), *lagged]  # fmt: skip
    return label, row1, row2


def _error_correlation(
    published_prev: F32, published: F32, prev: TemporalFrame, cur: TemporalFrame,
    source: npt.NDArray[np.intp], target: npt.NDArray[np.intp],
) -> float:  # fmt: skip
    """Correlation of the log error ``log(d / truth)`` (each minus its median) of the previous frame at ``source``
    with the current frame's at ``target``: at the measure's correspondences (the same world point) or at the same
    pixel, on static pixels."""
    e_prev = np.log(published_prev.reshape(-1) / prev.depth_m.reshape(-1))[source]
    e_cur = np.log(published.reshape(-1) / cur.depth_m.reshape(-1))[target]
    static = _static_mask(prev, published_prev.shape).reshape(-1)[source]
    static &= _static_mask(cur, published.shape).reshape(-1)[target]
    keep = static & np.isfinite(e_prev) & np.isfinite(e_cur)
    if keep.sum() < 100:
        return float("nan")
    a, b = e_prev[keep] - np.median(e_prev[keep]), e_cur[keep] - np.median(e_cur[keep])
    return float(np.sum(a * b) / math.sqrt(float(np.sum(a * a) * np.sum(b * b))))


def _signed_change(
    published_prev: F32, published: F32, pairs: Correspondences, cur: TemporalFrame, cur_from_prev: RigidTransform
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(H, W) signed relative change ``(d_cur - d_prev→cur) / d_prev→cur`` at the measure's correspondences (off the
    moving car) and its mask."""
    k = cur.intrinsics
    change, target = signed_change(published_prev, published, pairs, k, cur_from_prev, cur.car_mask)
    out = np.zeros(k.height * k.width)
    mask = np.zeros(k.height * k.width, bool)
    out[target] = change
    mask[target] = True
    return out.reshape(k.height, k.width), mask.reshape(k.height, k.width)


def kitti_table(data_dir: Path, network: DepthSource) -> None:
    """The shipped network's change on real KITTI images (no sequence here: known image changes instead): two draws of
    :class:`ImageNoise` on one image (per-frame noise), and the crop shifted by ``s`` px (the pixels compared see the
    same rays, so their true depth is identical: what the network's output does when the content moves across the
    image, as under a small camera yaw). Bands and correlation as in the first table (log depth, one draw: / √2 for the
    noise; the shift's change as it is), on every pixel with a positive prediction."""
    paths = sorted((data_dir / "kitti_object_3frames" / "training" / "image_2").glob("*.png"))
    paths += sorted((data_dir / "metric3d_kitti_demo" / "rgb").glob("*.png"))
    print(f"KITTI images ({len(paths)}, at 620x188): the shipped network's log-depth change, std per band")
    print(f"{'image':>12s} {'change':14s} {'total':>7s} " + " ".join(f"{b:>7s}" for b in BANDS)
          + " " + " ".join(f"{'corr ' + str(lag):>7s}" for lag in LAGS) + f" {'len':>5s}")  # fmt: skip
    for path in paths:
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        rgb = np.ascontiguousarray(cv2.resize(rgb, (620, 188), interpolation=cv2.INTER_AREA)[:, :608])
        cases: list[tuple[str, F32, F32, float]] = []
        a = network.predict(_Camera(1, ImageNoise()).expose(rgb))
        b = network.predict(_Camera(2, ImageNoise()).expose(rgb))
        cases.append(("noise draws", a, b, math.sqrt(2.0)))
        width = 600
        base = network.predict(np.ascontiguousarray(rgb[:, :width]))
        for shift in (1, 2, 4, 8):
            moved = network.predict(np.ascontiguousarray(rgb[:, shift : shift + width]))
            # pixel x of the moved crop sees what pixel x + shift of the base crop sees
            cases.append((f"shift {shift} px", moved[:, : width - shift], base[:, shift:], 1.0))
        for label, x, y, norm in cases:
            mask = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
            q = np.log(np.where(mask, x, 1.0) / np.where(mask, y, 1.0)).astype(np.float64)
            parts = {name: math.sqrt(float(np.mean(part**2))) / norm for name, part in bands(q, mask).items()}
            total = math.sqrt(float(np.mean(q[mask] ** 2))) / norm
            acf = autocorrelation(q, mask)
            print(f"{path.stem:>12s} {label:14s} {total:7.4f} " + " ".join(f"{parts[b]:7.4f}" for b in BANDS) + " "
                  + " ".join(f"{v:7.3f}" for v in acf) + f" {correlation_length(acf):5.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--kitti", type=Path, default=None, help="the shared data folder (MONO_DEPTH_DATA): also the KITTI table"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from mono_depth_ros.models.depth_source import build_depth_source

    started = time.perf_counter()
    car = MovingCar()
    intrinsics = kitti_like_intrinsics(args.width, args.height)
    network = build_depth_source({"lidar_topic": "/lidar/points"})
    sources: list[tuple[str, DepthSource | None, OutputKind, OracleNoise | None]] = [
        ("shipped unet", network, OutputKind.METRIC, None),
        ("oracle metric", None, OutputKind.METRIC, None),
        ("oracle relative_inverse", None, OutputKind.RELATIVE_INVERSE, None),
        ("NETWORK_LIKE metric", None, OutputKind.METRIC, NETWORK_LIKE),
    ]
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        exact = list(render_sequence(seed, args.frames, intrinsics, car, azimuth_step_deg=1.0,
                                     image_noise=ImageNoise(0.0, 0.0)))  # fmt: skip
        for label, net, kind, noise in sources:
            rows.append((seed, *measure(label, net, kind, seed, exact, car, noise)))
    lag_names = " ".join(f"{'corr ' + str(lag):>7s}" for lag in LAGS)
    print(f"per-frame noise, std of one draw in log depth ({args.width}x{args.height}, {args.frames} frames)")
    head = f"{'drive':>5s} {'source':24s} {'total':>7s} " + " ".join(f"{b:>7s}" for b in BANDS) + f" {lag_names}"
    print(f"{head} {'len':>5s}")
    for seed, label, row1, _ in rows:
        print(f"{seed:5d} {label:24s} " + " ".join(f"{x:7.4f}" for x in row1[:5]) + " "
              + " ".join(f"{x:7.3f}" for x in row1[5:11]) + f" {row1[11]:5.1f}")  # fmt: skip
    print()
    print("along the drive (filter off): mean |signed relative change| at the measure's static pixels, per band")
    print(f"{head} {'len':>5s} {'noise share':>11s} {'e world':>7s} {'e image':>7s}")
    for seed, label, _, row2 in rows:
        print(f"{seed:5d} {label:24s} " + " ".join(f"{x:7.4f}" for x in row2[:5]) + " "
              + " ".join(f"{x:7.3f}" for x in row2[5:11])
              + f" {row2[11]:5.1f} {row2[12]:11.3f} {row2[13]:7.3f} {row2[14]:7.3f}")  # fmt: skip
    print()
    print("the log error at one static world point: its correlation with the same point's k frames later (filter off)")
    print(f"{'drive':>5s} {'source':24s} " + " ".join(f"{'k ' + str(k):>7s}" for k in FRAME_LAGS))
    for seed, label, _, row2 in rows:
        print(f"{seed:5d} {label:24s} " + " ".join(f"{x:7.3f}" for x in row2[-len(FRAME_LAGS) :]))
    if args.kitti is not None:
        print()
        kitti_table(args.kitti, network)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
