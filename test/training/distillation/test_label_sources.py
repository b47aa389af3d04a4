"""Tests for training/label_sources.py: frames and LiDAR from real KITTI bags and from image folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.core.errors import BagError, ConfigError
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.training.distillation.label_sources import BagSource, FolderSource, source_name
from test import kitti_bag
from test.bag.support import SCAN_LEAD_NS, START_NS, write_moving_bag
from test.kitti_bag import CAMERA_INFO_TOPIC, IMAGE_TOPIC, LIDAR_TOPIC, KittiFrame, load_kitti_frames, write_kitti_bag
from test.training.distill_support import one_thread, synthetic_clip, write_folder


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def assert_same_sparse(depth_m: np.ndarray, expected_m: np.ndarray) -> None:
    """Same returns up to a few pixels where float rounding (TF quaternion, float32 K) moves a point over a border."""
    got, want = np.isfinite(depth_m), np.isfinite(expected_m)
    assert want.sum() > 50 and (got != want).sum() <= max(2, 0.001 * want.sum())
    np.testing.assert_allclose(depth_m[got & want], expected_m[got & want], rtol=1e-5)


@pytest.fixture(scope="module")
def kitti_frames(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)


def test_bag_frames_carry_image_intrinsics_and_lidar(kitti_frames: list[KittiFrame], tmp_path: Path) -> None:
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, kitti_frames)
    source = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    assert source.keys == ["000000", "000001", "000002"]
    frames = list(source.frames())
    assert [f.key for f in frames] == source.keys
    for frame, truth in zip(frames, kitti_frames, strict=True):
        np.testing.assert_array_equal(frame.rgb, truth.rgb)
        assert frame.intrinsics is not None and frame.intrinsics.fx == pytest.approx(truth.intrinsics.fx)
        assert frame.points_in_camera is not None
        depth_m, _ = zbuffer_depth(frame.points_in_camera, frame.intrinsics)  # the scan moved with the bag's TF
        assert_same_sparse(depth_m, truth.lidar_depth_m)
    assert not source.problems.counts


def test_a_cut_scan_is_counted_under_the_node_and_bag_runners_key(
    kitti_frames: list[KittiFrame], tmp_path: Path
) -> None:
    """A scan recorded cut (bytes that are no message): counted ``lidar.bad_cdr``, as the node and ``mono-depth bag``
    name it in ``inputs_unused`` (it was ``lidar: undecodable scan``, a name neither uses any more); the frames whose
    scans are whole keep their LiDAR."""
    write_kitti_bag(tmp_path / "kitti", kitti_frames, cut_scans=(1,))
    source = BagSource(tmp_path / "kitti", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    frames = list(source.frames())
    assert frames[0].points_in_camera is not None and frames[2].points_in_camera is not None
    assert dict(source.problems.counts) == {"lidar.bad_cdr": 1}, source.problems.counts


def test_a_frame_whose_nearest_scan_is_cut_takes_the_next_readable_scan_as_the_bag_runner_does(
    kitti_object_dir: Path, tmp_path: Path
) -> None:
    """KITTI 000001 four times at 10 Hz, each scan 30 ms before its image, frame 1's scan cut (bytes that are no
    message): frame 1 was labelled without LiDAR. The node never receives the cut scan and pairs the nearest one it
    has within ``lidar.max_age_s`` (frame 2's, 70 ms after), as ``mono-depth bag`` does
    (``test/bag/test_runner.py::test_a_frame_whose_nearest_scan_is_cut_takes_the_next_readable_scan_as_the_node_does``):
    now frame 1's points are those of the bag without the cut scan, which is counted once (``lidar.bad_cdr``)."""
    frame = load_kitti_frames(kitti_object_dir, ("000001",))[0]
    points = {}
    for name, cut, dropped in (("cut", (1,), ()), ("node", (), (1,))):
        write_kitti_bag(tmp_path / name, [frame] * 4, cut_scans=cut, drop_scans=dropped)
        source = BagSource(tmp_path / name, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
        points[name] = [f.points_in_camera for f in source.frames()]
        assert dict(source.problems.counts) == ({"lidar.bad_cdr": 1} if cut else {}), source.problems.counts
    assert len(points["cut"]) == len(points["node"]) == 4
    for got, want in zip(points["cut"], points["node"], strict=True):
        assert got is not None and want is not None
        np.testing.assert_array_equal(got, want)  # frame 1: frame 2's scan


def test_a_2d_lidars_laser_scan_in_the_bag_labels_frames_too(kitti_frames: list[KittiFrame], tmp_path: Path) -> None:
    """data.lidar_topic on a LaserScan (the node and the bag runner take one): its beams are the frame's points (it
    crashed decoding the LaserScan as a PointCloud2)."""
    write_kitti_bag(tmp_path / "kitti", kitti_frames[:1], laser_scan=True)
    source = BagSource(tmp_path / "kitti", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    (frame,) = list(source.frames())
    assert frame.points_in_camera is not None and 1000 < frame.points_in_camera.shape[0] <= 1800
    assert not source.problems.counts


def test_an_image_one_pixel_off_its_camera_info_is_labelled_as_the_node_runs_it(
    kitti_frames: list[KittiFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """image_proc's resize publishes a camera_info one pixel smaller than its image (CameraModel.for_image): the
    node takes it, so distillation labels it too instead of skipping every frame as a CalibrationError."""
    original = kitti_bag.kitti_camera_info

    def one_row_short(*args: Any, **kwargs: Any) -> Any:
        info = original(*args, **kwargs)
        info.height -= 1
        return info

    monkeypatch.setattr(kitti_bag, "kitti_camera_info", one_row_short)
    write_kitti_bag(tmp_path / "kitti", kitti_frames)
    source = BagSource(tmp_path / "kitti", IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    frames = list(source.frames())
    assert len(frames) == 3 and not source.problems.counts
    assert frames[0].intrinsics is not None and frames[0].intrinsics.height == kitti_frames[0].rgb.shape[0]


@pytest.mark.parametrize("motion_frame", ["", "odom"])
def test_bag_lidar_moved_to_the_image_stamp_with_a_motion_frame(tmp_path: Path, motion_frame: str) -> None:
    speed_mps = 10.0
    truths = write_moving_bag(tmp_path / "moving", speed_mps)
    source = BagSource(tmp_path / "moving", lidar_topic="/lidar/points", lidar_motion_frame=motion_frame)
    for frame, truth in zip(source.frames(), truths, strict=True):
        assert frame.points_in_camera is not None
        # the plane n . p = 12 m is static in odom; the camera has driven speed * t along z at the image stamp
        travelled_m = speed_mps * (truth.stamp_ns - START_NS) * 1e-9
        plane_offset = frame.points_in_camera @ np.array([0.0, 0.3, 1.0]) - (12.0 - travelled_m)
        if motion_frame:
            np.testing.assert_allclose(plane_offset, 0.0, atol=1e-4)
        else:  # the scan was taken 45 ms earlier, 0.45 m further back
            np.testing.assert_allclose(plane_offset, speed_mps * SCAN_LEAD_NS * 1e-9, atol=1e-4)
    assert not source.problems.counts


def test_bag_stride_skip_and_missing_lidar(kitti_frames: list[KittiFrame], tmp_path: Path) -> None:
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, kitti_frames, compressed=True, lidar=False)
    source = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC, stride=2)
    assert source.keys == ["000000", "000002"]  # /compressed found by itself, every second image
    assert source.problems.counts["lidar: topic missing"] == 1
    frames = list(source.frames(skip={"000000"}))
    assert [f.key for f in frames] == ["000002"] and frames[0].points_in_camera is None
    assert BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, max_frames=1).keys == ["000000"]


def test_bag_without_the_camera_topic(kitti_frames: list[KittiFrame], tmp_path: Path) -> None:
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, kitti_frames[:1])
    with pytest.raises(BagError, match="no topic '/front/image'"):
        BagSource(bag, "/front/image", CAMERA_INFO_TOPIC)


def test_folder_with_intrinsics_and_sparse_depth(tmp_path: Path) -> None:
    clip = synthetic_clip(frames=3)
    source = FolderSource(write_folder(tmp_path / "f", clip, sparse=True), stride=1)
    assert source.keys == ["0000", "0001", "0002"]
    for index, frame in enumerate(source.frames()):
        np.testing.assert_array_equal(frame.rgb, clip.rgb[index])
        assert frame.intrinsics is not None and frame.points_in_camera is not None
        assert frame.intrinsics.fx == pytest.approx(clip.intrinsics.fx) and frame.intrinsics.cy == pytest.approx(
            clip.intrinsics.cy
        )
        depth_m, _ = zbuffer_depth(frame.points_in_camera, clip.intrinsics)  # sparse map -> points -> same map
        assert_same_sparse(depth_m, clip.lidar_depth_m[index])


def test_bare_folder_and_empty_folder(tmp_path: Path) -> None:
    clip = synthetic_clip(frames=4)
    source = FolderSource(write_folder(tmp_path / "bare", clip, intrinsics=False), stride=2, max_frames=1)
    frames = list(source.frames())
    assert [f.key for f in frames] == ["0000"] and frames[0].intrinsics is None and frames[0].points_in_camera is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        FolderSource(tmp_path / "empty")


def test_a_garbage_image_in_a_folder_is_skipped_and_counted(tmp_path: Path) -> None:
    clip = synthetic_clip(frames=3)
    folder = write_folder(tmp_path / "bare", clip, intrinsics=False)
    victim = sorted(p for p in folder.rglob("*") if p.suffix in (".png", ".jpg"))[1]
    victim.write_bytes(b"not an image at all")
    source = FolderSource(folder)
    frames = list(source.frames())
    assert len(frames) == 2 and victim.stem not in [f.key for f in frames]
    assert source.problems.counts["image: DataFileError"] == 1
    assert "not a decodable image" in source.problems.examples["image: DataFileError"]


def test_labels_cached_without_lidar_are_not_reused_once_a_lidar_topic_is_given(
    kitti_frames: list[KittiFrame], tmp_path: Path
) -> None:
    # The cache folder is the source's name: labels made without LiDAR must not stand in for labels with it.
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, kitti_frames[:1])
    plain = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC)
    assert plain.name == source_name(bag, IMAGE_TOPIC)  # caches made before the LiDAR settings joined stay valid
    with_lidar = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    later_scans = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC, lidar_max_age_s=0.05)
    moved = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC, lidar_motion_frame="odom")
    raw = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, image_is_rectified=False)
    names = {plain.name, with_lidar.name, later_scans.name, moved.name, raw.name}
    assert len(names) == 5
    assert with_lidar.name == BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC).name  # stable
    # raw labels cached before the black fill was masked (label and LiDAR on fill pixels) are labelled again
    assert raw.name != source_name(bag, f"{IMAGE_TOPIC}|raw")


def test_source_names_are_stable_and_distinct(tmp_path: Path) -> None:
    assert source_name(tmp_path / "a") == source_name(tmp_path / "a")
    assert source_name(tmp_path / "a") != source_name(tmp_path / "b")
    assert source_name(tmp_path / "a", "/cam") != source_name(tmp_path / "a", "/other")
    assert source_name(tmp_path / "my bag!").startswith("my_bag-")


def test_a_folders_seen_masks_keep_labels_off_its_black_fill(tmp_path: Path) -> None:
    """A folder of undistorted frames with ``seen/`` masks (the training folder layout): the fill is no label."""
    import cv2

    clip = synthetic_clip(frames=2)
    root = write_folder(tmp_path / "f", clip, sparse=True)
    (root / "seen").mkdir()
    mask = np.full(clip.rgb[0].shape[:2], 255, dtype=np.uint8)
    mask[:, :10] = 0
    cv2.imwrite(str(root / "seen" / "0001.png"), mask)
    frames = list(FolderSource(root).frames())
    assert frames[0].seen is None
    assert frames[1].seen is not None and np.array_equal(frames[1].seen, mask > 0)


def test_a_distorted_raw_topic_read_as_rectified_is_counted(kitti_object_dir: Path, tmp_path: Path) -> None:
    """The labeller (and the training LiDAR export) says so once, as the node warns: a raw camera labelled with
    ``image_is_rectified`` true is labelled on distorted pixels."""
    from test.raw_kitti_bag import raw_frames, write_raw_bag

    bag = tmp_path / "raw"
    write_raw_bag(bag, raw_frames(load_kitti_frames(kitti_object_dir, ("000001", "000002")), "plumb_bob", (96, 48)))
    source = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC)
    assert source.problems.counts["camera: distortion ignored"] == 1
    assert "data.image_is_rectified: false" in source.problems.examples["camera: distortion ignored"]
    assert not BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, image_is_rectified=False).problems.counts


def test_a_rectified_topic_with_distortion_read_as_raw_is_counted(kitti_object_dir: Path, tmp_path: Path) -> None:
    """The converse, said once as the node warns it: a real KITTI frame recorded on .../image_rect (rectified
    upstream) with its raw camera's camera_info (strong barrel D), labelled with ``image_is_rectified`` false, is
    undistorted a second time and labelled on warped pixels. It went uncounted."""
    from mono_depth_ros.core.camera import CameraModel
    from mono_depth_ros.core.ros_msgs import camera_info_from_model, image_from_array, make_header
    from mono_depth_ros.demo.bag_builder import BagBuilder
    from mono_depth_ros.evaluation.scale_rigs import CAMERA_FRAME

    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    height, width = frame.rgb.shape[:2]
    d = (-0.369, 0.197, 0.00135, 0.00057, -0.0677)
    camera = CameraModel(width, height, "plumb_bob", d, frame.projection[:, :3], np.eye(3), frame.projection)
    image_topic = "/camera/image_rect"
    with BagBuilder(tmp_path / "rect") as bag:
        header = make_header(bag.factory, START_NS, CAMERA_FRAME)
        bag.add(CAMERA_INFO_TOPIC, camera_info_from_model(bag.factory, camera, header), START_NS)
        bag.add(image_topic, image_from_array(bag.factory, frame.rgb, "rgb8", header), START_NS + 1)
    source = BagSource(tmp_path / "rect", image_topic, CAMERA_INFO_TOPIC, image_is_rectified=False)
    assert source.problems.counts["camera: undistorted twice"] == 1
    example = source.problems.examples["camera: undistorted twice"]
    assert "names a rectified image but image_is_rectified=false undistorts it again" in example
    assert "data.image_is_rectified: true" in example
    assert not BagSource(tmp_path / "rect", image_topic, CAMERA_INFO_TOPIC).problems.counts


def test_a_bare_folder_of_phone_frames_is_read_in_recording_order_without_hidden_files(
    nyu_dir: Path, tmp_path: Path
) -> None:
    # distill's own listing of a bare folder sorted as strings (frame_10 before frame_2: stride and max_frames took
    # other frames than every n-th / the first n of the recording) and took macOS's ._<name> files for frames, each
    # a DataFileError counted as a problem
    folder = tmp_path / "phone"
    folder.mkdir()
    images = sorted((nyu_dir / "rgb").glob("*.jpg"))
    for number, image in zip((1, 2, 10), images, strict=True):
        (folder / f"frame_{number}.jpg").symlink_to(image)
        (folder / f"._frame_{number}.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    source = FolderSource(folder, max_frames=2)
    assert source.keys == ["frame_1", "frame_2"]
    assert [f.key for f in source.frames()] == ["frame_1", "frame_2"] and not source.problems.counts
    (folder / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    (folder / "rgb").mkdir()
    for path in sorted(folder.glob("*frame_*")):
        path.rename(folder / "rgb" / path.name)
    assert FolderSource(folder, stride=2).keys == ["frame_1", "frame_10"]  # the folder layout: every other frame


def test_a_folders_sparse_depth_of_another_size_is_refused_before_labelling(nyu_dir: Path, tmp_path: Path) -> None:
    # distill read a folder's sparse_depth/ frame by frame while the teacher labelled it: one map of another size
    # stopped the run at that frame (after the teacher's time on the ones before), with "depth map is 320x240 but the
    # image is 640x480" and no file name
    import cv2

    folder = tmp_path / "f"
    (folder / "rgb").mkdir(parents=True)
    (folder / "sparse_depth").mkdir()
    for image, depth in zip(
        sorted((nyu_dir / "rgb").glob("*.jpg")), sorted((nyu_dir / "depth").glob("*.png")), strict=True
    ):
        (folder / "rgb" / image.name).symlink_to(image)
        (folder / "sparse_depth" / f"{image.stem}.png").symlink_to(depth)
    (folder / "intrinsics.yaml").write_text("fx: 518.8579\nfy: 519.4696\ncx: 325.5824\ncy: 253.7362\n")
    (folder / "depth").mkdir()
    first = sorted((nyu_dir / "rgb").glob("*.jpg"))[0].stem
    (folder / "depth" / f"{first}.png").write_bytes(b"")  # depth/ is unlabelled data to distill: it was read anyway
    assert len(list(FolderSource(folder).frames())) == 3
    last = sorted((folder / "sparse_depth").glob("*.png"))[2]
    raw = cv2.imread(str(last), cv2.IMREAD_UNCHANGED)
    assert raw is not None
    last.unlink()
    cv2.imwrite(str(last), cv2.resize(raw, (320, 240), interpolation=cv2.INTER_NEAREST))
    with pytest.raises(ConfigError, match=rf"sparse_depth/{last.stem}\.png is 320x240, its image .*640x480"):
        FolderSource(folder)


def test_a_topic_recorded_with_several_types_gives_the_frames_of_the_type_the_node_subscribes(tmp_path: Path) -> None:
    """Image, camera_info and LiDAR topics each holding five messages of another type recorded before the three
    frames (a second publisher; bags merged). The source's first pass reads each topic as the node's type, and its
    second pass opened the bag again without that choice: every type was read, so the plans' image ordinals 0-2 fell
    on the other publisher's CompressedImages. The frames are the three Images, with their stamps."""
    from test.bag.support import tiny_frame, write_mixed_type_bag

    stamps = write_mixed_type_bag(tmp_path / "mixed", "/camera/image_raw", "sensor_msgs/msg/Image")
    source = BagSource(tmp_path / "mixed", "/camera/image_raw", "/camera/camera_info", "/lidar/points")
    assert [source.stamp_ns(key) for key in source.keys] == stamps
    frames = list(source.frames())
    assert [frame.key for frame in frames] == source.keys
    for index, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.rgb, tiny_frame(index).rgb)
        assert frame.points_in_camera is not None and len(frame.points_in_camera) > 0


def test_a_12_bit_cameras_bag_is_labelled_as_the_node_with_image_significant_bits_sees_it(tmp_path: Path) -> None:
    """The teacher labels, and the student trains on, a 12-bit camera's rgb16 frames scaled as the node scales them
    with ``image_significant_bits: 12`` (they were read 16x too dark); such labels get their own cache folder, and
    a value off [8, 16] is refused as the node's parameter is."""
    from mono_depth_ros.training.distillation.config import DataConfig
    from mono_depth_ros.training.distillation.run import open_sources
    from test.training.data.test_rosbag_sequence import frame_pixels, write_12_bit_bag

    bag = write_12_bit_bag(tmp_path / "bag", count=2)
    default = BagSource(bag, "/cam/image", "/cam/camera_info")
    twelve = BagSource(bag, "/cam/image", "/cam/camera_info", image_significant_bits=12)
    assert max(int(frame.rgb.max()) for frame in default.frames()) <= 16
    np.testing.assert_array_equal(next(iter(twelve.frames())).rgb, frame_pixels(0))
    assert default.name == source_name(bag, "/cam/image") != twelve.name
    with pytest.raises(ConfigError, match=r"image_significant_bits.*17"):
        BagSource(bag, "/cam/image", "/cam/camera_info", image_significant_bits=17)
    data = {"bags": (str(bag),), "image_topic": "/cam/image", "camera_info_topic": "/cam/camera_info"}
    (source,) = open_sources(SimpleNamespace(data=DataConfig(**data, image_significant_bits=12)))  # what it reads
    assert isinstance(source, BagSource) and source.name == twelve.name
    with pytest.raises(ConfigError, match=r"data\.image_significant_bits must be in \[8, 16\].*got 5"):
        DataConfig(**data, image_significant_bits=5)
