"""training/real_data.py: recorded datasets fitted to the input, augmented, as batch items; training on real KITTI."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError, DataFileError
from mono_depth_ros.core.training_camera import training_camera_mismatch
from mono_depth_ros.training.data.kitti_depth import KittiDepthDataset
from mono_depth_ros.training.data.nyu import NyuDataset
from mono_depth_ros.training.data.real import RecordedDepthDataset, build_recorded_datasets, fit_to_input
from mono_depth_ros.training.trainer.config import DataConfig
from mono_depth_ros.training.trainer.loop import Trainer
from mono_depth_ros.training.trainer.setup import measured_training_focal
from test.bag.support import write_moving_bag
from test.training.tiny import fit_unvalidated, tiny_config

WIDTH, HEIGHT = 160, 64


def _kitti(kitti_depth_dir: Path, **extra: object) -> DataConfig:
    return DataConfig(kind="kitti_depth", root=str(kitti_depth_dir), **extra)  # type: ignore[arg-type]


def test_items_have_the_input_size_and_depth_is_never_interpolated(kitti_depth_dir: Path) -> None:
    train, val = build_recorded_datasets(_kitti(kitti_depth_dir, noise_std=0.01), WIDTH, HEIGHT, (), seed=3)
    assert len(train) == len(val) == 3
    originals = KittiDepthDataset.from_annotations(kitti_depth_dir)
    for index in range(3):
        item = train[index]
        assert item["rgb"].shape == (3, HEIGHT, WIDTH) and item["depth"].shape == (1, HEIGHT, WIDTH)
        assert item["sources"].shape == (0, 3, HEIGHT, WIDTH) and item["source_offset"].numel() == 0
        depth = item["depth"][torch.isfinite(item["depth"])].double()
        assert depth.numel() > 100
        original = originals[index]
        zoom_x = float(item["k"][0, 0]) / (float(original.k[0, 0]) * WIDTH / original.width)  # data.scale_range
        zoom = (zoom_x * float(item["k"][1, 1]) / (float(original.k[1, 1]) * HEIGHT / original.height)) ** 0.5
        assert 1.0 <= zoom <= 1.15 + 1e-3
        values = torch.unique(original.depth[torch.isfinite(original.depth)]).double()
        scaled = depth * zoom  # the zoom divides the depth by itself (the un-zoomed camera's metres)
        nearest = values[torch.searchsorted(values, scaled).clamp(max=values.numel() - 1)]
        below = values[(torch.searchsorted(values, scaled) - 1).clamp(min=0)]
        error = torch.minimum((nearest - scaled).abs(), (below - scaled).abs()) / scaled
        assert float(error.max()) < 1e-5  # nearest: only values that exist, over the zoom
        assert item["k"][0, 0] > 0 and 0 <= item["k"][0, 2] < WIDTH
    np.testing.assert_array_equal(train[1]["rgb"], train[1]["rgb"])  # same epoch, same draw (exact resume)
    first = train[1]["rgb"].clone()
    train.set_epoch(1)
    assert not torch.equal(first, train[1]["rgb"])  # another epoch, another augmentation


def test_the_loss_frames_of_a_real_sequence_are_the_frames_before_jitter_and_noise(
    kitti_depth_dir: Path, tmp_path: Path
) -> None:
    """Real KITTI frames as a folder sequence: the networks get the jittered, noised frames; ``loss_rgb`` /
    ``loss_sources`` (what the photometric loss compares, as monodepth2's ``color``) are the same crop and flip
    without them (independent noise on each frame biased the photometric minimum off the true motion)."""
    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    for image in sorted((kitti_depth_dir / "rgb").glob("*.png")):
        (folder / "rgb" / image.name).symlink_to(image)
    (folder / "intrinsics.yaml").write_text("fx: 707.05\nfy: 707.05\ncx: 604.08\ncy: 180.51\n")
    colour = {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "noise_std": 0.05}
    plain_colour = dict.fromkeys(colour, 0.0)
    augmented = build_recorded_datasets(DataConfig(kind="folder", root=str(folder), **colour), 64, 32, (-1, 1), 4)[0]
    plain = build_recorded_datasets(DataConfig(kind="folder", root=str(folder), **plain_colour), 64, 32, (-1, 1), 4)[0]
    item, reference = augmented[0], plain[0]
    torch.testing.assert_close(item["k"], reference["k"])  # the same zoom, crop and flip
    assert float((item["rgb"] - reference["rgb"]).abs().mean()) > 0.02  # the networks' frames are augmented
    torch.testing.assert_close(item["loss_rgb"], reference["rgb"], atol=1e-6, rtol=0)
    torch.testing.assert_close(item["loss_sources"], reference["sources"], atol=1e-6, rtol=0)
    assert "loss_rgb" not in build_recorded_datasets(_kitti(kitti_depth_dir, **colour), 64, 32, (), 4)[0][0]


def test_validation_is_the_deterministic_whole_view_with_its_ground_truth(kitti_depth_dir: Path) -> None:
    _, val = build_recorded_datasets(_kitti(kitti_depth_dir), WIDTH, HEIGHT, (), seed=0)
    assert torch.equal(val[0]["rgb"], val[0]["rgb"])
    original = KittiDepthDataset.from_annotations(kitti_depth_dir)[0]
    view = fit_to_input(original, WIDTH, HEIGHT)
    assert torch.equal(val[0]["rgb"], view.rgb)
    # the whole frame at the input size, as the node resizes it: each axis scales its own focal length
    assert float(view.k[0, 0]) == pytest.approx(float(original.k[0, 0]) * WIDTH / original.width, rel=1e-6)
    assert float(view.k[1, 1]) == pytest.approx(float(original.k[1, 1]) * HEIGHT / original.height, rel=1e-6)
    samples = val.eval_samples()
    assert len(samples) == 3 and samples[0].rgb.shape == (HEIGHT, WIDTH, 3) and samples[0].rgb.dtype == np.uint8
    assert np.isfinite(samples[0].gt_depth_m).sum() > 100
    assert val.protocol.name == "kitti_improved"


def test_nyu_rosbag_and_folder_kinds(nyu_dir: Path, tmp_path: Path) -> None:
    _, nyu = build_recorded_datasets(DataConfig(kind="nyu", root=str(nyu_dir)), 128, 96, (), seed=0)
    assert nyu[0]["rgb"].shape == (3, 96, 128) and nyu.protocol.name == "nyu"
    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=5)
    train, _ = build_recorded_datasets(DataConfig(kind="rosbag", root=str(tmp_path / "bag")), 32, 24, (-1, 1), seed=0)
    item = train[0]
    assert item["sources"].shape == (2, 3, 24, 32)
    assert item["source_offset"].tolist() == [-1, 1] and not item["pose_known"].any()
    assert torch.isnan(item["depth"]).all()  # a bag has no ground truth: self-supervised only


def test_bad_settings_name_the_remedy(kitti_depth_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs data\.root"):
        DataConfig(kind="folder")
    with pytest.raises(ConfigError, match="not supported"):
        DataConfig(kind="cityscapes")
    with pytest.raises(ConfigError, match=r"needs data\.split"):
        build_recorded_datasets(DataConfig(kind="kitti_raw", root=str(kitti_depth_dir)), WIDTH, HEIGHT, (-1, 1), 0)
    with pytest.raises(ConfigError, match="no temporal neighbours"):
        build_recorded_datasets(_kitti(kitti_depth_dir), WIDTH, HEIGHT, (-1, 1), 0)
    assert isinstance(build_recorded_datasets(_kitti(kitti_depth_dir), WIDTH, HEIGHT, (), 0)[0], RecordedDepthDataset)


def test_frames_of_the_other_benchmark_are_refused_naming_the_kind(kitti_depth_dir: Path, nyu_dir: Path) -> None:
    """``data.kind: nyu`` on KITTI frames (and ``kitti_depth`` on NYU's) trained and validated under the other
    benchmark's protocol without a word (seen: real KITTI frames validated with NYU's 10 m cap and Eigen NYU crop);
    ``mono-depth eval`` refuses the same mismatch. The kind that fits is named."""
    with pytest.raises(ConfigError, match=r"data\.kind nyu .*0000000005\.png is 1242x375.*set data\.kind kitti_depth"):
        build_recorded_datasets(DataConfig(kind="nyu", root=str(kitti_depth_dir)), WIDTH, HEIGHT, (), 0)
    with pytest.raises(ConfigError, match=r"data\.kind kitti_depth .*rgb_00000\.jpg is 640x480.*set data\.kind nyu"):
        build_recorded_datasets(DataConfig(kind="kitti_depth", root=str(nyu_dir)), WIDTH, HEIGHT, (), 0)
    assert len(build_recorded_datasets(DataConfig(kind="nyu", root=str(nyu_dir)), WIDTH, HEIGHT, (), 0)[0]) == 3


def _variant(source: Path, folder: Path, cut: tuple[slice, slice] | None, size: tuple[int, int] | None) -> Path:
    """``source``'s annotated frames written into ``folder`` (same layout, the json's rgb / depth paths kept) cut to
    ``cut`` (rows, cols) and / or resized to ``size`` (width, height; depth nearest), padded with zeros where ``cut``
    reaches past the frame: the variants users train on (a benchmark crop, a pre-resized copy, a wider camera)."""
    annotations = (source / "test_annotations.json").read_text()
    for part in ("rgb", "depth"):
        (folder / part).mkdir(parents=True)
        for path in sorted((source / part).iterdir()):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert image is not None, path
            if cut is not None:
                rows, cols = cut
                padded = np.zeros((max(rows.stop, image.shape[0]), max(cols.stop, image.shape[1]), *image.shape[2:]))
                padded[: image.shape[0], : image.shape[1]] = image
                image = padded.astype(image.dtype)[rows, cols]
            if size is not None:
                image = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if part == "depth" else cv2.INTER_AREA)
            assert cv2.imwrite(str(folder / part / path.name), image)
    (folder / "test_annotations.json").write_text(annotations)
    return folder


def test_the_benchmarks_cropped_and_resized_variants_are_taken(
    kitti_depth_dir: Path, nyu_dir: Path, tmp_path: Path
) -> None:
    """Only frames clearly of the other benchmark are refused (KITTI-wide as ``nyu``, NYU's 3:4 as ``kitti_depth``),
    never a variant users train on: seen refused, the Eigen-cropped NYU copies (427x561, 448x608) and an indoor camera
    of another aspect declared ``nyu`` ('no NYU frame; set data.kind folder'), whose validation resizes them to the
    input and takes the Eigen NYU crop's fractions and 10 m cap as for any indoor frame. KITTI's: the 352x1216 KB
    cut, a 192x640 pre-resized copy, KITTI-360's 376x1408 (width / height within eval's KITTI_ASPECT)."""
    Cut = tuple[slice, slice] | None
    nyu_variants: dict[str, tuple[Cut, tuple[int, int] | None]] = {
        "nyu_427x561": (np.s_[45:472, 43:604], None),
        "nyu_448x608": (np.s_[16:464, 16:624], None),
        "indoor_360x640": (np.s_[60:420, 0:640], None),
        "indoor_720x1280": (np.s_[60:420, 0:640], (1280, 720)),
    }
    for name, (cut, size) in nyu_variants.items():
        folder = _variant(nyu_dir, tmp_path / name, cut, size)
        assert len(build_recorded_datasets(DataConfig(kind="nyu", root=str(folder)), 64, 48, (), 0)[0]) == 3, name
    kitti_variants: dict[str, tuple[Cut, tuple[int, int] | None]] = {
        "kb_352x1216": (np.s_[23:375, 13:1229], None),
        "resized_192x640": (None, (640, 192)),
        "kitti360_376x1408": (np.s_[0:376, 0:1408], None),
    }
    for name, (cut, size) in kitti_variants.items():
        folder = _variant(kitti_depth_dir, tmp_path / name, cut, size)
        assert len(build_recorded_datasets(_kitti(folder), WIDTH, HEIGHT, (), 0)[0]) == 3, name
    wide = _variant(kitti_depth_dir, tmp_path / "kitti_as_nyu", np.s_[23:375, 13:1229], None)
    with pytest.raises(ConfigError, match=r"data\.kind nyu .*is 1216x352.*set data\.kind kitti_depth"):
        build_recorded_datasets(DataConfig(kind="nyu", root=str(wide)), 64, 48, (), 0)
    square = _variant(nyu_dir, tmp_path / "nyu_as_kitti", np.s_[45:472, 43:604], None)
    with pytest.raises(ConfigError, match=r"data\.kind kitti_depth .*is 561x427.*set data\.kind nyu"):
        build_recorded_datasets(_kitti(square), WIDTH, HEIGHT, (), 0)


def test_a_folder_of_kitti_style_depth_pngs_is_read_in_metres_with_data_png_scale(
    kitti_depth_dir: Path, tmp_path: Path
) -> None:
    """docs/training_data.md's folder layout says "png_scale=256 for KITTI-style" PNGs, which `mono-depth train` had
    no key for: such a folder trained on depth 3.9 times too near. The KITTI frames as a folder, with
    data.png_scale 256, give the metres the annotated KITTI dataset gives."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("rgb", "depth"):
        (folder / name).symlink_to(kitti_depth_dir / name)
    (folder / "intrinsics.yaml").write_text("fx: 707.0493\nfy: 707.0493\ncx: 604.0814\ncy: 180.5066\n")
    _, kitti = build_recorded_datasets(_kitti(kitti_depth_dir), WIDTH, HEIGHT, (), 0)
    own = DataConfig(kind="folder", root=str(folder), png_scale=256.0)
    _, read = build_recorded_datasets(own, WIDTH, HEIGHT, (), 0)

    def medians(dataset: RecordedDepthDataset) -> list[float]:
        return sorted(float(torch.nanmedian(dataset[i]["depth"])) for i in range(len(dataset)))

    assert len(read) == len(kitti) == 3
    np.testing.assert_allclose(medians(read), medians(kitti), rtol=1e-6)
    with pytest.raises(ConfigError, match=r"data\.png_scale"):
        DataConfig(kind="folder", root=str(folder), png_scale=0.0)


def test_data_gap_steps_reaches_the_folder(nyu_dir: Path, tmp_path: Path) -> None:
    """A folder of keyframes (runs of 3 frames, then 4 to 6 left out) is refused by the gap rule naming
    data.gap_steps; `mono-depth train` with data.gap_steps 0 reads it as one sequence."""
    images = sorted((nyu_dir / "rgb").glob("*.jpg"))
    (tmp_path / "rgb").mkdir()
    for k, number in enumerate([0, 1, 2, 6, 7, 8, 13, 14, 15, 19, 20, 21]):
        (tmp_path / "rgb" / f"frame{number:04d}.jpg").symlink_to(images[k % len(images)])
    (tmp_path / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    with pytest.raises(ConfigError, match=r"data\.gap_steps: 0"):
        build_recorded_datasets(DataConfig(kind="folder", root=str(tmp_path)), WIDTH, HEIGHT, (-1, 1), 0)
    train, _ = build_recorded_datasets(
        DataConfig(kind="folder", root=str(tmp_path), gap_steps=0.0), WIDTH, HEIGHT, (-1, 1), 0
    )
    assert len(train) == 10
    with pytest.raises(ConfigError, match=r"data\.gap_steps must be >= 0"):
        DataConfig(kind="folder", root=str(tmp_path), gap_steps=-1.0)


def test_supervised_training_on_real_kitti_frames_learns(kitti_depth_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = tiny_config(
        tmp_path / "run",
        tmp_path / "cache",
        data__kind="kitti_depth",
        data__root=str(kitti_depth_dir),
        data__scale_range="[1.0, 1.0]",
        data__flip_probability=0.0,
        model__input_height=HEIGHT,
        model__input_width=WIDTH,
        optim__lr=2e-3,
        run__steps=60,
        run__checkpoint_every=60,
        run__log_every=60,
    )
    trainer = Trainer(config)
    before = trainer.validate()
    fit_unvalidated(trainer)  # 60 epochs of a step: fit's own validation after each is not what is checked
    after = trainer.validate()
    assert before is not None and after is not None
    assert after.abs_rel < 0.3 * before.abs_rel  # the network learns the real frames' metric depth (0.98 -> 0.14)


def test_supervised_data_without_any_depth_target_is_refused(nyu_dir: Path, tmp_path: Path) -> None:
    # a folder of real NYU images without depth/, and a bag without a LiDAR topic: nothing to supervise (before, the
    # run trained on an empty mask, loss 1e-6, and wrote a checkpoint that had learnt nothing)
    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    for image in sorted((nyu_dir / "rgb").glob("*.jpg")):
        (folder / "rgb" / image.name).symlink_to(image)
    (folder / "intrinsics.yaml").write_text("fx: 518.9\nfy: 519.5\ncx: 325.6\ncy: 253.7\n")
    with pytest.raises(ConfigError, match=r"no depth target.*depth/.*selfsup"):
        build_recorded_datasets(DataConfig(kind="folder", root=str(folder)), 128, 96, (), seed=0)
    assert len(build_recorded_datasets(DataConfig(kind="folder", root=str(folder)), 128, 96, (-1, 1), 0)[0]) == 1
    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=3)
    with pytest.raises(ConfigError, match=r"no depth target.*data\.lidar_topic"):
        build_recorded_datasets(DataConfig(kind="rosbag", root=str(tmp_path / "bag")), 32, 24, (), seed=0)


def test_too_few_recorded_frames_name_the_recorded_remedy(tmp_path: Path) -> None:
    # 3 frames of a bag with neighbours (-1, 1): 1 target, no batch of 2; the message named data.train_seeds
    # (synthetic drives), which a recorded kind does not read
    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=3)
    config = tiny_config(
        tmp_path / "run", tmp_path / "clips", "selfsup", data__kind="rosbag", data__root=str(tmp_path / "bag")
    )
    with pytest.raises(ConfigError, match=r"1 training items .* batch of 2; add frames to data\.root \(with "):
        Trainer(config)


def test_supervised_data_whose_depth_maps_are_all_empty_is_refused(tmp_path: Path) -> None:
    # every depth/ PNG all zeros (0 = no data): only missing files were caught; the run trained on an empty mask
    import cv2

    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / "rgb" / f"{i:04d}.png"), np.full((24, 32, 3), 40 * i, np.uint8))
        cv2.imwrite(str(folder / "depth" / f"{i:04d}.png"), np.zeros((24, 32), np.uint16))
    (folder / "intrinsics.yaml").write_text("fx: 30.0\nfy: 30.0\ncx: 16.0\ncy: 12.0\n")
    config = DataConfig(kind="folder", root=str(folder))
    with pytest.raises(
        ConfigError, match=re.escape(str(folder / "depth")) + r": none of the 3 depth maps.*valid pixel.*selfsup"
    ):
        build_recorded_datasets(config, 32, 24, (), seed=0)
    assert len(build_recorded_datasets(config, 32, 24, (-1, 1), seed=0)[0]) == 1  # self-supervised: not a target
    cv2.imwrite(str(folder / "depth" / "0002.png"), np.full((24, 32), 5000, np.uint16))
    assert len(build_recorded_datasets(config, 32, 24, (), seed=0)[0]) == 3  # one frame with depth is enough


def test_a_camera_of_another_aspect_trains_on_the_view_the_node_gives_the_model(nyu_dir: Path) -> None:
    """Real NYU frames (640x480, 4:3) for a 160x64 (10:3) input: training sees the whole frame resized as the node
    resizes it (before: the middle 40 % of the rows, un-squeezed, while the node squeezes all of them 2.5x), so the
    recorded training camera is this camera and the node does not warn on it."""
    data = DataConfig(kind="nyu", root=str(nyu_dir), flip_probability=0.0)
    train, _ = build_recorded_datasets(data, WIDTH, HEIGHT, (), seed=0)
    camera = NyuDataset.from_annotations(nyu_dir)[0].intrinsics
    item = train[0]
    zoom_x = float(item["k"][0, 0]) / (camera.fx * WIDTH / camera.width)
    zoom_y = float(item["k"][1, 1]) / (camera.fy * HEIGHT / camera.height)
    assert zoom_x == pytest.approx(zoom_y, rel=0.03) and 1.0 <= zoom_x <= 1.15 + 1e-3  # one zoom on both axes
    focal = measured_training_focal(train)
    assert focal == pytest.approx((camera.fx / camera.width, camera.fy / camera.height), rel=1e-6)
    assert training_camera_mismatch(focal, OutputKind.METRIC, "none", 1.0, camera) is None


def test_a_folder_whose_depth_does_not_fit_its_images_is_refused_before_training(nyu_dir: Path, tmp_path: Path) -> None:
    """A depth map of another size than its image (a phone's 256×192 LiDAR depth beside its photo), an 8-bit depth
    PNG or integer .npy passed the folder's build and raised ShapeError at the first batch that held the frame, from
    inside a DataLoader worker (and without the file's name for the size). They are refused when the datasets are
    built, naming the file and the remedy."""
    import cv2

    folder = tmp_path / "folder"
    (folder / "depth").mkdir(parents=True)
    (folder / "rgb").symlink_to(nyu_dir / "rgb")
    (folder / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    depths = sorted((nyu_dir / "depth").glob("*.png"))
    names = [p.stem for p in sorted((nyu_dir / "rgb").glob("*.jpg"))]
    for name, depth in zip(names, depths, strict=True):
        (folder / "depth" / f"{name}.png").symlink_to(depth)
    config = DataConfig(kind="folder", root=str(folder))
    assert len(build_recorded_datasets(config, 128, 96, (), 0)[0]) == 3  # the NYU frames as they are
    raw = cv2.imread(str(depths[2]), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16
    last = folder / "depth" / f"{names[2]}.png"
    last.unlink()
    cv2.imwrite(str(last), cv2.resize(raw, (320, 240), interpolation=cv2.INTER_NEAREST))
    with pytest.raises(ConfigError, match=rf"depth/{names[2]}\.png is 320x240, its image .*640x480.*INTER_NEAREST"):
        build_recorded_datasets(config, 128, 96, (), 0)
    cv2.imwrite(str(last), (raw // 256).astype(np.uint8))
    with pytest.raises(ConfigError, match=rf"depth/{names[2]}\.png: .*8-bit.*uint16"):
        build_recorded_datasets(config, 128, 96, (), 0)
    last.unlink()
    np.save(last.with_suffix(".npy"), raw.astype(np.int32))
    with pytest.raises(ConfigError, match=rf"depth/{names[2]}\.npy: .*int32.*float metres"):
        build_recorded_datasets(config, 128, 96, (), 0)


def test_one_intrinsics_file_for_images_of_two_sizes_is_refused_before_training(nyu_dir: Path, tmp_path: Path) -> None:
    """intrinsics.yaml holds one camera in pixels of one image size; a folder mixing sizes (a phone's photos and its
    video frames, or a resized export) trained the other size with that camera matrix, its focal length and principal
    point off by the size ratio, without a word; and a calibration file's own image_width / image_height, other than
    the images', went unread."""
    import cv2

    from test.training.data.test_folder import ROS_CAMERA_INFO_YAML, _real_nyu_folder

    folder = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0.jpg", "1.jpg", "2.jpg"))
    selfsup = DataConfig(kind="folder", root=str(folder))
    assert len(build_recorded_datasets(selfsup, 64, 48, (-1,), 0)[0]) == 2
    (folder / "intrinsics.yaml").write_text(ROS_CAMERA_INFO_YAML.replace("image_width: 640", "image_width: 1280"))
    with pytest.raises(ConfigError, match=r"rgb/1\.jpg is 640x480, .*intrinsics\.yaml is calibrated at 1280x480"):
        build_recorded_datasets(selfsup, 64, 48, (-1,), 0)
    (folder / "intrinsics.yaml").write_text(ROS_CAMERA_INFO_YAML)
    assert len(build_recorded_datasets(selfsup, 64, 48, (-1,), 0)[0]) == 2  # calibrated at the images' size
    rgb = cv2.imread(str(folder / "rgb" / "2.jpg"))
    assert rgb is not None
    (folder / "rgb" / "2.jpg").unlink()
    cv2.imwrite(str(folder / "rgb" / "2.jpg"), cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA))
    single = DataConfig(kind="folder", root=str(folder))
    (folder / "depth").mkdir()
    np.save(folder / "depth" / "0.npy", np.full((480, 640), 2.0, dtype=np.float32))
    with pytest.raises(ConfigError, match=r"rgb/2\.jpg is 320x240, .*intrinsics\.yaml is calibrated at 640x480"):
        build_recorded_datasets(single, 64, 48, (), 0)
    (folder / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")  # no size
    with pytest.raises(ConfigError, match=r"rgb/2\.jpg is 320x240, .*\(640x480\).*intrinsics/2\.json"):
        build_recorded_datasets(single, 64, 48, (), 0)
    (folder / "intrinsics").mkdir()
    (folder / "intrinsics" / "2.json").write_text('{"fx": 259.43, "fy": 259.73, "cx": 162.79, "cy": 126.87}')
    assert len(build_recorded_datasets(single, 64, 48, (), 0)[0]) == 3  # its own camera: read


def test_an_image_cut_short_by_a_copy_is_refused_before_training(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """An image an interrupted copy cut short (or left empty) passed the build and raised DataFileError inside a
    DataLoader worker at the first batch that held it, hours into a run. Refused when the datasets are built."""
    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    images = sorted((kitti_depth_dir / "rgb").glob("*.png"))
    for image in images:
        (folder / "rgb" / image.name).write_bytes(image.read_bytes())
    (folder / "intrinsics.yaml").write_text("fx: 707.0493\nfy: 707.0493\ncx: 604.0814\ncy: 180.5066\n")
    config = DataConfig(kind="folder", root=str(folder))
    assert len(build_recorded_datasets(config, 64, 32, (-1, 1), 0)[0]) == 1
    cut = folder / "rgb" / images[2].name
    cut.write_bytes(images[2].read_bytes()[: images[2].stat().st_size // 2])
    with pytest.raises(ConfigError, match=rf"rgb/{images[2].stem}\.png: .*not a decodable image.*interrupted copy"):
        build_recorded_datasets(config, 64, 32, (-1, 1), 0)
    cut.write_bytes(b"")
    with pytest.raises(ConfigError, match=rf"rgb/{images[2].stem}\.png: .*not a decodable image"):
        build_recorded_datasets(config, 64, 32, (-1, 1), 0)


def test_a_depth_png_cut_short_by_a_copy_is_refused_before_training(kitti_depth_dir: Path, tmp_path: Path) -> None:
    """A depth PNG an interrupted copy cut short has a whole header: it passed the build and raised DataFileError
    inside a DataLoader worker at the first batch that held it. Refused when the datasets are built."""
    folder = tmp_path / "folder"
    (folder / "depth").mkdir(parents=True)
    (folder / "rgb").symlink_to(kitti_depth_dir / "rgb")
    depths = sorted((kitti_depth_dir / "depth").glob("*.png"))
    for depth in depths:
        (folder / "depth" / depth.name).write_bytes(depth.read_bytes())
    (folder / "intrinsics.yaml").write_text("fx: 707.0493\nfy: 707.0493\ncx: 604.0814\ncy: 180.5066\n")
    config = DataConfig(kind="folder", root=str(folder), png_scale=256.0)
    assert len(build_recorded_datasets(config, 64, 32, (), 0)[0]) == 3
    cut = folder / "depth" / depths[1].name
    cut.write_bytes(depths[1].read_bytes()[: depths[1].stat().st_size // 2])
    with pytest.raises(ConfigError, match=rf"depth/{depths[1].stem}\.png: .*not a decodable depth PNG.*copy it again"):
        build_recorded_datasets(config, 64, 32, (), 0)


def test_a_jpeg_cut_short_by_a_copy_is_refused_before_training(nyu_dir: Path, tmp_path: Path) -> None:
    """A JPEG an interrupted copy cut short keeps its frame header (SOFn), so the header check read its size and
    passed it, and OpenCV decodes it with the missing rows grey: it trained as a frame 60 % grey without a word.
    Refused when the datasets are built; a JPEG with a trailer after its end marker (a motion photo) is read."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    folder = tmp_path / "folder"
    (folder / "rgb").mkdir(parents=True)
    images = sorted((nyu_dir / "rgb").glob("*.jpg"))
    for image in images:
        (folder / "rgb" / image.name).write_bytes(image.read_bytes())
    (folder / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    config = DataConfig(kind="folder", root=str(folder))
    assert len(build_recorded_datasets(config, 64, 48, (-1, 1), 0)[0]) == 1
    cut = folder / "rgb" / images[1].name
    cut.write_bytes(images[1].read_bytes()[: images[1].stat().st_size // 2])
    with pytest.raises(DataFileError, match="truncated"):  # the loader refuses it too (it read the lower part grey)
        load_rgb(cut)
    with pytest.raises(ConfigError, match=rf"rgb/{images[1].stem}\.jpg: .*before its end marker.*copy it again"):
        build_recorded_datasets(config, 64, 48, (-1, 1), 0)
    cut.write_bytes(images[1].read_bytes() + b"\x00\x00\x00\x18ftypmp42" + bytes(4096))  # a motion photo's video
    assert len(build_recorded_datasets(config, 64, 48, (-1, 1), 0)[0]) == 1


def test_a_jpeg_cut_short_in_an_nyu_or_kitti_depth_set_is_refused_before_training(
    nyu_dir: Path, kitti_depth_dir: Path, tmp_path: Path
) -> None:
    """Since load_rgb refuses a JPEG cut short (it read it with grey rows), data.kind nyu / kitti_depth, whose files
    nothing checked before training, built its datasets and then raised DataFileError inside the DataLoader at the
    first batch holding the frame (hours into a run). Their frames are now checked as a folder's are, when the
    datasets are built: refused naming the file; the real sets are taken as before."""
    folder = tmp_path / "nyu"
    for part in ("rgb", "depth"):
        (folder / part).mkdir(parents=True)
        for path in sorted((nyu_dir / part).iterdir()):
            (folder / part / path.name).write_bytes(path.read_bytes())
    (folder / "test_annotations.json").write_text((nyu_dir / "test_annotations.json").read_text())
    config = DataConfig(kind="nyu", root=str(folder))
    assert len(build_recorded_datasets(config, 64, 48, (), 0)[0]) == 3
    assert len(build_recorded_datasets(_kitti(kitti_depth_dir), 64, 32, (), 0)[0]) == 3
    cut = folder / "rgb" / "rgb_00050.jpg"
    cut.write_bytes(cut.read_bytes()[:3000])
    with pytest.raises(ConfigError, match=r"rgb/rgb_00050\.jpg: .*before its end marker.*copy it again"):
        build_recorded_datasets(config, 64, 48, (), 0)


def test_a_rosbag_of_a_12_bit_camera_trains_with_data_image_significant_bits(tmp_path: Path) -> None:
    """``data.image_significant_bits`` (the node's ``image_significant_bits``) reaches the bag reader; refused off
    [8, 16] naming the value, and for a kind that reads no bag."""
    from test.training.data.test_rosbag_sequence import write_12_bit_bag

    bag = str(write_12_bit_bag(tmp_path / "bag", count=5))
    data = {"kind": "rosbag", "root": bag, "image_topic": "/cam/image", "camera_info_topic": "/cam/camera_info"}
    bright = build_recorded_datasets(DataConfig(**data, image_significant_bits=12), 16, 12, (-1, 1), seed=0)[0]
    dark = build_recorded_datasets(DataConfig(**data), 16, 12, (-1, 1), seed=0)[0]
    assert float(dark[0]["rgb"].max()) <= 16 / 255 < 0.5 < float(bright[0]["rgb"].max())
    with pytest.raises(ConfigError, match=r"data\.image_significant_bits must be in \[8, 16\].*got 7"):
        DataConfig(**data, image_significant_bits=7)
    with pytest.raises(ConfigError, match=r"data\.image_significant_bits"):
        DataConfig(kind="synthetic", image_significant_bits=12)
