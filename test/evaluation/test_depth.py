"""Tests for evaluation/depth.py (and evaluation/samples.py): protocols kept apart, scalings, and a checkpoint evaluated
on the real KITTI (annotated and Velodyne GT) and NYU frames in ../shared/data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.depth import (
    PROTOCOLS,
    align_inverse_depth,
    check_kitti_frames,
    evaluate_checkpoint,
    evaluate_predictions,
    resolve_scaling,
)
from mono_depth_ros.evaluation.metrics import METRIC_NAMES, garg_crop_mask
from mono_depth_ros.evaluation.samples import annotated_samples, load_samples
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy, OutputKind
from mono_depth_ros.models.unet import make_unet_spec


def _gt(height: int = 60, width: int = 80) -> np.ndarray:
    rng = np.random.default_rng(0)
    gt = rng.uniform(2.0, 39.0, (height, width)).astype(np.float32)
    gt[::3] = np.nan  # no ground truth on every third row
    return gt


def test_the_two_kitti_protocols_differ_in_ground_truth_and_scaling() -> None:
    velodyne, improved = PROTOCOLS["kitti_eigen_velodyne"], PROTOCOLS["kitti_improved"]
    assert velodyne.scaling == "median" and improved.scaling == "none"
    assert velodyne.crop == improved.crop == "garg" and velodyne.max_depth_m == improved.max_depth_m == 80.0
    assert velodyne.ground_truth != improved.ground_truth
    assert PROTOCOLS["nyu"].crop == "eigen_nyu" and PROTOCOLS["nyu"].max_depth_m == 10.0


def test_scaling_changes_the_numbers_and_is_reported() -> None:
    gt = _gt()
    doubled = [("x", 2.0 * np.nan_to_num(gt, nan=5.0), gt)]
    scaled = evaluate_predictions(doubled, PROTOCOLS["kitti_eigen_velodyne"], OutputKind.DEPTH_UP_TO_SCALE)
    metric = evaluate_predictions(doubled, PROTOCOLS["kitti_improved"], OutputKind.METRIC)
    assert scaled.mean.abs_rel == pytest.approx(0.0, abs=1e-9) and scaled.mean.a1 == 1.0
    assert metric.mean.abs_rel == pytest.approx(1.0)  # not rescaled
    assert metric.gt_over_pred_median == pytest.approx((0.5,))
    assert scaled.protocol.scaling == "median" and metric.protocol.scaling == "none"
    table = metric.format_table()
    assert "kitti_improved" in table and "scaling none" in table and table.count("\n") == 4


def test_auto_scaling_follows_the_output_kind() -> None:
    assert resolve_scaling("auto", OutputKind.METRIC) == "none"
    assert resolve_scaling("auto", OutputKind.DEPTH_UP_TO_SCALE) == "median"
    assert resolve_scaling("auto", OutputKind.RELATIVE_INVERSE) == "affine_inverse"
    with pytest.raises(ConfigError, match="affine_inverse") as refused:
        resolve_scaling("none", OutputKind.RELATIVE_INVERSE)
    assert str(refused.value) == (
        "a model of output kind relative_inverse has no depth scale or shift: evaluate it with --scaling "
        "affine_inverse, not none"
    )


def test_affine_depth_is_aligned_in_depth_and_refuses_the_other_scalings(kitti_depth_dir: Path) -> None:
    """An affine_depth model (Marigold; Prompt Depth Anything unprompted): ``auto`` is ``affine`` (scale and shift in
    depth); a median scaling (the shift dropped) or an inverse-depth fit does not score it. On a real annotated
    KITTI frame, the normalised depth ``(gt - 4 m) / 60 m`` scores as the GT itself."""
    assert resolve_scaling("auto", OutputKind.AFFINE_DEPTH) == "affine"
    for wrong in ("none", "median", "affine_inverse"):
        with pytest.raises(ConfigError, match=rf"affine_depth .* --scaling affine, not {wrong}"):
            resolve_scaling(wrong, OutputKind.AFFINE_DEPTH)
    sample = annotated_samples(kitti_depth_dir)[0]
    gt = sample.gt_depth_m
    affine = (np.nan_to_num(gt, nan=20.0) - 4.0) / 60.0
    protocol = replace(PROTOCOLS["kitti_improved"], scaling="auto")
    report = evaluate_predictions([("kitti", affine, gt)], protocol, OutputKind.AFFINE_DEPTH)
    assert report.protocol.scaling == "affine" and report.mean.abs_rel < 1e-6
    assert report.gt_over_pred_median == pytest.approx((1.0,), rel=1e-6)  # after the alignment, as relative_inverse


def test_affine_inverse_alignment_recovers_depth() -> None:
    gt = _gt()
    mask = np.isfinite(gt)
    disparity = 3.0 / np.nan_to_num(gt, nan=10.0) + 0.2  # relative inverse depth: unknown scale and shift
    np.testing.assert_allclose(align_inverse_depth(disparity, gt, mask)[mask], gt[mask], rtol=1e-4)
    report = evaluate_predictions([("x", disparity, gt)], PROTOCOLS["synthetic"], OutputKind.RELATIVE_INVERSE)
    assert report.mean.abs_rel < 1e-4 and report.protocol.scaling == "affine_inverse"


def test_affine_inverse_fit_skips_non_finite_predictions() -> None:
    """+Inf or NaN disparity at a few GT pixels: the fit uses the other pixels (lstsq raised LinAlgError on them), and
    those pixels have no depth (NaN), scored as the references score NaN: the near cap."""
    gt = _gt()
    mask = np.isfinite(gt)
    disparity = 3.0 / np.nan_to_num(gt, nan=10.0) + 0.2
    disparity[1, :5] = np.inf
    disparity[2, :5] = np.nan
    bad = ~np.isfinite(disparity)
    aligned = align_inverse_depth(disparity, gt, mask)
    np.testing.assert_allclose(aligned[mask & ~bad], gt[mask & ~bad], rtol=1e-4)
    assert np.isnan(aligned[bad]).all()
    report = evaluate_predictions([("x", disparity, gt)], PROTOCOLS["synthetic"], OutputKind.RELATIVE_INVERSE)
    expected = np.where(bad, 1e-3, gt)  # no depth -> 1e-3 m (BTS / ZoeDepth's NaN), exact elsewhere
    assert report.mean.abs_rel == pytest.approx(np.mean(np.abs(expected - gt)[mask] / gt[mask]), rel=1e-4)
    assert report.mean.a1 == pytest.approx(1.0 - bad[mask].mean())
    assert np.isnan(align_inverse_depth(np.full_like(gt, np.nan), gt, mask)).all()  # nothing to fit: no depth


def test_crop_and_missing_ground_truth() -> None:
    gt = np.full((100, 200), 10.0, np.float32)
    pred = np.full_like(gt, 10.0)
    pred[~garg_crop_mask(100, 200)] = 1000.0  # wrong only outside the Garg crop
    report = evaluate_predictions([("a", pred, gt)], PROTOCOLS["kitti_improved"], OutputKind.METRIC)
    assert report.mean.abs_rel == pytest.approx(0.0)
    empty = evaluate_predictions(
        [("b", pred, np.full_like(gt, np.nan))], PROTOCOLS["kitti_improved"], OutputKind.METRIC
    )
    assert empty.mean.count == 0 and np.isnan(empty.gt_over_pred_median[0])


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    spec = make_unet_spec(
        "resnet18",
        "tiny",
        encoder_width=4,
        decoder_channels=[4, 4, 4, 4, 4],
        output_kind=OutputKind.METRIC,
        input_policy=InputPolicy(96, 320),
    )
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_checkpoint(path, build_model(spec).state_dict(), spec)


@pytest.mark.parametrize(
    ("dataset", "fixture", "protocol"),
    [
        ("kitti_annotated", "kitti_depth_dir", "kitti_improved"),
        ("kitti_velodyne", "kitti_object_dir", "kitti_eigen_velodyne"),
        ("nyu", "nyu_dir", "nyu"),
    ],
)
def test_checkpoint_on_real_frames(
    request: pytest.FixtureRequest, tiny_checkpoint: Path, dataset: str, fixture: str, protocol: str
) -> None:
    """Random tiny weights: the numbers mean nothing, but the evaluation must run and be finite and well-formed."""
    samples = load_samples(dataset, request.getfixturevalue(fixture))
    assert len(samples) == 3
    for sample in samples:
        assert sample.gt_depth_m.shape == sample.rgb.shape[:2] and sample.gt_depth_m.dtype == np.float32
        assert np.nanmin(sample.gt_depth_m) > 0 and 0.005 < np.isfinite(sample.gt_depth_m).mean() < 0.99
    report = evaluate_checkpoint(tiny_checkpoint, samples, protocol)
    assert report.protocol.name == protocol and report.mean.count == 3 and len(report.per_image) == 3
    values = np.array(list(report.mean.as_dict().values()))
    assert np.isfinite(values).all() and 0 <= report.mean.a1 <= report.mean.a2 <= report.mean.a3 <= 1
    assert report.mean.abs_rel > 0 and report.mean.rmse > 0


def test_protocol_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="protocol"):
        evaluate_checkpoint(tmp_path / "x.safetensors", [], "kitti")
    with pytest.raises(ConfigError, match="crop"):
        replace(PROTOCOLS["nyu"], crop="square")


def test_spec_output_kind_reaches_the_report(tiny_checkpoint: Path, nyu_dir: Path) -> None:
    samples = annotated_samples(nyu_dir)[:1]
    report = evaluate_checkpoint(tiny_checkpoint, samples, "nyu", scaling="median")
    assert report.output_kind is OutputKind.METRIC and report.protocol.scaling == "median"


def test_the_header_says_how_many_images_the_mean_scored() -> None:
    """An image without a valid GT pixel has a NaN row and is left out of the mean: the header counts it apart."""
    gt = _gt()
    pairs = [("x", np.nan_to_num(gt, nan=5.0), gt), ("empty", np.ones_like(gt), np.full_like(gt, np.nan))]
    report = evaluate_predictions(pairs, PROTOCOLS["kitti_improved"], OutputKind.METRIC)
    header = report.format_table().splitlines()[0]
    assert report.mean.count == 1 and "2 images, 1 scored;" in header, header


def test_models_that_take_the_camera_get_the_samples_focal_length(tmp_path: Path) -> None:
    """As the node hands them camera_info: Depth Pro's metres follow fx (it used its field-of-view head instead); a
    Prompt Depth Anything, which gets no LiDAR prompt here, is scored as depth up to scale (not as metres)."""
    pytest.importorskip("transformers")
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.evaluation.samples import EvalSample
    from test.models.hf_tiny import write_tiny_family

    rgb = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    gt = np.random.default_rng(1).uniform(2.0, 40.0, (120, 200)).astype(np.float32)
    samples = [
        EvalSample(f"f{fx:g}", rgb, gt, PinholeIntrinsics(fx, fx, 99.5, 59.5, width=200, height=120))
        for fx in (100.0, 200.0)
    ]
    from mono_depth_ros.evaluation.depth import checkpoint_predictor

    depth_pro_dir = write_tiny_family("depth_pro", tmp_path / "dp")
    depth_pro = evaluate_checkpoint(depth_pro_dir, samples, "synthetic")
    assert depth_pro.output_kind is OutputKind.METRIC
    predict, _ = checkpoint_predictor(depth_pro_dir)
    for sample, ratio in zip(samples, depth_pro.gt_over_pred_median, strict=True):  # each with its focal length
        assert ratio == pytest.approx(np.median(gt) / np.median(predict(rgb, sample.intrinsics, None)), rel=1e-6)
    # at the network's 256x256 output (not resampled: the bilinear resize to the GT blends transformers' 10 km cap
    # into its neighbours, which a focal length does not scale), metres are proportional to fx
    near, far = (predict(rgb, s.intrinsics, (256, 256)) for s in samples)
    below_cap = far < 1e4
    assert below_cap.mean() > 0.5
    np.testing.assert_allclose(far[below_cap], 2.0 * near[below_cap], rtol=1e-5)
    prompt = evaluate_checkpoint(write_tiny_family("prompt_depth_anything", tmp_path / "pda"), samples, "synthetic")
    assert prompt.output_kind is OutputKind.AFFINE_DEPTH and prompt.protocol.scaling == "affine"


def _zoedepth_metrics(gt: np.ndarray, pred: np.ndarray, crop: str, max_depth: float) -> dict[str, float]:
    """ZoeDepth ``utils/misc.py`` ``compute_metrics`` + ``compute_errors`` transcribed (min_depth_eval 1e-3; BTS
    ``bts_eval.py`` is the same on the GT it is given: the full frame, where ZoeDepth's loader KB-crops KITTI's first,
    see :func:`_zoedepth_kitti_eval`)."""
    pred = pred.copy()
    pred[pred < 1e-3], pred[pred > max_depth] = 1e-3, max_depth
    pred[np.isinf(pred)], pred[np.isnan(pred)] = max_depth, 1e-3
    valid = (gt > 1e-3) & (gt < max_depth)
    h, w = gt.shape
    eval_mask = np.zeros_like(valid)
    if crop == "garg":
        eval_mask[int(0.40810811 * h) : int(0.99189189 * h), int(0.03594771 * w) : int(0.96405229 * w)] = True
    else:
        eval_mask[45:471, 41:601] = True
    g, p = gt[valid & eval_mask], pred[valid & eval_mask]
    thresh, err = np.maximum(g / p, p / g), np.log(p) - np.log(g)
    return {
        "a1": (thresh < 1.25).mean(),
        "abs_rel": np.mean(np.abs(g - p) / g),
        "sq_rel": np.mean((g - p) ** 2 / g),
        "rmse": np.sqrt(np.mean((g - p) ** 2)),
        "rmse_log": np.sqrt(np.mean(err**2)),
        "silog": np.sqrt(np.mean(err**2) - np.mean(err) ** 2) * 100,
        "log10": np.mean(np.abs(np.log10(g) - np.log10(p))),
    }


def _midas_aligned_depth(gt: np.ndarray, disparity: np.ndarray, crop: str, max_depth: float) -> np.ndarray:
    """MiDaS / DPT evaluation (``compute_scale_and_shift`` on 1 / GT, then the 1 / cap floor) transcribed."""
    h, w = gt.shape
    mask = ((gt > 1e-3) & (gt < max_depth)).astype(np.float64)
    crop_mask = np.zeros_like(mask)
    if crop == "garg":
        crop_mask[int(0.40810811 * h) : int(0.99189189 * h), int(0.03594771 * w) : int(0.96405229 * w)] = 1
    else:
        crop_mask[45:471, 41:601] = 1
    mask *= crop_mask
    target = np.where(mask > 0, 1.0 / np.where(gt > 0, gt, 1.0), 0.0)
    a00, a01, a11 = np.sum(mask * disparity**2), np.sum(mask * disparity), np.sum(mask)
    b0, b1 = np.sum(mask * disparity * target), np.sum(mask * target)
    det = a00 * a11 - a01 * a01
    aligned = (a11 * b0 - a01 * b1) / det * disparity + (-a01 * b0 + a00 * b1) / det
    return 1.0 / np.maximum(aligned, 1.0 / max_depth)


@pytest.mark.parametrize(("fixture", "protocol"), [("nyu_dir", "nyu"), ("kitti_depth_dir", "kitti_improved")])
def test_real_frames_score_as_zoedepth_and_midas_score_them(
    request: pytest.FixtureRequest, fixture: str, protocol: str
) -> None:
    """Metric predictions against ZoeDepth's / BTS' evaluation (KITTI: BTS' full-frame Garg crop), relative inverse
    ones against MiDaS's alignment in inverse depth (Depth Anything's relative protocol), on the real NYU / KITTI
    frames; GT with a 20 % log error."""
    p = PROTOCOLS[protocol]
    rng = np.random.default_rng(0)
    for sample in annotated_samples(request.getfixturevalue(fixture)):
        gt = np.nan_to_num(sample.gt_depth_m.astype(np.float64), nan=0.0)
        pred = np.where(gt > 0, gt, np.nanmedian(sample.gt_depth_m)) * np.exp(rng.normal(0.0, 0.2, gt.shape))
        ours = evaluate_predictions([("x", pred, sample.gt_depth_m)], p, OutputKind.METRIC).mean
        for name, value in _zoedepth_metrics(gt, pred, p.crop, p.max_depth_m).items():
            assert getattr(ours, name) == pytest.approx(value, rel=1e-9), name
        disparity = 3.0 / pred + 0.05
        relative = replace(p, scaling="affine_inverse")
        ours = evaluate_predictions([("x", disparity, sample.gt_depth_m)], relative, OutputKind.RELATIVE_INVERSE).mean
        reference = _midas_aligned_depth(gt, disparity, p.crop, p.max_depth_m)
        for name, value in _zoedepth_metrics(gt, reference, p.crop, p.max_depth_m).items():
            assert getattr(ours, name) == pytest.approx(value, rel=1e-7), name


def test_ground_truth_of_another_size_scores_the_prediction_at_its_size(tiny_checkpoint: Path) -> None:
    """GT at half the image size (a user's downsampled depth): the prediction is made at the GT's size, as
    monodepth2 / ZoeDepth resize it to the GT (the broadcast raised a bare numpy ValueError); GT whose aspect ratio
    is not the image's (a crop, not a resize) is refused, naming the frame."""
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.depth import checkpoint_predictor
    from mono_depth_ros.evaluation.samples import EvalSample

    rgb = np.random.default_rng(0).integers(0, 255, (75, 250, 3), dtype=np.uint8)
    camera = PinholeIntrinsics(140.0, 140.0, 124.5, 37.5, width=250, height=75)
    gt = np.full((38, 125), 10.0, np.float32)  # 75 / 2 rounded up, as depth[::2, ::2]
    report = evaluate_checkpoint(tiny_checkpoint, [EvalSample("half", rgb, gt, camera)], "synthetic")
    predict, _ = checkpoint_predictor(tiny_checkpoint)
    at_gt_size = predict(rgb, camera, (38, 125))
    assert at_gt_size.shape == (38, 125)
    assert report.gt_over_pred_median[0] == pytest.approx(10.0 / np.median(at_gt_size), rel=1e-5)
    assert report.mean.abs_rel == pytest.approx(np.mean(np.abs(np.clip(at_gt_size, 1e-3, 80.0) - 10.0) / 10.0))
    cropped = EvalSample("kb_crop", rgb, np.full((70, 240), 10.0, np.float32), camera)
    with pytest.raises(ShapeError, match=r"kb_crop.*\(70, 240\).*\(75, 250\)"):
        evaluate_checkpoint(tiny_checkpoint, [cropped], "synthetic")
    with pytest.raises(ShapeError, match="kb_crop"):  # checked before any model is loaded
        evaluate_checkpoint(Path("/nonexistent/model.safetensors"), [cropped], "synthetic")
    with pytest.raises(ShapeError, match=r"'x'.*\(10, 12\).*\(38, 125\)"):
        evaluate_predictions([("x", np.ones((10, 12)), gt)], PROTOCOLS["synthetic"], OutputKind.METRIC)


def test_a_zero_min_depth_is_refused() -> None:
    """``--min-depth 0`` clipped a 0 m prediction to 0: rmse_log, log10 and iRMSE came out inf and SILog NaN for
    the whole table."""
    with pytest.raises(ConfigError, match=r"min depth 0 m must be > 0.*1e-3"):
        replace(PROTOCOLS["kitti_improved"], min_depth_m=0.0)


@pytest.mark.parametrize("kind", [OutputKind.METRIC, OutputKind.DEPTH_UP_TO_SCALE])
def test_forced_affine_inverse_fits_the_inverse_of_a_depth_prediction(kind: OutputKind) -> None:
    """``--scaling affine_inverse`` on a depth model (MiDaS-style scale-and-shift evaluation in inverse depth): the fit
    is made on 1 / depth; it was made on the depth itself as if it were disparity (AbsRel 0.2+ for a prediction that
    is an exact scale-and-shift of the inverse GT)."""
    gt = _gt()
    depth = 1.0 / (3.0 / np.nan_to_num(gt, nan=10.0) + 0.2)  # inverse depth off by a scale and a shift
    depth[0, :3] = (np.inf, np.nan, -1.0)  # sky mark, no prediction, invalid
    report = evaluate_predictions([("x", depth, gt)], replace(PROTOCOLS["synthetic"], scaling="affine_inverse"), kind)
    assert report.protocol.scaling == "affine_inverse" and report.mean.abs_rel < 1e-4


def test_a_model_without_metric_scale_under_a_metric_protocol_must_name_its_scaling(tmp_path: Path) -> None:
    """A depth_up_to_scale checkpoint (self-supervised) under kitti_improved / kitti_eigen_benchmark, whose scaling is
    none, was scored as if its output were metres (a relative_inverse one is refused): the user now picks
    ``--scaling median`` (monodepth2) or states ``--scaling none``."""
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.evaluation.samples import EvalSample

    spec = make_unet_spec(
        "resnet18", "tiny", encoder_width=4, decoder_channels=[4, 4, 4, 4, 4],
        output_kind=OutputKind.DEPTH_UP_TO_SCALE, input_policy=InputPolicy(32, 64),
    )  # fmt: skip
    checkpoint = save_checkpoint(tmp_path / "selfsup.safetensors", build_model(spec).state_dict(), spec)
    rgb = np.random.default_rng(0).integers(0, 255, (40, 132, 3), dtype=np.uint8)  # KITTI-wide: the Garg crop fits
    samples = [EvalSample("f", rgb, _gt(40, 132), PinholeIntrinsics(60.0, 60.0, 65.5, 19.5, width=132, height=40))]
    for protocol in ("kitti_improved", "kitti_eigen_benchmark"):
        with pytest.raises(ConfigError, match=r"depth_up_to_scale.*--scaling median.*--scaling none"):
            evaluate_checkpoint(checkpoint, samples, protocol)
    assert evaluate_checkpoint(checkpoint, samples, "kitti_improved", scaling="median").protocol.scaling == "median"
    assert evaluate_checkpoint(checkpoint, samples, "kitti_improved", scaling="none").protocol.scaling == "none"
    assert evaluate_checkpoint(checkpoint, samples, "synthetic").protocol.scaling == "median"  # auto


def test_gt_over_pred_is_taken_before_an_affine_inverse_alignment_of_depth() -> None:
    """The gt/pred column is the metric scale error before scaling; under a forced affine_inverse a depth model's
    column read ~1 (taken after the alignment), hiding a prediction twice too far."""
    gt = _gt()
    doubled = 2.0 * np.nan_to_num(gt, nan=5.0)
    report = evaluate_predictions(
        [("x", doubled, gt)], replace(PROTOCOLS["synthetic"], scaling="affine_inverse"), OutputKind.METRIC
    )
    assert report.gt_over_pred_median == pytest.approx((0.5,)) and report.mean.abs_rel < 1e-6


def test_affine_scaling_fits_scale_and_shift_in_depth() -> None:
    """``--scaling affine``: least-squares scale and shift of the depth itself (Marigold's ``least_square``), beside
    ``affine_inverse`` (MiDaS / Depth Anything's, in inverse depth); a relative_inverse output has no depth to fit."""
    gt = _gt()
    shifted = 0.5 * np.nan_to_num(gt, nan=5.0) + 3.0  # depth off by a scale and a shift
    shifted[1, :2] = (np.nan, np.inf)  # no prediction: the near cap; too far (REP 117 +Inf): the far cap
    affine = replace(PROTOCOLS["synthetic"], scaling="affine")
    for kind in (OutputKind.DEPTH_UP_TO_SCALE, OutputKind.METRIC):
        report = evaluate_predictions([("x", shifted, gt)], affine, kind)
        expected = gt.astype(np.float64).copy()
        expected[1, :2] = (1e-3, 80.0)
        mask = np.isfinite(gt)
        assert report.protocol.scaling == "affine"
        assert report.mean.abs_rel == pytest.approx(np.mean(np.abs(expected - gt)[mask] / gt[mask]), rel=1e-4)
    median = evaluate_predictions([("x", shifted, gt)], PROTOCOLS["kitti_eigen_velodyne"], OutputKind.METRIC)
    assert median.mean.abs_rel > 0.05  # a shift that a scale alone cannot undo
    with pytest.raises(ConfigError, match="affine_inverse"):
        evaluate_predictions([("x", shifted, gt)], affine, OutputKind.RELATIVE_INVERSE)


def test_the_table_columns_stay_aligned_with_long_image_names() -> None:
    """Names longer than 16 characters (KITTI drive/frame, NYU scene/frame, one's own file stems) pushed their row's
    numbers out of the header's columns."""
    gt = _gt()
    pred = np.nan_to_num(gt, nan=5.0)
    names = ["2011_09_26_drive_0002_sync/0000000005", "a"]
    report = evaluate_predictions([(n, pred, gt) for n in names], PROTOCOLS["synthetic"], OutputKind.METRIC)
    lines = report.format_table().splitlines()[1:]
    ends = {len(line) for line in lines}
    assert len(ends) == 1, lines
    for line in lines[1:]:
        assert line.index(" 0.0000") > len(names[0]) - 1


def test_ground_truth_outside_the_protocol_range_is_refused_naming_its_unit(tiny_checkpoint: Path) -> None:
    """Millimetres saved as float "metres" (or a PNG read with the wrong --png-scale): no pixel lies inside
    0.001-80 m, and eval printed a table of NaN rows with exit code 0; it now says what the GT holds."""
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.evaluation.samples import EvalSample

    rgb = np.zeros((30, 40, 3), np.uint8)
    camera = PinholeIntrinsics(30.0, 30.0, 19.5, 14.5, width=40, height=30)
    millimetres = np.full((30, 40), 2500.0, np.float32)
    millimetres[0] = np.nan
    empty = np.full_like(millimetres, np.nan)
    samples = [EvalSample("mm", rgb, millimetres, camera), EvalSample("none", rgb, empty, camera)]
    with pytest.raises(ConfigError, match=r"0\.001 < GT < 80 m.*median 2500 m.*unit"):
        evaluate_checkpoint(tiny_checkpoint, samples, "folder")
    with pytest.raises(ConfigError, match="no ground truth at all"):
        evaluate_checkpoint(tiny_checkpoint, samples[1:], "folder")
    wide = replace(PROTOCOLS["folder"], max_depth_m=3000.0)  # the range the user asks for: scored
    assert evaluate_checkpoint(tiny_checkpoint, samples, wide).mean.count == 1


@pytest.mark.parametrize(("fixture", "protocol"), [("nyu_dir", "nyu"), ("kitti_depth_dir", "kitti_improved")])
def test_real_frames_under_affine_score_as_marigold_aligns_them(
    request: pytest.FixtureRequest, fixture: str, protocol: str
) -> None:
    """``--scaling affine`` against Marigold's ``align_depth_least_square`` (lstsq of [pred, 1] on the GT over the
    evaluated pixels, then the prediction clipped to the range) transcribed, on the real NYU / KITTI frames."""
    p = replace(PROTOCOLS[protocol], scaling="affine")
    rng = np.random.default_rng(1)
    for sample in annotated_samples(request.getfixturevalue(fixture)):
        gt = np.nan_to_num(sample.gt_depth_m.astype(np.float64), nan=0.0)
        pred = 0.4 * np.where(gt > 0, gt, 5.0) * np.exp(rng.normal(0.0, 0.2, gt.shape)) + 2.0
        h, w = gt.shape
        evaluated = (gt > 1e-3) & (gt < p.max_depth_m)
        crop = np.zeros_like(evaluated)
        if p.crop == "garg":
            crop[int(0.40810811 * h) : int(0.99189189 * h), int(0.03594771 * w) : int(0.96405229 * w)] = True
        else:
            crop[45:471, 41:601] = True
        evaluated &= crop
        a = np.concatenate([pred[evaluated].reshape(-1, 1), np.ones((int(evaluated.sum()), 1))], axis=-1)
        scale, shift = np.linalg.lstsq(a, gt[evaluated].reshape(-1, 1), rcond=None)[0]
        aligned = pred * scale + shift
        ours = evaluate_predictions([("x", pred, sample.gt_depth_m)], p, OutputKind.DEPTH_UP_TO_SCALE).mean
        for name, value in _zoedepth_metrics(gt, aligned, p.crop, p.max_depth_m).items():
            assert getattr(ours, name) == pytest.approx(value, rel=1e-7), name


def test_a_model_made_elsewhere_is_evaluated_by_its_backend(tmp_path: Path) -> None:
    """``mono-depth eval --checkpoint model.onnx`` (a model brought in with ``mono-depth spec``, e.g. Metric3D's ONNX,
    on one's own frames) was opened as a safetensors checkpoint and refused with "set model.backend to 'onnx'", a
    node parameter eval has no option for. ONNX and TorchScript files are evaluated through their backends, with
    the metrics of the checkpoint they were exported from."""
    import warnings

    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.evaluation.samples import EvalSample
    from mono_depth_ros.models.export import export_onnx, export_torchscript
    from test.models.tiny_models import tiny_unet

    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    checkpoint = save_checkpoint(tmp_path / "tiny.safetensors", network.state_dict(), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(network, spec, tmp_path / "tiny.onnx", exporter="legacy")
        export_torchscript(network, spec, tmp_path / "tiny.pt")
    rgb = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    camera = PinholeIntrinsics(80.0, 80.0, 47.5, 31.5, width=96, height=64)
    samples = [EvalSample("frame", rgb, np.full((64, 96), 8.0, np.float32), camera)]
    reference = evaluate_checkpoint(checkpoint, samples, "synthetic").mean.abs_rel
    for exported in (tmp_path / "tiny.onnx", tmp_path / "tiny.pt"):
        report = evaluate_checkpoint(exported, samples, "synthetic")
        assert report.output_kind is OutputKind.METRIC
        assert report.mean.abs_rel == pytest.approx(reference, rel=1e-4), exported.name


def _zoedepth_kitti_eval(gt_full: np.ndarray, image_full: np.ndarray, predict: object) -> dict[str, float]:
    """ZoeDepth / Depth Anything V1 metric_depth on KITTI, transcribed: ``zoedepth/data/data_mono.py`` (online_eval,
    ``do_kb_crop``) crops image *and* GT to the bottom-centre 352×1216, then ``zoedepth/utils/misc.py``
    ``compute_metrics`` applies the Garg fractions to that cropped GT (isl-org/ZoeDepth; AdaBins' ``dataloader.py`` +
    ``evaluate.py`` do the same)."""
    height, width = gt_full.shape
    top_margin, left_margin = int(height - 352), int((width - 1216) / 2)
    gt = gt_full[top_margin : top_margin + 352, left_margin : left_margin + 1216]
    image = image_full[top_margin : top_margin + 352, left_margin : left_margin + 1216]
    pred = np.asarray(predict(image), dtype=np.float64)  # type: ignore[operator]
    return _zoedepth_metrics(gt, pred, "garg", 80.0)


def test_kitti_improved_kb_scores_the_pixels_and_input_zoedepth_scores(
    kitti_depth_dir: Path, tiny_checkpoint: Path
) -> None:
    """ZoeDepth / AdaBins / Depth Anything V1 apply the Garg crop to the 352×1216 KB-cropped GT (rows 166:372, cols
    56:1185 of 375×1242), not to the full frame as BTS' bts_eval.py and monodepth2 do (153:371, 44:1197): their
    published KITTI figures are comparable with protocol kitti_improved_kb (network input KB-cropped too), not
    with kitti_improved."""
    samples = annotated_samples(kitti_depth_dir)
    rng = np.random.default_rng(3)
    for sample in samples:
        gt = np.nan_to_num(sample.gt_depth_m.astype(np.float64), nan=0.0)
        pred = np.where(gt > 0, gt, np.nanmedian(sample.gt_depth_m)) * np.exp(rng.normal(0.0, 0.2, gt.shape))
        pred *= np.linspace(0.7, 1.3, gt.shape[1])  # an error that grows towards the image sides
        reference = _zoedepth_kitti_eval(gt, pred, lambda crop: crop)
        ours = evaluate_predictions([("x", pred, sample.gt_depth_m)], PROTOCOLS["kitti_improved_kb"], OutputKind.METRIC)
        for name, value in reference.items():
            assert getattr(ours.mean, name) == pytest.approx(value, rel=1e-9), name
        full = evaluate_predictions([("x", pred, sample.gt_depth_m)], PROTOCOLS["kitti_improved"], OutputKind.METRIC)
        assert full.mean.abs_rel != pytest.approx(reference["abs_rel"], rel=1e-3)
    from mono_depth_ros.evaluation.depth import checkpoint_predictor

    predict, _ = checkpoint_predictor(tiny_checkpoint)
    report = evaluate_checkpoint(tiny_checkpoint, samples[:1], "kitti_improved_kb")
    gt = np.nan_to_num(samples[0].gt_depth_m.astype(np.float64), nan=0.0)
    reference = _zoedepth_kitti_eval(gt, samples[0].rgb, predict)  # the network sees the 352×1216 crop
    for name, value in reference.items():
        assert getattr(report.mean, name) == pytest.approx(value, rel=1e-6), name


def test_non_finite_predictions_score_as_bts_and_zoedepth_score_them(nyu_dir: Path) -> None:
    """BTS ``bts_eval.py`` / ZoeDepth ``compute_metrics`` / AdaBins ``evaluate.py``: ``pred < min -> min`` (so -Inf, by
    REP 117 'too close to measure', is the near cap), ``pred > max`` and +Inf -> max, NaN -> min. -Inf and NaN scored
    as the far cap here; on a real NYU frame with 2 % of each mark the numbers were ZoeDepth's only by chance."""
    sample = annotated_samples(nyu_dir)[0]
    gt = np.nan_to_num(sample.gt_depth_m.astype(np.float64), nan=0.0)
    rng = np.random.default_rng(5)
    pred = np.where(gt > 0, gt, 3.0) * np.exp(rng.normal(0.0, 0.1, gt.shape))
    marks = rng.choice(np.array([np.nan, np.inf, -np.inf, 1.0]), size=gt.shape, p=[0.02, 0.02, 0.02, 0.94])
    pred = np.where(marks == 1.0, pred, marks)
    ours = evaluate_predictions([("x", pred, sample.gt_depth_m)], PROTOCOLS["nyu"], OutputKind.METRIC).mean
    for name, value in _zoedepth_metrics(gt, pred, "eigen_nyu", 10.0).items():
        assert getattr(ours, name) == pytest.approx(value, rel=1e-9), name


def test_the_report_gives_monodepth2s_scaling_ratio_stats() -> None:
    """monodepth2 ``evaluate_depth.py`` prints ``Scaling ratios | med: np.median(ratios) | std: np.std(ratios / med)``
    (how consistent the scale is from image to image); the report gave only the median."""
    gt = _gt()
    pred = np.nan_to_num(gt, nan=5.0)
    pairs = [(f"{k}", pred / k, gt) for k in (2.0, 4.0, 3.0)] + [("empty", pred, np.full_like(gt, np.nan))]
    report = evaluate_predictions(pairs, PROTOCOLS["kitti_eigen_velodyne"], OutputKind.DEPTH_UP_TO_SCALE)
    ratios = np.array([2.0, 4.0, 3.0])  # the reference's list: one per scored image
    assert report.median_gt_over_pred == pytest.approx(np.median(ratios))
    assert report.gt_over_pred_std == pytest.approx(np.std(ratios / np.median(ratios)))
    assert "gt/pred median 3.000, std(ratio / median) 0.272" in report.format_table().splitlines()[0]


def test_the_nyu_crop_takes_nyu_frames_and_their_resizes_only(nyu_dir: Path, kitti_depth_dir: Path) -> None:
    """NYU's 480×640 and a 3:4 resize of it (240×320) keep the Eigen NYU crop; a KITTI 375×1242 frame is refused
    (see test/commands/test_train_eval.py::test_the_nyu_crop_on_frames_that_are_no_nyu_frames_is_refused)."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.depth import check_nyu_frames
    from mono_depth_ros.evaluation.samples import EvalSample

    nyu = annotated_samples(nyu_dir)
    half = [EvalSample(s.name, s.rgb[::2, ::2], s.gt_depth_m[::2, ::2], s.intrinsics) for s in nyu]
    check_nyu_frames(nyu)
    check_nyu_frames(half)
    with pytest.raises(ShapeError, match=r"'0000000005'.*480x640.*375x1242.*--crop none"):
        check_nyu_frames(annotated_samples(kitti_depth_dir))


@pytest.mark.parametrize(
    "crop", ["garg", "eigen_kitti", "garg_kb", "eigen_kitti_kb", "garg_kb_input", "eigen_kitti_kb_input"]
)
def test_a_kitti_crop_takes_kitti_frames_and_their_resizes_only(
    tiny_checkpoint: Path, nyu_dir: Path, kitti_depth_dir: Path, crop: str
) -> None:
    """The KITTI crops (Garg's, BTS's Eigen, and both of the KB cut) are fractions of KITTI's 375×1242 road frames;
    ``--crop garg`` on the real NYU 480×640 frames was scored (rows 195:476 of the room, no reference's protocol:
    ZoeDepth / BTS score NYU with the Eigen NYU crop). Refused naming the crop, the size and ``--crop eigen_nyu``,
    before the model runs; the real KITTI frames and a resize of them (monodepth2's 192×640 aspect) keep it."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.samples import EvalSample

    nyu = annotated_samples(nyu_dir)
    protocol = replace(PROTOCOLS["nyu"], crop=crop)
    pattern = rf"'{nyu[0].name}'.*crop {crop}.*480x640.*--crop eigen_nyu"
    with pytest.raises(ShapeError, match=pattern):
        evaluate_checkpoint(Path("/nonexistent/model.safetensors"), nyu, protocol)
    wide = [EvalSample(s.name, s.rgb[:160], s.gt_depth_m[:160], s.intrinsics) for s in nyu]  # 160x640: 4:1
    with pytest.raises(ShapeError, match=r"160x640.*--crop none"):
        evaluate_checkpoint(tiny_checkpoint, wide, protocol)
    kitti = annotated_samples(kitti_depth_dir)
    report = evaluate_checkpoint(tiny_checkpoint, kitti, replace(PROTOCOLS["kitti_improved"], crop=crop))
    assert report.mean.count > 0
    if crop not in ("garg_kb", "eigen_kitti_kb", "garg_kb_input", "eigen_kitti_kb_input"):  # a resize: no KB cut
        half = [
            EvalSample(
                s.name, s.rgb[::2, ::2], s.gt_depth_m[::2, ::2], s.intrinsics.resized(*s.rgb[::2, ::2].shape[1::-1])
            )
            for s in kitti
        ]
        assert evaluate_checkpoint(tiny_checkpoint, half, replace(PROTOCOLS["kitti_improved"], crop=crop)).mean.count


def _textured_checkpoint(path: Path) -> Path:
    """A tiny metric net (1-80 m) resized to 96×320, its head weights ×20: an output that follows the image (a third
    of its 2×2 cells differ by more than 10 %), where the plain tiny net's is nearly flat."""
    torch.manual_seed(0)
    spec = make_unet_spec(
        "resnet18",
        "tiny",
        encoder_width=4,
        decoder_channels=[4, 4, 4, 4, 4],
        output_kind=OutputKind.METRIC,
        input_policy=InputPolicy(96, 320),
        min_depth_m=1.0,
        max_depth_m=80.0,
    )
    state = {k: v * 20.0 if k.startswith("heads.0.") else v for k, v in build_model(spec).state_dict().items()}
    return save_checkpoint(path, state, spec)


@pytest.mark.parametrize(("fixture", "protocol"), [("kitti_depth_dir", "kitti_improved"), ("nyu_dir", "nyu")])
def test_the_prediction_is_resized_to_the_ground_truth_bilinearly_as_the_references_resize_it(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, protocol: str
) -> None:
    """The network output is brought to the GT's size by bilinear interpolation, as monodepth2 does
    (``evaluate_depth.py``: ``pred_disp = cv2.resize(pred_disp, (gt_width, gt_height))``, OpenCV's default
    INTER_LINEAR; https://github.com/nianticlabs/monodepth2/blob/master/evaluate_depth.py) and ZoeDepth / Depth
    Anything V1 (``zoedepth/utils/misc.py`` ``compute_metrics``: ``nn.functional.interpolate(pred, gt.shape[-2:],
    mode='bilinear', ...)``). ``mono-depth eval`` took the node's edge-aware upsampling, nearest neighbour wherever a
    2×2 cell of the output differs by more than 10 %: on a textured output (the tiny net's head ×20: a third of its
    cells) the evaluated map was not the references' and the metrics moved with it (on a real KITTI frame's truth
    with 10 % pixel noise at 192×640, AbsRel 0.082 for 0.056 bilinear)."""
    import cv2

    from mono_depth_ros.evaluation.depth import checkpoint_predictor

    checkpoint = _textured_checkpoint(tmp_path / "textured.safetensors")
    samples = load_samples(protocol if protocol == "nyu" else "kitti_annotated", request.getfixturevalue(fixture))
    predict, _ = checkpoint_predictor(checkpoint)
    report = evaluate_checkpoint(checkpoint, samples, protocol)
    p = PROTOCOLS[protocol]
    for sample, (_, ours) in zip(samples, report.per_image, strict=True):
        native = predict(sample.rgb, sample.intrinsics, (96, 320))  # the network's own output, not resampled
        edges = np.maximum(native[1:, 1:] / native[:-1, :-1], native[:-1, :-1] / native[1:, 1:]) > 1.1
        assert edges.mean() > 0.05  # a textured output: the test can see nearest-neighbour cells
        height, width = sample.gt_depth_m.shape
        bilinear = cv2.resize(native, (width, height), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(predict(sample.rgb, sample.intrinsics, (height, width)), bilinear, rtol=1e-5)
        gt = np.nan_to_num(sample.gt_depth_m.astype(np.float64), nan=0.0)
        for name, value in _zoedepth_metrics(gt, bilinear.astype(np.float64), p.crop, p.max_depth_m).items():
            assert getattr(ours, name) == pytest.approx(value, rel=1e-5), name
        monodepth2 = 1.0 / cv2.resize(1.0 / native, (width, height))  # it resizes disparity: a small difference
        reference = _zoedepth_metrics(gt, monodepth2.astype(np.float64), p.crop, p.max_depth_m)
        assert ours.abs_rel == pytest.approx(reference["abs_rel"], rel=2e-2)


def test_the_eigen_crop_of_the_kb_crop_feeds_and_scores_as_marigold(
    kitti_depth_dir: Path, tiny_checkpoint: Path
) -> None:
    """``--crop eigen_kitti_kb`` is Marigold's KITTI evaluation (``data_kitti_eigen_test.yaml``: ``kitti_bm_crop:
    true``, ``valid_mask_crop: eigen``): image and GT cut to the bottom-centre 352×1216, the network fed the cut
    image, the Eigen fractions (0.3324324, 0.91351351, 0.0359477, 0.96405229, truncated) of the cut GT scored."""
    from mono_depth_ros.evaluation.depth import checkpoint_predictor

    sample = annotated_samples(kitti_depth_dir)[0]
    protocol = replace(PROTOCOLS["kitti_improved_kb"], crop="eigen_kitti_kb")
    report = evaluate_checkpoint(tiny_checkpoint, [sample], protocol)
    predict, _ = checkpoint_predictor(tiny_checkpoint)
    height, width = sample.gt_depth_m.shape
    top, left = height - 352, int((width - 1216) / 2)
    gt = np.nan_to_num(sample.gt_depth_m[top : top + 352, left : left + 1216].astype(np.float64), nan=0.0)
    pred = np.clip(predict(sample.rgb[top : top + 352, left : left + 1216], None, None).astype(np.float64), 1e-3, 80.0)
    eval_mask = np.zeros(gt.shape, dtype=bool)
    eval_mask[int(0.3324324 * 352) : int(0.91351351 * 352), int(0.0359477 * 1216) : int(0.96405229 * 1216)] = True
    valid = (gt > 1e-3) & (gt < 80.0) & eval_mask
    p, g = pred[valid], gt[valid]
    assert report.mean.abs_rel == pytest.approx(float(np.mean(np.abs(p - g) / g)), rel=1e-6)
    assert report.mean.rmse == pytest.approx(float(np.sqrt(np.mean((p - g) ** 2))), rel=1e-6)
    assert report.protocol.crop == "eigen_kitti_kb" and int(valid.sum()) > 30_000


def test_non_finite_predictions_in_the_scalings_are_as_the_results_page_says(kitti_depth_dir: Path) -> None:
    """docs/training_results.md: ``median`` takes both medians over the pixels with a finite, positive prediction
    (a model marking the farther 60 % of a real KITTI frame's GT pixels +Inf still gets its ratio, and those pixels
    are scored at the 80 m cap); ``affine_inverse`` counts a depth's +Inf as inverse 0."""
    from mono_depth_ros.evaluation.depth import align_inverse_depth, inverse_prediction

    gt = annotated_samples(kitti_depth_dir)[0].gt_depth_m.astype(np.float64)
    valid = np.isfinite(gt) & (gt > 1e-3) & (gt < 80.0)
    far = valid & (gt > np.quantile(gt[valid], 0.4))
    pred = np.where(far, np.inf, gt / 5.0)
    report = evaluate_predictions([("x", pred, gt)], PROTOCOLS["kitti_eigen_benchmark"], OutputKind.DEPTH_UP_TO_SCALE)
    assert report.gt_over_pred_median[0] == pytest.approx(5.0)
    median = replace(PROTOCOLS["kitti_eigen_benchmark"], scaling="median", gt_range_m=(1e-3, 80.0))
    scored = evaluate_predictions([("x", pred, gt)], median, OutputKind.DEPTH_UP_TO_SCALE).mean
    expected = np.where(far, np.abs(80.0 - gt) / gt, 0.0)[valid].mean()
    assert scored.abs_rel == pytest.approx(expected, rel=1e-9)
    with np.errstate(divide="ignore"):
        as_zero = np.where(far, 0.0, 1.0 / (gt / 5.0))
    np.testing.assert_array_equal(
        align_inverse_depth(inverse_prediction(pred, OutputKind.DEPTH_UP_TO_SCALE), gt, valid),
        align_inverse_depth(as_zero, gt, valid),
    )


def test_a_relative_heads_zeros_are_blended_bilinearly_as_the_references_resize_them(
    tmp_path: Path, kitti_depth_dir: Path
) -> None:
    """A relative inverse-depth head (Depth Anything's ends in a ReLU: exact 0 in the sky) holds valid zeros, which
    the references blend into the resize to the GT like any other value (MiDaS / Depth Anything / Marigold's
    ``least_square_disparity``: bilinear of the disparity map, then the scale-and-shift fit). EVAL_EDGE_RATIO (1e6)
    kept the node's rule that a cell holding a value <= 0 takes the nearest value, so every output cell touching a
    zero was resized by nearest neighbour (a third of this tiny random head's cells). The map at the GT's size must be
    OpenCV's INTER_LINEAR of the network output, zeros included, on a real KITTI frame."""
    import cv2

    from mono_depth_ros.evaluation.depth import checkpoint_predictor
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    from test.models.hf_tiny import write_tiny_family

    checkpoint = write_tiny_family("depth_anything", tmp_path / "da")
    predict, kind = checkpoint_predictor(checkpoint)
    assert kind is OutputKind.RELATIVE_INVERSE
    sample = annotated_samples(kitti_depth_dir)[0]
    height, width = sample.gt_depth_m.shape
    estimator = DepthEstimator.open("transformers", checkpoint, EstimatorConfig(warmup_runs=0))
    network_hw = estimator.predict(sample.rgb).network_hw
    native = predict(sample.rgb, sample.intrinsics, network_hw)  # the network's own output, not resampled
    cells = np.minimum.reduce([native[:-1, :-1], native[1:, :-1], native[:-1, 1:], native[1:, 1:]])
    assert np.isfinite(native).all() and (cells == 0).mean() > 0.05 and (native > 0).mean() > 0.05
    bilinear = cv2.resize(native, (width, height), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(predict(sample.rgb, sample.intrinsics, (height, width)), bilinear, rtol=1e-5, atol=0)


def _bts_eval_kitti(
    gt_depths: list[np.ndarray], images: list[np.ndarray], predict: object, eigen_crop: bool = False
) -> dict[str, float]:
    """BTS on KITTI, transcribed: ``pytorch/bts_dataloader.py`` (test mode, ``do_kb_crop``) feeds the network the image
    cut to ``[height - 352:, (width - 1216) // 2:][:352, :1216]``; ``pytorch/bts_eval.py`` ``eval`` (``--do_kb_crop
    --garg_crop``, cleinc/bts) puts each prediction back into a zero frame of the GT's size, clips it to 1e-3..80 m
    (inf -> max, NaN -> min), masks 1e-3 < GT < 80 m inside the Garg fractions of the *full* frame (``eigen_crop``:
    ``--eigen_crop``, its KITTI fractions), computes its ``compute_errors`` per image and averages over images."""
    rows: list[dict[str, float]] = []
    for gt_depth, image in zip(gt_depths, images, strict=True):
        height, width = gt_depth.shape
        top_margin, left_margin = int(height - 352), int((width - 1216) / 2)
        fed = image[top_margin : top_margin + 352, left_margin : left_margin + 1216]
        pred_depth_uncropped = np.zeros((height, width), dtype=np.float32)
        pred_depth_uncropped[top_margin : top_margin + 352, left_margin : left_margin + 1216] = predict(fed)  # type: ignore[operator]
        pred_depth = pred_depth_uncropped
        pred_depth[pred_depth < 1e-3] = 1e-3
        pred_depth[pred_depth > 80.0] = 80.0
        pred_depth[np.isinf(pred_depth)] = 80.0
        pred_depth[np.isnan(pred_depth)] = 1e-3
        valid_mask = np.logical_and(gt_depth > 1e-3, gt_depth < 80.0)
        eval_mask = np.zeros(valid_mask.shape)
        if eigen_crop:
            eval_mask[
                int(0.3324324 * height) : int(0.91351351 * height), int(0.0359477 * width) : int(0.96405229 * width)
            ] = 1
        else:
            eval_mask[
                int(0.40810811 * height) : int(0.99189189 * height), int(0.03594771 * width) : int(0.96405229 * width)
            ] = 1
        valid_mask = np.logical_and(valid_mask, eval_mask)
        gt, pred = gt_depth[valid_mask].astype(np.float64), pred_depth[valid_mask].astype(np.float64)
        thresh = np.maximum((gt / pred), (pred / gt))
        err = np.log(pred) - np.log(gt)
        rows.append(
            {
                "a1": (thresh < 1.25).mean(),
                "a2": (thresh < 1.25**2).mean(),
                "a3": (thresh < 1.25**3).mean(),
                "rmse": np.sqrt(((gt - pred) ** 2).mean()),
                "rmse_log": np.sqrt(((np.log(gt) - np.log(pred)) ** 2).mean()),
                "abs_rel": float(np.mean(np.abs(gt - pred) / gt)),
                "sq_rel": float(np.mean(((gt - pred) ** 2) / gt)),
                "silog": np.sqrt(np.mean(err**2) - np.mean(err) ** 2) * 100,
                "log10": np.mean(np.abs(np.log10(pred) - np.log10(gt))),
            }
        )
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}


def test_kitti_improved_kb_input_scores_as_bts_eval(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """BTS's published KITTI figures (``bts_eval.py`` / ``eval_with_pngs.py --do_kb_crop --garg_crop``) feed the
    network the 352×1216 KB crop and score the Garg crop of the full frame; no protocol did both: ``kitti_improved``
    feeds the full frame (another prediction from a network resized to a fixed input), ``kitti_improved_kb`` scores
    the Garg crop of the KB crop (other pixels). ``kitti_improved_kb_input`` gives bts_eval.py's numbers on the real
    KITTI frames, and the other two do not (:func:`_textured_checkpoint`: an output that follows the image)."""
    from mono_depth_ros.evaluation.depth import checkpoint_predictor

    checkpoint = _textured_checkpoint(tmp_path / "textured.safetensors")
    samples = annotated_samples(kitti_depth_dir)
    predict, _ = checkpoint_predictor(checkpoint)
    gts = [np.nan_to_num(s.gt_depth_m, nan=0.0) for s in samples]
    reference = _bts_eval_kitti(gts, [s.rgb for s in samples], lambda image: predict(image, None, None))
    report = evaluate_checkpoint(checkpoint, samples, "kitti_improved_kb_input")
    assert report.protocol.crop == "garg_kb_input" and report.mean.count == len(samples) == 3
    for name, value in reference.items():
        assert getattr(report.mean, name) == pytest.approx(value, rel=1e-5), name
    for other in ("kitti_improved", "kitti_improved_kb"):
        assert evaluate_checkpoint(checkpoint, samples, other).mean.rmse != pytest.approx(reference["rmse"], rel=1e-3)


def test_kitti_improved_kb_input_is_refused_on_frames_without_btss_kb_crop(kitti_depth_dir: Path) -> None:
    """Checked before the model runs: a frame smaller than 352×1216 (a resize of KITTI's: BTS's KB crop does not
    exist) names ``--crop garg``; a GT resized from its image names the same; a frame whose full-frame Garg crop
    reaches outside the KB crop (420×1400: BTS would score the zeros it pads there) names ``--crop garg_kb``."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.samples import EvalSample

    sample = annotated_samples(kitti_depth_dir)[0]
    missing = Path("/nonexistent/model.safetensors")
    half = EvalSample(sample.name, sample.rgb[::2, ::2], sample.gt_depth_m[::2, ::2], sample.intrinsics)
    with pytest.raises(ShapeError, match=r"--crop garg_kb_input.*352x1216.*188x621.*--crop garg\b.*kitti_improved\b"):
        evaluate_checkpoint(missing, [half], "kitti_improved_kb_input")
    resized_gt = EvalSample(sample.name, sample.rgb, sample.gt_depth_m[::2, ::2], sample.intrinsics)
    with pytest.raises(ShapeError, match=r"garg_kb_input.*\(375, 1242\).*--crop garg\b"):
        evaluate_checkpoint(missing, [resized_gt], "kitti_improved_kb_input")
    pad = ((45, 0), (79, 79))
    camera = replace(
        sample.intrinsics, cx=sample.intrinsics.cx + 79, cy=sample.intrinsics.cy + 45, width=1400, height=420
    )
    rgb, gt = np.pad(sample.rgb, (*pad, (0, 0)), mode="edge"), np.pad(sample.gt_depth_m, pad)
    wide = EvalSample(sample.name, rgb, gt, camera)
    pattern = r"'0000000005'.*420x1400 frame \(rows 171:416, cols 50:1349\).*cols 92:1308.*--crop garg_kb\b"
    with pytest.raises(ShapeError, match=pattern):
        evaluate_checkpoint(missing, [wide], "kitti_improved_kb_input")


def test_kitti_improved_kb_input_feeds_the_kb_crop_through_evaluate_samples_and_predictions(
    kitti_depth_dir: Path, tmp_path: Path
) -> None:
    """The protocol scores a prediction *of the KB crop* put back into the frame, whichever entry point scores it:
    ``evaluate_samples`` (a bare predictor) feeds its predictor the 352×1216 cut and gives bts_eval.py's numbers;
    ``evaluate_predictions`` takes predictions of the cut and puts them back, and refuses a prediction of the whole
    frame naming ``--crop garg`` (it was scored on the Garg crop as ``kitti_improved``: another protocol's figures
    under this one's name)."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.depth import checkpoint_predictor, evaluate_predictions, evaluate_samples

    checkpoint = _textured_checkpoint(tmp_path / "textured.safetensors")
    samples = annotated_samples(kitti_depth_dir)
    predict, kind = checkpoint_predictor(checkpoint)

    def bare(rgb: np.ndarray) -> np.ndarray:
        return predict(rgb, None, None)

    gts = [np.nan_to_num(s.gt_depth_m, nan=0.0) for s in samples]
    reference = _bts_eval_kitti(gts, [s.rgb for s in samples], bare)
    protocol = PROTOCOLS["kitti_improved_kb_input"]
    report = evaluate_samples(bare, kind, samples, protocol)
    assert report.mean.count == len(samples) == 3
    for name, value in reference.items():
        assert getattr(report.mean, name) == pytest.approx(value, rel=1e-5), name
    tops_lefts = [(s.rgb.shape[0] - 352, (s.rgb.shape[1] - 1216) // 2) for s in samples]
    cuts = [
        (s.name, bare(s.rgb[t : t + 352, c : c + 1216]), s.gt_depth_m)
        for s, (t, c) in zip(samples, tops_lefts, strict=True)
    ]
    assert cuts[0][1].shape == (352, 1216)
    again = evaluate_predictions(cuts, protocol, kind)
    for name, value in reference.items():
        assert getattr(again.mean, name) == pytest.approx(value, rel=1e-5), name
    whole = [(s.name, bare(s.rgb), s.gt_depth_m) for s in samples]
    assert whole[0][1].shape == samples[0].gt_depth_m.shape
    with pytest.raises(ShapeError, match=r"'0000000005'.*garg_kb_input.*352x1216.*\(375, 1242\).*--crop garg\b"):
        evaluate_predictions(whole, protocol, kind)


@pytest.mark.parametrize("crop", ["garg_kb", "eigen_kitti_kb"])
def test_the_kb_crops_feed_the_kb_cut_through_evaluate_samples(
    kitti_depth_dir: Path, tmp_path: Path, crop: str
) -> None:
    """Under ``garg_kb`` / ``eigen_kitti_kb`` (ZoeDepth's / Marigold's: the network sees the 352×1216 KB cut)
    ``evaluate_samples`` fed its predictor the whole 375×1242 frame and scored that prediction's KB window: another
    input than the protocol's, other figures than ``evaluate_checkpoint``'s. It feeds the cut, and both entry points
    give the same numbers on the real KITTI frames."""
    from mono_depth_ros.evaluation.depth import checkpoint_predictor, evaluate_samples

    checkpoint = _textured_checkpoint(tmp_path / "textured.safetensors")
    samples = annotated_samples(kitti_depth_dir)
    predict, kind = checkpoint_predictor(checkpoint)
    fed: list[tuple[int, ...]] = []

    def bare(rgb: np.ndarray) -> np.ndarray:
        fed.append(rgb.shape)
        return predict(rgb, None, None)

    protocol = replace(PROTOCOLS["kitti_improved_kb"], crop=crop)
    report = evaluate_samples(bare, kind, samples, protocol)
    assert fed == [(352, 1216, 3)] * len(samples)
    reference = evaluate_checkpoint(checkpoint, samples, protocol)
    assert report.mean.count == reference.mean.count == 3
    for name in METRIC_NAMES:
        assert getattr(report.mean, name) == pytest.approx(getattr(reference.mean, name), rel=1e-6), name


def test_the_eigen_crop_of_btss_kb_input_procedure_scores_as_bts_eval(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """BTS's ``bts_eval.py --do_kb_crop --eigen_crop`` (the network fed the 352×1216 KB crop, the Eigen KITTI crop of
    the full frame scored) had no crop: ``garg_kb_input`` is its Garg variant, ``eigen_kitti`` feeds the whole frame,
    ``eigen_kitti_kb`` scores the Eigen fractions of the cut (rows 140:344 of 375, not 124:342). ``--crop
    eigen_kitti_kb_input`` gives bts_eval.py's numbers on the real KITTI frames, through ``evaluate_checkpoint`` and
    ``evaluate_samples``, and differs from the other two Eigen crops."""
    from mono_depth_ros.evaluation.depth import checkpoint_predictor, evaluate_samples

    checkpoint = _textured_checkpoint(tmp_path / "textured.safetensors")
    samples = annotated_samples(kitti_depth_dir)
    predict, kind = checkpoint_predictor(checkpoint)

    def bare(rgb: np.ndarray) -> np.ndarray:
        return predict(rgb, None, None)

    gts = [np.nan_to_num(s.gt_depth_m, nan=0.0) for s in samples]
    reference = _bts_eval_kitti(gts, [s.rgb for s in samples], bare, eigen_crop=True)
    protocol = replace(PROTOCOLS["kitti_improved_kb_input"], crop="eigen_kitti_kb_input")
    for report in (evaluate_checkpoint(checkpoint, samples, protocol), evaluate_samples(bare, kind, samples, protocol)):
        assert report.mean.count == 3
        for name, value in reference.items():
            assert getattr(report.mean, name) == pytest.approx(value, rel=1e-5), name
    for other in ("eigen_kitti", "eigen_kitti_kb"):
        scored = evaluate_checkpoint(checkpoint, samples, replace(protocol, crop=other)).mean
        assert scored.abs_rel != pytest.approx(reference["abs_rel"], rel=1e-5), other


def test_the_garg_crop_takes_kitti_360_frames_and_refuses_2_to_1_frames(
    tiny_checkpoint: Path, kitti_depth_dir: Path
) -> None:
    """A KITTI-360 frame (376x1408, width / height 3.74) was refused naming `--crop none` (width / height outside
    3.0-3.6), which scores the sky and the bonnet; it is scored under the Garg / Eigen fractions of its own size.
    A 2:1 frame stays refused: monodepth2 (``evaluate_depth.py``, ``gt_depths.npz`` projected at each frame's
    recorded size) and BTS score KITTI's GT at its recorded size with the prediction resized to it, never a GT
    resized to monodepth's 256x512, and 2:1 is another camera's frame (Cityscapes' 1024x2048, DrivingStereo's
    400x881 is 2.2), whose bonnet the Garg rows take in; the message names the recorded size as the remedy. NYU's
    3:4 and a 4:1 strip stay refused."""
    import cv2

    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.samples import EvalSample

    kitti = annotated_samples(kitti_depth_dir)
    pad = ((1, 0), (83, 83))  # 375x1242 -> 376x1408, KITTI-360's size (its camera centred)
    wide = [
        EvalSample(
            s.name,
            np.pad(s.rgb, (*pad, (0, 0)), mode="edge"),
            np.pad(s.gt_depth_m, pad, constant_values=np.nan),
            replace(s.intrinsics, cx=s.intrinsics.cx + 83, cy=s.intrinsics.cy + 1, width=1408, height=376),
        )
        for s in kitti
    ]
    resized = [
        EvalSample(
            s.name,
            np.asarray(cv2.resize(s.rgb, (512, 256), interpolation=cv2.INTER_AREA), dtype=np.uint8),
            np.asarray(cv2.resize(s.gt_depth_m, (512, 256), interpolation=cv2.INTER_NEAREST), dtype=np.float32),
            s.intrinsics.resized(512, 256),
        )
        for s in kitti
    ]
    for crop in ("garg", "eigen_kitti"):
        protocol = replace(PROTOCOLS["kitti_improved"], crop=crop)
        report = evaluate_checkpoint(tiny_checkpoint, wide, protocol)
        assert report.mean.count == 3, crop
        with pytest.raises(ShapeError, match=r"got 256x512.*at the size it was recorded.*--crop none"):
            evaluate_checkpoint(tiny_checkpoint, resized, protocol)
    cityscapes = [replace(s, rgb=np.zeros((1024, 2048, 3), np.uint8)) for s in resized[:1]]  # refused on its size
    with pytest.raises(ShapeError, match=r"got 1024x2048"):
        check_kitti_frames(cityscapes, "garg")
    strip = [EvalSample(s.name, s.rgb[:120, :480], s.gt_depth_m[:120, :480], s.intrinsics) for s in kitti]  # 4:1
    with pytest.raises(ShapeError, match=r"120x480.*--crop none"):
        evaluate_checkpoint(tiny_checkpoint, strip, PROTOCOLS["kitti_improved"])


def test_a_cut_nyu_copy_among_whole_frames_is_refused_naming_the_mix(nyu_dir: Path) -> None:
    """A set mixing NYU frames already cut to the Eigen crop (427x561) with whole 480x640 ones keeps the crop for all
    (:func:`nyu_crop_of`), so the cut copy is refused; the message said such copies "are scored whole" while refusing
    one, and named no way to score the set."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.depth import check_nyu_frames
    from mono_depth_ros.evaluation.samples import EvalSample

    whole = annotated_samples(nyu_dir)[0]
    cut = EvalSample("cut", whole.rgb[44:471, 40:601], whole.gt_depth_m[44:471, 40:601], whole.intrinsics)
    with pytest.raises(ShapeError) as refused:
        check_nyu_frames([whole, cut])
    text = str(refused.value)
    assert "'cut'" in text and "427x561" in text and "480x640" in text, text
    assert "already cut to the Eigen crop" in text and "apart" in text and "--crop none" in text, text
