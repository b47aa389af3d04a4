"""TfBuffer: static/dynamic storage, chained lookups through a common ancestor, interpolation, time travel, errors."""

from __future__ import annotations

import numpy as np
import pytest
import transforms3d.euler as te
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.core.errors import TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.tf_buffer import TfBuffer, normalize_frame_id

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
T = TYPESTORE.types

angles = st.floats(-np.pi, np.pi, allow_nan=False)
offsets = st.floats(-10.0, 10.0, allow_nan=False)


def _transform(values: tuple[float, ...], dst: str, src: str) -> RigidTransform:
    roll, pitch, yaw, x, y, z = values
    return RigidTransform(te.euler2mat(roll, pitch, yaw), np.array([x, y, z]), dst, src)


transforms6 = st.tuples(angles, angles, angles, offsets, offsets, offsets)


def _tf_msg(entries: list[tuple[str, str, int, RigidTransform]]) -> object:
    """A rosbags TFMessage from (parent, child, stamp_ns, parent_from_child)."""
    out = []
    for parent, child, stamp_ns, transform in entries:
        x, y, z = transform.translation
        qx, qy, qz, qw = transform.quaternion_xyzw
        out.append(
            T["geometry_msgs/msg/TransformStamped"](
                header=T["std_msgs/msg/Header"](
                    stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
                    frame_id=parent,
                ),
                child_frame_id=child,
                transform=T["geometry_msgs/msg/Transform"](
                    translation=T["geometry_msgs/msg/Vector3"](x=float(x), y=float(y), z=float(z)),
                    rotation=T["geometry_msgs/msg/Quaternion"](x=float(qx), y=float(qy), z=float(qz), w=float(qw)),
                ),
            )
        )
    return T["tf2_msgs/msg/TFMessage"](transforms=out)


def _assert_same(a: RigidTransform, b: RigidTransform, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(a.matrix, b.matrix, atol=atol)


@settings(max_examples=40, deadline=None)
@given(transforms6, transforms6, transforms6)
def test_chain_through_common_ancestor_matches_composition(
    v1: tuple[float, ...], v2: tuple[float, ...], v3: tuple[float, ...]
) -> None:
    # base_link <- camera_link <- camera_optical, base_link <- velodyne
    base_from_camlink = _transform(v1, "base_link", "camera_link")
    camlink_from_optical = _transform(v2, "camera_link", "camera_optical")
    base_from_velo = _transform(v3, "base_link", "velodyne")
    tf = TfBuffer()
    tf.set_transform(base_from_camlink, 0, static=True)
    tf.set_transform(camlink_from_optical, 0, static=True)
    tf.set_transform(base_from_velo, 0, static=True)
    optical_from_velo = tf.lookup("camera_optical", "velodyne", 123)
    expected = (base_from_camlink @ camlink_from_optical).inverse() @ base_from_velo
    _assert_same(optical_from_velo, expected, atol=1e-8)
    assert (optical_from_velo.dst_frame, optical_from_velo.src_frame) == ("camera_optical", "velodyne")
    # the reverse lookup is the inverse, and composing both is the identity
    velo_from_optical = tf.lookup("velodyne", "camera_optical", 123)
    _assert_same(optical_from_velo @ velo_from_optical, RigidTransform.identity(), atol=1e-8)
    # a parent to its descendant, and a frame to itself
    _assert_same(tf.lookup("base_link", "camera_optical"), base_from_camlink @ camlink_from_optical, atol=1e-8)
    _assert_same(tf.lookup("velodyne", "velodyne"), RigidTransform.identity())


def test_points_move_as_the_transform_says() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform(np.eye(3), np.array([1.0, 2.0, 3.0]), "camera", "lidar"), 0, static=True)
    points_in_lidar = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    points_in_camera = tf.lookup("camera", "lidar").apply(points_in_lidar)
    np.testing.assert_allclose(points_in_camera, [[1.0, 2.0, 3.0], [2.0, 2.0, 3.0]])


def test_a_gap_in_tf_longer_than_tf2s_cache_is_not_interpolated_across() -> None:
    """tf2's TimeCache drops a sample more than its 10 s cache older than the newest, so the node's tf2 has no
    transform between two samples further apart: it was interpolated (and the frame kept its LiDAR scale, silently).
    Two samples 10 s apart still interpolate (tf2 keeps a sample exactly 10 s older)."""
    tf = TfBuffer()
    for stamp_ns, x in [(0, 0.0), (10 * 10**9, 10.0), (21 * 10**9, 21.0), (22 * 10**9, 22.0)]:
        tf.set_transform(RigidTransform(np.eye(3), np.array([x, 0, 0]), "odom", "base"), stamp_ns, static=False)
    assert tf.lookup("odom", "base", 5 * 10**9).translation[0] == pytest.approx(5.0)  # 10 s apart: kept
    assert tf.lookup("odom", "base", 21 * 10**9).translation[0] == 21.0  # on a sample
    assert tf.lookup("odom", "base", 21_500_000_000).translation[0] == pytest.approx(21.5)
    with pytest.raises(TransformError, match=r"/tf for 'base' has no sample from 10\.000000000 s to 21\.000000000 s"):
        tf.lookup("odom", "base", 15 * 10**9)
    assert not tf.can_transform("odom", "base", 10 * 10**9 + 1)


def test_held_after_end_names_the_moving_transform_a_lookup_held_past_its_last_sample() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("base", "camera"), 0, static=True)
    for stamp_ns in (0, 10**9):
        tf.set_transform(RigidTransform.identity("odom", "base"), stamp_ns, static=False)
    assert tf.held_after_end("odom", "camera", 10**9) == ""  # on the last sample: tf2 has it
    assert tf.held_after_end("camera", "base", 3 * 10**9) == ""  # only the static edge between them
    text = tf.held_after_end("camera", "odom", 3 * 10**9)
    assert text.startswith("/tf for 'base' ends at 1.000000000 s, 2.000 s before the lookup"), text
    assert tf.held_after_end("odom", "camera", 3 * 10**9) == text


def _held_after_end_by_walking_both_chains(tf: TfBuffer, target: str, source: str, stamp_ns: int) -> str:
    """The full walk of :meth:`TfBuffer.held_after_end` (every chain composed), as it was before constant chains
    answered at once: the reference the shortcut must equal."""
    source_chain = list(tf._chain_to_root(normalize_frame_id(source), stamp_ns))
    target_chain = list(tf._chain_to_root(normalize_frame_id(target), stamp_ns))
    common = next((frame for frame in target_chain if frame in source_chain), None)
    for chain in (source_chain, target_chain):
        for current in chain[: chain.index(common)] if common in chain else chain:
            edge = tf._dynamic.get(current)
            if edge is not None and edge.stamps_ns and edge.stamps_ns[-1] < stamp_ns:
                return current
    return ""


def test_held_after_end_of_constant_chains_is_empty_without_composing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera and a LiDAR on ``/tf_static`` only (the bag runner's question every frame) answer "" at once; with a
    dynamic edge, or a static edge republished, on either chain the chains are walked and the same names come out as
    from the full walk, at stamps before, on and after each edge's samples."""
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("base", "camera"), 0, static=True)
    tf.set_transform(RigidTransform.identity("camera", "camera_optical"), 0, static=True)
    tf.set_transform(RigidTransform.identity("base", "velodyne"), 0, static=True)
    tf.set_transform(RigidTransform.identity("map", "mast"), 0, static=True)  # a second static sample below:
    tf.set_transform(RigidTransform.identity("map", "mast"), 5 * 10**9, static=True)  # not constant
    tf.set_transform(RigidTransform.identity("mast", "radar"), 0, static=True)
    for stamp_ns in (0, 10**9):
        tf.set_transform(RigidTransform.identity("odom", "base"), stamp_ns, static=False)
        tf.set_transform(RigidTransform.identity("map", "odom"), 2 * stamp_ns, static=False)
    frames = ["camera_optical", "velodyne", "camera", "base", "odom", "map", "mast", "radar", "/camera_optical"]
    stamps = [0, 10**9, 2 * 10**9, 3 * 10**9, 6 * 10**9]
    walked = 0
    for target in frames:
        for source in frames:
            for stamp_ns in stamps:
                text = tf.held_after_end(target, source, stamp_ns)
                name = _held_after_end_by_walking_both_chains(tf, target, source, stamp_ns)
                assert (text.split("'")[1] if text else "") == name, (target, source, stamp_ns, text)
                walked += bool(name)
    assert walked > 0  # the dynamic edges were named somewhere: the comparison covered both answers
    static_only = TfBuffer()
    static_only.set_transform(RigidTransform.identity("base", "camera_optical"), 0, static=True)
    static_only.set_transform(RigidTransform.identity("base", "velodyne"), 0, static=True)

    def composed(*_: object) -> None:
        raise AssertionError("a constant chain's transforms were composed")

    monkeypatch.setattr(static_only, "_chain_to_root", composed)
    assert static_only.held_after_end("camera_optical", "velodyne", 3 * 10**9) == ""


def test_dynamic_edge_is_interpolated_between_samples_and_holds_after_the_last() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("map", "base"), 0, static=True)
    for stamp_ns, x in [(300, 3.0), (100, 1.0), (200, 2.0)]:  # out of order on purpose
        tf.set_transform(RigidTransform(np.eye(3), np.array([x, 0, 0]), "odom", "base"), stamp_ns, static=False)
    assert tf.lookup("odom", "base", 100).translation[0] == 1.0
    assert tf.lookup("odom", "base", 199).translation[0] == pytest.approx(1.99)
    assert tf.lookup("odom", "base", 200).translation[0] == 2.0
    assert tf.lookup("odom", "base", 250).translation[0] == pytest.approx(2.5)
    assert tf.lookup("odom", "base", 10**12).translation[0] == 3.0
    assert tf.lookup("odom", "base", None).translation[0] == 3.0
    # before the first dynamic sample, the static edge of the same child applies (parent 'map')
    assert tf.lookup("map", "base", 50).translation[0] == 0.0
    with pytest.raises(TransformError, match=r"/tf for 'base' starts at 0\.000000100 s"):
        tf.lookup("odom", "base", 50)
    # a repeated stamp replaces the sample
    tf.set_transform(RigidTransform(np.eye(3), np.array([9.0, 0, 0]), "odom", "base"), 200, static=False)
    assert tf.lookup("odom", "base", 250).translation[0] == pytest.approx(6.0)
    assert len(tf) == 1 + 3


def test_rotation_is_slerped_at_a_constant_rate() -> None:
    tf = TfBuffer()
    for stamp_ns, yaw in [(0, 0.0), (1000, 1.2)]:
        tf.set_transform(RigidTransform(te.euler2mat(0, 0, yaw), np.zeros(3), "odom", "base"), stamp_ns, static=False)
    for stamp_ns in (0, 250, 500, 999, 1000):
        _, _, yaw = te.mat2euler(tf.lookup("odom", "base", stamp_ns).rotation)
        assert yaw == pytest.approx(1.2 * stamp_ns / 1000, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(transforms6, transforms6, transforms6, st.integers(0, 1000), st.integers(0, 1000))
def test_lookup_full_is_target_from_fixed_then_fixed_from_source(
    v1: tuple[float, ...], v2: tuple[float, ...], v3: tuple[float, ...], t_target: int, t_source: int
) -> None:
    tf = TfBuffer()
    tf.set_transform(_transform(v1, "odom", "base"), 0, static=False)
    tf.set_transform(_transform(v2, "odom", "base"), 1000, static=False)
    tf.set_transform(_transform(v3, "base", "lidar"), 0, static=True)
    tf.set_transform(RigidTransform.identity("base", "camera"), 0, static=True)
    full = tf.lookup_full("camera", t_target, "lidar", t_source, "/odom")
    expected = tf.lookup("camera", "odom", t_target) @ tf.lookup("odom", "lidar", t_source)
    _assert_same(full, expected, atol=1e-9)
    assert (full.dst_frame, full.src_frame) == ("camera", "lidar")
    if t_target == t_source:
        _assert_same(full, tf.lookup("camera", "lidar", t_source), atol=1e-8)


def test_lookup_full_moves_a_static_point_into_the_later_camera() -> None:
    # The camera (= base) drives 2 m forward along odom x between t = 0 and t = 100 ns; a point 10 m ahead at
    # t = 0 is 8 m ahead at t = 100, and a scan taken half-way sees it 9 m ahead.
    tf = TfBuffer()
    for stamp_ns, x in [(0, 0.0), (100, 2.0)]:
        tf.set_transform(RigidTransform(np.eye(3), np.array([x, 0, 0]), "odom", "base"), stamp_ns, static=False)
    tf.set_transform(RigidTransform.identity("base", "lidar"), 0, static=True)
    point_in_lidar_at_50 = np.array([[9.0, 0.0, 0.0]])
    camera_at_100 = tf.lookup_full("base", 100, "lidar", 50, "odom").apply(point_in_lidar_at_50)
    np.testing.assert_allclose(camera_at_100, [[8.0, 0.0, 0.0]], atol=1e-12)
    with pytest.raises(TransformError, match="fixed frame"):
        tf.lookup_full("base", 100, "lidar", 50, "")
    with pytest.raises(TransformError, match="'map' is not in /tf"):
        tf.lookup_full("base", 100, "lidar", 50, "map")


def test_a_fixed_frame_tf_does_not_hold_names_lidar_motion_frame_and_the_roots_not_a_static_extrinsic() -> None:
    """lidar.motion_frame odom on a bag whose /tf is map <- base: the remedy was "publish the extrinsic on /tf_static
    (static_transform_publisher --frame-id camera --child-frame-id odom)", which pins the world frame to the camera
    (no motion compensated, silently). It names the setting and the frame the bag's TF has."""
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("map", "base"), 0, static=False)
    tf.set_transform(RigidTransform.identity("base", "lidar"), 0, static=True)
    remedy = r"lidar\.motion_frame 'odom' is not in /tf.*'map'.*or leave it empty"
    with pytest.raises(TransformError, match=remedy) as err:
        tf.lookup_full("base", 0, "lidar", 0, "odom")
    assert "static_transform_publisher" not in str(err.value)
    tf.lookup_full("base", 0, "lidar", 0, "map")  # the remedy


def test_republished_static_edge_applies_from_its_stamp_on() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform(np.eye(3), np.ones(3), "a", "b"), 100, static=True)
    tf.set_transform(RigidTransform(np.eye(3), 2 * np.ones(3), "a", "b"), 500, static=True)
    np.testing.assert_allclose(tf.lookup("a", "b", 0).translation, [1, 1, 1])  # before the first: earliest value
    np.testing.assert_allclose(tf.lookup("a", "b", 499).translation, [1, 1, 1])
    np.testing.assert_allclose(tf.lookup("a", "b", 500).translation, [2, 2, 2])
    np.testing.assert_allclose(tf.lookup("a", "b").translation, [2, 2, 2])
    assert tf.frames == {"a", "b"}
    assert len(tf) == 2


def test_a_static_value_in_recording_order_applies_from_after_the_last_image_whatever_its_stamp() -> None:
    """``recorded_after_ns`` (the bag runner's index: the last image's stamp when the value was recorded): tf2 keeps
    the static value received last, whatever its stamp (its static cache holds one value and ignores time), so a
    value applies from just after the last image recorded before it: one stamped before the value it replaces, the
    same stamp (both stamped 0) or after every image (a publisher on another clock) alike, and none applies to an
    image recorded before it. A value re-sent unchanged (a StaticTransformBroadcaster re-sends all it holds) adds no
    sample, so that a chain stays constant."""
    tf = TfBuffer()
    first, correction, again = (RigidTransform(np.eye(3), v * np.ones(3), "a", "b") for v in (1.0, 2.0, 3.0))
    tf.set_transform(first, 100, static=True, recorded_after_ns=-(2**63))
    tf.set_transform(correction, 50, static=True, recorded_after_ns=300)  # stamped before, recorded after image 300
    np.testing.assert_allclose(tf.lookup("a", "b", 300).translation, [1, 1, 1])
    np.testing.assert_allclose(tf.lookup("a", "b", 301).translation, [2, 2, 2])
    tf.set_transform(again, 10_000, static=True, recorded_after_ns=350)  # stamped after every image
    np.testing.assert_allclose(tf.lookup("a", "b", 350).translation, [2, 2, 2])
    np.testing.assert_allclose(tf.lookup("a", "b", 351).translation, [3, 3, 3])
    tf.set_transform(first, 10_000, static=True, recorded_after_ns=450)  # the newest stamp again, another value
    np.testing.assert_allclose(tf.lookup("a", "b", 450).translation, [3, 3, 3])  # the node used ``again`` there
    np.testing.assert_allclose(tf.lookup("a", "b", 451).translation, [1, 1, 1])
    tf.set_transform(first, 10_000, static=True, recorded_after_ns=500)  # re-sent unchanged: nothing new
    assert len(tf) == 4

    both = TfBuffer()  # two values before any image (same stamp, or the later one stamped before): the last holds
    for value, stamp_ns in ((first, 0), (correction, 0), (again, -5)):
        both.set_transform(value, stamp_ns, static=True, recorded_after_ns=-(2**63))
    np.testing.assert_allclose(both.lookup("a", "b", 0).translation, [3, 3, 3])
    assert len(both) == 1 and both.constant_chain("b")
    both.set_transform(again, 7, static=True, recorded_after_ns=300)  # re-sent unchanged after images
    assert len(both) == 1 and both.constant_chain("b")


def test_leading_slash_is_ignored() -> None:
    assert normalize_frame_id("/base_link") == "base_link"
    tf = TfBuffer()
    tf.set_transform(RigidTransform(np.eye(3), np.ones(3), "/camera", "lidar"), 0, static=True)
    result = tf.lookup("camera", "/lidar")
    assert (result.dst_frame, result.src_frame) == ("camera", "lidar")


def test_missing_frame_gives_a_clear_error() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("base_link", "camera_optical"), 0, static=True)
    with pytest.raises(TransformError, match=r"'velodyne' is not in /tf or /tf_static.*static_transform_publisher"):
        tf.lookup("camera_optical", "velodyne", 0)
    assert not tf.can_transform("camera_optical", "velodyne")
    assert tf.can_transform("base_link", "camera_optical")
    with pytest.raises(TransformError, match="empty frame_id"):
        tf.lookup("", "camera_optical")


def test_a_missing_frame_names_its_namesake_in_another_namespace_or_its_body_frame() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("robot1/base_link", "robot1/velodyne"), 0, static=True)
    tf.set_transform(RigidTransform.identity("robot1/base_link", "robot1/camera_link"), 0, static=True)
    with pytest.raises(TransformError, match=r"'velodyne' is not in /tf.*TF has 'robot1/velodyne'.*one TF tree"):
        tf.lookup("robot1/camera_link", "velodyne", 0)
    with pytest.raises(TransformError, match=r"its body frame 'robot1/camera_link' is: publish it.*--roll -1.5708"):
        tf.lookup("robot1/camera_optical_frame", "robot1/velodyne", 0)


def test_two_trees_whose_roots_differ_by_a_namespace_are_named() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("base_link", "camera_optical"), 0, static=True)
    tf.set_transform(RigidTransform.identity("robot2/base_link", "robot2/velodyne"), 0, static=True)
    with pytest.raises(TransformError, match=r"roots 'robot2/base_link' and 'base_link' are one name in two"):
        tf.lookup("camera_optical", "robot2/velodyne", 0)


def test_disconnected_trees_name_both_roots() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform.identity("base_link", "camera"), 0, static=True)
    tf.set_transform(RigidTransform.identity("odom", "lidar"), 0, static=True)
    with pytest.raises(TransformError, match=r"'lidar' chains up to 'odom'; 'camera' chains up to 'base_link'"):
        tf.lookup("camera", "lidar")


def test_cycle_and_self_edge_are_rejected() -> None:
    tf = TfBuffer()
    with pytest.raises(TransformError, match="to itself"):
        tf.set_transform(RigidTransform.identity("a", "a"), 0, static=True)
    with pytest.raises(TransformError, match="both frame ids"):
        tf.set_transform(RigidTransform.identity("", "a"), 0, static=True)
    tf.set_transform(RigidTransform.identity("a", "b"), 0, static=True)
    tf.set_transform(RigidTransform.identity("b", "a"), 0, static=True)
    with pytest.raises(TransformError, match="cycle"):
        tf.lookup("a", "c")


@pytest.mark.parametrize("store", [Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY])
def test_tf_messages_round_trip_through_cdr(store: Stores) -> None:
    typestore = get_typestore(store)
    optical_from_velo = _transform((0.1, -0.2, 1.5, 0.3, -0.1, 0.05), "camera_optical", "velodyne")
    msg = _tf_msg([("camera_optical", "velodyne", 1_700_000_000_123_456_789, optical_from_velo)])
    decoded = typestore.deserialize_cdr(
        typestore.serialize_cdr(msg, "tf2_msgs/msg/TFMessage"), "tf2_msgs/msg/TFMessage"
    )
    tf = TfBuffer()
    assert tf.add_tf_message(decoded, static=True) == 1
    _assert_same(tf.lookup("camera_optical", "velodyne", 0), optical_from_velo, atol=1e-12)


def test_malformed_transforms_are_skipped_and_reported() -> None:
    good = RigidTransform(np.eye(3), np.ones(3), "a", "b")
    msg = _tf_msg([("a", "b", 0, good), ("a", "c", 0, good)])
    msg.transforms[1].transform.rotation.w = 0.0  # type: ignore[attr-defined]  # (0, 0, 0, 0): no rotation at all
    tf = TfBuffer()
    with pytest.raises(TransformError, match=r"skipped 1 malformed TF transform\(s\) of 2: .*norm 0"):
        tf.add_tf_message(msg, static=False)
    assert tf.can_transform("a", "b", 0)
    assert not tf.can_transform("a", "c", 0)


def test_a_non_unit_quaternion_is_normalised_as_tf2_does_and_reported() -> None:
    """tf2 (verified on real Humble) normalises any finite, non-zero quaternion before it stores a transform:
    ``0.71, 0, 0, 0.71`` (a hand-typed 90 degrees) and even ``0, 0, 0, 3`` are used by the node. The bag runner's
    buffer skipped anything past |q| = 1 +- 0.001: its LiDAR scans went unused where the node's were used. Now it
    uses them as tf2 does and says so (the bag summary counts the TransformError)."""
    identity = RigidTransform(np.eye(3), np.ones(3), "a", "b")
    msg = _tf_msg([("a", "b", 0, identity), ("a", "c", 0, identity), ("a", "d", 0, identity)])
    rotation = msg.transforms[1].transform.rotation  # type: ignore[attr-defined]
    rotation.x, rotation.y, rotation.z, rotation.w = 0.71, 0.0, 0.0, 0.71
    msg.transforms[2].transform.rotation.w = 3.0  # type: ignore[attr-defined]
    tf = TfBuffer()
    with pytest.raises(TransformError, match=r"normalised 2 TF quaternion\(s\) of 3 .* as tf2 does.*'c'.*norm 1\.004"):
        tf.add_tf_message(msg, static=True)
    s = np.sqrt(0.5)
    np.testing.assert_allclose(tf.lookup("a", "c", 0).quaternion_xyzw, [s, 0.0, 0.0, s], atol=1e-12)
    np.testing.assert_allclose(tf.lookup("a", "d", 0).rotation, np.eye(3), atol=1e-12)
    assert tf.add_tf_message(_tf_msg([("a", "e", 0, identity)]), static=True) == 1  # unit: nothing said


def test_a_long_tf_history_is_stored_compactly_and_looked_up_exactly() -> None:
    import tracemalloc

    tf = TfBuffer()
    samples = 20_000  # 20 links at 100 Hz for 10 s: an hour of a robot's /tf holds millions
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in reversed(range(samples)):  # out of order: each sample goes to the front
            tf.set_transform(RigidTransform(np.eye(3), np.array([i, 0.0, 0.0]), "odom", f"l{i % 20}"), i, static=False)
        per_sample = (tracemalloc.get_traced_memory()[0] - before) / samples
    finally:
        tracemalloc.stop()
    assert per_sample < 200, per_sample  # a RigidTransform per sample took about 600 bytes
    assert len(tf) == samples and tf.frames == {"odom"} | {f"l{j}" for j in range(20)}
    assert tf.lookup("odom", "l3", 43 + 10).translation.tolist() == [53.0, 0.0, 0.0]  # between samples 43 and 63
    tf.set_transform(RigidTransform(np.eye(3), np.array([-1.0, 0.0, 0.0]), "map", "l3"), 43, static=False)
    assert tf.lookup("map", "l3", 43).translation.tolist() == [-1.0, 0.0, 0.0]  # a repeated stamp replaces
    assert len(tf) == samples and "map" in tf.frames


def test_a_buffer_sharing_static_sees_the_statics_but_not_the_dynamic_transforms() -> None:
    first = TfBuffer()
    extrinsic = RigidTransform(np.eye(3), np.array([0.0, 0.1, 0.0]), "camera", "lidar")
    odom = RigidTransform(np.eye(3), np.array([5.0, 0.0, 0.0]), "odom", "camera")
    first.set_transform(extrinsic, 0, static=True)
    first.set_transform(odom, 10, static=False)
    later = first.sharing_static()
    assert later.lookup("camera", "lidar", 10).translation == pytest.approx([0.0, 0.1, 0.0])
    assert not later.can_transform("odom", "camera", 10)
    later.set_transform(RigidTransform(np.eye(3), np.array([9.0, 0.0, 0.0]), "odom", "camera"), 10, static=False)
    assert first.lookup("odom", "camera", 10).translation[0] == pytest.approx(5.0)  # each keeps its own
    first.set_transform(RigidTransform(np.eye(3), np.array([0.0, 0.2, 0.0]), "camera", "lidar"), 20, static=True)
    assert later.lookup("camera", "lidar", 30).translation[1] == pytest.approx(0.2)  # one static set for both


def test_static_transforms_are_the_latest_static_sample_of_each_child() -> None:
    tf = TfBuffer()
    tf.set_transform(RigidTransform(np.eye(3), [1.0, 0, 0], "base_link", "camera"), 0, static=True)
    tf.set_transform(RigidTransform(np.eye(3), [2.0, 0, 0], "base_link", "camera"), 5, static=True)
    tf.set_transform(RigidTransform.identity("odom", "base_link"), 0, static=False)
    (only,) = tf.static_transforms()
    assert (only.dst_frame, only.src_frame, only.translation[0]) == ("base_link", "camera", 2.0)


def test_a_chain_is_constant_only_without_dynamic_edges_and_with_one_static_sample_each() -> None:
    base_from_cam = _transform((0.1, 0.2, 0.3, 1.0, 2.0, 3.0), "base_link", "camera_link")
    base_from_velo = _transform((0.0, 0.0, 1.0, 0.5, 0.0, 1.5), "base_link", "velodyne")
    odom_from_base = _transform((0.0, 0.0, 0.2, 4.0, 0.0, 0.0), "odom", "base_link")
    tf = TfBuffer()
    tf.set_transform(base_from_cam, 0, static=True)
    tf.set_transform(base_from_velo, 0, static=True)
    assert tf.constant_chain("camera_link") and tf.constant_chain("/velodyne") and tf.constant_chain("unknown")
    tf.set_transform(base_from_velo, 5, static=True)  # a second static sample: the lookup depends on the stamp
    assert not tf.constant_chain("velodyne")
    assert tf.constant_chain("camera_link")
    tf.set_transform(odom_from_base, 10, static=False)  # base_link moves: every frame under it moves with it
    assert not tf.constant_chain("camera_link") and not tf.constant_chain("base_link")


def _slerp_xyzw(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    """tf2's Quaternion::slerp written out (shorter arc)."""
    if np.dot(q0, q1) < 0.0:
        q1 = -q1
    theta = float(np.arccos(np.clip(np.dot(q0, q1), -1.0, 1.0)))
    if theta < 1e-9:
        return q0
    return np.asarray((np.sin((1.0 - fraction) * theta) * q0 + np.sin(fraction * theta) * q1) / np.sin(theta))


def _matrix(q_xyzw: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 of a translation and a unit quaternion (x, y, z, w), the rotation written out."""
    x, y, z, w = q_xyzw / np.linalg.norm(q_xyzw)
    m = np.eye(4)
    m[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    m[:3, 3] = t
    return m


quaternions = st.tuples(*[st.floats(-1.0, 1.0)] * 4).map(np.array).filter(lambda q: np.linalg.norm(q) > 0.2)


@settings(max_examples=40, deadline=None)
@given(quaternions, quaternions, quaternions, transforms6, st.integers(1, 99_999_999), st.booleans())
def test_a_lookup_between_stamps_is_tf2s_slerp_then_the_chain_written_out(
    q_before: np.ndarray,
    q_after: np.ndarray,
    q_static: np.ndarray,
    offsets6: tuple[float, ...],
    stamp_ns: int,
    negated: bool,
) -> None:
    """odom -> base_link on /tf at 0 and 100 ms (quaternions as published: not normalised, the second one negated or
    not), base_link -> camera on /tf_static: camera_from_odom at a stamp between is the inverse of
    (slerp(odom_from_base) · base_from_camera), all written out in numpy; the lookup the other way is its inverse."""
    assume(abs(float(np.dot(q_before, q_after))) > 1e-3 * np.linalg.norm(q_before) * np.linalg.norm(q_after))
    t_before, t_after = np.array(offsets6[:3]), np.array(offsets6[3:])
    tf = TfBuffer()
    for stamp, q, t, sign in ((0, q_before, t_before, 1.0), (100_000_000, q_after, t_after, -1.0 if negated else 1.0)):
        msg = _tf_msg([("odom", "base_link", stamp, RigidTransform.identity("odom", "base_link"))])
        entry = msg.transforms[0].transform  # type: ignore[attr-defined]
        entry.rotation.x, entry.rotation.y, entry.rotation.z, entry.rotation.w = (float(c) * sign for c in q)
        entry.translation.x, entry.translation.y, entry.translation.z = (float(c) for c in t)
        try:
            tf.add_tf_message(msg, static=False)
        except TransformError as err:  # the quaternion was off unit length: stored normalised, and said
            assert "normalised 1 TF quaternion" in str(err)
    static = _tf_msg([("base_link", "camera", 0, RigidTransform.identity("base_link", "camera"))])
    entry = static.transforms[0].transform  # type: ignore[attr-defined]
    entry.rotation.x, entry.rotation.y, entry.rotation.z, entry.rotation.w = (float(c) for c in q_static)
    entry.translation.x, entry.translation.y, entry.translation.z = 0.1, -0.05, 1.2
    try:
        tf.add_tf_message(static, static=True)
    except TransformError as err:
        assert "normalised 1 TF quaternion" in str(err)

    fraction = stamp_ns / 100_000_000
    unit = [q / np.linalg.norm(q) for q in (q_before, q_after, q_static)]
    odom_from_base = _matrix(_slerp_xyzw(unit[0], unit[1], fraction), t_before + fraction * (t_after - t_before))
    base_from_camera = _matrix(unit[2], np.array([0.1, -0.05, 1.2]))
    expected = np.linalg.inv(odom_from_base @ base_from_camera)
    camera_from_odom = tf.lookup("camera", "odom", stamp_ns)
    np.testing.assert_allclose(camera_from_odom.matrix, expected, atol=1e-7)
    np.testing.assert_allclose(tf.lookup("odom", "camera", stamp_ns).matrix, np.linalg.inv(expected), atol=1e-7)
    assert (camera_from_odom.dst_frame, camera_from_odom.src_frame) == ("camera", "odom")
