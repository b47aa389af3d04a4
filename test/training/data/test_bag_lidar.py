"""A rosbag2 with LiDAR as training data: frames exported with their projected scan, read as the folder layout."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.camera import seen_at
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.bag_lidar import MANIFEST, bag_frames_dataset, export_bag_frames
from mono_depth_ros.training.data.real import build_recorded_datasets
from mono_depth_ros.training.trainer.config import DataConfig
from mono_depth_ros.training.trainer.loop import Trainer
from test.kitti_bag import CAMERA_INFO_TOPIC, IMAGE_TOPIC, LIDAR_TOPIC, load_kitti_frames, write_kitti_bag
from test.raw_kitti_bag import raw_frames, write_raw_bag
from test.training.tiny import tiny_config


@pytest.fixture(scope="module")
def kitti_bag(kitti_object_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """KITTI object frames 1, 2, 1 (one image size: a sequence) as a bag (image, camera_info, Velodyne 30 ms
    earlier, TF), and their projected scans."""
    frames = load_kitti_frames(kitti_object_dir, ("000001", "000002", "000001"))
    bag = tmp_path_factory.mktemp("bag") / "kitti"
    write_kitti_bag(bag, frames)
    return bag, [f.lidar_depth_m for f in frames]


def test_export_projects_each_scan_into_its_image(kitti_bag: tuple[Path, list[np.ndarray]], tmp_path: Path) -> None:
    bag, truth = kitti_bag
    manifest = export_bag_frames(bag, tmp_path / "frames", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    assert manifest["frames"] == 3 and manifest["with_lidar"] == 3
    for index, expected in enumerate(truth):
        sparse = np.load(tmp_path / "frames" / "sparse_depth" / f"{index:06d}.npy")
        # through the bag's TF (a quaternion: the extrinsic to ~1e-7) = through the calibration: a point on a pixel
        # border may land one pixel over
        moved = np.isfinite(sparse) != np.isfinite(expected)
        assert int(moved.sum()) <= 0.001 * int(np.isfinite(expected).sum())
        both = np.isfinite(sparse) & np.isfinite(expected)
        np.testing.assert_allclose(sparse[both], expected[both], rtol=1e-5)
    before = (tmp_path / "frames" / MANIFEST).stat().st_mtime_ns
    assert export_bag_frames(bag, tmp_path / "frames", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC) == manifest
    assert (tmp_path / "frames" / MANIFEST).stat().st_mtime_ns == before  # a matching export is reused
    assert json.loads((tmp_path / "frames" / MANIFEST).read_text())["lidar_topic"] == LIDAR_TOPIC


def test_rosbag_lidar_is_the_supervised_target(kitti_bag: tuple[Path, list[np.ndarray]], tmp_path: Path) -> None:
    bag, _ = kitti_bag
    data = DataConfig(kind="rosbag", root=str(bag), lidar_topic=LIDAR_TOPIC, cache_dir=str(tmp_path / "cache"))
    train, _ = build_recorded_datasets(data, 64, 32, (), seed=0)
    assert len(train) == 3
    item = train[0]
    # the projected scan is the target (resized nearest) and the sparse LiDAR input (splatted when shrunk)
    assert int(torch.isfinite(item["depth"]).sum()) > 20 and int(torch.isfinite(item["lidar_depth"]).sum()) > 20
    config = tiny_config(
        tmp_path / "run",
        tmp_path / "clips",
        data__kind="rosbag",
        data__root=str(bag),
        data__lidar_topic=LIDAR_TOPIC,
        data__cache_dir=str(tmp_path / "cache"),
        run__steps=2,
        run__batch_size=1,
    )
    trainer = Trainer(config)
    result = trainer.fit()
    assert result.val is not None and result.val.count == 3 and np.isfinite(result.val.abs_rel)
    two_sources, _ = build_recorded_datasets(data, 64, 32, (-1, 1), seed=0)  # lidar_semi: neighbours + LiDAR
    assert len(two_sources) == 1 and two_sources[0]["sources"].shape[0] == 2


def test_lidar_topic_settings() -> None:
    with pytest.raises(ConfigError, match="cache_dir"):
        DataConfig(kind="rosbag", root="bag", lidar_topic=LIDAR_TOPIC)
    with pytest.raises(ConfigError, match=r"for data\.kind rosbag"):
        DataConfig(kind="folder", root="f", lidar_topic=LIDAR_TOPIC, cache_dir="c")


@pytest.mark.parametrize("model", ["plumb_bob", "equidistant"])
def test_a_raw_cameras_black_fill_is_no_lidar_target(
    kitti_object_dir: Path, tmp_path: Path, model: Literal["plumb_bob", "equidistant"]
) -> None:
    """A raw camera whose P keeps the whole raw view (black corners after undistortion): the scan's points in those
    corners are no target (the network would learn depth from black pixels, which the node publishes as NaN); the
    image the node sees (undistorted, fill included) is the one exported."""
    frames = raw_frames(load_kitti_frames(kitti_object_dir, ("000001", "000002")), model, (160, 80))
    bag = tmp_path / "raw"
    write_raw_bag(bag, frames)
    export_bag_frames(bag, tmp_path / "frames", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC, image_is_rectified=False)
    camera = frames[0].camera
    seen = camera.seen_mask()
    assert seen is not None and 0.05 < float((~seen).mean()) < 0.3  # the rig has black corners
    for index, frame in enumerate(frames):
        depth = np.load(tmp_path / "frames" / "depth" / f"{index:06d}.npy")
        assert int(np.isfinite(depth[seen]).sum()) > 3000  # the scan lands on the seen part
        assert not np.isfinite(depth[~seen]).any()
        assert not np.isfinite(np.load(tmp_path / "frames" / "sparse_depth" / f"{index:06d}.npy")[~seen]).any()
        rgb = cv2.imread(str(tmp_path / "frames" / "rgb" / f"{index:06d}.png"))[..., ::-1]
        np.testing.assert_array_equal(rgb, camera.undistort(frame.rgb))


def test_training_reads_a_raw_camera_bag_as_the_node_runs_it(kitti_object_dir: Path, tmp_path: Path) -> None:
    """``data.image_is_rectified: false`` (as the node's parameter): the network is fed the undistorted image, resized
    as the node's preprocess resizes it, with P's intrinsics; without it training took the distorted raw image as
    the pinhole image P describes, a geometry the node never shows the model."""
    from mono_depth_ros.models.preprocess import preprocess
    from mono_depth_ros.training.trainer.config import config_from_mapping

    frames = raw_frames(load_kitti_frames(kitti_object_dir, ("000001", "000002", "000001")), "equidistant", (160, 80))
    bag = tmp_path / "raw"
    write_raw_bag(bag, frames)
    camera = frames[0].camera
    data = {"kind": "rosbag", "root": str(bag), "image_is_rectified": False}
    config = config_from_mapping({"data": data})
    assert config.data.image_is_rectified is False
    lidar = DataConfig(**data, lidar_topic=LIDAR_TOPIC, cache_dir=str(tmp_path / "cache"))  # type: ignore[arg-type]
    for offsets, dataset_config in (((-1, 1), config.data), ((), lidar)):
        _, val = build_recorded_datasets(dataset_config, 64, 32, offsets, seed=0)
        item = val[0]
        undistorted = torch.from_numpy(camera.undistort(frames[1 if offsets else 0].rgb)).permute(2, 0, 1)[None]
        node_input = preprocess(undistorted, (32, 64), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))[0]
        torch.testing.assert_close(item["rgb"], node_input, atol=1.5 / 255, rtol=0)
        expected_k = camera.rectified_intrinsics().resized(64, 32).matrix
        np.testing.assert_allclose(item["k"].numpy(), expected_k, rtol=1e-5)
        seen = camera.seen_mask()  # at the network size, no LiDAR where every pixel of the footprint is fill
        assert seen is not None
        fill = seen_at(~seen, (32, 64))
        assert fill.any() and not torch.isfinite(item["lidar_depth"][0][torch.from_numpy(fill)]).any()


def test_lidar_semi_sources_are_the_adjacent_frames_of_one_stretch(kitti_object_dir: Path, tmp_path: Path) -> None:
    """With LiDAR the bag is exported frame by frame; its temporal sources must still be the image's neighbours in
    the recording, never frames across a pause (5 s here), as without LiDAR (RosbagSequenceDataset, max_gap_s)."""
    frames = raw_frames(load_kitti_frames(kitti_object_dir, ("000001", "000002") * 3), "plumb_bob", (96, 48))
    bag = tmp_path / "paused"
    write_raw_bag(bag, frames, pause_after=2)  # frames 0, 1, 2 | 5 s | 3, 4, 5
    data = DataConfig(
        kind="rosbag", root=str(bag), lidar_topic=LIDAR_TOPIC, cache_dir=str(tmp_path / "c"), image_is_rectified=False
    )
    train, _ = build_recorded_datasets(data, 64, 32, (-1, 1), seed=0)
    names = [train.samples[i].name for i in range(len(train))]  # type: ignore[index]
    assert names == ["rgb/000001.png", "rgb/000004.png"]
    without_lidar, _ = build_recorded_datasets(replace(data, lidar_topic="", cache_dir=""), 64, 32, (-1, 1), seed=0)
    assert [without_lidar.samples.frames[t].ordinal for t in without_lidar.samples.targets] == [1, 4]  # type: ignore[attr-defined]


@pytest.mark.parametrize("motion_frame", ["", "odom"])
def test_a_scan_taken_before_the_image_is_moved_to_the_image_stamp(tmp_path: Path, motion_frame: str) -> None:
    """``data.lidar_motion_frame: odom`` (the node's ``lidar.motion_frame``): a scan 45 ms before the image of a
    robot driving 10 m/s towards a plane is moved through the bag's TF to where the camera is at the image stamp,
    so the target is the depth the image shows (0.45 m nearer), as the node pairs it; '' keeps the scan where it
    was taken (the extrinsic at the scan stamp only)."""
    from mono_depth_ros.training.trainer.config import config_from_mapping
    from test.bag.support import HEIGHT, SCAN_LEAD_NS, START_NS, WIDTH, moving_depth, write_moving_bag

    speed_mps = 10.0
    truths = write_moving_bag(tmp_path / "moving", speed_mps)
    data = {
        "kind": "rosbag",
        "root": str(tmp_path / "moving"),
        "lidar_topic": "/lidar/points",
        "cache_dir": str(tmp_path / "cache"),
        "lidar_motion_frame": motion_frame,
    }
    _, val = build_recorded_datasets(config_from_mapping({"data": data}).data, WIDTH, HEIGHT, (), seed=0)
    lag_m = 0.0 if motion_frame else speed_mps * SCAN_LEAD_NS * 1e-9
    for index, truth in enumerate(truths):
        depth = val[index]["depth"][0].numpy()
        finite = np.isfinite(depth)
        assert finite.sum() > 100
        travelled_m = speed_mps * (truth.stamp_ns - START_NS) * 1e-9
        expected = moving_depth(travelled_m - lag_m)  # half a row of z-buffer rounding: < 0.04 m on this plane
        np.testing.assert_allclose(depth[finite], expected[finite], atol=0.05)


def test_the_exported_black_fill_is_unseen_for_the_photometric_loss(kitti_object_dir: Path, tmp_path: Path) -> None:
    """lidar_semi on a raw camera bag: the export keeps which pixels see the raw image (``seen/<ordinal>.png``), so
    the folder's samples carry it and the photometric term ignores the black fill, as without LiDAR."""
    frames = raw_frames(load_kitti_frames(kitti_object_dir, ("000001", "000002", "000001")), "plumb_bob", (96, 48))
    bag = tmp_path / "raw"
    write_raw_bag(bag, frames)
    data = DataConfig(
        kind="rosbag", root=str(bag), lidar_topic=LIDAR_TOPIC, cache_dir=str(tmp_path / "c"), image_is_rectified=False
    )
    _, val = build_recorded_datasets(data, 96, 48, (-1, 1), seed=0)
    seen = frames[0].camera.seen_mask()
    assert seen is not None
    assert torch.equal(val.samples[0].seen[0], torch.from_numpy(seen))  # type: ignore[index]
    assert torch.equal(val[0]["seen"][0], torch.from_numpy(seen))


def test_a_bag_whose_scans_never_reach_the_camera_is_refused(kitti_object_dir: Path, tmp_path: Path) -> None:
    """No TF between LiDAR and camera in the bag: no frame gets a LiDAR depth, so the supervised target (and the
    metric term) is empty; training refuses it naming why instead of running on empty masks."""
    bag = tmp_path / "no_tf"
    write_kitti_bag(bag, load_kitti_frames(kitti_object_dir, ("000001", "000002")), tf_static=False)
    data = DataConfig(kind="rosbag", root=str(bag), lidar_topic=LIDAR_TOPIC, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"none of the 2 exported frames has a LiDAR return.*TransformException: 2"):
        build_recorded_datasets(data, 64, 32, (), seed=0)


def test_exported_frames_split_where_a_fast_camera_dropped_frames(tmp_path: Path) -> None:
    """As RosbagSequenceDataset does (``gap_limit_ns``): a 30 Hz export with 0.9 s of dropped frames (under
    ``max_gap_s``) is two stretches, so ``lidar_semi`` takes no sources across the drop."""
    period_ns, start_ns = 33_333_333, 1_700_000_000_000_000_000
    stamps = [start_ns + i * period_ns for i in range(5)]
    stamps += [stamps[-1] + 900_000_000 + i * period_ns for i in range(4)]  # frames 5-8 after the drop
    (tmp_path / "rgb").mkdir()
    for ordinal in range(len(stamps)):
        cv2.imwrite(str(tmp_path / "rgb" / f"{ordinal:06d}.png"), np.full((8, 8, 3), 10 * ordinal, np.uint8))
    (tmp_path / "intrinsics.yaml").write_text("fx: 12.0\nfy: 12.0\ncx: 4.0\ncy: 4.0\n")
    manifest = {"with_lidar": 1, "stamps_ns": {str(o): ns for o, ns in enumerate(stamps)}}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    dataset = bag_frames_dataset(tmp_path, (-1, 1))
    assert [r.name for r in dataset.records] == [f"rgb/{o:06d}.png" for o in (1, 2, 3, 6, 7)]


def test_an_export_with_image_significant_bits_is_not_the_default_ones(
    kitti_bag: tuple[Path, list[np.ndarray]], tmp_path: Path
) -> None:
    """``data.image_significant_bits`` changes a 16-bit camera's exported pixels: an export made with another value
    is exported again; the default's manifest has no such key (exports written before it stay valid)."""
    bag, _ = kitti_bag
    args = (bag, tmp_path / "frames", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    assert "image_significant_bits" not in export_bag_frames(*args)
    before = (tmp_path / "frames" / MANIFEST).stat().st_mtime_ns
    assert export_bag_frames(*args, image_significant_bits=12)["image_significant_bits"] == 12
    assert (tmp_path / "frames" / MANIFEST).stat().st_mtime_ns != before  # not the 16-bit scaling's frames


def _write_bag_cache(folder: Path, widths: tuple[int, ...]) -> None:
    """A bag's exported training cache in ``folder``: one 8-row frame of each width in ``widths``, 100 ms apart, from
    bag /data/drive's IMAGE_TOPIC, with LiDAR."""
    (folder / "rgb").mkdir()
    for ordinal, width in enumerate(widths):
        cv2.imwrite(str(folder / "rgb" / f"{ordinal:06d}.png"), np.full((8, width, 3), 10, np.uint8))
    (folder / "intrinsics.yaml").write_text("fx: 12.0\nfy: 12.0\ncx: 4.0\ncy: 4.0\n")
    stamps = {str(o): 1_700_000_000_000_000_000 + o * 100_000_000 for o in range(len(widths))}
    manifest = {"with_lidar": 1, "stamps_ns": stamps, "bag": "/data/drive", "image_topic": IMAGE_TOPIC}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_a_camera_that_changes_size_within_the_bag_is_refused_naming_the_bag(tmp_path: Path) -> None:
    """lidar_semi on a bag whose images change size (KITTI frames 000000 at 1224x370, then 000001 / 000002 at
    1242x375) failed in the first batch, in a data-loader worker, naming two files of the cache and no way out
    ("source image is (370, 1224, 3), the target ... (375, 1242, 3)"); without data.lidar_topic the same bag is
    refused at the start ("camera_info changes within the bag; split the bag there"). It is refused at the start
    too, naming the bag, the topic, both sizes and the remedies."""
    _write_bag_cache(tmp_path, (8, 8, 16, 16))  # the camera changes size after frame 1
    with pytest.raises(
        ConfigError,
        match=r"/data/drive: the images on /camera/image_raw change size.*8x8.*16x8.*"
        r"split the bag.*loss\.objective=supervised",
    ):
        bag_frames_dataset(tmp_path, (-1, 1))
    assert len(bag_frames_dataset(tmp_path, ()).records) == 4  # no neighbours: every frame stands alone


def test_a_bag_of_too_few_frames_for_the_offsets_names_the_bag_and_its_remedies(tmp_path: Path) -> None:
    """Two exported frames with offsets (-1, 1): FolderDataset's refusal named the cache folder and its remedies ("add
    frames to <cache>/rgb ... supervised with depth/"), no way on for a bag; it names the bag and a bag's remedies."""
    _write_bag_cache(tmp_path, (8, 8))
    with pytest.raises(
        ConfigError,
        match=r"^/data/drive: its 2 frames on /camera/image_raw are too few for source offsets \(-1, 1\): .*3 "
        r"consecutive frames; record a longer bag, .*data\.frame_offsets .*loss\.objective=supervised \(its LiDAR",
    ):
        bag_frames_dataset(tmp_path, (-1, 1))
    assert len(bag_frames_dataset(tmp_path, (1,)).records) == 1  # a remedy it names
