"""What a Nav2 costmap sees of /depth/points on real frames; the speckle filter at the published and the network size.

Run: ``.venv/bin/python -m bench.bench_costmap_real`` (a minute on a CPU). Inputs are the real frames of
``../shared/data`` (``$MONO_DEPTH_DATA``): the three KITTI object frames (image, Velodyne, calibration), the three
NYU frames and the three annotated KITTI frames. The shipped model runs as the node runs it
(``mono_depth_ros.models.depth_source.build_depth_source`` + ``mono_depth_ros.pipeline.DepthPipeline``), LiDAR
scale from the Velodyne scan on the object frames, with the node defaults (``default``) and with
``config/depth_nav2.yaml`` over them (``nav2``).

Table 1, per KITTI object frame and configuration, at the published size (pixels of the published image):

* points: published (finite) pixels; AbsRel / δ1 at the pixels with a LiDAR return in their 3×3 camera-pixel block
  (median of the block's returns);
* off: the share of the points with a LiDAR return in the 3×3 published-pixel window around them that lie farther
  than max(0.5 m, 10 %) from every one of those returns along the ray (floating off the surfaces the LiDAR saw);
  flying: the off points that lie between the nearest and farthest return of a window spanning a >10 % depth step
  (between a car and the background);
  edge -: how many flying points the edge filter removed (the same configuration without the speckle and edge
  filters gives the count before them);
* ground > 0.1: pixels whose LiDAR return lies on the ground (< 0.1 m above a plane fitted to the scan's low
  points) published 0.1-1.6 m above it (in the voxel layer's band of config/nav2_costmap_example.yaml: phantom
  obstacles); p90: the 90th percentile of the published height of those ground pixels;
* obstacle holes: pixels whose return lies 0.1-1.6 m above the ground within ``output.max_range`` (an obstacle in the
  band) that are not published in the band; +Inf/NaN/height: of those, beyond ``output.max_range``, removed by a
  filter, published at a height outside the band.

Table 2, the speckle filter (``output.outlier_filter``): the shipped model's own map (96×320) of each real frame
with single-pixel speckles at half or twice the depth (40 random pixels), upsampled to the published size as the
estimator upsamples (``upsample_edge_aware_host``), filtered at the published size (before: the pipeline until this
commit) and at the network's size (after: ``core.cloud_outliers.speckle_mask``). Speckle px: published pixels more
than 20 % off the clean map's; kept: those the filter left; clean lost: pixels the filter takes from the map without
speckles.

Table 3, the edge filter (``output.edge_filter``) at three ``output.edge_threshold`` values, summed over the KITTI
object frames, on the shipped model's published map without filters and on a sharp network-like map made from the
scan (:func:`network_like`): removed pixels, on-surface points lost, off points and flying points (as in table 1)
removed.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository's test package, not the standard library's

from mono_depth_ros.config import defaults, load_config  # noqa: E402
from mono_depth_ros.core.camera import CameraModel  # noqa: E402
from mono_depth_ros.core.cloud_outliers import outlier_mask, speckle_mask  # noqa: E402
from mono_depth_ros.core.edges import flying_pixel_mask  # noqa: E402
from mono_depth_ros.core.geometry import pixel_rays  # noqa: E402
from mono_depth_ros.evaluation.samples import annotated_samples  # noqa: E402
from mono_depth_ros.models.depth_source import build_depth_source  # noqa: E402
from mono_depth_ros.models.preprocess import upsample_edge_aware_host  # noqa: E402
from mono_depth_ros.pipeline import DepthPipeline, FrameInput, LidarInput, output_downscale  # noqa: E402
from test.conftest import shared_data_dir  # noqa: E402
from test.kitti_bag import KittiFrame, load_kitti_frames  # noqa: E402

F64 = npt.NDArray[np.float64]
OFF = {"output.edge_filter": False, "output.outlier_filter": False}
NETWORK_HW = (96, 320)  # the shipped model's input for a KITTI camera
BAND_M = (0.1, 1.6)  # the voxel layer's height band in config/nav2_costmap_example.yaml


def ground_plane(points_cam: npt.NDArray[np.floating]) -> F64:
    """(a, b, c) of ``y = a x + b z + c`` (optical frame, y down) fitted to the scan's low points 4-40 m ahead."""
    low = points_cam[
        (points_cam[:, 2] > 4) & (points_cam[:, 2] < 40) & (np.abs(points_cam[:, 0]) < 15) & (points_cam[:, 1] > 1.0)
    ]
    coef = np.zeros(3)
    for step in range(5):
        design = np.column_stack([low[:, 0], low[:, 2], np.ones(len(low))])
        coef = np.asarray(np.linalg.lstsq(design, low[:, 1], rcond=None)[0], dtype=np.float64)
        if step < 4:
            low = low[np.abs(low[:, 1] - design @ coef) < 0.15]
    return coef


def heights(coef: F64, depth: F64, rays: tuple[Any, Any]) -> F64:
    """Height above the fitted ground plane (metres, up) of each pixel's point."""
    a, b, c = coef
    x, y = depth * rays[0][None, :], depth * rays[1][:, None]
    return np.asarray((a * x + b * depth + c - y) / np.sqrt(1 + a * a + b * b))


def lidar_windows(frame: KittiFrame, shape: tuple[int, int]) -> tuple[F64, F64]:
    """The LiDAR returns of each published pixel's camera-pixel block (its median: the pixel's truth, NaN where
    none) and of the 3×3 published pixels around it, (h, w, n) NaN-padded."""
    h, w = shape
    f = frame.rgb.shape[0] // h
    lidar = frame.lidar_depth_m[: h * f, : w * f].astype(np.float64)
    blocks = lidar.reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h, w, f * f)
    padded = np.pad(blocks, ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    window = np.concatenate([padded[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=2)
    return np.asarray(np.nanmedian(blocks, axis=2)), window


def surface_classes(depth: F64, window: F64) -> tuple[Any, Any, Any]:
    """(on, off, flying) masks of the published points with returns in their window: within max(0.5 m, 10 %) of
    one of them, farther than that from all, and off while between the window's nearest and farthest return across
    a >10 % step."""
    valid = np.isfinite(depth) & np.isfinite(np.nanmin(window, axis=2))
    nearest = np.nanmin(np.abs(window - depth[..., None]), axis=2)
    low, high = np.nanmin(window, axis=2), np.nanmax(window, axis=2)
    tolerance = np.maximum(0.5, 0.1 * depth)
    off = valid & (nearest > tolerance)
    return valid & (nearest <= tolerance), off, off & (depth > low) & (depth < high) & (high > 1.1 * low)


def costmap_row(
    frame: KittiFrame, depth: F64, unfiltered: F64, rays: tuple[Any, Any], coef: F64, max_range: float
) -> list[Any]:
    truth, window = lidar_windows(frame, (int(depth.shape[0]), int(depth.shape[1])))
    valid = np.isfinite(depth)
    on, off, flying = surface_classes(depth, window)
    flying_before = surface_classes(unfiltered, window)[2]
    near_returns = on | off
    scored = valid & np.isfinite(truth)
    ratio = d_t = depth[scored] / truth[scored]
    absrel = float(np.mean(np.abs(d_t - 1.0)))
    delta1 = float(np.mean(np.maximum(ratio, 1.0 / ratio) < 1.25))
    published_h, true_h = heights(coef, depth, rays), heights(coef, truth, rays)
    ground = scored & (true_h < BAND_M[0])
    in_band = valid & (published_h >= BAND_M[0]) & (published_h <= BAND_M[1])
    obstacle = np.isfinite(truth) & (true_h >= BAND_M[0]) & (true_h <= BAND_M[1]) & (truth < max_range)
    p90 = float(np.percentile(published_h[ground], 90)) if ground.any() else float("nan")
    return [
        int(valid.sum()),
        f"{absrel:.3f}",
        f"{delta1:.3f}",
        f"{off.sum() / max(int(near_returns.sum()), 1):.1%}",
        int(flying_before.sum()),
        int(flying_before.sum() - flying.sum()),
        f"{(ground & in_band).sum()}/{ground.sum()}",
        f"{p90:.2f}",
        f"{(obstacle & ~in_band).sum()}/{obstacle.sum()}",
        "/".join(str((obstacle & m).sum()) for m in (np.isposinf(depth), np.isnan(depth), valid & ~in_band)),
    ]


def network_like(frame: KittiFrame) -> npt.NDArray[np.float32]:
    """A sharp network-like prediction of a KITTI frame at its published size (a third of the camera's): the scan
    interpolated along each column in inverse depth (test/core/test_edges.py), area-averaged in inverse depth to
    the network's 96×320 (blends where a step crosses a network pixel, as a network's receptive field does), and
    upsampled as the estimator upsamples."""
    from test.core.test_edges import _interpolated_lidar

    dense = _interpolated_lidar(frame.lidar_depth_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(np.isfinite(dense) & (dense > 0), 1.0 / dense, 0.0).astype(np.float32)
    small = cv2.resize(inverse, (NETWORK_HW[1], NETWORK_HW[0]), interpolation=cv2.INTER_AREA)
    with np.errstate(divide="ignore"):
        network = np.where(small > 0, 1.0 / np.where(small > 0, small, 1.0), np.nan).astype(np.float32)
    height, width = frame.rgb.shape[0] // 3, frame.rgb.shape[1] // 3
    upsampled = upsample_edge_aware_host(network, (height, width))
    assert upsampled is not None
    return upsampled


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i]) for i, c in enumerate(row)))
        if index == 0:
            print("  ".join("-" * n for n in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--speckles", type=int, default=40, help="speckles injected per frame (table 2)")
    args = parser.parse_args()
    data = shared_data_dir()
    if not data.is_dir():
        print(f"real frames not found at {data} (set MONO_DEPTH_DATA)", file=sys.stderr)
        return 1
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: no LiDAR near a pixel
    base = {**defaults(), "device": "cpu"}
    configs = {"default": base, "nav2": {**load_config(REPO / "config" / "depth_nav2.yaml"), "device": "cpu"}}
    source = build_depth_source(base)
    assert source is not None
    frames = load_kitti_frames(data / "kitti_object_3frames" / "training")

    rows = []
    shipped_maps: list[npt.NDArray[np.float32]] = []  # published, no speckle / edge filter (table 3)
    for frame in frames:
        camera = CameraModel.from_intrinsics(frame.intrinsics)
        lidar = LidarInput(frame.scan[:, :3].astype(np.float32), frame.cam_from_velo, 0)
        points = frame.cam_from_velo.apply(frame.scan[:, :3].astype(np.float64))
        coef = ground_plane(points[points[:, 2] > 0])
        inputs = FrameInput(0, "camera_optical", frame.rgb, camera, True, lidar)
        for name, config in configs.items():
            result = DepthPipeline(config, source=source).process_frame(inputs)
            bare = DepthPipeline({**config, **OFF}, source=source).process_frame(inputs).depth_m
            if name == "default":
                shipped_maps.append(bare)
            rays = pixel_rays(result.intrinsics)
            depth = result.depth_m.astype(np.float64)
            reach = float(config["output.max_range"])  # type: ignore[arg-type]
            row = costmap_row(frame, depth, bare.astype(np.float64), rays, coef, reach)
            rows.append([frame.name, name, *row])
    print("Table 1: KITTI object frames, shipped model, LiDAR scale; published pixels")
    header = ["frame", "config", "points", "AbsRel", "δ1", "off", "flying", "edge -", "ground>0.1", "p90 m"]
    print_table([*header, "obstacle holes", "+Inf/NaN/height"], rows)

    rng = np.random.default_rng(0)
    images = [(f.name, f.rgb) for f in frames]
    images += [(s.name, s.rgb) for s in annotated_samples(data / "metric3d_nyu_demo")]
    images += [(s.name, s.rgb) for s in annotated_samples(data / "metric3d_kitti_demo")]
    rows = []
    totals = np.zeros((2, 5), dtype=np.int64)
    for name, rgb in images:
        network_hw = source.network_hw(rgb.shape[:2])
        network = source.predict(rgb, network_hw)
        for downscale in (0, 1):
            factor = output_downscale(downscale, rgb.shape[:2], network_hw)
            out_hw = (rgb.shape[0] // factor, rgb.shape[1] // factor)
            clean = upsample_edge_aware_host(network, out_hw)
            assert clean is not None
            speckled = network.copy()
            r = rng.integers(3, network_hw[0] - 3, args.speckles)
            c = rng.integers(3, network_hw[1] - 3, args.speckles)
            speckled[r, c] *= np.where(rng.random(args.speckles) < 0.5, 0.5, 2.0).astype(np.float32)
            upsampled = upsample_edge_aware_host(speckled, out_hw)
            assert upsampled is not None
            phantom = np.abs(upsampled / clean - 1.0) > 0.2
            before, after = outlier_mask(upsampled), speckle_mask(upsampled, source_hw=network_hw)
            lost_before, lost_after = outlier_mask(clean).sum(), speckle_mask(clean, source_hw=network_hw).sum()
            counts = [phantom.sum(), (phantom & ~before).sum(), (phantom & ~after).sum(), lost_before, lost_after]
            totals[downscale] += counts
            size = f"{out_hw[1]}x{out_hw[0]}"
            rows.append([name, size, f"{out_hw[0] / network_hw[0]:.2f}", *counts])
    for downscale, label in ((0, "all, auto"), (1, "all, camera size")):
        rows.append([label, "", "", *totals[downscale]])
    print(f"\nTable 2: speckle filter on real maps, {args.speckles} network-pixel speckles a frame (before: at the")
    print("published size; after: at the network's, core.cloud_outliers.speckle_mask)")
    header = ["frame", "published", "rows x", "speckle px", "kept before", "kept after", "clean lost before"]
    print_table([*header, "clean lost after"], rows)

    rows = []
    for label, maps in (("shipped model", shipped_maps), ("network-like", [network_like(f) for f in frames])):
        for threshold in (0.05, 0.1, 0.2):
            tally = np.zeros(7, dtype=np.int64)
            for frame, published in zip(frames, maps, strict=True):
                window = lidar_windows(frame, (int(published.shape[0]), int(published.shape[1])))[1]
                on, off, flying = surface_classes(published.astype(np.float64), window)
                marked = flying_pixel_mask(published, threshold, NETWORK_HW)
                tally[:5] += [marked.sum(), (marked & on).sum(), on.sum(), (marked & off).sum(), off.sum()]
                tally[5:] += [(marked & flying).sum(), flying.sum()]
            lost = f"{tally[1]}/{tally[2]} ({tally[1] / max(int(tally[2]), 1):.2%})"
            rows.append([label, threshold, tally[0], lost, f"{tally[3]}/{tally[4]}", f"{tally[5]}/{tally[6]}"])
    print("\nTable 3: the edge filter (output.edge_threshold) on the three KITTI object frames, summed")
    header = ["prediction", "threshold", "removed", "on-surface lost", "off removed", "flying removed"]
    print_table(header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
