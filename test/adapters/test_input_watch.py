"""adapters/input_watch.py: an input that receives nothing is warned about with the reason the ROS graph gives."""

from __future__ import annotations

from dataclasses import dataclass, field

from mono_depth_ros.adapters.diagnostics import status_name
from mono_depth_ros.adapters.input_watch import (
    InputWatch,
    PeerFrames,
    WatchedInput,
    node_inputs,
    publisher_reliability,
    silence_reason,
)
from mono_depth_ros.depth_config import DepthConfig

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


@dataclass
class Info:
    topic_type: str


@dataclass
class Reliability:  # rclpy's ReliabilityPolicy: an enum, read by its name
    name: str


@dataclass
class Qos:
    reliability: Reliability


@dataclass
class QosInfo:  # rclpy's TopicEndpointInfo
    topic_type: str
    qos_profile: Qos


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def watched(count: list[int]) -> WatchedInput:
    return WatchedInput("image", "/cam/image_raw", IMAGE, lambda: count[0], "set image_topic", "sensor_data")


def test_each_reason_names_what_the_graph_shows() -> None:
    item = watched([0])
    assert silence_reason(item, []).startswith("nothing publishes it")
    assert silence_reason(item, [COMPRESSED]) == (
        f"it is published as {COMPRESSED}, this node subscribes {IMAGE}; set image_topic"
    )
    assert "1 publisher(s) of sensor_msgs/msg/Image but nothing arrived" in silence_reason(item, [IMAGE, COMPRESSED])
    assert "input_qos: sensor_data" in silence_reason(item, [IMAGE])
    assert silence_reason(item, [COMPRESSED, COMPRESSED]) == silence_reason(item, [COMPRESSED])  # two of the other
    assert "2 publisher(s) of sensor_msgs/msg/Image" in silence_reason(item, [IMAGE, COMPRESSED, IMAGE])


def test_a_best_effort_input_blames_large_messages_not_a_qos_mismatch() -> None:
    """A best-effort subscription (input_qos: sensor_data) matches reliable and best-effort publishers alike, and
    rclpy logs no 'incompatible QoS' for it: measured on Humble + Cyclone, a reliable 3840x2160 rgb8 publisher at
    30 Hz delivered 0 of 150 images to a best-effort reader (every one lost a UDP fragment), all to a reliable one."""
    item = watched([0])
    reliable = silence_reason(item, [IMAGE], [True])
    assert "not a QoS mismatch" in reliable and "incompatible QoS" not in reliable
    assert "too large to arrive whole" in reliable and reliable.endswith(
        "set input_qos: reliable (the publisher is reliable: every message is repaired and arrives)"
    )
    best_effort = silence_reason(item, [IMAGE, COMPRESSED], [False, True])  # the reliable one is of the other type
    assert "too large" in best_effort and "make the publisher reliable and set input_qos: reliable" in best_effort
    strict = WatchedInput("image", "/cam/image_raw", IMAGE, lambda: 0, "set image_topic", "reliable")
    assert "rclpy logs 'incompatible QoS'" in silence_reason(strict, [IMAGE], [False])  # reliable from best effort
    matched = silence_reason(strict, [IMAGE, IMAGE], [True, True])  # a reliable 4K camera, its first image in flight
    assert "the QoS matches" in matched and "incompatible QoS" not in matched
    assert "rclpy logs 'incompatible QoS'" in silence_reason(item, [IMAGE])  # reliability unknown: as before


def test_the_watch_reads_each_publishers_reliability_from_the_graph() -> None:
    clock, warnings = Clock(), []
    graph = {"/cam/image_raw": [QosInfo(IMAGE, Qos(Reliability("RELIABLE")))]}
    watch = InputWatch([watched([0])], lambda topic: graph.get(topic, []), warnings.append, clock, 5.0, 60.0)
    clock.t += 6.0
    watch.poll()
    assert len(warnings) == 1 and "not a QoS mismatch" in warnings[0] and "set input_qos: reliable (" in warnings[0]
    assert publisher_reliability([QosInfo(IMAGE, Qos(Reliability("BEST_EFFORT"))), Info(IMAGE)]) == []  # unknown
    assert publisher_reliability([QosInfo(IMAGE, Qos(Reliability("BEST_EFFORT")))]) == [False]


def test_warned_after_the_delay_then_repeated_and_no_more_once_a_message_came() -> None:
    clock, count, warnings = Clock(), [0], []
    graph: dict[str, list[Info]] = {}
    watch = InputWatch([watched(count)], lambda topic: graph.get(topic, []), warnings.append, clock, 5.0, 60.0)
    clock.t += 4.9
    watch.poll()
    assert warnings == []  # not before after_s
    clock.t += 0.2
    watch.poll()
    assert warnings == [
        "no image received on /cam/image_raw in 5 s: nothing publishes it (`ros2 topic list -t` lists the topics); "
        "set image_topic"
    ]
    clock.t += 30.0
    watch.poll()
    assert len(warnings) == 1  # repeated every repeat_s only
    graph["/cam/image_raw"] = [Info(COMPRESSED)]
    clock.t += 30.0
    watch.poll()
    assert len(warnings) == 2 and warnings[1].startswith("no image received on /cam/image_raw in 65 s: it is published")
    count[0] = 1
    clock.t += 600.0
    watch.poll()
    assert len(warnings) == 2  # a message arrived: the input is no longer watched


def test_node_inputs_follow_the_transport_and_the_lidar_setting() -> None:
    raw = DepthConfig.from_params({"lidar_topic": "/velodyne_points"}).topics
    inputs = node_inputs(raw, "/camera/image_raw", lambda: 0, lambda: 0)
    assert [(i.role, i.topic, i.type_name) for i in inputs] == [
        ("image", "/camera/image_raw", IMAGE),
        ("LiDAR scan", "/velodyne_points", "sensor_msgs/msg/PointCloud2"),
    ]
    assert "image_transport: compressed" in inputs[0].remedy and "use_lidar:=false" in inputs[1].remedy
    compressed = DepthConfig.from_params({"image_transport": "compressed", "input_qos": "reliable"}).topics
    (image,) = node_inputs(compressed, "/camera/image_raw/compressed", lambda: 0, lambda: 0)
    assert image.type_name == COMPRESSED and "image_transport: raw" in image.remedy and image.qos == "reliable"


@dataclass
class Endpoint:  # rclpy's TopicEndpointInfo: who publishes
    node_name: str
    node_namespace: str
    topic_type: str = IMAGE


def test_another_node_publishing_this_nodes_depth_topic_is_warned_about_once_per_change() -> None:
    """Two cameras' nodes launched without their own namespace (two `ros2 launch`, two systemd units) both
    published /depth/image: one camera's depth frame after the other's on one topic, and nothing said so."""
    clock, warnings = Clock(), []
    publishers = {"/depth/image": [Endpoint("mono_depth_node", "/")]}
    watch = InputWatch(
        [], lambda topic: publishers.get(topic, []), warnings.append, now=clock, outputs=["/depth/image"]
    )
    watch.poll()
    publishers["/depth/image"].append(Endpoint("mono_depth_node", "/"))  # the second node appears in the graph
    watch.poll()
    assert warnings == []  # the graph is still being discovered for 5 s
    clock.t += 5.0
    watch.poll()
    watch.poll()
    (warning,) = warnings
    assert warning == (
        "2 publishers on /depth/image (/mono_depth_node x2): another node publishes this node's depth topic, so its "
        "readers get two cameras' depth interleaved; give each camera's node its own namespace (launch: "
        "namespace:=front, namespace:=left)"
    )
    publishers["/depth/image"][1] = Endpoint("mono_depth_node", "/left")  # not ours any more: gone
    publishers["/depth/image"].append(Endpoint("depth_republisher", "/"))
    watch.poll()
    assert len(warnings) == 2 and "(/depth_republisher, /left/mono_depth_node, /mono_depth_node)" in warnings[1]
    del publishers["/depth/image"][1:]
    watch.poll()
    assert len(warnings) == 2


@dataclass
class Status:  # diagnostic_msgs/DiagnosticStatus: the fields read
    name: str
    hardware_id: str


@dataclass
class Array:  # diagnostic_msgs/DiagnosticArray
    status: list[Status] = field(default_factory=list)


def test_the_status_name_is_the_nodes_fully_qualified_name() -> None:
    assert status_name("/mono_depth_node") == "mono_depth_node: depth"
    assert status_name("/front/mono_depth_node") == "front/mono_depth_node: depth"


def test_a_peer_in_this_nodes_frame_is_warned_about_once() -> None:
    """Two USB cameras left at their driver's default frame_id ('camera'): both nodes published depth and clouds in
    one frame, so TF put the left camera's obstacles where the front camera looks, and nothing said so."""
    own_frame, warnings = [""], []
    peers = PeerFrames("/front/mono_depth_node", lambda: own_frame[0], warnings.append)
    both = Array([Status("front/mono_depth_node: depth", "camera"), Status("left/mono_depth_node: depth", "camera")])
    peers.check(both)
    assert warnings == []  # no frame of its own yet
    own_frame[0] = "camera"
    peers.check(both)
    peers.check(both)
    (warning,) = warnings
    assert warning.startswith(
        "left/mono_depth_node publishes its depth in this node's camera frame 'camera' too: the two cameras' images "
        "carry one frame_id"
    )
    assert warning.endswith("give each camera driver its own frame_id and publish its TF")
    peers.check(Array([Status("left/mono_depth_node: depth", "left_optical"), Status("battery", "camera")]))
    assert len(warnings) == 1  # another frame, another kind of status: nothing
