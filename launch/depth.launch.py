"""Launch mono_depth_node: ``ros2 launch mono_depth_ros depth.launch.py image:=/cam/image_rect lidar:=/points``.

Arguments (defaults are the node's built-in defaults, from mono_depth_ros/config.py):
  image, camera_info, lidar      input topics (lidar empty = no LiDAR scale)
  model, weights, device         model.backend, model.weights, device
  params_file                    ROS params YAML (default: the installed config/depth.yaml)
  namespace                      ROS namespace of the node and its relative output topics (depth/...)

Precedence: ``parameters=[params_file, {...launch arguments...}]``, so the seven arguments above always win over
the params file for the parameters they set (image_topic, camera_info_topic, lidar_topic, model.backend,
model.weights, device); everything else comes from params_file. All arguments are strings and are passed with
``ParameterValue(..., value_type=str)``, so ``device:=0`` or ``weights:=123`` stay strings (a bare
LaunchConfiguration would be YAML-parsed into an int). Only launch / launch_ros APIs present on Humble and Jazzy.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from mono_depth_ros.config import NODE_NAME, PARAMS_BY_NAME

PACKAGE = "mono_depth_ros"

# launch argument -> (node parameter, description)
ARGUMENT_PARAMETERS = {
    "image": ("image_topic", "input image topic (sensor_msgs/Image, or the base of <image>/compressed)"),
    "camera_info": ("camera_info_topic", "input sensor_msgs/CameraInfo topic"),
    "lidar": ("lidar_topic", "input sensor_msgs/PointCloud2 topic for metric scale; empty = no LiDAR"),
    "model": ("model.backend", "depth source"),
    "weights": ("model.weights", "checkpoint file or model directory; empty = the shipped default model"),
    "device": ("device", "inference device: auto | cpu | cuda | cuda:N (cuda without CUDA falls back to cpu)"),
}


def generate_launch_description() -> LaunchDescription:
    """The node with its params file and the launch-argument overrides."""
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "depth.yaml"]),
            description="ROS 2 params YAML for mono_depth_node (nested keys = dotted parameter names)",
        ),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its outputs"),
    ]
    overrides = {}
    for argument, (parameter, description) in ARGUMENT_PARAMETERS.items():
        spec = PARAMS_BY_NAME[parameter]
        extra = {"choices": list(spec.choices)} if spec.choices else {}
        arguments.append(
            DeclareLaunchArgument(argument, default_value=str(spec.default), description=description, **extra)
        )
        overrides[parameter] = ParameterValue(LaunchConfiguration(argument), value_type=str)
    node = Node(
        package=PACKAGE,
        executable="mono_depth_node",
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*arguments, node])
