"""The topic names the node shows an operator: the ones its subscriptions and publishers resolved, not its parameters'.

rcl expands a topic name in the node's namespace and applies the remap rules (``--ros-args -r
/camera/image_raw:=/robot1/cam/image``, ``SetRemap`` in a launch file) to every subscription and publisher the node
makes. Its warnings named the parameter's value instead: "no image received on /camera/image_raw: nothing publishes
it" while the node subscribed ``/robot1/cam/image``. :func:`shown_topic` words a topic as subscribed (and, when that
differs, where it came from); ``resolve`` is rclpy's ``Node.resolve_topic_name`` (expand, then remap: what
``create_subscription`` does). Graph look-ups keep the parameter's name: rclpy's ``get_publishers_info_by_topic``
remaps it itself (a resolved name would be remapped twice: ``-r /left:=/right -r /right:=/left`` swaps back).
With compressed transport the image topic is image_transport's ``<base>/compressed`` of the *resolved* base
(:func:`subscribed_image_topic`): a rule for the base (``-r /camera/image_raw:=/robot1/cam/image``) carries over to
``/robot1/cam/image/compressed``, as image_transport and image_pipeline (PR #851) name it. ROS-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mono_depth_ros.depth_config import DepthConfig


def shown_topic(topic: str, resolve: Callable[[str], str]) -> str:
    """``topic`` as the node subscribes it: ``/robot1/cam/image (from /camera/image_raw)`` when a namespace or a
    remap rule changed it, else ``topic`` itself."""
    resolved = resolve(topic)
    return topic if resolved == topic else f"{resolved} (from {topic})"


def subscribed_image_topic(image_topic: str, transport: str, resolve: Callable[[str], str]) -> str:
    """The name the node gives ``create_subscription`` for its image: ``image_topic`` itself with ``transport`` raw
    (rcl expands and remaps it), else image_transport's ``<base>/compressed`` of the base as resolved (expanded and
    remapped: ``resolve``), so a remap rule of the base carries over; an ``image_topic`` that already ends in
    ``/compressed`` is taken as it is. (rcl still applies a rule for the whole compressed name to what it is given,
    as it does for image_transport's subscriptions.)"""
    if transport != "compressed" or image_topic.endswith("/compressed"):
        return image_topic
    return resolve(image_topic) + "/compressed"


SWITCHED_OUTPUTS: dict[str, tuple[str, Callable[[DepthConfig], bool]]] = {
    "depth/points": ("cloud.enabled", lambda config: config.cloud.enabled),
    "depth/points_clearing": ("cloud.clearing", lambda config: config.cloud.clearing),
    "depth/scan": ("scan.enabled", lambda config: config.scan.enabled),
}
"""The node's outputs (as given to ``create_publisher``) a parameter turns on and off: the publisher is made either
way (a run-time switch), so the start-up line names the ones off, with the parameter, apart from those published."""


def startup_text(
    config: DepthConfig, image_topic: str, image_type: str, resolve: Callable[[str], str], outputs: Iterable[str]
) -> str:
    """The node's start-up line: its inputs (``image_topic``: :func:`subscribed_image_topic`'s) and ``outputs`` (as
    given to ``create_publisher``) resolved as it subscribes and publishes them, sync mode, LiDAR, backend (with
    ``external``, the prediction topic it pairs with each image); the outputs their parameter turns off
    (:data:`SWITCHED_OUTPUTS`) after ``off:``."""
    topics = config.topics
    off = {topic: SWITCHED_OUTPUTS[topic][0] for topic in outputs if topic in SWITCHED_OUTPUTS}
    off = {topic: name for topic, name in off.items() if not SWITCHED_OUTPUTS[topic][1](config)}
    published = ", ".join(resolve(topic) for topic in outputs if topic not in off)
    switched_off = ", ".join(f"{resolve(topic)} ({name})" for topic, name in off.items())
    external = f" (predictions from {resolve(topics.prediction)})" if config.model.backend == "external" else ""
    return (
        f"depth from {resolve(image_topic)} ({image_type}), camera_info {resolve(topics.camera_info)} "
        f"({config.sync.mode}), LiDAR {resolve(topics.lidar) if topics.lidar else 'off'}, backend "
        f"{config.model.backend}{external}; publishing {published}" + (f"; off: {switched_off}" if off else "")
    )
