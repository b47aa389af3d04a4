"""adapters/input_watch.py: an input that receives nothing is warned about with the reason the ROS graph gives."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mono_depth_ros.adapters.diagnostics import is_depth_status, status_name
from mono_depth_ros.adapters.input_watch import (
    InputWatch,
    LatchedInfo,
    PeerFrames,
    WatchedInput,
    node_inputs,
    publisher_reliability,
    silence_reason,
)
from mono_depth_ros.adapters.topic_names import subscribed_image_topic
from mono_depth_ros.depth_config import DepthConfig

from .support import FakeClock

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
    raw = DepthConfig.from_params({"lidar_topic": "/velodyne_points", "lidar.message_type": "PointCloud2"})
    inputs = node_inputs(raw, "/camera/image_raw", lambda: 0, lambda: 0)
    assert [(i.role, i.topic, i.type_name) for i in inputs] == [
        ("image", "/camera/image_raw", IMAGE),
        ("LiDAR scan", "/velodyne_points", "sensor_msgs/msg/PointCloud2"),
    ]
    assert "image_transport: compressed" in inputs[0].remedy and "use_lidar:=false" in inputs[1].remedy
    compressed = DepthConfig.from_params({"image_transport": "compressed", "input_qos": "reliable"})
    (image,) = node_inputs(compressed, "/camera/image_raw/compressed", lambda: 0, lambda: 0)
    assert image.type_name == COMPRESSED and "image_transport: raw" in image.remedy and image.qos == "reliable"


def test_a_silent_image_topic_names_its_other_transports_publisher_and_the_image_transport_setting() -> None:
    """Nothing published /camera/image_raw but a compressed recording (or a camera driver with image_transport)
    published /camera/image_raw/compressed: the warning said "nothing publishes it" and named image_topic, not the
    topic that was there nor image_transport. Likewise compressed configured with only a raw Image publisher."""
    clock, warnings = Clock(), list[str]()
    graph = {"/camera/image_raw/compressed": [Info(COMPRESSED)], "/front/image_raw": [Info(IMAGE)]}
    raw = DepthConfig.from_params({})
    compressed = DepthConfig.from_params({"image_transport": "compressed", "image_topic": "/front/image_raw"})
    inputs = [*node_inputs(raw, "/camera/image_raw", lambda: 0, lambda: 0)]
    inputs += node_inputs(compressed, "/front/image_raw/compressed", lambda: 0, lambda: 0)
    inputs[1] = replace(inputs[1], role="second image")  # (one input per role)
    watch = InputWatch(inputs, lambda topic: graph.get(topic, []), warnings.append, clock, 5.0, 60.0)
    clock.t += 6.0
    watch.poll()
    assert warnings == [
        "no image received on /camera/image_raw in 6 s: nothing publishes it, but /camera/image_raw/compressed is "
        f"published as {COMPRESSED} (a compressed recording, or a camera driver's image_transport): set "
        "image_transport: compressed (launch: image_transport:=compressed; ros2 run: --ros-args -p "
        "image_transport:=compressed), image_topic stays /camera/image_raw (/compressed is appended)",
        "no second image received on /front/image_raw/compressed in 6 s: nothing publishes it, but /front/image_raw "
        f"is published as {IMAGE}: set image_transport: raw (launch: image_transport:=raw; ros2 run: --ros-args -p "
        "image_transport:=raw), image_topic stays /front/image_raw",
    ]
    graph.clear()  # the other transport's topic gone too: the plain reason again
    clock.t += 60.0
    watch.poll()
    assert warnings[2].endswith("nothing publishes it (`ros2 topic list -t` lists the topics); " + inputs[0].remedy)


def test_the_other_transports_topic_is_looked_up_as_the_node_subscribes_under_a_remap_or_a_namespace() -> None:
    """Under ``-r /camera/image_raw:=/robot1/cam/image`` the camera's /robot1/cam/image/compressed went unnamed: the
    look-up was /camera/image_raw/compressed (the parameter's name: no rule remaps it). Compressed transport appends
    /compressed to the remapped base (subscribed_image_topic), so image_topic stays as it is; only a rule for a whole
    compressed name (which raw's base does not follow) asks for another image_topic. The graph here expands and
    remaps what it is asked, as rclpy's get_publishers_info_by_topic does."""
    remaps = {"/camera/image_raw": "/robot1/cam/image", "/front/image_raw/compressed": "/robot1/front/compressed"}

    def resolve(topic: str) -> str:
        topic = topic if topic.startswith("/") else "/robot1/" + topic  # the node's namespace: /robot1
        return remaps.get(topic, topic)

    graph = {
        "/robot1/cam/image/compressed": [Info(COMPRESSED)],
        "/robot1/front": [Info(IMAGE)],
        "/robot1/image_raw/compressed": [Info(COMPRESSED)],
        "/robot1/rear": [Info(IMAGE)],
    }
    raw = DepthConfig.from_params({})
    compressed = DepthConfig.from_params({"image_transport": "compressed", "image_topic": "/front/image_raw"})
    relative = DepthConfig.from_params({"image_topic": "image_raw"})
    rear = DepthConfig.from_params({"image_transport": "compressed", "image_topic": "rear"})
    subscribed = [subscribed_image_topic(c.topics.image, c.topics.image_transport, resolve) for c in (compressed, rear)]
    assert subscribed == ["/front/image_raw/compressed", "/robot1/rear/compressed"]
    inputs = [*node_inputs(raw, "/camera/image_raw", lambda: 0, lambda: 0, resolve)]
    inputs += node_inputs(compressed, subscribed[0], lambda: 0, lambda: 0, resolve)
    inputs += node_inputs(relative, "image_raw", lambda: 0, lambda: 0, resolve)
    inputs += node_inputs(rear, subscribed[1], lambda: 0, lambda: 0, resolve)
    inputs = [replace(item, role=f"image {n}") for n, item in enumerate(inputs)]  # (one input per role)
    clock, warnings = Clock(), list[str]()
    watch = InputWatch(inputs, lambda topic: graph.get(resolve(topic), []), warnings.append, clock, 5.0, 60.0)
    clock.t += 6.0
    watch.poll()
    compressed_switch = (
        f"{COMPRESSED} (a compressed recording, or a camera driver's image_transport): set image_transport: "
        "compressed (launch: image_transport:=compressed; ros2 run: --ros-args -p image_transport:=compressed), "
    )
    assert warnings[0] == (
        "no image 0 received on /robot1/cam/image (from /camera/image_raw) in 6 s: nothing publishes it, but "
        f"/robot1/cam/image/compressed is published as {compressed_switch}image_topic stays /camera/image_raw "
        "(/compressed is appended)"
    )
    assert warnings[1].startswith("no image 1 received on /robot1/front/compressed (from /front/image_raw/compressed)")
    assert warnings[1].endswith(  # the rule for the whole compressed name: raw's base does not follow it
        f"but /robot1/front is published as {IMAGE}: set image_transport: raw (launch: image_transport:=raw; ros2 "
        "run: --ros-args -p image_transport:=raw), image_topic: /robot1/front (unchanged it would subscribe "
        "/front/image_raw)"
    )
    assert warnings[2].endswith(  # a namespace and a relative name: resolved alike, image_topic kept
        f"but /robot1/image_raw/compressed is published as {compressed_switch}image_topic stays image_raw "
        "(/compressed is appended)"
    )
    assert warnings[3] == (  # compressed of a relative base: the namespace carries over, raw's base is image_topic
        "no image 3 received on /robot1/rear/compressed in 6 s: nothing publishes it, but /robot1/rear (from rear) "
        f"is published as {IMAGE}: set image_transport: raw (launch: image_transport:=raw; ros2 run: --ros-args -p "
        "image_transport:=raw), image_topic stays rear"
    )


def test_a_remapped_input_is_named_as_subscribed_and_looked_up_by_its_parameters_name() -> None:
    """Under ``-r /camera/image_raw:=/robot1/cam/image`` the warning named /camera/image_raw, which the node did not
    subscribe; the graph is still asked about the parameter's name (rclpy remaps that itself)."""
    config = DepthConfig.from_params({"lidar_topic": "/points"})
    remaps = {"/camera/image_raw": "/robot1/cam/image", "/points": "/robot1/points"}
    inputs = node_inputs(config, "/camera/image_raw", lambda: 0, lambda: 0, lambda t: remaps.get(t, t))
    asked: list[str] = []
    warnings: list[str] = []
    clock = Clock()
    watch = InputWatch(inputs, lambda topic: asked.append(topic) or [], warnings.append, now=clock)
    clock.t += 6.0
    watch.poll()
    assert warnings[0].startswith("no image received on /robot1/cam/image (from /camera/image_raw) in 6 s: nothing")
    assert warnings[1].startswith("no LiDAR scan received on /robot1/points (from /points) in 6 s: nothing")
    assert asked[:3] == ["/camera/image_raw", "/robot1/cam/image/compressed", "/points"]  # (/compressed: resolved)
    latched = LatchedInfo("/c", lambda qos: None, lambda topic: [], Profile(depth=10), False, shown="/r/c (from /c)")
    assert latched.missing().startswith("no camera_info yet on /r/c (from /c): nothing publishes it")


def test_a_lidar_topic_of_either_type_is_watched_as_lidar_message_type_auto_subscribes_it() -> None:
    config = DepthConfig.from_params({"lidar_topic": "/scan"})  # lidar.message_type: auto
    lidar = node_inputs(config, "/camera/image_raw", lambda: 0, lambda: 0)[1]
    assert lidar.type_name == "sensor_msgs/msg/PointCloud2 or sensor_msgs/msg/LaserScan"
    silent = silence_reason(lidar, ["sensor_msgs/msg/LaserScan"])
    assert silent.startswith("1 publisher(s) of sensor_msgs/msg/PointCloud2 or sensor_msgs/msg/LaserScan but nothing")
    assert "is published as sensor_msgs/msg/Range" in silence_reason(lidar, ["sensor_msgs/msg/Range"])


def test_a_lidar_topic_of_the_other_lidar_type_names_lidar_message_type() -> None:
    """``lidar.message_type: PointCloud2`` and a 2D LiDAR's LaserScan on the topic (and the reverse): the remedy is
    the message type to set. It said "set lidar_topic (launch: lidar:=), or turn LiDAR off", though the topic was
    right (seen on real Humble)."""
    for chosen, published in (("PointCloud2", "LaserScan"), ("LaserScan", "PointCloud2")):
        config = DepthConfig.from_params({"lidar_topic": "/scan", "lidar.message_type": chosen})
        lidar = node_inputs(config, "/camera/image_raw", lambda: 0, lambda: 0)[1]
        said = silence_reason(lidar, [f"sensor_msgs/msg/{published}"])
        assert said.startswith(f"it is published as sensor_msgs/msg/{published}, this node subscribes "), said
        assert f"set lidar.message_type: {published} (or auto" in said and "lidar_topic" not in said, said
        assert "set lidar_topic" in silence_reason(lidar, ["sensor_msgs/msg/Range"])  # no LiDAR type: the topic
        assert "lidar.message_type" not in silence_reason(lidar, [])


class Profile:  # rclpy's QoSProfile: keywords, history KEEP_LAST when only a depth is given
    def __init__(self, **kwargs: Any) -> None:
        self.depth = kwargs["depth"]
        self.reliability = kwargs.get("reliability", Reliability("RELIABLE"))
        self.durability = kwargs.get("durability", Reliability("VOLATILE"))


@dataclass
class EndpointInfo:  # rclpy's TopicEndpointInfo of a publisher
    topic_type: str
    qos_profile: Profile


CAMERA_INFO = "sensor_msgs/msg/CameraInfo"


def _latched(durability: str, reliability: str = "RELIABLE") -> EndpointInfo:
    return EndpointInfo(
        CAMERA_INFO, Profile(depth=1, reliability=Reliability(reliability), durability=Reliability(durability))
    )


def test_a_camera_info_stored_by_a_transient_local_publisher_is_subscribed_to_with_its_durability() -> None:
    """A driver that publishes camera_info once with transient-local durability (rclcpp::QoS(1).transient_local(),
    seen in OAK-D and RealSense streamers) before the node subscribed: the node's volatile subscription never got
    it and every image was counted no_camera_info for ever. For an image without camera_info the topic's publishers
    are looked at (once a second at most); a transient-local one gets a second subscription with its durability and
    reliability, made once, which receives the stored message. A volatile publisher gets none (it would not match
    it: both would log incompatible QoS)."""
    graph: list[EndpointInfo] = []
    made: list[Any] = []
    clock = FakeClock()
    asked: list[str] = []

    def publishers(topic: str) -> list[EndpointInfo]:
        asked.append(topic)
        return list(graph)

    usual = Profile(depth=5, reliability=Reliability("BEST_EFFORT"))
    watch = LatchedInfo("/cam/camera_info", lambda qos: made.append(qos) or len(made), publishers, usual, False,
                              now=lambda: clock.now_ns / 1e9)  # fmt: skip
    assert made == [usual]  # the usual subscription, at once
    nothing = "no camera_info yet on /cam/camera_info: nothing publishes it (`ros2 topic list -t` lists the topics)"
    assert watch.missing().startswith(nothing)  # the graph says why
    graph.append(_latched("VOLATILE"))  # a camera driver that has published nothing yet
    assert watch.missing().startswith(nothing) and len(asked) == 1  # the graph looked at once a second at most
    clock.now_ns += 1_000_000_000
    assert watch.missing() == "no camera_info yet on /cam/camera_info" and len(made) == 1 and len(asked) == 2
    graph.append(_latched("TRANSIENT_LOCAL", "BEST_EFFORT"))
    clock.now_ns += 1_000_000_000
    text = watch.missing()
    assert "transient-local publisher" in text and "subscribed" in text, text
    latched = made[1]
    assert (latched.depth, latched.durability.name, latched.reliability.name) == (1, "TRANSIENT_LOCAL", "BEST_EFFORT")
    clock.now_ns += 5_000_000_000
    watch.missing()
    assert len(made) == 2 and len(asked) == 3  # made once, the graph no longer asked
    assert watch.take() == [2] and watch.take() == []  # for a managed node's deactivate: destroyed once


def test_with_approximate_time_the_synchroniser_subscribes_camera_info_and_nothing_is_added() -> None:
    made: list[Any] = []
    graph = [_latched("TRANSIENT_LOCAL")]
    watch = LatchedInfo("/c", made.append, lambda topic: graph, Profile(depth=10), True)
    assert watch.missing() == "no camera_info yet on /c" and made == [] and watch.take() == []


def test_a_camera_info_topic_published_with_another_type_is_named() -> None:
    """camera_info_topic set to the image topic (or another message): the text names the type found there."""
    watch = LatchedInfo("/cam/image_raw", lambda qos: None, lambda topic: [Info(IMAGE)], Profile(depth=10), False)
    assert watch.missing() == (
        "no camera_info yet on /cam/image_raw: it is published as sensor_msgs/msg/Image; set camera_info_topic to "
        "the camera's camera_info"
    )


def test_a_graph_without_qos_profiles_adds_nothing() -> None:
    made: list[Any] = []
    watch = LatchedInfo("/c", made.append, lambda topic: [Info(CAMERA_INFO)], Profile(depth=10), False)
    assert watch.missing() == "no camera_info yet on /c" and len(made) == 1


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
class KeyValue:  # diagnostic_msgs/KeyValue
    key: str
    value: str


def depth_values() -> list[KeyValue]:
    """The keys a depth status carries (diagnostic_report + config_key_values), values as the node's."""
    return [KeyValue("frames_received", "3"), KeyValue("backend", "unet")]


@dataclass
class Status:  # diagnostic_msgs/DiagnosticStatus: the fields read
    name: str
    hardware_id: str
    values: list[KeyValue] = field(default_factory=depth_values)


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


@dataclass
class Durability:  # rclpy's DurabilityPolicy: an enum, read by its name
    name: str


@dataclass
class StaticQos:
    durability: Durability


@dataclass
class StaticInfo:  # rclpy's TopicEndpointInfo of a /tf_static publisher
    node_name: str
    qos_profile: StaticQos


def test_a_volatile_tf_static_publisher_is_named_once_with_the_override_when_lidar_is_on() -> None:
    """ros2 bag play offers /tf_static recorded without QoS as volatile: TransformListener (transient local) got
    nothing, and every frame lost its LiDAR scale to 'frame does not exist'."""
    clock, warnings = Clock(), []
    lidar = node_inputs(DepthConfig.from_params({"lidar_topic": "/points"}), "/image", lambda: 1, lambda: 1)
    graph = {"/tf_static": [StaticInfo("robot_state_publisher", StaticQos(Durability("TRANSIENT_LOCAL")))]}
    watch = InputWatch(lidar, lambda topic: graph.get(topic, []), warnings.append, clock, 5.0, 60.0)
    watch.poll()
    assert warnings == []
    graph["/tf_static"].append(StaticInfo("rosbag2_player", StaticQos(Durability("VOLATILE"))))
    for _ in range(3):
        watch.poll()
    (warning,) = warnings  # once
    assert warning.startswith("1 publisher(s) of /tf_static (rosbag2_player) offer volatile durability")
    assert "--qos-profile-overrides-path" in warning and "durability: transient_local" in warning
    graph["/tf_static"].pop()
    watch.poll()
    graph["/tf_static"].append(StaticInfo("rosbag2_player", StaticQos(Durability("VOLATILE"))))
    watch.poll()
    assert len(warnings) == 2  # played again without the override: said again
    images_only = node_inputs(DepthConfig.from_params({}), "/image", lambda: 1, lambda: 1)
    quiet: list[str] = []
    InputWatch(images_only, lambda topic: graph.get(topic, []), quiet.append, clock, 5.0, 60.0).poll()
    assert quiet == []  # no LiDAR: no extrinsic to miss


def test_a_peer_named_in_a_users_launch_file_in_this_nodes_frame_is_warned_about() -> None:
    """Two cameras' nodes named by the user's own launch file (``Node(name="depth_left", namespace="left")``) in one
    frame: their statuses end ``depth_left: depth``, not ``mono_depth_node: depth``, and nothing was said (seen with
    ``ros2 launch`` of such a file on real Humble). Another package's status named ``...: depth`` is no peer."""
    warnings: list[str] = []
    peers = PeerFrames("/right/depth_right", lambda: "camera", warnings.append)
    peers.check(Array([Status("right/depth_right: depth", "camera"), Status("left/depth_left: depth", "camera")]))
    (warning,) = warnings
    assert warning.startswith("left/depth_left publishes its depth in this node's camera frame 'camera' too")
    peers.check(Array([Status("rgbd/driver: depth", "camera", [KeyValue("temperature", "41")])]))
    assert len(warnings) == 1


def test_a_depth_status_is_one_of_this_packages_names_or_a_depth_named_status_with_the_depth_keys() -> None:
    """:func:`is_depth_status`, the one rule of PeerFrames and the bag runner: ``mono_depth_node: depth`` in any
    namespace is a depth status whatever its values (as before ``is_depth_status``: a recorded one without them too);
    a name that only ends with those words (``my_mono_depth_node: depth``) is not, unless it carries the depth keys."""
    assert is_depth_status(Status("mono_depth_node: depth", "camera", []))
    assert is_depth_status(Status("front/mono_depth_node: depth", "camera", []))
    assert is_depth_status(Status("left/depth_left: depth", "camera"))  # a user's name, the depth keys
    assert is_depth_status(Status("my_mono_depth_node: depth", "camera"))
    assert not is_depth_status(Status("my_mono_depth_node: depth", "camera", []))
    assert not is_depth_status(Status("rgbd/driver: depth", "camera", [KeyValue("frames_received", "3")]))
    assert not is_depth_status(Status("left/depth_left: depth (copy)", "camera"))
