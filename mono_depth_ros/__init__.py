"""mono_depth_ros: monocular depth for ROS 2 (ROS-free core, thin rclpy node, offline training)."""

__version__ = "0.1.0"
