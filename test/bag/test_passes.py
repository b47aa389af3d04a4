"""The passes of a bag whose clock went back, per stream, and the bag pass of each stream's pass."""

from __future__ import annotations

from mono_depth_ros.bag.pairing import PairingRules, StampIndex
from mono_depth_ros.bag.passes import StreamPasses, TfPasses

S = 1_000_000_000
MS = 1_000_000


def passes_of(messages: list[tuple[int, int]] | list[tuple[int, int, str]]) -> tuple[StreamPasses, list[int]]:
    stream = StreamPasses()
    for message in messages:
        stream.add(*message)
    return stream, stream.resolve()


def test_a_stamp_more_than_a_second_back_that_stays_back_starts_a_pass() -> None:
    stream, passes = passes_of(
        [(0, 100 * S), (1, 101 * S), (2, 100 * S + 500 * MS), (3, 90 * S), (4, 91 * S), (5, 92 * S)]
    )
    assert passes == [0, 0, 0, 1, 1, 1]  # 11 s back and on from there: a reset
    assert stream.starts_log_ns == [0, 3]


def test_a_single_stale_stamp_is_an_outlier_of_its_pass() -> None:
    stream, passes = passes_of([(0, 100 * S), (1, 101 * S), (2, 98 * S), (3, 102 * S), (4, 103 * S)])
    assert passes == [0, 0, 0, 0, 0] and stream.starts_log_ns == [0]
    _, at_the_end = passes_of([(0, 100 * S), (1, 101 * S), (2, 50 * S)])  # nothing after it: a jump
    assert at_the_end == [0, 0, 1]


def test_partner_passes_follow_the_image_pass_in_force_or_just_begun() -> None:
    images, _ = passes_of([(0, 100 * S), (10 * S, 110 * S), (11 * S, 50 * S), (20 * S, 59 * S)])
    assert images.starts_log_ns == [0, 11 * S]  # the image stamps go back at bag time 11 s
    early, _ = passes_of([(0, 100 * S), (11 * S - 50 * MS, 50 * S)])  # the new pass's scan 50 ms before its image
    assert early.bag_passes(images) == [0, 1]
    late, _ = passes_of([(0, 100 * S), (16 * S, 55 * S)])  # a LiDAR that starts again 5 s after the reset
    assert late.bag_passes(images) == [0, 1]
    starts_later, _ = passes_of([(12 * S, 51 * S)])  # a stream that starts in the second pass (no jump of its own)
    assert starts_later.bag_passes(images) == [1]


def test_pairing_stays_in_the_image_pass_and_camera_info_falls_back_to_an_earlier_pass() -> None:
    scans = StampIndex.build([100, 200, 100, 230], passes=[0, 0, 1, 1])
    rules = PairingRules(slop_ns=10, lidar_max_age_ns=50)
    assert rules.lidar_for(195, scans, 1) == 3  # the first pass's scan at 200 is nearer, but of another pass
    assert rules.lidar_for(195, scans, 0) == 1
    assert rules.lidar_for(195, scans, 2) is None
    infos = StampIndex.build([100, 200], passes=[0, 0])  # published once (latched), in the first pass only
    assert rules.camera_info_for(50, infos, 0) is None
    one_pass = StampIndex.build([100, 300], passes=[0, 1])
    assert rules.camera_info_for(50, one_pass, 1) == 0  # none in its pass yet: the last one received before
    assert rules.camera_info_for(310, one_pass, 1) == 1
    assert StampIndex.build([5, 6]).of_pass(3).keys == (0, 1)  # one pass: every message


def test_tf_stamps_are_compared_per_child_frame() -> None:
    """/tf mixes publishers: a slow one (a frame stamped 2 s behind the others) is no jump; one going back is."""
    _, passes = passes_of([(0, 100 * S, "base_link"), (1, 98 * S, "gimbal"), (2, 101 * S, "base_link"),
                           (3, 50 * S, "base_link"), (4, 51 * S, "gimbal"), (5, 51 * S, "base_link"),
                           (6, 52 * S, "base_link")])  # fmt: skip
    assert passes == [0, 0, 0, 1, 1, 1, 1]


def test_tf_passes_keep_each_pass_apart_and_put_a_stale_transform_back() -> None:
    import numpy as np
    from rosbags.typesys import Stores, get_typestore

    from mono_depth_ros.core.geometry import RigidTransform
    from mono_depth_ros.core.msg_factory import MessageFactory
    from mono_depth_ros.core.ros_msgs import tf_message_from
    from mono_depth_ros.core.tf_buffer import TfBuffer

    factory = MessageFactory.for_rosbags(get_typestore(Stores.ROS2_HUMBLE))

    def odom(seconds: int, x_m: float) -> object:
        pose = RigidTransform(np.eye(3), np.array([x_m, 0.0, 0.0]), "odom", "base_link")
        return tf_message_from(factory, [pose], seconds * S)

    first = TfBuffer()
    tf = TfPasses(first)
    for log, (seconds, x_m) in enumerate([(100, 0.0), (101, 1.0), (102, 2.0), (99, 77.0), (103, 3.0)]):
        tf.add(log, odom(seconds, x_m))  # one transform stamped 3 s back, then the timeline goes on
    assert len(tf.buffers) == 1 and first.lookup("odom", "base_link", 99 * S).translation[0] == 77.0
    for log, seconds in enumerate([10, 11, 12, 13], start=10):  # a reset: stamps 10 s.., the robot at 500 m
        tf.add(log, odom(seconds, 500.0 + seconds))
    tf.finish()
    assert len(tf.buffers) == 2 and tf.starts_log_ns == [0, 10]
    assert tf.buffers[1].lookup("odom", "base_link", 11 * S).translation[0] == 511.0
    assert not first.can_transform("odom", "base_link", 11 * S)  # before the first pass's data


def test_nearest_stamp_at_any_distance() -> None:
    index = StampIndex.build([100, 300, 200])
    assert [index.nearest_stamp_ns(t) for t in (0, 240, 260, 10**12)] == [100, 200, 300, 300]
    assert StampIndex.build([]).nearest_stamp_ns(5) is None
