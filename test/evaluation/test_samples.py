"""Tests for evaluation/samples.py: units and sparsity of the real ground truth, synthetic samples, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.samples import (
    EvalSample,
    annotated_samples,
    kitti_velodyne_samples,
    load_samples,
    synthetic_samples,
)
from mono_depth_ros.training.data.synthetic import ClipSpec, render_clip


def test_velodyne_ground_truth_is_sparse_and_in_range(kitti_object_dir: Path) -> None:
    samples = kitti_velodyne_samples(kitti_object_dir)
    assert [s.name for s in samples] == ["000000", "000001", "000002"]
    valid = np.isfinite(samples[0].gt_depth_m)
    assert 10_000 < valid.sum() < 25_000  # ~18-20k of ~120k points land in the image
    assert np.nanmin(samples[0].gt_depth_m) > 1.0 and np.nanmax(samples[0].gt_depth_m) < 120.0
    assert samples[0].intrinsics.width == samples[0].rgb.shape[1]


def test_annotated_units(kitti_depth_dir: Path, nyu_dir: Path) -> None:
    kitti = annotated_samples(kitti_depth_dir)[0]
    assert kitti.rgb.shape == (375, 1242, 3) and kitti.intrinsics.fx == pytest.approx(707.0493)
    assert 1.0 < np.nanmedian(kitti.gt_depth_m) < 80.0  # value / 256
    nyu = annotated_samples(nyu_dir)[0]
    assert nyu.rgb.shape == (480, 640, 3) and 0.3 < np.nanmedian(nyu.gt_depth_m) < 10.0  # value / 1000


def test_synthetic_samples(tmp_path: Path) -> None:
    clip = render_clip(ClipSpec(seed=4, n_frames=2, width=64, height=32, beams=0), tmp_path)
    samples = synthetic_samples([clip])
    assert [s.name for s in samples] == ["4/0", "4/1"]
    assert np.isnan(samples[0].gt_depth_m).any() and not np.isinf(samples[0].gt_depth_m).any()


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image_2"):
        kitti_velodyne_samples(tmp_path)
    with pytest.raises(ConfigError, match="test_annotations"):
        annotated_samples(tmp_path)
    with pytest.raises(ConfigError, match="unknown evaluation dataset"):
        load_samples("cityscapes", tmp_path)
    with pytest.raises(ConfigError, match="kitti_annotated has no split file"):  # it was ignored
        load_samples("kitti_annotated", tmp_path, tmp_path / "split.txt")


def _annotated_folder(root: Path, png_scale: float, listed: bool = True, depth_suffix: str = ".png") -> np.ndarray:
    """Two 24×32 frames listed as Metric3D lists them (``data/<demo>/rgb/...`` paths), PNG depth = metres ×
    ``png_scale``, which ``depth_scale`` states when ``listed``; returns the GT in metres."""
    import json

    import cv2

    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    gt = np.linspace(0.5, 8.0, 24 * 32).reshape(24, 32)
    files = []
    for stem in ("b", "a"):
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), np.full((24, 32, 3), 90, np.uint8))
        if depth_suffix == ".npy":
            np.save(root / "depth" / f"{stem}.npy", gt.astype(np.float32))
        else:
            cv2.imwrite(str(root / "depth" / f"{stem}.png"), np.round(gt * png_scale).astype(np.uint16))
        entry = {"rgb": f"data/demo/rgb/{stem}.png", "depth": f"data/demo/depth/{stem}{depth_suffix}"}
        entry["cam_in"] = [30.0, 30.0, 15.5, 11.5]
        if listed:
            entry["depth_scale"] = png_scale
        files.append(entry)
    (root / "test_annotations.json").write_text(json.dumps({"files": files}))
    return gt


@pytest.mark.parametrize(("dataset", "png_scale"), [("kitti_annotated", 256.0), ("nyu", 1000.0)])
def test_annotation_file_without_depth_scale_takes_the_datasets_unit(
    tmp_path: Path, dataset: str, png_scale: float
) -> None:
    """An entry without ``depth_scale`` (optional for ``mono-depth train``) raised a bare KeyError in eval: it now
    reads KITTI PNGs as value / 256 and NYU PNGs as millimetres, as training reads the same file."""
    gt = _annotated_folder(tmp_path, png_scale, listed=False)
    samples = load_samples(dataset, tmp_path)
    assert [s.name for s in samples] == ["a", "b"]
    np.testing.assert_allclose(samples[0].gt_depth_m, gt, atol=0.5 / png_scale)
    assert samples[0].intrinsics.fx == 30.0 and samples[0].intrinsics.width == 32


def test_annotation_file_with_float_npy_ground_truth(tmp_path: Path) -> None:
    """Float metres in .npy (as ``mono-depth train`` reads them): NaN, ±Inf and <= 0 are no ground truth."""
    gt = _annotated_folder(tmp_path, 256.0, depth_suffix=".npy")
    bad = gt.astype(np.float32)
    bad[0, :4] = (np.nan, np.inf, -1.0, 0.0)
    np.save(tmp_path / "depth" / "a.npy", bad)
    sample = annotated_samples(tmp_path)[0]
    assert np.isnan(sample.gt_depth_m[0, :4]).all()
    np.testing.assert_allclose(sample.gt_depth_m[1:], gt[1:], rtol=1e-6)


def test_annotation_file_listing_a_missing_depth_file(tmp_path: Path) -> None:
    _annotated_folder(tmp_path, 256.0)
    (tmp_path / "depth" / "b.png").unlink()
    with pytest.raises(ConfigError, match=r"1 file\(s\) listed do not exist.*b\.png"):
        annotated_samples(tmp_path)


def test_folder_of_kitti_depth_completion_pngs(tmp_path: Path, kitti_depth_dir: Path) -> None:
    """KITTI depth-completion style GT (uint16, metres × 256, 0 = none) in the folder layout with png_scale 256
    reads as the annotated loader reads the same files."""
    import shutil

    for sub in ("rgb", "depth"):
        shutil.copytree(kitti_depth_dir / sub, tmp_path / sub)
    (tmp_path / "intrinsics.yaml").write_text("K: [[707.0493, 0, 604.0814], [0, 707.0493, 180.5066], [0, 0, 1]]\n")
    own = load_samples("folder", tmp_path, png_scale=256.0)
    reference = annotated_samples(kitti_depth_dir)
    assert [s.name for s in own] == [s.name for s in reference]
    for a, b in zip(own, reference, strict=True):
        np.testing.assert_array_equal(a.gt_depth_m, b.gt_depth_m)
        assert a.intrinsics == b.intrinsics


def write_val_selection(root: Path, reference: list[EvalSample]) -> None:
    """KITTI depth completion's ``depth_selection/val_selection_cropped`` layout under ``root`` from real 375×1242
    frames cut to 352×1216 as KITTI cuts them (bottom 352 rows, centred 1216 columns): ``image/``,
    ``groundtruth_depth/`` and ``velodyne_raw/`` (uint16 metres × 256), ``intrinsics/`` (K)."""
    import cv2

    for sub in ("image", "groundtruth_depth", "velodyne_raw", "intrinsics"):
        (root / sub).mkdir()
    for sample in reference:
        top, left = 375 - 352, (1242 - 1216) // 2
        stem = f"2011_09_26_drive_0002_sync_image_{sample.name}_image_02"
        cv2.imwrite(str(root / "image" / f"{stem}.png"), sample.rgb[top:, left : left + 1216, ::-1])
        raw = np.round(np.nan_to_num(sample.gt_depth_m[top:, left : left + 1216]) * 256).astype(np.uint16)
        for kind in ("groundtruth_depth", "velodyne_raw"):
            cv2.imwrite(str(root / kind / f"2011_09_26_drive_0002_sync_{kind}_{sample.name}_image_02.png"), raw)
        k = sample.intrinsics
        (root / "intrinsics" / f"{stem}.txt").write_text(f"{k.fx} 0 {k.cx - left} 0 {k.fy} {k.cy - top} 0 0 1\n")


def test_kitti_depth_selection_folder(tmp_path: Path, kitti_depth_dir: Path) -> None:
    """KITTI depth completion's ``depth_selection/val_selection_cropped`` (image/, groundtruth_depth/ uint16 × 256,
    velodyne_raw/, intrinsics/ K) built from the real frames cut to 352×1216 as KITTI cuts them; eval had no reader
    for it (``mono-depth train`` had one)."""
    reference = annotated_samples(kitti_depth_dir)[:2]
    write_val_selection(tmp_path, reference)
    samples = load_samples("kitti_depth_selection", tmp_path)
    assert len(samples) == 2 and samples[0].gt_depth_m.shape == (352, 1216) and samples[0].rgb.shape == (352, 1216, 3)
    np.testing.assert_array_equal(samples[0].gt_depth_m, reference[0].gt_depth_m[23:, 13:1229])
    assert samples[0].intrinsics.cx == pytest.approx(reference[0].intrinsics.cx - 13)


def test_nyu_bts_split_file(tmp_path: Path, nyu_dir: Path) -> None:
    """``--dataset nyu --split nyudepthv2_test_files_with_gt.txt`` (the BTS / AdaBins / ZoeDepth test list, paths
    relative to ``--data``, lines without GT skipped): the split was ignored and eval asked for a
    test_annotations.json."""
    import shutil

    reference = annotated_samples(nyu_dir)
    (tmp_path / "kitchen_0001").mkdir()
    lines = []
    for sample in reference:
        number = sample.name.split("_")[1]
        shutil.copy(nyu_dir / "rgb" / f"{sample.name}.jpg", tmp_path / "kitchen_0001")
        shutil.copy(nyu_dir / "depth" / f"sync_depth_{number}.png", tmp_path / "kitchen_0001")
        lines.append(f"/kitchen_0001/{sample.name}.jpg /kitchen_0001/sync_depth_{number}.png 518.8579")
    lines.insert(1, "/kitchen_0001/rgb_09999.jpg None 518.8579")
    split = tmp_path / "nyudepthv2_test_files_with_gt.txt"
    split.write_text("\n".join(lines) + "\n")
    samples = load_samples("nyu", tmp_path, split)
    assert [s.name for s in samples] == [f"kitchen_0001/{s.name}" for s in reference]
    for a, b in zip(samples, reference, strict=True):
        np.testing.assert_array_equal(a.gt_depth_m, b.gt_depth_m)
        assert a.intrinsics.fx == pytest.approx(518.8579) and a.intrinsics.width == 640


@pytest.mark.parametrize(
    ("dataset", "split"),
    [
        ("kitti_velodyne", None),
        ("kitti_depth_selection", None),
        ("kitti_eigen_benchmark", "split.txt"),
        ("nyu", "split.txt"),  # a BTS split file: its PNGs are millimetres, whatever --png-scale says
    ],
)
def test_a_png_scale_for_a_dataset_that_reads_none_is_refused(tmp_path: Path, dataset: str, split: str | None) -> None:
    """``--png-scale`` is read by ``folder`` and by annotation entries without ``depth_scale``; these datasets have a
    fixed unit (KITTI × 256, Velodyne metres, BTS NYU millimetres), and the value was dropped without a word (a user
    who needed another scale got the fixed one)."""
    with pytest.raises(ConfigError, match=f"--png-scale.*{dataset}"):
        load_samples(dataset, tmp_path, None if split is None else tmp_path / split, 256.0)


def test_kb_cropped_cuts_image_ground_truth_and_camera_alike(kitti_depth_dir: Path) -> None:
    """The KITTI benchmark crop as BTS / ZoeDepth cut a 375×1242 frame: rows 23:375, cols 13:1229; the principal
    point moves with it (a metric_focal model gets the cut image's camera); a resized GT has no KB crop."""
    from dataclasses import replace

    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.samples import kb_cropped

    sample = annotated_samples(kitti_depth_dir)[0]
    cut = kb_cropped(sample)
    assert cut.rgb.shape == (352, 1216, 3) and cut.gt_depth_m.shape == (352, 1216)
    np.testing.assert_array_equal(cut.rgb, sample.rgb[23:375, 13:1229])
    np.testing.assert_array_equal(cut.gt_depth_m, sample.gt_depth_m[23:375, 13:1229])
    k, c = sample.intrinsics, cut.intrinsics
    assert (c.fx, c.fy, c.cx, c.cy, c.width, c.height) == (k.fx, k.fy, k.cx - 13, k.cy - 23, 1216, 352)
    again = kb_cropped(cut)  # already cut: unchanged
    assert again.intrinsics == c and np.array_equal(again.rgb, cut.rgb)
    with pytest.raises(ShapeError, match="GT at its image's size"):
        kb_cropped(replace(sample, gt_depth_m=sample.gt_depth_m[::2, ::2]))


def test_a_kb_crop_that_does_not_fit_names_the_crop_and_the_option_that_replaces_it(
    kitti_depth_dir: Path, nyu_dir: Path
) -> None:
    """``mono-depth eval --dataset nyu --crop garg_kb`` (or kitti_annotated with a resized GT) was told to "score a
    resized frame under kitti_improved": a KITTI protocol for an NYU frame, and for a kitti_annotated run the protocol
    it already had, with the --crop garg_kb that caused it left in. The message names the crop and what replaces it."""
    from dataclasses import replace

    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.samples import kb_cropped

    with pytest.raises(ShapeError, match=r"garg_kb.*480x640.*--crop garg\b.*leave --crop garg_kb out"):
        kb_cropped(annotated_samples(nyu_dir)[0])
    kitti = annotated_samples(kitti_depth_dir)[0]
    with pytest.raises(ShapeError, match=r"garg_kb.*--crop garg\b.*kitti_improved\b"):
        kb_cropped(replace(kitti, gt_depth_m=kitti.gt_depth_m[::2, ::2]))


def test_a_folder_of_upper_case_depth_pngs_reads_as_one_of_lower_case(tmp_path: Path, nyu_dir: Path) -> None:
    """A camera's `.PNG` depth (read since 2763827) took the generic millimetre decode (value × 1/1000) where a
    `.png` takes value / 1000 as NYU's tools divide: the same file gave other ground truth in the last bit."""
    for case, suffix in (("lower", ".png"), ("upper", ".PNG")):
        root = tmp_path / case
        (root / "rgb").mkdir(parents=True)
        (root / "depth").mkdir()
        for image, depth in zip(
            sorted((nyu_dir / "rgb").glob("*.jpg")), sorted((nyu_dir / "depth").glob("*.png")), strict=True
        ):
            (root / "rgb" / image.name).symlink_to(image)
            (root / "depth" / f"{image.stem}{suffix}").symlink_to(depth)
        (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    lower, upper = load_samples("folder", tmp_path / "lower"), load_samples("folder", tmp_path / "upper")
    assert len(lower) == len(upper) == 3
    for a, b in zip(lower, upper, strict=True):
        assert np.isfinite(a.gt_depth_m).sum() > 100_000
        np.testing.assert_array_equal(a.gt_depth_m, b.gt_depth_m)


def test_a_png_scale_that_the_annotation_files_depth_scale_overrules_is_refused(
    kitti_depth_dir: Path, nyu_dir: Path
) -> None:
    """--png-scale is read by annotation entries without ``depth_scale`` only; on the real metric3d folders (every
    entry has one) --png-scale 1000 for the KITTI PNGs (256 in the file) was dropped without a word, so the user who
    gave it could not tell which unit scored. A value the file contradicts is refused naming both and the way out;
    the file's own value, or entries without one, are taken."""
    with pytest.raises(ConfigError, match=r"--png-scale 1000 .*depth_scale 256.* 3 entries.*leave --png-scale out"):
        load_samples("kitti_annotated", kitti_depth_dir, png_scale=1000)
    with pytest.raises(ConfigError, match=r"--png-scale 256 .*depth_scale 1000"):
        load_samples("nyu", nyu_dir, png_scale=256)
    same = load_samples("nyu", nyu_dir, png_scale=1000)
    np.testing.assert_array_equal(same[0].gt_depth_m, load_samples("nyu", nyu_dir)[0].gt_depth_m)


def test_a_png_scale_read_by_some_entries_only_is_refused_saying_so(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """In an annotation file where one entry lacks depth_scale, --png-scale 1000 is read by that entry and overruled
    by the others' 256: the refusal said '--png-scale 1000 is not read' and 'leave --png-scale out', which would read
    that entry at the default 256 without a word. It now says which entries read it and asks for depth_scale in
    every entry; with the file's value every entry agrees and the samples load."""
    import json

    for part in ("rgb", "depth"):
        (tmp_path / part).symlink_to(kitti_depth_dir / part)
    annotations = json.loads((kitti_depth_dir / "test_annotations.json").read_text())
    del annotations["files"][0]["depth_scale"]
    (tmp_path / "test_annotations.json").write_text(json.dumps(annotations))
    with pytest.raises(ConfigError, match=r"--png-scale 1000 is read by 1 of 3 entries only.*depth_scale 256.* 2 entr"):
        load_samples("kitti_annotated", tmp_path, png_scale=1000)
    with pytest.raises(ConfigError, match=r"give every entry its depth_scale"):
        load_samples("kitti_annotated", tmp_path, png_scale=1000)
    assert len(load_samples("kitti_annotated", tmp_path, png_scale=256)) == 3


def test_a_kb_crop_that_does_not_fit_names_the_eigen_crop_when_eigen_kitti_kb_was_asked(
    tmp_path: Path, kitti_depth_dir: Path, nyu_dir: Path
) -> None:
    """``mono-depth eval --crop eigen_kitti_kb`` on a frame without a KB crop (NYU's 480x640, a resized KITTI GT) was
    told to take ``--crop garg`` and to leave ``--crop garg_kb`` out: another crop than the one asked (Garg's rows
    40.8 %, not Eigen's 33.2 %) and an option the command line did not hold. The message names the crop given and its
    full-frame counterpart ``eigen_kitti``, before the model is opened (the checkpoint here does not exist)."""
    from dataclasses import replace

    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.evaluation.depth import PROTOCOLS, evaluate_checkpoint

    protocol = replace(PROTOCOLS["kitti_improved_kb"], crop="eigen_kitti_kb")
    missing = tmp_path / "never_opened.safetensors"
    # an NYU frame is no KITTI frame: the crop that fits is NYU's (check_kitti_frames), no KITTI crop
    with pytest.raises(ShapeError, match=r"crop eigen_kitti_kb.*480x640.*--crop eigen_nyu"):
        evaluate_checkpoint(missing, annotated_samples(nyu_dir)[:1], protocol)
    kitti = annotated_samples(kitti_depth_dir)[0]
    halved = replace(kitti, gt_depth_m=kitti.gt_depth_m[::2, ::2])
    with pytest.raises(ShapeError, match=r"eigen_kitti_kb.*--crop eigen_kitti\b.*kitti_improved\b") as raised:
        evaluate_checkpoint(missing, [halved], protocol)
    assert "garg" not in str(raised.value)
    garg = replace(PROTOCOLS["kitti_improved_kb"], crop="garg_kb")  # the Garg variant still names the Garg crop
    with pytest.raises(ShapeError, match=r"garg_kb.*--crop garg\b.*kitti_improved\b"):
        evaluate_checkpoint(missing, [halved], garg)
