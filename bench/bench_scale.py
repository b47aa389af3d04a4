"""Per-frame CPU cost of LiDAR scale recovery on full KITTI HDL-64E scans (~115-127k points), against a
straightforward implementation measured in the same run.

Ours: ``project_scan`` (K folded into the extrinsic, one element-wise affine combination per image axis, z-buffer
with ``np.minimum.at`` on the points' bounding box, occlusion test as two ``cv2.erode`` windows, scratch arrays
reused across frames as ``ScaleRecovery`` does) + the robust fit (at most 4096 points for the scale fit, 8192 for
scale + shift).
Straightforward: float64 ``RigidTransform.apply`` of every point, ``geometry.zbuffer_depth`` (lexsort), the same
two-sided occlusion test as a Python loop over points with numpy window slices, and a Python RANSAC loop scoring
every point per hypothesis. Both keep the same points (checked).

Run: ``.venv/bin/python bench/bench_scale.py [--repeat 50]``. Prints a table; no assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.timing import samples_ms
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.core.scale.deskew import deskewed_scan
from mono_depth_ros.core.scale.extrinsic_check import ExtrinsicCheck, ExtrinsicCheckConfig
from mono_depth_ros.core.scale.fit import FitConfig, fit_for_kind
from mono_depth_ros.core.scale.lidar import LidarScan, ProjectionConfig, ScratchBuffers, project_scan
from mono_depth_ros.core.scale.recovery import RecoveryConfig, ScaleRecovery
from mono_depth_ros.evaluation.scale import perturb_prediction
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_velodyne

REPO_ROOT = Path(__file__).resolve().parents[1]


def timed(function: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, minimum) wall time of ``function`` in milliseconds (one warm-up call).

    The minimum approximates the cost on an idle core; the median includes interference from other processes.
    """
    samples = samples_ms(function, repeat)
    return statistics.median(samples), min(samples)


def straightforward_projection(
    points_in_velo: npt.NDArray[np.float32],
    cam_from_velo: RigidTransform,
    intrinsics: PinholeIntrinsics,
    config: ProjectionConfig,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Transform everything in float64, z-buffer with lexsort, occlusion test point by point."""
    points_in_camera = cam_from_velo.apply(points_in_velo.astype(np.float64))
    z = points_in_camera[:, 2]
    valid = (z > config.min_depth_m) & (z < config.max_depth_m) & np.any(points_in_velo != 0, axis=1)
    points_in_camera = points_in_camera[valid]
    depth, winners = zbuffer_depth(points_in_camera, intrinsics, config.min_depth_m)
    zbuffer = np.where(np.isfinite(depth), depth, np.inf)
    half_u, half_v = config.window_px(intrinsics)
    u_all = np.rint(intrinsics.fx * points_in_camera[:, 0] / points_in_camera[:, 2] + intrinsics.cx).astype(np.intp)
    v_all = np.rint(intrinsics.fy * points_in_camera[:, 1] / points_in_camera[:, 2] + intrinsics.cy).astype(np.intp)
    keep_u, keep_v, keep_z = [], [], []
    for i in winners:
        u, v, zi = u_all[i], v_all[i], np.float32(points_in_camera[i, 2])
        threshold = zi - (np.float32(config.margin_m) + np.float32(config.margin_rel) * zi)
        columns = slice(max(u - half_u, 0), u + half_u + 1)
        above = zbuffer[max(v - half_v, 0) : v + 1, columns].min()
        below = zbuffer[v : v + half_v + 1, columns].min()
        if not (above < threshold and below < threshold):
            keep_u.append(u)
            keep_v.append(v)
            keep_z.append(points_in_camera[i, 2])
    return np.asarray(keep_u), np.asarray(keep_v), np.asarray(keep_z)


def straightforward_affine_fit(disparity: npt.NDArray[np.float64], depth_m: npt.NDArray[np.float64]) -> float:
    """RANSAC over 2-point samples scoring every point per hypothesis, then least squares on the inliers."""
    rng = np.random.default_rng(0)
    inverse = 1.0 / depth_m
    best_count, best = -1, (0.0, 0.0)
    for _ in range(64):
        i, j = rng.integers(0, disparity.size, 2)
        if disparity[i] == disparity[j]:
            continue
        s = (inverse[i] - inverse[j]) / (disparity[i] - disparity[j])
        t = inverse[i] - s * disparity[i]
        count = int(np.sum(np.abs(depth_m * (s * disparity + t) - 1.0) < 0.25))
        if s > 0 and count > best_count:
            best_count, best = count, (s, t)
    inliers = np.abs(depth_m * (best[0] * disparity + best[1]) - 1.0) < 0.25
    design = np.stack([disparity[inliers], np.ones(int(inliers.sum()))], axis=1)
    return float(np.linalg.lstsq(design, inverse[inliers], rcond=None)[0][0])


def bench_frame(root: Path, name: str, repeat: int, baseline_repeat: int) -> None:
    """Time ours and the baseline on one scan and print a table."""
    import cv2

    image = cv2.imread(str(root / "image_2" / f"{name}.png"))
    if image is None:
        msg = f"cannot read {root / 'image_2' / name}.png"
        raise FileNotFoundError(msg)
    calib = load_object_calibration(root / "calib" / f"{name}.txt", image.shape[1], image.shape[0])
    points = np.ascontiguousarray(load_velodyne(root / "velodyne" / f"{name}.bin")[:, :3])
    scan = LidarScan(points, calib.cam_from_velo, 0)
    intrinsics = calib.intrinsics
    config = ProjectionConfig()
    sparse = project_scan(scan, intrinsics, config)
    rng = np.random.default_rng(0)
    dense = densify_nearest(sparse.to_image(intrinsics))
    depth_pred, _ = perturb_prediction(dense, OutputKind.DEPTH_UP_TO_SCALE, rng)
    disp_pred, _ = perturb_prediction(dense, OutputKind.RELATIVE_INVERSE, rng)
    d_samples, r_samples = depth_pred[sparse.v, sparse.u], disp_pred[sparse.v, sparse.u]
    fit_config = FitConfig()
    recovery = ScaleRecovery(RecoveryConfig())
    base_u, base_v, base_z = straightforward_projection(points, calib.cam_from_velo, intrinsics, config)
    ours_pixels = set(zip(sparse.v.tolist(), sparse.u.tolist(), strict=True))
    base_pixels = set(zip(base_v.tolist(), base_u.tolist(), strict=True))
    base_depth_samples = depth_pred[base_v, base_u]
    base_disp_samples = disp_pred[base_v, base_u].astype(np.float64)
    buffers = ScratchBuffers()
    steps = {
        "projection + z-buffer + occlusion filter": (
            lambda: project_scan(scan, intrinsics, config, buffers=buffers),
            lambda: straightforward_projection(points, calib.cam_from_velo, intrinsics, config),
        ),
        "scale fit (depth_up_to_scale)": (
            lambda: fit_for_kind(d_samples, sparse.depth_m, OutputKind.DEPTH_UP_TO_SCALE, fit_config),
            lambda: float(np.median(base_z / base_depth_samples)),
        ),
        "scale + shift fit (relative_inverse)": (
            lambda: fit_for_kind(r_samples, sparse.depth_m, OutputKind.RELATIVE_INVERSE, fit_config),
            lambda: straightforward_affine_fit(base_disp_samples, base_z),
        ),
    }
    times = {step: (timed(ours, repeat), timed(base, baseline_repeat)) for step, (ours, base) in steps.items()}
    times["ScaleRecovery.update (relative_inverse), incl. the metric depth image"] = (
        timed(lambda: recovery.update(disp_pred, OutputKind.RELATIVE_INVERSE, 0, intrinsics, scan), repeat),
        (float("nan"), float("nan")),
    )
    every_call = ExtrinsicCheck(ExtrinsicCheckConfig(frames=1, recheck_every=1))  # looks at every scan it is given
    times["extrinsic check, one look (ScaleRecovery: 3 of every 50 scans)"] = (
        timed(lambda: every_call.observe(points, scan.cam_from_lidar, intrinsics), repeat),
        (float("nan"), float("nan")),
    )
    times["extrinsic check, one look with the prediction (the yaw test, as ScaleRecovery calls it)"] = (
        timed(
            lambda: every_call.observe(points, scan.cam_from_lidar, intrinsics, disp_pred, OutputKind.RELATIVE_INVERSE),
            repeat,
        ),
        (float("nan"), float("nan")),
    )
    times["projection without reusing ScratchBuffers"] = (
        timed(lambda: project_scan(scan, intrinsics, config), repeat),
        (float("nan"), float("nan")),
    )
    azimuth = np.arctan2(points[:, 1], points[:, 0])  # a 10 Hz sweep's point times, starting behind (KITTI)
    point_dt_ns = np.rint((np.pi - azimuth) / (2 * np.pi) * 1e8).astype(np.int64)
    times["de-skew, 2 ms slices (lidar.motion_frame + per-point times; TF lookups not included)"] = (
        timed(
            lambda: deskewed_scan(points, point_dt_ns, 0, scan.cam_from_lidar, lambda t: scan.cam_from_lidar), repeat
        ),
        (float("nan"), float("nan")),
    )
    print(
        f"\n{name}.bin ({image.shape[1]}×{image.shape[0]}): {points.shape[0]} points, {sparse.stats.n_kept} kept "
        f"({sparse.stats.n_occluded} occluded); pixels kept by only one of ours / the baseline: "
        f"{len(ours_pixels ^ base_pixels)} (float32 vs float64 rounding)"
    )
    print("| step | ours median (min) ms | straightforward median (min) ms | speed-up (medians) |")
    print("|---|---:|---:|---:|")
    projection = times["projection + z-buffer + occlusion filter"]
    affine = times["scale + shift fit (relative_inverse)"]
    total = (
        (projection[0][0] + affine[0][0], projection[0][1] + affine[0][1]),
        (projection[1][0] + affine[1][0], projection[1][1] + affine[1][1]),
    )
    rows = list(times.items())
    rows.insert(3, ("**projection + filter + scale/shift fit**", total))
    for step, ((ours_med, ours_min), (base_med, base_min)) in rows:
        base = f"{base_med:.1f} ({base_min:.1f})" if base_med == base_med else ""
        speed_up = f"{base_med / ours_med:.0f}×" if base_med == base_med else ""
        print(f"| {step} | {ours_med:.2f} ({ours_min:.2f}) | {base} | {speed_up} |")


def main() -> None:
    """Benchmark every scan of the KITTI object frames and print one table per frame."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50, help="timed repetitions of our implementation")
    parser.add_argument("--baseline-repeat", type=int, default=3, help="timed repetitions of the baseline")
    args = parser.parse_args()
    data = Path(os.environ.get("MONO_DEPTH_DATA", REPO_ROOT.parent / "shared" / "data"))
    root = data / "kitti_object_3frames" / "training"
    load = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} CPU threads, load average {load:.1f}; median of {args.repeat} (ours) / "
        f"{args.baseline_repeat} (straightforward) runs"
    )
    for scan_path in sorted((root / "velodyne").glob("*.bin")):
        bench_frame(root, scan_path.stem, args.repeat, args.baseline_repeat)


if __name__ == "__main__":
    main()
