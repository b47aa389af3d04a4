"""ROS-free core: numpy / torch only. Never imports rclpy or ROS message packages (a test enforces it)."""
