from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.evaluation.metrics import (
    NAN_METRICS,
    compute_metrics,
    eigen_crop_mask_nyu,
    garg_crop_mask,
    mean_metrics,
    median_scale,
)


def test_hand_computed_case() -> None:
    gt = np.array([[2.0, 4.0], [10.0, np.nan]])
    pred = np.array([[1.0, 5.0], [10.0, 3.0]])
    m = compute_metrics(pred, gt)
    # |1-2|/2 = 0.5, |5-4|/4 = 0.25, 0  -> mean 0.25
    assert m.abs_rel == pytest.approx(0.25)
    # (1/2 + 1/4 + 0) / 3
    assert m.sq_rel == pytest.approx(0.25)
    assert m.rmse == pytest.approx(math.sqrt(2 / 3))
    assert m.rmse_log == pytest.approx(math.sqrt((math.log(0.5) ** 2 + math.log(1.25) ** 2) / 3))
    assert m.log10 == pytest.approx((abs(math.log10(0.5)) + math.log10(1.25)) / 3)
    # ratios 2, 1.25, 1 -> only "1" is < 1.25; 1.25 and 1 are < 1.5625; all three < 1.953125 ... 2 is not
    assert m.a1 == pytest.approx(1 / 3)
    assert m.a2 == pytest.approx(2 / 3)
    assert m.a3 == pytest.approx(2 / 3)
    # KITTI depth benchmark / ZoeDepth SILog: 100 sqrt(mean g² - (mean g)²), g = ln pred - ln gt
    g = np.array([math.log(0.5), math.log(1.25), 0.0])
    assert m.silog == pytest.approx(100 * math.sqrt(np.mean(g**2) - np.mean(g) ** 2))
    # devkit iRMSE in 1/km: 1000/1 - 1000/2 = 500, 1000/5 - 1000/4 = -50, 0
    assert m.irmse == pytest.approx(math.sqrt((500**2 + 50**2) / 3))
    assert np.isnan(NAN_METRICS.silog) and np.isnan(NAN_METRICS.irmse)


def test_silog_ignores_a_global_scale_and_irmse_is_per_kilometre() -> None:
    rng = np.random.default_rng(2)
    gt = rng.uniform(2, 30, size=(30, 40))  # x 1.3 stays below the 80 m clip
    pred = gt * np.exp(rng.normal(0, 0.1, gt.shape))
    m, scaled = compute_metrics(pred, gt), compute_metrics(pred * 1.3, gt)
    assert scaled.silog == pytest.approx(m.silog) and scaled.abs_rel != pytest.approx(m.abs_rel)
    assert compute_metrics(np.full((2, 2), 500.0), np.full((2, 2), 250.0), max_depth_m=1000.0).irmse == (
        pytest.approx(2.0)  # 1 / 0.5 km - 1 / 0.25 km = -2 per km
    )
    mean = mean_metrics([m, scaled])
    assert mean.silog == pytest.approx(m.silog) and mean.irmse == pytest.approx((m.irmse + scaled.irmse) / 2)


def test_median_scaling_removes_a_global_scale() -> None:
    rng = np.random.default_rng(1)
    gt = rng.uniform(2, 50, size=(40, 60))
    pred = gt / 7.3
    assert compute_metrics(pred, gt).abs_rel > 0.8
    assert compute_metrics(pred, gt, median_scaling=True).abs_rel == pytest.approx(0.0, abs=1e-12)
    assert median_scale(pred, gt, np.ones_like(gt, dtype=bool)) == pytest.approx(7.3)


def test_median_scaling_pairs_ground_truth_and_prediction_pixels() -> None:
    """monodepth2 takes both medians over the same pixels: a prediction with no value (NaN, or a sky head's +Inf) at
    some GT pixels leaves those out of the GT median too (else the far GT there biased it: 9.625 instead of 7)."""
    gt = np.arange(1.0, 11.0).reshape(2, 5)  # 1 .. 10 m
    pred = gt / 7.0
    pred[1, 2:] = [np.nan, np.inf, -1.0]  # no usable prediction at the three farthest GT pixels (8, 9, 10 m)
    mask = np.ones_like(gt, dtype=bool)
    assert median_scale(pred, gt, mask) == pytest.approx(7.0)  # median(1..7) / median((1..7) / 7)
    m = compute_metrics(pred, gt, median_scaling=True)
    far = np.array([8.0, 9.0, 10.0])  # NaN -> 1e-3 m, +Inf -> the 80 m cap, -1 -> 1e-3 m (BTS); exact elsewhere
    errors = np.concatenate([np.zeros(7), np.abs([1e-3, 80.0, 1e-3] - far) / far])
    assert m.abs_rel == pytest.approx(errors.mean())


def test_range_and_crop() -> None:
    gt = np.full((375, 1242), 90.0)
    gt[200, 600] = 10.0
    pred = np.full_like(gt, 10.0)
    m = compute_metrics(pred, gt, max_depth_m=80.0, crop=garg_crop_mask(375, 1242))
    assert m.abs_rel == 0.0 and m.count == 1
    assert garg_crop_mask(375, 1242)[:150].sum() == 0
    assert eigen_crop_mask_nyu(480, 640).sum() == (471 - 45) * (601 - 41)


def test_no_valid_pixels_is_not_averaged_in() -> None:
    gt = np.full((4, 4), np.nan)
    assert compute_metrics(np.ones((4, 4)), gt) == NAN_METRICS
    good = compute_metrics(np.full((4, 4), 2.0), np.full((4, 4), 1.0))
    mean = mean_metrics([good, NAN_METRICS, good])
    assert mean.count == 2 and mean.abs_rel == pytest.approx(1.0)
    assert mean_metrics([NAN_METRICS]).count == 0
    with pytest.raises(ShapeError):
        compute_metrics(np.ones((2, 2)), np.ones((3, 3)))


def test_garg_crop_of_the_kb_crop() -> None:
    """ZoeDepth's KITTI pixels: Garg fractions of the bottom-centre 352×1216 (rows 23+143:23+349, cols 13+43:13+1172
    of 375×1242); a frame already cut to 352×1216 gets the plain Garg crop; a smaller frame has no KB crop."""
    from mono_depth_ros.evaluation.metrics import garg_kb_crop_mask

    rows, cols = np.nonzero(garg_kb_crop_mask(375, 1242))
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (166, 372, 56, 1185)
    np.testing.assert_array_equal(garg_kb_crop_mask(352, 1216), garg_crop_mask(352, 1216))
    with pytest.raises(ShapeError, match=r"352x1216.*192x640"):
        garg_kb_crop_mask(192, 640)


def _devkit_depth_error(gt_png: np.ndarray, pred_m: np.ndarray) -> np.ndarray:
    """The KITTI depth-prediction devkit's ``depthError`` (``evaluate_depth.cpp``), transcribed: over pixels whose
    16-bit GT PNG is non-zero (``value / 256`` metres), the prediction as given: mae, rmse, inverse mae, inverse rmse
    (1/m), log mae, log rmse, scale invariant log sqrt(mean d² - (sum d)² / n²) with d = ln gt - ln pred, abs relative,
    squared relative mean (|d - d*| / d*)²."""
    valid = gt_png > 0
    gt = gt_png[valid].astype(np.float64) / 256.0
    pred = pred_m[valid].astype(np.float64)
    err, err_inv, log_d = np.abs(gt - pred), np.abs(1.0 / gt - 1.0 / pred), np.log(gt) - np.log(pred)
    n = float(valid.sum())
    normalized_squared_log = np.sum(log_d**2) / n
    return np.array(
        [
            np.sum(err) / n,
            np.sqrt(np.sum(err**2) / n),
            np.sum(err_inv) / n,
            np.sqrt(np.sum(err_inv**2) / n),
            np.sum(np.abs(log_d)) / n,
            np.sqrt(normalized_squared_log),
            np.sqrt(normalized_squared_log - np.sum(log_d) ** 2 / (n * n)),
            np.sum(err / gt) / n,
            np.sum(err**2 / gt**2) / n,
        ]
    )


def _annotated_pngs(root: Path) -> list[Path]:
    """The depth PNGs that ``test_annotations.json`` lists (Metric3D's ``data/<demo>/depth/x.png`` under ``root``), in
    the order of the samples (by name)."""
    entries = json.loads((root / "test_annotations.json").read_text())["files"]
    listed = [root / Path(e["depth"]).relative_to(Path(e["depth"]).parents[1]) for e in entries]
    return sorted(listed, key=lambda png: png.stem.replace("sync_depth_", "rgb_"))


def test_sparse_png_ground_truth_reads_as_monodepth2_and_bts_read_it(kitti_depth_dir: Path, nyu_dir: Path) -> None:
    """monodepth2 ``export_gt_depth.py`` (``eigen_benchmark``): ``np.array(pil.open(png)).astype(np.float32) / 256``,
    0 = no data; BTS / ZoeDepth NYU: ``/ 1000.0`` in float32. Read here with PIL, not OpenCV (the project's reader),
    on the real 16-bit PNGs: the same float32 metres bit for bit, NaN exactly where the PNG holds 0."""
    from PIL import Image

    from mono_depth_ros.evaluation.samples import load_samples

    for dataset, root, scale in (("kitti_annotated", kitti_depth_dir, 256), ("nyu", nyu_dir, 1000)):
        samples = load_samples(dataset, root)
        pngs = _annotated_pngs(root)
        assert len(samples) == len(pngs) == 3
        for sample, png in zip(samples, pngs, strict=True):
            assert png.stem.endswith(sample.name.removeprefix("rgb_"))
            raw = np.array(Image.open(png))
            assert raw.dtype == np.uint16 and raw.ndim == 2  # PIL mode I;16
            reference = raw.astype(np.float32) / scale
            valid = raw > 0
            assert 0.05 < valid.mean() < 0.99
            np.testing.assert_array_equal(np.isfinite(sample.gt_depth_m), valid)
            np.testing.assert_array_equal(sample.gt_depth_m[valid], reference[valid])


def test_kitti_devkit_silog_irmse_and_the_mean_over_images_on_real_ground_truth(kitti_depth_dir: Path) -> None:
    """The KITTI depth-prediction benchmark's figures against its devkit transcribed, on the real annotated KITTI
    frames (GT > 0, no crop, no cap: protocol kitti_eigen_benchmark; predictions inside 1e-3-80 m, so the clip is a
    no-op, and dense, so the devkit's background interpolation is too). SILog is the devkit's × 100 and iRMSE its
    inverse RMSE in 1/km (× 1000), as the leaderboard prints them; abs_rel and rmse are its absErrorRel and RMSE; the
    mean is the devkit's ``statMean`` over images, not the pooled pixels (the frames hold 85-96 k GT pixels each:
    the two differ). Its sqErrorRel (mean ((d - d*) / d*)²) is not monodepth2's sq_rel (mean (d - d*)² / d*)."""
    from PIL import Image

    from mono_depth_ros.evaluation.depth import PROTOCOLS, evaluate_predictions
    from mono_depth_ros.evaluation.samples import load_samples
    from mono_depth_ros.models.spec import OutputKind

    rng = np.random.default_rng(11)
    samples = load_samples("kitti_annotated", kitti_depth_dir)
    rows, pairs, pooled = [], [], []
    for sample, png in zip(samples, _annotated_pngs(kitti_depth_dir), strict=True):
        raw = np.array(Image.open(png))
        base = np.where(raw > 0, raw / 256.0, 20.0)
        pred = np.clip(base * np.exp(rng.normal(0.05, 0.2, raw.shape)), 2.0, 79.0)
        rows.append(_devkit_depth_error(raw, pred))
        pairs.append((sample.name, pred, sample.gt_depth_m))
        pooled.append((raw[raw > 0] / 256.0, pred[raw > 0]))
    devkit = np.mean(rows, axis=0)  # statMean: per image, then over images
    report = evaluate_predictions(pairs, PROTOCOLS["kitti_eigen_benchmark"], OutputKind.METRIC)
    m = report.mean
    assert m.count == 3
    assert m.silog == pytest.approx(100.0 * devkit[6], rel=1e-9)
    assert m.irmse == pytest.approx(1000.0 * devkit[3], rel=1e-9)
    assert m.abs_rel == pytest.approx(devkit[7], rel=1e-9) and m.rmse == pytest.approx(devkit[1], rel=1e-9)
    assert m.rmse_log == pytest.approx(devkit[5], rel=1e-9) and m.sq_rel != pytest.approx(devkit[8], rel=0.1)
    gt_all, pred_all = np.concatenate([g for g, _ in pooled]), np.concatenate([p for _, p in pooled])
    log_d = np.log(pred_all) - np.log(gt_all)
    pooled_silog = 100.0 * np.sqrt(np.mean(log_d**2) - np.mean(log_d) ** 2)
    pooled_rmse = np.sqrt(np.mean((pred_all - gt_all) ** 2))
    assert abs(m.silog - pooled_silog) > 1e-6 and abs(m.rmse - pooled_rmse) > 1e-6  # the mean is over images


def test_kitti_depth_selection_scores_as_the_kitti_devkit(tmp_path: Path, kitti_depth_dir: Path) -> None:
    """``--dataset kitti_depth_selection`` (val_selection_cropped) by default as the devkit scores it (every pixel
    with GT > 0, the prediction PNG as it is: no 80 m cap, the mean over images). It was scored under
    ``kitti_eigen_benchmark`` (monodepth2's predictions clipped to 80 m), where the real frames' GT reaches 84.9 m:
    the transcription above only agreed with predictions kept inside 80 m, and the GT itself scored a nonzero error
    the devkit does not give."""
    from PIL import Image

    from mono_depth_ros.evaluation.depth import DEFAULT_PROTOCOL, PROTOCOLS, evaluate_predictions
    from mono_depth_ros.evaluation.samples import load_samples
    from mono_depth_ros.models.spec import OutputKind
    from test.evaluation.test_samples import write_val_selection

    write_val_selection(tmp_path, load_samples("kitti_annotated", kitti_depth_dir))
    samples = load_samples("kitti_depth_selection", tmp_path)
    gt_pngs = sorted((tmp_path / "groundtruth_depth").glob("*.png"))
    assert [s.name for s in samples] == [p.stem.replace("groundtruth_depth", "image") for p in gt_pngs]
    assert any(np.nanmax(s.gt_depth_m) > 80.0 for s in samples)  # real GT beyond monodepth2's cap
    rng = np.random.default_rng(3)
    pairs, rows = [], []
    for sample, png in zip(samples, gt_pngs, strict=True):  # a prediction as the devkit reads it: uint16 m × 256
        noisy = np.nan_to_num(sample.gt_depth_m, nan=30.0) * np.exp(rng.normal(0.0, 0.15, sample.gt_depth_m.shape))
        pred = np.clip(np.round(noisy * 256.0), 1, 65535) / 256.0
        pairs.append((sample.name, pred, sample.gt_depth_m))
        rows.append(_devkit_depth_error(np.array(Image.open(png)), pred))
    devkit = np.mean(rows, axis=0)  # statMean: per image, then over images
    protocol = PROTOCOLS[DEFAULT_PROTOCOL["kitti_depth_selection"]]
    m = evaluate_predictions(pairs, protocol, OutputKind.METRIC).mean
    assert m.count == 3 and protocol.crop == "none"
    assert m.rmse == pytest.approx(devkit[1], rel=1e-9) and m.abs_rel == pytest.approx(devkit[7], rel=1e-9)
    assert m.silog == pytest.approx(100.0 * devkit[6], rel=1e-9)
    assert m.irmse == pytest.approx(1000.0 * devkit[3], rel=1e-9)
    exact = evaluate_predictions([(n, gt, gt) for n, _, gt in pairs], protocol, OutputKind.METRIC).mean
    assert exact.rmse == 0.0 and exact.abs_rel == 0.0  # the GT itself, beyond 80 m too, is scored perfect


def test_kitti_devkit_clips_predictions_to_the_smallest_depth_its_png_holds(
    tmp_path: Path, kitti_depth_dir: Path
) -> None:
    """The devkit reads predictions from uint16 PNGs (value / 256 m, 0 = missing) that its ``writeDepthMap`` writes
    as ``(uint16_t)max(d * 256, 1)``: a prediction below 1/256 m (0.0039 m) reaches it as 1/256 m. ``kitti_devkit``
    clipped at 1e-3 m, below anything the PNG holds: predictions of 0, 0.1 mm and 2 mm at GT pixels scored an
    inverse error of up to 1000 1/m where the devkit's is 256 1/m (iRMSE, log errors and SILog off)."""
    from mono_depth_ros.evaluation.depth import DEFAULT_PROTOCOL, PROTOCOLS, evaluate_predictions
    from mono_depth_ros.evaluation.samples import load_samples
    from mono_depth_ros.models.spec import OutputKind
    from test.evaluation.test_samples import write_val_selection

    write_val_selection(tmp_path, load_samples("kitti_annotated", kitti_depth_dir))
    samples = load_samples("kitti_depth_selection", tmp_path)
    rng = np.random.default_rng(5)
    pairs, rows = [], []
    for sample in samples:
        gt = sample.gt_depth_m
        pred = np.round(np.nan_to_num(gt, nan=30.0) * np.exp(rng.normal(0.0, 0.1, gt.shape)) * 256.0) / 256.0
        rows_with_gt = np.flatnonzero(np.isfinite(gt))
        for i, tiny in enumerate((0.0, 1e-4, 2e-3)):  # 1 % of the GT pixels each
            pred.flat[rows_with_gt[i::100]] = tiny
        pairs.append((sample.name, pred, gt))
        written = np.maximum(pred * 256.0, 1.0).astype(np.uint16)  # the devkit's writeDepthMap (truncating cast)
        rows.append(_devkit_depth_error(np.round(np.nan_to_num(gt) * 256.0).astype(np.uint16), written / 256.0))
    devkit = np.mean(rows, axis=0)
    m = evaluate_predictions(pairs, PROTOCOLS[DEFAULT_PROTOCOL["kitti_depth_selection"]], OutputKind.METRIC).mean
    assert m.irmse == pytest.approx(1000.0 * devkit[3], rel=1e-9)
    assert m.rmse_log == pytest.approx(devkit[5], rel=1e-9) and m.silog == pytest.approx(100.0 * devkit[6], rel=1e-9)
    assert m.rmse == pytest.approx(devkit[1], rel=1e-9) and m.abs_rel == pytest.approx(devkit[7], rel=1e-9)


def _bts_eigen_crop(gt_height: int, gt_width: int) -> np.ndarray:
    """BTS ``bts_eval.py --eigen_crop`` (dataset kitti) and Marigold's ``KITTIDepthDataset._get_valid_mask``
    (``valid_mask_crop: eigen``), transcribed: the Eigen NIPS 2014 KITTI fractions, each truncated by ``int()``."""
    eval_mask = np.zeros((gt_height, gt_width), dtype=bool)
    eval_mask[
        int(0.3324324 * gt_height) : int(0.91351351 * gt_height),
        int(0.0359477 * gt_width) : int(0.96405229 * gt_width),
    ] = 1
    return eval_mask


@pytest.mark.parametrize("hw", [(375, 1242), (370, 1224), (374, 1238), (376, 1241), (352, 1216), (192, 640)])
def test_kitti_eigen_crop_is_bts_and_marigolds(hw: tuple[int, int]) -> None:
    """``--crop eigen_kitti`` = BTS's ``--eigen_crop`` of the full frame (rows 124:342, cols 44:1197 of 375×1242);
    ``--crop eigen_kitti_kb`` = Marigold's KITTI evaluation (``kitti_bm_crop: true``, ``valid_mask_crop: eigen``): the
    same fractions of the 352×1216 KB crop (rows 23+117:23+321, cols 13+43:13+1172 of 375×1242)."""
    from mono_depth_ros.evaluation.depth import CROPS, crop_mask
    from mono_depth_ros.evaluation.metrics import KB_CROP_HW, eigen_crop_mask_kitti, kb_crop_offsets

    assert {"eigen_kitti", "eigen_kitti_kb"} <= set(CROPS)
    np.testing.assert_array_equal(eigen_crop_mask_kitti(*hw), _bts_eigen_crop(*hw))
    np.testing.assert_array_equal(crop_mask("eigen_kitti", *hw), _bts_eigen_crop(*hw))
    if hw[0] < KB_CROP_HW[0]:
        with pytest.raises(ShapeError, match=r"352x1216.*192x640"):
            crop_mask("eigen_kitti_kb", *hw)
        return
    top, left = kb_crop_offsets(*hw)
    expected = np.zeros(hw, dtype=bool)
    expected[top : top + 352, left : left + 1216] = _bts_eigen_crop(*KB_CROP_HW)
    np.testing.assert_array_equal(crop_mask("eigen_kitti_kb", *hw), expected)
    if hw == (375, 1242):
        rows, cols = np.nonzero(_bts_eigen_crop(*hw))
        assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (124, 342, 44, 1197)
        rows, cols = np.nonzero(expected)
        assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (140, 344, 56, 1185)


@pytest.mark.parametrize("hw", [(375, 1242), (370, 1224), (374, 1238), (376, 1241)])
def test_the_full_frame_garg_crop_lies_inside_the_kb_crop_at_kitti_raw_sizes(hw: tuple[int, int]) -> None:
    """BTS' bts_eval.py feeds the 352×1216 KB crop and pads the prediction back with zeros: the padding is never
    scored under the Garg crop of a KITTI raw frame (its four image sizes), so ``kitti_improved`` scores BTS'
    pixels (docs/training_results.md; it feeds the full frame, which the page says)."""
    from mono_depth_ros.evaluation.metrics import KB_CROP_HW, kb_crop_offsets

    top, left = kb_crop_offsets(*hw)
    kb = np.zeros(hw, dtype=bool)
    kb[top : top + KB_CROP_HW[0], left : left + KB_CROP_HW[1]] = True
    garg = garg_crop_mask(*hw)
    assert garg.sum() > 200_000 and not (garg & ~kb).any()
