"""KITTI Eigen split evaluation: monodepth2's raw-Velodyne ground truth, its improved-GT benchmark, the CLI.

The reference functions below transcribe monodepth2's ``kitti_utils.generate_depth_map`` (with its duplicate loop
and ``sub2ind``) and ``evaluate_depth.compute_errors`` / the per-image loop of ``evaluate``, so the project's
vectorised code is checked against the published procedure on real scans and crafted inputs.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.depth import PROTOCOLS, evaluate_predictions
from mono_depth_ros.evaluation.kitti_eigen import (
    kitti_eigen_samples,
    monodepth2_velodyne_depth,
    velodyne_to_image_matrix,
)
from mono_depth_ros.evaluation.metrics import garg_crop_mask
from mono_depth_ros.evaluation.samples import load_samples
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.kitti_files import load_depth_png, load_rgb, load_velodyne
from test.kitti_raw_tree import DATE, DRIVE, IMPROVED_DATE, IMPROVED_DRIVE, add_improved_drive, build_raw_tree


def reference_generate_depth_map(velo: np.ndarray, p_velo2im: np.ndarray, im_shape: tuple[int, int]) -> np.ndarray:
    """monodepth2 ``generate_depth_map(..., vel_depth=True)`` after the calibration is read (0 = no data)."""
    velo = np.hstack([velo[:, :3], np.ones((len(velo), 1))])
    velo = velo[velo[:, 0] >= 0, :]
    velo_pts_im = np.dot(p_velo2im, velo.T).T
    velo_pts_im[:, :2] = velo_pts_im[:, :2] / velo_pts_im[:, 2][..., np.newaxis]
    velo_pts_im[:, 2] = velo[:, 0]
    velo_pts_im[:, 0] = np.round(velo_pts_im[:, 0]) - 1
    velo_pts_im[:, 1] = np.round(velo_pts_im[:, 1]) - 1
    val_inds = (velo_pts_im[:, 0] >= 0) & (velo_pts_im[:, 1] >= 0)
    val_inds = val_inds & (velo_pts_im[:, 0] < im_shape[1]) & (velo_pts_im[:, 1] < im_shape[0])
    velo_pts_im = velo_pts_im[val_inds, :]
    depth = np.zeros(im_shape)
    depth[velo_pts_im[:, 1].astype(int), velo_pts_im[:, 0].astype(int)] = velo_pts_im[:, 2]
    inds = velo_pts_im[:, 1] * (im_shape[1] - 1) + velo_pts_im[:, 0] - 1  # monodepth2's sub2ind, verbatim
    dupe_inds = [item for item, count in Counter(inds).items() if count > 1]
    for dd in dupe_inds:
        pts = np.where(inds == dd)[0]
        x_loc, y_loc = int(velo_pts_im[pts[0], 0]), int(velo_pts_im[pts[0], 1])
        depth[y_loc, x_loc] = velo_pts_im[pts, 2].min()
    depth[depth < 0] = 0
    return depth


def reference_errors(gt: np.ndarray, pred: np.ndarray) -> tuple[float, ...]:
    """monodepth2 ``compute_errors``: abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3."""
    thresh = np.maximum((gt / pred), (pred / gt))
    a1, a2, a3 = ((thresh < 1.25**k).mean() for k in (1, 2, 3))
    rmse = np.sqrt(((gt - pred) ** 2).mean())
    rmse_log = np.sqrt(((np.log(gt) - np.log(pred)) ** 2).mean())
    abs_rel = np.mean(np.abs(gt - pred) / gt)
    sq_rel = np.mean(((gt - pred) ** 2) / gt)
    return abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3


def reference_evaluate(gt_depth: np.ndarray, pred_depth: np.ndarray, split: str, median: bool) -> tuple[float, ...]:
    """One image of monodepth2 ``evaluate`` (``eigen``: cap + Garg crop; ``eigen_benchmark``: gt > 0)."""
    h, w = gt_depth.shape
    if split == "eigen":
        mask = np.logical_and(gt_depth > 1e-3, gt_depth < 80)
        crop = np.array([0.40810811 * h, 0.99189189 * h, 0.03594771 * w, 0.96405229 * w]).astype(np.int32)
        crop_mask = np.zeros(mask.shape)
        crop_mask[crop[0] : crop[1], crop[2] : crop[3]] = 1
        mask = np.logical_and(mask, crop_mask)
    else:
        mask = gt_depth > 0
    pred, gt = pred_depth[mask], gt_depth[mask]
    if median:
        pred = pred * (np.median(gt) / np.median(pred))
    pred = np.clip(pred, 1e-3, 80)
    return reference_errors(gt, pred)


def as_tuple(metrics: object) -> tuple[float, ...]:
    return tuple(getattr(metrics, n) for n in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"))


def reference_mean(samples: list[Any], preds: list[np.ndarray], split: str, median: bool) -> np.ndarray:
    """The reference metrics averaged over the samples (NaN ground truth as the reference's 0 = none)."""
    pairs = zip(samples, preds, strict=True)
    rows = [reference_evaluate(np.nan_to_num(s.gt_depth_m), p, split, median) for s, p in pairs]
    return np.asarray(np.mean(rows, axis=0))


def test_crafted_points_follow_monodepth2_rules() -> None:
    """Identity extrinsics, fx = fy = 10, cx = cy = 5 on a 10×10 image: the devkit -1 offset, forward x as depth,
    nearest wins, points behind (x < 0) dropped."""
    k = np.array([[10.0, 0, 5, 0], [0, 10, 5, 0], [0, 0, 1, 0]])
    # camera looks along the Velodyne x axis: image u from -y, v from -z, w = x (a permuted identity)
    velo_to_cam = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])
    matrix = k @ velo_to_cam
    points = np.array(
        [
            [2.0, 0.0, 0.0],  # u = v = 5 -> pixel (4, 4), depth 2
            [4.0, 0.0, 0.0],  # same pixel, farther: loses
            [3.0, -0.6, -0.3],  # u = 5 + 10·0.2 = 7, v = 5 + 10·0.1 = 6 -> pixel (row 5, col 6), depth 3
            [-2.0, 0.0, 0.0],  # behind: dropped although it projects to (4, 4) too
            [1.0, 0.0, 0.46],  # v = 5 - 4.6 = 0.4 -> round 0 - 1 = -1: outside
        ]
    )
    depth = monodepth2_velodyne_depth(points, matrix, (10, 10))
    assert depth[4, 4] == 2.0 and depth[5, 6] == 3.0
    assert int(np.isfinite(depth).sum()) == 2
    np.testing.assert_array_equal(np.nan_to_num(depth), reference_generate_depth_map(points, matrix, (10, 10)))


def test_velodyne_ground_truth_matches_monodepth2_on_real_scans(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path)
    matrix, shape = velodyne_to_image_matrix(root / DATE, 2)
    assert shape == (375, 1242)
    scan = load_velodyne(root / DRIVE / "velodyne_points" / "data" / "0000000000.bin")
    ours = np.nan_to_num(monodepth2_velodyne_depth(scan, matrix, shape))
    reference = reference_generate_depth_map(scan.astype(np.float64), matrix, shape)
    assert 15_000 < int((reference > 0).sum()) < 25_000
    # identical except where monodepth2's sub2ind makes the last and first columns of adjacent rows collide
    np.testing.assert_array_equal(ours[:, 1:-1], reference[:, 1:-1])
    crop = garg_crop_mask(*shape)
    np.testing.assert_array_equal(ours[crop], reference[crop])


def test_eigen_split_protocol_equals_monodepth2(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path)
    split = tmp_path / "test_files.txt"
    split.write_text(f"{DRIVE} 0 l\n{DRIVE} 0000000001 l\n")  # both spellings of the frame index
    samples = kitti_eigen_samples(root, split, "velodyne")
    assert [s.name for s in samples] == [f"{DATE}_drive_0002_sync/0000000000", f"{DATE}_drive_0002_sync/0000000001"]
    rng = np.random.default_rng(0)
    preds = [  # depth up to scale (x 0.31) with per-pixel errors of up to -30 % / +40 %
        np.where(np.isfinite(s.gt_depth_m), s.gt_depth_m, 20.0) * 0.31 * rng.uniform(0.7, 1.4, s.gt_depth_m.shape)
        for s in samples
    ]
    pairs = [(s.name, p, s.gt_depth_m) for s, p in zip(samples, preds, strict=True)]
    report = evaluate_predictions(pairs, PROTOCOLS["kitti_eigen_velodyne"], OutputKind.DEPTH_UP_TO_SCALE)
    expected = reference_mean(samples, preds, "eigen", median=True)
    np.testing.assert_allclose(as_tuple(report.mean), expected, rtol=1e-7)  # float32 GT in the reference
    assert report.protocol.scaling == "median" and report.mean.count == 2


def test_benchmark_protocol_has_no_crop_and_no_gt_cap(kitti_depth_dir: Path, tmp_path: Path) -> None:
    indices = add_improved_drive(kitti_depth_dir, tmp_path)
    split = tmp_path / "eigen_benchmark.txt"
    split.write_text("".join(f"{IMPROVED_DRIVE} {i} l\n" for i in indices))
    samples = load_samples("kitti_eigen_benchmark", tmp_path, split)
    assert len(samples) == 3
    gt_png = tmp_path / IMPROVED_DRIVE / "proj_depth" / "groundtruth" / "image_02" / f"{indices[0]:010d}.png"
    np.testing.assert_array_equal(samples[0].gt_depth_m, load_depth_png(gt_png))
    preds = [np.full(s.gt_depth_m.shape, 15.0) for s in samples]
    pairs = [(s.name, p, s.gt_depth_m) for s, p in zip(samples, preds, strict=True)]
    report = evaluate_predictions(pairs, PROTOCOLS["kitti_eigen_benchmark"], OutputKind.METRIC)
    expected = reference_mean(samples, preds, "bench", median=False)
    np.testing.assert_allclose(as_tuple(report.mean), expected, rtol=1e-7)  # float32 GT in the reference
    garg = evaluate_predictions(pairs, PROTOCOLS["kitti_improved"], OutputKind.METRIC)
    assert garg.mean.abs_rel != pytest.approx(report.mean.abs_rel)  # the crop changes the number


def test_crafted_benchmark_pixels_hand_computed() -> None:
    """GT 2 m in the top row (outside any Garg crop), 100 m (beyond the 80 m cap), 10 m; prediction 1, 50, 10 m."""
    gt = np.full((20, 30), np.nan)
    gt[0, 0], gt[10, 15], gt[19, 29] = 2.0, 100.0, 10.0
    pred = np.full((20, 30), 50.0)
    pred[0, 0], pred[19, 29] = 1.0, 10.0
    report = evaluate_predictions([("x", pred, gt)], PROTOCOLS["kitti_eigen_benchmark"], OutputKind.METRIC)
    m = report.mean
    # pixels (gt, pred): (2, 1), (100, 50), (10, 10); nothing clipped (all within 1e-3..80)
    assert m.abs_rel == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert m.sq_rel == pytest.approx((1 / 2 + 2500 / 100 + 0) / 3)
    assert m.rmse == pytest.approx(math.sqrt((1 + 2500) / 3))
    assert m.rmse_log == pytest.approx(math.sqrt(2 * math.log(2) ** 2 / 3))
    assert (m.a1, m.a2, m.a3) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # the Garg-cropped, capped improved protocol sees only the 100 m pixel's neighbours: none valid -> count 0
    assert evaluate_predictions([("x", pred, gt)], PROTOCOLS["kitti_improved"], OutputKind.METRIC).mean.count == 0


def test_nyu_protocol_crop_and_cap() -> None:
    """Eigen NYU crop rows 45:471, cols 41:601 of 480×640, GT cap 10 m: only the pixel inside counts."""
    gt = np.full((480, 640), np.nan)
    gt[44, 300] = 3.0  # one row above the crop
    gt[45, 41] = 4.0  # first row / column inside
    gt[470, 600] = 12.0  # inside but beyond 10 m
    gt[471, 300] = 5.0  # one row below
    pred = np.full((480, 640), 2.0)
    report = evaluate_predictions([("n", pred, gt)], PROTOCOLS["nyu"], OutputKind.METRIC)
    assert report.mean.abs_rel == pytest.approx(0.5) and report.mean.rmse == pytest.approx(2.0)


def test_split_errors(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    split = tmp_path / "files.txt"
    split.write_text(f"{DRIVE} 7 l\n")
    with pytest.raises(ConfigError, match=r"missing.*0000000007"):
        kitti_eigen_samples(root, split)
    split.write_text(f"{DRIVE} 0 l\n")
    with pytest.raises(ConfigError, match="groundtruth"):
        kitti_eigen_samples(root, split, "improved")
    with pytest.raises(ConfigError, match="--split"):
        load_samples("kitti_eigen", root)
    with pytest.raises(ConfigError, match="ground truth"):
        kitti_eigen_samples(root, split, "lidar")
    assert IMPROVED_DATE != DATE


def test_object_folder_velodyne_ground_truth_is_monodepth2s(kitti_object_dir: Path) -> None:
    """``--dataset kitti_velodyne`` (object layout: image_2/, velodyne/, calib/) is scored under kitti_eigen_velodyne,
    monodepth2's protocol: its GT must be ``generate_depth_map``'s with the object calibration's
    ``P2 · R0_rect · Tr_velo_to_cam`` (the raw tree's ``P_rect_02 · R_rect_00 · [R | T]``). It was the camera-z
    z-buffer at rint(u): on the 3 real frames ~0.3 m nearer and one pixel off, 109-180 pixels in common."""
    from mono_depth_ros.training.data.kitti_files import read_calib_file

    for sample in load_samples("kitti_velodyne", kitti_object_dir):
        calib = read_calib_file(kitti_object_dir / "calib" / f"{sample.name}.txt")
        rect, velo_to_cam = np.eye(4), np.eye(4)
        rect[:3, :3], velo_to_cam[:3] = calib["R0_rect"].reshape(3, 3), calib["Tr_velo_to_cam"].reshape(3, 4)
        p_velo2im = calib["P2"].reshape(3, 4) @ rect @ velo_to_cam
        scan = load_velodyne(kitti_object_dir / "velodyne" / f"{sample.name}.bin").astype(np.float64)
        reference = reference_generate_depth_map(scan, p_velo2im, sample.rgb.shape[:2])
        ours = np.nan_to_num(sample.gt_depth_m)
        np.testing.assert_array_equal(ours[:, 1:-1], reference[:, 1:-1])  # monodepth2's sub2ind: first/last column
        crop = garg_crop_mask(*ours.shape)
        np.testing.assert_array_equal(ours[crop], reference[crop])


def _to_jpeg(root: Path, drive: str) -> None:
    """monodepth2's KITTI raw preparation: every colour image converted to ``.jpg`` (its default; ``--png`` keeps
    the download), the ``.png`` gone."""
    for png in sorted((root / drive).glob("image_0[23]/data/*.png")):
        cv2.imwrite(str(png.with_suffix(".jpg")), load_rgb(png)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        png.unlink()


def test_monodepth2s_jpeg_copy_of_kitti_raw_is_evaluated(
    kitti_object_dir: Path, kitti_depth_dir: Path, tmp_path: Path
) -> None:
    """``--dataset kitti_eigen`` / ``kitti_eigen_benchmark`` on monodepth2's ``.jpg`` copy of KITTI raw: the images as
    converted, the same ground truth. Before, ``.png`` was looked for only and every frame was refused as missing."""
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    indices = add_improved_drive(kitti_depth_dir, tmp_path / "raw")
    split = tmp_path / "test_files.txt"
    split.write_text(f"{DRIVE} 0 l\n{DRIVE} 1 l\n")
    as_png = kitti_eigen_samples(root, split)
    _to_jpeg(root, DRIVE)
    _to_jpeg(root, IMPROVED_DRIVE)
    samples = load_samples("kitti_eigen", root, split)
    for sample, png in zip(samples, as_png, strict=True):
        jpeg = load_rgb(root / DRIVE / "image_02" / "data" / f"{sample.name[-10:]}.jpg")
        np.testing.assert_array_equal(sample.rgb, jpeg)
        np.testing.assert_array_equal(sample.gt_depth_m, png.gt_depth_m)
        assert 2.0 < float(np.abs(sample.rgb.astype(float) - png.rgb).mean()) < 8.0  # JPEG's loss: not the .png
    split.write_text(f"{IMPROVED_DRIVE} {indices[0]} l\n")
    (benchmark,) = load_samples("kitti_eigen_benchmark", root, split)
    assert benchmark.rgb.shape == (375, 1242, 3) and int(np.isfinite(benchmark.gt_depth_m).sum()) > 50_000


def test_a_split_whose_images_are_missing_names_both_extensions(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    for png in sorted((root / DRIVE).glob("image_02/data/*.png")):
        png.unlink()
    split = tmp_path / "files.txt"
    split.write_text(f"{DRIVE} 1 l\n")
    with pytest.raises(ConfigError, match=r"0000000001\.png.*\.jpg"):
        kitti_eigen_samples(root, split)
