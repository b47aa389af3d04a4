"""adapters.launch_instances: two depth.launch.py instances of one launch never share a namespace or an image."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.adapters.launch_instances import Instance, LaunchInstances, node_namespace
from mono_depth_ros.core.errors import ConfigError


class Context:
    """A launch context stand-in (identity and weak references are all that is used)."""


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


def test_cameras_in_their_own_namespaces_on_their_own_images_are_accepted() -> None:
    context = Context()
    LaunchInstances(context).add(Instance("/front", "/front/image_raw"))
    LaunchInstances(context).add(Instance("/left", "/left/image_raw"))
    LaunchInstances(context).add(Instance("/right", "/right/image_raw", "params_file"))
    LaunchInstances(Context()).add(Instance("/front", "/front/image_raw"))  # another launch


ROBOT = """
/**:
  ros__parameters:
    device: cpu
/left/mono_depth_node:
  ros__parameters:
    image_topic: /left/image_raw
"""


def test_the_image_topic_of_a_node_is_its_argument_else_its_params_file_sections(tmp_path: Path) -> None:
    robot = tmp_path / "robot.yaml"
    robot.write_text(ROBOT)
    assert Instance.of("/front", "/front/image_raw", str(robot)) == Instance("/front", "/front/image_raw", "image:=")
    assert Instance.of("/left", None, str(robot)) == Instance("/left", "/left/image_raw", "params_file")
    assert Instance.of("/rear", None, str(robot)).image == "/camera/image_raw"  # /** only: the default
    assert Instance.of("/", None, str(tmp_path / "missing.yaml")).image == "/camera/image_raw"  # the node says why


def test_two_includes_that_name_no_image_topic_are_refused(tmp_path: Path) -> None:
    """namespace:=front and namespace:=left with the shipped params file: both nodes ran on /camera/image_raw."""
    shipped = str(Path(__file__).resolve().parents[2] / "config" / "depth.yaml")
    context = Context()
    LaunchInstances(context).add(Instance.of("/front", None, shipped))
    with pytest.raises(ConfigError) as refused:
        LaunchInstances(context).add(Instance.of("/left", None, shipped))
    assert str(refused.value).startswith(
        "the node in namespace '/left' (params_file) and the node in namespace '/front' (params_file) would both "
        "compute depth from /camera/image_raw; on Humble"
    )
    assert str(refused.value).endswith("two nodes on one camera on purpose (two models): start them from two launches")


def test_a_second_node_in_the_same_namespace_is_refused() -> None:
    context = Context()
    LaunchInstances(context).add(Instance("/front", "/front/image_raw"))
    with pytest.raises(ConfigError, match=r"twice in namespace '/front': both nodes would publish /front/depth/image"):
        LaunchInstances(context).add(Instance("/front", "/left/image_raw"))
    with pytest.raises(ConfigError, match=r"namespace '/': both nodes would publish /depth/image.*scoped=True"):
        instances = LaunchInstances(Context())
        instances.add(Instance("/", ""))
        instances.add(Instance("/", ""))


def test_a_second_node_on_the_image_argument_of_the_first_is_refused() -> None:
    """What an include that leaves image:= out gets on Humble: the include before it's image."""
    context = Context()
    LaunchInstances(context).add(Instance("/front", "/front/image_raw"))
    with pytest.raises(ConfigError) as raised:
        LaunchInstances(context).add(Instance("/left", "/front/image_raw"))
    text = str(raised.value)
    assert text.startswith(
        "the node in namespace '/left' (image:=) and the node in namespace '/front' (image:=) would both compute "
        "depth from /front/image_raw; on Humble an include's launch arguments stay set"
    )
    assert "GroupAction([...], scoped=True)" in text and "its /<namespace>/mono_depth_node section of params_file" in (
        text
    )
