"""Launch mono_depth_node: ``ros2 launch mono_depth_ros depth.launch.py image:=/cam/image_rect lidar:=/points``.

Arguments:
  image, camera_info, lidar      input topics
  use_lidar                      true | false: ``use_lidar:=false`` turns LiDAR scale off whatever the params file
                                 says (Humble's ``ros2 launch`` rejects an empty value such as ``lidar:=''``)
  model, weights, device         model.backend, model.weights, device
  params_file                    ROS params YAML (default: the installed config/depth.yaml)
  lifecycle                      true: run mono_depth_lifecycle_node, a managed node that loads the model on
                                 configure and subscribes on activate (for Nav2's lifecycle manager)
  nav2                           true: also apply the Nav2 preset config/depth_nav2.yaml over params_file (strided
                                 cloud, /depth/points_clearing, /depth/scan; see config/nav2_costmap_example.yaml)
  namespace                      ROS namespace of the node and its relative output topics (depth/...)

Precedence: the six node arguments default to ``from_params_file``: then the parameter comes from params_file (or,
when the file does not set it, the node's built-in default). An argument given on the command line overrides the
file for its parameter (image_topic, camera_info_topic, lidar_topic, model.backend, model.weights, device). The
overrides are chosen at launch time by an ``OpaqueFunction`` (launch API since Crystal, on Humble and Jazzy) and
passed as ``ParameterValue(value, value_type=str)``, so ``device:=0`` or ``weights:=123`` stay strings.
"""

from typing import TYPE_CHECKING

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from mono_depth_ros.config import NODE_NAME, PARAMS_BY_NAME

if TYPE_CHECKING:
    from launch import LaunchContext

PACKAGE = "mono_depth_ros"

# launch argument -> (node parameter, description)
ARGUMENT_PARAMETERS = {
    "image": ("image_topic", "input image topic (sensor_msgs/Image, or the base of <image>/compressed)"),
    "camera_info": ("camera_info_topic", "input sensor_msgs/CameraInfo topic"),
    "lidar": ("lidar_topic", "input sensor_msgs/PointCloud2 topic for metric scale (use_lidar:=false = no LiDAR)"),
    "model": ("model.backend", "depth source"),
    "weights": ("model.weights", "checkpoint file or model directory; empty = the shipped default model"),
    "device": ("device", "inference device: auto | cpu | cuda | cuda:N (cuda without CUDA falls back to cpu)"),
}


FROM_PARAMS_FILE = "from_params_file"  # default of the node arguments: leave the parameter to params_file


def node_with_overrides(context: "LaunchContext") -> list[Node]:
    """The node with params_file, overridden by the node arguments that were given (not ``from_params_file``)."""
    overrides = {}
    for argument, (parameter, _) in ARGUMENT_PARAMETERS.items():
        value = LaunchConfiguration(argument).perform(context)
        if value != FROM_PARAMS_FILE:
            overrides[parameter] = ParameterValue(value, value_type=str)
    if LaunchConfiguration("use_lidar").perform(context).lower() == "false":
        overrides["lidar_topic"] = ParameterValue("", value_type=str)  # an empty value cannot be typed on Humble
    parameters: list[object] = [LaunchConfiguration("params_file")]
    if LaunchConfiguration("nav2").perform(context).lower() == "true":
        parameters.append(PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "depth_nav2.yaml"]))
    if overrides:
        parameters.append(overrides)
    lifecycle = LaunchConfiguration("lifecycle").perform(context).lower() == "true"
    node = Node(
        package=PACKAGE,
        executable="mono_depth_lifecycle_node" if lifecycle else "mono_depth_node",
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        parameters=parameters,
        output="screen",
        emulate_tty=True,
        on_exit=Shutdown(reason="mono_depth_node exited"),  # a supervisor (systemd, docker) sees the exit
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
            choices=["true", "false", "True", "False"],
            description="true: the managed node (configure / activate by ros2 lifecycle or nav2_lifecycle_manager)",
        ),
        DeclareLaunchArgument(
            "nav2",
            default_value="false",
            choices=["true", "false", "True", "False"],
            description="true: apply the Nav2 preset config/depth_nav2.yaml over params_file",
        ),
        DeclareLaunchArgument(
            "use_lidar",
            default_value="true",
            choices=["true", "false", "True", "False"],
            description="false: no LiDAR scale (lidar_topic set to ''), whatever lidar:= or params_file say",
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
