"""Evaluation harness for the ground plane's scale + shift check (relative_inverse / affine_depth).

Negatives: a vehicle close ahead (a block of one depth from a row down to the image's bottom) in four layouts on the
six KITTI-type frames (KITTI object 000000-000002 from their Velodyne scans, metric3d KITTI frames from their
annotated depth; nearest-filled), the prediction resized to 0.5 / 1 / 2x, exact, with 3 % / 6 % pixel noise (2 %
outliers, no smooth error) or oracle-perturbed (``noise`` -1: 15 % smooth error too), the prior each frame's own ground
plane (RANSAC on its ground truth: an error is then the check's, not the prior's) or the nominal 1.65 m level one.
Positives: the same six frames without the vehicle and the three NYU frames (floor), own plane, resized to 0.5-3x
with 3 % / 6 % noise. A case's error is ``|median(fitted depth / true depth) - 1|`` over the ground-truth pixels off
the vehicle, at the native size.

Run ``PYTHONPATH=$PWD python -m test.core.scale.ground_harness`` for the table; with ``--slopes`` the column slope
(:func:`~mono_depth_ros.core.scale.ground._slope_problem`'s) of every fit, the check itself off: real ground (the nine
frames, also oracle-perturbed and with the nominal prior, four seeds: 1440 fits) against the vehicle fits; with
``--pitch`` how far the ground plane fitted in a depth_up_to_scale prediction is from a right or wrong prior's pitch.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.errors import ScaleRecoveryError
from mono_depth_ros.core.scale import ground as ground_module
from mono_depth_ros.core.scale.fit import apply_fit
from mono_depth_ros.core.scale.ground import GroundPlaneConfig, ground_plane_fit
from mono_depth_ros.evaluation.scale import PerturbationConfig, perturb_prediction
from mono_depth_ros.models.spec import OutputKind

F64 = npt.NDArray[np.float64]
KINDS = (OutputKind.RELATIVE_INVERSE, OutputKind.AFFINE_DEPTH)
# (top row, first column, last column) as fractions of the image, depth in metres: a vehicle close ahead.
LAYOUTS = {
    "3m wide": (0.4, 0.16, 0.89, 3.0),
    "5m centre": (0.4, 0.24, 0.81, 5.0),
    "6m centre": (0.4, 0.28, 0.76, 6.0),
    "4m left": (0.4, 0.0, 0.56, 4.0),
}
NOMINAL = GroundPlaneConfig(camera_height_m=1.65)  # KITTI's camera height, level
BAD = 0.12  # a fit this far off is bad


@dataclass(frozen=True)
class Frame:
    """One frame: dense (nearest-filled) depth for the prediction, sparse truth, its camera and its ground plane."""

    name: str
    dense_m: npt.NDArray[np.float32]
    truth_m: npt.NDArray[np.float32]
    intrinsics: PinholeIntrinsics
    ground: GroundPlaneConfig


@dataclass(frozen=True)
class Case:
    """One fit: what was asked and what came out (error None: refused, with ``reason``)."""

    frame: str
    layout: str  # "" for no vehicle
    kind: OutputKind
    factor: float
    noise: float
    error: float | None
    reason: str = ""
    nominal: bool = False  # the prior was NOMINAL, not the frame's own plane


def ground_plane_of(truth_m: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics) -> GroundPlaneConfig:
    """The camera's height and pitch / roll over the largest near-level plane of the ground truth (RANSAC, 5 cm)."""
    v, u = np.nonzero(np.isfinite(truth_m) & (truth_m > 0) & (truth_m < 20.0))
    v, u = v[::7], u[::7]
    z = truth_m[v, u].astype(np.float64)
    points = np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], axis=1)
    rng = np.random.default_rng(0)
    scored = points[rng.choice(points.shape[0], min(points.shape[0], 3000), replace=False)]
    best, best_count = np.array([0.0, 1.0, 0.0, 1.5]), -1
    for _ in range(600):
        a, b, c = scored[rng.choice(scored.shape[0], 3, replace=False)]
        normal = np.cross(b - a, c - a)
        if np.linalg.norm(normal) < 1e-9:
            continue
        normal /= np.linalg.norm(normal)
        normal *= np.sign(normal[1])  # towards the ground (optical y down)
        if normal[1] < 0.85:
            continue
        count = int(np.count_nonzero(np.abs(scored @ normal - normal @ a) < 0.05))
        if count > best_count:
            best, best_count = np.append(normal, normal @ a), count
    inliers = points[np.abs(points @ best[:3] - best[3]) < 0.05]
    centre = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centre, full_matrices=False)[2][2]  # Vt alone: the full U is N x N
    normal *= np.sign(normal[1])
    pitch = math.asin(normal[2])
    return GroundPlaneConfig(
        camera_height_m=float(normal @ centre), pitch_rad=pitch, roll_rad=math.asin(normal[0] / math.cos(pitch))
    )


def _frame(name: str, truth_m: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics) -> Frame:
    truth = np.asarray(truth_m, dtype=np.float32)
    return Frame(name, densify_nearest(truth), truth, intrinsics, ground_plane_of(truth, intrinsics))


@cache
def kitti_frames(data_dir: Path) -> list[Frame]:
    """The six KITTI-type frames under ``data_dir`` (/work/shared/data's layout)."""
    from mono_depth_ros.evaluation.samples import annotated_samples
    from test.kitti_bag import load_kitti_frames

    scans = load_kitti_frames(data_dir / "kitti_object_3frames" / "training")
    annotated = annotated_samples(data_dir / "metric3d_kitti_demo")
    return [_frame(f.name, f.lidar_depth_m, f.intrinsics) for f in scans] + [
        _frame(s.name, s.gt_depth_m, s.intrinsics) for s in annotated
    ]


@cache
def nyu_frames(data_dir: Path) -> list[Frame]:
    """The three NYU frames under ``data_dir``."""
    from mono_depth_ros.evaluation.samples import annotated_samples

    samples = annotated_samples(data_dir / "metric3d_nyu_demo", default_png_scale=1000.0)
    return [_frame(s.name, s.gt_depth_m, s.intrinsics) for s in samples]


def _prediction(depth_m: F64, kind: OutputKind, noise: float, seed: int) -> npt.NDArray[np.float32]:
    if noise < 0:  # the default oracle perturbation: 15 % smooth error, 3 % noise, 2 % outliers
        return perturb_prediction(depth_m, kind, np.random.default_rng(seed))[0]
    if noise == 0.0:
        exact = (1.0 / depth_m - 0.01) / 0.05 if kind is OutputKind.RELATIVE_INVERSE else (depth_m - 2.0) / 30.0
        return exact.astype(np.float32)
    config = PerturbationConfig(low_freq_sigma=0.0, noise_sigma=noise)
    return perturb_prediction(depth_m, kind, np.random.default_rng(seed), config)[0]


def _case_inputs(
    frame: Frame, layout: str, kind: OutputKind, factor: float, noise: float, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], PinholeIntrinsics, npt.NDArray[np.bool_]]:
    """A case's prediction at the frame's size, the same resized by ``factor`` (bilinear) with its intrinsics, and the
    pixels scored (finite truth, outside the layout's vehicle)."""
    height, width = frame.dense_m.shape
    depth = frame.dense_m.astype(np.float64)
    keep = np.isfinite(frame.truth_m) & (frame.truth_m > 0)
    if layout:
        top, first, last, metres = LAYOUTS[layout]
        rows, cols = slice(round(top * height), None), slice(round(first * width), round(last * width))
        depth = depth.copy()
        depth[rows, cols] = metres
        keep[rows, cols] = False
    prediction = _prediction(depth, kind, noise, seed)
    size = (round(width * factor), round(height * factor))
    resized = prediction if factor == 1 else np.asarray(cv2.resize(prediction, size), dtype=np.float32)  # bilinear
    intrinsics = frame.intrinsics if factor == 1 else frame.intrinsics.resized(*size)
    return prediction, resized, intrinsics, keep


def run_case(
    frame: Frame, layout: str, kind: OutputKind, factor: float, noise: float, seed: int = 1, nominal: bool = False
) -> Case:
    """Fit one case and score it (``noise``: pixel noise sigma, 0 exact, -1 the default oracle perturbation;
    ``nominal``: the prior is 1.65 m, level, instead of the frame's own plane)."""
    prediction, resized, intrinsics, keep = _case_inputs(frame, layout, kind, factor, noise, seed)
    try:
        fit = ground_plane_fit(resized, kind, intrinsics, NOMINAL if nominal else frame.ground)
    except ScaleRecoveryError as err:
        return Case(frame.name, layout, kind, factor, noise, None, str(err).split(";")[0], nominal)
    metric = apply_fit(prediction, kind, fit.scale, fit.shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = metric[keep] / frame.truth_m[keep]
    error = abs(float(np.nanmedian(ratio)) - 1.0)
    return Case(frame.name, layout, kind, factor, noise, error, "", nominal)


def slope_case(
    frame: Frame, layout: str, kind: OutputKind, factor: float, noise: float, seed: int = 1, nominal: bool = False
) -> tuple[Case, float | None]:
    """:func:`run_case`'s fit with the column-slope check off: the case (its error as the fit would be without the
    check) and the pooled column slope (None: refused before the check)."""
    prediction, resized, intrinsics, keep = _case_inputs(frame, layout, kind, factor, noise, seed)
    prior = NOMINAL if nominal else frame.ground
    samples = ground_module._plane_samples(resized, kind, intrinsics, prior)
    try:
        fit = ground_module._prior_normal_fit(samples.q, samples.prior_inverse, kind, prior)
    except ScaleRecoveryError as err:
        return Case(frame.name, layout, kind, factor, noise, None, str(err).split(";")[0], nominal), None
    slope = ground_module._column_slope(samples, kind, fit, prior)[0]
    metric = apply_fit(prediction, kind, fit.scale, fit.shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = abs(float(np.nanmedian(metric[keep] / frame.truth_m[keep])) - 1.0)
    return Case(frame.name, layout, kind, factor, noise, error, "", nominal), slope


def slope_survey(kitti: list[Frame], nyu: list[Frame]) -> None:
    """Print the column slopes of real ground and of vehicle fits (the check off) and what each threshold refuses."""
    grounds = [
        slope_case(frame, "", kind, factor, noise, seed, nominal)
        for frame in kitti + nyu
        for kind in KINDS
        for factor in (0.5, 1.0, 2.0, 3.0)
        for noise in (0.03, 0.06, -1.0)
        for seed in (1, 2, 3, 4)
        for nominal in ((False, True) if frame in kitti else (False,))
    ]
    vehicles = [
        slope_case(frame, layout, kind, factor, noise, 1, nominal)
        for frame in kitti
        for layout in LAYOUTS
        for kind in KINDS
        for factor in (0.5, 1.0, 2.0)
        for noise in (0.0, 0.03, 0.06, -1.0)
        for nominal in (False, True)
    ]
    nyu_names = {f.name for f in nyu}
    for name, nyu_frame, noise in [(n, f, z) for n, f in (("KITTI", False), ("NYU", True)) for z in (0.03, 0.06, -1.0)]:
        slopes = [s for c, s in grounds if (c.frame in nyu_names) == nyu_frame and c.noise == noise and s is not None]
        refused = sum(s is None for c, s in grounds if (c.frame in nyu_names) == nyu_frame and c.noise == noise)
        print(
            f"ground {name} noise {noise}: {len(slopes)} fits, slope min {min(slopes):.2f}, 5th percentile "
            f"{np.percentile(slopes, 5):.2f}, median {np.median(slopes):.2f}; {refused} refused before the check"
        )
    for own in (True, False):
        bad = [s for c, s in vehicles if c.nominal != own and s is not None and c.error is not None and c.error > BAD]
        prior = "own road plane" if own else "nominal prior"
        print(f"vehicle fits > {BAD:.0%} off without the check, {prior}: {len(bad)}, slope max {max(bad):.2f}")
    ground_slopes = np.array([s for _, s in grounds if s is not None])
    own_bad = np.array([s for c, s in vehicles if not c.nominal and s is not None and (c.error or 0.0) > BAD])
    for threshold in (0.7, 0.75, 0.8, 0.85):
        print(
            f"threshold {threshold}: ground refused {int(np.sum(ground_slopes < threshold))} of {ground_slopes.size}, "
            f"own-plane vehicle fits > {BAD:.0%} off accepted {int(np.sum(own_bad >= threshold))} of {own_bad.size}"
        )


def fitted_pitches(
    prediction: npt.NDArray[np.float32], intrinsics: PinholeIntrinsics, prior: GroundPlaneConfig
) -> tuple[float | None, float | None]:
    """The pitch (°, positive down) of the ground plane fitted in a depth_up_to_scale ``prediction``: to the prior
    fit's inliers, and by the estimated-normal RANSAC (None: refused)."""
    kind = OutputKind.DEPTH_UP_TO_SCALE
    samples = ground_module._plane_samples(prediction, kind, intrinsics, prior)
    depth = 1.0 / samples.q
    design = np.stack([samples.x, samples.y, np.ones_like(samples.x)], axis=1) * depth[:, None]  # relative residual

    def pitch(plane: npt.NDArray[np.floating]) -> float:
        return math.degrees(math.asin(float(plane[2] / np.linalg.norm(plane))))

    found: list[float | None] = []
    try:
        fit = ground_module._prior_normal_fit(depth, samples.prior_inverse, kind, prior)
        inliers = np.abs(np.log(fit.scale * depth * samples.prior_inverse)) < prior.inlier_threshold
        found.append(pitch(np.linalg.lstsq(design[inliers], np.ones(int(inliers.sum())), rcond=None)[0]))
    except ScaleRecoveryError:
        found.append(None)
    try:
        ground_module._estimated_plane_fit(samples.x, samples.y, samples.q, prior)
        found.append(pitch(ground_module._estimated_plane(samples.x, samples.y, samples.q, prior)[0]))
    except ScaleRecoveryError:
        found.append(None)
    return found[0], found[1]


def pitch_survey(frames: list[Frame]) -> None:
    """Print how far the fitted ground's pitch is from the prior's, the prior right or 1° / 2° off (false alarms /
    detections of a pitch check at 1°)."""
    table: dict[tuple[float, float, int], list[float]] = {}
    for frame in frames:
        for noise in (0.03, 0.06, -1.0):
            for seed in range(1, 11):
                prediction = _prediction(frame.dense_m.astype(np.float64), OutputKind.DEPTH_UP_TO_SCALE, noise, seed)
                for error in (0.0, 1.0, -1.0, 2.0, -2.0):
                    prior = GroundPlaneConfig(
                        frame.ground.camera_height_m,
                        frame.ground.pitch_rad + math.radians(error),
                        frame.ground.roll_rad,
                    )
                    for way, found in enumerate(fitted_pitches(prediction, frame.intrinsics, prior)):
                        if found is not None:
                            table.setdefault((noise, error, way), []).append(found - math.degrees(prior.pitch_rad))
    for (noise, error, way), offs in sorted(table.items()):
        off = np.abs(offs)
        print(
            f"{('prior inliers', 'RANSAC')[way]:13} noise {noise:5} prior {error:+.0f}° off: {len(offs)} fits, "
            f"fitted - prior {np.mean(offs):+.2f}° (sd {np.std(offs):.2f}), more than 1° apart: {np.mean(off > 1):.0%}"
        )


def vehicle_cases(kitti: list[Frame]) -> Iterator[Case]:
    """Negatives: 6 frames x 4 layouts x 2 kinds x 0.5 / 1 / 2x x 4 noises x 2 priors (1152 fits)."""
    for frame in kitti:
        for layout in LAYOUTS:
            for kind in KINDS:
                for factor in (0.5, 1.0, 2.0):
                    for noise in (0.0, 0.03, 0.06, -1.0):
                        for nominal in (False, True):
                            yield run_case(frame, layout, kind, factor, noise, nominal=nominal)


def ground_cases(kitti: list[Frame], nyu: list[Frame]) -> Iterator[Case]:
    """Positives: 9 frames x 2 kinds x 0.5 / 1 / 2 / 3x x 3 % / 6 % noise x 2 seeds (288 fits)."""
    for frame in kitti + nyu:
        for kind in KINDS:
            for factor in (0.5, 1.0, 2.0, 3.0):
                for noise in (0.03, 0.06):
                    for seed in (1, 2):
                        yield run_case(frame, "", kind, factor, noise, seed)


def summary(vehicles: list[Case], grounds: list[Case], nyu_names: set[str]) -> dict[str, int | float]:
    """Counts for the table: vehicles accepted / accepted more than ``BAD`` off; ground refused / accepted bad."""
    accepted = [c for c in vehicles if c.error is not None]
    ground_ok = [c for c in grounds if c.error is not None]
    nyu = [c for c in grounds if c.frame in nyu_names]
    return {
        "vehicle cases": len(vehicles),
        "vehicle accepted": len(accepted),
        "vehicle accepted bad": sum(c.error is not None and c.error > BAD for c in vehicles),
        "worst accepted vehicle": max((c.error for c in accepted if c.error is not None), default=0.0),
        "ground cases": len(grounds),
        "ground refused": len(grounds) - len(ground_ok),
        "ground refused (NYU)": sum(c.error is None for c in nyu),
        "ground accepted bad": sum(c.error is not None and c.error > BAD for c in grounds),
    }


def main() -> None:
    from test.conftest import shared_data_dir

    data = shared_data_dir().resolve()
    kitti, nyu = kitti_frames(data), nyu_frames(data)
    if "--slopes" in sys.argv[1:]:
        slope_survey(kitti, nyu)
        return
    if "--pitch" in sys.argv[1:]:
        pitch_survey(kitti + nyu)
        return
    for f in kitti + nyu:
        g = f.ground
        print(
            f"{f.name}: h {g.camera_height_m:.2f} m pitch {math.degrees(g.pitch_rad):+.1f} roll "
            f"{math.degrees(g.roll_rad):+.1f}"
        )
    vehicles, grounds = list(vehicle_cases(kitti)), list(ground_cases(kitti, nyu))
    for c in vehicles:
        if c.error is not None and c.error > BAD:
            prior = "1.65 m level" if c.nominal else "own plane"
            what = f"{c.frame} {c.layout} {c.kind.value} {c.factor}x noise {c.noise}"
            print(f"vehicle accepted {c.error:.0%} off: {what}, {prior}")
    for c in grounds:
        if c.error is None or c.error > BAD:
            print(f"ground {c.frame} {c.kind.value} {c.factor}x noise {c.noise}: {c.error} {c.reason}")
    for key, value in summary(vehicles, grounds, {f.name for f in nyu}).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
