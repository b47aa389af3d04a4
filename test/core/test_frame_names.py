"""missing_frame_hint: a namespaced frame, a missing optical frame and a misspelling are named with the remedy."""

from __future__ import annotations

from mono_depth_ros.core.frame_names import missing_frame_hint

KNOWN = {"robot1/base_link", "robot1/velodyne", "robot1/camera_link", "base_link", "camera_link", "os_sensor"}


def test_a_frame_tf_has_in_another_namespace_is_named() -> None:
    hint = missing_frame_hint("velodyne", KNOWN)
    assert "'robot1/velodyne'" in hint and "one TF tree" in hint
    assert "'camera_link'" in missing_frame_hint("robot2/camera_link", KNOWN)  # the other way round


def test_an_optical_frame_missing_beside_its_body_frame_is_published_with_the_optical_rotation() -> None:
    hint = missing_frame_hint("camera_optical_frame", KNOWN)
    assert "body frame 'camera_link'" in hint
    assert "--roll -1.5708 --yaw -1.5708 --frame-id camera_link --child-frame-id camera_optical_frame" in hint
    assert "robot1/camera_link" in missing_frame_hint("robot1/camera_optical", KNOWN)


def test_a_misspelling_gets_the_nearest_names_and_an_unrelated_frame_nothing() -> None:
    assert "'os_sensor'" in missing_frame_hint("os_senser", KNOWN)
    assert missing_frame_hint("zzz", KNOWN) == ""
    assert missing_frame_hint("base_link", KNOWN) == ""  # known: nothing to explain
