"""The passes of a bag whose clock went back, per stream, and the bag pass of each stream's pass."""

from __future__ import annotations

from mono_depth_ros.bag.pairing import PairingRules, StampIndex
from mono_depth_ros.bag.passes import StreamPasses

S = 1_000_000_000
MS = 1_000_000


def test_a_stamp_more_than_a_second_back_starts_a_pass() -> None:
    stream = StreamPasses()
    assert [stream.add(log, stamp) for log, stamp in [(0, 100 * S), (1, 101 * S), (2, 100 * S + 500 * MS)]] == [0, 0, 0]
    assert stream.add(3, 90 * S) == 1  # 11 s back: a reset
    assert stream.add(4, 91 * S) == 1
    assert stream.starts_log_ns == [0, 3] and stream.current == 1


def test_partner_passes_follow_the_image_pass_in_force_or_just_begun() -> None:
    images = StreamPasses()
    for log, stamp in [(0, 100 * S), (10 * S, 110 * S), (11 * S, 50 * S), (20 * S, 59 * S)]:
        images.add(log, stamp)  # the image stamps go back at bag time 11 s
    early = StreamPasses()  # the new pass's first scan recorded 50 ms before the new pass's first image
    for log, stamp in [(0, 100 * S), (11 * S - 50 * MS, 50 * S)]:
        early.add(log, stamp)
    assert early.bag_passes(images) == [0, 1]
    late = StreamPasses()  # a LiDAR that starts again 5 s after the reset
    for log, stamp in [(0, 100 * S), (16 * S, 55 * S)]:
        late.add(log, stamp)
    assert late.bag_passes(images) == [0, 1]
    starts_later = StreamPasses()  # a stream that starts in the second pass (no jump of its own)
    starts_later.add(12 * S, 51 * S)
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
    tf = StreamPasses()
    assert tf.add(0, 100 * S, "base_link") == 0
    assert tf.add(1, 98 * S, "gimbal") == 0  # another child, behind: not a jump
    assert tf.add(2, 101 * S, "base_link") == 0
    assert tf.add(3, 50 * S, "base_link") == 1  # its own stamps went back
    assert tf.add(4, 51 * S, "gimbal") == 1  # newest stamps were forgotten with the new pass


def test_nearest_stamp_at_any_distance() -> None:
    index = StampIndex.build([100, 300, 200])
    assert [index.nearest_stamp_ns(t) for t in (0, 240, 260, 10**12)] == [100, 200, 300, 300]
    assert StampIndex.build([]).nearest_stamp_ns(5) is None
