"""A newcomer's mistakes on real ROS 2: each gets a log line that names the value and the remedy.

Each test launches its own node (real ``ros2 launch``) with one mistake made as a new user makes it, feeds real
KITTI frames, and reads the node's log: the warning must send the user to the setting that fixes it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from sensor_msgs.msg import Image, LaserScan

from test.kitti_bag import CAMERA_FRAME, LIDAR_FRAME, KittiFrame, velodyne_cloud, velodyne_planar_scan

from .harness import BEST_EFFORT, RELIABLE, KittiFeeder, Launched, Probe, running, wait_until, write_params


def test_a_camera_info_published_in_another_namespace_names_the_parameter_that_sets_the_topic(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The driver publishes camera_info on /cam2/camera_info, the node listens on /cam1/camera_info: every image is
    counted ``no_camera_info``, and the warning said "publish it with the image's stamp, or use sync.mode: latest",
    neither of which makes a camera_info arrive. (/cam1: a topic no publisher of the session's probe is left on; on
    /camera/camera_info, after any test that fed camera_info, the node rightly said "1 publisher(s) of
    sensor_msgs/msg/CameraInfo but nothing arrived".)"""
    launched = Launched({"device": "cpu", "camera_info": "/cam1/camera_info"}, ros_logs / "camera_info_elsewhere.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames, info_topic="/cam2/camera_info")
        probe.wait_matched(feeder.pub_image)  # the three images reach the node's best-effort reader
        for index in range(3):
            feeder.publish_image(index, probe.now_ns())
            time.sleep(0.2)
        said = "nothing has arrived on /cam1/camera_info since the node started: set camera_info_topic (launch: "
        wait_until(lambda: said in launched.log, 20, "the no_camera_info warning")
        line = next(line for line in launched.log.splitlines() if said in line)
        assert "camera_info:=)" in line and "sync.mode" not in line, line


def test_a_prediction_topic_whose_publisher_sends_nothing_is_not_called_the_wrong_topic(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """model.backend: external, the external model's node up on /depth_model/prediction but sending nothing: every
    image is counted ``no_prediction``, and the warning said "nothing has arrived on /depth_model/prediction since the
    node started: set prediction_topic", though the topic is right. It now says that a publisher of
    sensor_msgs/msg/Image is there and sends nothing, as the input watch says it of a silent image topic."""
    launched = Launched({"device": "cpu", "model": "external", "use_lidar": "false"}, ros_logs / "silent_model.log")
    silent = probe.publisher(Image, "/depth_model/prediction", BEST_EFFORT)  # a model that publishes nothing (yet)
    try:
        with running(launched):
            launched.wait_ready(probe)
            feeder = KittiFeeder(probe, kitti_frames)
            feeder.wait_connected(lidar=False)
            wait_until(lambda: silent.get_subscription_count() > 0, 30, "the node's prediction subscription")
            feeder.publish_images(3, 0.3)
            line = launched.said("nothing has arrived on /depth_model/prediction since the node started: ", 20)
            publishers = probe.node.count_publishers("/depth_model/prediction")  # (earlier tests' probe ones too)
            assert f"{publishers} publisher(s) of sensor_msgs/msg/Image but nothing arrived" in line, line
            assert "set prediction_topic" not in line and "ros2 topic hz /depth_model/prediction" in line, line
    finally:
        probe.node.destroy_publisher(silent)


def test_frames_let_go_while_a_slow_lidar_stamps_an_hour_behind_are_told_the_clocks_not_a_wait(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """lidar.wait_s 5 s, a 30 Hz camera and a LiDAR whose one scan at hand is stamped an hour behind (another clock;
    its period not known yet): the frames wait for a second scan, the 64-frame bound lets them go after ~2.1 s,
    counted lidar.held_full, and each was told "set lidar.wait_s to 2.1 s or less, or lower the camera rate", which
    pairs none. It names the clocks, as the "LiDAR scan not used" line of these frames does."""
    # the one scan is sent once on a publisher made just before: a best-effort reader (the default input_qos) drops
    # a writer's samples until it has matched that writer, which get_subscription_count() does not show (explore120),
    # and a lost scan makes the line name no clocks (the whole-tier fresh-clone run at d0d63388); reliable repairs it
    params = write_params(ros_logs / "lidar_other_clock.yaml", {"lidar.wait_s": 5.0, "input_qos": "reliable"})
    args = {"device": "cpu", "lidar": "/lidar/points", "params_file": str(params)}
    launched = Launched(args, ros_logs / "lidar_other_clock.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames, qos=RELIABLE)
        feeder.wait_connected()
        feeder.publish_scan(0, probe.now_ns() - 3600 * 10**9)
        time.sleep(0.2)
        for index in range(80):  # 30 Hz for 2.7 s: more than 64 held
            feeder.publish_image(index, probe.now_ns())
            time.sleep(1 / 30)
        line = launched.said("LiDAR scan not used (lidar.held_full): 64 images were held", 20)
        clocks = "the LiDAR and the camera stamp on different clocks: compare their header stamps"
        assert clocks in line and "the newest scan at hand is stamped 3600." in line, line
        assert "set lidar.wait_s" not in line, line


def test_a_laser_scan_on_a_lidar_topic_set_to_pointcloud2_names_lidar_message_type(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``lidar.message_type: PointCloud2`` in the params file and a 2D LiDAR publishing LaserScan on ``lidar:=/scan``:
    the silent-input warning named ``lidar_topic`` and ``use_lidar:=false`` as the remedies, though the topic was
    right; the setting to change is the message type."""
    params = write_params(ros_logs / "pointcloud2_only.yaml", {"lidar.message_type": "PointCloud2"})
    launched = Launched({"device": "cpu", "lidar": "/scan", "params_file": str(params)}, ros_logs / "scan_as_pc2.log")
    with running(launched):
        launched.wait_ready(probe)
        pub_scan = probe.publisher(LaserScan, "/scan", BEST_EFFORT)
        said = (
            "no LiDAR scan received on /scan in 5 s: it is published as sensor_msgs/msg/LaserScan, this node "
            "subscribes sensor_msgs/msg/PointCloud2; set lidar.message_type: LaserScan (or auto"
        )
        deadline = time.monotonic() + 30
        while said not in launched.log and time.monotonic() < deadline:
            pub_scan.publish(velodyne_planar_scan(probe.factory, kitti_frames[0].scan, probe.now_ns(), LIDAR_FRAME))
            time.sleep(0.5)
        assert said in launched.log, launched.log[-3000:]


def test_a_relative_weights_path_from_another_directory_names_where_it_was_looked_for(tmp_path: Path) -> None:
    """``ros2 launch ... weights:=models/depth.safetensors`` started in another directory than the model's: the node
    reads a relative path from the working directory ``ros2 launch`` was started in, and its message said only
    "does not exist"; it now names that directory, the path it looked at and the remedy."""
    (tmp_path / "models").mkdir()
    command = [
        "ros2",
        "launch",
        "mono_depth_ros",
        "depth.launch.py",
        "device:=cpu",
        "weights:=models/depth.safetensors",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False, cwd=tmp_path / "models")
    said = result.stdout + result.stderr
    assert result.returncode == 1, said[-3000:]
    looked = f"relative to the working directory {tmp_path}/models: {tmp_path}/models/models/depth.safetensors"
    assert "model.weights models/depth.safetensors does not exist" in said and looked in said, said[-3000:]
    assert "give an absolute path" in said and "Traceback" not in said, said[-3000:]


def test_a_lidar_frame_tf_does_not_hold_names_the_frames_it_holds_and_the_transform_to_publish(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The LiDAR driver stamps its scans ``lidar_top``, the robot's TF calls the sensor ``lidar_top_link``: every
    frame loses its LiDAR scale, and the node logged tf2's "does not exist" alone; now the frames TF holds and the
    static_transform_publisher line that connects the scan's frame (what ``mono-depth bag`` says too)."""
    from mono_depth_ros.core.geometry import RigidTransform

    launched = Launched({"device": "cpu", "lidar": "/lidar/top"}, ros_logs / "lidar_frame_not_in_tf.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames, lidar_topic="/lidar/top")
        feeder.wait_connected()
        extrinsic = kitti_frames[0].cam_from_velo
        probe.send_static_tf(
            RigidTransform(extrinsic.rotation, extrinsic.translation, CAMERA_FRAME, "lidar_top_link"), 0
        )
        said = "frame 'lidar_top' is not in /tf or /tf_static; known frames: "
        remedy = f"static_transform_publisher --frame-id {CAMERA_FRAME} --child-frame-id lidar_top"
        deadline = time.monotonic() + 30
        while said not in launched.log and time.monotonic() < deadline:
            stamp = probe.now_ns()
            feeder.publish_image(0, stamp)
            feeder.pub_lidar.publish(velodyne_cloud(probe.factory, kitti_frames[0].scan, stamp, "lidar_top"))
            time.sleep(0.5)
        line = next((line for line in launched.log.splitlines() if said in line), launched.log[-3000:])
        assert said in line and "lidar_top_link" in line and remedy in line, line


def test_a_quoted_number_in_the_params_file_names_the_value_to_write_unquoted(tmp_path: Path) -> None:
    """``max_range: "30"`` in a params file: the node cannot start (rclpy's type rules), and said only that '30' is
    not a valid float; the line now says what to write."""
    params = tmp_path / "quoted.yaml"
    params.write_text('/**:\n  ros__parameters:\n    output:\n      max_range: "30"\n')
    command = ["ros2", "launch", "mono_depth_ros", "depth.launch.py", "device:=cpu", f"params_file:={params}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said[-3000:]
    assert "cannot start: parameter output.max_range='30' is not a valid float" in said, said[-3000:]
    assert "write it unquoted: 30" in said, said[-3000:]


def test_the_startup_line_names_the_outputs_that_are_off(probe: Probe, ros_logs: Path) -> None:
    """A default launch: /depth/points_clearing and /depth/scan have publishers (run-time switches) but are off; the
    start-up line listed them as published, and ``ros2 topic echo /depth/scan`` waited for nothing."""
    launched = Launched({"device": "cpu"}, ros_logs / "startup_line.log")
    with running(launched):
        launched.wait_ready(probe)
        said = (
            "publishing /depth/image, /depth/camera_info, /depth/points, /diagnostics; off: /depth/points_clearing "
            "(cloud.clearing), /depth/scan (scan.enabled)"
        )
        wait_until(lambda: "; publishing " in launched.log, 30, "the start-up line")  # logged after the publishers
        assert said in launched.log, launched.log[-3000:]


def test_a_models_folder_given_as_weights_names_the_checkpoint_inside(tmp_path: Path) -> None:
    """``weights:=FOLDER`` where the checkpoint file is meant: the node said "pass the .safetensors file inside it"
    for a folder holding none as for one holding it; it now names the file to give (or that there is none)."""
    (tmp_path / "depth.safetensors").write_bytes(b"")
    command = ["ros2", "launch", "mono_depth_ros", "depth.launch.py", "device:=cpu", f"weights:={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said[-3000:]
    assert f"is a directory; pass the checkpoint inside it: {tmp_path}/depth.safetensors" in said, said[-3000:]


def test_a_relative_params_file_from_another_directory_names_the_installed_one(tmp_path: Path) -> None:
    """README's ``params_file:=.../config/depth_nav2.yaml`` typed from a home directory as
    ``params_file:=config/depth_nav2.yaml``: the launch said only that it is not a file; now also the directory it
    was read from and the installed preset's path."""
    command = ["ros2", "launch", "mono_depth_ros", "depth.launch.py", "params_file:=config/depth_nav2.yaml"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False, cwd=tmp_path)
    said = result.stdout + result.stderr
    share = subprocess.run(["ros2", "pkg", "prefix", "mono_depth_ros"], capture_output=True, text=True, check=True)
    installed = f"{share.stdout.strip()}/share/mono_depth_ros/config/depth_nav2.yaml"
    assert result.returncode == 1 and "Traceback" not in said, said[-3000:]
    assert f"relative to the working directory {tmp_path}" in said, said[-3000:]
    assert f"the package's depth_nav2.yaml is {installed}" in said, said[-3000:]


def test_a_model_argument_without_weights_names_the_launch_argument_to_add() -> None:
    """``model:=transformers`` alone: the node said "pass --param model.weights=DIR", which ros2 launch does not
    take; it now names ``weights:=DIR``."""
    command = ["ros2", "launch", "mono_depth_ros", "depth.launch.py", "device:=cpu", "model:=transformers"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said[-3000:]
    assert "model.backend=transformers needs model.weights" in said and "(launch: weights:=DIR;" in said, said[-3000:]


def test_a_relative_config_from_another_directory_names_the_installed_one(tmp_path: Path) -> None:
    """README's ``mono-depth bag IN OUT --config config/depth.yaml`` through ``ros2 run`` of a colcon install, typed
    outside the source tree: the message named the working directory but not the package's depth.yaml, which it
    looked for beside the source checkout and under the Python's prefix (/usr), neither the install's share folder."""
    command = ["ros2", "run", "mono_depth_ros", "mono-depth", "bag", str(tmp_path / "in"), str(tmp_path / "out")]
    command += ["--config", "config/depth.yaml"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False, cwd=tmp_path)
    said = result.stdout + result.stderr
    share = subprocess.run(["ros2", "pkg", "prefix", "mono_depth_ros"], capture_output=True, text=True, check=True)
    installed = f"{share.stdout.strip()}/share/mono_depth_ros/config/depth.yaml"
    assert result.returncode == 2 and "Traceback" not in said, said[-3000:]
    assert f"relative to the working directory {tmp_path}: {tmp_path}/config/depth.yaml" in said, said[-3000:]
    assert f"the package's depth.yaml is {installed}" in said, said[-3000:]


def test_a_motion_frame_tf_does_not_hold_names_the_odometry_or_the_setting(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``lidar.motion_frame: odom`` on a robot whose TF has no odometry: every frame loses its LiDAR scale, and the
    remedy named was the LiDAR's (publish camera -> LiDAR, or set the LiDAR driver's frame_id), though TF holds the
    scan's frame; it is the odometry's transform or the setting."""
    from mono_depth_ros.core.geometry import RigidTransform

    params = write_params(ros_logs / "motion_frame.yaml", {"lidar.motion_frame": "odom"})
    args = {"device": "cpu", "lidar": "/lidar/top", "params_file": str(params)}
    launched = Launched(args, ros_logs / "motion_frame_not_in_tf.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames, lidar_topic="/lidar/top")
        feeder.wait_connected()
        extrinsic = kitti_frames[0].cam_from_velo
        probe.send_static_tf(RigidTransform(extrinsic.rotation, extrinsic.translation, CAMERA_FRAME, LIDAR_FRAME), 0)
        said = "'odom' is not in /tf or /tf_static; known frames: "
        deadline = time.monotonic() + 30
        while said not in launched.log and time.monotonic() < deadline:
            stamp = probe.now_ns()
            feeder.publish_image(0, stamp)
            feeder.pub_lidar.publish(velodyne_cloud(probe.factory, kitti_frames[0].scan, stamp, LIDAR_FRAME))
            time.sleep(0.5)
        line = next((line for line in launched.log.splitlines() if said in line), launched.log[-3000:])
        assert said in line and "set lidar.motion_frame to a fixed frame TF has" in line, line
        assert "driver's frame_id" not in line and "static_transform_publisher" not in line, line


def test_a_camera_info_that_starts_after_the_images_is_not_called_a_wrong_topic(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A healthy start where the camera_info comes a little after the images (a driver that starts it later, a
    subscription matched later): the first images leave the synchroniser's queue (``sync.queue_size`` 10 newer ones)
    before any camera_info, and the warning said "nothing has arrived on /camera/camera_info since the node started:
    set camera_info_topic", though the topic is right and the next images pair."""
    launched = Launched({"device": "cpu"}, ros_logs / "camera_info_late.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected(lidar=False)
        for _ in range(15):  # images alone at 30 Hz: the first ones are evicted within 0.5 s
            feeder.pub_image.publish(feeder.image_msgs(0, probe.now_ns())[0])  # the size of the first paired
            time.sleep(1 / 30)
        feeder.publish_images(6, 0.3)  # then the camera_info with each image
        said = "nothing has arrived on /camera/camera_info yet, "
        wait_until(lambda: said in launched.log, 20, "the no_camera_info line of an evicted image")
        time.sleep(2.0)  # the images still waiting are given up (1 s) with a camera_info seen by then
    assert "since the node started" not in launched.log, launched.log[-3000:]  # once stopped: every line is in
