"""adapters/topic_names.py: the node names its topics as it subscribed them (namespace, remap rules)."""

from __future__ import annotations

from mono_depth_ros.adapters.topic_names import shown_topic, startup_text, subscribed_image_topic
from mono_depth_ros.depth_config import DepthConfig

REMAPS = {"/camera/image_raw": "/robot1/cam/image", "/velodyne_points": "/robot1/points"}


def robot1(topic: str) -> str:
    """rcl's resolution in namespace /robot1 with the remap rules REMAPS (expand, then remap)."""
    expanded = topic if topic.startswith("/") else "/robot1/" + topic
    return REMAPS.get(expanded, expanded)


def test_a_remapped_or_relative_topic_is_shown_as_subscribed_with_its_parameters_name() -> None:
    assert shown_topic("/camera/image_raw", robot1) == "/robot1/cam/image (from /camera/image_raw)"
    assert shown_topic("camera_info", robot1) == "/robot1/camera_info (from camera_info)"
    assert shown_topic("/camera/camera_info", robot1) == "/camera/camera_info"  # no rule: as it is


def test_compressed_transport_appends_to_the_image_topic_as_remapped() -> None:
    """With ``-r /camera/image_raw:=/robot1/cam/image`` the node subscribed /camera/image_raw/compressed (the
    parameter's name plus /compressed, which no rule remaps): image_transport resolves the base first, then appends.
    Raw and an image_topic already ending in /compressed are given to rcl as they are (it resolves them)."""
    assert subscribed_image_topic("/camera/image_raw", "compressed", robot1) == "/robot1/cam/image/compressed"
    assert subscribed_image_topic("image_raw", "compressed", robot1) == "/robot1/image_raw/compressed"
    assert subscribed_image_topic("/camera/image_raw", "raw", robot1) == "/camera/image_raw"
    assert subscribed_image_topic("/cam/image/compressed", "compressed", robot1) == "/cam/image/compressed"
    config = DepthConfig.from_params({"image_transport": "compressed"})
    subscribed = subscribed_image_topic(config.topics.image, config.topics.image_transport, robot1)
    text = startup_text(config, subscribed, "CompressedImage", robot1, [])
    assert text.startswith("depth from /robot1/cam/image/compressed (CompressedImage), camera_info")


def test_the_startup_line_names_the_inputs_and_outputs_as_subscribed_and_published() -> None:
    config = DepthConfig.from_params({"lidar_topic": "/velodyne_points"})
    text = startup_text(config, "/camera/image_raw", "Image", robot1, ["depth/image", "/diagnostics"])
    assert text == (
        "depth from /robot1/cam/image (Image), camera_info /camera/camera_info (approximate), LiDAR /robot1/points, "
        "backend unet; publishing /robot1/depth/image, /diagnostics"
    )
    assert "LiDAR off" in startup_text(DepthConfig.from_params({}), "/camera/image_raw", "Image", robot1, [])


def test_the_startup_line_names_outputs_their_parameters_turn_off_apart() -> None:
    """By default /depth/points_clearing and /depth/scan are off (``cloud.clearing``, ``scan.enabled``), their
    publishers made for a run-time switch: the start-up line said "publishing ... /depth/points_clearing, /depth/scan"
    and a user echoing /depth/scan waited for nothing (seen on real Humble)."""
    outputs = ["depth/image", "depth/camera_info", "depth/points", "depth/points_clearing", "depth/scan"]
    text = startup_text(DepthConfig.from_params({}), "/camera/image_raw", "Image", robot1, [*outputs, "/diagnostics"])
    assert text.endswith(
        "publishing /robot1/depth/image, /robot1/depth/camera_info, /robot1/depth/points, /diagnostics; off: "
        "/robot1/depth/points_clearing (cloud.clearing), /robot1/depth/scan (scan.enabled)"
    ), text
    config = DepthConfig.from_params({"cloud.enabled": False, "cloud.clearing": True, "scan.enabled": True})
    text = startup_text(config, "/camera/image_raw", "Image", robot1, outputs)
    assert text.endswith(
        "publishing /robot1/depth/image, /robot1/depth/camera_info, /robot1/depth/points_clearing, /robot1/depth/scan; "
        "off: /robot1/depth/points (cloud.enabled)"
    ), text


def test_the_startup_line_of_an_external_backend_names_the_prediction_topic_it_pairs() -> None:
    """``ros2 run mono_depth_ros mono_depth_node ... -p model.backend:=external`` (docs/ros2_node.md's second command)
    said only "backend external": which topic the predictions go to was in no line of the node (real Humble)."""
    config = DepthConfig.from_params({"model.backend": "external", "prediction_topic": "depth_net/depth"})
    text = startup_text(config, "/camera/image_raw", "Image", robot1, ["depth/image"])
    assert "backend external (predictions from /robot1/depth_net/depth); publishing" in text, text
    default = startup_text(DepthConfig.from_params({"model.backend": "external"}), "/x", "Image", robot1, [])
    assert "backend external (predictions from /depth_model/prediction);" in default, default
