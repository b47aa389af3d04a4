"""The generic folder layout: rgb/ + depth/ (png mm or npy metres) + intrinsics.yaml or per-frame json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.folder import FolderDataset, camera_from_mapping


def make_folder(root: Path, frames: int = 4) -> Path:
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(frames):
        cv2.imwrite(str(root / "rgb" / f"{i:04d}.png"), np.full((6, 10, 3), 20 * i, dtype=np.uint8))
    cv2.imwrite(str(root / "depth" / "0000.png"), np.full((6, 10), 2500, dtype=np.uint16))  # 2.5 m in mm
    np.save(root / "depth" / "0001.npy", np.full((6, 10), 1.75, dtype=np.float32))  # metres
    (root / "intrinsics.yaml").write_text("fx: 12.0\nfy: 13.0\ncx: 4.5\ncy: 2.5\n")
    return root


def test_folder_frames_units_and_intrinsics(tmp_path: Path) -> None:
    root = make_folder(tmp_path)
    (root / "intrinsics").mkdir()
    (root / "intrinsics" / "0002.json").write_text(json.dumps({"K": [[20, 0, 5], [0, 21, 3], [0, 0, 1]]}))
    dataset = FolderDataset(root)
    assert len(dataset) == 4
    first, second, third = dataset[0], dataset[1], dataset[2]
    assert first.name == "rgb/0000.png"
    torch.testing.assert_close(first.depth, torch.full((1, 6, 10), 2.5))
    torch.testing.assert_close(second.depth, torch.full((1, 6, 10), 1.75))
    assert torch.isnan(third.depth).all() and torch.isnan(third.sparse_depth).all()
    assert first.k.tolist() == [[12.0, 0.0, 4.5], [0.0, 13.0, 2.5], [0.0, 0.0, 1.0]]
    assert third.k.tolist() == [[20.0, 0.0, 5.0], [0.0, 21.0, 3.0], [0.0, 0.0, 1.0]]  # per-frame json wins


def test_folder_as_a_sequence(tmp_path: Path) -> None:
    dataset = FolderDataset(make_folder(tmp_path), frame_offsets=(-1, 1))
    assert [r.name for r in dataset.records] == ["rgb/0001.png", "rgb/0002.png"]
    sample = dataset[0]
    assert sample.source_offsets == (-1, 1)
    assert float(sample.sources[0].mean()) == pytest.approx(0.0)
    assert float(sample.sources[1].mean()) == pytest.approx(40 / 255)
    with pytest.raises(ConfigError, match="too few"):
        FolderDataset(tmp_path, frame_offsets=(-5,))


def test_too_few_frames_for_the_offsets_names_the_remedies(tmp_path: Path) -> None:
    """Two frames with the default offsets (-1, 1) said only "2 frames are too few for source offsets (-1, 1)": it
    names how many a target needs and the ways on (more frames, fewer offsets, or supervised with depth/)."""
    root = make_folder(tmp_path, frames=2)
    with pytest.raises(
        ConfigError,
        match=r"2 frames are too few for source offsets \(-1, 1\): a target needs a frame at each offset, 3 "
        r"consecutive frames; add frames to .*rgb, set data\.frame_offsets to fewer offsets \(e\.g\. \[1\]\), or "
        r"use loss\.objective=supervised",
    ):
        FolderDataset(root, frame_offsets=(-1, 1))
    assert len(FolderDataset(root, frame_offsets=(1,)).records) == 1  # the remedy it names works
    # offset 0 made each frame its own source (zero photometric error: nothing to learn); kitti_raw and rosbag
    # refuse it, the folder took it
    with pytest.raises(ConfigError, match=r"frame_offsets \(-1, 0, 1\) must not contain 0"):
        FolderDataset(tmp_path, frame_offsets=(-1, 0, 1))


def test_png_scale_and_sparse_depth(tmp_path: Path) -> None:
    root = make_folder(tmp_path, frames=1)
    (root / "sparse_depth").mkdir()
    sparse = np.zeros((6, 10), dtype=np.uint16)
    sparse[3, 4] = 512
    cv2.imwrite(str(root / "sparse_depth" / "0000.png"), sparse)
    sample = FolderDataset(root, png_scale=256.0)[0]
    assert float(sample.sparse_depth[0, 3, 4]) == 2.0 and int(torch.isfinite(sample.sparse_depth).sum()) == 1
    assert float(sample.depth[0, 0, 0]) == pytest.approx(2500 / 256)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images"):
        FolderDataset(tmp_path)
    with pytest.raises(ConfigError, match=r"data\.root .*nowhere is not a directory"):
        FolderDataset(tmp_path / "nowhere")
    (tmp_path / "0000.png").write_bytes(b"")  # bare images, as `distill --folders` takes them
    with pytest.raises(ConfigError, match=r"the images in .* itself belong in .*rgb, with their intrinsics"):
        FolderDataset(tmp_path)
    root = make_folder(tmp_path / "a")
    (root / "intrinsics.yaml").unlink()
    with pytest.raises(ConfigError, match=r"no intrinsics for 0000\.png"):
        FolderDataset(root)
    (root / "intrinsics.yaml").write_text("fx: 1\n")
    with pytest.raises(ConfigError, match="fx, fy, cx, cy"):
        FolderDataset(root)
    (root / "intrinsics.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        FolderDataset(root)


def test_camera_from_mapping_forms() -> None:
    assert camera_from_mapping({"fx": 1, "fy": 2, "cx": 3, "cy": 4}, "x") == (1.0, 2.0, 3.0, 4.0)
    assert camera_from_mapping({"K": [1, 0, 3, 0, 2, 4, 0, 0, 1]}, "x") == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ConfigError, match="3×3"):
        camera_from_mapping({"K": [1, 2, 3]}, "x")


def test_a_seen_mask_marks_the_black_fill(tmp_path: Path) -> None:
    from mono_depth_ros.core.errors import DataFileError

    root = make_folder(tmp_path / "f")
    (root / "seen").mkdir()
    mask = np.full((6, 10), 255, dtype=np.uint8)
    mask[:, :2] = 0
    cv2.imwrite(str(root / "seen" / "0001.png"), mask)
    dataset = FolderDataset(root)
    assert torch.equal(dataset[1].seen[0], torch.from_numpy(mask > 0))
    assert bool(dataset[0].seen.all())  # no mask: every pixel seen
    cv2.imwrite(str(root / "seen" / "0001.png"), mask[:, :5])
    with pytest.raises(DataFileError, match=r"seen mask .*0001\.png is 5x6, the image is 10x6"):
        dataset[1]


def _real_nyu_folder(nyu_dir: Path, root: Path, names: tuple[str, ...]) -> Path:
    """A folder of the real NYU frames (in recording order) under ``names``, with NYU's intrinsics."""
    (root / "rgb").mkdir(parents=True)
    for name, image in zip(names, sorted((nyu_dir / "rgb").glob("*.jpg")), strict=True):
        (root / "rgb" / name).symlink_to(image)
    (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    return root


def test_unpadded_frame_numbers_keep_the_recording_order(nyu_dir: Path, tmp_path: Path) -> None:
    # a phone or a ROS image saver numbers frames frame_1, frame_2, ..., frame_10: sorted as strings frame_10 came
    # between frame_1 and frame_2, and frame_10 was trained with frame_1 and frame_2 as its neighbours
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("frame_1.jpg", "frame_2.jpg", "frame_10.jpg"))
    dataset = FolderDataset(root, frame_offsets=(-1, 1))
    assert [r.name for r in dataset.records] == ["rgb/frame_2.jpg"]
    assert [s.path.name for s in dataset.records[0].sources] == ["frame_1.jpg", "frame_10.jpg"]
    sample, frames = dataset[0], FolderDataset(root)
    assert [r.name for r in frames.records] == ["rgb/frame_1.jpg", "rgb/frame_2.jpg", "rgb/frame_10.jpg"]
    torch.testing.assert_close(sample.sources[0], frames[0].rgb)
    torch.testing.assert_close(sample.sources[1], frames[2].rgb)


def test_macos_hidden_files_are_no_frames(nyu_dir: Path, tmp_path: Path) -> None:
    # a folder copied from a Mac to a FAT / exFAT drive or a share holds ._<name> AppleDouble files beside each
    # image: they were listed as frames (and sources of their neighbours), and reading one raised DataFileError
    # from inside a DataLoader worker at the first batch that held it
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("frame_1.jpg", "frame_2.jpg", "frame_10.jpg"))
    for name in ("._frame_1.jpg", "._frame_2.jpg", ".DS_Store"):
        (root / "rgb" / name).write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
    dataset = FolderDataset(root, frame_offsets=(-1, 1))
    assert [r.name for r in dataset.records] == ["rgb/frame_2.jpg"]
    assert [s.path.name for s in dataset.records[0].sources] == ["frame_1.jpg", "frame_10.jpg"]
    assert [dataset[0].sources.shape[0], len(FolderDataset(root))] == [2, 3]


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_phone_image_turned_by_its_exif_tag_is_refused(nyu_dir: Path, tmp_path: Path, orientation: int) -> None:
    # OpenCV's imread turns an image as its EXIF orientation says, the depth PNG (IMREAD_UNCHANGED) stays as stored:
    # a 180° tag trained the image upside down over its depth without a word, a 90° one raised ShapeError from
    # inside a DataLoader worker at the first batch that held it
    image = pytest.importorskip("PIL.Image")
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0.jpg", "1.jpg", "2.jpg"))
    (root / "depth").mkdir()
    for depth in sorted((nyu_dir / "depth").glob("*.png"))[:2]:
        (root / "depth" / f"{len(list((root / 'depth').iterdir()))}.png").symlink_to(depth)
    FolderDataset(root)  # as stored: read
    exif = image.Exif()
    exif[0x0112] = orientation
    phone = root / "rgb" / "1.jpg"
    pixels = image.open(phone.resolve())
    phone.unlink()
    pixels.save(phone, exif=exif, quality=95)
    with pytest.raises(ConfigError, match=rf"rgb/1\.jpg: EXIF orientation {orientation} .*exif_transpose"):
        FolderDataset(root)
    with pytest.raises(ConfigError, match=r"rgb/1\.jpg: EXIF orientation"):
        FolderDataset(root, frame_offsets=(-1, 1))  # a sequence alike


NYU_K = [[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]]

ROS_CAMERA_INFO_YAML = """image_width: 640
image_height: 480
camera_name: kinect_rgb
camera_matrix:
  rows: 3
  cols: 3
  data: [520.1, 0, 321.0, 0, 521.2, 250.5, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.2, -0.5, 0.001, 0.002, 0.3]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [518.8579, 0, 325.5824, 0, 0, 519.4696, 253.7362, 0, 0, 0, 1, 0]
"""


def test_intrinsics_as_calibration_tools_write_them(nyu_dir: Path, tmp_path: Path) -> None:
    # ROS camera_calibration's ost.yaml and OpenCV's FileStorage YAML (calibrateCamera samples) were refused: the
    # first as lacking fx / K, the second as unreadable YAML (its %YAML:1.0 header and !!opencv-matrix tags)
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0.jpg", "1.jpg", "2.jpg"))
    shared = root / "intrinsics.yaml"
    shared.write_text(ROS_CAMERA_INFO_YAML)
    nyu = (518.8579, 519.4696, 325.5824, 253.7362)
    # the projection matrix: the camera of the rectified image (image_proc's image_rect), which rgb/ must hold
    assert FolderDataset(root).records[0].camera == pytest.approx(nyu)
    storage = cv2.FileStorage(str(shared), cv2.FILE_STORAGE_WRITE)
    storage.write("image_width", 640)
    storage.write("camera_matrix", np.array(NYU_K))
    storage.write("distortion_coefficients", np.zeros((5, 1)))
    storage.release()
    assert FolderDataset(root).records[0].camera == pytest.approx(nyu)
    text = shared.read_text()
    shared.write_text("%YAML:1.0\n" + text.split("\n", 1)[1])  # the header OpenCV 3 / 4 write
    np.testing.assert_allclose(FolderDataset(root)[0].k, NYU_K, rtol=1e-6)
    (root / "intrinsics").mkdir()
    (root / "intrinsics" / "1.json").write_text(
        json.dumps({"camera_matrix": {"rows": 3, "cols": 3, "data": [500, 0, 320, 0, 501, 240, 0, 0, 1]}})
    )
    assert FolderDataset(root).records[1].camera == (500.0, 501.0, 320.0, 240.0)
    shared.write_text(text.replace("[ 0., 0., 0., 0., 0. ]", "[ 0.2, -0.5, 0., 0., 0. ]"))
    with pytest.raises(ConfigError, match=r"intrinsics\.yaml: distortion_coefficients .* not zero .*rectif"):
        FolderDataset(root)


def test_depth_files_of_other_formats_are_named_not_skipped(nyu_dir: Path, tmp_path: Path) -> None:
    # depth/<stem>.tiff (float32 metres, as many tools export) or a camera's upper-case .PNG was not looked for:
    # the frame trained (and was evaluated) as one without ground truth, without a word
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0.jpg", "1.jpg", "2.jpg"))
    (root / "depth").mkdir()
    nyu_depth = sorted((nyu_dir / "depth").glob("*.png"))
    (root / "depth" / "0.PNG").symlink_to(nyu_depth[0])
    (root / "depth" / "._0.PNG").write_bytes(bytes(8))  # macOS's AppleDouble twin: not a depth file of 0
    with (root / "depth" / "2.NPY").open("wb") as stream:  # np.save would add .npy to the name
        np.save(stream, np.full((480, 640), 2.5, dtype=np.float32))
    dataset = FolderDataset(root)
    raw = cv2.imread(str(nyu_depth[0]), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16
    expected = np.where(raw > 0, raw / 1000.0, np.nan)
    np.testing.assert_allclose(dataset[0].depth[0].numpy(), expected, rtol=1e-6)
    assert torch.equal(dataset[2].depth, torch.full((1, 480, 640), 2.5))
    for suffix in (".tiff", ".exr", ".pfm"):
        other = root / "depth" / f"1{suffix}"
        other.write_bytes(bytes(16))
        with pytest.raises(ConfigError, match=rf"depth/1\{suffix}: .*not read.*\.npy"):
            FolderDataset(root)
        other.unlink()
    (root / "sparse_depth").mkdir()
    (root / "sparse_depth" / "2.tif").write_bytes(bytes(16))
    with pytest.raises(ConfigError, match=r"sparse_depth/2\.tif: "):
        FolderDataset(root)


def test_timestamp_names_keep_the_recording_order(nyu_dir: Path, tmp_path: Path) -> None:
    # names written from float stamps (f"{stamp}.jpg": 1317384507.05, .123, .5 s) have fractions of different
    # lengths: compared digit run by digit run as whole numbers, .5 came before .123 and .05 after both
    names = ("1317384507.05.jpg", "1317384507.123.jpg", "1317384507.5.jpg")
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", names)
    assert [r.name for r in FolderDataset(root).records] == [f"rgb/{n}" for n in names]
    nanoseconds = ("1317384507000123456.jpg", "1317384507100000000.jpg", "1317384508000000001.jpg")
    root = _real_nyu_folder(nyu_dir, tmp_path / "ns", nanoseconds)
    assert [r.name for r in FolderDataset(root).records] == [f"rgb/{n}" for n in nanoseconds]


def test_an_image_in_a_format_not_read_is_named_not_skipped(nyu_dir: Path, tmp_path: Path) -> None:
    # an iPhone folder mixes .HEIC with .JPG; a .webp export: such a frame was skipped without a word, and in a
    # sequence its neighbours became each other's sources across the gap
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("frame_1.jpg", "frame_3.jpg", "frame_4.jpg"))
    (root / "rgb" / "frame_2.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(32))
    with pytest.raises(ConfigError, match=r"rgb/frame_2\.HEIC: \.heic images are not read .*convert"):
        FolderDataset(root, frame_offsets=(-1, 1))
    (root / "rgb" / "frame_2.HEIC").unlink()
    (root / "rgb" / "notes.txt").write_text("shot on a phone")  # not an image: no frame, no refusal
    assert len(FolderDataset(root, frame_offsets=(-1, 1))) == 1


def test_two_images_of_one_stem_are_refused(nyu_dir: Path, tmp_path: Path) -> None:
    # an export that wrote each frame as .jpg and .png: both were frames, next to each other in name order, so with
    # frame_offsets (-1, 1) a frame's copy was its own source (no motion: nothing to learn), and both matched one
    # depth file
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0001.jpg", "0002.jpg", "0003.jpg"))
    for image in sorted((root / "rgb").glob("*.jpg")):
        rgb = cv2.imread(str(image))
        assert rgb is not None
        cv2.imwrite(str(image.with_suffix(".png")), rgb)
    with pytest.raises(ConfigError, match=r"rgb/0001\.jpg and .*rgb/0001\.png are one frame \(stem 0001\)"):
        FolderDataset(root, frame_offsets=(-1, 1))


def test_two_depth_files_of_one_stem_are_refused(nyu_dir: Path, tmp_path: Path) -> None:
    # an export that wrote depth/0.png (an 8-bit picture, or millimetres) beside depth/0.npy (metres): the .png was
    # taken without a word, whichever of the two held the depth
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0.jpg", "1.jpg", "2.jpg"))
    (root / "depth").mkdir()
    (root / "depth" / "0.png").symlink_to(sorted((nyu_dir / "depth").glob("*.png"))[0])
    np.save(root / "depth" / "0.npy", np.full((480, 640), 2.0, dtype=np.float32))
    with pytest.raises(ConfigError, match=r"depth/0\.npy and .*depth/0\.png are both depth of 0\.jpg"):
        FolderDataset(root)


def test_a_gap_in_the_frame_numbers_splits_the_sequence(nyu_dir: Path, tmp_path: Path) -> None:
    # frames 4, 5, 6 dropped (or deleted as blurred): frame 3 and frame 7 were each other's neighbours, trained as
    # one frame apart; a bag's sequence is split at such a gap (rosbag_sequence: 3 median frame periods)
    images = sorted((nyu_dir / "rgb").glob("*.jpg"))
    root = tmp_path / "f"
    (root / "rgb").mkdir(parents=True)
    for number in (1, 2, 3, 7, 8, 9):
        (root / "rgb" / f"scene2_frame{number:03d}.jpg").symlink_to(images[number % 3])
    (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    dataset = FolderDataset(root, frame_offsets=(-1, 1))
    assert [r.name for r in dataset.records] == ["rgb/scene2_frame002.jpg", "rgb/scene2_frame008.jpg"]
    assert [r.name for r in FolderDataset(root, frame_offsets=(1,)).records] == [
        "rgb/scene2_frame001.jpg",
        "rgb/scene2_frame002.jpg",
        "rgb/scene2_frame007.jpg",
        "rgb/scene2_frame008.jpg",
    ]
    # every 50th frame kept (NYU's names): a regular step is no gap; another scene (numbers start again) is one
    for number in (1, 2, 3, 7, 8, 9):
        (root / "rgb" / f"scene2_frame{number:03d}.jpg").rename(root / "rgb" / f"scene2_frame{number * 50:03d}.jpg")
    assert len(FolderDataset(root, frame_offsets=(-1, 1)).records) == 2
    for number in (1, 2, 3):
        (root / "rgb" / f"scene3_frame{number:03d}.jpg").symlink_to(images[number % 3])
    names = [r.name for r in FolderDataset(root, frame_offsets=(-1, 1)).records]
    assert "rgb/scene3_frame002.jpg" in names and "rgb/scene3_frame001.jpg" not in names
    assert "rgb/scene2_frame450.jpg" not in names  # last of its scene: no next frame


def test_seconds_and_nanoseconds_in_names_are_one_stamp(nyu_dir: Path, tmp_path: Path) -> None:
    # an export of a bag writing f"{stamp.sec}_{stamp.nanosec:09d}.jpg" (30 Hz): at each new second both numbers
    # change (the nanoseconds go back), read as another scene: the sequence split there, once a second, and the two
    # frames beside each split lost as targets without a word (6 % of the frames)
    images = sorted((nyu_dir / "rgb").glob("*.jpg"))
    root = tmp_path / "f"
    (root / "rgb").mkdir(parents=True)
    stamps = [1_700_000_000_900_000_000 + k * 33_333_333 for k in range(12)]  # crosses 1700000001 s at k = 3
    names = [f"{stamp // 10**9}_{stamp % 10**9:09d}.jpg" for stamp in stamps]
    for k, name in enumerate(names):
        (root / "rgb" / name).symlink_to(images[k % 3])
    (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    assert [r.name for r in FolderDataset(root, frame_offsets=(-1, 1)).records] == [f"rgb/{n}" for n in names[1:11]]
    (root / "rgb" / names[3]).unlink()  # a dropped frame across the second: a step of 2 periods is no gap
    assert len(FolderDataset(root, frame_offsets=(-1, 1)).records) == 9
    for k in (6, 7, 8):  # 4 periods: a gap
        (root / "rgb" / names[k]).unlink()
    targets = [r.name for r in FolderDataset(root, frame_offsets=(-1, 1)).records]
    assert targets == [f"rgb/{names[k]}" for k in (1, 2, 4, 10)]


def test_names_of_one_number_keep_one_order_whatever_the_listing(
    nyu_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # frame_1 and frame_01 (or stamps 1305031103.5 and 1305031103.50) compare equal by value: sorted stably, they
    # kept the directory's listing order, which differs between file systems (ext4's hash order, a copy's order)
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("frame_01.jpg", "frame_1.jpg", "frame_2.jpg"))
    forward = [r.name for r in FolderDataset(root).records]
    glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: reversed(list(glob(self, pattern))))
    assert [r.name for r in FolderDataset(root).records] == forward
    assert forward[2] == "rgb/frame_2.jpg"


def test_a_calibration_file_without_distortion_coefficients_gives_its_camera_matrix(
    nyu_dir: Path, tmp_path: Path
) -> None:
    # a camera_info YAML of a camera without distortion (a simulated or already rectified one) writes
    # distortion_coefficients with no data and no projection_matrix: it was refused as "intrinsics need fx, fy, cx,
    # cy ... (IndexError: list index out of range)"
    root = _real_nyu_folder(nyu_dir, tmp_path / "f", ("0.jpg", "1.jpg", "2.jpg"))
    no_p = ROS_CAMERA_INFO_YAML.split("rectification_matrix:")[0]
    (root / "intrinsics.yaml").write_text(no_p.replace("data: [0.2, -0.5, 0.001, 0.002, 0.3]", "data: []"))
    assert FolderDataset(root).records[0].camera == (520.1, 521.2, 321.0, 250.5)


def _real_nyu_sequence(nyu_dir: Path, root: Path, numbers: list[int]) -> Path:
    """A folder of real NYU frames named ``scene2_frame<number>.jpg`` (the frames repeat: only the names matter)."""
    images = sorted((nyu_dir / "rgb").glob("*.jpg"))
    (root / "rgb").mkdir(parents=True)
    for k, number in enumerate(numbers):
        (root / "rgb" / f"scene2_frame{number:04d}.jpg").symlink_to(images[k % len(images)])
    (root / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    return root


def test_the_splits_of_a_sequence_are_reported(nyu_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # every frame kept, then every 10th: each step of the sparser part is over 3 median steps, so its frames were no
    # targets, without a word (nothing counted or logged the splits)
    numbers = [*range(20), *range(30, 130, 10)]
    root = _real_nyu_sequence(nyu_dir, tmp_path / "f", numbers)
    with caplog.at_level(logging.WARNING, logger="mono_depth_ros.training.data.folder"):
        dataset = FolderDataset(root, frame_offsets=(-1, 1))
    assert len(dataset) == 18  # frames 1..18; the every-10th part is split at each of its 10 steps
    report = dataset.sequence_report
    assert report.startswith("11 sequences of 30 frames, split at 10 (10 gaps)"), report
    assert "scene2_frame0019.jpg → scene2_frame0030.jpg (step 11 over 3 × the median step 1)" in report
    assert "12 frames are no target for want of neighbours (10 at the splits)" in report
    assert report in caplog.text  # and mono-depth train says so at start-up (a warning)
    assert len(FolderDataset(root, frame_offsets=(-1, 1), gap_steps=0)) == 28  # the gap rule off: one sequence
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mono_depth_ros.training.data.folder"):
        one = FolderDataset(root, frame_offsets=(-1, 1), gap_steps=0)
    assert one.sequence_report.startswith("1 sequence of 30 frames, not split")
    assert not caplog.text  # the first and last frame lose their targets in any sequence: nothing to warn of


def test_a_sequence_split_into_mostly_no_targets_is_refused(nyu_dir: Path, tmp_path: Path) -> None:
    # keyframes kept irregularly (runs of 3 consecutive frames, then 4 to 6 frames left out): the gap rule split at
    # each jump, and 10 of the 16 frames with neighbours were no targets, without a word
    numbers = [0, 1, 2, 6, 7, 8, 13, 14, 15, 19, 20, 21, 27, 28, 29, 33, 34, 35]
    root = _real_nyu_sequence(nyu_dir, tmp_path / "f", numbers)
    with pytest.raises(ConfigError, match=r"data\.gap_steps: 0") as refused:
        FolderDataset(root, frame_offsets=(-1, 1))
    assert "of the 16 frames with neighbours" in str(refused.value)
    assert len(FolderDataset(root, frame_offsets=(-1, 1), gap_steps=0)) == 16
    with pytest.raises(ConfigError, match=r"gap_steps must be >= 0"):
        FolderDataset(root, frame_offsets=(-1, 1), gap_steps=-1)
