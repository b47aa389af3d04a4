"""Fuzzing the node's input road from serialised bytes: valid messages of a real KITTI frame, mutated.

The messages are built from KITTI object frame 000000 (../shared/data: image_2 cut to 416x128 with P2's principal
point moved to match, its Velodyne scan, Tr_velo_to_cam as TF), serialised with the Humble or Jazzy rosbags
typestore, then one field (or one declared length in the CDR bytes) is mutated. Each set goes down the road the node
takes: :class:`~mono_depth_ros.adapters.cdr_input.CdrDecoder` (bad bytes: ``bad_cdr``), the executor-side reads
(stamps, a scan's sweep middle), then as the worker does: the external prediction, the camera model cache, the image
(:func:`~mono_depth_ros.adapters.messages.frame_input`), the scan placed by TF (the bag runner's ``TfBuffer`` as
tf2), ``DepthPipeline.process_frame`` with an external prediction and LiDAR scale, and the output messages.

Every set must end as published outputs that agree with the input (size, stamp, frame, finite intrinsics) or as a
:class:`~mono_depth_ros.core.errors.DepthError` the node counts (``bad_messages.<reason>``): any other exception is a
crash of an executor callback or a counted bug in the worker. Mutations that keep the meaning (row padding in
``step``, a byte-swapped big-endian cloud, a lying ``is_dense``) must give the unmutated frame's depth.
Hypothesis runs derandomised (fixed examples, no database), bounded by ``max_examples``.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mono_depth_ros.adapters import messages
from mono_depth_ros.adapters.camera_cache import CameraModelCache, warn_about_calibration
from mono_depth_ros.adapters.cdr_input import BAD_CDR, CdrDecoder
from mono_depth_ros.adapters.model import build_pipeline
from mono_depth_ros.config import defaults
from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.cdr_header import header_from_cdr
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.errors import CalibrationError, DepthError
from mono_depth_ros.core.point_times import MAX_SPAN_NS
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.core.tf_buffer import TfBuffer, normalize_frame_id
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import DepthPipeline, FrameOutput
from test.conftest import shared_data_dir
from test.core.ros_msg_support import TYPESTORES, rosbags_factory
from test.kitti_bag import load_kitti_frames, relative_inverse_prediction, velodyne_planar_scan

IMAGE, INFO, CLOUD = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/PointCloud2"
LASER = "sensor_msgs/msg/LaserScan"
COMPRESSED, TF = "sensor_msgs/msg/CompressedImage", "tf2_msgs/msg/TFMessage"
STAMP_NS = 1_700_000_000_100_000_000
CAMERA, LIDAR = "camera_optical", "velodyne"
CROP_X, CROP_Y, CROP_W, CROP_H = 400, 200, 416, 128  # of KITTI 000000 (1242x375): road, cars
SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
PUBLISHED = "published"


@dataclass(frozen=True)
class Frame:
    """The valid messages of one real frame (rosbags dataclasses of one distro) and their CDR bytes."""

    distro: str
    image: Any
    compressed_png: Any
    compressed_jpeg: Any
    info: Any
    cloud: Any
    laser: Any
    prediction: Any
    tf: Any

    def cdr(self, msg: Any) -> bytes:
        return bytes(TYPESTORES[self.distro].serialize_cdr(msg, msg.__msgtype__))


def _build(distro: str) -> Frame:
    kitti_dir = shared_data_dir() / "kitti_object_3frames" / "training"
    if not Path(kitti_dir).is_dir():
        pytest.skip(f"KITTI object frames not found at {kitti_dir}")
    (kitti,) = load_kitti_frames(kitti_dir, ["000000"])
    factory = rosbags_factory(distro)
    header = ros_msgs.make_header(factory, STAMP_NS, CAMERA)
    rows, cols = slice(CROP_Y, CROP_Y + CROP_H), slice(CROP_X, CROP_X + CROP_W)
    rgb = np.ascontiguousarray(kitti.rgb[rows, cols])
    projection = kitti.projection.copy()
    projection[0, 2] -= CROP_X  # the principal point of the cut-out image (P2's Tx term is unchanged)
    projection[1, 2] -= CROP_Y
    model = CameraModel(CROP_W, CROP_H, "plumb_bob", (0.0,) * 5, projection[:, :3], np.eye(3), projection)
    dense_m = densify_nearest(kitti.lidar_depth_m)[rows, cols]
    prediction = ros_msgs.depth_image_from_metres(factory, relative_inverse_prediction(dense_m), "32FC1", header)
    points = np.zeros(kitti.scan.shape[0] // 4, dtype=[(n, "<f4") for n in ("x", "y", "z", "intensity")])
    for column, name in enumerate(("x", "y", "z", "intensity")):
        points[name] = kitti.scan[::4, column][: points.size]
    cloud_header = ros_msgs.make_header(factory, STAMP_NS - 20_000_000, LIDAR)
    cloud = ros_msgs.pointcloud2_from_structured(factory, cloud_header, points, 1, points.size, True)
    cam_from_velo = replace(kitti.cam_from_velo, dst_frame=CAMERA, src_frame=LIDAR)
    return Frame(
        distro=distro,
        image=ros_msgs.image_from_array(factory, rgb, "rgb8", header),
        compressed_png=ros_msgs.compressed_image_from_array(factory, rgb, header, codec="png"),
        compressed_jpeg=ros_msgs.compressed_image_from_array(factory, rgb, header, codec="jpeg"),
        info=ros_msgs.camera_info_from_model(factory, model, header),
        cloud=cloud,
        laser=velodyne_planar_scan(factory, kitti.scan, STAMP_NS - 20_000_000, LIDAR),
        prediction=prediction,
        tf=ros_msgs.tf_message_from(factory, [cam_from_velo], STAMP_NS - 1_000_000_000),
    )


_FRAMES: dict[str, Frame] = {}


def real_frame(distro: str) -> Frame:
    if distro not in _FRAMES:
        _FRAMES[distro] = _build(distro)
    return _FRAMES[distro]


_PIPELINE: list[DepthPipeline] = []


def pipeline() -> DepthPipeline:
    """One pipeline for every example: external relative_inverse prediction, LiDAR scale (a fit per frame)."""
    if not _PIPELINE:
        params = {**defaults(), "model.backend": "external", "model.output_kind": "relative_inverse"}
        _PIPELINE.append(DepthPipeline({**params, "scale.mode": "lidar"}))
    return _PIPELINE[0]


_SHIPPED: list[DepthPipeline] = []


def shipped_pipeline() -> DepthPipeline:
    """The shipped model (``model.backend: unet``, no weights given: the package's own), LiDAR scale."""
    if not _SHIPPED:
        _SHIPPED.append(build_pipeline(DepthConfig.from_params({**defaults(), "scale.mode": "lidar"}), print))
    return _SHIPPED[0]


@dataclass
class Outcome:
    """Where a frame ended: ``PUBLISHED`` (with its output) or the ``bad_messages`` reason the node counts."""

    reason: str
    output: FrameOutput | None = None
    scan_reason: str = ""  # the scan was refused (the frame is still published: its scale falls back)


def node_road(
    frame: Frame,
    raw: dict[str, bytes],
    image_type: str = IMAGE,
    scan_type: str = CLOUD,
    rectified: bool = True,
    shipped: bool = False,
) -> Outcome:
    """The node's road for one frame from CDR bytes (``raw``: ``image``, ``info``, ``prediction``, ``cloud`` (a
    ``scan_type`` message: PointCloud2 or LaserScan), ``tf``), in the node's order; a DepthError becomes its counter
    reason as the node names it, any other exception propagates (a failed test). ``rectified``: the node's
    ``image_is_rectified`` (false: the image is undistorted with K, D, R); ``shipped``: the shipped model instead of
    the external prediction (``raw["prediction"]`` not read)."""
    store = TYPESTORES[frame.distro]
    refused: list[str] = []
    warned: list[str] = []

    def decoded(type_name: str, key: str) -> Any:
        return CdrDecoder(type_name, f"/{key}", lambda reason, text: refused.append(reason), typestore=store).decode(
            raw[key]
        )

    # executor callbacks: decoded, then stamps read (synchroniser, pairing) and the scan's sweep middle
    image, info, prediction, cloud = (
        decoded(t, k) for t, k in ((image_type, "image"), (INFO, "info"), (IMAGE, "prediction"), (scan_type, "cloud"))
    )
    for msg in (image, info, prediction, cloud):
        if msg is not None:
            ros_msgs.stamp_to_ns(msg.header.stamp)
    if cloud is not None:
        offset_ns = messages.sweep_middle_offset_ns(cloud, scan_type)  # LidarFeed.add_scan: the scan's pairing stamp
        assert abs(offset_ns) <= MAX_SPAN_NS, offset_ns  # a sweep lasts at most that (point_times)
    if image is None or info is None or (prediction is None and not shipped):
        return Outcome(BAD_CDR)
    tf = TfBuffer()
    tf_message = store.deserialize_cdr(raw["tf"], TF)  # the bag runner's /tf_static (the node's tf2 in C++)
    with contextlib.suppress(DepthError):  # the bag runner warns; the good transforms are stored
        tf.add_tf_message(tf_message, static=True)
    # the worker (node._frame_input, LidarFeed.scan_input, pipeline, publish)
    try:
        external = None if shipped else messages.decode_prediction(prediction)
        depth = shipped_pipeline() if shipped else pipeline()
        check = warn_about_calibration("/camera/image_raw", rectified, warned.append, depth.training_camera_warning)
        cameras = CameraModelCache(check, lambda: depth.config.scale)  # as the node's: checks once per calibration
        camera = cameras.get(info)
        decoded_frame = cameras.checked(messages.frame_input(image, image_type, camera, rectified, copy=False))
    except DepthError as err:
        return Outcome(type(err).__name__)
    scan_reason, lidar = "", None
    if cloud is None:
        scan_reason = BAD_CDR
    else:
        try:
            scan = messages.decode_scan(cloud, scan_type)
            if scan.point_dt_ns is not None:
                assert np.abs(scan.point_dt_ns).max(initial=0) <= MAX_SPAN_NS, scan.point_dt_ns
            if scan.points_in_lidar.shape[0] == 0:
                scan_reason = "lidar.empty_scan"
            else:
                cam_from_lidar = tf.lookup(decoded_frame.frame_id, scan.frame_id, scan.stamp_ns)
                lidar = LidarScan(
                    scan.points_in_lidar, cam_from_lidar, scan.stamp_ns, sweep_middle_ns=scan.sweep_middle_ns
                )  # as lidar_scan_from_tf without lidar.motion_frame
        except DepthError as err:
            scan_reason = f"lidar.{type(err).__name__}"
    try:
        output = depth.process_frame(replace(decoded_frame, lidar=lidar, prediction=external))
        messages.output_messages(rosbags_factory(frame.distro), output)
    except DepthError as err:
        return Outcome(type(err).__name__, scan_reason=scan_reason)
    return Outcome(PUBLISHED, output, scan_reason)


def valid_raw(frame: Frame, image: Any = None) -> dict[str, bytes]:
    return {
        "image": frame.cdr(frame.image if image is None else image),
        "info": frame.cdr(frame.info),
        "prediction": frame.cdr(frame.prediction),
        "cloud": frame.cdr(frame.cloud),
        "tf": frame.cdr(frame.tf),
    }


def check_published(outcome: Outcome, raw_image: bytes) -> None:
    """A published frame's outputs agree with its input: size of the depth image = its camera_info's, the stamp and
    frame of the image's header (read from its bytes by ``header_from_cdr``), finite intrinsics, no infinite point."""
    output = outcome.output
    assert output is not None
    intrinsics = output.intrinsics
    assert output.depth_wire.shape == (intrinsics.height, intrinsics.width)
    assert np.isfinite([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy]).all(), intrinsics
    assert intrinsics.fx > 0 and intrinsics.fy > 0, intrinsics
    header = header_from_cdr(raw_image)
    if header is None:  # nanosec >= 1e9: no valid Time; the node and the bag runner both take sec s + nanosec ns
        sec, nanosec, length = struct.unpack_from("<iII", raw_image, 4)
        header = (sec * 1_000_000_000 + nanosec, raw_image[16 : 16 + length - 1].decode())
    assert (output.stamp_ns, output.frame_id) == (header[0], normalize_frame_id(header[1]))
    if output.cloud is not None:  # invalid points are NaN (REP 117's +-Inf is for depth images, not points)
        assert not np.isinf(output.cloud.xyz()).any()


def run(
    frame: Frame,
    raw: dict[str, bytes],
    image_type: str = IMAGE,
    scan_type: str = CLOUD,
    rectified: bool = True,
    shipped: bool = False,
) -> Outcome:
    outcome = node_road(frame, raw, image_type, scan_type, rectified, shipped)
    if outcome.reason == PUBLISHED:
        check_published(outcome, raw["image"])
    return outcome


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_the_unmutated_frame_is_published_with_a_lidar_scale(distro: str) -> None:
    frame = real_frame(distro)
    for image in (frame.image, frame.compressed_png, frame.compressed_jpeg):
        outcome = run(frame, valid_raw(frame, image), image.__msgtype__)
        assert outcome.reason == PUBLISHED and outcome.scan_reason == "" and outcome.output is not None
        assert outcome.output.scale.health == "ok", outcome.output.scale
        assert outcome.output.depth_wire.shape == (CROP_H, CROP_W)


def baseline_depth(distro: str) -> np.ndarray:
    frame = real_frame(distro)
    outcome = node_road(frame, valid_raw(frame))
    assert outcome.output is not None
    return outcome.output.depth_m


@dataclass(frozen=True)
class Mutation:
    """One input of a frame changed: ``key`` (``image``, ``info``, ``prediction``, ``cloud``), its new message or
    the number of its CDR bytes kept, and the node's counters for it (``reason``: ``PUBLISHED`` or the frame's
    ``bad_messages`` reason; ``scan_reason``: the refused scan's, its frame published)."""

    name: str
    key: str
    change: Any
    reason: str
    scan_reason: str = ""


def one_mutation_per_frame(frame: Frame) -> list[Mutation]:
    """A mutation of each kind the node counts differently, and the unmutated frame last."""
    image, info, cloud, prediction = frame.image, frame.info, frame.cloud, frame.prediction
    k_zero, p_off = np.array(info.k), np.array(info.p)
    k_zero[0] = 0.0
    p_off[2] = 1e300
    fields = list(cloud.fields)
    overlapping = [fields[0], replace(fields[1], offset=2), *fields[2:]]
    swapped = np.array(cloud.data, np.uint8).view("<f4").astype(">f4").view(np.uint8)
    left_half = np.array(prediction.data).reshape(CROP_H, -1)[:, : prediction.step // 2].copy().reshape(-1)
    half = replace(prediction, width=prediction.width // 2, step=prediction.step // 2, data=left_half)
    odd_type = [replace(fields[0], datatype=9), *fields[1:]]
    no_points = replace(cloud, width=0, row_step=0, data=np.zeros(0, np.uint8))
    ok = PUBLISHED
    return [
        Mutation("image cut", "image", 5000, BAD_CDR),
        Mutation("image step short", "image", replace(image, step=image.step - 1), "ShapeError"),
        Mutation("image yuv422 (rows padded)", "image", replace(image, encoding="yuv422"), ok),
        Mutation("image empty", "image", replace(image, height=0, data=np.zeros(0, np.uint8)), "ShapeError"),
        Mutation("image big-endian flag", "image", replace(image, is_bigendian=1), ok),
        Mutation("camera_info cut", "info", 60, BAD_CDR),
        Mutation("camera_info zero focal", "info", replace(info, k=k_zero, p=np.zeros(12)), "CalibrationError"),
        Mutation("camera_info cx 1e300", "info", replace(info, p=p_off), "CalibrationError"),
        Mutation("camera_info unknown model", "info", replace(info, distortion_model="kannala"), ok),  # unread: P
        Mutation("prediction half size", "prediction", half, "ShapeError"),
        Mutation("prediction mono8", "prediction", replace(prediction, encoding="mono8"), "EncodingError"),
        Mutation("cloud cut", "cloud", 3000, ok, BAD_CDR),
        Mutation("cloud y over x", "cloud", replace(cloud, fields=overlapping), ok, "lidar.ShapeError"),
        Mutation("cloud x datatype 9", "cloud", replace(cloud, fields=odd_type), ok, "lidar.EncodingError"),
        Mutation("cloud no points", "cloud", no_points, ok, "lidar.empty_scan"),
        Mutation("cloud big-endian", "cloud", replace(cloud, is_bigendian=True, data=swapped), ok),
        Mutation("good", "image", image, ok),
    ]


def restamped(msg: Any, stamp_ns: int) -> Any:
    """A rosbags message with its header stamped ``stamp_ns``."""
    stamp = replace(msg.header.stamp, sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return replace(msg, header=replace(msg.header, stamp=stamp))


SCAN_BEFORE_NS = 20_000_000  # a scan is stamped this long before its image (the pairing takes it)


def frame_bytes(frame: Frame, mutation: Mutation, stamp_ns: int) -> dict[str, bytes]:
    """The CDR bytes of the frame's inputs stamped ``stamp_ns`` (the scan :data:`SCAN_BEFORE_NS` before), one of
    them mutated, and its TF."""
    messages = {"image": frame.image, "info": frame.info, "prediction": frame.prediction, "cloud": frame.cloud}
    if not isinstance(mutation.change, int):
        messages[mutation.key] = mutation.change
    raw = {k: frame.cdr(restamped(m, stamp_ns - (SCAN_BEFORE_NS if k == "cloud" else 0))) for k, m in messages.items()}
    if isinstance(mutation.change, int):
        raw[mutation.key] = raw[mutation.key][: mutation.change]
    return raw | {"tf": frame.cdr(frame.tf)}


# ------------------------------------------------------------------------------------------- CDR bytes

UINT32_VALUES = st.sampled_from([0, 1, 2, 3, 7, 255, 65535, 2**31 - 1, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    key=st.sampled_from(["image", "info", "prediction", "cloud"]),
    where=st.floats(0.0, 1.0),
    value=UINT32_VALUES,
    cut=st.none() | st.integers(0, 64),
)
def test_a_declared_length_or_size_overwritten_in_the_cdr_bytes_is_counted_or_published(
    distro: str, key: str, where: float, value: int, cut: int | None
) -> None:
    """One 4-aligned uint32 of the first 200 bytes (sequence and string lengths, height, width, step, offsets) set
    to another value, optionally with the last ``cut`` bytes gone."""
    frame = real_frame(distro)
    raw = valid_raw(frame)
    data = bytearray(raw[key])
    offset = 4 + 4 * int(where * (min(len(data), 200) - 8) / 4)
    data[offset : offset + 4] = value.to_bytes(4, "little")
    raw[key] = bytes(data[: len(data) - cut] if cut else data)
    run(frame, raw)


# ------------------------------------------------------------------------------------------- Image

ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1", "8UC3", "8UC1", "bayer_rggb8",
             "bayer_bggr16", "yuv422", "yuv422_yuy2", "uyvy", "nv12", "nv21", "unknown", "", "RGB8"]  # fmt: skip
SIZE_MUTATIONS = st.sampled_from(["same", "zero", "one", "minus_one", "plus_one", "double", "huge", "max"])


def mutated_size(value: int, how: str) -> int:
    return {"same": value, "zero": 0, "one": 1, "minus_one": value - 1, "plus_one": value + 1, "double": 2 * value,
            "huge": 2**31 - 1, "max": 2**32 - 1}[how]  # fmt: skip


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    height=SIZE_MUTATIONS,
    width=SIZE_MUTATIONS,
    step=SIZE_MUTATIONS,
    encoding=st.sampled_from(ENCODINGS),
    bigendian=st.booleans(),
    data=st.sampled_from(["same", "short", "long", "empty", "half"]),
)
def test_an_image_with_mutated_fields_is_counted_or_published(
    distro: str, height: str, width: str, step: str, encoding: str, bigendian: bool, data: str
) -> None:
    frame = real_frame(distro)
    image = frame.image
    pixels = np.asarray(image.data)
    pixels = {"same": pixels, "short": pixels[:-7], "long": np.concatenate([pixels, pixels[:11]]),
              "empty": pixels[:0], "half": pixels[: pixels.size // 2]}[data]  # fmt: skip
    mutated = replace(image, height=mutated_size(image.height, height), width=mutated_size(image.width, width),
                      step=mutated_size(image.step, step), encoding=encoding, is_bigendian=int(bigendian),
                      data=pixels)  # fmt: skip
    run(frame, valid_raw(frame, mutated))


@settings(SETTINGS, max_examples=15)
@given(
    height=SIZE_MUTATIONS,
    width=SIZE_MUTATIONS,
    encoding=st.sampled_from(ENCODINGS),
    rectified=st.booleans(),
)
def test_an_image_with_mutated_fields_through_the_shipped_model_is_counted_or_published(
    height: str, width: str, encoding: str, rectified: bool
) -> None:
    """The same image fields through the network the package ships (what decodes: every encoding, size, step)."""
    frame = real_frame("humble")
    image = frame.image
    width_px, height_px = mutated_size(image.width, width), mutated_size(image.height, height)
    mutated = replace(image, height=height_px, width=width_px, encoding=encoding,
                      step=min(image.step, len(image.data) // max(height_px, 1)))  # fmt: skip
    run(frame, valid_raw(frame, mutated), rectified=rectified, shipped=True)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize("padding", [1, 3, 64])
def test_row_padding_in_step_gives_the_unpadded_images_depth(distro: str, padding: int) -> None:
    """A driver that pads each row (step > width * 3, e.g. to 4- or 64-byte rows): the same pixels, the same depth."""
    frame = real_frame(distro)
    rgb = np.asarray(frame.image.data).reshape(CROP_H, CROP_W * 3)
    padded = np.zeros((CROP_H, CROP_W * 3 + padding), np.uint8)
    padded[:, : CROP_W * 3] = rgb
    padded[:, CROP_W * 3 :] = 255  # garbage in the padding must not show
    image = replace(frame.image, step=CROP_W * 3 + padding, data=padded.reshape(-1))
    outcome = run(frame, valid_raw(frame, image))
    assert outcome.output is not None, outcome
    np.testing.assert_array_equal(outcome.output.depth_m, baseline_depth(distro))


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8"])
def test_is_bigendian_set_on_an_8_bit_image_changes_nothing(distro: str, encoding: str) -> None:
    """Byte order means nothing for 8-bit channels: an rgb8 / bgr8 / mono8 image flagged big-endian is the same."""
    frame = real_frame(distro)
    rgb = np.asarray(frame.image.data).reshape(CROP_H, CROP_W, 3)
    pixels = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "mono8": rgb[..., 1]}[encoding]
    factory = rosbags_factory(distro)
    image = ros_msgs.image_from_array(factory, np.ascontiguousarray(pixels), encoding, frame.image.header)
    plain = run(frame, valid_raw(frame, image))
    flagged = run(frame, valid_raw(frame, replace(image, is_bigendian=1)))
    assert plain.output is not None and flagged.output is not None, (plain, flagged)
    np.testing.assert_array_equal(flagged.output.depth_m, plain.output.depth_m)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize("encoding", ["mono16", "rgb16", "bgr16", "rgba16", "bayer_rggb16", "16UC1", "32FC1"])
def test_a_big_endian_16_bit_or_float_image_decodes_as_its_little_endian_twin(distro: str, encoding: str) -> None:
    """The real pixels (or the prediction, for 16UC1 / 32FC1) as 16-bit or float32, written big-endian with
    ``is_bigendian`` set: the node decodes them as the little-endian message (byte order read from the flag)."""
    frame = real_frame(distro)
    store = TYPESTORES[distro]
    rgb16 = np.array(frame.image.data).reshape(CROP_H, CROP_W, 3).astype("<u2") * 257
    depth_m = np.array(frame.prediction.data, np.uint8).view("<f4").reshape(CROP_H, CROP_W)
    values = {"mono16": rgb16[..., 1], "rgb16": rgb16, "bgr16": rgb16[..., ::-1], "bayer_rggb16": rgb16[..., 0],
              "rgba16": np.dstack([rgb16, np.full((CROP_H, CROP_W), 65535, "<u2")]),
              "16UC1": np.clip(depth_m * 1000, 0, 65535).astype("<u2"), "32FC1": depth_m}[encoding]  # fmt: skip
    values = np.ascontiguousarray(values)
    little = replace(frame.image, encoding=encoding, step=values[0].nbytes, data=values.view(np.uint8).reshape(-1))
    swapped = values.astype(values.dtype.newbyteorder(">")).view(np.uint8).reshape(-1)
    big = replace(little, is_bigendian=1, data=swapped)
    from_little, from_big = (store.deserialize_cdr(frame.cdr(msg), IMAGE) for msg in (little, big))
    if encoding in ("16UC1", "32FC1"):
        np.testing.assert_array_equal(messages.decode_prediction(from_big), messages.decode_prediction(from_little))
    else:
        np.testing.assert_array_equal(messages.decode_image(from_big, IMAGE), messages.decode_image(from_little, IMAGE))


# ------------------------------------------------------------------------------------------- CompressedImage

FORMATS = ["png", "jpeg", "jpg", "rgb8; jpeg compressed bgr8", "bgr8; png compressed ", "rgb8; compressedDepth png",
           "16UC1; compressedDepth", "", "PNG", "tiff", "webp", "gif", "bmp", "rgb8; jpeg compressed mono16",
           "\x00", "x" * 300]  # fmt: skip


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    codec=st.sampled_from(["png", "jpeg"]),
    image_format=st.sampled_from(FORMATS),
    keep=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_a_corrupt_truncated_or_odd_compressed_image_is_counted_or_published(
    distro: str, codec: str, image_format: str, keep: float, flips: list[tuple[float, int]]
) -> None:
    frame = real_frame(distro)
    message = frame.compressed_png if codec == "png" else frame.compressed_jpeg
    data = np.array(message.data, dtype=np.uint8)[: int(keep * len(message.data))]
    for where, value in flips:
        if data.size:
            data[int(where * (data.size - 1))] = value
    raw = valid_raw(frame, replace(message, format=image_format, data=data))
    run(frame, raw, COMPRESSED)


# ------------------------------------------------------------------------------------------- CameraInfo

ODD = st.sampled_from([0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-300, 1e300, 5e-324])


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    k_odd=st.dictionaries(st.integers(0, 8), ODD, max_size=3),
    p_odd=st.dictionaries(st.integers(0, 11), ODD, max_size=3),
    r_odd=st.dictionaries(st.integers(0, 8), ODD, max_size=2),
    d=st.lists(st.sampled_from([0.0, 0.01, -0.3, 1e6, float("nan"), float("inf")]), max_size=14),
    model=st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "fisheye", "", "unknown", "PLUMB_BOB"]),
    size=st.sampled_from(["same", "zero", "half", "double", "swapped", "huge"]),
    binning=st.tuples(st.sampled_from([0, 1, 2, 3, 4, 1000, 2**32 - 1]), st.sampled_from([0, 1, 2, 5, 2**32 - 1])),
    roi=st.none() | st.tuples(*[st.sampled_from([0, 1, 64, 100, 416, 1000, 2**32 - 1])] * 4),
    rectified=st.booleans(),
)
def test_a_camera_info_with_odd_calibration_is_counted_or_published(
    distro: str,
    k_odd: dict[int, float],
    p_odd: dict[int, float],
    r_odd: dict[int, float],
    d: list[float],
    model: str,
    size: str,
    binning: tuple[int, int],
    roi: tuple[int, int, int, int] | None,
    rectified: bool,
) -> None:
    """Rectified (P read) or raw (``image_is_rectified: false``: K, D, R undistort it)."""
    frame = real_frame(distro)
    info = frame.info
    k, p, r = (np.array(v, dtype=np.float64) for v in (info.k, info.p, info.r))
    for array, odd in ((k, k_odd), (p, p_odd), (r, r_odd)):
        for index, value in odd.items():
            array[index] = value
    width, height = {"same": (info.width, info.height), "zero": (0, 0), "half": (info.width // 2, info.height // 2),
                     "double": (2 * info.width, 2 * info.height), "swapped": (info.height, info.width),
                     "huge": (2**32 - 1, 2**31)}[size]  # fmt: skip
    region = info.roi if roi is None else replace(info.roi, x_offset=roi[0], y_offset=roi[1], width=roi[2],
                                                  height=roi[3])  # fmt: skip
    mutated = replace(info, k=k, p=p, r=r, d=np.array(d, dtype=np.float64), distortion_model=model, width=width,
                      height=height, binning_x=binning[0], binning_y=binning[1], roi=region)  # fmt: skip
    raw = valid_raw(frame)
    raw["info"] = frame.cdr(mutated)
    run(frame, raw, rectified=rectified)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize(("index", "value"), [(2, 1e300), (2, -1e40), (6, 1e300), (2, 1e6), (6, -2e5)])
def test_a_camera_info_whose_principal_point_lies_far_off_the_image_is_refused(
    distro: str, index: int, value: float
) -> None:
    """cx or cy (K and P) a corrupt 1e300 / -1e40, or a million pixels off the 416x128 image: the frame was published,
    every /depth/points point at x = +-Inf (1e300) or the image seen from rays 89.97 degrees off the optical axis.
    No pinhole image lies that far off its axis: CalibrationError (counted), as for a K or P wider than 170 degrees;
    the KITTI principal point (cy above this cut-out image) is a calibration still."""
    frame = real_frame(distro)
    k, p = np.array(frame.info.k), np.array(frame.info.p)
    p[index], k[{2: 2, 6: 5}[index]] = value, value
    raw = valid_raw(frame)
    raw["info"] = frame.cdr(replace(frame.info, k=k, p=p))
    outcome = run(frame, raw)
    assert outcome.reason == "CalibrationError", outcome
    info = TYPESTORES[distro].deserialize_cdr(raw["info"], INFO)
    with pytest.raises(CalibrationError, match=r"principal point .* off the optical axis.*calibration"):
        CameraModelCache().get(info)


# ------------------------------------------------------------------------------------------- PointCloud2

FIELD_NAMES = st.sampled_from(["x", "y", "z", "intensity", "t", "time", "timestamp", "", "X"])


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    field_edits=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["name", "offset", "datatype", "count"]),
            st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 2, 4, 8, 9, 12, 13, 16, 255]),
        ),
        max_size=3,
    ),
    names=st.lists(FIELD_NAMES, min_size=4, max_size=4) | st.none(),
    point_step=SIZE_MUTATIONS,
    row_step=SIZE_MUTATIONS,
    width=SIZE_MUTATIONS,
    height=st.sampled_from([0, 1, 2, 3, 2**32 - 1]),
    is_dense=st.booleans(),
    bigendian=st.booleans(),
    fill=st.sampled_from(["real", "nan", "inf", "zeros", "none"]),
)
def test_a_point_cloud_with_mutated_layout_is_counted_or_published(
    distro: str,
    field_edits: list[tuple[int, str, int]],
    names: list[str] | None,
    point_step: str,
    row_step: str,
    width: str,
    height: int,
    is_dense: bool,
    bigendian: bool,
    fill: str,
) -> None:
    """The scan is refused (counted ``lidar.<reason>``, the frame published with its scale's fallback) or used."""
    frame = real_frame(distro)
    cloud = frame.cloud
    fields = list(cloud.fields)
    for index, name, value in field_edits:
        edited = {"name": str(value % 9)} if name == "name" else {name: value % (256 if name == "datatype" else 2**32)}
        fields[index] = replace(fields[index], **edited)
    if names is not None:
        fields = [replace(f, name=n) for f, n in zip(fields, names, strict=True)]
    data = np.array(cloud.data, dtype=np.uint8)
    points = data.view("<f4").reshape(-1, 4)
    if fill == "nan":
        points[::3, :3] = np.nan
    elif fill == "inf":
        points[::5, 1] = np.inf
    elif fill == "zeros":
        points[:, :3] = 0.0
    elif fill == "none":
        data = data[:0]
    mutated = replace(cloud, fields=fields, point_step=mutated_size(cloud.point_step, point_step),
                      row_step=mutated_size(cloud.row_step, row_step), width=mutated_size(cloud.width, width),
                      height=height, is_dense=is_dense, is_bigendian=bigendian, data=data)  # fmt: skip
    raw = valid_raw(frame)
    raw["cloud"] = frame.cdr(mutated)
    outcome = run(frame, raw)
    assert outcome.reason == PUBLISHED, outcome  # a bad scan never costs the frame


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_a_big_endian_cloud_and_a_lying_is_dense_give_the_little_endian_clouds_depth(distro: str) -> None:
    frame = real_frame(distro)
    swapped = np.array(frame.cloud.data, dtype=np.uint8).view("<f4").astype(">f4").view(np.uint8)
    for cloud in (replace(frame.cloud, is_bigendian=True, data=swapped), replace(frame.cloud, is_dense=False)):
        raw = valid_raw(frame)
        raw["cloud"] = frame.cdr(cloud)
        outcome = run(frame, raw)
        assert outcome.output is not None and outcome.scan_reason == "", outcome
        np.testing.assert_array_equal(outcome.output.depth_m, baseline_depth(distro))


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_an_organized_cloud_with_row_padding_gives_the_unorganized_clouds_depth(distro: str) -> None:
    """The scan as 4 rows with 12 garbage bytes after each (row_step > width * point_step): the same points."""
    frame = real_frame(distro)
    cloud = frame.cloud
    per_row = cloud.width // 4
    rows = np.array(cloud.data, np.uint8)[: 4 * per_row * 16].reshape(4, per_row * 16)
    padded = np.concatenate([rows, np.full((4, 12), 0xFF, np.uint8)], axis=1).reshape(-1)
    organized = replace(cloud, height=4, width=per_row, row_step=per_row * 16 + 12, data=padded, is_dense=False)
    flat = replace(cloud, width=4 * per_row, row_step=4 * per_row * 16, data=rows.reshape(-1))
    outputs = []
    for mutated in (flat, organized):
        raw = valid_raw(frame)
        raw["cloud"] = frame.cdr(mutated)
        outcome = run(frame, raw)
        assert outcome.output is not None and outcome.scan_reason == "", outcome
        outputs.append(outcome.output)
    used = [output.scale.lidar_points_used or 0 for output in outputs]
    assert used[1] == used[0] > 1000
    np.testing.assert_array_equal(outputs[1].depth_m, outputs[0].depth_m)


# ------------------------------------------------------------------------------------------- TF

QUATERNIONS = st.sampled_from(["same", "zero", "double", "nan", "inf", "tiny", "negated"])


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    quaternion=QUATERNIONS,
    translation=st.sampled_from(["same", "nan", "inf", "huge"]),
    parent=st.sampled_from([CAMERA, "", "/" + CAMERA, LIDAR, " "]),
    child=st.sampled_from([LIDAR, "", "/" + LIDAR, CAMERA]),
)
def test_a_tf_with_odd_quaternion_or_frames_is_counted_or_published(
    distro: str, quaternion: str, translation: str, parent: str, child: str
) -> None:
    """The bag runner's TF (``TfBuffer``, as tf2 stores /tf_static): a bad transform is not stored, the scan is
    refused (``lidar.TransformError``) and the frame published. A finite but absurd translation (1e300 m) is stored,
    as tf2 stores it, and the scan it places is refused (``lidar.TransformError``); it was projected, with numpy's
    "overflow encountered in cast" RuntimeWarning, every point out of view."""
    frame = real_frame(distro)
    (entry,) = frame.tf.transforms
    q = entry.transform.rotation
    xyzw = np.array([q.x, q.y, q.z, q.w])
    xyzw = {"same": xyzw, "zero": xyzw * 0, "double": xyzw * 2, "nan": np.array([np.nan, 0, 0, 1.0]),
            "inf": np.array([np.inf, 0, 0, 1.0]), "tiny": xyzw * 1e-200, "negated": -xyzw}[quaternion]  # fmt: skip
    t = entry.transform.translation
    xyz = {"same": [t.x, t.y, t.z], "nan": [np.nan, 0, 0], "inf": [0, -np.inf, 0], "huge": [1e300, 0, 0]}[translation]
    rotation = replace(q, x=float(xyzw[0]), y=float(xyzw[1]), z=float(xyzw[2]), w=float(xyzw[3]))
    moved = replace(t, x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))
    mutated = replace(entry, header=replace(entry.header, frame_id=parent), child_frame_id=child,
                      transform=replace(entry.transform, rotation=rotation, translation=moved))  # fmt: skip
    raw = valid_raw(frame)
    raw["tf"] = frame.cdr(replace(frame.tf, transforms=[mutated]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        outcome = run(frame, raw)
    assert outcome.reason == PUBLISHED, outcome
    if translation != "same":
        assert outcome.scan_reason == "lidar.TransformError", outcome


# ------------------------------------------------------------------------------------------- LaserScan

LASER_ODD = st.sampled_from([0.0, -0.0, 1e-12, -1.0, 1e10, 3e38, -3e38, float("nan"), float("inf"), -float("inf")])


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    edits=st.dictionaries(
        st.sampled_from(
            ["angle_min", "angle_max", "angle_increment", "time_increment", "scan_time", "range_min", "range_max"]
        ),
        LASER_ODD,
        max_size=3,
    ),
    ranges=st.sampled_from(["real", "empty", "one", "nan", "inf", "negative"]),
)
def test_a_laser_scan_with_odd_fields_is_counted_or_published(
    distro: str, edits: dict[str, float], ranges: str
) -> None:
    """A 2D LiDAR's scan (the KITTI sweep's level slice): refused (``lidar.<reason>``, frame published) or used,
    its beam times within a sweep."""
    frame = real_frame(distro)
    laser = frame.laser
    values = np.array(laser.ranges, dtype=np.float32)
    values = {"real": values, "empty": values[:0], "one": values[:1], "nan": np.where(values > 20, np.nan, values),
              "inf": np.where(values > 20, np.inf, values), "negative": -values}[ranges]  # fmt: skip
    raw = valid_raw(frame)
    raw["cloud"] = frame.cdr(replace(laser, ranges=values, **edits))
    outcome = run(frame, raw, scan_type=LASER)
    assert outcome.reason == PUBLISHED, outcome


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize("time_increment", [3e38, -3e38, 10.0])
def test_a_laser_scan_whose_beam_times_span_no_sweep_is_used_without_them(distro: str, time_increment: float) -> None:
    """A corrupt ``time_increment`` (float32's largest, or 10 s per beam): the sweep's middle was put 2.7e47 ns
    (or 9000 s) after the stamp, the stamp the node pairs the scan by, and the beam times were cast from +-Inf or
    past int64 to -9.2e18 ns. Beam times that span no sweep (over point_times.MAX_SPAN_NS) are not used, as a
    cloud's: the scan is one instant, its stamp, and it scales the frame."""
    frame = real_frame(distro)
    raw = valid_raw(frame)
    raw["cloud"] = frame.cdr(replace(frame.laser, time_increment=time_increment))
    laser = TYPESTORES[distro].deserialize_cdr(raw["cloud"], LASER)
    assert messages.sweep_middle_offset_ns(laser, LASER) == 0
    beam_dt_ns = messages.decode_scan(laser, LASER).point_dt_ns
    assert beam_dt_ns is not None and not beam_dt_ns.any()  # every beam at the stamp
    outcome = run(frame, raw, scan_type=LASER)
    assert outcome.reason == PUBLISHED and outcome.scan_reason == "", outcome


# ------------------------------------------------------------------------------------------- per-point times


def timed_cloud(frame: Frame, name: str, dtype: str) -> tuple[Any, np.ndarray]:
    """The Velodyne cloud with a per-point time field as drivers publish it (:mod:`~mono_depth_ros.core.point_times`):
    ``time`` float s before the header stamp (velodyne_pointcloud: the sweep's end), ``t`` uint32 ns after it
    (ouster-ros), ``timestamp`` float64 absolute s (Hesai); the times follow each point's azimuth over 100 ms."""
    xyz = np.array(frame.cloud.data, dtype=np.uint8).view("<f4").reshape(-1, 4)[:, :3]
    fraction = (np.arctan2(xyz[:, 1], xyz[:, 0]) + np.pi) / (2 * np.pi)
    stamp_s = ros_msgs.stamp_to_ns(frame.cloud.header.stamp) / 1e9
    times = {"time": fraction * 0.1 - 0.1, "t": fraction * 1e8, "timestamp": stamp_s + fraction * 0.1}[name]
    points = np.zeros(xyz.shape[0], dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), (name, dtype)])
    for column, axis in enumerate("xyz"):
        points[axis] = xyz[:, column]
    points[name] = times
    factory = rosbags_factory(frame.distro)
    cloud = ros_msgs.pointcloud2_from_structured(factory, frame.cloud.header, points, 1, points.size, True)
    return cloud, points


TIME_LAYOUTS = [("time", "<f4"), ("time", "<f8"), ("t", "<u4"), ("timestamp", "<f8")]
ODD_TIMES = st.sampled_from([np.nan, np.inf, -np.inf, 1e20, -1e20, 3e10, 1e300, 4e9, 0.0, -1.0])


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    layout=st.sampled_from(TIME_LAYOUTS),
    odd=st.dictionaries(st.integers(0, 20_000), ODD_TIMES, max_size=3),
)
def test_a_cloud_with_odd_point_times_is_used_with_times_of_a_sweep_or_none(
    distro: str, layout: tuple[str, str], odd: dict[int, float]
) -> None:
    frame = real_frame(distro)
    cloud, points = timed_cloud(frame, *layout)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN, Inf or past the type's range: what a corrupt field holds
        for index, value in odd.items():
            points[layout[0]][index] = np.array(value).astype(points.dtype[layout[0]])
    factory = rosbags_factory(distro)
    mutated = ros_msgs.pointcloud2_from_structured(factory, cloud.header, points, 1, points.size, False)
    raw = valid_raw(frame)
    raw["cloud"] = frame.cdr(mutated)
    outcome = run(frame, raw)
    assert outcome.reason == PUBLISHED and outcome.scan_reason == "", outcome


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize(("layout", "corrupt"), [(("time", "<f4"), 1e20), (("time", "<f8"), -3e10),
                                                 (("timestamp", "<f8"), 1e300)])  # fmt: skip
def test_one_point_time_past_int64_makes_the_times_no_sweep(
    distro: str, layout: tuple[str, str], corrupt: float
) -> None:
    """One point's time corrupt (1e20 s, -3e10 s, 1e300 s): its offset was cast past int64 to -9.2e18 ns, whose
    absolute value wraps to itself, so the 'any offset beyond a sweep' check passed: the sweep's middle went 146
    years before the stamp (the stamp the node pairs the scan by) and that point was de-skewed from then. Times
    with an offset beyond a sweep are no sweep: not used (the scan dates from its stamp), as for a smaller one."""
    frame = real_frame(distro)
    cloud, points = timed_cloud(frame, *layout)
    assert messages.sweep_middle_offset_ns(cloud) != 0  # a sweep: its middle 50 ms before the stamp
    points[layout[0]][1234] = corrupt
    mutated = ros_msgs.pointcloud2_from_structured(rosbags_factory(distro), cloud.header, points, 1, points.size, True)
    mutated = TYPESTORES[distro].deserialize_cdr(frame.cdr(mutated), CLOUD)
    assert messages.sweep_middle_offset_ns(mutated) == 0
    assert messages.decode_scan(mutated).point_dt_ns is None


# ------------------------------------------------------------------------------------------- prediction, headers

PREDICTION_VALUES = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e-30, 1e30, 3e38])


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    encoding=st.sampled_from(["32FC1", "16UC1", "mono16", "64FC1", "32FC2", "8UC1", ""]),
    size=st.sampled_from(["same", "width-1", "height+1", "transposed", "zero"]),
    odd=st.sampled_from(["none", "some", "most", "all"]),
    value=PREDICTION_VALUES,
    bigendian=st.booleans(),
)
def test_an_odd_external_prediction_is_counted_or_published(
    distro: str, encoding: str, size: str, odd: str, value: float, bigendian: bool
) -> None:
    frame = real_frame(distro)
    values = np.array(frame.prediction.data, np.uint8).view("<f4").reshape(CROP_H, CROP_W).copy()
    share = {"none": 0, "some": 17, "most": 2, "all": 1}[odd]
    if share:
        values.reshape(-1)[:: share if share > 1 else 1][
            : values.size - (values.size // 17 if odd == "most" else 0)
        ] = value
    height, width = {"same": (CROP_H, CROP_W), "width-1": (CROP_H, CROP_W - 1), "height+1": (CROP_H + 1, CROP_W),
                     "transposed": (CROP_W, CROP_H), "zero": (0, CROP_W)}[size]  # fmt: skip
    data = np.resize(values.reshape(-1), height * width).astype(np.float32).view(np.uint8)
    mutated = replace(frame.prediction, encoding=encoding, height=height, width=width, step=4 * width,
                      is_bigendian=int(bigendian), data=data)  # fmt: skip
    raw = valid_raw(frame)
    raw["prediction"] = frame.cdr(mutated)
    run(frame, raw)


FRAME_IDS = st.sampled_from(["camera_optical", "/camera_optical", "", " ", "camera optical", "ça", "a" * 5000, "/",
                             "//camera_optical", "camera_optical/", "\t"])  # fmt: skip


@SETTINGS
@given(
    distro=st.sampled_from(["humble", "jazzy"]),
    key=st.sampled_from(["image", "info", "prediction", "cloud"]),
    frame_id=FRAME_IDS,
    sec=st.sampled_from([0, 1, -1, 1_700_000_000, 2**31 - 1, -(2**31)]),
    nanosec=st.sampled_from([0, 999_999_999, 1_000_000_000, 2**32 - 1]),
)
def test_odd_header_stamps_and_frame_ids_are_counted_or_published(
    distro: str, key: str, frame_id: str, sec: int, nanosec: int
) -> None:
    frame = real_frame(distro)
    message = {"image": frame.image, "info": frame.info, "prediction": frame.prediction, "cloud": frame.cloud}[key]
    stamp = replace(message.header.stamp, sec=sec, nanosec=nanosec)
    raw = valid_raw(frame)
    raw[key] = frame.cdr(replace(message, header=replace(message.header, stamp=stamp, frame_id=frame_id)))
    run(frame, raw)
