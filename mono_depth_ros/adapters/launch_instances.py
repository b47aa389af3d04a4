"""The instances of ``launch/depth.launch.py`` in one launch: two cameras share no namespace and no camera topic.

A robot with several cameras includes ``depth.launch.py`` once per camera. On Humble an
``IncludeLaunchDescription``'s ``launch_arguments`` are launch configurations of the whole launch, not of that
include: an include that leaves ``image:=`` (or ``namespace:=``) out takes the value the include before it was
given. The second node then silently computes its depth from the first camera (the per-namespace section of a
params file that names its own topic loses to the inherited argument), or publishes on the first node's topics.
Includes that give a namespace but no image topic at all run every node on the params file's one
``/camera/image_raw``. :class:`LaunchInstances` remembers the instances of one launch and refuses a second one in
the same namespace or on the same image or camera_info topic, with the remedy; :func:`same_scope_warning` names
the arguments a second include in the same launch-configuration scope (no ``GroupAction(scoped=True)`` around
each) may have taken from the first (``use_lidar:=false``, ``weights:=``, ``nav2:=true``). Topics are compared as
the node will subscribe them (:func:`resolved_topic`: ``image_raw`` in namespace front is ``/front/image_raw``, and
``SetRemap`` rules apply), not as typed. ROS-free (the launch file passes the launch context and its configurations).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mono_depth_ros.adapters.messages import DEPTH_IMAGE_TOPIC
from mono_depth_ros.config import NODE_NAME, PARAMS_BY_NAME, load_params_file
from mono_depth_ros.core.errors import ConfigError

SCOPED_INCLUDE = (
    "on Humble an include's launch arguments stay set for the includes after it: wrap each "
    "IncludeLaunchDescription of depth.launch.py in GroupAction([...], scoped=True) and give each its own "
    "namespace:=, image:= and camera_info:= (or image_topic and camera_info_topic in its "
    "/<namespace>/mono_depth_node section of params_file)"
)
SCOPE_MARK = "_mono_depth_ros.instance"
"""Launch configuration each include of depth.launch.py leaves set: a later include that still sees it shares the
scope (a scoped GroupAction restores the configurations when it ends)."""
_BY_CONTEXT: weakref.WeakKeyDictionary[Any, list[Instance]] = weakref.WeakKeyDictionary()


def node_namespace(pushed: str | None, given: str) -> str:
    """The namespace launch_ros gives the node: ``given`` (the ``namespace`` argument) under ``pushed`` (a
    ``PushRosNamespace`` around the include, launch configuration ``ros_namespace``) unless ``given`` is absolute;
    ``/``-separated, absolute, no trailing ``/`` (``/`` for none)."""
    name = given.strip()
    if not name.startswith("/") and pushed:
        name = f"{pushed}/{name}"
    return "/" + "/".join(part for part in name.split("/") if part)


def expanded_topic(name: str, namespace: str, node: str = NODE_NAME) -> str:
    """``name`` expanded as rcl expands a topic of the node ``node`` in ``namespace`` (absolute, as
    :func:`node_namespace` gives it): absolute names as they are, ``~`` / ``~/x`` in the node's private namespace
    (``/ns/node/x``), relative ones under the namespace (``image_raw`` → ``/ns/image_raw``)."""
    base = namespace.rstrip("/")
    if name.startswith("/"):
        return name
    if name == "~" or name.startswith("~/"):
        return f"{base}/{node}{name[1:]}"
    return f"{base}/{name}"


def resolved_topic(name: str, namespace: str, remaps: Sequence[tuple[str, str]] = ()) -> str:
    """``name`` as the node in ``namespace`` subscribes it: :func:`expanded_topic`, then the first of ``remaps``
    (``(from, to)`` pairs, as launch_ros passes ``SetRemap`` rules, launch configuration ``ros_remaps``) whose
    expanded ``from`` is that name gives the expanded ``to`` (rcl's rule: one rule, the first that matches)."""
    expanded = expanded_topic(name, namespace)
    for source, target in remaps:
        if ":" not in source and expanded_topic(source, namespace) == expanded:  # (node-specific rules: not ours)
            return expanded_topic(target, namespace)
    return expanded


@dataclass(frozen=True)
class Topic:
    """An input topic of a node and where it comes from: its launch argument (``image:=``) or ``params_file`` (the
    file's sections for the node, else the parameter's default)."""

    name: str
    source: str


@dataclass(frozen=True)
class Instance:
    """One node of ``depth.launch.py``: its namespace (:func:`node_namespace`), image and camera_info topics."""

    namespace: str
    image: Topic
    camera_info: Topic

    @classmethod
    def of(
        cls,
        namespace: str,
        arguments: dict[str, str | None],
        params_file: str,
        remaps: Sequence[tuple[str, str]] = (),
    ) -> Instance:
        """The node in ``namespace`` given the ``image`` and ``camera_info`` launch arguments (None: not given) and
        ``params_file``; a file that cannot be read for the node leaves the defaults (the node reports the file).
        Its topics are named as it subscribes them (:func:`resolved_topic` with the launch's ``remaps``)."""
        try:
            values = load_params_file(Path(params_file), f"{namespace.rstrip('/')}/{NODE_NAME}")
        except ConfigError:
            values = {}
        topics = []
        for argument, parameter in (("image", "image_topic"), ("camera_info", "camera_info_topic")):
            given = arguments.get(argument)
            from_file = str(values.get(parameter, PARAMS_BY_NAME[parameter].default))
            name, source = (given, f"{argument}:=") if given is not None else (from_file, "params_file")
            topics.append(Topic(resolved_topic(name, namespace, remaps), source))
        return cls(namespace, *topics)


class LaunchInstances:
    """The instances of ``depth.launch.py`` in one launch (``context``: the ``LaunchContext``, shared by every
    include of one ``ros2 launch``)."""

    def __init__(self, context: Any) -> None:
        self._instances = _BY_CONTEXT.setdefault(context, [])

    def add(self, instance: Instance) -> None:
        """Remember ``instance``.

        Raises:
            ConfigError: an earlier instance of this launch has the same namespace (both would publish on one
                ``<namespace>/depth/image``), the same image topic (both would compute depth from one camera) or the
                same camera_info topic (one camera's calibration for another's images).
        """
        for earlier in self._instances:
            if earlier.namespace == instance.namespace:
                topic = instance.namespace.rstrip("/") + DEPTH_IMAGE_TOPIC
                msg = (
                    f"depth.launch.py is launched twice in namespace {instance.namespace!r}: both nodes would publish "
                    f"{topic} (one camera's depth over the other's); {SCOPED_INCLUDE}"
                )
                raise ConfigError(msg)
            for what, mine, theirs in (
                ("compute depth from", instance.image, earlier.image),
                ("take their calibration from", instance.camera_info, earlier.camera_info),
            ):
                if mine.name == theirs.name:
                    msg = (
                        f"the node in namespace {instance.namespace!r} ({mine.source}) and the node in namespace "
                        f"{earlier.namespace!r} ({theirs.source}) would both {what} {mine.name}; {SCOPED_INCLUDE}; "
                        "two nodes on one camera on purpose (two models): start them from two launches"
                    )
                    raise ConfigError(msg)
        self._instances.append(instance)


def same_scope_warning(
    configurations: MutableMapping[str, str], namespace: str, arguments: Mapping[str, str]
) -> str | None:
    """A warning when an earlier include of depth.launch.py left its mark in ``configurations`` (the launch
    configurations in force: the same scope), naming the ``arguments`` (name → value, those not at their declared
    default) that have the earlier include's value; marks ``configurations`` for the includes after this one.

    Args:
        configurations: the launch context's ``launch_configurations``.
        namespace: this node's namespace (:func:`node_namespace`).
        arguments: this include's arguments that differ from their defaults (namespace excluded).
    """
    earlier = configurations.get(SCOPE_MARK)
    configurations[SCOPE_MARK] = json.dumps({"namespace": namespace, "arguments": dict(arguments)})
    if earlier is None:
        return None
    before = json.loads(earlier)
    same = [f"{name}={value}" for name, value in arguments.items() if before["arguments"].get(name) == value]
    return (
        f"depth.launch.py for namespace {namespace!r} is included in the same launch-configuration scope as the one "
        f"for {before['namespace']!r}: on Humble it takes every argument that one was given and it leaves out; the "
        f"same here: {', '.join(same) or 'none'}; if that is not what you meant, wrap each IncludeLaunchDescription "
        "of depth.launch.py in GroupAction([...], scoped=True)"
    )
