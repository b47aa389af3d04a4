"""A 2D LiDAR (``sensor_msgs/LaserScan``, as RPLidar / Hokuyo drivers publish it) on ``lidar_topic``, on real ROS 2.

The node is launched first with ``lidar:=/scan`` and ``lidar.message_type: auto`` (the default); the LiDAR driver
(here: a real rclpy publisher of the KITTI Velodyne's 0° slice as a LaserScan) starts after it, as on a robot whose
bring-up starts the camera pipeline first. The node must re-subscribe ``/scan`` as LaserScan and use it for the scale.
"""

from __future__ import annotations

import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image, LaserScan

from test.kitti_bag import LIDAR_FRAME, KittiFrame, velodyne_planar_scan

from .harness import BEST_EFFORT, RELIABLE, KittiFeeder, Launched, Probe, settled_status, wait_until, write_params


def test_a_laser_scan_driver_started_after_the_node_gives_the_lidar_scale(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    params = write_params(ros_logs / "laser_scan.yaml", {"diagnostics.period_s": 0.25, "output.downscale": 2})
    launched = Launched({"device": "cpu", "lidar": "/scan", "params_file": str(params)}, ros_logs / "laser.log")
    try:
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames, lidar_topic="/feeder_points_unused")
        feeder.wait_connected(lidar=False)
        probe.send_static_tf(kitti_frames[0].cam_from_velo, probe.now_ns())
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        pub_scan = probe.publisher(LaserScan, "/scan", BEST_EFFORT)  # the 2D LiDAR driver starts now
        wait_until(lambda: pub_scan.get_subscription_count() > 0, 10, "the node's LaserScan subscription of /scan")
        launched.said("is published as sensor_msgs/msg/LaserScan (lidar.message_type: auto): subscribed")
        time.sleep(0.5)
        stamps = []
        for _ in range(8):  # 2 Hz, one scene: image + camera_info, then its scan 30 ms later
            stamp = probe.now_ns()
            feeder.publish_image(0, stamp)
            time.sleep(0.03)
            pub_scan.publish(velodyne_planar_scan(probe.factory, kitti_frames[0].scan, stamp, LIDAR_FRAME))
            stamps.append(stamp)
            time.sleep(0.47)
        wait_until(lambda: stamps[-1] in depth.by_stamp(), 30, "the last frame's depth")
        last = settled_status(diagnostics, probe.now_ns())  # counts the last frame (a fixed 0.6 s was no bound)
        print({k: last.get(k) for k in ("scale", "scale_health", "lidar_points_in_image", "lidar_points_used")})
        assert (last["scale_mode"], last["scale_health"]) == ("lidar", "ok"), last
        assert 30 <= int(last["lidar_points_used"]) <= int(last["lidar_points_in_image"]) < 1800, last
        assert not last.get("lidar_extrinsic"), last  # a planar scan: not called a wrong transform
    finally:
        code = launched.stop()
    assert code == 0, launched.log[-3000:]
