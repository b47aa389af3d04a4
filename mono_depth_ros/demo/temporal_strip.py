"""The demo's temporal-filter picture: depth over time of one static point and of a moving car, filter off and on.

A short drive of :mod:`mono_depth_ros.evaluation.temporal_sequence` (a car in the oncoming lane starts driving
towards the camera) runs through the pipeline twice, ``temporal.enabled`` false and true, with the demo's depth
source (the shipped network, or the oracle when the demo runs the oracle). Top panel: the published depth at a world
point on a static surface that stays in view (tracked with the known poses) against its true depth; bottom panel:
the median published depth over the car's pixels against its true median. Drawn with OpenCV like the other plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.geometry import backproject_depth
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.demo.colour import RGB, TEXT_RGB, fit_text, with_banner
from mono_depth_ros.demo.plots import PLOT_HEIGHT_PX, PLOT_WIDTH_PX, TRUTH_RGB, dashed_polyline, time_axes
from mono_depth_ros.evaluation.temporal_sequence import (
    FrameScore,
    MovingCar,
    SequenceScore,
    TemporalFrame,
    TemporalOracle,
    oracle_params,
    render_sequence,
    run_sequence,
    subsample,
)
from mono_depth_ros.pipeline import DepthPipeline, DepthSource

STRIP_FRAMES = 12
OFF_RGB, ON_RGB = (200, 200, 200), (80, 200, 255)


@dataclass(frozen=True)
class TemporalStrip:
    """Both runs of the strip's drive: per-frame depths of the tracked point and the car, and the run scores."""

    times_s: list[float]
    point: dict[str, list[float]]  # "truth", "off", "on": depth of the tracked static point (m), NaN out of view
    car: dict[str, list[float]]  # the same for the car's median depth (NaN where it is not in view)
    scores: dict[str, SequenceScore]  # "off", "on"

    def note(self) -> str:
        """One report line with the run's numbers."""
        off, on = self.scores["off"], self.scores["on"]
        return (
            f"temporal filter on a {len(self.times_s)}-frame drive with a moving car (temporal.png): temporal error on "
            f"static surfaces {off.temporal:.4f} -> {on.temporal:.4f}, "
            f"AbsRel off the car {off.abs_rel:.4f} -> {on.abs_rel:.4f}, "
            f"moving car AbsRel {off.car_abs_rel:.4f} -> {on.car_abs_rel:.4f}"
        )


def record_strip(seed: int, source: DepthSource | None, width: int, height: int) -> TemporalStrip:
    """Run the drive (``width`` × ``height``, :data:`STRIP_FRAMES` frames) with ``source`` (None: the oracle)."""
    car = MovingCar()
    frames = list(render_sequence(seed, STRIP_FRAMES, kitti_like_intrinsics(width, height), car, azimuth_step_deg=1.0))
    runs: dict[str, list[FrameScore]] = {}
    for label, enabled in (("off", False), ("on", True)):
        if source is None:
            oracle = TemporalOracle(OutputKind.RELATIVE_INVERSE, seed)
            pipeline = DepthPipeline(oracle_params(OutputKind.RELATIVE_INVERSE, enabled))
            predict = partial(_oracle_prediction, oracle)
            runs[label] = run_sequence(frames, pipeline, predict, car.start_frame)
        else:
            params = {"lidar_topic": "/lidar/points", "output.edge_filter": False, "temporal.enabled": enabled}
            runs[label] = run_sequence(frames, DepthPipeline(params, source), _no_prediction, car.start_frame)
    point = _static_point_track(frames, runs)
    car_track = _car_track(frames, runs)
    times = [f.index * 0.1 for f in frames]
    scores = {label: SequenceScore.of(run) for label, run in runs.items()}
    return TemporalStrip(times, point, car_track, scores)


def _oracle_prediction(oracle: TemporalOracle, frame: TemporalFrame) -> npt.NDArray[np.float32]:
    return oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)


def _no_prediction(frame: TemporalFrame) -> None:
    """The network predicts from the image."""


def _static_point_track(frames: list[TemporalFrame], runs: dict[str, list[FrameScore]]) -> dict[str, list[float]]:
    """Depth of one world point on a static surface (seen in every frame, 15-40 m away at the start)."""
    first = frames[0]
    k = first.intrinsics
    rows, cols = np.mgrid[k.height // 4 : k.height : 4, 2 : k.width - 2 : 4]
    depth0 = first.depth_m[rows, cols]
    keep = np.isfinite(depth0) & (depth0 > 15.0) & (depth0 < 40.0) & ~first.car_mask[rows, cols]
    points = backproject_depth(first.depth_m, k)[rows[keep], cols[keep]].astype(np.float64)
    in_world = first.world_from_cam.apply(points)
    visible = np.ones(in_world.shape[0], bool)
    pixels = []
    for frame in frames:
        in_cam = frame.world_from_cam.inverse().apply(in_world)
        z = in_cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.rint(k.fx * in_cam[:, 0] / z + k.cx).astype(np.int64)
            v = np.rint(k.fy * in_cam[:, 1] / z + k.cy).astype(np.int64)
        inside = (z > 0) & (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
        u, v = np.where(inside, u, 0), np.where(inside, v, 0)
        seen = frame.depth_m[v, u]
        visible &= inside & (np.abs(seen - z) < 0.01 * z) & ~frame.car_mask[v, u]
        pixels.append((v, u, z))
    track: dict[str, list[float]] = {"truth": [], "off": [], "on": []}
    if not visible.any():
        return track
    best = int(np.flatnonzero(visible)[np.argmin(np.abs(np.linalg.norm(points[visible], axis=1) - 25.0))])
    for index, (v, u, z) in enumerate(pixels):
        track["truth"].append(float(z[best]))
        for label, run in runs.items():
            published = run[index].depth_m
            scale = published.shape[1] / k.width
            row = min(int(v[best] * scale), published.shape[0] - 1)
            col = min(int(u[best] * scale), published.shape[1] - 1)
            track[label].append(float(published[row, col]))
    return track


def _car_track(frames: list[TemporalFrame], runs: dict[str, list[FrameScore]]) -> dict[str, list[float]]:
    """Median depth over the car's pixels per frame (NaN where it is not in view)."""
    track: dict[str, list[float]] = {"truth": [], "off": [], "on": []}
    for index, frame in enumerate(frames):
        mask = frame.car_mask
        track["truth"].append(float(np.median(frame.depth_m[mask])) if mask.any() else float("nan"))
        for label, run in runs.items():
            published = run[index].depth_m
            small = subsample(mask, published.shape)
            values = published[small & np.isfinite(published)]
            track[label].append(float(np.median(values)) if values.size else float("nan"))
    return track


def series_plot(
    times_s: Sequence[float], series: dict[str, list[float]], title: str, width: int = PLOT_WIDTH_PX
) -> RGB:
    """Depth (m) over time: ``truth`` dashed yellow, ``off`` grey, ``on`` blue (NaN points left out)."""
    height = PLOT_HEIGHT_PX
    canvas = np.full((height, width, 3), 12, dtype=np.uint8)
    left, right, top, bottom = 56, width - 12, 26, height - 28
    t = np.asarray(times_s, dtype=np.float64)
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in series.values()] or [np.zeros(0)])
    values = values[np.isfinite(values)]
    if t.size < 2 or values.size == 0:
        fit_text(canvas, f"{title}: nothing to plot", (left, height // 2), TEXT_RGB)
        return canvas
    pad = 0.08 * max(float(values.max() - values.min()), 0.5)
    v_low, v_high = float(values.min()) - pad, float(values.max()) + pad
    t_low, t_high = float(t.min()), float(t.max())

    to_px = time_axes(canvas, (left, right, top, bottom), (t_low, t_high), (v_low, v_high), unit=" m")
    for name, colour in (("truth", TRUTH_RGB), ("off", OFF_RGB), ("on", ON_RGB)):
        series_values = np.asarray(series.get(name, []), dtype=np.float64)
        if series_values.size != t.size:
            continue
        keep = np.isfinite(series_values)
        pixels = to_px(t[keep], series_values[keep])
        if len(pixels) < 2:
            continue
        if name == "truth":
            dashed_polyline(canvas, pixels, colour)
        else:
            # off wide underneath, on thin above: both stay visible where the filter changed nothing
            thickness, radius = (1, 2) if name == "on" else (4, 4)
            cv2.polylines(canvas, [pixels.reshape(-1, 1, 2)], False, colour, thickness, cv2.LINE_AA)
            for x, y in pixels:
                cv2.circle(canvas, (int(x), int(y)), radius, colour, -1, cv2.LINE_AA)
    fit_text(canvas, f"{title}: dashed truth, grey filter off, blue filter on", (left, 16), TEXT_RGB, 0.4)
    return canvas


def write_temporal_strip(
    out_dir: Path, seed: int, source: DepthSource | None, source_label: str, warn: bool, width: int, height: int
) -> tuple[Path, str]:
    """Record the strip and write ``temporal.png`` into ``out_dir``; returns its path and the report line."""
    from mono_depth_ros.demo.pictures import write_png

    strip = record_strip(seed, source, width, height)
    panels = np.vstack(
        [
            series_plot(strip.times_s, strip.point, "static point"),
            series_plot(strip.times_s, strip.car, "moving car (median over its pixels)"),
        ]
    )
    title = "depth over time, temporal.enabled false / true"
    return write_png(Path(out_dir) / "temporal.png", with_banner(panels, title, source_label, warn)), strip.note()
