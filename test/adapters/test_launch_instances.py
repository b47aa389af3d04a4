"""adapters.launch_instances: two depth.launch.py instances of one launch never share a namespace or an image."""

from __future__ import annotations

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
    LaunchInstances(context).add(Instance("/right", ""))  # its topic from params_file
    LaunchInstances(context).add(Instance("/rear", ""))
    LaunchInstances(Context()).add(Instance("/front", "/front/image_raw"))  # another launch


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
        "the node in namespace '/left' and the node in namespace '/front' would both compute depth from "
        "image:=/front/image_raw; on Humble an include's launch arguments stay set"
    )
    assert "GroupAction([...], scoped=True)" in text and "set their image_topic in params_file instead" in text
