"""Shared by the demo tests: a tiny random checkpoint (the shipped model's stand-in), the Nav2 preset as demo
overrides, and the check that every output frame is in the input bag's TF tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.config import load_params_file
from mono_depth_ros.core.laser_scan import scan_frame_id
from mono_depth_ros.core.ros_msgs import stamp_to_ns
from mono_depth_ros.core.synthetic import FRAME_CAMERA
from mono_depth_ros.core.tf_buffer import TfBuffer
from mono_depth_ros.demo import DemoReport
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy
from mono_depth_ros.models.unet import make_unet_spec


def write_tiny_checkpoint(path: Path) -> Path:
    """A ~20 k parameter unet with random weights at a 64x96 input (milliseconds per frame)."""
    spec = make_unet_spec(
        "resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 8, 8, 16], input_policy=InputPolicy(64, 96)
    )
    torch.manual_seed(0)
    return save_checkpoint(path, build_model(spec).state_dict(), spec)


def nav2_overrides() -> list[str]:
    """config/depth_nav2.yaml (``nav2:=true``) as ``name=value`` demo overrides."""
    nav2 = load_params_file(Path(__file__).parents[2] / "config" / "depth_nav2.yaml")
    return [f"{name}={str(value).lower() if isinstance(value, bool) else value}" for name, value in nav2.items()]


def assert_output_frames_are_in_the_input_tf(report: DemoReport) -> None:
    """Every header frame the node wrote (diagnostics aside) is connected to the camera in the input bag's TF, at
    the message's stamp; /depth/scan is there, in the camera's body frame, the REP 103 rotation from the optical."""
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    tf = TfBuffer()
    with Reader(report.input_bag) as reader:
        for connection, _, raw in reader.messages():
            if connection.topic in ("/tf_static", "/tf"):
                message = typestore.deserialize_cdr(raw, connection.msgtype)
                tf.add_tf_message(message, static=connection.topic == "/tf_static")
    frames_by_topic: dict[str, set[tuple[str, int]]] = {}
    with Reader(report.output_bag) as reader:
        for connection, _, raw in reader.messages():
            message = typestore.deserialize_cdr(raw, connection.msgtype)
            if hasattr(message, "header") and not connection.msgtype.startswith("diagnostic_msgs/"):  # frameless
                stamped = (message.header.frame_id, stamp_to_ns(message.header.stamp))
                frames_by_topic.setdefault(connection.topic, set()).add(stamped)
    assert {"/depth/image", "/depth/scan", "/depth/points_clearing"} <= set(frames_by_topic)
    assert {frame for frame, _ in frames_by_topic["/depth/scan"]} == {scan_frame_id(FRAME_CAMERA)}
    for topic, stamped_frames in frames_by_topic.items():
        for frame, stamp in stamped_frames:
            assert frame in tf.frames, f"{topic} is stamped in {frame!r}, not in the demo's TF {sorted(tf.frames)}"
            tf.lookup(FRAME_CAMERA, frame, stamp)  # raises when not connected to the camera
    body_from_optical = tf.lookup(scan_frame_id(FRAME_CAMERA), FRAME_CAMERA)
    np.testing.assert_allclose(body_from_optical.quaternion_xyzw, [-0.5, 0.5, -0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(body_from_optical.translation, 0.0, atol=1e-12)
