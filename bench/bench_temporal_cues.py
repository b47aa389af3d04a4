"""Issue 20: does a motion cue other than the depth residual let the temporal filter average static surfaces longer?

Run: ``.venv/bin/python -m bench.bench_temporal_cues [--oracle network-like|default|both|floor] [--seeds 0,1,2,3,4]
[--cases] [--demo]`` (about 4 minutes for both oracles and the demo line on one CPU thread). No assertions; the
tables and what they say are in bench/RESULTS-session-notes.md, "explore78" and "explore85".

The shipped filter restarts a pixel when its depth residual (window mean) exceeds ``temporal.agreement``; on
``NETWORK_LIKE`` (the shipped network's error structure: a smooth error that drifts as the view changes) that
residual cannot tell the network's drift from the car's motion, so neither a larger agreement nor a longer cap halves
the flicker without lag (explore71). Here a *cue* decides per pixel, before the depth test:

* ``moved``: the pixel restarts whatever its residual (``restart_moved``);
* ``static``: the pixel is averaged with a relaxed ``static_agreement`` and cap ``static_max_weight``, optionally
  without the drift limit (``static_drift`` false);
* neither: the shipped rules.

``follow`` (explore85): ``half`` (the shipped rule: the prior follows the running mean of the frame's median change)
or ``none`` (the frame's change is still taken out of the residual for the tests, but the prior is not rescaled: the
frame-wide change is averaged like the rest).

Cues: ``truth`` (the car's true mask, dilated by one pixel: moved; every other pixel static): the bound any motion
cue can reach; ``image``: the previous grey image (the camera's, area-averaged to the depth's size) warped into the
current view with the current depth and the known motion (the filter's own warp) and compared over a ``WINDOW``
window by zero-mean normalised correlation (so exposure and contrast do not count), optionally maximised over depth
factors (a small plane sweep: the network's depth error moves the warp too); a textured window (grey std at least
``min_texture`` counts) correlating below ``moved_below`` is moved, at least ``static_from`` (or not moved, when
``static_from`` is None) static. Untextured windows carry no cue. ``flow``: dense optical flow (OpenCV's DIS, preset
``dis_preset``) from the current grey image to the previous one, against the flow the filter's warp predicts (current
depth, known motion); its residual across the epipolar line (the depth error moves a pixel along that line, an object
moving against the static world off it) above ``flow_px`` pixels is moved (spread by a pixel), every other usable
pixel static.

``--oracle floor`` splits ``NETWORK_LIKE``: its error bound to the world point alone (``SCENE_BOUND``: the measure's
floor, not flicker) and the rest without it (``NETWORK_LIKE_NO_FLOOR``).

The scoring is the goal test's (test/evaluation/test_temporal_sequence.py: 320×96, 12 frames, drives 0-4, each output
kind, LiDAR scale, temporal on / off ratios of the temporal error, AbsRel and the moving car's AbsRel; goal on / off ≤
0.5 / ≤ 1 / ≤ 1), with the oracles' default noise or ``NETWORK_LIKE``. The ``cue`` columns: the share of the car's
usable pixels the cue calls moved / static, and of the static pixels (the rest). ``--demo``: ``make demo``'s strip
line (the shipped model on drive 0 at 320×96, as ``mono-depth demo`` prints it) per cue. ``filter ms``: the
pipeline's ``temporal`` stage, same run (a loaded shared machine: compare within a run).

The variant filter is a copy of ``TemporalFilter.update_tensor`` with the cue's hooks, installed into the pipeline
for the run; the cue ``shipped`` runs the shipped method itself, and ``shipped (copy)`` the copy with no cue, which
must print the same numbers (test/bench/test_bench_temporal_cues.py pins the copy without a cue to the shipped method
bit for bit: change both together).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mono_depth_ros.core import temporal_filter as tf
from mono_depth_ros.core.depth_kind import SCALE_KINDS, OutputKind
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
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

CAR = MovingCar()
WINDOW = 5  # px, the image cue's correlation window
KINDS = ("none", "copy", "truth", "image", "flow")  # Cue.kind
FOLLOWS = ("half", "none")  # Cue.follow


@dataclass(frozen=True)
class Cue:
    """One variant (module docstring)."""

    name: str
    kind: str = "none"  # none (shipped method) | copy (the copy, no cue) | truth | image | flow
    static_agreement: float = 0.08
    static_max_weight: float = 8.0
    static_drift: bool = True
    restart_moved: bool = True
    moved_below: float = 0.5
    static_from: float | None = None
    min_texture: float = 4.0
    depth_factors: tuple[float, ...] = ()
    follow: str = "half"  # half (shipped) | none: the prior does not follow the frame's change
    flow_px: float = 1.0
    dis_preset: int = 2  # cv2.DISOPTICAL_FLOW_PRESET_MEDIUM

    def __post_init__(self) -> None:
        # a typo must not give a row: an unknown kind runs the shipped method, a follow but "half" acts as "none"
        if self.kind not in KINDS:
            raise ValueError(f"Cue {self.name!r}: kind={self.kind!r}; use one of {', '.join(KINDS)}")
        if self.follow not in FOLLOWS:
            raise ValueError(f"Cue {self.name!r}: follow={self.follow!r}; use one of {', '.join(FOLLOWS)}")


@dataclass
class _Now:
    """What the cue may see of the current frame (set by the hooks), and the cue's counts."""

    grey: np.ndarray | None = None
    car: np.ndarray | None = None
    counts: list[list[float]] = field(default_factory=list)


NOW = _Now()


def _box(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x[None, None], WINDOW, 1, WINDOW // 2, count_include_pad=False)[0, 0]


def _area(image: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    import cv2

    if image.shape[:2] != shape:
        image = cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))


class CueFilter(tf.TemporalFilter):
    """:class:`TemporalFilter` whose per-pixel agreement, cap and restarts follow a :class:`Cue`."""

    def __init__(self, config: tf.TemporalFilterConfig, device: Any, cue: Cue) -> None:
        super().__init__(config, device)
        self.cue = cue
        self._grey: torch.Tensor | None = None

    def update_tensor(
        self,
        depth_m: torch.Tensor,
        intrinsics: Any,
        world_from_cam: RigidTransform | None,
        change: tf.FrameChange = tf.FrameChange.SCALE,
    ) -> tuple[torch.Tensor, tf.TemporalState, float]:
        cue = self.cue
        if cue.kind == "none":
            return super().update_tensor(depth_m, intrinsics, world_from_cam, change)
        depth = depth_m.to(self.device, torch.float32)
        valid = torch.isfinite(depth) & (depth > 0)
        shape = (int(depth.shape[0]), int(depth.shape[1]))
        grey = _area(NOW.grey, shape) if cue.kind in ("image", "flow") and NOW.grey is not None else None
        if intrinsics != self._intrinsics:
            self._intrinsics, self._rays = intrinsics, tf._rays(intrinsics, self.device)
            self.reset()
        if world_from_cam is None or self._depth is None or self._world_from_cam is None:
            state = tf.TemporalState.NO_MOTION if world_from_cam is None else tf.TemporalState.STARTED
            self._remember(torch.where(valid, depth, torch.nan), valid.float(), torch.zeros_like(depth), world_from_cam)
            self._grey = grey
            return depth_m, state, 0.0
        prev_from_cur = self._world_from_cam.inverse() @ world_from_cam
        prior, weight, drift, usable = self._warp_history(depth, valid, prev_from_cur)
        moved = torch.zeros_like(valid)
        static = torch.zeros_like(valid)
        if cue.kind == "truth" and NOW.car is not None:
            car = _area(NOW.car.astype(np.float32), shape) > 0
            moved = F.max_pool2d(car.float()[None, None], 3, 1, 1)[0, 0] > 0
            static = ~moved
        elif cue.kind == "image" and grey is not None and self._grey is not None:
            moved, static = self._image_cue(grey, depth, valid, usable, prev_from_cur)
        elif cue.kind == "flow" and grey is not None and self._grey is not None:
            moved = self._flow_cue(grey, depth, valid, usable, prev_from_cur)
            static = ~moved
        self._grey = grey
        if NOW.car is not None and cue.kind in ("truth", "image", "flow"):
            car = (_area(NOW.car.astype(np.float32), shape) > 0) & usable
            rest = usable & ~car
            NOW.counts.append(
                [float(t.sum()) for t in (moved & car, static & car, car, moved & rest, static & rest, rest)]
            )
        residual = torch.where(usable, (depth - prior) / depth, torch.zeros_like(depth))
        followed, residual, followable = self._take_out_frame_change(prior, residual, usable, change)
        if cue.follow == "half":
            prior = followed
        agreement = self.config.agreement
        window_mean = tf._window_mean(residual, usable.float())
        a = torch.where(static, cue.static_agreement, agreement)  # per pixel
        cap = torch.where(static, cue.static_max_weight, self.config.max_weight)
        agree = followable & (residual.abs() < tf.OUTLIER_FACTOR * a) & (window_mean.abs() < a)
        if cue.restart_moved:
            agree &= ~moved
        drift = torch.where(agree, 0.5 * (drift + window_mean), 0.0)
        trust = (1.0 - (window_mean / a) ** 2).clamp(min=0.0)
        drift_trust = (1.0 - (drift / (tf.DRIFT_FACTOR * a)) ** 2).clamp(min=0.0)
        if not cue.static_drift:
            drift_trust = torch.where(static, 1.0, drift_trust)
        trust *= drift_trust  # in the shipped method's order: no cue gives its numbers bit for bit
        kept = torch.where(agree, torch.minimum(weight, cap - 1.0) * trust, torch.zeros_like(depth))
        blended = (kept * torch.where(agree, prior, torch.zeros_like(depth)) + depth) / (kept + 1.0)
        out = torch.where(valid, blended, depth)
        self._remember(torch.where(valid, out, torch.nan), torch.where(valid, kept + 1.0, 0.0), drift, world_from_cam)
        n_valid, n_agree = torch.stack([valid.sum(), agree.sum()]).tolist()
        return out, tf.TemporalState.FILTERED, (n_agree / n_valid if n_valid else 0.0)

    def _in_previous(
        self, points: torch.Tensor, prev_from_cur: RigidTransform, translated: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, v) px in the previous view of ``points`` (3, H, W), m in the current camera (rotated only when not
        ``translated``: a direction, the point at infinite depth); z clamped at 1 mm."""
        assert self._intrinsics is not None
        k = self._intrinsics
        rotation = torch.as_tensor(prev_from_cur.rotation, dtype=torch.float32, device=self.device)
        in_prev = torch.einsum("ij,jhw->ihw", rotation, points)
        if translated:
            translation = torch.as_tensor(prev_from_cur.translation, dtype=torch.float32, device=self.device)
            in_prev = in_prev + translation[:, None, None]
        z = torch.where(in_prev[2] > 1e-3, in_prev[2], torch.ones_like(in_prev[2]))
        return k.fx * in_prev[0] / z + k.cx, k.fy * in_prev[1] / z + k.cy

    def _image_cue(
        self,
        grey: torch.Tensor,
        depth: torch.Tensor,
        valid: torch.Tensor,
        usable: torch.Tensor,
        prev_from_cur: RigidTransform,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(moved, static): the previous grey image warped by each depth factor, best correlation per window."""
        assert self._grey is not None and self._intrinsics is not None and self._rays is not None
        height, width = depth.shape
        mean = _box(grey)
        std = (_box(grey * grey) - mean * mean).clamp(min=0.0).sqrt()
        best = torch.full_like(grey, -1.0)
        for factor in (1.0, *self.cue.depth_factors):
            u, v = self._in_previous(
                self._rays * torch.where(valid, depth * factor, torch.zeros_like(depth)), prev_from_cur
            )
            grid = torch.stack([2.0 * u / max(width - 1, 1) - 1.0, 2.0 * v / max(height - 1, 1) - 1.0], dim=-1)
            warped = F.grid_sample(self._grey[None, None], grid[None], align_corners=True, padding_mode="border")[0, 0]
            warped_mean = _box(warped)
            warped_std = (_box(warped * warped) - warped_mean * warped_mean).clamp(min=0.0).sqrt()
            correlation = (_box(grey * warped) - mean * warped_mean) / (std * warped_std).clamp(min=1e-3)
            best = torch.maximum(best, correlation)
        textured = usable & (std >= self.cue.min_texture)
        moved = textured & (best < self.cue.moved_below)
        static = textured & (best >= self.cue.static_from) if self.cue.static_from is not None else textured & ~moved
        return moved, static

    def _flow_cue(
        self,
        grey: torch.Tensor,
        depth: torch.Tensor,
        valid: torch.Tensor,
        usable: torch.Tensor,
        prev_from_cur: RigidTransform,
    ) -> torch.Tensor:
        """Moved: DIS flow (current -> previous image) off the warp's predicted position across the epipolar line."""
        import cv2

        assert self._grey is not None and self._rays is not None
        height, width = depth.shape
        points = self._rays * torch.where(valid, depth, torch.zeros_like(depth))
        u, v = self._in_previous(points, prev_from_cur)
        u_far, v_far = self._in_previous(self._rays, prev_from_cur, translated=False)  # the ray at infinite depth
        uint8 = [np.clip(g.cpu().numpy(), 0, 255).astype(np.uint8) for g in (grey, self._grey)]
        flow = torch.from_numpy(cv2.DISOpticalFlow_create(self.cue.dis_preset).calc(uint8[0], uint8[1], None))
        xs = torch.arange(width, dtype=torch.float32)[None, :]
        ys = torch.arange(height, dtype=torch.float32)[:, None]
        dx, dy = xs + flow[..., 0] - u, ys + flow[..., 1] - v
        ex, ey = u - u_far, v - v_far  # along the epipolar line through the predicted position
        across = (dx * ey - dy * ex).abs() / torch.hypot(ex, ey).clamp(min=1e-6)
        off = (usable & (across > self.cue.flow_px)).float()
        return F.max_pool2d(off[None, None], 3, 1, 1)[0, 0] > 0


@contextlib.contextmanager
def installed(cue: Cue) -> Iterator[None]:
    """Every pipeline built inside gets a :class:`CueFilter` with ``cue``; each frame's image reaches it."""
    make, process = DepthPipeline._make_temporal_filter, DepthPipeline.process_frame

    def make_filter(self: DepthPipeline) -> CueFilter | None:
        if not self._config.temporal.enabled:
            return None
        return CueFilter(self._temporal_filter_config(), getattr(self._source, "device", "cpu"), cue)

    def process_frame(self: DepthPipeline, frame: Any, *args: Any, **kwargs: Any) -> Any:
        NOW.grey = frame.rgb.astype(np.float32).mean(axis=2)
        return process(self, frame, *args, **kwargs)

    DepthPipeline._make_temporal_filter = make_filter  # type: ignore[method-assign]
    DepthPipeline.process_frame = process_frame  # type: ignore[method-assign]
    try:
        yield
    finally:
        DepthPipeline._make_temporal_filter = make  # type: ignore[method-assign]
        DepthPipeline.process_frame = process  # type: ignore[method-assign]
        NOW.grey = NOW.car = None


@functools.cache
def drive(seed: int) -> list[TemporalFrame]:
    """The goal test's drive."""
    return list(render_sequence(seed, 12, kitti_like_intrinsics(320, 96), CAR, azimuth_step_deg=1.0))


@functools.cache
def _score(seed: int, kind: OutputKind, noise: OracleNoise | None, temporal: bool, cue: Cue) -> SequenceScore:
    oracle = TemporalOracle(kind, seed=seed, noise=noise)

    def predict(frame: TemporalFrame) -> np.ndarray:
        NOW.car = frame.car_mask
        return oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)

    with installed(cue):
        pipeline = DepthPipeline(oracle_params(kind, temporal))
        return SequenceScore.of(run_sequence(drive(seed), pipeline, predict, CAR.start_frame))


OFF = Cue("off")
SCENE_BOUND = replace(NETWORK_LIKE, flicker_sigma=0.0, pixel_sigma=0.0, scale_jitter=0.0, drift_sigma=0.0)
NETWORK_LIKE_NO_FLOOR = replace(NETWORK_LIKE, persistent_sigma=0.0)


def table(cues: list[Cue], noise: OracleNoise | None, label: str, seeds: list[int], cases: bool) -> None:
    """One row per cue: ranges and means of the on / off ratios over the drives × kinds, goal count, cue shares."""
    print(f"\n{label}: on / off over drives {seeds} x {len(SCALE_KINDS)} kinds")
    print(
        f"{'cue':44s} {'temporal':>17s} {'AbsRel':>13s} {'car':>15s} car>1 goal  filter ms  cue car mv/st  rest mv/st"
    )
    for cue in cues:
        NOW.counts = []
        ratios, ms = [], []
        for seed in seeds:
            for kind in SCALE_KINDS:
                off = _score(seed, kind, noise, False, OFF)
                on = _score(seed, kind, noise, True, cue)
                r = (on.temporal / off.temporal, on.abs_rel / off.abs_rel, on.car_abs_rel / off.car_abs_rel)
                ratios.append(r)
                ms.append(on.filter_ms)
                if cases:
                    print(f"    drive {seed} {kind.value:18s} {r[0]:.3f} / {r[1]:.3f} / {r[2]:.4f}")
        t, a, c = (np.array([r[i] for r in ratios]) for i in range(3))
        goal = int(np.sum((t <= 0.5) & (a <= 1.0) & (c <= 1.0)))
        shares = "        -    -"
        if NOW.counts:
            s = np.sum(NOW.counts, axis=0)
            shares = f"{s[0] / s[2]:6.2f} {s[1] / s[2]:4.2f} {s[3] / s[5]:6.2f} {s[4] / s[5]:4.2f}"
        print(
            f"{cue.name:44s} {t.min():.3f}-{t.max():.3f} {t.mean():.3f} {a.min():.3f}-{a.max():.3f} "
            f"{c.min():.4f}-{c.max():.4f} {int(np.sum(c > 1)):3d}/{len(c)} {goal:2d}/{len(c)} {np.mean(ms):8.2f}  "
            f"{shares}",
            flush=True,
        )


def demo_line(cue: Cue) -> str:
    """``mono-depth demo``'s temporal strip line (shipped model, drive 0, 320×96) with ``cue``."""
    from mono_depth_ros.demo.temporal_strip import record_strip
    from mono_depth_ros.models.depth_source import build_depth_source

    with installed(cue):
        source = build_depth_source({"lidar_topic": "/lidar/points"})
        strip = record_strip(0, source, 320, 96)
    off, on = strip.scores["off"], strip.scores["on"]
    return (
        f"{cue.name:44s} temporal {off.temporal:.4f} -> {on.temporal:.4f}, AbsRel {off.abs_rel:.4f} -> "
        f"{on.abs_rel:.4f}, car {off.car_abs_rel:.4f} -> {on.car_abs_rel:.4f}"
    )


CUES = [
    Cue("shipped", "none"),
    Cue("shipped (copy)", "copy"),
    Cue("truth: car restarts, agreement 0.08", "truth", static_drift=False),
    Cue("truth: car restarts, agreement 0.16", "truth", 0.16, 16.0, static_drift=False),
    Cue("truth: car restarts, agreement 0.30", "truth", 0.30, 16.0, static_drift=False),
    Cue("image: ncc<0.25 moved, agreement 0.16", "image", 0.16, 16.0, False, moved_below=0.25),
    Cue("image: ncc<0.5 moved, agreement 0.12 +drift", "image", 0.12, 16.0, True, moved_below=0.5),
    Cue("image: ncc<0.75 moved, agreement 0.16", "image", 0.16, 16.0, False, moved_below=0.75),
    Cue("image: ncc<0.5 restarts only", "image", moved_below=0.5),
    Cue("image: ncc>=0.8 relaxes only, agreement 0.16", "image", 0.16, 16.0, False, False, 0.0, 0.8),
    Cue("image: 3-depth sweep, ncc<0.5, agreement 0.16", "image", 0.16, 16.0, False, moved_below=0.5,
        depth_factors=(0.8, 1.25)),
    Cue("shipped (copy), not followed", "copy", follow="none"),
    Cue("truth: agreement 0.30, not followed", "truth", 0.30, 16.0, static_drift=False, follow="none"),
    Cue("flow: across > 1 px, agreement 0.30, not followed", "flow", 0.30, 16.0, static_drift=False, follow="none"),
    Cue("flow: across > 0.5 px, agreement 0.30, not followed", "flow", 0.30, 16.0, static_drift=False, follow="none",
        flow_px=0.5),
]  # fmt: skip
FLOOR_CUES = [
    c
    for c in CUES
    if c.name in ("shipped", "truth: car restarts, agreement 0.30", "truth: agreement 0.30, not followed")
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oracle", choices=("network-like", "default", "both", "floor"), default="both")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="drives (comma-separated)")
    parser.add_argument("--cases", action="store_true", help="print every drive x kind case")
    parser.add_argument("--demo", action="store_true", help="also make demo's temporal strip line per cue")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.oracle in ("network-like", "both"):
        table(CUES, NETWORK_LIKE, "NETWORK_LIKE", seeds, args.cases)
    if args.oracle in ("default", "both"):
        table(CUES, None, "default OracleNoise (the goal test's)", seeds, args.cases)
    if args.oracle == "floor":
        floor = "NETWORK_LIKE's scene-bound error alone (the measure's floor)"
        table(FLOOR_CUES, SCENE_BOUND, floor, seeds, args.cases)
        table(FLOOR_CUES, NETWORK_LIKE_NO_FLOOR, "NETWORK_LIKE without its scene-bound error", seeds, args.cases)
    if args.demo:
        print("\nmake demo's temporal strip line (shipped model, off -> on)")
        for cue in CUES:
            if cue.kind != "truth":  # the demo has no car mask
                print(demo_line(cue), flush=True)


if __name__ == "__main__":
    main()
