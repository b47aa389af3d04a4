"""The node as a multi-robot launch runs it: ``depth.launch.py`` included in a namespace with ``SetRemap`` rules
(``/camera/image_raw`` → the robot's camera, ``/tf`` → ``tf``), which rcl applies to every subscription the node
makes, tf2's TransformListener's included."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CompressedImage, Image, LaserScan

from test.kitti_bag import KittiFrame

from .harness import (
    RELIABLE,
    KittiFeeder,
    Launched,
    Probe,
    diagnostic_values,
    node_statuses,
    ros2_run,
    running,
    wait_until,
    write_params,
)

REMAPPED_LAUNCH = """
from launch import LaunchDescription
from launch.actions import GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import SetRemap
from launch_ros.substitutions import FindPackageShare

DEPTH = PythonLaunchDescriptionSource(
    PathJoinSubstitution([FindPackageShare("mono_depth_ros"), "launch", "depth.launch.py"]))


def generate_launch_description():
    groups = []
    for remaps, arguments in {groups}:  # one scoped group per camera: its remap rules, then its include
        remapped = [SetRemap(src, dst) for src, dst in remaps]
        include = IncludeLaunchDescription(DEPTH, launch_arguments=arguments.items())
        groups.append(GroupAction([*remapped, include], scoped=True))
    return LaunchDescription(groups)
"""
REMAPS = {
    "/camera/image_raw": "/robot1/cam/image",
    "/camera/camera_info": "/robot1/cam/camera_info",
    "/lidar/points": "/robot1/points",
    "/tf": "tf",
    "/tf_static": "tf_static",
}


def _launch_remapped(ros_logs: Path, name: str, params: dict[str, object], arguments: dict[str, str]) -> Launched:
    """depth.launch.py included under namespace robot1 with REMAPS, its parameters in ``<name>.yaml``."""
    params_file = write_params(ros_logs / f"{name}.yaml", params)
    arguments = {"namespace": "robot1", **arguments, "params_file": str(params_file)}
    path = ros_logs / f"{name}.launch.py"
    path.write_text(REMAPPED_LAUNCH.format(groups=[(list(REMAPS.items()), arguments)]))
    return Launched({}, ros_logs / f"{name}.log", launch_file=str(path))


def test_a_remapped_nodes_messages_name_the_topics_it_subscribes(probe: Probe, ros_logs: Path) -> None:
    """Remapped in a robot's launch file, the node subscribed the robot's topics, yet its start-up line and its
    warnings named the topics of its parameters: 'no image received on /camera/image_raw: nothing publishes it;
    set image_topic', 'no camera_info yet on /camera/camera_info', while the operator's camera published on the
    topics the node did subscribe."""
    launched = _launch_remapped(
        ros_logs, "remapped", {"device": "cpu", "sync.mode": "latest"}, {"lidar": "/lidar/points"}
    )
    with running(launched):
        launched.wait_ready(probe, topic="/robot1/cam/image", output="/robot1/depth/image")
        wait_until(lambda: probe.node.count_subscribers("/robot1/tf") > 0, 10, "the tf listener on /robot1/tf")
        assert probe.node.count_subscribers("/tf") == 0
        assert probe.node.count_subscribers("/camera/image_raw") == 0
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        silent = r"no LiDAR scan received on /robot1/points \(from /lidar/points\) in \d+ s: nothing publishes it"
        wait_until(lambda: re.search(silent, launched.log) is not None, 30, "the silent-LiDAR warning")
        assert "depth from /robot1/cam/image (Image), camera_info /robot1/cam/camera_info (latest), LiDAR " in (
            launched.log
        )
        text = "no camera_info yet on /robot1/cam/camera_info (from /camera/camera_info): nothing publishes it"
        publish_images_until_logged(probe, launched, "/robot1/cam/image", text)
        wait_until(lambda: any(diagnostic_values(m) for m in diagnostics.messages), 10, "the node's /diagnostics")
        values = node_statuses(diagnostics.messages)[0]
        assert values["lidar_topic"] == "/robot1/points"  # as subscribed (was the parameter's /lidar/points)
        probe.drop(diagnostics)
        probe.publisher(LaserScan, "/robot1/points", RELIABLE)  # lidar.message_type auto: re-subscribed as LaserScan
        scan = "lidar_topic /robot1/points (from /lidar/points) is published as sensor_msgs/msg/LaserScan"
        wait_until(lambda: scan in launched.log, 20, "the LaserScan re-subscription line")


def test_a_remapped_cameras_compressed_topic_is_named_and_image_topic_kept(probe: Probe, ros_logs: Path) -> None:
    """The robot's camera publishes only /robot1/cam/image/compressed (image_transport appends to the remapped base):
    the silent-image warning looked up /camera/image_raw/compressed, which no rule remaps, and said only "nothing
    publishes it"; it names the compressed topic now, and image_topic stays /camera/image_raw: compressed transport
    appends /compressed to the remapped base, as image_transport does."""
    camera = probe.publisher(CompressedImage, "/robot1/cam/image/compressed")
    try:
        launched = _launch_remapped(ros_logs, "remapped_compressed", {"device": "cpu"}, {})
        with running(launched):
            launched.wait_ready(probe, topic="/robot1/cam/image", output="/robot1/depth/image")
            text = (
                r"no image received on /robot1/cam/image \(from /camera/image_raw\) in \d+ s: nothing publishes it, "
                r"but /robot1/cam/image/compressed is published as sensor_msgs/msg/CompressedImage \(.*\): set "
                r"image_transport: compressed \(launch: image_transport:=compressed; .*\), image_topic stays "
                r"/camera/image_raw \(/compressed is appended\)"
            )
            wait_until(lambda: re.search(text, launched.log) is not None, 30, "the other-transport warning")
    finally:
        probe.node.destroy_publisher(camera)


def test_a_remapped_cameras_compressed_images_reach_the_node_under_the_remapped_base(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``ros2 run ... -r /camera/image_raw:=/robot1/cam/image -p image_transport:=compressed``: the node appended
    /compressed to the parameter's name before rcl remapped it, so it subscribed /camera/image_raw/compressed (no rule
    remaps that) and the camera's /robot1/cam/image/compressed gave no depth. image_transport resolves the base first,
    then appends the transport's suffix (image_pipeline PR #851): the node does the same now."""
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    rules = ["-r", "/camera/image_raw:=/robot1/cam/image", "-p", "image_transport:=compressed", "-p", "device:=cpu"]
    log = ros_logs / "remapped_base_compressed.log"
    try:
        with ros2_run("mono_depth_ros", "mono_depth_node", log, "--ros-args", *rules):
            feeder = KittiFeeder(probe, kitti_frames, image_topic="/robot1/cam/image", compressed=True)
            feeder.wait_connected(timeout_s=90.0, lidar=False)
            stamps: list[int] = []

            def published_one() -> bool:
                stamps.append(probe.now_ns())
                feeder.publish_image(len(stamps), stamps[-1])  # best effort: again until one arrives
                return any(stamp in depth.by_stamp() for stamp in stamps[:-1])

            wait_until(published_one, 30, "depth from /robot1/cam/image/compressed", poll_s=0.5)
            # (not probe.node.count_subscribers("/camera/image_raw/compressed") == 0: the graph still held the
            # previous test's node there in one fresh-clone run; the depth from the remapped topic is the proof)
        text = log.read_text(errors="replace")
        assert "depth from /robot1/cam/image/compressed (CompressedImage)" in text, text[-3000:]
    finally:
        probe.drop(depth)


def test_a_remapped_nodes_unpaired_images_name_the_camera_info_it_subscribes(probe: Probe, ros_logs: Path) -> None:
    """With sync.mode approximate the node subscribes its inputs raw through message_filters; an image without its
    camera_info was reported 'latest camera_info stamped never: none on /camera/camera_info' while the node had
    subscribed the remapped /robot1/cam/camera_info (the sync watch looked for the subscription where a plain
    message_filters Subscriber keeps it, not behind the decoding stage)."""
    launched = _launch_remapped(
        ros_logs, "remapped_sync", {"device": "cpu", "model.threads": 1}, {"use_lidar": "false"}
    )
    with running(launched):
        launched.wait_ready(probe, topic="/robot1/cam/image", output="/robot1/depth/image")
        text = "latest camera_info stamped never: none on /robot1/cam/camera_info (from /camera/camera_info)"
        publish_images_until_logged(probe, launched, "/robot1/cam/image", text)


def test_two_cameras_on_relative_or_remapped_topics_of_one_name_are_two_cameras(probe: Probe, ros_logs: Path) -> None:
    """``image:=image_raw camera_info:=camera_info`` in namespaces front and left are /front/image_raw and
    /left/image_raw (rcl expands a relative name in the node's namespace), and left's ``SetRemap`` moves its image
    on: two cameras. The launch compared the names as typed and failed ('would both compute depth from
    image_raw'), refusing the usual relative-topic setup of a multi-camera robot."""
    params = write_params(ros_logs / "relative.yaml", {"device": "cpu", "model.threads": 1})
    relative = {"image": "image_raw", "camera_info": "camera_info", "use_lidar": "false", "params_file": str(params)}
    groups = [([], {**relative, "namespace": "front"}),
              ([("/left/image_raw", "/cams/left/image")], {**relative, "namespace": "left"})]  # fmt: skip
    path = ros_logs / "relative.launch.py"
    path.write_text(REMAPPED_LAUNCH.format(groups=groups))
    launched = Launched({}, ros_logs / "relative.log", launch_file=str(path))
    with running(launched):
        launched.wait_ready(probe, topic="/front/image_raw", output="/front/depth/image")
        launched.wait_ready(probe, topic="/cams/left/image", output="/left/depth/image")
        wait_until(lambda: probe.node.count_subscribers("/left/camera_info") > 0, 10, "left's camera_info subscriber")
        assert probe.node.count_subscribers("/left/image_raw") == 0


def test_a_relative_namespace_remap_ends_the_node_with_the_forms_a_remap_rule_takes() -> None:
    """``-r __ns:=robot1`` (no leading /): rcl's 'Couldn't parse remap rule ... Expected lexeme type 19, got 18'."""
    command = ["ros2", "run", "mono_depth_ros", "mono_depth_node", "--ros-args", "-r", "__ns:=robot1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "cannot start: failed to initialize rcl: Couldn't parse remap rule" in output
    assert "__ns:= takes an absolute namespace (-r __ns:=/robot1)" in output, output


def test_a_topic_parameter_rcl_refuses_ends_the_node_with_its_name_not_a_traceback() -> None:
    """``-p image_topic:=/front-cam/image`` (a dash: not in a ROS name) ended the node with rclpy's
    InvalidTopicNameException traceback from deep in create_subscription, naming no parameter."""
    for name, value, why in [
        ("image_topic", "/front-cam/image", "'-'"),
        ("camera_info_topic", "/cam info", "' '"),
        ("lidar_topic", "/velodyne//points", "empty"),
        ("image_topic", "/{robot}/camera/image", "unknown substitution {robot}"),  # rcl: a ValueError traceback
    ]:
        command = ["ros2", "run", "mono_depth_ros", "mono_depth_node", "--ros-args", "-p", f"{name}:={value}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
        assert f"cannot start: parameter {name}={value!r} is not a valid ROS topic name" in output, output
        assert why in output.split("is not a valid ROS topic name", 1)[1].split("\n", 1)[0], output


def publish_images_until_logged(probe: Probe, launched: Launched, topic: str, text: str) -> None:
    """Publish small mono8 images (no camera_info) on ``topic`` every 0.25 s until the node's log shows ``text``
    (10 s at most); the publisher is destroyed after (the probe lives for the session: a test after this one would
    see an Image publisher on ``topic``)."""
    publisher = probe.publisher(Image, topic, RELIABLE)
    try:
        wait_until(lambda: publisher.get_subscription_count() > 0, 20, "the node to match the image publisher")
        image = Image(height=4, width=4, encoding="mono8", step=4, data=bytes(16))
        image.header.frame_id = "cam_optical"
        for _ in range(40):
            image.header.stamp = probe.node.get_clock().now().to_msg()
            publisher.publish(image)
            if text in launched.log:
                break
            time.sleep(0.25)
        assert text in launched.log, launched.log[-3000:]
    finally:
        probe.node.destroy_publisher(publisher)
