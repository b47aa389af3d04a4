"""Frame plans: partners by the pairing rules, and a reason for every image that cannot be processed."""

from __future__ import annotations

from mono_depth_ros.bag.index import BagIndex, ImageEntry, TopicPlan
from mono_depth_ros.bag.pairing import PairingRules, StampIndex
from mono_depth_ros.bag.plan import plan_frames, seconds_text


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
    assert plans[1].skip == ("image: EncodingError", "broken")
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
