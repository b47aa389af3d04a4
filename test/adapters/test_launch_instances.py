"""adapters.launch_instances: two depth.launch.py instances of one launch never share a namespace or a camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.adapters.launch_instances import (
    Instance,
    LaunchInstances,
    Topic,
    expanded_topic,
    node_namespace,
    resolved_topic,
    same_scope_warning,
)
from mono_depth_ros.core.errors import ConfigError

SHIPPED = str(Path(__file__).resolve().parents[2] / "config" / "depth.yaml")


class Context:
    """A launch context stand-in (identity and weak references are all that is used)."""


def camera(namespace: str, name: str | None = None) -> Instance:
    """The node in ``namespace`` on the camera ``name`` (default: the namespace's), both topics given as arguments."""
    name = name or namespace.strip("/")
    return Instance(namespace, Topic(f"/{name}/image_raw", "image:="), Topic(f"/{name}/camera_info", "camera_info:="))


@pytest.mark.parametrize(
    ("pushed", "given", "expected"),
    [
        (None, "", "/"),
        (None, "front", "/front"),
        (None, "/robot1/front/", "/robot1/front"),
        ("robot1", "front", "/robot1/front"),
        ("/robot1", "", "/robot1"),
        ("/robot1", "/front", "/front"),  # absolute: the pushed namespace does not apply (launch_ros)
    ],
)
def test_the_namespace_is_the_one_launch_ros_gives_the_node(pushed: str | None, given: str, expected: str) -> None:
    assert node_namespace(pushed, given) == expected


def test_cameras_in_their_own_namespaces_on_their_own_topics_are_accepted() -> None:
    context = Context()
    for namespace in ("/front", "/left", "/right"):
        LaunchInstances(context).add(camera(namespace))
    LaunchInstances(Context()).add(camera("/front"))  # another launch


ROBOT = """
/**:
  ros__parameters:
    device: cpu
/left/mono_depth_node:
  ros__parameters:
    image_topic: /left/image_raw
    camera_info_topic: /left/camera_info
"""


def test_the_topics_of_a_node_are_its_arguments_else_its_params_file_sections(tmp_path: Path) -> None:
    robot = tmp_path / "robot.yaml"
    robot.write_text(ROBOT)
    front = Instance.of("/front", {"image": "/front/image_raw", "camera_info": None}, str(robot))
    assert front == Instance(
        "/front", Topic("/front/image_raw", "image:="), Topic("/camera/camera_info", "params_file")
    )
    left = Instance.of("/left", {}, str(robot))
    assert left == Instance("/left", Topic("/left/image_raw", "params_file"), Topic("/left/camera_info", "params_file"))
    assert Instance.of("/rear", {}, str(robot)).image.name == "/camera/image_raw"  # /** only: the default
    assert Instance.of("/", {}, str(tmp_path / "missing.yaml")).image.name == "/camera/image_raw"  # the node says why


def test_a_second_node_in_the_same_namespace_is_refused() -> None:
    context = Context()
    LaunchInstances(context).add(camera("/front"))
    with pytest.raises(ConfigError, match=r"twice in namespace '/front': both nodes would publish /front/depth/image"):
        LaunchInstances(context).add(camera("/front", "left"))
    with pytest.raises(ConfigError, match=r"namespace '/': both nodes would publish /depth/image.*scoped=True"):
        instances = LaunchInstances(Context())
        instances.add(camera("/", "a"))
        instances.add(camera("/", "b"))


def test_a_second_node_on_the_image_argument_of_the_first_is_refused() -> None:
    """What an include that leaves image:= out gets on Humble: the include before it's image."""
    context = Context()
    LaunchInstances(context).add(camera("/front"))
    with pytest.raises(ConfigError) as raised:
        LaunchInstances(context).add(Instance("/left", camera("/front").image, camera("/left").camera_info))
    text = str(raised.value)
    assert text.startswith(
        "the node in namespace '/left' (image:=) and the node in namespace '/front' (image:=) would both compute "
        "depth from /front/image_raw; on Humble an include's launch arguments stay set"
    )
    assert "GroupAction([...], scoped=True)" in text and "its /<namespace>/mono_depth_node section of params_file" in (
        text
    )


def test_a_second_node_on_the_calibration_of_the_first_is_refused() -> None:
    context = Context()
    LaunchInstances(context).add(camera("/front"))
    with pytest.raises(ConfigError, match=r"would both take their calibration from /front/camera_info"):
        LaunchInstances(context).add(Instance("/left", camera("/left").image, camera("/front").camera_info))


def test_two_includes_that_name_no_topic_are_refused() -> None:
    """namespace:=front and namespace:=left with the shipped params file: both nodes ran on /camera/image_raw."""
    context = Context()
    LaunchInstances(context).add(Instance.of("/front", {}, SHIPPED))
    with pytest.raises(ConfigError) as refused:
        LaunchInstances(context).add(Instance.of("/left", {}, SHIPPED))
    assert str(refused.value).startswith(
        "the node in namespace '/left' (params_file) and the node in namespace '/front' (params_file) would both "
        "compute depth from /camera/image_raw; on Humble"
    )
    assert str(refused.value).endswith("two nodes on one camera on purpose (two models): start them from two launches")


@pytest.mark.parametrize(
    ("name", "namespace", "expected"),
    [
        ("image_raw", "/front", "/front/image_raw"),
        ("cam/image_raw", "/robot1/front", "/robot1/front/cam/image_raw"),
        ("image_raw", "/", "/image_raw"),
        ("/camera/image_raw", "/front", "/camera/image_raw"),
        ("~/image", "/front", "/front/mono_depth_node/image"),
        ("~", "/", "/mono_depth_node"),
    ],
)
def test_topics_expand_in_the_nodes_namespace_as_rcl_expands_them(name: str, namespace: str, expected: str) -> None:
    assert expanded_topic(name, namespace) == expected


def test_remap_rules_apply_to_the_expanded_name_first_match_only() -> None:
    rules = [("image_raw", "/cams/front"), ("/cams/front", "/elsewhere"), ("/camera/camera_info", "info")]
    assert resolved_topic("image_raw", "/front", rules) == "/cams/front"  # one rule, not a chain
    assert resolved_topic("/front/image_raw", "/front", rules) == "/cams/front"  # the rule's name expanded too
    assert resolved_topic("image_raw", "/left", rules) == "/cams/front"  # (expanded in left's namespace: matches)
    assert resolved_topic("/camera/camera_info", "/front", rules) == "/front/info"
    assert resolved_topic("/camera/image_raw", "/front", rules) == "/camera/image_raw"


def test_cameras_named_alike_relative_to_their_namespaces_or_remapped_apart_are_two_cameras() -> None:
    """``image:=image_raw`` in front and in left are /front/image_raw and /left/image_raw: refused as 'both compute
    depth from image_raw' (the names compared as typed), failing the usual relative-topic multi-camera launch."""
    relative: dict[str, str | None] = {"image": "image_raw", "camera_info": "camera_info"}
    context = Context()
    LaunchInstances(context).add(Instance.of("/front", relative, SHIPPED))
    left = Instance.of("/left", relative, SHIPPED, [("/left/image_raw", "/cams/left")])
    assert left == Instance("/left", Topic("/cams/left", "image:="), Topic("/left/camera_info", "camera_info:="))
    LaunchInstances(context).add(left)
    remapped_together = Instance.of("/rear", relative, SHIPPED, [("image_raw", "/front/image_raw")])
    with pytest.raises(ConfigError, match=r"'/rear' \(image:=\) and .* '/front' \(image:=\) would both compute depth "
                                          r"from /front/image_raw"):  # fmt: skip
        LaunchInstances(context).add(remapped_together)  # another name, the same topic: refused now


def test_a_second_include_that_still_sees_the_first_ones_mark_shares_its_scope() -> None:
    configurations: dict[str, str] = {}
    assert same_scope_warning(configurations, "/front", {"use_lidar": "false", "device": "cuda"}) is None
    warning = same_scope_warning(configurations, "/left", {"use_lidar": "false", "device": "cpu"})
    assert warning is not None and "as the one for '/front'" in warning and "the same here: use_lidar=false;" in warning
    restored: dict[str, str] = {}  # a scoped GroupAction gives the next include the configurations before the first
    assert same_scope_warning(restored, "/right", {"use_lidar": "false"}) is None
