"""Two cameras on one robot, as users launch them: ``depth.launch.py`` included once per camera from their own
launch file, one LiDAR shared, a params file with a ``/**`` section and one section per camera's namespace."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image, PointCloud2

from mono_depth_ros.core import ros_msgs
from test.kitti_bag import LIDAR_FRAME, KittiFrame

from .harness import RELIABLE, KittiFeeder, Launched, Probe, running, started, transform_msg, wait_until

ROBOT_LAUNCH = """
from launch import LaunchDescription
from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

DEPTH = PythonLaunchDescriptionSource(
    PathJoinSubstitution([FindPackageShare("mono_depth_ros"), "launch", "depth.launch.py"]))


def generate_launch_description():
    front = {{"namespace": "front", "image": "/front/image_raw", "camera_info": "/front/camera_info",
              "lidar": "/points", "params_file": "{params}", **{front_extra}}}
    left = {{"namespace": "left", "params_file": "{params}", **{left_extra}}}  # topics: the file's /left section
    includes = [IncludeLaunchDescription(DEPTH, launch_arguments=a.items()) for a in (front, left)]
    return LaunchDescription([GroupAction([i], scoped=True) for i in includes] if {scoped} else includes)
"""
CAMERAS = {"front": "front_optical", "left": "left_optical"}


def robot_launch(folder: Path, scoped: bool, front: dict[str, str] | None = None, left: dict[str, str] | None = None,
                 name: str = "") -> Path:  # fmt: skip
    """A user's launch file with two includes of depth.launch.py (``front`` / ``left``: more arguments of each) and
    the params file they share."""
    import yaml

    params = folder / "robot.yaml"
    params.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"device": "cpu", "model.threads": 1, "diagnostics.period_s": 0.25}},
        "/left/mono_depth_node": {"ros__parameters": {"image_topic": "/left/image_raw", "lidar_topic": "/points",
                                                      "camera_info_topic": "/left/camera_info"}},
    }))  # fmt: skip
    path = folder / f"robot_{name or ('scoped' if scoped else 'unscoped')}.launch.py"
    path.write_text(ROBOT_LAUNCH.format(params=params, scoped=scoped, front_extra=front or {}, left_extra=left or {}))
    return path


def test_an_unscoped_second_include_that_inherits_the_first_cameras_image_fails_the_launch(
    probe: Probe, ros_logs: Path
) -> None:
    """It ran the left node on the front camera's image (the inherited image:= beat the file's /left section),
    publishing /left/depth/* from the wrong camera without a word. The launch fails; the front node, started while
    the launch was failing, must not live on orphaned (it did, publishing, after its launch had exited 1)."""
    command = ["ros2", "launch", str(robot_launch(ros_logs, scoped=False))]
    process = started(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True), command)  # fmt: skip
    try:
        log, _ = process.communicate(timeout=120)
        assert process.returncode != 0, log[-3000:]
        refused = "the node in namespace '/left' (image:=) and the node in namespace '/front' (image:=) would both " \
                  "compute depth from /front/image_raw"  # fmt: skip
        assert refused in log and "GroupAction([...], scoped=True)" in log, log[-3000:]
        time.sleep(15.0)  # what an orphan needs to load its model and appear in the graph
        assert probe.node.count_publishers("/front/depth/image") == 0, "an orphaned front node is running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # an orphan keeps the launch's process group


def test_two_cameras_from_one_launch_file_publish_apart_with_one_lidar(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    launched = Launched({}, ros_logs / "two_cameras.log", launch_file=str(robot_launch(ros_logs, scoped=True)))
    feeders, outputs = {}, {}
    try:
        for camera in CAMERAS:
            launched.wait_ready(probe, topic=f"/{camera}/image_raw", output=f"/{camera}/depth/image")
            feeders[camera] = KittiFeeder(probe, kitti_frames, image_topic=f"/{camera}/image_raw",
                                          info_topic=f"/{camera}/camera_info", lidar_topic="/points")  # fmt: skip
            outputs[camera] = (probe.collect(Image, f"/{camera}/depth/image", RELIABLE),
                               probe.collect(PointCloud2, f"/{camera}/depth/points", RELIABLE))  # fmt: skip
        statuses = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        # both cameras see the scene KITTI's camera saw (the same image); the LiDAR is the parent of their frames
        velo_from_cam = kitti_frames[0].cam_from_velo.inverse()
        probe.static_tf.sendTransform([transform_msg(replace(velo_from_cam, dst_frame=LIDAR_FRAME, src_frame=frame),
                                                     probe.now_ns()) for frame in CAMERAS.values()])  # fmt: skip
        pubs = [pub for feeder in feeders.values() for pub in (feeder.pub_image, feeder.pub_info, feeder.pub_lidar)]
        probe.wait_matched(*pubs, probe.static_tf.pub_tf)  # one settle for both cameras
        stamps = []
        for index in range(3):
            stamps.append(probe.now_ns())
            for camera, feeder in feeders.items():
                image, info = feeder.image_msgs(index, stamps[-1])
                image.header.frame_id = info.header.frame_id = CAMERAS[camera]
                feeder.pub_info.publish(info)
                feeder.pub_image.publish(image)
            feeders["front"].publish_scan(index, stamps[-1] + 20_000_000)  # one LiDAR, one publisher
            time.sleep(1.0)
        for camera, (depth, points) in outputs.items():
            wait_until(lambda d=depth: set(stamps) <= set(d.by_stamp()), 60, f"/{camera}/depth/image for each image")
            assert {m.header.frame_id for m in depth.messages + points.messages} == {CAMERAS[camera]}
        since, names = probe.now_ns(), {f"{camera}/mono_depth_node: depth" for camera in CAMERAS}

        def latest() -> dict[str, Any]:  # each node's last status stamped after its last depth arrived
            late = [m for m in statuses.messages if ros_msgs.stamp_to_ns(m.header.stamp) >= since]
            return {s.name: s for m in late for s in m.status}

        wait_until(lambda: names <= set(latest()), 10, "a status of each node after its frames")  # 0.6 s was no bound
        for camera, frame in CAMERAS.items():  # a diagnostic_aggregator tells them apart by name
            status = latest()[f"{camera}/mono_depth_node: depth"]
            values = {kv.key: kv.value for kv in status.values}
            assert status.hardware_id == frame and values["lidar_topic"] == "/points", values
            assert values["scale_mode"] == "lidar", values  # the shared scan, through each camera's own TF
        assert ros_msgs.stamp_to_ns(outputs["left"][0].by_stamp()[stamps[0]].header.stamp) == stamps[0]
    finally:
        assert launched.stop() == 0, launched.log[-3000:]
        for depth, points in outputs.values():
            probe.drop(depth)
            probe.drop(points)
    # two frames: no false alarm (read once stopped: every line of the nodes is in the file then)
    assert "publishes its depth in this node's camera frame" not in launched.log, launched.log[-3000:]


def test_two_launches_without_a_namespace_of_their_own_are_warned_about(probe: Probe, ros_logs: Path) -> None:
    """Two `ros2 launch` (two terminals, two systemd units) for two cameras, no namespace: both nodes published
    /depth/image, one camera's depth after the other's, and only `ros2 node list` hinted at it."""
    launches = [Launched({"device": "cpu", "use_lidar": "false", "image": f"/{camera}/image_raw"},
                         ros_logs / f"no_namespace_{camera}.log") for camera in CAMERAS]  # fmt: skip
    try:
        for launched, camera in zip(launches, CAMERAS, strict=True):
            launched.wait_ready(probe, topic=f"/{camera}/image_raw")
        warning = "2 publishers on /depth/image (/mono_depth_node x2): another node publishes this node's depth topic"
        wait_until(lambda: all(warning in launched.log for launched in launches), 30, "the warning from both nodes")
        assert all("namespace:=front, namespace:=left" in launched.log for launched in launches)
    finally:
        for launched in launches:
            assert launched.stop() == 0, launched.log[-3000:]


def test_an_unscoped_include_with_its_own_topics_is_warned_about_with_what_it_inherits(
    probe: Probe, ros_logs: Path
) -> None:
    """front given lifecycle:=true, left (own topics from the file's /left section) given nothing more: on Humble
    left became a managed node too, silently. Now the launch names what left shares with front."""
    left_topics = {"image": "/left/image_raw", "camera_info": "/left/camera_info"}
    path = robot_launch(ros_logs, scoped=False, front={"lifecycle": "true"}, left=left_topics, name="inherits")
    launched = Launched({}, ros_logs / "inherits.log", launch_file=str(path))
    with running(launched):
        text = "depth.launch.py for namespace '/left' is included in the same launch-configuration scope as the one "
        wait_until(lambda: text in launched.log, 30, "the warning")
        assert "lifecycle=true" in launched.log.split(text, 1)[1].split("\n", 1)[0]
        assert probe.lifecycle("/left/mono_depth_node") == "unconfigured"  # what it inherited, as the warning says


def test_one_cameras_node_that_cannot_start_leaves_the_other_running(probe: Probe, ros_logs: Path) -> None:
    """left given device:=gpu (refused at start-up): the included launch file's on_exit ended the whole robot launch,
    the front node with it (launched side by side, as a robot's bringup includes its cameras)."""
    path = robot_launch(ros_logs, scoped=True, left={"device": "gpu"}, name="left_fails")
    launched = Launched({}, ros_logs / "left_fails.log", launch_file=str(path))
    try:
        launched.wait_ready(probe, topic="/front/image_raw", output="/front/depth/image")
        refusal = "[left.mono_depth_node]: cannot start: parameter device='gpu'"  # which camera: was [mono_depth_node]
        wait_until(lambda: refusal in launched.log, 30, "the left node's refusal")
        time.sleep(3.0)
        assert launched.alive() and probe.node.count_publishers("/front/depth/image") == 1, launched.log[-3000:]
    finally:
        code = launched.stop()
    assert code == 0, launched.log[-3000:]


def _feed_both_cameras_in_one_frame(
    launched: Launched, probe: Probe, kitti_frames: list[KittiFrame], **topics: str
) -> None:
    """Wait for each camera's node (``/<camera>/image_raw`` in, ``/<camera>/depth/image`` out), then send each 3
    KITTI frames at 1 Hz, both cameras' images and camera_infos in the frame ``camera`` (the drivers' default);
    ``topics``: more :class:`KittiFeeder` topics (``lidar_topic``)."""
    feeders = {}
    for camera in CAMERAS:
        launched.wait_ready(probe, topic=f"/{camera}/image_raw", output=f"/{camera}/depth/image")
        feeders[camera] = KittiFeeder(probe, kitti_frames, image_topic=f"/{camera}/image_raw",
                                      info_topic=f"/{camera}/camera_info", **topics)  # fmt: skip
    probe.wait_matched(*[pub for feeder in feeders.values() for pub in (feeder.pub_image, feeder.pub_info)])
    for index in range(3):
        stamp = probe.now_ns()
        for feeder in feeders.values():
            image, info = feeder.image_msgs(index, stamp)
            image.header.frame_id = info.header.frame_id = "camera"  # the drivers' default, for both
            feeder.pub_info.publish(info)
            feeder.pub_image.publish(image)
        time.sleep(1.0)


def test_two_cameras_in_one_frame_are_warned_about(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """Two USB cameras left at their driver's default frame_id: both nodes published depth and clouds in one frame
    ('camera'), so TF put both at one camera's pose, and nothing said so."""
    launched = Launched({}, ros_logs / "one_frame.log", launch_file=str(robot_launch(ros_logs, scoped=True)))
    with running(launched):
        _feed_both_cameras_in_one_frame(launched, probe, kitti_frames, lidar_topic="/points")
        for peer in ("front", "left"):
            warning = f"{peer}/mono_depth_node publishes its depth in this node's camera frame 'camera' too"
            wait_until(lambda w=warning: w in launched.log, 20, f"the warning about {peer}")


NAMED_NODES_LAUNCH = """
from launch import LaunchDescription
from launch_ros.actions import Node


def generate_launch_description():
    common = {{"device": "cpu", "model.threads": 1, "diagnostics.period_s": 0.25}}
    return LaunchDescription([
        Node(package="mono_depth_ros", executable="mono_depth_node", name=f"depth_{{camera}}", namespace=camera,
             parameters=[{{**common, "image_topic": f"/{{camera}}/image_raw",
                          "camera_info_topic": f"/{{camera}}/camera_info"}}])
        for camera in {cameras}
    ])
"""


def test_two_cameras_in_one_frame_are_warned_about_when_a_users_launch_file_names_the_nodes(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The same two cameras in one frame, their nodes started by the user's own launch file with ``Node(name=
    "depth_front", namespace="front")``: the peer check only knew statuses named ``mono_depth_node: depth``, and
    nothing was said."""
    path = ros_logs / "named_nodes.launch.py"
    path.write_text(NAMED_NODES_LAUNCH.format(cameras=tuple(CAMERAS)))
    launched = Launched({}, ros_logs / "named_nodes.log", launch_file=str(path))
    with running(launched):
        _feed_both_cameras_in_one_frame(launched, probe, kitti_frames)
        for peer in CAMERAS:
            launched.said(f"{peer}/depth_{peer} publishes its depth in this node's camera frame 'camera' too", 20)
