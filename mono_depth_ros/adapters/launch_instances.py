"""The instances of ``launch/depth.launch.py`` in one launch: two cameras must not share a namespace or an image.

A robot with several cameras includes ``depth.launch.py`` once per camera. On Humble an
``IncludeLaunchDescription``'s ``launch_arguments`` are launch configurations of the whole launch, not of that
include: an include that leaves ``image:=`` (or ``namespace:=``) out takes the value the include before it was
given. The second node then silently computes its depth from the first camera (the per-namespace section of a
params file that names its own topic loses to the inherited argument), or publishes on the first node's topics.
:class:`LaunchInstances` remembers the instances of one launch and refuses a second one in the same namespace or
on the same ``image:=`` argument, with the remedy. ROS-free (the launch file passes the launch context).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from mono_depth_ros.adapters.messages import DEPTH_IMAGE_TOPIC
from mono_depth_ros.core.errors import ConfigError

SCOPED_INCLUDE = (
    "on Humble an include's launch arguments stay set for the includes after it: wrap each "
    "IncludeLaunchDescription of depth.launch.py in GroupAction([...], scoped=True) and give each its own "
    "namespace:= and image:="
)
_BY_CONTEXT: weakref.WeakKeyDictionary[Any, list[Instance]] = weakref.WeakKeyDictionary()


def node_namespace(pushed: str | None, given: str) -> str:
    """The namespace launch_ros gives the node: ``given`` (the ``namespace`` argument) under ``pushed`` (a
    ``PushRosNamespace`` around the include, launch configuration ``ros_namespace``) unless ``given`` is absolute;
    ``/``-separated, absolute, no trailing ``/`` (``/`` for none)."""
    name = given.strip()
    if not name.startswith("/") and pushed:
        name = f"{pushed}/{name}"
    return "/" + "/".join(part for part in name.split("/") if part)


@dataclass(frozen=True)
class Instance:
    """One node of ``depth.launch.py``: its namespace (:func:`node_namespace`) and its ``image:=`` argument
    (empty when the topic comes from params_file)."""

    namespace: str
    image: str

    def __str__(self) -> str:
        return f"the node in namespace {self.namespace!r}"


class LaunchInstances:
    """The instances of ``depth.launch.py`` in one launch (``context``: the ``LaunchContext``, shared by every
    include of one ``ros2 launch``)."""

    def __init__(self, context: Any) -> None:
        self._instances = _BY_CONTEXT.setdefault(context, [])

    def add(self, instance: Instance) -> None:
        """Remember ``instance``.

        Raises:
            ConfigError: an earlier instance of this launch has the same namespace (both would publish on one
                ``<namespace>/depth/image``) or the same ``image:=`` argument (both would compute depth from one
                camera).
        """
        for earlier in self._instances:
            if earlier.namespace == instance.namespace:
                topic = instance.namespace.rstrip("/") + DEPTH_IMAGE_TOPIC
                msg = (
                    f"depth.launch.py is launched twice in namespace {instance.namespace!r}: both nodes would publish "
                    f"{topic} (one camera's depth over the other's); {SCOPED_INCLUDE}"
                )
                raise ConfigError(msg)
            if instance.image and earlier.image == instance.image:
                msg = (
                    f"{instance} and {earlier} would both compute depth from image:={instance.image}; {SCOPED_INCLUDE} "
                    "(two nodes on one camera on purpose: set their image_topic in params_file instead)"
                )
                raise ConfigError(msg)
        self._instances.append(instance)
