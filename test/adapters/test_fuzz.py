"""Hostile message fields through the adapters: every input either converts or raises a DepthError, nothing else.

A DepthError is what the node logs, counts (``bad_messages.<reason>``) and drops, and what the bag runner skips with
a reason; any other exception would be a worker error (node) or a traceback (bag runner). Fields are drawn by
hypothesis around the valid values: wrong sizes and steps, unknown encodings, NaN / negative / huge calibration,
point fields that overlap, overflow the point or have odd types.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mono_depth_ros.adapters.messages import decode_image, decode_prediction, decode_scan, frame_input
from mono_depth_ros.config import defaults
from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.ros_msgs import camera_model_from_camera_info
from mono_depth_ros.pipeline import DepthPipeline

from ..core.ros_msg_support import input_header, rosbags_factory

FACTORY = rosbags_factory("humble")
HEADER = input_header(FACTORY)
ENCODINGS = [
    "rgb8",
    "bgr8",
    "mono8",
    "mono16",
    "rgba8",
    "bgra8",
    "16UC1",
    "32FC1",
    "8UC3",
    "bayer_rggb8",
    "",
    "yuv422",
    "yuv422_yuy2",
    "bayer_rggb16",
    "nv21",
]
SIZES = st.integers(min_value=0, max_value=12) | st.sampled_from([2**31 - 1, 65535])
HEADERS = [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"\xff\xd8", b"\xff\xd8\xff\xc0", b"II*\x00", b"MM\x00*"]
"""Starts of PNG, JPEG and TIFF files: the garbage after them reaches the header parsers and the decoders."""
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, -1.0, 500.0, 1e308])


def converts_or_depth_error(convert: Any, message: Any) -> None:
    """Any other exception propagates and fails the test; a DepthError is what the node logs, counts and drops."""
    with contextlib.suppress(DepthError):
        convert(message)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=SIZES,
    width=SIZES,
    step=SIZES,
    encoding=st.sampled_from(ENCODINGS),
    data_len=st.integers(min_value=0, max_value=600),
    bigendian=st.integers(min_value=0, max_value=1),
)
def test_hostile_images_convert_or_raise_a_depth_error(
    height: int, width: int, step: int, encoding: str, data_len: int, bigendian: int
) -> None:
    data = np.arange(data_len, dtype=np.uint32).astype(np.uint8)
    message = FACTORY.new("sensor_msgs/msg/Image", header=HEADER, height=height, width=width, encoding=encoding,
                          is_bigendian=bigendian, step=step, data=data)  # fmt: skip
    converts_or_depth_error(lambda m: decode_image(m, "sensor_msgs/msg/Image"), message)
    converts_or_depth_error(decode_prediction, message)


@settings(max_examples=100, deadline=None)
@given(
    data=st.sampled_from(HEADERS).flatmap(lambda head: st.binary(max_size=300).map(lambda tail: head + tail)),
    image_format=st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "rgb8; tiff compressed ", ""]),
)
def test_hostile_compressed_images_convert_or_raise_a_depth_error(data: bytes, image_format: str) -> None:
    message = FACTORY.new("sensor_msgs/msg/CompressedImage", header=HEADER, format=image_format,
                          data=np.frombuffer(data, dtype=np.uint8))  # fmt: skip
    converts_or_depth_error(lambda m: decode_image(m, "sensor_msgs/msg/CompressedImage"), message)


@settings(max_examples=150, deadline=None)
@given(
    width=SIZES,
    height=SIZES,
    model=st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "fisheye", ""]),
    d=st.lists(FLOATS, max_size=9),
    k=st.lists(FLOATS, min_size=9, max_size=9),
    p=st.lists(FLOATS, min_size=12, max_size=12),
)
def test_hostile_camera_info_converts_or_raises_a_depth_error(
    width: int, height: int, model: str, d: list[float], k: list[float], p: list[float]
) -> None:
    roi = FACTORY.classes["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                do_rectify=False)  # fmt: skip
    message = FACTORY.new("sensor_msgs/msg/CameraInfo", header=HEADER, height=height, width=width,
                          distortion_model=model, d=np.array(d, dtype=np.float64), k=np.array(k), r=np.eye(3).ravel(),
                          p=np.array(p), binning_x=0, binning_y=0, roi=roi)  # fmt: skip
    converts_or_depth_error(camera_model_from_camera_info, message)


FIELD = st.tuples(
    st.sampled_from(["x", "y", "z", "intensity", "rgb", ""]),
    st.integers(min_value=0, max_value=40),  # offset
    st.integers(min_value=0, max_value=9),  # datatype (0 and 9 are not PointField types)
    st.integers(min_value=0, max_value=3),  # count
)


@settings(max_examples=150, deadline=None)
@given(
    fields=st.lists(FIELD, max_size=6),
    point_step=st.integers(min_value=0, max_value=40),
    width=SIZES,
    height=st.integers(min_value=0, max_value=3),
    row_step=SIZES,
    data_len=st.integers(min_value=0, max_value=500),
)
def test_hostile_point_clouds_convert_or_raise_a_depth_error(
    fields: list[tuple[str, int, int, int]], point_step: int, width: int, height: int, row_step: int, data_len: int
) -> None:
    point_fields = [FACTORY.new("sensor_msgs/msg/PointField", name=n, offset=o, datatype=t, count=c)
                    for n, o, t, c in fields]  # fmt: skip
    message = FACTORY.new("sensor_msgs/msg/PointCloud2", header=HEADER, height=height, width=width,
                          fields=point_fields, is_bigendian=False, point_step=point_step, row_step=row_step,
                          data=np.zeros(data_len, dtype=np.uint8), is_dense=False)  # fmt: skip
    converts_or_depth_error(decode_scan, message)


PIPELINE = DepthPipeline({**defaults(), "model.backend": "external", "scale.mode": "none"})
NEAR = st.sampled_from([0.0, -1.0, 1.0, 2.0, 500.0, float("nan"), float("inf"), 1e308])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    info_size=st.none() | st.tuples(st.integers(0, 8), st.integers(0, 8)),
    k_over=st.dictionaries(st.sampled_from([0, 2, 4, 5, 8]), NEAR, max_size=2),
    p_over=st.dictionaries(st.sampled_from([0, 2, 5, 6, 10]), NEAR, max_size=2),
    d=st.lists(st.sampled_from([0.0, 0.1, -0.3, float("nan")]), max_size=6),
    model=st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "fisheye"]),
    binning=st.integers(0, 3),
    roi=st.none() | st.tuples(*[st.integers(0, 9)] * 4),
    rectified=st.booleans(),
)
def test_hostile_camera_info_through_the_frame_path_is_a_depth_error_or_a_consistent_output(
    size: tuple[int, int],
    info_size: tuple[int, int] | None,
    k_over: dict[int, float],
    p_over: dict[int, float],
    d: list[float],
    model: str,
    binning: int,
    roi: tuple[int, int, int, int] | None,
    rectified: bool,
) -> None:
    """Image + CameraInfo as the node and the bag runner hand them over (frame_input, then the pipeline): a
    DepthError (counted and dropped), or a depth image of the image's size whose camera_info is finite."""
    height, width = size
    info_w, info_h = info_size if info_size is not None else (width, height)
    k = np.array([500.0, 0, width / 2, 0, 500, height / 2, 0, 0, 1])
    p = np.array([500.0, 0, width / 2, 0, 0, 500, height / 2, 0, 0, 0, 1, 0])
    k[list(k_over)], p[list(p_over)] = list(k_over.values()), list(p_over.values())
    x, y, roi_w, roi_h = roi if roi is not None else (0, 0, 0, 0)
    region = FACTORY.classes["sensor_msgs/msg/RegionOfInterest"](x_offset=x, y_offset=y, height=roi_h, width=roi_w,
                                                                 do_rectify=False)  # fmt: skip
    info = FACTORY.new("sensor_msgs/msg/CameraInfo", header=HEADER, height=info_h, width=info_w,
                       distortion_model=model, d=np.array(d, dtype=np.float64), k=k, r=np.eye(3).ravel(), p=p,
                       binning_x=binning, binning_y=binning, roi=region)  # fmt: skip
    image = FACTORY.new("sensor_msgs/msg/Image", header=HEADER, height=height, width=width, encoding="rgb8",
                        is_bigendian=0, step=3 * width, data=np.zeros(3 * width * height, np.uint8))  # fmt: skip
    prediction = np.full((height, width), 3.0, np.float32)
    try:
        camera = camera_model_from_camera_info(info)
        frame = frame_input(image, "sensor_msgs/msg/Image", camera, rectified, prediction=prediction)
        output = PIPELINE.process_frame(frame)
    except DepthError:
        return
    intrinsics = output.intrinsics
    assert output.depth_wire.shape == (intrinsics.height, intrinsics.width)
    assert np.isfinite([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy]).all()
