"""Launch mono_depth_node: ``ros2 launch mono_depth_ros depth.launch.py image:=/cam/image_rect lidar:=/points``.

Arguments:
  image, camera_info, lidar      input topics
  use_lidar                      true | false: ``use_lidar:=false`` turns LiDAR scale off whatever the params file
                                 says (Humble's ``ros2 launch`` rejects an empty value such as ``lidar:=''``)
  model, weights, device         model.backend, model.weights, device
  image_transport                raw | compressed (``image`` is then the base of <image>/compressed)
  params_file                    ROS params YAML (default: the installed config/depth.yaml)
  lifecycle                      true: run mono_depth_lifecycle_node, a managed node that loads the model on
                                 configure and subscribes on activate (for Nav2's lifecycle manager)
  nav2                           true: also apply the Nav2 preset config/depth_nav2.yaml over params_file (strided
                                 cloud, /depth/points_clearing, /depth/scan; see config/nav2_costmap_example.yaml)
  namespace                      ROS namespace of the node and its relative output topics (depth/...)
  use_sim_time                   true | false: the node's use_sim_time (ROS time from /clock, for a bag played
                                 with --clock or a simulator); default: params_file's value (or false)

Given wrong, the launch says so instead of running a node the user did not ask for: a params_file that is not a
file ends it with an error (launch_ros only warns and starts the node on its defaults), and an argument this file
does not declare (``imgae:=``: ``ros2 launch`` ignores it) is warned about with the nearest declared names.

Several cameras: include this file once per camera, each in ``GroupAction([...], scoped=True)`` with its own
``namespace:=`` and ``image:=`` (one LiDAR may feed them all). On Humble an include's arguments stay set for the
includes after it (an unscoped second include without ``image:=`` ran on the first camera's image); a second
instance of one launch in the same namespace, or on the same image or camera_info topic (``image:=``, else
params_file's sections for the node), ends the launch with an error that says so; a second include in the same
launch-configuration scope is warned about with the arguments it shares with the first.
``ros2 launch`` exits 0 only when the node did (``on_exit``): a node that cannot start (bad parameter, missing
weights) fails the launch with exit code 1, so systemd's ``Restart=on-failure`` or a CI script sees it. Only when
this file is the one ``ros2 launch`` runs: included in a robot's launch file, the node's exit ends nothing else (one
camera's node that could not start had stopped the other cameras' nodes and every process of the robot).

Precedence: the seven node arguments and use_sim_time default to ``from_params_file``: then the parameter comes from
params_file (or, when the file does not set it, the node's built-in default). An argument given on the command line
overrides the file for its parameter (image_topic, camera_info_topic, lidar_topic, model.backend, model.weights,
device, image_transport, use_sim_time). The
overrides are chosen at launch time by an ``OpaqueFunction`` (launch API since Crystal, on Humble and Jazzy) and
passed as ``ParameterValue(value, value_type=str)``, so ``device:=0`` or ``weights:=123`` stay strings.
"""

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from mono_depth_ros.adapters.launch_instances import Instance, LaunchInstances, node_namespace, same_scope_warning
from mono_depth_ros.adapters.signals import LAUNCH_PID_ENV
from mono_depth_ros.config import NODE_NAME, PARAMS_BY_NAME
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.names import did_you_mean

if TYPE_CHECKING:
    from launch import LaunchContext
    from launch.events.process import ProcessExited

PACKAGE = "mono_depth_ros"

# launch argument -> (node parameter, description)
ARGUMENT_PARAMETERS = {
    "image": (
        "image_topic",
        "input image topic (sensor_msgs/Image; with image_transport compressed: the base of <image>/compressed, "
        "a CompressedImage topic)",
    ),
    "camera_info": ("camera_info_topic", "input sensor_msgs/CameraInfo topic"),
    "lidar": (
        "lidar_topic",
        "input sensor_msgs/PointCloud2 or LaserScan (2D LiDAR; lidar.message_type) topic for metric scale "
        "(use_lidar:=false = no LiDAR)",
    ),
    "model": ("model.backend", "depth source"),
    "weights": ("model.weights", "checkpoint file or model directory; empty = the shipped default model"),
    "device": ("device", "inference device: auto | cpu | cuda | cuda:N (cuda without CUDA falls back to cpu)"),
    "image_transport": (
        "image_transport",
        "raw: image is a sensor_msgs/Image topic; compressed: a CompressedImage topic <image>/compressed "
        "(image_transport's naming)",
    ),
}


FROM_PARAMS_FILE = "from_params_file"  # default of the node arguments: leave the parameter to params_file


BOOL_CHOICES = ["true", "false", "True", "False"]
OTHER_ARGUMENTS = ("params_file", "namespace", "lifecycle", "nav2", "use_lidar", "use_sim_time")
DEFAULTS = {**dict.fromkeys(ARGUMENT_PARAMETERS, FROM_PARAMS_FILE), "namespace": "", "lifecycle": "false",
            "nav2": "false", "use_lidar": "true", "use_sim_time": FROM_PARAMS_FILE}  # fmt: skip


def run_directly(launch_file: str) -> bool:
    """Whether ``launch_file`` is the file ``ros2 launch`` runs (its name before the first ``name:=value`` of the
    command line), not one included by another launch file (a robot's bringup)."""
    command = sys.argv[: next((i for i, a in enumerate(sys.argv) if ":=" in a), len(sys.argv))]
    return any(Path(token).name == launch_file for token in command)


def unknown_argument_warnings(argv: list[str], launch_file: str) -> list[str]:
    """One warning per ``name:=value`` of ``argv`` that this launch file does not declare (``ros2 launch`` ignores
    it silently), when ``launch_file`` is the file ``ros2 launch`` runs (not included by another launch file, whose
    own arguments share the command line)."""
    if not run_directly(launch_file):
        return []
    declared = [*ARGUMENT_PARAMETERS, *OTHER_ARGUMENTS]
    names = [a.split(":=", 1)[0] for a in argv if ":=" in a]
    return [
        f"launch argument {name!r} is not an argument of {launch_file} and is ignored{did_you_mean(name, declared)} "
        f"(its arguments: {', '.join(declared)})"
        for name in names
        if name not in declared
    ]


def params_file_path(context: "LaunchContext") -> str:
    """params_file as given, ``~`` expanded (no shell expands it after ``:=``); ConfigError when it is not a file
    (launch_ros would only warn and run the node on its built-in defaults: other topics, another model)."""
    path = str(Path(LaunchConfiguration("params_file").perform(context)).expanduser())
    if not Path(path).is_file():
        msg = f"params_file {path!r} is not a file"
        if not Path(path).is_absolute():  # read from the shell's directory; the package's own files are elsewhere
            msg += f" (a relative path is read relative to the working directory {Path.cwd()}: {Path.cwd() / path})"
            own = Path(__file__).parent.parent / "config" / Path(path).name  # share/mono_depth_ros/config installed
            msg += f"; the package's {own.name} is {own}" if own.is_file() else ""
        msg += "; pass an existing ROS params YAML (params_file:=/path/params.yaml)"
        raise ConfigError(msg)
    return path


def fail_unless_clean_exit(event: "ProcessExited", context: "LaunchContext") -> list[Shutdown]:
    """``on_exit`` of the node: the launch ends with it, and fails (``ros2 launch`` exits 1) when the node did not
    exit 0. Humble's launch has no other way to pass an exit code on than an error raised in an event handler.
    A node ended by SIGINT / SIGTERM while the launch shuts down (a Ctrl-C that came while it was still importing,
    before its stop handlers) stopped as asked: not a failure."""
    if event.returncode in (-signal.SIGINT, -signal.SIGTERM) and context is not None and context.is_shutdown:
        return []
    if event.returncode != 0:
        msg = f"mono_depth_node exited with code {event.returncode} (its log above says why)"
        raise RuntimeError(msg)
    return [Shutdown(reason="mono_depth_node exited")]


def node_with_overrides(context: "LaunchContext") -> list[Node]:
    """The node with params_file, overridden by the node arguments that were given (not ``from_params_file``)."""
    for warning in unknown_argument_warnings(list(context.argv), Path(__file__).name):
        get_logger("depth.launch.py").warning(warning)
    overrides = {}
    for argument, (parameter, _) in ARGUMENT_PARAMETERS.items():
        value = LaunchConfiguration(argument).perform(context)
        if value != FROM_PARAMS_FILE:
            overrides[parameter] = ParameterValue(value, value_type=str)
    if LaunchConfiguration("use_lidar").perform(context).lower() == "false":
        overrides["lidar_topic"] = ParameterValue("", value_type=str)  # an empty value cannot be typed on Humble
    if (sim_time := LaunchConfiguration("use_sim_time").perform(context)) != FROM_PARAMS_FILE:
        overrides["use_sim_time"] = sim_time.lower() == "true"  # a bool (ParameterValue refuses the text for bool)
    parameters: list[object] = [params_file_path(context)]
    if LaunchConfiguration("nav2").perform(context).lower() == "true":
        parameters.append(PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "depth_nav2.yaml"]))
    if overrides:
        parameters.append(overrides)
    lifecycle = LaunchConfiguration("lifecycle").perform(context).lower() == "true"
    namespace = node_namespace(
        context.launch_configurations.get("ros_namespace"), LaunchConfiguration("namespace").perform(context)
    )
    given = {name: LaunchConfiguration(name).perform(context) for name in ("image", "camera_info")}
    inputs = {name: None if value == FROM_PARAMS_FILE else value for name, value in given.items()}
    remaps = [(str(src), str(dst)) for src, dst in context.launch_configurations.get("ros_remaps", [])]  # SetRemap
    instance = Instance.of(namespace, inputs, str(parameters[0]), remaps)
    LaunchInstances(context).add(instance)  # one node per namespace and per camera in one launch
    values = {name: LaunchConfiguration(name).perform(context) for name in (*ARGUMENT_PARAMETERS, *OTHER_ARGUMENTS)}
    changed = {name: value for name, value in values.items() if name != "namespace" and value != DEFAULTS.get(name)}
    if warning := same_scope_warning(context.launch_configurations, namespace, changed):
        get_logger("depth.launch.py").warning(warning)  # unscoped includes: one's arguments are the next one's
    node = Node(
        package=PACKAGE,
        executable="mono_depth_lifecycle_node" if lifecycle else "mono_depth_node",
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        parameters=parameters,
        output="screen",
        emulate_tty=True,
        # run directly: the launch ends with the node and its code (systemd, docker); included in a robot's bringup,
        # its exit leaves the other cameras' nodes and the robot's processes running (launch_ros's default)
        on_exit=fail_unless_clean_exit if run_directly(Path(__file__).name) else None,
        additional_env={LAUNCH_PID_ENV: str(os.getpid())},  # a launch that fails as it starts the node: no orphan
    )
    return [node]


def generate_launch_description() -> LaunchDescription:
    """The launch arguments and the node (built when the arguments are known)."""
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "depth.yaml"]),
            description="ROS 2 params YAML for mono_depth_node (nested keys = dotted parameter names)",
        ),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its outputs"),
        DeclareLaunchArgument(
            "lifecycle",
            default_value="false",
            choices=BOOL_CHOICES,
            description="true: the managed node (configure / activate by ros2 lifecycle or nav2_lifecycle_manager)",
        ),
        DeclareLaunchArgument(
            "nav2",
            default_value="false",
            choices=BOOL_CHOICES,
            description="true: apply the Nav2 preset config/depth_nav2.yaml over params_file",
        ),
        DeclareLaunchArgument(
            "use_lidar",
            default_value="true",
            choices=BOOL_CHOICES,
            description="false: no LiDAR scale (lidar_topic set to ''), whatever lidar:= or params_file say",
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value=FROM_PARAMS_FILE,
            choices=[FROM_PARAMS_FILE, *BOOL_CHOICES],
            description=f"true: ROS time from /clock (bag played with --clock, simulator); {FROM_PARAMS_FILE} = "
            "params_file, else false",
        ),
    ]
    for argument, (parameter, description) in ARGUMENT_PARAMETERS.items():
        spec = PARAMS_BY_NAME[parameter]
        choices = " (" + " | ".join(c or "''" for c in spec.choices) + ")" if spec.choices else ""
        arguments.append(
            DeclareLaunchArgument(
                argument,
                default_value=FROM_PARAMS_FILE,
                description=f"{description}{choices}; {FROM_PARAMS_FILE} = params_file, else {spec.default!r}",
            )
        )
    return LaunchDescription([*arguments, OpaqueFunction(function=node_with_overrides)])
