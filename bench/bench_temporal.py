"""Temporal stability of the published depth, with and without the temporal filter, and the filter's cost per frame.

Run: ``.venv/bin/python -m bench.bench_temporal [--frames 40] [--width 640] [--height 192] [--seeds 0,1,2,3,4]``
(about 3 minutes on one CPU thread). Prints two tables; no assertions (the goal is tested with small settings in
test/evaluation/test_temporal_sequence.py). ``--floor`` prints instead, per drive and oracle, the temporal error
that the oracle's scene-bound error alone gives (no flicker: a floor the shipped filter does not go below, and
no filter without lag, see the floor test in test/evaluation/test_temporal_sequence.py);
at the goal test's settings: ``--floor --frames 12 --width 320 --height 96 --lidar-step-deg 1``.
``--network-like`` gives the oracles ``NETWORK_LIKE`` noise: the shipped network's error structure measured by
bench/bench_flicker_structure.py (smooth per-frame noise, a scene-bound error that drifts as the view changes) in
place of the default's i.i.d. per-pixel flicker.

Quality: synthetic drives (:mod:`mono_depth_ros.evaluation.temporal_sequence`: the ego car at 8 m/s, a car in the
oncoming lane that starts driving towards it at 12 m/s in frame 3) through the real pipeline (LiDAR scale recovery,
16-beam scans), per depth source: an oracle of each output kind (persistent scene-bound error 10 %, per-frame flicker
1.5 % smooth + 3 % per pixel, per-frame scale 3 % for the kinds without metric scale) and the shipped default
model. Columns: AbsRel over the static pixels (≤ 80 m), the temporal error (mean relative frame-to-frame change on
static surfaces after warping the previous published depth with the known motion), the moving car's AbsRel in the
frames it moves, and the filter's time per frame (pipeline stage ``temporal``), as means over the drives, and for
the filter-on rows the worst drive's on / off ratio of each. The edge filter is off in both runs so that both are
scored on the same pixels.

Cost: :class:`~mono_depth_ros.core.temporal_filter.TemporalFilter.update` per frame on the CPU at three published
sizes, for a scale-only map and ``affine_depth`` / ``relative_inverse`` ones (``FrameChange.SHIFT_IN_DEPTH`` /
``SHIFT_IN_INVERSE``: a resistant line more per frame), against
the straightforward warp of the same frame (numpy forward warp with a lexsort z-buffer, as the
measure does) in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np
import numpy.typing as npt
import torch

from bench.timing import median_ms
from mono_depth_ros.config import PARAMS_BY_NAME, ParamValue
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import SCALE_KINDS, OutputKind
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.core.temporal_filter import FrameChange, TemporalFilter
from mono_depth_ros.evaluation.temporal import static_correspondences
from mono_depth_ros.evaluation.temporal_sequence import (
    NETWORK_LIKE,
    MovingCar,
    OracleNoise,
    SequenceScore,
    TemporalFrame,
    TemporalOracle,
    oracle_params,
    render_sequence,
    run_sequence,
)
from mono_depth_ros.pipeline import DepthPipeline

DEFAULT_AGREEMENT = PARAMS_BY_NAME["temporal.agreement"].default


def _score(
    frames: list[TemporalFrame],
    car: MovingCar,
    params: dict[str, ParamValue],
    oracle: OutputKind | None,
    seed: int,
    noise: OracleNoise | None = None,
) -> SequenceScore:
    if oracle is None:  # the shipped model
        from mono_depth_ros.models.depth_source import build_depth_source

        pipeline = DepthPipeline(params, build_depth_source(params))
        return SequenceScore.of(run_sequence(frames, pipeline, _no_prediction, car.start_frame))
    stream = TemporalOracle(oracle, seed, noise)
    pipeline = DepthPipeline(params)
    return SequenceScore.of(run_sequence(frames, pipeline, partial(_oracle_prediction, stream), car.start_frame))


def _oracle_prediction(stream: TemporalOracle, frame: TemporalFrame) -> npt.NDArray[np.float32]:
    return stream.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)


def _no_prediction(frame: TemporalFrame) -> None:
    """The network predicts from the image."""


def quality_table(
    drives: dict[int, list[TemporalFrame]], car: MovingCar, device: str, noise: OracleNoise | None = None
) -> None:
    """AbsRel, temporal error and the moving car's error, filter off and on, per depth source: means over the
    drives, and the worst drive's on / off ratios (the oracles with ``noise``, default :class:`OracleNoise`)."""
    print(f"{'depth source':28s} {'filter':>6s} {'AbsRel':>7s} {'temporal':>9s} {'car AbsRel':>10s} {'filter ms':>9s}  "
          f"worst drive on/off: {'AbsRel':>6s} {'temporal':>8s} {'car':>6s}")  # fmt: skip
    sources: list[tuple[str, OutputKind | None]] = [(f"oracle {k.value}", k) for k in SCALE_KINDS]
    sources.append(("shipped model (unet)", None))
    for name, kind in sources:
        if kind is None:
            base: dict[str, ParamValue] = {
                "lidar_topic": "/lidar/points",
                "output.edge_filter": False,
                "device": device,
            }
        else:
            base = oracle_params(kind, False)
        runs: dict[str, list[SequenceScore]] = {"off": [], "on": []}
        for seed, frames in drives.items():
            for label in runs:
                params = {**base, "temporal.enabled": label == "on"}
                runs[label].append(_score(frames, car, params, kind, seed, noise))
        for label, scores in runs.items():
            mean = [float(np.nanmean([getattr(s, f) for s in scores])) for f in ("abs_rel", "temporal", "car_abs_rel")]
            ms = float(np.nanmean([s.filter_ms for s in scores])) if label == "on" else float("nan")
            line = f"{name:28s} {label:>6s} {mean[0]:7.4f} {mean[1]:9.4f} {mean[2]:10.4f} {ms:9.2f}"
            if label == "on":
                worst = [
                    max(getattr(a, f) / getattr(b, f) for a, b in zip(scores, runs["off"], strict=True))
                    for f in ("abs_rel", "temporal", "car_abs_rel")
                ]
                line += f"  {'':19s} {worst[0]:6.3f} {worst[1]:8.2f} {worst[2]:6.3f}"
            print(line)


def floor_table(drives: dict[int, list[TemporalFrame]], car: MovingCar) -> None:
    """Per drive and oracle: the unfiltered temporal error, the floor (the oracle's scene-bound error alone, no
    flicker, no scale jitter), the filter's on / off ratio, and an estimate of the share of the flicker (the part
    above the floor, taking both to add in quadrature) the filter leaves against the share halving needs."""
    print(f"{'drive':>5s} {'oracle':18s} {'off':>7s} {'floor':>7s} {'floor/off':>9s} {'on/off':>7s} "
          f"{'flicker left':>12s} {'needed':>6s} {'car on/off':>10s}")  # fmt: skip
    scene_bound = OracleNoise(flicker_sigma=0.0, pixel_sigma=0.0, scale_jitter=0.0)
    for seed, frames in drives.items():
        for kind in SCALE_KINDS:
            off = _score(frames, car, oracle_params(kind, False), kind, seed)
            on = _score(frames, car, oracle_params(kind, True), kind, seed)
            floor = _score(frames, car, oracle_params(kind, False), kind, seed, scene_bound).temporal / off.temporal
            ratio = on.temporal / off.temporal
            left = np.sqrt(max(ratio**2 - floor**2, 0.0) / (1.0 - floor**2))
            needed = np.sqrt(max(0.25 - floor**2, 0.0) / (1.0 - floor**2))
            print(f"{seed:5d} {kind.value:18s} {off.temporal:7.4f} {floor * off.temporal:7.4f} {floor:9.2f} "
                  f"{ratio:7.3f} {left:12.2f} {needed:6.2f} {on.car_abs_rel / off.car_abs_rel:10.4f}")  # fmt: skip


def _median_ms(work: Callable[[int], object], repeats: int) -> float:
    """:func:`bench.timing.median_ms` of ``work(i)``: the warm-up call with 0, then ``i`` = 0, 1, ... (the frame)."""
    frames = itertools.chain([0], itertools.count())
    return median_ms(lambda: work(next(frames)), repeats)


def cost_table(frames: list[TemporalFrame], repeats: int, device: str = "cpu") -> None:
    """Filter time per frame on ``device`` (numpy in, numpy out) at three published sizes, for a scale-only map and
    ``affine_depth`` / ``relative_inverse`` ones (their change fitted as a scale and shift in depth / inverse depth),
    against the straightforward numpy warp."""
    print(
        f"{'published size':>15s} {'filter ms':>10s} {'affine_depth ms':>15s} {'rel_inverse ms':>15s}"
        f" {'numpy warp ms':>14s} {'ratio':>6s}"
    )
    camera = frames[0].intrinsics
    poses = [f.world_from_cam for f in frames[:2]]
    cur_from_prev = poses[1].inverse() @ poses[0]
    for width, height in ((414, 125), (640, 192), (1242, 375)):
        intrinsics: PinholeIntrinsics = camera.resized(width, height)
        depths = [cv2.resize(f.depth_m, (width, height), interpolation=cv2.INTER_NEAREST) for f in frames[:2]]
        temporal = TemporalFilter(device=device)
        ours = _median_ms(partial(_filter_step, temporal, depths, intrinsics, poses, FrameChange.SCALE), repeats)
        affine = TemporalFilter(device=device)
        shifted = _median_ms(
            partial(_filter_step, affine, depths, intrinsics, poses, FrameChange.SHIFT_IN_DEPTH), repeats
        )
        inverse = TemporalFilter(device=device)
        in_inverse = _median_ms(
            partial(_filter_step, inverse, depths, intrinsics, poses, FrameChange.SHIFT_IN_INVERSE), repeats
        )
        warp = partial(static_correspondences, depths[0], depths[1], intrinsics, cur_from_prev)
        baseline = _median_ms(lambda _, warp=warp: warp(), repeats)
        print(
            f"{width:>8d}x{height:<6d} {ours:10.2f} {shifted:15.2f} {in_inverse:15.2f} {baseline:14.2f}"
            f" {baseline / ours:6.2f}"
        )


def _filter_step(
    temporal: TemporalFilter, depths: list[npt.NDArray[np.float32]], intrinsics: PinholeIntrinsics,
    poses: list[RigidTransform], change: FrameChange, i: int,
) -> object:  # fmt: skip
    return temporal.update(depths[i % 2], intrinsics, poses[i % 2], change)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated drives (world and oracle seeds)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per cost row (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the node's auto on 2 cores: 1)")
    parser.add_argument("--device", default="auto", help="the shipped model's device (its filter runs there too)")
    parser.add_argument("--cost-only", action="store_true", help="only the filter's cost per frame (on --device)")
    parser.add_argument("--floor", action="store_true", help="only the scene-bound floor table (oracles)")
    parser.add_argument("--lidar-step-deg", type=float, default=0.5, help="the scans' azimuth step (test: 1)")
    parser.add_argument(
        "--network-like",
        action="store_true",
        help="oracles with NETWORK_LIKE noise (the shipped network's error structure, bench_flicker_structure)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    car = MovingCar()
    started = time.perf_counter()
    intrinsics = kitti_like_intrinsics(args.width, args.height)
    seeds = [int(text) for text in args.seeds.split(",")]
    if args.cost_only:
        device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
        print(f"temporal filter on {device}, {torch.get_num_threads()} torch thread(s); median of {args.repeats}")
        cost_table(list(render_sequence(seeds[0], 2, intrinsics, car)), args.repeats, device)
        return
    drives = {
        seed: list(render_sequence(seed, args.frames, intrinsics, car, azimuth_step_deg=args.lidar_step_deg))
        for seed in seeds
    }
    print(f"synthetic drives {seeds}: {args.frames} frames {args.width}x{args.height} each, rendered in "
          f"{time.perf_counter() - started:.1f} s; the car moves from frame {car.start_frame}; "
          f"{torch.get_num_threads()} torch thread(s), temporal.agreement {DEFAULT_AGREEMENT}")  # fmt: skip
    if args.floor:
        floor_table(drives, car)
        return
    quality_table(drives, car, args.device, NETWORK_LIKE if args.network_like else None)
    print()
    cost_table(drives[seeds[0]], args.repeats)


if __name__ == "__main__":
    main()
