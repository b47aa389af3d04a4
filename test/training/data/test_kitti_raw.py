"""KITTI raw: split lines, raw calibration files, sequences with sources, stereo and Velodyne depth.

The raw tree is built in tmp_path from the real KITTI object frames 000001 and 000002 (same calibration) by
:func:`test.kitti_raw_tree.build_raw_tree`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CalibrationError, ConfigError
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.training.data.kitti_files import (
    load_object_calibration,
    load_rgb,
    load_velodyne,
    read_calib_file,
)
from mono_depth_ros.training.data.kitti_raw import (
    KittiRawDataset,
    SplitEntry,
    load_raw_calibration,
    parse_split_line,
    read_split_file,
)
from mono_depth_ros.training.data.real import build_recorded_datasets
from mono_depth_ros.training.trainer.config import DataConfig
from test.kitti_raw_tree import DATE, DRIVE, build_raw_tree


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2011_09_26/2011_09_26_drive_0002_sync 0000000069 l", SplitEntry(DRIVE, 69, "l")),
        ("2011_09_26/2011_09_26_drive_0022_sync 473 r", SplitEntry(f"{DATE}/{DATE}_drive_0022_sync", 473, "r")),
    ],
)
def test_parse_split_line(line: str, expected: SplitEntry) -> None:
    entry = parse_split_line(line)
    assert entry == expected
    assert entry.date == DATE
    assert entry.camera == (2 if entry.side == "l" else 3)


@pytest.mark.parametrize("line", ["2011_09_26/drive 12", "2011_09_26/drive x l", "drive_only 12 l", "a/b 1 c"])
def test_parse_split_line_rejects_malformed_lines(line: str) -> None:
    with pytest.raises(ConfigError):
        parse_split_line(line)


def test_read_split_file_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "files.txt"
    path.write_text(f"{DRIVE} 1 l\n\n{DRIVE} 2 r\n{DRIVE} x l\n")
    with pytest.raises(ConfigError, match=r"files.txt:4"):
        read_split_file(path)
    path.write_text(f"{DRIVE} 1 l\n\n{DRIVE} 2 r\n")
    assert [e.frame_index for e in read_split_file(path)] == [1, 2]
    with pytest.raises(ConfigError, match="cannot read"):
        read_split_file(tmp_path / "missing.txt")


def test_raw_calibration_projects_like_the_kitti_devkit(kitti_object_dir: Path, tmp_path: Path) -> None:
    """pixel = P_rect_0X · R_rect_00 · [R|T] · X (devkit) equals intrinsics ∘ cam_from_velo, for both cameras."""
    root = build_raw_tree(kitti_object_dir, tmp_path, {0: "000001"})
    calib = read_calib_file(kitti_object_dir / "calib" / "000001.txt")
    velo = load_velodyne(kitti_object_dir / "velodyne" / "000001.bin")[:, :3].astype(np.float64)
    velo = velo[velo[:, 0] > 5.0]  # in front
    r0 = np.eye(4)
    r0[:3, :3] = calib["R0_rect"].reshape(3, 3)
    tr = np.vstack([calib["Tr_velo_to_cam"].reshape(3, 4), [0, 0, 0, 1]])
    for camera in (2, 3):
        raw = load_raw_calibration(root / DATE, camera)
        assert (raw.intrinsics.width, raw.intrinsics.height) == (1242, 375)
        homogeneous = calib[f"P{camera}"].reshape(3, 4) @ r0 @ tr @ np.hstack([velo, np.ones((len(velo), 1))]).T
        uv_devkit = (homogeneous[:2] / homogeneous[2]).T
        points = raw.cam_from_velo.apply(velo)
        i = raw.intrinsics
        uv = np.column_stack([i.fx * points[:, 0] / points[:, 2] + i.cx, i.fy * points[:, 1] / points[:, 2] + i.cy])
        np.testing.assert_allclose(uv, uv_devkit, atol=1e-6)
    left = load_object_calibration(kitti_object_dir / "calib" / "000001.txt", 1242, 375)
    np.testing.assert_allclose(load_raw_calibration(root / DATE, 2).cam_from_velo.matrix, left.cam_from_velo.matrix)


def test_missing_calibration_is_a_calibration_error(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="calib"):
        load_raw_calibration(tmp_path, 2)
    (tmp_path / "calib_cam_to_cam.txt").write_text("P_rect_02: 1 2 3\n")
    (tmp_path / "calib_velo_to_cam.txt").write_text("R: 1 0 0 0 1 0 0 0 1\nT: 0 0 0\n")
    with pytest.raises(CalibrationError, match="lacks or mangles"):
        load_raw_calibration(tmp_path, 2)


def test_sequence_sample_with_sources_stereo_and_velodyne(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path)
    split = tmp_path / "test_files.txt"
    split.write_text(f"{DRIVE} 0000000001 l\n")
    dataset = KittiRawDataset(root, split, frame_offsets=(-1, 1), stereo=True)
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample.rgb.shape == (3, 375, 1242) and sample.name == f"{DRIVE} 0000000001 l"
    assert sample.source_offsets == (-1, 1, 0)
    assert sample.pose_known.tolist() == [False, False, True]
    assert torch.isnan(sample.source_from_target[:2]).all()
    stereo = sample.source_from_target[2].double()
    torch.testing.assert_close(stereo[:3, :3], torch.eye(3, dtype=torch.float64))
    assert -0.56 < float(stereo[0, 3]) < -0.50  # right camera ~0.54 m to the right: points move to -x
    frame_1 = cv2.imread(str(kitti_object_dir / "image_2" / "000002.png"))[..., ::-1]
    frame_0 = cv2.imread(str(kitti_object_dir / "image_2" / "000001.png"))[..., ::-1]
    torch.testing.assert_close(sample.rgb, torch.from_numpy(frame_1.transpose(2, 0, 1).copy()).float() / 255)
    torch.testing.assert_close(sample.sources[0], torch.from_numpy(frame_0.transpose(2, 0, 1).copy()).float() / 255)
    # Velodyne of raw frame 1 (object 000002) through the raw calibration == the object-calibration projection
    left = load_object_calibration(kitti_object_dir / "calib" / "000002.txt", 1242, 375)
    points = left.cam_from_velo.apply(load_velodyne(kitti_object_dir / "velodyne" / "000002.bin")[:, :3].astype(float))
    expected, _ = zbuffer_depth(points, left.intrinsics)
    np.testing.assert_allclose(sample.sparse_depth[0].numpy(), expected, rtol=1e-6, atol=1e-6)
    assert torch.isnan(sample.depth).all()  # no ground truth unless asked for


def test_right_camera_and_lidar_as_ground_truth(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path)
    entries = [SplitEntry(DRIVE, 1, "r")]
    dataset = KittiRawDataset(root, entries, frame_offsets=(), lidar=False, depth_from_lidar=True)
    sample = dataset[0]
    assert sample.sources.shape[0] == 0
    assert torch.isnan(sample.sparse_depth).all()
    valid = torch.isfinite(sample.depth)
    assert 10_000 < int(valid.sum()) < 25_000
    right = load_raw_calibration(root / DATE, 3).intrinsics
    assert float(sample.k[0, 2]) == pytest.approx(right.cx, abs=1e-3)


def test_missing_neighbour_is_reported_at_construction(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path)
    with pytest.raises(ConfigError, match=r"0000000003\.png"):
        KittiRawDataset(root, [SplitEntry(DRIVE, 2, "l")], frame_offsets=(-1, 1))
    with pytest.raises(ConfigError, match="must not contain 0"):
        KittiRawDataset(root, [SplitEntry(DRIVE, 1, "l")], frame_offsets=(0, 1))


def test_an_entry_at_the_ends_of_a_drive_names_its_missing_neighbour(kitti_object_dir: Path, tmp_path: Path) -> None:
    # the first frame with offset -1 asked for '-000000001.png'; the last frame's +1 neighbour was one missing file
    # among others: both now name the split line and the neighbour
    root = build_raw_tree(kitti_object_dir, tmp_path)
    with pytest.raises(ConfigError, match=rf"split line '{DRIVE} 0000000000 l'.*offset -1.*before the first") as err:
        KittiRawDataset(root, [SplitEntry(DRIVE, 1, "l"), SplitEntry(DRIVE, 0, "l")], frame_offsets=(-1, 1))
    assert "-000000001" not in str(err.value)
    with pytest.raises(ConfigError, match=rf"split line '{DRIVE} 0000000002 l'.*offset 1.*0000000003\.png.*not exist"):
        KittiRawDataset(root, [SplitEntry(DRIVE, 1, "l"), SplitEntry(DRIVE, 2, "l")], frame_offsets=(-1, 1))
    assert len(KittiRawDataset(root, [SplitEntry(DRIVE, 1, "l")], frame_offsets=(-1, 1))) == 1


def test_monodepth2s_jpeg_copy_of_kitti_raw_trains_as_downloaded(kitti_object_dir: Path, tmp_path: Path) -> None:
    """monodepth2's KITTI raw instructions convert the images to ``.jpg`` (its default; ``--png`` for the download):
    ``data.kind=kitti_raw`` reads that tree too, the image as converted. Before, the dataset looked for ``.png``
    only and refused every frame as missing ("check ... that the data was extracted completely")."""
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    for png in sorted((root / DRIVE).glob("image_0[23]/data/*.png")):
        cv2.imwrite(str(png.with_suffix(".jpg")), load_rgb(png)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        png.unlink()
    split = tmp_path / "files.txt"
    split.write_text(f"{DRIVE} 0000000001 l\n")
    data = DataConfig(kind="kitti_raw", root=str(root), split=str(split))
    train, _ = build_recorded_datasets(data, 1242, 375, (-1, 1), 0)
    sample = train.samples[0]
    jpeg = load_rgb(root / DRIVE / "image_02" / "data" / "0000000001.jpg")
    torch.testing.assert_close(sample.rgb, torch.from_numpy(jpeg.transpose(2, 0, 1).copy()).float() / 255)
    assert sample.sources.shape == (2, 3, 375, 1242) and int(torch.isfinite(sample.sparse_depth).sum()) > 10_000


def test_a_kitti_raw_tree_without_its_images_names_both_extensions(kitti_object_dir: Path, tmp_path: Path) -> None:
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    for png in sorted((root / DRIVE).glob("image_02/data/*.png")):
        png.unlink()
    with pytest.raises(ConfigError, match=r"0000000001\.png.*\.jpg"):
        KittiRawDataset(root, [SplitEntry(DRIVE, 1, "l")], frame_offsets=())


def test_a_jpeg_tree_missing_a_neighbour_names_that_jpeg(kitti_object_dir: Path, tmp_path: Path) -> None:
    """The extension of a drive camera is the listed frame's, not that of whichever path is looked up first (the
    neighbour at offset -1): one missing neighbour in a ``.jpg`` tree took the drive for ``.png`` and named every
    image of the line as missing as ``.png`` (the listed image, which exists, too) instead of that neighbour."""
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    for png in sorted((root / DRIVE).glob("image_0[23]/data/*.png")):
        cv2.imwrite(str(png.with_suffix(".jpg")), load_rgb(png)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        png.unlink()
    (root / DRIVE / "image_02" / "data" / "0000000000.jpg").unlink()
    missing = r"neighbour at offset -1 \(\S*image_02/data/0000000000\.jpg\) does not exist"
    with pytest.raises(ConfigError, match=missing):
        KittiRawDataset(root, [SplitEntry(DRIVE, 1, "l")], frame_offsets=(-1, 1))


def _stereo_config(root: Path, tmp_path: Path, **extra: object) -> object:
    from test.training.tiny import tiny_config

    split = tmp_path / "files.txt"
    split.write_text(f"{DRIVE} 0000000001 l\n{DRIVE} 0000000001 r\n")
    values: dict[str, object] = {
        "data__kind": "kitti_raw",
        "data__root": str(root),
        "data__split": str(split),
        "data__stereo": True,
        "data__frame_offsets": "[]",
        "data__scale_range": "[1.0, 1.0]",
        "data__flip_probability": 0.0,  # a mirrored pair's baseline is mirrored too
        "run__steps": 2,
        "run__validate": False,
    }
    values.update(extra)
    values = {key: value for key, value in values.items() if value is not None}
    return tiny_config(tmp_path / "run", tmp_path / "cache", "selfsup", **values)


@pytest.mark.parametrize("offsets", [(), (-1, 1)], ids=["S", "MS"])
def test_data_stereo_trains_monodepth2s_stereo_modes_on_kitti_raw(
    kitti_object_dir: Path, tmp_path: Path, offsets: tuple[int, ...]
) -> None:
    """monodepth2's S mode (``data.stereo``, no temporal frames) and MS (with them): a frame's last source is the
    other colour camera at the same instant, its pose the calibration's baseline (known: S builds no pose network);
    a step trains on real KITTI frames (the tree's right camera holds the left image: the data has no right images)."""
    from mono_depth_ros.training.trainer.loop import Trainer

    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    shown = "[" + ", ".join(map(str, offsets)) + "]"
    trainer = Trainer(_stereo_config(root, tmp_path, data__frame_offsets=shown))  # type: ignore[arg-type]
    assert (trainer.module.objective.pose_net is None) == (not offsets)
    for index, baseline in ((0, -0.54), (1, 0.54)):  # left target: the right camera is 0.54 m to its right
        item = trainer.train_data[index]
        assert item["sources"].shape == (len(offsets) + 1, 3, 32, 64)
        assert bool(item["pose_known"][-1]) and int(item["source_offset"][-1]) == 0
        assert not bool(item["pose_known"][:-1].any())  # temporal neighbours: the pose network's
        assert float(item["source_from_target"][-1, 0, 3]) == pytest.approx(baseline, abs=0.03)
    before = {k: v.detach().clone() for k, v in trainer.saved_net.state_dict().items()}
    result = trainer.fit()
    assert result.step == 2 and result.model_path is not None
    after = trainer.saved_net.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in before.items() if v.is_floating_point())


@pytest.mark.slow
def test_stereo_self_supervision_on_real_kitti_declares_metric_and_predicts_metres(
    kitti_object_dir: Path, tmp_path: Path
) -> None:
    """monodepth2's S mode warps the other camera by the rig's calibrated baseline (0.54 m), so only depth in metres
    reprojects right; its checkpoint declared depth_up_to_scale, so evaluation median-scaled it and the node asked for
    a scale source. On the real KITTI frames 000001 / 000002 with a right image rendered over the surface their real
    scan describes (:func:`test.kitti_raw_tree.render_right_image`), 50 steps of a tiny network: the checkpoint says
    metric, and through the node's inference path its unscaled AbsRel against the real Velodyne is sane with a
    GT / prediction median near 1 (seen: 0.23, ratios 0.83-1.06; the untrained network reads 0.82, ratios 6.5 and
    4.5, so the scale is learnt from the baseline). The node warns, as for any metric model without a scale source,
    on a camera unlike the training one (NYU's field of view), not on KITTI's."""
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.core.training_camera import training_camera_mismatch
    from mono_depth_ros.evaluation.depth import evaluate_checkpoint
    from mono_depth_ros.evaluation.samples import kitti_velodyne_samples
    from mono_depth_ros.models.checkpoint import load_checkpoint
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    from mono_depth_ros.models.spec import OutputKind
    from mono_depth_ros.training.trainer.loop import Trainer
    from test.training.tiny import tiny_config

    root = build_raw_tree(kitti_object_dir, tmp_path / "raw", {0: "000001", 1: "000002"}, render_right=True)
    split = tmp_path / "files.txt"
    split.write_text("".join(f"{DRIVE} {index:010d} {side}\n" for index in (0, 1) for side in "lr"))
    values: dict[str, object] = {
        "data__kind": "kitti_raw",
        "data__root": str(root),
        "data__split": str(split),
        "data__stereo": True,
        "data__frame_offsets": "[]",
        "data__scale_range": "[1.0, 1.0]",
        "data__flip_probability": 0.0,
        "model__input_height": 64,
        "model__input_width": 192,
        "model__encoder_width": 16,
        "model__decoder_channels": "[16, 16, 16, 16, 16]",
        "model__min_depth_m": 1.0,  # the untrained output (~2 m) a few times off, not ~55x: half the steps
        "model__max_depth_m": 80.0,
        "loss__scales": 4,
        "optim__lr": 1e-3,
        "optim__warmup_steps": 10,
        "run__steps": 50,
        "run__log_every": 25,
        "run__checkpoint_every": 50,
        "run__validate": False,
    }
    result = Trainer(tiny_config(tmp_path / "run", tmp_path / "cache", "selfsup", **values)).fit()
    assert result.model_path is not None
    assert load_checkpoint(result.model_path).spec.output_kind is OutputKind.METRIC
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    estimator = DepthEstimator.open("unet", result.model_path, options)  # as the node opens it
    assert estimator.output_kind is OutputKind.METRIC
    samples = kitti_velodyne_samples(kitti_object_dir)[1:]  # 000001, 000002: the trained frames
    report = evaluate_checkpoint(result.model_path, samples, "kitti_eigen_velodyne", scaling="auto")
    assert report.protocol.scaling == "none" and report.mean.abs_rel < 0.35, report.format_table()
    assert all(0.7 < ratio < 1.4 for ratio in report.gt_over_pred_median), report.format_table()
    default = evaluate_checkpoint(result.model_path, samples, "kitti_eigen_velodyne")  # the papers' protocol: median
    assert default.protocol.scaling == "median"  # for every model: --scaling none scores the metres (docs say so)
    focal = estimator.spec.training_focal  # what the node's training-camera warning reads
    kitti, nyu = samples[0].intrinsics, PinholeIntrinsics(518.9, 519.5, 325.6, 253.7, 640, 480)
    assert training_camera_mismatch(focal, OutputKind.METRIC, "none", 1.0, kitti) is None
    assert "training camera" in (training_camera_mismatch(focal, OutputKind.METRIC, "none", 1.0, nyu) or "")


def test_data_stereo_mirrors_the_baseline_with_a_flipped_pair(kitti_object_dir: Path, tmp_path: Path) -> None:
    """monodepth2 flips both images of a pair and the baseline's sign (``baseline_sign = -1 if do_flip``): with
    ``data.flip_probability`` 1 the left target's right camera is 0.54 m to its left, the right target's to its
    right (the known pose the photometric term warps by; unflipped it is -0.54 / +0.54, as above)."""
    from mono_depth_ros.training.trainer.loop import Trainer

    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    trainer = Trainer(_stereo_config(root, tmp_path, data__flip_probability=1.0))  # type: ignore[arg-type]
    for index, baseline in ((0, 0.54), (1, -0.54)):
        pose = trainer.train_data[index]["source_from_target"][-1]
        assert float(pose[0, 3]) == pytest.approx(baseline, abs=0.03)
        torch.testing.assert_close(pose[:3, :3], torch.eye(3))


def test_data_stereo_without_the_other_camera_names_the_setting(kitti_object_dir: Path, tmp_path: Path) -> None:
    from mono_depth_ros.training.trainer.loop import Trainer

    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    for png in sorted((root / DRIVE).glob("image_03/data/*.png")):
        png.unlink()
    with pytest.raises(ConfigError, match=r"image_03.*data\.stereo"):
        Trainer(_stereo_config(root, tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"data__kind": "folder", "data__split": None}, r"data\.stereo true is not read by data\.kind folder"),
        ({"loss__objective": "supervised"}, r"data\.stereo true is not read by loss\.objective supervised"),
    ],
)
def test_data_stereo_is_refused_where_nothing_reads_it(tmp_path: Path, extra: dict[str, object], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        _stereo_config(tmp_path, tmp_path, **extra)
