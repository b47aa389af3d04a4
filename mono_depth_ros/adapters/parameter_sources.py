"""What reaches the node from its parameter sources, and the two mistakes rclpy applies silently.

rclpy hands a node the overrides (``--params-file`` sections and ``-p`` values) whose section key matches the node's
fully qualified name, and applies only those the node declares. So a misspelt name (``output.max_rnage``), a level
too many (the node name repeated under ``ros__parameters``), a section for another node name (``depth_node:``) or a
``mono_depth_node:`` section for a node launched in a namespace change nothing and say nothing. These functions find
both cases and word the warnings; :mod:`mono_depth_ros.node` logs them at start-up. ROS-free.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mono_depth_ros.adapters.parameters import as_double
from mono_depth_ros.config import NODE_NAME, PARAMS_BY_NAME, missing_config_hint
from mono_depth_ros.core.names import did_you_mean, section_matches


def params_files(argv: Sequence[str]) -> list[str]:
    """The ``--params-file PATH`` paths inside the ``--ros-args`` sections of a command line, in order."""
    paths: list[str] = []
    in_ros_args = False
    tokens = iter(argv)
    for token in tokens:
        if token == "--ros-args":
            in_ros_args = True
        elif token == "--":
            in_ros_args = False
        elif in_ros_args and token == "--params-file":
            path = next(tokens, None)
            if path is not None:
                paths.append(path)
    return paths


def logger_name(argv: Sequence[str] | None = None, default: str = NODE_NAME) -> str:
    """The node's logger name as rclpy forms it (``left.mono_depth_node``) from the ``-r __ns:=`` / ``-r __node:=``
    remaps in the ``--ros-args`` of a command line (default: the process's), for a message logged before the node
    exists or when it failed to: with several cameras, it says which one."""
    namespace, name, in_ros_args = "", default, False
    tokens = iter(sys.argv if argv is None else argv)
    for token in tokens:
        if token in ("--ros-args", "--"):
            in_ros_args = token == "--ros-args"
        elif in_ros_args and token in ("-r", "--remap"):
            remap = next(tokens, "")
            if remap.startswith("__ns:="):
                namespace = remap.split(":=", 1)[1]
            elif remap.startswith("__node:="):
                name = remap.split(":=", 1)[1]
    return ".".join([*(part for part in namespace.split("/") if part), name])


def unmatched_file_warning(path: str, document: Any, node_fqn: str) -> str | None:
    """A warning when no section of the params file ``document`` (parsed YAML) applies to ``node_fqn``, else None.

    A document that is not a mapping of sections is left to rcl, which refuses it at ``rclpy.init``.
    """
    if not isinstance(document, Mapping) or not document:
        return None
    keys = [str(key) for key in document]
    if any(section_matches(key, node_fqn) for key in keys):
        return None
    name = node_fqn.rsplit("/", 1)[-1]
    accepted = f"/**, {name}, /{name}" if node_fqn == "/" + name else f"/**, /**/{name}, {node_fqn}"
    return (
        f"parameters file {path}: no section applies to this node {node_fqn} (sections: {', '.join(keys)}), so "
        f"nothing in it is used; name the section {accepted} (with ros__parameters under it)"
    )


def unmatched_files_warnings(argv: Sequence[str], node_fqn: str) -> list[str]:
    """:func:`unmatched_file_warning` for every ``--params-file`` of ``argv`` (unreadable files are rcl's to report)."""
    warnings = []
    for path in params_files(argv):
        try:
            with open(path, encoding="utf-8") as stream:
                document = yaml.safe_load(stream)
        except (OSError, yaml.YAMLError):
            continue
        warning = unmatched_file_warning(path, document, node_fqn)
        if warning is not None:
            warnings.append(warning)
    return warnings


def unknown_override_warnings(names: Iterable[str], declared: Callable[[str], bool]) -> list[str]:
    """One warning per override name (from a params file or ``-p``) the node did not declare: rclpy ignores them.

    ``declared`` says whether the node has the parameter (ours, and rclpy's own such as ``use_sim_time``); the
    warning names the nearest parameters of :data:`~mono_depth_ros.config.PARAMS`.
    """
    return [
        f"parameter {name!r} (params file or -p) is not a parameter of this node and is ignored{_hint(name)}"
        for name in sorted(names)
        if not declared(name)
    ]


def _hint(name: str) -> str:
    if name.startswith("qos_overrides."):  # rclpy's QoS overriding: only for publishers / subscriptions that opt in
        return "; this node's QoS is set by input_qos and output_qos (sensor_data | reliable)"
    return did_you_mean(name, PARAMS_BY_NAME)


def ignored_sources(
    overrides: Iterable[str], declared: Callable[[str], bool], node_fqn: str, argv: Sequence[str] | None = None
) -> list[str]:
    """The node's start-up warnings: :func:`unknown_override_warnings` for the override names rclpy gave it, then
    :func:`unmatched_files_warnings` for the ``--params-file`` files of ``argv`` (default: the process's command
    line, which ``rclpy.init`` parsed)."""
    return unknown_override_warnings(overrides, declared) + unmatched_files_warnings(
        sys.argv if argv is None else argv, node_fqn
    )


def doubles_for_ints(overrides: dict[str, Any]) -> None:
    """rclpy's start-up overrides (``Node._parameter_overrides``: name -> ``Parameter``, the params file's sections
    and ``-p`` values), in place, through :func:`~.parameters.as_double`: an integer for a float parameter
    (``max_range: 80``) held as the float (80.0), not as an INTEGER. Call it before the parameters are declared."""
    overrides.update({name: as_double(parameter) for name, parameter in overrides.items()})


def warn_ignored(node: Any) -> None:
    """Log :func:`ignored_sources` for ``node`` (rclpy's, duck-typed: its ``_parameter_overrides``, the matched
    sections and ``-p`` values on Humble and Jazzy, ``has_parameter``, ``get_fully_qualified_name``, ``get_logger``):
    rclpy drops undeclared names and files for other nodes silently. Call it once the parameters are declared."""
    overrides = getattr(node, "_parameter_overrides", {})
    for warning in ignored_sources(overrides, node.has_parameter, node.get_fully_qualified_name()):
        node.get_logger().warning(warning)


def init_failure_text(err: Exception) -> str:
    """One line for an ``rclpy.init`` failure (rcl refused the command line, e.g. a params file it cannot parse):
    rcl's message without its source locations, and the file layout when the ``ros__parameters`` level is the issue
    (``mono_depth_node: {output: ...}`` gives "Cannot have a value before ros__parameters"), the forms a remap rule
    takes when rcl cannot parse one (``-r __ns:=robot1`` gives "Expected lexeme type 19, got 18")."""
    text = re.sub(r",? at /\S+:\d+", "", str(err)).strip()
    if "ros__parameters" in text:
        text += (
            "; each section of a params file is a node name (mono_depth_node) or /** with ros__parameters: under "
            "it and the parameters under that"
        )
    unopened = re.search(r"Couldn't parse params file: '--params-file (.+?)'\. Error: Error opening YAML file", text)
    if unopened is not None and not Path(unopened.group(1)).is_absolute():  # relative to where? and the package's
        text += missing_config_hint(Path(unopened.group(1)))
    if "Couldn't parse remap rule" in text:  # rcl names only its lexer's tokens ("Expected lexeme type 19, got 18")
        text += (
            "; a remap rule is FROM:=TO of ROS names (letters, digits, _ and /, no spaces): -r "
            "/camera/image_raw:=/robot1/cam/image; __ns:= takes an absolute namespace (-r __ns:=/robot1), __node:= a "
            "plain name (-r __node:=front)"
        )
    return text
