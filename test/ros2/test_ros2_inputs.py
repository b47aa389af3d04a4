"""Inputs as real ROS 2 tools make them: image_transport's republisher (compressed_image_transport) and cv_bridge."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from mono_depth_ros.core import ros_msgs
from test.kitti_bag import CAMERA_FRAME, KittiFrame, kitti_camera_info

from .harness import (
    RELIABLE,
    Launched,
    Probe,
    depth_array,
    node_statuses,
    rclpy_factory,
    ros2_run,
    running,
    wait_until,
    write_params,
)


@pytest.fixture(params=["tiff"])
def republished(request: pytest.FixtureRequest, probe: Probe, ros_logs: Path) -> Iterator[str]:
    """``ros2 run image_transport republish raw compressed`` with ``out.format:=<param>`` (the format it yields):
    /cam/raw → the node's input."""
    image_format = str(request.param)
    with ros2_run("image_transport", "republish", ros_logs / f"republish_{image_format}.log", "raw", "compressed",
                  "--ros-args", "-r", "in:=/cam/raw", "-r", "out/compressed:=/camera/image_raw/compressed",
                  "-p", f"out.format:={image_format}"):  # fmt: skip
        yield image_format


def test_tiff_from_the_real_republisher_gives_the_same_depth_for_rgb8_and_bgr8(
    republished: str, probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """compressed_image_transport's tiff keeps the message's pixel order (``"bgr8; tiff compressed "`` holds BGR):
    the same picture sent as rgb8 and as bgr8 must give the same depth (it was refused as an unknown format)."""
    params = {"image_transport": "compressed", "scale.mode": "fixed", "output.downscale": 4}
    launched = Launched(
        {"device": "cpu", "params_file": str(write_params(ros_logs / "tiff.yaml", params))}, ros_logs / "tiff.log"
    )
    with running(launched):
        launched.wait_ready(probe, topic="/camera/image_raw/compressed")
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        compressed = probe.collect(CompressedImage, "/camera/image_raw/compressed", RELIABLE)
        pub_image = probe.publisher(Image, "/cam/raw", RELIABLE)  # the republisher subscribes reliable
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info", RELIABLE)
        wait_until(lambda: pub_image.get_subscription_count() > 0, 30, "the republisher's subscription")
        wait_until(lambda: probe.node.count_publishers("/camera/image_raw/compressed") > 0, 30, "its publisher")
        time.sleep(1.0)
        frame, factory = kitti_frames[0], probe.factory
        stamps = {}
        for encoding, pixels in (("rgb8", frame.rgb), ("bgr8", np.ascontiguousarray(frame.rgb[..., ::-1]))):
            stamp = probe.now_ns()
            pub_info.publish(kitti_camera_info(factory, frame, stamp))
            header = ros_msgs.make_header(factory, stamp, CAMERA_FRAME)
            pub_image.publish(ros_msgs.image_from_array(factory, pixels, encoding, header))
            stamps[encoding] = stamp
            time.sleep(1.0)
        wait_until(lambda: set(stamps.values()) <= set(depth.by_stamp()), 30, "depth of both frames")
        formats = {stamp: m.format for stamp, m in compressed.by_stamp().items()}
        assert [formats[stamps[e]] for e in ("rgb8", "bgr8")] == ["rgb8; tiff compressed ", "bgr8; tiff compressed "]
        from_rgb, from_bgr = (depth_array(depth.by_stamp()[stamps[e]]) for e in ("rgb8", "bgr8"))
        assert np.isfinite(from_rgb).mean() > 0.5
        np.testing.assert_array_equal(from_rgb, from_bgr)


@pytest.mark.parametrize("republished", ["png", "tiff", "jpeg"], indirect=True)
def test_a_bayer_camera_compressed_by_the_real_republisher_decodes_as_its_raw_image(
    republished: str, probe: Probe, kitti_frames: list[KittiFrame]
) -> None:
    """A bayer_rggb8 image_raw through compressed_image_transport: png and tiff hold the mosaic itself
    (``"bayer_rggb8; png compressed "``), which was decoded as a grey picture; jpeg holds the mosaic converted to
    mono8 by cv_bridge. png and tiff must give the raw image's RGB exactly, jpeg a grey picture."""
    from mono_depth_ros.core.msg_compressed import compressed_image_to_rgb8
    from mono_depth_ros.core.msg_image import image_to_rgb8

    rgb = kitti_frames[0].rgb[100:196, 400:560]
    mosaic = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for (row, col), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), "rggb", strict=True):
        mosaic[row::2, col::2] = rgb[row::2, col::2, "rgb".index(colour)]
    factory = probe.factory
    compressed = probe.collect(CompressedImage, "/camera/image_raw/compressed", RELIABLE)
    pub_image = probe.publisher(Image, "/cam/raw", RELIABLE)
    wait_until(lambda: pub_image.get_subscription_count() > 0, 30, "the republisher's subscription")
    wait_until(lambda: probe.node.count_publishers("/camera/image_raw/compressed") > 0, 30, "its publisher")
    time.sleep(1.0)
    stamp = probe.now_ns()
    raw = ros_msgs.image_from_array(factory, mosaic, "bayer_rggb8", ros_msgs.make_header(factory, stamp, CAMERA_FRAME))
    pub_image.publish(raw)
    wait_until(lambda: stamp in compressed.by_stamp(), 30, "the compressed image")
    message = compressed.by_stamp()[stamp]
    decoded = compressed_image_to_rgb8(message)
    if republished == "jpeg":
        assert message.format == "bayer_rggb8; jpeg compressed mono8"
        assert (decoded[..., 0] == decoded[..., 1]).all() and (decoded[..., 1] == decoded[..., 2]).all()
    else:
        assert message.format == f"bayer_rggb8; {republished} compressed "
        np.testing.assert_array_equal(decoded, image_to_rgb8(raw))
    probe.drop(compressed)


@pytest.mark.parametrize("republished", ["png", "tiff"], indirect=True)
def test_a_depth_camera_compressed_by_the_real_republisher_is_refused_as_its_raw_image(
    republished: str, probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A depth camera's 16UC1 image (a KITTI frame's Velodyne depth, millimetres) through compressed_image_transport
    into the node (``image_transport: compressed``): png and tiff keep its millimetres (``"16UC1; png compressed "``),
    which were decoded as a grey camera picture and published as depth; the node refuses it now as the raw 16UC1
    Image is (no camera picture: image_topic names a depth topic), counted in ``bad_messages.EncodingError``."""
    from diagnostic_msgs.msg import DiagnosticArray

    from mono_depth_ros.core.errors import EncodingError
    from mono_depth_ros.core.msg_compressed import compressed_image_to_array
    from mono_depth_ros.core.msg_image import image_to_rgb8

    frame, factory = kitti_frames[0], probe.factory
    depth_mm = np.nan_to_num(frame.lidar_depth_m * 1000.0, nan=0.0).astype(np.uint16)
    assert np.count_nonzero(depth_mm) > 10_000
    params = {
        "image_transport": "compressed",
        "scale.mode": "fixed",
        "output.downscale": 4,
        "diagnostics.period_s": 0.25,
    }
    name = f"depth_{republished}"
    launched = Launched(
        {"device": "cpu", "params_file": str(write_params(ros_logs / f"{name}.yaml", params))}, ros_logs / f"{name}.log"
    )
    with running(launched):
        launched.wait_ready(probe, topic="/camera/image_raw/compressed")
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        compressed = probe.collect(CompressedImage, "/camera/image_raw/compressed", RELIABLE)
        pub_image = probe.publisher(Image, "/cam/raw", RELIABLE)
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info", RELIABLE)
        wait_until(lambda: pub_image.get_subscription_count() > 0, 30, "the republisher's subscription")
        wait_until(lambda: probe.node.count_publishers("/camera/image_raw/compressed") > 0, 30, "its publisher")
        time.sleep(1.0)
        stamp = probe.now_ns()
        pub_info.publish(kitti_camera_info(factory, frame, stamp))
        raw = ros_msgs.image_from_array(factory, depth_mm, "16UC1", ros_msgs.make_header(factory, stamp, CAMERA_FRAME))
        pub_image.publish(raw)
        wait_until(lambda: stamp in compressed.by_stamp(), 30, "the compressed image")
        message = compressed.by_stamp()[stamp]
        assert message.format == f"16UC1; {republished} compressed "
        np.testing.assert_array_equal(compressed_image_to_array(message), depth_mm)  # the millimetres, unchanged

        def refused() -> bool:
            return any(s.get("bad_messages.EncodingError") == "1" for s in node_statuses(diagnostics.messages))

        wait_until(refused, 30, "the compressed depth image counted in bad_messages.EncodingError")
        status = node_statuses(diagnostics.messages)[-1]
        assert status["frames_published"] == "0" and depth.count() == 0, status
        refusal = r"'16UC1' is not a colour encoding: a depth image; set image_topic"
        launched.said(re.compile(refusal))
        with pytest.raises(EncodingError, match=refusal):
            image_to_rgb8(raw)  # as the raw depth image is
    for collector in (compressed, depth, diagnostics):
        probe.drop(collector)


def test_a_camera_info_published_once_transient_local_before_the_node_started_is_used(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A driver that publishes its camera_info once, latched (``rclcpp::QoS(1).transient_local()``, as OAK-D and
    RealSense streamers do), before the node started: with ``sync.mode: latest`` the node's volatile subscription
    never received it and every image was counted no_camera_info for ever. It reads the stored camera_info now."""
    frame, factory = kitti_frames[0], probe.factory
    latched = probe.publisher(
        CameraInfo, "/camera/camera_info", QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    )
    latched.publish(kitti_camera_info(factory, frame, probe.now_ns()))  # once, before the node
    params = {"sync.mode": "latest", "scale.mode": "fixed", "output.downscale": 4}
    launched = Launched(
        {"device": "cpu", "params_file": str(write_params(ros_logs / "latched.yaml", params))}, ros_logs / "latched.log"
    )
    try:
        launched.wait_ready(probe)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        pub_image = probe.publisher(Image, "/camera/image_raw", RELIABLE)
        wait_until(lambda: pub_image.get_subscription_count() > 0, 30, "the node's image subscription")
        deadline = time.monotonic() + 20.0
        while not depth.by_stamp() and time.monotonic() < deadline:
            header = ros_msgs.make_header(factory, probe.now_ns(), CAMERA_FRAME)
            pub_image.publish(ros_msgs.image_from_array(factory, frame.rgb, "rgb8", header))
            time.sleep(0.5)
        assert depth.by_stamp(), "no depth: the latched camera_info never reached the node\n" + launched.log[-3000:]
    finally:
        probe.node.destroy_publisher(latched)  # the tests after this one: no stored camera_info
        assert launched.stop() == 0, launched.log[-3000:]


def test_a_camera_info_without_a_size_gives_depth_of_the_images_size(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A driver whose camera_info has width = height = 0 and a calibrated K / P (depth_image_proc makes its cloud from
    it with the image's size): every frame was counted a CalibrationError; the node now publishes the depth and a
    depth/camera_info of the image's size."""
    frame, factory = kitti_frames[0], probe.factory
    params = {"scale.mode": "fixed", "output.downscale": 4}
    launched = Launched(
        {"device": "cpu", "params_file": str(write_params(ros_logs / "sizeless.yaml", params))},
        ros_logs / "sizeless.log",
    )
    with running(launched):
        launched.wait_ready(probe)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        depth_info = probe.collect(CameraInfo, "/depth/camera_info", RELIABLE)
        pub_image = probe.publisher(Image, "/camera/image_raw", RELIABLE)
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info", RELIABLE)
        wait_until(lambda: pub_image.get_subscription_count() > 0, 30, "the node's image subscription")
        deadline = time.monotonic() + 20.0
        while not depth_info.by_stamp() and time.monotonic() < deadline:
            stamp = probe.now_ns()
            info = kitti_camera_info(factory, frame, stamp)
            info.width, info.height = 0, 0
            pub_info.publish(info)
            header = ros_msgs.make_header(factory, stamp, CAMERA_FRAME)
            pub_image.publish(ros_msgs.image_from_array(factory, frame.rgb, "rgb8", header))
            time.sleep(0.5)
        assert depth_info.by_stamp(), "no depth for a camera_info without a size\n" + launched.log[-3000:]
        stamp, published = next(iter(depth_info.by_stamp().items()))
        height, width = frame.rgb.shape[:2]
        assert (published.width, published.height) == (width // 4, height // 4)
        wait_until(lambda: stamp in depth.by_stamp(), 10, "the depth image of that frame")
        assert depth_array(depth.by_stamp()[stamp]).shape == (height // 4, width // 4)
        probe.drop(depth)
        probe.drop(depth_info)
        for publisher in (pub_image, pub_info):
            probe.node.destroy_publisher(publisher)  # the tests after this one: no stray camera_info publisher


def test_every_colour_encoding_reads_as_cv_bridge_reads_it() -> None:
    """``image_to_rgb8`` against cv_bridge's ``imgmsg_to_cv2(msg, "rgb8")`` (the reference ROS 2 image nodes use) for
    every colour encoding we take, with row padding and both byte orders (yuv422 from UVC webcams, 16-bit Bayer from
    industrial cameras were refused). The padding is a whole number of pixels: cv_bridge's Python reader mis-reads
    any other."""
    from cv_bridge import CvBridge

    from mono_depth_ros.core.msg_image import COLOUR_ENCODINGS, JAZZY_YUV422_NAMES, NV_ENCODINGS, image_to_rgb8

    bridge, rng = CvBridge(), np.random.default_rng(7)
    height, width = 6, 8
    bayer = [f"bayer_{pattern}{bits}" for bits in (8, 16) for pattern in ("rggb", "bggr", "gbrg", "grbg")]
    colour = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "rgb16", "bgr16", "rgba16", "bgra16"]
    converted_by_cv_bridge = [*colour, *bayer, "yuv422", "yuv422_yuy2"]  # Humble's cv_bridge refuses nv21 and nv24
    for encoding in converted_by_cv_bridge:
        mono, yuv, alpha = encoding.startswith(("mono", "bayer")), encoding.startswith("yuv"), encoding[3:4] == "a"
        channels = 1 if mono else 2 if yuv else 4 if alpha else 3
        code = "u2" if encoding.endswith("16") else "u1"
        for pad_bytes, big_endian in ((0, False), (24, False), (24, True)):
            dtype = np.dtype((">" if big_endian else "<") + code)
            pixels = rng.integers(0, np.iinfo(dtype).max, (height, width, channels), endpoint=True).astype(dtype)
            rows = np.concatenate(
                [pixels.reshape(height, -1).view(np.uint8), np.zeros((height, pad_bytes), np.uint8)], 1
            )
            msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian), step=rows.shape[1])
            msg.data = rows.tobytes()
            expected = bridge.imgmsg_to_cv2(msg, "rgb8")
            np.testing.assert_array_equal(image_to_rgb8(msg), expected, err_msg=f"{encoding} {pad_bytes} {big_endian}")
            for jazzy_name in (new for new, old in JAZZY_YUV422_NAMES.items() if old == encoding):
                msg.encoding = jazzy_name  # Jazzy's name of the same pixels (Humble's cv_bridge does not know it)
                np.testing.assert_array_equal(image_to_rgb8(msg), expected, err_msg=f"{jazzy_name} {pad_bytes}")
    # a new one: compare it here too (nv12 / nv21: against OpenCV's I420 decoding in test/core/test_msg_image.py)
    assert sorted(set(COLOUR_ENCODINGS) - set(JAZZY_YUV422_NAMES) - set(NV_ENCODINGS)) == sorted(converted_by_cv_bridge)


def test_real_message_filters_pair_every_pass_of_a_looped_bag() -> None:
    """Humble's message_filters ApproximateTimeSynchronizer behind our SyncWatch, fed as ``ros2 bag play --loop``
    feeds the node: the first pass ends with 10 camera_infos whose images were dropped. They stayed in the
    synchroniser's queue and evicted every camera_info of the later passes on arrival (seen live: 20 depth images
    in the first pass, none after; the frames were counted as ``unsynced``)."""
    import message_filters
    from std_msgs.msg import Header

    from mono_depth_ros.adapters.sync_watch import SyncWatch
    from mono_depth_ros.depth_config import DepthConfig

    config = DepthConfig.from_params({})
    sources = [message_filters.SimpleFilter(), message_filters.SimpleFilter()]  # image, camera_info
    lost: list[tuple[str, str]] = []
    watch = SyncWatch.attach(sources, config, lambda: None, lambda *a: lost.append(a))
    sync = watch.follow(message_filters.ApproximateTimeSynchronizer(watch.outputs, config.sync.queue_size, 0.05))
    paired: list[int] = []

    def on_synced(image: Image, info: CameraInfo) -> None:  # as the node's
        watch.paired(image)
        paired.append(ros_msgs.stamp_to_ns(image.header.stamp))

    sync.registerCallback(on_synced)

    def header(index: int) -> Header:
        stamped = Header(frame_id=CAMERA_FRAME)
        stamped.stamp.sec, stamped.stamp.nanosec = 1_700_000_000 + index // 10, index % 10 * 100_000_000
        return stamped

    for loop in range(3):
        paired.clear()
        for index in range(30):
            sources[1].signalMessage(CameraInfo(header=header(index)))
            if loop > 0 or index < 20:
                sources[0].signalMessage(Image(header=header(index)))
        assert len(paired) == (20 if loop == 0 else 30), f"pass {loop}: {len(paired)} frames paired"
    assert lost == []


def test_real_message_filters_pair_equal_stamps_with_the_nodes_slop_for_zero() -> None:
    """Humble's ApproximateTimeSynchronizer pairs stamps closer than its slop, strictly: given sync.slop_s 0 it paired
    nothing, not even equal stamps (the node published nothing, the bag runner paired them). The node gives it
    synchroniser_slop_s(0): equal stamps pair, 1 ns apart do not."""
    import message_filters
    from std_msgs.msg import Header

    from mono_depth_ros.adapters.sync_watch import synchroniser_slop_s

    def pairs(slop_s: float) -> list[int]:
        sources = [message_filters.SimpleFilter(), message_filters.SimpleFilter()]  # image, camera_info
        sync = message_filters.ApproximateTimeSynchronizer(sources, 10, slop_s)
        paired: list[int] = []
        sync.registerCallback(lambda image, info: paired.append(ros_msgs.stamp_to_ns(image.header.stamp)))
        for index, info_offset_ns in enumerate([0, 1, 0]):
            image, info = Header(frame_id=CAMERA_FRAME), Header(frame_id=CAMERA_FRAME)
            image.stamp.sec = info.stamp.sec = 1_700_000_000 + index
            info.stamp.nanosec = info_offset_ns
            sources[1].signalMessage(CameraInfo(header=info))
            sources[0].signalMessage(Image(header=image))
        return paired

    assert pairs(0.0) == []  # what the node gave it
    assert pairs(synchroniser_slop_s(0.0)) == [1_700_000_000 * 10**9, 1_700_000_002 * 10**9]


def test_real_message_filters_keep_one_of_two_images_with_equal_stamps_as_the_bag_plan_does() -> None:
    """Humble's ApproximateTimeSynchronizer behind our SyncWatch, given two images with one stamp: recorded before
    the camera_info the second replaces the first in its queue (the first counted ``no_camera_info``), recorded after
    the pair fired the second waits for a camera_info that never comes (``unsynced``). ``bag.plan`` keeps the same
    one and skips the other under the same key (test/test_node.py's comparison runs the stand-in synchroniser).
    Republished with its camera_info, the second image completes a second set and is published too."""
    import message_filters
    from std_msgs.msg import Header

    from mono_depth_ros.adapters.sync_watch import SyncWatch
    from mono_depth_ros.depth_config import DepthConfig

    config = DepthConfig.from_params({})

    def feed(order: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """The images paired (by frame_id) and the reasons counted lost."""
        sources = [message_filters.SimpleFilter(), message_filters.SimpleFilter()]  # image, camera_info
        lost: list[str] = []
        watch = SyncWatch.attach(sources, config, lambda: None, lambda why, text: lost.append(why))
        clock = [0]
        watch._clock_ns = lambda: clock[0]
        sync = watch.follow(message_filters.ApproximateTimeSynchronizer(watch.outputs, config.sync.queue_size, 0.05))
        paired: list[str] = []

        def on_synced(image: Image, info: CameraInfo) -> None:  # as the node's
            watch.paired(image)
            paired.append(image.header.frame_id)

        sync.registerCallback(on_synced)
        for name in order:
            stamped = Header(frame_id=name)
            stamped.stamp.sec = 1_700_000_000
            if name == "info":
                sources[1].signalMessage(CameraInfo(header=stamped))
            else:
                sources[0].signalMessage(Image(header=stamped))
        clock[0] = 10**12  # long after the give-up
        watch.poll()
        return paired, lost

    assert feed(("first", "info", "second")) == (["first"], ["unsynced"])
    assert feed(("first", "second", "info")) == (["second"], ["no_camera_info"])
    assert feed(("first", "info", "second", "info")) == (["first", "second"], [])  # republished with its camera_info


def test_a_looped_bags_tf_is_looked_up_again_through_real_tf2() -> None:
    """rclpy's tf2 buffer as the node's TransformListener fills it from a bag played with ``--loop``: 16 s of /tf,
    then the bag starts again. tf2 ignores the new pass as TF_OLD_DATA (seen: the lookup fails); the node's buffer
    forgets the moving transforms when time goes back, and keeps the static ones."""
    from geometry_msgs.msg import TransformStamped
    from rclpy.time import Time
    from tf2_ros import Buffer, ExtrapolationException

    from mono_depth_ros.adapters.tf_time_jump import ClearedOnJumpBack

    def transform(parent: str, child: str, seconds: int, x: float) -> TransformStamped:
        stamped = TransformStamped()
        stamped.header.frame_id, stamped.child_frame_id = parent, child
        stamped.header.stamp.sec = 1_700_000_000 + seconds
        stamped.transform.translation.x, stamped.transform.rotation.w = x, 1.0
        return stamped

    plain, ours = Buffer(), ClearedOnJumpBack(Buffer())
    for buffer in (plain, ours):
        buffer.set_transform_static(transform(CAMERA_FRAME, "velodyne", 0, 0.3), "bag")
        for loop, seconds in enumerate((16, 4)):  # the whole first pass, then the second one's first 4 s
            for second in range(seconds):
                buffer.set_transform(transform("odom", CAMERA_FRAME, second, float(second + loop)), "bag")
    at = Time(seconds=1_700_000_002)
    with pytest.raises(ExtrapolationException):
        plain.lookup_transform("odom", CAMERA_FRAME, at)
    assert ours.lookup_transform("odom", CAMERA_FRAME, at).transform.translation.x == 3.0  # the second pass's
    assert ours.lookup_transform(CAMERA_FRAME, "velodyne", at).transform.translation.x == 0.3
    assert ours.clears == 1


def send_odometry(buffer: Any, stamp_ns: int, start_ns: int) -> None:
    """odom -> camera into a tf2 buffer at ``stamp_ns``: a camera driving 2 m/s along odom x from ``start_ns``."""
    from geometry_msgs.msg import TransformStamped

    stamped = TransformStamped()
    stamped.header.frame_id, stamped.child_frame_id = "odom", CAMERA_FRAME
    stamped.header.stamp.sec, stamped.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    stamped.transform.translation.x, stamped.transform.rotation.w = 2.0 * (stamp_ns - start_ns) / 1e9, 1.0
    buffer.set_transform(stamped, "odometry")


def test_real_tf2_lagging_behind_every_image_gives_extrapolated_camera_poses() -> None:
    """The temporal filter's poses through rclpy's tf2 buffer when /tf always ends 20 ms before the image: the lookup
    at the image stamp raises ExtrapolationException every time (seen: no pose, ever); the newest poses tf2 holds
    (time 0) are extrapolated instead, so each frame has a pose."""
    from tf2_ros import Buffer, TransformException

    from mono_depth_ros.adapters.motion import tf2_camera_poses
    from mono_depth_ros.depth_config import DepthConfig

    buffer = Buffer()

    start_ns = 1_700_000_000 * 10**9
    config = DepthConfig.from_params({"temporal.enabled": True}).temporal
    poses = tf2_camera_poses(config, buffer, rclpy_factory(), (TransformException,))
    assert poses is not None
    xs = []
    for k in range(10):  # TF at 100 Hz up to 20 ms before each 30 Hz image
        image_ns = start_ns + 200_000_000 + k * 33_000_000
        for tf_ns in range(start_ns + k * 33_000_000, image_ns - 20_000_000 + 1, 10_000_000):
            send_odometry(buffer, tf_ns, start_ns)
        pose = poses.pose(CAMERA_FRAME, image_ns)
        assert pose is not None, f"frame {k}: no pose"
        xs.append(pose.translation[0])
    np.testing.assert_allclose(xs, [2.0 * (0.2 + k * 0.033) for k in range(10)], atol=1e-6)
    assert poses.extrapolated == 10


def test_real_tf2_lagging_behind_every_image_or_pausing_holds_the_newest_ground_pose() -> None:
    """``scale.ground_frame`` through rclpy's tf2 buffer when a pan-tilt joint's /tf (base_footprint <- camera, at
    100 Hz) always ends 20 ms before the 30 Hz image: the lookup at the image stamp raises ExtrapolationException
    every time (seen: every frame's ground prior was the parameters', counted ``ground_frame.no_transform``). TF's
    newest pose is used instead: 20 ms old, unreported (a steady lag; each frame was ``ground_frame.held``, a WARN in
    /diagnostics forever), held and reported through a 1 s pause of /tf; 2 s after its newest pose the parameters'
    prior is used again."""
    import math

    import transforms3d.quaternions as tq
    from geometry_msgs.msg import TransformStamped
    from tf2_ros import Buffer, TransformException

    from mono_depth_ros.adapters.ground_tf import HOLD_NS, LAG_NS, tf2_frame_poses
    from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
    from mono_depth_ros.core.synthetic import SensorRig
    from mono_depth_ros.depth_config import DepthConfig
    from mono_depth_ros.pipeline import FrameInput

    buffer, factory = Buffer(), rclpy_factory()
    rig = SensorRig(camera_height_m=0.8, camera_pitch_rad=math.radians(12.0))  # the tilt joint, 12° down
    qw, qx, qy, qz = (float(v) for v in tq.mat2quat(rig.base_from_cam.rotation))

    def send_joint(stamp_ns: int) -> None:
        stamped = TransformStamped()
        stamped.header.frame_id, stamped.child_frame_id = "base_footprint", CAMERA_FRAME
        stamped.header.stamp.sec, stamped.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        stamped.transform.translation.z = 0.8
        rotation = stamped.transform.rotation
        rotation.x, rotation.y, rotation.z, rotation.w = qx, qy, qz, qw
        buffer.set_transform(stamped, "joint_state_publisher")

    logged, counted = list[str](), list[str]()
    config = DepthConfig.from_params({"scale.ground_frame": "base_footprint"})
    poses = tf2_frame_poses(config, buffer, factory, (TransformException,), logged.append, counted.append)
    camera = CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4))
    start_ns, period_ns = 1_700_000_000 * 10**9, 33_000_000
    pitches: dict[int, float | None] = {}
    expected: list[str] = []  # held while TF's newest pose is within 2 s of the image
    newest_ns = 0
    for k in range(140):  # 4.6 s of images; /tf 20 ms behind each, silent from 1.0 to 2.0 s and after 2.3 s
        image_ns = start_ns + 200_000_000 + k * period_ns
        paused = 1.0 <= (image_ns - start_ns) / 1e9 <= 2.0 or (image_ns - start_ns) / 1e9 > 2.3
        if not paused:
            for tf_ns in range(image_ns - period_ns - 20_000_000, image_ns - 20_000_000 + 1, 10_000_000):
                send_joint(tf_ns)
                newest_ns = tf_ns
        age_ns = image_ns - newest_ns  # up to 0.2 s: TF's answer (a lag), unreported; to 2 s held; then none
        expected.append(
            "lag" if age_ns <= LAG_NS else "ground_frame.held" if age_ns <= HOLD_NS else "ground_frame.no_transform"
        )
        frame = FrameInput(image_ns, CAMERA_FRAME, np.zeros((4, 6, 3), np.uint8), camera)
        pose = poses.add_to(frame, config.scale).ground_pose
        pitches[k] = None if pose is None else math.degrees(pose.pitch_rad)
        if pose is not None:
            assert pose.height_m == pytest.approx(0.8), (k, pose)
    reported = [reason for reason in expected if reason != "lag"]
    assert counted == reported and 0 < reported.count("ground_frame.no_transform") < 40, (counted, expected)
    assert expected.count("lag") > 30 and reported.count("ground_frame.held") > 10, expected
    for k, reason in enumerate(expected):  # TF's pose (12° down), or the parameters' (None)
        assert (pitches[k] is None) if reason.endswith("no_transform") else pitches[k] == pytest.approx(12.0), k
    assert len(logged) == 2 and "for up to 2 s" in logged[0] and "TF's last pose is" in logged[1], logged


def test_real_tf2_lagging_behind_a_turning_tilt_joint_follows_it() -> None:
    """``scale.ground_frame`` through rclpy's tf2 buffer with a tilt joint turning at 30°/s and its /tf (100 Hz)
    always ending 20 ms before the 30 Hz image: TF's newest pose was held, 0.6-0.9° behind the camera's pitch at
    every image (8-14 % of the scale per degree). Now extrapolated from tf2's two newest poses as the temporal filter's
    camera poses are: the pitch at the image stamp, unreported."""
    import math

    import transforms3d.quaternions as tq
    from geometry_msgs.msg import TransformStamped
    from tf2_ros import Buffer, TransformException

    from mono_depth_ros.adapters.ground_tf import tf2_frame_poses
    from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
    from mono_depth_ros.core.synthetic import SensorRig
    from mono_depth_ros.depth_config import DepthConfig
    from mono_depth_ros.pipeline import FrameInput

    buffer, factory = Buffer(), rclpy_factory()
    start_ns, period_ns = 1_700_000_000 * 10**9, 33_000_000

    def pitch_deg(stamp_ns: int) -> float:  # the tilt joint: 5° down at the start, 30°/s further down
        return 5.0 + 30.0 * (stamp_ns - start_ns) / 1e9

    def send_joint(stamp_ns: int) -> None:
        rig = SensorRig(camera_height_m=0.8, camera_pitch_rad=math.radians(pitch_deg(stamp_ns)))
        qw, qx, qy, qz = (float(v) for v in tq.mat2quat(rig.base_from_cam.rotation))
        stamped = TransformStamped()
        stamped.header.frame_id, stamped.child_frame_id = "base_footprint", CAMERA_FRAME
        stamped.header.stamp.sec, stamped.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        stamped.transform.translation.z = 0.8
        rotation = stamped.transform.rotation
        rotation.x, rotation.y, rotation.z, rotation.w = qx, qy, qz, qw
        buffer.set_transform(stamped, "robot_state_publisher")

    logged, counted = list[str](), list[str]()
    config = DepthConfig.from_params({"scale.ground_frame": "base_footprint"})
    poses = tf2_frame_poses(config, buffer, factory, (TransformException,), logged.append, counted.append)
    camera = CameraModel.from_intrinsics(PinholeIntrinsics(5.0, 5.0, 3.0, 2.0, 6, 4))
    sent_ns, off_deg = start_ns, []
    for k in range(20):  # 0.66 s of images: 20° of tilt
        image_ns = start_ns + 100_000_000 + k * period_ns
        for tf_ns in range(sent_ns, image_ns - 20_000_000 + 1, 10_000_000):
            send_joint(tf_ns)
            sent_ns = tf_ns + 10_000_000
        pose = poses.add_to(FrameInput(image_ns, CAMERA_FRAME, np.zeros((4, 6, 3), np.uint8), camera), config.scale)
        assert pose.ground_pose is not None and pose.ground_pose.height_m == pytest.approx(0.8), k
        off_deg.append(math.degrees(pose.ground_pose.pitch_rad) - pitch_deg(image_ns))
    assert max(abs(off) for off in off_deg) < 0.01, off_deg  # held: -0.6 to -0.87° (TF's samples end 20-29 ms before)
    assert not counted and not logged, (counted, logged)  # a 20 ms lag: TF's answer, unreported


def test_real_tf2_lagging_behind_every_image_gives_poses_again_in_each_pass_of_a_looped_bag() -> None:
    """As above, through the node's buffer (cleared when /tf goes back), for two passes of a 2 s recording
    (``ros2 bag play --loop``): the poses kept from the end of the first pass were newer than anything tf2 held in
    the second, so its newest never replaced them (seen: no pose for any frame of the second pass)."""
    from tf2_ros import Buffer, TransformException

    from mono_depth_ros.adapters.motion import tf2_camera_poses
    from mono_depth_ros.adapters.tf_time_jump import ClearedOnJumpBack
    from mono_depth_ros.depth_config import DepthConfig

    buffer = ClearedOnJumpBack(Buffer())
    start_ns = 1_700_000_000 * 10**9

    config = DepthConfig.from_params({"temporal.enabled": True}).temporal
    poses = tf2_camera_poses(config, buffer, rclpy_factory(), (TransformException,))
    assert poses is not None
    missing = []
    for loop in range(2):
        sent_ns = start_ns
        for k in range(60):  # TF at 100 Hz up to 20 ms before each 30 Hz image
            image_ns = start_ns + 200_000_000 + k * 33_000_000
            for tf_ns in range(sent_ns, image_ns - 20_000_000 + 1, 10_000_000):
                send_odometry(buffer, tf_ns, start_ns)
                sent_ns = tf_ns + 10_000_000
            pose = poses.pose(CAMERA_FRAME, image_ns)
            if pose is None or abs(pose.translation[0] - 2.0 * (image_ns - start_ns) / 1e9) > 1e-6:
                missing.append((loop, k))
    assert missing == [] and buffer.clears == 1, missing[:5]


def test_real_tf2_de_skews_an_ouster_sweep_slice_by_slice(kitti_frames: list[KittiFrame]) -> None:
    """The node's LiDAR path (adapters.lidar.lidar_scan_from_tf) through rclpy's tf2 buffer with lidar.motion_frame:
    an ouster-ros sweep (``t`` after a stamp at the sweep's start) on a car at 10 m/s, /tf ending 20 ms after the
    image (tf2 raises ExtrapolationException for the sweep's last slices: they take the newest placed one's). The
    in-view points land where the camera sees them at the image stamp; moved from the header stamp alone they were
    0.5 m off (the same scan 3-4 % short)."""
    from geometry_msgs.msg import TransformStamped
    from rclpy.duration import Duration
    from tf2_ros import Buffer

    from mono_depth_ros.adapters.lidar import lidar_scan_from_tf, tf_ready
    from mono_depth_ros.adapters.messages import decode_scan
    from mono_depth_ros.core.scale.lidar import LidarScan, project_scan
    from test.kitti_bag import LIDAR_FRAME
    from test.lidar_sweep import skewed_sweep, sweep_cloud

    frame, factory, buffer = kitti_frames[0], rclpy_factory(), Buffer()
    image_ns = 1_700_000_000 * 10**9
    calib = TransformStamped()
    calib.header.frame_id, calib.child_frame_id = CAMERA_FRAME, LIDAR_FRAME
    t, q = frame.cam_from_velo.translation, frame.cam_from_velo.quaternion_xyzw
    calib.transform.translation.x, calib.transform.translation.y, calib.transform.translation.z = map(float, t)
    r = calib.transform.rotation
    r.x, r.y, r.z, r.w = map(float, q)
    buffer.set_transform_static(calib, "calib")
    for tf_ns in range(image_ns - 200_000_000, image_ns + 20_000_001, 10_000_000):  # odom <- camera, 100 Hz
        stamped = TransformStamped()
        stamped.header.frame_id, stamped.child_frame_id = "odom", CAMERA_FRAME
        stamped.header.stamp.sec, stamped.header.stamp.nanosec = divmod(tf_ns, 10**9)
        stamped.transform.translation.z, stamped.transform.rotation.w = 10.0 * (tf_ns - image_ns) / 1e9, 1.0
        buffer.set_transform(stamped, "odometry")
    scan = decode_scan(sweep_cloud(factory, skewed_sweep(frame, image_ns, 10.0, "start"), "ouster", LIDAR_FRAME))

    def depth_error(placed: LidarScan) -> float:
        sparse = project_scan(placed, frame.intrinsics)
        truth = frame.lidar_depth_m[sparse.v, sparse.u]
        seen = np.isfinite(truth)
        return float(np.median(sparse.depth_m[seen] / truth[seen] - 1.0))

    deskewed = lidar_scan_from_tf(buffer, factory, CAMERA_FRAME, image_ns, scan, "odom", Duration())
    assert abs(depth_error(deskewed)) < 0.001
    assert abs(deskewed.sweep_ns - image_ns) < 1_000_000  # the sweep's middle: the image's stamp
    untimed = type(scan)(scan.points_in_lidar, scan.frame_id, scan.stamp_ns)  # what the node did before
    assert depth_error(lidar_scan_from_tf(buffer, factory, CAMERA_FRAME, image_ns, untimed, "odom", Duration())) < -0.03
    # the LiDAR's mounting through real tf2 (camera <- LiDAR at the scan stamp, the car's motion excluded), and after
    # a recalibration republished on /tf_static (30 cm) the new one: LidarScan.mount, what restarts the LiDAR scale
    assert deskewed.mount is not None
    np.testing.assert_allclose(deskewed.mount.matrix, frame.cam_from_velo.matrix, atol=1e-6)
    calib.transform.translation.y = float(t[1]) + 0.3
    buffer.set_transform_static(calib, "calib")
    recalibrated = lidar_scan_from_tf(buffer, factory, CAMERA_FRAME, image_ns, scan, "odom", Duration()).mount
    assert recalibrated is not None
    np.testing.assert_allclose(recalibrated.translation - frame.cam_from_velo.translation, [0.0, 0.3, 0.0], atol=1e-6)
    calib.transform.translation.y = float(t[1])
    buffer.set_transform_static(calib, "calib")

    # the pairing holds the frame until tf2 reaches the sweep's end too (paired by its middle: the image's stamp)
    cloud = sweep_cloud(factory, skewed_sweep(frame, image_ns, 10.0, "start"), "ouster", LIDAR_FRAME)
    image = ros_msgs.make_header(factory, image_ns, CAMERA_FRAME)
    ready = tf_ready(buffer, "odom", lambda item: image)
    assert not ready(None, (image_ns, cloud))  # /tf ends 20 ms after the image, the sweep 50 ms after
    for tf_ns in range(image_ns + 30_000_000, image_ns + 60_000_001, 10_000_000):
        stamped = TransformStamped()
        stamped.header.frame_id, stamped.child_frame_id = "odom", CAMERA_FRAME
        stamped.header.stamp.sec, stamped.header.stamp.nanosec = divmod(tf_ns, 10**9)
        stamped.transform.translation.z, stamped.transform.rotation.w = 10.0 * (tf_ns - image_ns) / 1e9, 1.0
        buffer.set_transform(stamped, "odometry")
    assert ready(None, (image_ns, cloud))
