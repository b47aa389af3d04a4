"""Messages ⇄ pipeline (node and bag runner): input decoding and output messages."""

from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.adapters.messages import (
    DEPTH_CAMERA_INFO_TOPIC,
    DEPTH_IMAGE_TOPIC,
    DEPTH_POINTS_TOPIC,
    decode_image,
    decode_prediction,
    decode_scan,
    frame_input,
    output_messages,
    sweep_middle_offset_ns,
)
from mono_depth_ros.bag.reader import typestore_for
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.cloud import organized_cloud
from mono_depth_ros.core.depth_codec import encode_depth
from mono_depth_ros.core.errors import EncodingError, ShapeError, TransformError
from mono_depth_ros.core.ros_msgs import (
    MessageFactory,
    compressed_image_from_array,
    depth_image_from_metres,
    image_from_array,
    make_header,
)
from mono_depth_ros.pipeline import FrameOutput, ScaleStatus
from test.bag.support import INTRINSICS, tiny_frame
from test.kitti_bag import velodyne_cloud

TYPESTORE = typestore_for("humble")
FACTORY = MessageFactory.for_rosbags(TYPESTORE)
HEADER = make_header(FACTORY, 1_700_000_000_000_000_001, "camera_optical")


def _round_trip(message: object, msgtype: str) -> object:
    return TYPESTORE.deserialize_cdr(TYPESTORE.serialize_cdr(message, msgtype), msgtype)


def test_decode_image_any_colour_order_and_compressed() -> None:
    rgb = tiny_frame(0).rgb
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for pixels, encoding in ((rgb, "rgb8"), (bgr, "bgr8")):
        message = _round_trip(image_from_array(FACTORY, pixels, encoding, HEADER), "sensor_msgs/msg/Image")
        np.testing.assert_array_equal(decode_image(message, "sensor_msgs/msg/Image"), rgb)
    compressed = compressed_image_from_array(FACTORY, rgb, HEADER, codec="png")
    np.testing.assert_array_equal(decode_image(compressed, "sensor_msgs/msg/CompressedImage"), rgb)


def test_decode_scan_drops_invalid_points() -> None:
    scan = tiny_frame(0).scan.copy()
    scan[0, :3] = np.nan
    scan[1, :3] = 0.0
    message = _round_trip(velodyne_cloud(FACTORY, scan, 5, "lidar"), "sensor_msgs/msg/PointCloud2")
    decoded = decode_scan(message)
    assert (decoded.frame_id, decoded.stamp_ns) == ("lidar", 5)
    np.testing.assert_array_equal(decoded.points_in_lidar, scan[2:, :3])


def _organized(dtype: np.dtype, time_field: str, times: np.ndarray, returns: np.ndarray, invalid: float) -> object:
    """A one-row cloud of ``dtype`` whose points in ``returns`` are at 1..N m ahead, the others ``invalid`` (a
    no-return: 0 or NaN), each with its time in ``time_field``, as its driver publishes it."""
    from test.core.test_msg_pointcloud2 import wire_cloud

    points = np.zeros(times.size, dtype=dtype)
    points["x"] = np.where(returns, np.arange(1, times.size + 1, dtype=np.float32), invalid)
    points["y"] = points["z"] = np.where(returns, 0.0, invalid)
    points[time_field] = times
    return wire_cloud(FACTORY, points, 1, times.size)


def _laser(ranges: np.ndarray) -> object:
    return FACTORY.new(
        "sensor_msgs/msg/LaserScan", header=make_header(FACTORY, 5, "laser"), angle_min=-np.pi, angle_max=np.pi,
        angle_increment=2 * np.pi / ranges.size, time_increment=0.1 / ranges.size, scan_time=0.1, range_min=0.1,
        range_max=30.0, ranges=ranges.astype(np.float32), intensities=np.zeros(0, np.float32),
    )  # fmt: skip


def _sweep_layouts() -> list[tuple[str, object, str]]:
    """(name, message, type) of sweeps whose no-return points lie at one end of the sweep."""
    from test.adapters.test_scan_layouts import _ouster, _velodyne

    columns = np.arange(1024)
    ouster_t = (columns * 100_000_000 // 1024).astype(np.uint32)  # ns after the stamp (the sweep's start)
    velodyne_time = np.linspace(-0.1, 0.0, 1800, dtype=np.float32)  # s before the stamp (the sweep's end)
    blocked = np.where(np.arange(1440) < 1080, 5.0, 0.05)  # the rear 90 deg under range_min (the robot's body)
    cloud = "sensor_msgs/msg/PointCloud2"
    return [
        ("ouster azimuth window", _organized(_ouster("<"), "t", ouster_t, columns >= 512, 0.0), cloud),
        ("ouster rear blocked", _organized(_ouster("<"), "t", ouster_t, columns < 768, 0.0), cloud),
        ("velodyne organized", _organized(_velodyne("<"), "time", velodyne_time, np.arange(1800) < 1620, np.nan),
         cloud),
        ("laser scan rear blocked", _laser(blocked), "sensor_msgs/msg/LaserScan"),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "message", "msgtype"), _sweep_layouts(), ids=[n for n, _, _ in _sweep_layouts()])
def test_a_scans_sweep_middle_is_the_one_it_is_paired_by(name: str, message: object, msgtype: str) -> None:
    """The scale recovery dates a scan by ``Scan.sweep_middle_ns`` (``LidarScan.sweep_ns``: ``lidar_lag_ns``, the
    ``lidar.max_age_s`` check), pairing (node and bag runner's first pass) by ``sweep_middle_offset_ns``: every
    point's time, no-returns included. ``Scan`` took its middle from the kept points only: an Ouster with an azimuth
    window over half the sweep 25 ms later than it was paired, a rear sector blocked at the sweep's end 12.5 ms
    earlier (a 2D LiDAR likewise), a Velodyne organized cloud 5 ms: a scan paired 190 ms from its image with
    ``lidar.max_age_s`` 0.2 was then refused as 215 ms away. Both use the time field of every point now."""
    decoded = decode_scan(message, msgtype)
    assert decoded.point_dt_ns is not None
    assert decoded.sweep_middle_ns == sweep_middle_offset_ns(message, msgtype), name
    kept = (int(decoded.point_dt_ns.min()) + int(decoded.point_dt_ns.max())) // 2
    assert abs(kept - decoded.sweep_middle_ns) >= 5_000_000, name  # the kept points alone are elsewhere


def test_decode_prediction_accepts_depth_encodings_only() -> None:
    """32FC1, 16UC1 and mono16 (millimetres, as 16UC1) decode; anything else is refused with a text that names those
    three and nothing narrower: it said "expected one of 32FC1, 16UC1, mono16; the external prediction must be 32FC1
    (or 16UC1)", two remedies, one of them false (mono16 decodes). The parameter's description (``ros2 param describe
    prediction_topic``, config/depth.yaml's comment) says the same: it said "external 32FC1 prediction"."""
    from mono_depth_ros.config import PARAMS_BY_NAME

    described = PARAMS_BY_NAME["prediction_topic"].description
    assert "32FC1 metres" in described and "16UC1 / mono16 millimetres" in described, described
    values = tiny_frame(0).depth_m
    for encoding in ("32FC1", "16UC1"):
        message = depth_image_from_metres(FACTORY, values, encoding, HEADER)
        np.testing.assert_allclose(decode_prediction(message), values, atol=5e-4)
    mono16 = depth_image_from_metres(FACTORY, values, "16UC1", HEADER)
    mono16.encoding = "mono16"
    np.testing.assert_allclose(decode_prediction(mono16), values, atol=5e-4)
    rgba = np.zeros((*values.shape, 4), np.uint8)
    for encoding, pixels in (("rgb8", tiny_frame(0).rgb), ("bgra8", rgba)):
        with pytest.raises(EncodingError) as refused:
            decode_prediction(image_from_array(FACTORY, pixels, encoding, HEADER))
        text = str(refused.value)
        assert f"{encoding!r} is not depth" in text and "16UC1 or mono16 in millimetres" in text, text
        assert "32FC1 in metres" in text and "must be" not in text and "(or 16UC1)" not in text, text


def _output(cloud: bool, encoding: str = "32FC1") -> FrameOutput:
    depth_m = tiny_frame(0).depth_m.copy()
    depth_m[0, 0], depth_m[0, 1], depth_m[0, 2] = np.nan, np.inf, -np.inf
    return FrameOutput(
        stamp_ns=1_700_000_000_000_000_001,
        frame_id="camera_optical",
        depth_m=depth_m,
        depth_wire=encode_depth(depth_m, encoding),
        encoding=encoding,
        intrinsics=INTRINSICS,
        cloud=organized_cloud(depth_m, INTRINSICS) if cloud else None,
        scale=ScaleStatus(mode="lidar", health="ok", scale=1.0),
    )


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_output_messages_share_the_input_header(encoding: str) -> None:
    messages = output_messages(FACTORY, _output(cloud=True, encoding=encoding))
    assert [topic for topic, _, _ in messages] == [DEPTH_IMAGE_TOPIC, DEPTH_CAMERA_INFO_TOPIC, DEPTH_POINTS_TOPIC]
    decoded = [_round_trip(message, msgtype) for _, msgtype, message in messages]
    image, info, cloud = decoded
    for message in decoded:
        assert (message.header.stamp.sec, message.header.stamp.nanosec) == (1_700_000_000, 1)  # type: ignore[attr-defined]
        assert message.header.frame_id == "camera_optical"  # type: ignore[attr-defined]
    assert image.encoding == encoding  # type: ignore[attr-defined]
    assert (info.width, info.height) == (image.width, image.height)  # type: ignore[attr-defined]
    np.testing.assert_allclose(info.p, INTRINSICS.projection_matrix.reshape(-1))  # type: ignore[attr-defined]
    assert (cloud.height, cloud.width, cloud.point_step) == (48, 64, 16)  # type: ignore[attr-defined]
    assert len(output_messages(FACTORY, _output(cloud=False))) == 2


def test_frame_input_takes_stamp_and_frame_from_the_image_header() -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 200
    image = image_from_array(FACTORY, rgb, "rgb8", HEADER)
    camera = CameraModel.from_intrinsics(INTRINSICS)
    prediction = np.ones((48, 64), np.float32)
    frame = frame_input(image, "sensor_msgs/msg/Image", camera, True, prediction=prediction)
    assert (frame.stamp_ns, frame.frame_id) == (1_700_000_000_000_000_001, "camera_optical")
    np.testing.assert_array_equal(frame.rgb, rgb)
    assert frame.image_is_rectified is True and frame.lidar is None and frame.prediction is not None


def test_a_frame_id_with_a_ros1_leading_slash_is_the_frame_tf2_stores() -> None:
    """tf2 in ROS 2 stores ``/camera_optical`` as ``camera_optical`` and refuses lookups of ``/camera_optical``
    ("frame_ids cannot start with a '/'"): the node lost every frame's LiDAR scale where the bag runner (whose TF
    buffer strips the slash) had it, and both published depth in a frame no tf2 consumer (RViz, Nav2) could place."""
    slashed = make_header(FACTORY, 5, "/camera_optical")
    image = image_from_array(FACTORY, np.zeros((48, 64, 3), np.uint8), "rgb8", slashed)
    camera = CameraModel.from_intrinsics(INTRINSICS)
    assert frame_input(image, "sensor_msgs/msg/Image", camera, True).frame_id == "camera_optical"
    only_slash = image_from_array(FACTORY, np.zeros((4, 4, 3), np.uint8), "rgb8", make_header(FACTORY, 5, "/"))
    with pytest.raises(TransformError, match="frame_id is empty"):
        frame_input(only_slash, "sensor_msgs/msg/Image", camera, True)


@pytest.mark.parametrize(("height", "width"), [(0, 64), (48, 0), (0, 0)])
def test_an_image_without_pixels_is_a_shape_error_not_blamed_on_the_calibration(height: int, width: int) -> None:
    """An empty Image (a driver's first message before streaming, a failed capture) decoded to an empty array and
    failed later as ``CalibrationError: image is 64x0 but the camera calibration is for 64x48``: counted under
    camera_info's reason, sending the user to a calibration that is right."""
    empty = FACTORY.new("sensor_msgs/msg/Image", header=HEADER, height=height, width=width, encoding="rgb8",
                        is_bigendian=0, step=3 * width, data=np.zeros(0, np.uint8))  # fmt: skip
    camera = CameraModel.from_intrinsics(INTRINSICS)
    with pytest.raises(ShapeError, match=rf"image is {width}x{height}: no pixels"):
        frame_input(empty, "sensor_msgs/msg/Image", camera, True)


@pytest.mark.parametrize("off_by_s", [5.0, -3.0, 1e9])
def test_decode_scan_reads_the_sweep_middle_when_paired_ns_is_no_sweep_middle_of_its_stamp(off_by_s: float) -> None:
    """``paired_ns`` (the stamp the scan was paired by) further than any sweep's middle can lie from the scan's header
    stamp (:data:`~mono_depth_ros.core.point_times.MAX_SPAN_NS`, 1 s: another scan's stamp, another bag pass's) is
    not this scan's: its sweep's middle is read from its points' times, not taken as 5 s (or -3 s, or 31 years)."""
    times = np.linspace(0, 100_000_000, 8, dtype=np.uint32)  # ouster-ros: ``t`` ns after the stamp, a 100 ms sweep
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("t", "<u4")])
    cloud = _organized(dtype, "t", times, np.ones(times.size, dtype=bool), 0.0)
    own = decode_scan(cloud)
    assert own.sweep_middle_ns == 50_000_000, own.sweep_middle_ns
    stamp_ns = own.stamp_ns
    assert decode_scan(cloud, paired_ns=stamp_ns + own.sweep_middle_ns).sweep_middle_ns == 50_000_000
    wrong = decode_scan(cloud, paired_ns=stamp_ns + round(off_by_s * 1e9))
    assert wrong.sweep_middle_ns == 50_000_000, wrong.sweep_middle_ns
