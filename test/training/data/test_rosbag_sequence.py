"""Image sequences from a rosbag2 written with rosbags in tmp_path."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.errors import BagError, CalibrationError, ConfigError
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_model,
    compressed_image_from_array,
    image_from_array,
    make_header,
)
from mono_depth_ros.demo.bag_builder import BagBuilder
from mono_depth_ros.training.data.rosbag_sequence import GAP_PERIODS, MAX_GAP_S, RosbagSequenceDataset, gap_limit_ns
from mono_depth_ros.training.data.sample import collate_samples

HEIGHT, WIDTH = 12, 16
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000
P = np.array([[20.0, 0.0, 7.25, 0.0], [0.0, 21.0, 5.5, 0.0], [0.0, 0.0, 1.0, 0.0]])
K = np.array([[19.0, 0.0, 7.0], [0.0, 19.5, 6.0], [0.0, 0.0, 1.0]])


def camera(d: tuple[float, ...] = (0.0,) * 5, p: np.ndarray = P) -> CameraModel:
    return CameraModel(WIDTH, HEIGHT, "plumb_bob", d, K, np.eye(3), p)


def frame_pixels(index: int) -> np.ndarray:
    pixels = np.full((HEIGHT, WIDTH, 3), 10 * index, dtype=np.uint8)
    pixels[..., 1] = np.arange(WIDTH, dtype=np.uint8)[None, :] * 8  # a green ramp: undistortion moves it
    pixels[..., 2] = 200
    return pixels


def write_bag(
    path: Path,
    stamps_ns: list[int],
    compressed: bool = False,
    cameras: list[CameraModel] | None = None,
    encoding: str = "rgb8",
    image_topic: str = "/cam/image",
) -> Path:
    with BagBuilder(path) as bag:
        for index, stamp_ns in enumerate(stamps_ns):
            header = make_header(bag.factory, stamp_ns, "camera_optical")
            model = (cameras or [camera()])[min(index, len(cameras or [camera()]) - 1)]
            bag.add("/cam/camera_info", camera_info_from_model(bag.factory, model, header), stamp_ns + 1000)
            pixels = frame_pixels(index)
            if compressed:
                msg = compressed_image_from_array(bag.factory, pixels, header, codec="png")
                bag.add(f"{image_topic}/compressed", msg, stamp_ns + 2000)
            else:
                wire = pixels[..., ::-1].copy() if encoding == "bgr8" else pixels
                bag.add(image_topic, image_from_array(bag.factory, wire, encoding, header), stamp_ns + 2000)
    return path


def uniform_stamps(count: int, gap_after: int | None = None) -> list[int]:
    stamps = [START_NS + i * PERIOD_NS for i in range(count)]
    if gap_after is not None:
        stamps = [s + (5_000_000_000 if i > gap_after else 0) for i, s in enumerate(stamps)]
    return stamps


def test_targets_sources_and_intrinsics(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", uniform_stamps(6, gap_after=3))
    dataset = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", frame_offsets=(-1, 1))
    assert dataset.targets == [1, 2]  # frames 4-5 follow a 5 s gap: too short a segment
    sample = dataset[1]
    assert sample.name == "/cam/image#2"
    expected = torch.from_numpy(frame_pixels(2).transpose(2, 0, 1).copy()).float() / 255
    torch.testing.assert_close(sample.rgb, expected)
    assert float(sample.sources[0, 0, 0, 0]) == pytest.approx(10 / 255)  # frame 1
    assert float(sample.sources[1, 0, 0, 0]) == pytest.approx(30 / 255)  # frame 3
    assert sample.source_offsets == (-1, 1) and sample.pose_known.tolist() == [False, False]
    assert sample.k.tolist() == [[20.0, 0.0, 7.25], [0.0, 21.0, 5.5], [0.0, 0.0, 1.0]]  # P: rectified image
    assert torch.isnan(sample.depth).all() and torch.isnan(sample.sparse_depth).all()
    batch = collate_samples([dataset[0], dataset[1]])
    assert batch.sources.shape == (2, 2, 3, HEIGHT, WIDTH)
    restored = pickle.loads(pickle.dumps(dataset))  # DataLoader workers: the open reader is not pickled
    torch.testing.assert_close(restored[0].rgb, dataset[0].rgb)
    dataset.close()
    restored.close()


def test_stride_and_gap(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", uniform_stamps(7))
    dataset = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", frame_offsets=(-1, 1), stride=2)
    assert dataset.targets == [2, 3, 4]
    sample = dataset[0]
    assert float(sample.sources[0, 0, 0, 0]) == 0.0 and float(sample.sources[1, 0, 0, 0]) == pytest.approx(40 / 255)
    with pytest.raises(ConfigError, match="none of the 7 frames"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", frame_offsets=(-4, 4))
    with pytest.raises(ConfigError, match="stride"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", stride=0)


def test_dropped_frames_split_a_fast_cameras_sequence(tmp_path: Path) -> None:
    """A 30 Hz camera that dropped 0.9 s of frames (under ``max_gap_s``, 27 periods) is split there: the gap rule
    follows the recording's own frame period (``GAP_PERIODS`` median periods), so no target pairs across the drop;
    one dropped frame (2 periods) does not split it, and a 10 Hz bag keeps its 1 s rule."""
    period_ns = 33_333_333
    stamps = [START_NS + i * period_ns for i in range(5)]
    stamps += [stamps[-1] + 900_000_000 + i * period_ns for i in range(4)]  # frames 5-8 after the drop
    dataset = RosbagSequenceDataset(write_bag(tmp_path / "drop", stamps), "/cam/image", "/cam/camera_info")
    assert dataset.targets == [1, 2, 3, 6, 7]  # not 4 (source 5) nor 5 (source 4): across the drop
    one_dropped = [START_NS + i * period_ns for i in (0, 1, 2, 4, 5)]
    dataset = RosbagSequenceDataset(write_bag(tmp_path / "one", one_dropped), "/cam/image", "/cam/camera_info")
    assert dataset.targets == [1, 2, 3]
    assert gap_limit_ns(uniform_stamps(4)) == int(GAP_PERIODS * PERIOD_NS)
    assert gap_limit_ns([START_NS, START_NS + 2_000_000_000], max_gap_s=1.0) == 1_000_000_000  # 1 s is smaller
    assert gap_limit_ns([START_NS]) == int(MAX_GAP_S * 1e9)


def test_compressed_and_bgr_images_come_out_rgb(tmp_path: Path) -> None:
    compressed = write_bag(tmp_path / "c", uniform_stamps(3), compressed=True)
    bgr = write_bag(tmp_path / "b", uniform_stamps(3), encoding="bgr8")
    expected = torch.from_numpy(frame_pixels(1).transpose(2, 0, 1).copy()).float() / 255
    sample = RosbagSequenceDataset(compressed, "/cam/image/compressed", "/cam/camera_info")[0]
    torch.testing.assert_close(sample.rgb, expected)
    torch.testing.assert_close(RosbagSequenceDataset(bgr, "/cam/image", "/cam/camera_info")[0].rgb, expected)


def test_raw_images_are_undistorted(tmp_path: Path) -> None:
    model = camera(d=(-0.3, 0.1, 0.0, 0.0, 0.0))
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), cameras=[model])
    raw = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_is_rectified=False)[0]
    expected = model.undistort(frame_pixels(1))
    torch.testing.assert_close(raw.rgb, torch.from_numpy(expected.transpose(2, 0, 1).copy()).float() / 255)
    assert not torch.allclose(raw.rgb, torch.from_numpy(frame_pixels(1).transpose(2, 0, 1).copy()).float() / 255)
    torch.testing.assert_close(raw.sources[0], torch.from_numpy(model.undistort(frame_pixels(0)).transpose(2, 0, 1)
                               .copy()).float() / 255)  # fmt: skip
    assert raw.k[0, 0] == 20.0  # undistorted into P's pinhole image


def test_bag_errors(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", uniform_stamps(3))
    with pytest.raises(BagError, match="/cam/missing is missing"):
        RosbagSequenceDataset(bag, "/cam/missing", "/cam/camera_info")
    with pytest.raises(BagError, match="expected sensor_msgs/msg/CameraInfo"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/image")
    with pytest.raises(BagError, match="does not exist"):
        RosbagSequenceDataset(tmp_path / "nothing", "/cam/image", "/cam/camera_info")
    other = P.copy()
    other[0, 0] = 30.0
    changing = write_bag(tmp_path / "changing", uniform_stamps(3), cameras=[camera(), camera(p=other)])
    with pytest.raises(CalibrationError, match="changes within the bag"):
        RosbagSequenceDataset(changing, "/cam/image", "/cam/camera_info")


def test_a_message_compressed_bag_without_metadata_yaml_reads_as_it_indexes(tmp_path: Path) -> None:
    from test.bag.support import recompress

    plain = write_bag(tmp_path / "plain", uniform_stamps(3))
    bag = recompress(plain, tmp_path / "message", "message")  # ros2 bag record --compression-mode message
    (bag / "metadata.yaml").unlink()  # the .db3 copied alone: indexed by the bag reader, then read back by it too
    expected = RosbagSequenceDataset(plain, "/cam/image", "/cam/camera_info")[0].rgb
    torch.testing.assert_close(RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info")[0].rgb, expected)


@pytest.mark.parametrize(("storage", "undefined_encoding"), [("mcap", "unknown"), ("sqlite3", "")])
def test_a_bag_recorded_on_jazzy_trains_as_the_same_frames_recorded_on_humble(
    tmp_path: Path, storage: str, undefined_encoding: str
) -> None:
    """Jazzy's recorder (support.record_on_jazzy): a vendor type stored without a definition, and (MCAP, fastwrite
    preset) messages unchunked out of log-time order; the bag was refused ("truncated or corrupt")."""
    from test.bag.support import record_on_jazzy

    plain = write_bag(tmp_path / "plain", uniform_stamps(5))
    jazzy = record_on_jazzy(plain, tmp_path / "jazzy", storage, undefined_encoding)
    expected = RosbagSequenceDataset(plain, "/cam/image", "/cam/camera_info", frame_offsets=(-1, 1))
    dataset = RosbagSequenceDataset(jazzy, "/cam/image", "/cam/camera_info", frame_offsets=(-1, 1), distro="jazzy")
    assert dataset.targets == expected.targets == [1, 2, 3]
    for index in (2, 0, 1):  # random access, as a shuffling DataLoader reads
        got, want = dataset[index], expected[index]
        torch.testing.assert_close(got.rgb, want.rgb)
        torch.testing.assert_close(got.sources, want.sources)
        torch.testing.assert_close(got.k, want.k)
    dataset.close()
    expected.close()


def test_an_image_one_pixel_off_its_camera_info_trains_as_the_node_runs_it(tmp_path: Path) -> None:
    """image_proc's resize publishes width/height one pixel smaller than the image it makes; the node and the bag
    runner take such a bag (CameraModel.for_image), so training on it must not stop at the first item."""
    rounded = CameraModel(WIDTH, HEIGHT - 1, "plumb_bob", (0.0,) * 5, K, np.eye(3), P)
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), cameras=[rounded])
    dataset = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", frame_offsets=(-1, 1))
    sample = dataset[0]
    assert sample.rgb.shape == (3, HEIGHT, WIDTH) and sample.k.tolist()[0] == [20.0, 0.0, 7.25]
    dataset.close()


def test_a_bag_with_only_the_compressed_topic_is_read_through_its_raw_name(tmp_path: Path) -> None:
    """As ``mono-depth bag``, distillation and the LiDAR export read ``<image_topic>/compressed`` when the bag has
    only that (a robot records compressed images): the default ``data.image_topic`` works without LiDAR too."""
    compressed = write_bag(tmp_path / "c", uniform_stamps(3), compressed=True)
    dataset = RosbagSequenceDataset(compressed, "/cam/image", "/cam/camera_info")
    assert dataset.image_topic == "/cam/image/compressed"
    expected = torch.from_numpy(frame_pixels(1).transpose(2, 0, 1).copy()).float() / 255
    torch.testing.assert_close(dataset[0].rgb, expected)
    with pytest.raises(BagError, match="/cam/other is missing"):
        RosbagSequenceDataset(compressed, "/cam/other", "/cam/camera_info")


def test_a_raw_cameras_black_fill_is_marked_unseen(tmp_path: Path) -> None:
    """A raw camera whose P is wider than K: the undistorted frames have black fill, which ``seen`` marks (the
    photometric loss then ignores it); a rectified image is all seen."""
    wide = camera(d=(-0.2, 0.05, 0.0, 0.0, 0.0), p=P * np.array([[0.6], [0.6], [1.0]]))
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), cameras=[wide])
    expected = wide.seen_mask()
    assert expected is not None and not expected.all()
    sample = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_is_rectified=False)[0]
    assert torch.equal(sample.seen[0], torch.from_numpy(expected))
    rectified = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info")[0]
    assert bool(rectified.seen.all())


def test_a_raw_topic_with_distortion_read_as_rectified_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As the node and the bag runner warn: an ``image_raw``-like topic whose camera_info has distortion, read with
    ``image_is_rectified`` true (the default), trains on distorted pixels as if P described them."""
    distorted = camera(d=(-0.2, 0.05, 0.0, 0.0, 0.0))
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), cameras=[distorted])
    with caplog.at_level("WARNING", logger="mono_depth_ros"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info")
    assert "image_is_rectified=true uses it as the rectified image" in caplog.text
    assert "data.image_is_rectified: false" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mono_depth_ros"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_is_rectified=False)
        RosbagSequenceDataset(write_bag(tmp_path / "plain", uniform_stamps(3)), "/cam/image", "/cam/camera_info")
    assert "image_is_rectified" not in caplog.text


def test_a_rectified_topic_with_distortion_read_as_raw_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As the node and the bag runner warn: an ``image_rect``-like topic (rectified upstream) whose camera_info has
    distortion, read with ``image_is_rectified`` false, is undistorted a second time: the training frames are
    warped by the lens a second time. It went unsaid."""
    distorted = camera(d=(-0.2, 0.05, 0.0, 0.0, 0.0))
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), cameras=[distorted], image_topic="/cam/image_rect")
    with caplog.at_level("WARNING", logger="mono_depth_ros"):
        RosbagSequenceDataset(bag, "/cam/image_rect", "/cam/camera_info", image_is_rectified=False)
    assert "/cam/image_rect names a rectified image but image_is_rectified=false undistorts it again" in caplog.text
    assert "data.image_is_rectified: true" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mono_depth_ros"):
        RosbagSequenceDataset(bag, "/cam/image_rect", "/cam/camera_info")
    assert "image_is_rectified" not in caplog.text


def test_a_raw_cameras_distortion_changing_within_the_bag_is_refused(tmp_path: Path) -> None:
    """Raw images are undistorted with the first camera_info's K + D: another D (same P) later in the bag would be
    undistorted wrongly, so it is refused as a change of P is; a rectified image reads P alone."""
    first, second = camera(d=(-0.2, 0.05, 0.0, 0.0, 0.0)), camera(d=(-0.1, 0.02, 0.0, 0.0, 0.0))
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), cameras=[first, second])
    with pytest.raises(CalibrationError, match="changes within the bag"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_is_rectified=False)
    assert len(RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info")) == 1


@pytest.mark.parametrize("compressed", [False, True])
def test_a_camera_info_without_a_size_trains_with_the_images_size_as_the_node_runs_it(
    tmp_path: Path, compressed: bool
) -> None:
    """camera_info with width = height = 0 and a calibrated K / P: the node and the bag runner take the image's size
    (as depth_image_proc); training stopped at the dataset's construction ('0x0: the calibration has no size')."""
    sizeless = CameraModel(0, 0, "plumb_bob", (-0.1, 0.01, 0.0, 0.0, 0.0), K, np.eye(3), P)
    bag = write_bag(tmp_path / "bag", uniform_stamps(3), compressed=compressed, cameras=[sizeless])
    sized = write_bag(tmp_path / "sized", uniform_stamps(3), compressed=compressed, cameras=[camera(sizeless.d)])
    for rectified in (True, False):
        dataset = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_is_rectified=rectified)
        expected = RosbagSequenceDataset(sized, "/cam/image", "/cam/camera_info", image_is_rectified=rectified)
        assert dataset.intrinsics == expected.intrinsics
        sample, reference = dataset[0], expected[0]
        torch.testing.assert_close(sample.rgb, reference.rgb)
        torch.testing.assert_close(sample.k, reference.k)
        dataset.close()
        expected.close()
    changing = write_bag(tmp_path / "changing", uniform_stamps(3), cameras=[sizeless, camera(sizeless.d)])
    with pytest.raises(CalibrationError, match="changes within the bag"):
        RosbagSequenceDataset(changing, "/cam/image", "/cam/camera_info")


def test_a_topic_recorded_with_several_types_gives_the_frames_of_the_type_the_node_subscribes(tmp_path: Path) -> None:
    """Image and camera_info topics each holding five messages of another type recorded before the three frames (a
    second publisher; bags merged): CompressedImages of other pictures on the image topic, Images on the
    camera_info topic. The node subscribes Image and CameraInfo and never receives the others; the dataset read
    every type (the camera_info topic's Images decoded as calibration, the CompressedImages as frames): now only
    the Images, as ``mono-depth bag`` reads them."""
    from mono_depth_ros.training.data.sample import rgb_tensor
    from test.bag.support import tiny_frame, write_mixed_type_bag

    stamps = write_mixed_type_bag(tmp_path / "mixed", "/camera/image_raw", "sensor_msgs/msg/Image")
    dataset = RosbagSequenceDataset(tmp_path / "mixed", "/camera/image_raw", "/camera/camera_info")
    assert [frame.stamp_ns for frame in dataset.frames] == stamps
    assert len(dataset) == 1
    sample = dataset[0]
    torch.testing.assert_close(sample.rgb, rgb_tensor(tiny_frame(1).rgb))
    torch.testing.assert_close(sample.sources, torch.stack([rgb_tensor(tiny_frame(i).rgb) for i in (0, 2)]))
    dataset.close()


def write_12_bit_bag(path: Path, count: int = 4) -> Path:
    """A 12-bit camera's bag: frame_pixels as rgb16, the sensor's values right-aligned (0..4095), with camera_info."""
    with BagBuilder(path) as bag:
        for index, stamp_ns in enumerate(uniform_stamps(count)):
            header = make_header(bag.factory, stamp_ns, "camera_optical")
            bag.add("/cam/camera_info", camera_info_from_model(bag.factory, camera(), header), stamp_ns + 1000)
            twelve = np.rint(frame_pixels(index).astype(np.float64) * (4095 / 255)).astype(np.uint16)
            bag.add("/cam/image", image_from_array(bag.factory, twelve, "rgb16", header), stamp_ns + 2000)
    return path


def test_a_12_bit_cameras_bag_trains_on_the_pixels_the_node_feeds_with_image_significant_bits(tmp_path: Path) -> None:
    """The node with ``image_significant_bits: 12`` feeds a 12-bit camera's rgb16 frames to the network as 0..255;
    training on the same bag read them with cv_bridge's 255 / 65535: 16x darker than what the model then serves."""
    bag = write_12_bit_bag(tmp_path / "bag")
    twelve = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_significant_bits=12)
    expected = torch.from_numpy(frame_pixels(2).transpose(2, 0, 1).copy()).float() / 255
    torch.testing.assert_close(twelve[1].rgb, expected)  # as the node feeds it
    default = RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info")
    assert float(default[1].rgb.max()) <= 16 / 255  # cv_bridge's scaling: 16x too dark
    with pytest.raises(ConfigError, match=r"image_significant_bits must be in \[8, 16\].*got 17"):
        RosbagSequenceDataset(bag, "/cam/image", "/cam/camera_info", image_significant_bits=17)
