"""Frame plans: partners by the pairing rules, and a reason for every image that cannot be processed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mono_depth_ros.bag.index import BagIndex, ImageEntry, TopicPlan, index_bag, resolve_topics
from mono_depth_ros.bag.pairing import PairingRules, StampIndex
from mono_depth_ros.bag.plan import plan_frames, seconds_text
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.core.ros_msgs import stamp_to_ns
from mono_depth_ros.depth_config import DepthConfig

from .support import write_tiny_bag


def test_plan_frames_pairs_and_explains() -> None:
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "/scan", "/pred")
    index = BagIndex(
        topics,
        images=[ImageEntry(0, 100, "cam"), ImageEntry(0, None, "", "broken"), ImageEntry(0, 300, "cam")],
        camera_info_stamps=StampIndex.build([100]),
        lidar_stamps=StampIndex.build([290, 120]),
        prediction_stamps=StampIndex.build([100]),
    )
    plans = plan_frames(index, PairingRules(lidar_max_age_ns=50))
    assert (plans[0].camera_info, plans[0].lidar, plans[0].prediction, plans[0].skip) == (0, 1, 0, None)
    assert plans[1].skip == ("image: EncodingError", "broken", "bad_cdr")  # the node counts it bad_messages.bad_cdr
    assert plans[2].skip is not None and plans[2].skip[0] == "no prediction"


def test_no_camera_info_before_the_first_image_is_explained() -> None:
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "")
    index = BagIndex(topics, images=[ImageEntry(0, 10**9, "cam")], camera_info_stamps=StampIndex.build([3 * 10**9]))
    (plan,) = plan_frames(index, PairingRules())
    assert plan.skip is not None and plan.skip[0] == "no camera_info"
    assert "first one at 3.000000000 s" in plan.skip[1]
    assert seconds_text(1_700_000_000_100_000_000) == "1700000000.100000000 s"
    empty = BagIndex(topics, images=[ImageEntry(0, 5, "cam")])
    assert "the topic is empty" in plan_frames(empty, PairingRules())[0].skip[1]  # type: ignore[index]


def test_a_bag_whose_clock_went_back_pairs_each_image_with_a_scan_of_its_own_pass(tmp_path: Path) -> None:
    """A simulation reset while recording (or a recorded ``ros2 bag play --loop``): the header stamps of every topic
    start again. The whole bag was one timeline, so an image of the second pass was paired with the scan of the first
    pass with its stamp (another place), and the external prediction of one pass with the image of the other, where
    the node (which forgets what came before a jump) pairs each image with a scan of its own pass."""
    back_ns = 1_500_000_000  # the second pass repeats the stamps of the first (12 frames, 100 ms apart)
    scan_lag_ns = 30_000_000  # in the second pass each scan is stamped 30 ms after its image

    def reset(topic: str, index: int, msg: Any) -> Any:
        if index >= 15:  # frames 15..: stamps 1.5 s back (frames 0..11 of the first pass had them)
            stamp = stamp_to_ns(msg.header.stamp) - back_ns + (scan_lag_ns if topic == "/lidar/points" else 0)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        return msg

    write_tiny_bag(tmp_path / "in", 24, mutate=reset)
    params = {"lidar_topic": "/lidar/points", "model.backend": "external"}
    summary = BagSummary(tmp_path / "in", tmp_path / "out")
    with InputBag(tmp_path / "in", typestore_for("humble")) as bag:
        config = DepthConfig.from_params(params)
        topics = resolve_topics(config, bag, summary)
        index = index_bag(bag, topics, summary, topics.all)
    plans = plan_frames(index, PairingRules.from_config(config))
    assert [p.lidar for p in plans[:15]] == list(range(15))  # the first pass: its own scans
    assert [p.lidar for p in plans[15:]] == list(range(15, 24))  # was the first pass's scan with the image's stamp
    assert [p.prediction for p in plans] == list(range(24))  # was the other pass's (the last recorded of a stamp)
    assert [p.camera_info for p in plans] == list(range(24))
    assert any("went back" in note for note in summary.notes), summary.notes


def test_one_image_stamped_seconds_back_is_an_outlier_not_a_new_pass(tmp_path: Path) -> None:
    """A camera that once publishes a frame with a stale stamp (2 s old) is no reset: its stamps come back at once.
    Taken for a jump, it started a second pass that every later image belonged to while the scans stayed in the
    first: no later image found a scan (the node, which only drops its cached scans, recovers at the next scan)."""

    def stale_once(topic: str, index: int, msg: Any) -> Any:
        if index == 14 and topic in ("/camera/image_raw", "/camera/camera_info", "/depth_model/prediction"):
            stamp = stamp_to_ns(msg.header.stamp) - 2_000_000_000
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        return msg

    write_tiny_bag(tmp_path / "in", 24, mutate=stale_once)
    summary = BagSummary(tmp_path / "in", tmp_path / "out")
    config = DepthConfig.from_params({"lidar_topic": "/lidar/points", "model.backend": "external"})
    with InputBag(tmp_path / "in", typestore_for("humble")) as bag:
        topics = resolve_topics(config, bag, summary)
        index = index_bag(bag, topics, summary, topics.all)
    plans = plan_frames(index, PairingRules.from_config(config))
    assert [e.bag_pass for e in index.images] == [0] * 24 and not any("went back" in n for n in summary.notes)
    assert [p.lidar for p in plans[15:]] == list(range(15, 24))


def test_of_images_with_equal_stamps_the_plan_keeps_the_one_the_node_publishes() -> None:
    """Three images stamped 100 (recorded at 1, 2 and 5; a fourth at 200 on its own), the camera_info of stamp 100
    recorded at 3: the node's synchroniser queue held the second when the set completed (the first replaced,
    ``no_camera_info`` then), the third came after it fired (``unsynced``). Before, every image was processed."""
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "")
    images = [
        ImageEntry(1, 100, "cam"),
        ImageEntry(2, 100, "cam"),
        ImageEntry(5, 100, "cam"),
        ImageEntry(6, 200, "cam"),
    ]
    index = BagIndex(topics, images=images, camera_info_stamps=StampIndex.build([100, 200], logs_ns=[3, 6]))
    plans = plan_frames(index, PairingRules())
    assert [plan.skip.key if plan.skip else None for plan in plans] == ["no_camera_info", None, "unsynced", None]
    assert "image 1" in plans[0].skip.text  # type: ignore[union-attr]  # names the one published
    latest = plan_frames(index, PairingRules(sync_mode="latest"))  # no synchroniser: the node takes every image
    keys = [plan.skip.key if plan.skip else None for plan in latest]  # but drops those before any camera_info came
    assert keys == ["no_camera_info", "no_camera_info", None, None], latest


def test_an_image_republished_with_its_camera_info_is_published_again_as_the_node_does() -> None:
    """A camera driver that republishes a frame republishes its camera_info too: image and camera_info stamped 100
    recorded at 1, 2 and again at 5, 6. The node's synchroniser fires for the first pair, clears its queues, and
    fires again for the second: two depth images. The plan skipped the second as ``unsynced`` ("waits for partners
    that never come"), a frame the node publishes. A camera_info between two images of one stamp, not repeated,
    still leaves the second waiting (``unsynced``)."""
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "")
    images = [ImageEntry(1, 100, "cam"), ImageEntry(5, 100, "cam")]
    again = BagIndex(topics, images=images, camera_info_stamps=StampIndex.build([100, 100], logs_ns=[2, 6]))
    assert [plan.skip for plan in plan_frames(again, PairingRules())] == [None, None]
    once = BagIndex(topics, images=images, camera_info_stamps=StampIndex.build([100], logs_ns=[2]))
    assert [p.skip.key if p.skip else None for p in plan_frames(once, PairingRules())] == [None, "unsynced"]


def test_an_image_republished_with_its_partners_goes_with_the_ones_that_completed_its_set() -> None:
    """Image and camera_info stamped 100 recorded at 1, 2 and again at 5, 6: the node's second set is the second
    image with the re-sent camera_info (the first was handed over with the first set and cleared), yet the plan gave
    both images the camera_info recorded at 2 (the last recorded by the image's arrival, the set's fired time as if
    the queue still held it). Likewise a re-sent prediction (stamp 100 at 3 and 7, with ``sync.mode: latest`` and a
    camera_info at 0 and 6: the second set completes at 7, when the node's last camera_info is the one at 6)."""
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "")
    images = [ImageEntry(1, 100, "cam"), ImageEntry(5, 100, "cam")]
    again = BagIndex(topics, images=images, camera_info_stamps=StampIndex.build([100, 100], logs_ns=[2, 6]))
    assert [(p.skip, p.camera_info) for p in plan_frames(again, PairingRules())] == [(None, 0), (None, 1)]
    with_prediction = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "/prediction")
    index = BagIndex(
        with_prediction,
        images=images,
        camera_info_stamps=StampIndex.build([0, 0], logs_ns=[0, 6]),
        prediction_stamps=StampIndex.build([100, 100], logs_ns=[3, 7]),
    )
    plans = plan_frames(index, PairingRules(sync_mode="latest"))
    assert [(p.skip, p.camera_info, p.prediction) for p in plans] == [(None, 0, 0), (None, 1, 1)]


def test_a_republished_image_with_latest_camera_info_takes_a_newer_stamp_received_between_its_sets() -> None:
    """``sync.mode: latest`` with a prediction: an image stamped 100 recorded at 1 and again at 5 (its prediction at
    3 and 7), camera_infos stamped 90 (at 0) and 100 (at 6). The node's second set fires at 7 and chooses among the
    camera_infos it holds then: the one stamped 100. The plan gave the second image the last one stamped as the
    first image's (90), recorded by then: another calibration than the node's."""
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "/prediction")
    index = BagIndex(
        topics,
        images=[ImageEntry(1, 100, "cam"), ImageEntry(5, 100, "cam")],
        camera_info_stamps=StampIndex.build([90, 100], logs_ns=[0, 6]),
        prediction_stamps=StampIndex.build([100, 100], logs_ns=[3, 7]),
    )
    plans = plan_frames(index, PairingRules(sync_mode="latest"))
    assert [(p.skip, p.camera_info, p.prediction) for p in plans] == [(None, 0, 0), (None, 1, 1)]


def test_latest_camera_info_after_the_clock_went_back_is_chosen_among_every_pass_as_the_node_holds_them() -> None:
    """``sync.mode: latest``, a bag whose clock went back (pass 1), each camera_info recorded just after its image
    (image_transport's order). The node keeps the camera_infos it received across the jump: the first image of pass
    1 takes the last of pass 0 (all stamped after it: the last received), where the plan took the image's own,
    recorded after it; an image of pass 1 stamped after a camera_info of pass 0 that is nearer than its pass's own
    takes that one (stamped 100: the image at 180 is in before its own at 150), as the node's latest at or before
    the image, where the plan took its pass's at 50."""
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "")
    images = [ImageEntry(0, 100, "cam"), ImageEntry(10, 200, "cam"), ImageEntry(20, 50, "cam", bag_pass=1)]
    images += [ImageEntry(30, 180, "cam", bag_pass=1)]
    infos = StampIndex.build([100, 200, 50, 150], passes=[0, 0, 1, 1], logs_ns=[1, 11, 21, 31])
    plans = plan_frames(BagIndex(topics, images=images, camera_info_stamps=infos), PairingRules(sync_mode="latest"))
    assert [p.skip.key if p.skip else p.camera_info for p in plans] == ["no_camera_info", 0, 1, 0], plans


def test_latest_camera_info_recorded_just_after_each_image_costs_only_the_first_frame_and_says_so() -> None:
    """``sync.mode: latest``, a camera driver that publishes each camera_info just after its image (image_transport's
    CameraPublisher): the first image has none recorded before it and is dropped, as the node drops it; every later
    image takes the one recorded before it (the previous frame's), as the node does. The skip's text names how late
    the first camera_info came (it read "0.000 s after it" for 1 ms) and says that only the images before the first
    camera_info are lost (it told the user of such a camera to publish camera_info before the images, which a
    CameraPublisher cannot)."""
    ms = 1_000_000
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "")
    images = [ImageEntry(k * 100 * ms, k * 100 * ms, "cam") for k in range(5)]
    infos = StampIndex.build([k * 100 * ms for k in range(5)], logs_ns=[k * 100 * ms + ms for k in range(5)])
    plans = plan_frames(BagIndex(topics, images=images, camera_info_stamps=infos), PairingRules(sync_mode="latest"))
    assert [p.skip.key if p.skip else p.camera_info for p in plans] == ["no_camera_info", 0, 1, 2, 3], plans
    text = plans[0].skip.text  # type: ignore[union-attr]
    assert "recorded only after the image (1.0 ms after it)" in text, text
    assert "only the images recorded before the first camera_info are dropped" in text, text
    assert "the later ones take the latest recorded before them" in text, text


def test_latest_camera_info_with_a_prediction_an_image_without_either_is_counted_as_the_node_counts_it() -> None:
    """``sync.mode: latest`` with an external prediction: the node's synchroniser pairs image and prediction, and
    only then chooses a camera_info. An image recorded before any camera_info and without a prediction never leaves
    the synchroniser: ``bad_messages.no_prediction``; the plan skipped it ``no_camera_info`` (it looked for the
    camera_info first). With its prediction recorded after the first camera_info, the image is in with both."""
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "", "/prediction")
    index = BagIndex(
        topics,
        images=[ImageEntry(1, 100, "cam"), ImageEntry(10, 200, "cam")],
        camera_info_stamps=StampIndex.build([100, 200], logs_ns=[2, 11]),
        prediction_stamps=StampIndex.build([200], logs_ns=[12]),
    )
    plans = plan_frames(index, PairingRules(sync_mode="latest"))
    assert [(p.skip.key if p.skip else None, p.camera_info) for p in plans] == [("no_prediction", None), (None, 1)]


def test_a_republished_image_pairs_its_lidar_scan_from_when_its_own_set_fired() -> None:
    """An image stamped 1000 ms recorded at 1000 and again at 1150 (a driver that republishes a frame), its external
    prediction at 1100 and 1150 + 100 = 1250; a 10 Hz LiDAR (760, 860, 960 ms, each recorded at its stamp), then a
    scan stamped 1010 (a phase jump) recorded at 1200; ``lidar.wait_s`` 0.5 s. The node's first set fires at 1100
    (the scan at 960 sent on at the scan rate, the one at 1010 counted ``lidar.nearer_later``), its second at 1250,
    the scan at 1010 at hand: that frame pairs it and counts nothing. The plan took the second image into the LiDAR
    pairing at the first prediction's time (1150, its set renewed afterwards, the LiDAR choice not): the scan at 960
    and ``lidar.nearer_later`` a second time, where the node paired the nearer scan."""
    ms = 1_000_000
    topics = TopicPlan("/img", "sensor_msgs/msg/Image", "/info", "/scan", "/prediction")
    index = BagIndex(
        topics,
        images=[ImageEntry(1000 * ms, 1000 * ms, "cam"), ImageEntry(1150 * ms, 1000 * ms, "cam")],
        camera_info_stamps=StampIndex.build([0], logs_ns=[0]),
        lidar_stamps=StampIndex.build(
            [t * ms for t in (760, 860, 960, 1010)], logs_ns=[t * ms for t in (760, 860, 960, 1200)]
        ),
        prediction_stamps=StampIndex.build([1000 * ms, 1000 * ms], logs_ns=[1100 * ms, 1250 * ms]),
    )
    first, second = plan_frames(index, PairingRules(sync_mode="latest", lidar_wait_ns=500 * ms))
    assert (first.skip, first.paired_log_ns, first.lidar, first.prediction) == (None, 1100 * ms, 2, 0), first
    assert first.lidar_unused is not None and first.lidar_unused[0] == "lidar.nearer_later", first
    assert (second.skip, second.paired_log_ns, second.prediction) == (None, 1250 * ms, 1), second
    assert (second.lidar, second.lidar_unused) == (3, None), second
