"""The one road between transports and the pipeline, for the rclpy node and the bag runner alike.

=================  ==========================================================================================
module             what
=================  ==========================================================================================
``messages``       input messages → :class:`~mono_depth_ros.pipeline.FrameInput`; FrameOutput → output messages
``lidar``          the scan for an image (pairing scans that arrive after it) and the TF lookup that places it
``lidar_feed``     the node's LiDAR input: subscription, pairing, poll timer, the chosen scan placed through tf2
``camera_cache``   one CameraModel (and undistortion maps) per calibration
``diagnostics``    one ``/diagnostics`` builder: keys, levels, message
``stats``          run-time counters, fps, latency percentiles
``worker``         latest-frame slot and worker thread (the executor never waits for inference)
``model``          model construction and the device policy
``malloc_policy``  a frame's freed memory kept for the next frame (no fresh pages every frame)
``parameters``     the parameter table as ROS declares it; run-time change checks
``signals``        SIGINT / SIGTERM as a flag for a clean stop
=================  ==========================================================================================

Nothing here imports ROS: ``node.py`` (rclpy) and ``bag/`` (rosbag2 files) are the thin transports on top.
"""
