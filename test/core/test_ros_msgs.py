from __future__ import annotations

import array
import ast
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import transforms3d.quaternions as tq

import mono_depth_ros.core.ros_msgs as ros_msgs
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError, ShapeError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.ros_msgs import (
    IMAGE_ENCODINGS,
    camera_info_from_intrinsics,
    camera_info_from_model,
    camera_model_from_camera_info,
    compressed_image_from_array,
    compressed_image_to_array,
    depth_image_from_metres,
    depth_image_to_metres,
    image_from_array,
    image_to_array,
    image_to_rgb8,
    make_header,
    pointcloud2_from_structured,
    pointcloud2_to_structured,
    rigid_transform_from_msg,
    rigid_transforms_from_tf_message,
    stamp_to_ns,
    tf_message_from,
    transform_stamped_from_rigid,
    xyz_from_pointcloud2,
)

from .ros_msg_support import (
    DISTROS,
    FRAME_ID,
    STAMP_NS,
    TYPESTORES,
    cdr_bytes,
    cdr_round_trip,
    fake_to_rosbags,
    input_header,
    rclpy_style_factory,
    rosbags_factory,
)
from .test_msg_image import random_pixels
from .test_msg_pointcloud2 import velodyne_points

CORE_DIR = Path(ros_msgs.__file__).parent
MY_MODULES = ("ros_msgs", "msg_factory", "msg_image", "msg_compressed", "msg_pointcloud2")
ROS_PACKAGES = ("rclpy", "sensor_msgs", "std_msgs", "geometry_msgs", "builtin_interfaces", "tf2_msgs", "cv_bridge")

INTRINSICS = PinholeIntrinsics(fx=721.5377, fy=721.5377, cx=609.5593, cy=172.854, width=1242, height=375)


def distorted_model() -> CameraModel:
    return CameraModel(
        width=640,
        height=480,
        distortion_model="plumb_bob",
        d=(-0.28, 0.07, 1e-4, -2e-4, 0.0),
        k=np.array([[520.1, 0.0, 321.7], [0.0, 519.8, 240.2], [0.0, 0.0, 1.0]]),
        r=np.array([[0.9999, -0.0100, 0.0050], [0.0100, 0.9999, 0.0], [-0.0050, 0.0, 1.0]]),
        p=np.array([[500.0, 0.0, 318.0, -30.1], [0.0, 500.0, 241.0, 0.0], [0.0, 0.0, 1.0, 0.0]]),
        binning_x=2,
        binning_y=2,
        roi=(16, 8, 600, 440),
    )


def assert_models_equal(a: CameraModel, b: CameraModel) -> None:
    assert (a.width, a.height, a.distortion_model, a.d) == (b.width, b.height, b.distortion_model, b.d)
    assert (a.binning_x, a.binning_y, a.roi) == (b.binning_x, b.binning_y, b.roi)
    for name in ("k", "r", "p"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


# ------------------------------------------------------------------------------------------- CameraInfo


@pytest.mark.parametrize("distro", DISTROS)
def test_camera_info_round_trip_through_cdr(distro: str) -> None:
    factory = rosbags_factory(distro)
    model = distorted_model()
    msg = cdr_round_trip(camera_info_from_model(factory, model, input_header(factory)), distro)
    assert (stamp_to_ns(msg.header.stamp), msg.header.frame_id) == (STAMP_NS, FRAME_ID)
    assert msg.roi.do_rectify is False
    assert_models_equal(camera_model_from_camera_info(msg), model)


@pytest.mark.parametrize("distro", DISTROS)
def test_camera_info_from_intrinsics_is_the_published_depth_calibration(distro: str) -> None:
    factory = rosbags_factory(distro)
    msg = cdr_round_trip(camera_info_from_intrinsics(factory, INTRINSICS, input_header(factory)), distro)
    assert (msg.width, msg.height, msg.distortion_model) == (1242, 375, "plumb_bob")
    assert msg.d.tolist() == [0.0] * 5
    np.testing.assert_array_equal(msg.k.reshape(3, 3), INTRINSICS.matrix)
    np.testing.assert_array_equal(msg.r.reshape(3, 3), np.eye(3))
    np.testing.assert_array_equal(msg.p.reshape(3, 4), INTRINSICS.projection_matrix)
    assert (msg.binning_x, msg.binning_y) == (0, 0)
    assert (msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height) == (0, 0, 0, 0)
    assert camera_model_from_camera_info(msg).intrinsics(image_is_rectified=True) == INTRINSICS


def test_the_published_camera_info_is_the_same_bytes_with_its_model_made_once_per_calibration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """camera_info_from_intrinsics makes the distortion-free model once per calibration (every frame of a stream asks
    for the same): the serialised messages of KITTI's intrinsics at the camera's size, the default output's 414x125 and
    a principal point at -0.0 / 0.0 (equal values, other bits) are those of a model made afresh each time, and a
    calibration met again makes no new model."""
    factory = rosbags_factory("humble")
    header = input_header(factory)
    cases = [INTRINSICS, INTRINSICS.resized(414, 125), PinholeIntrinsics(500.0, 500.0, -0.0, -0.0, 64, 48)]
    cases.append(PinholeIntrinsics(500.0, 500.0, 0.0, 0.0, 64, 48))
    made = [0]
    from_intrinsics = CameraModel.from_intrinsics.__func__  # type: ignore[attr-defined]

    def counted(cls: type[CameraModel], intrinsics: PinholeIntrinsics) -> CameraModel:
        made[0] += 1
        return from_intrinsics(cls, intrinsics)  # type: ignore[no-any-return]

    for intrinsics in cases * 3:
        fresh = camera_info_from_model(factory, CameraModel.from_intrinsics(intrinsics), header)
        monkeypatch.setattr(CameraModel, "from_intrinsics", classmethod(counted))
        cached = camera_info_from_intrinsics(factory, intrinsics, header)
        monkeypatch.undo()
        wire = TYPESTORES["humble"].serialize_cdr(cached, cached.__msgtype__)
        assert wire.tobytes() == TYPESTORES["humble"].serialize_cdr(fresh, fresh.__msgtype__).tobytes()
    assert made[0] <= len(cases), made  # once per calibration at most (the cache may hold some from earlier tests)


def test_camera_info_errors() -> None:
    factory = rosbags_factory("humble")
    msg = camera_info_from_model(factory, distorted_model(), input_header(factory))
    msg.k = np.zeros(8)
    with pytest.raises(ShapeError, match=r"CameraInfo\.k has 8 values, expected 9"):
        camera_model_from_camera_info(msg)
    msg = camera_info_from_model(factory, distorted_model(), input_header(factory))
    msg.k, msg.p = np.zeros(9), np.zeros(12)
    with pytest.raises(CalibrationError, match="zero focal length in both K and P"):
        camera_model_from_camera_info(msg)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize(("width", "height"), [(640, 480), (0, 0)])
def test_an_uncalibrated_drivers_camera_info_says_how_to_calibrate(distro: str, width: int, height: int) -> None:
    """usb_cam and v4l2_camera without a calibration file publish camera_info with the image size and nothing else
    (K, R, P all zero, D empty, distortion_model ""); a driver that passes on camera_info_manager's as it is
    has no size either. The error named no remedy ('the camera is not calibrated', 'uncalibrated camera?'): it says
    what calibrates it and where the driver takes the file."""
    factory = rosbags_factory(distro)
    roi = factory.new("sensor_msgs/msg/RegionOfInterest", x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    msg = factory.new(
        "sensor_msgs/msg/CameraInfo", header=input_header(factory), height=height, width=width, distortion_model="",
        d=factory.float64_sequence(()), k=np.zeros(9), r=np.zeros(9), p=np.zeros(12), binning_x=0, binning_y=0,
        roi=roi,
    )  # fmt: skip
    with pytest.raises(CalibrationError, match=r"(zero focal length|0x0).*camera_calibration.*camera_info_url"):
        camera_model_from_camera_info(cdr_round_trip(msg, distro))


# ------------------------------------------------------------------------------------------------- TF


def test_transform_stamped_direction_parent_from_child() -> None:
    factory = rosbags_factory("humble")
    quarter_turn_z = (0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5))  # x, y, z, w
    msg = factory.new(
        "geometry_msgs/msg/TransformStamped",
        header=make_header(factory, STAMP_NS, "camera_optical"),
        child_frame_id="lidar",
        transform=factory.new(
            "geometry_msgs/msg/Transform",
            translation=factory.new("geometry_msgs/msg/Vector3", x=1.0, y=2.0, z=3.0),
            rotation=factory.new(
                "geometry_msgs/msg/Quaternion", x=quarter_turn_z[0], y=0.0, z=quarter_turn_z[2], w=quarter_turn_z[3]
            ),
        ),
    )
    camera_from_lidar = rigid_transform_from_msg(cdr_round_trip(msg, "humble"))
    assert (camera_from_lidar.dst_frame, camera_from_lidar.src_frame) == ("camera_optical", "lidar")
    np.testing.assert_allclose(camera_from_lidar.apply(np.array([[1.0, 0.0, 0.0]])), [[1.0, 3.0, 3.0]], atol=1e-12)


@pytest.mark.parametrize("distro", DISTROS)
def test_tf_message_round_trip(distro: str) -> None:
    factory = rosbags_factory(distro)
    q_wxyz = tq.axangle2quat([0.3, -0.5, 0.8], 1.1)
    base_from_lidar = RigidTransform(tq.quat2mat(q_wxyz), np.array([0.1, -0.2, 1.5]), "base_link", "lidar")
    base_from_camera = RigidTransform.identity("base_link", "camera_optical")
    msg = cdr_round_trip(tf_message_from(factory, [base_from_lidar, base_from_camera], STAMP_NS), distro)
    assert all(stamp_to_ns(entry.header.stamp) == STAMP_NS for entry in msg.transforms)
    back = rigid_transforms_from_tf_message(msg)
    for original, decoded in zip([base_from_lidar, base_from_camera], back, strict=True):
        assert (decoded.dst_frame, decoded.src_frame) == (original.dst_frame, original.src_frame)
        np.testing.assert_allclose(decoded.matrix, original.matrix, atol=1e-12)


def test_tf_errors() -> None:
    factory = rosbags_factory("jazzy")
    good = transform_stamped_from_rigid(factory, RigidTransform.identity("a", "b"), STAMP_NS)
    good.transform.rotation.w = 2.0
    with pytest.raises(TransformError, match=r"has norm 2\.000000, not 1"):
        rigid_transform_from_msg(good)
    good = transform_stamped_from_rigid(factory, RigidTransform.identity("a", "b"), STAMP_NS)
    good.child_frame_id = ""
    with pytest.raises(TransformError, match="empty frame id"):
        rigid_transform_from_msg(good)
    with pytest.raises(TransformError, match="needs both frame ids"):
        transform_stamped_from_rigid(factory, RigidTransform.identity("a", ""), STAMP_NS)


# ------------------------------------------------------------------------ rclpy-style (array.array) path


def rclpy_outputs() -> dict[str, Any]:
    """Every kind of output message, built through the strict fake rclpy classes."""
    factory = rclpy_style_factory()
    header = make_header(factory, STAMP_NS, FRAME_ID)
    outputs: dict[str, Any] = {
        f"image_{enc}": image_from_array(factory, random_pixels(enc, 3, 5), enc, header) for enc in IMAGE_ENCODINGS
    }
    outputs["compressed"] = compressed_image_from_array(factory, random_pixels("rgb8", 6, 4), header, codec="png")
    outputs["camera_info"] = camera_info_from_model(factory, distorted_model(), header)
    outputs["cloud"] = pointcloud2_from_structured(factory, header, velodyne_points(12), 3, 4, is_dense=False)
    outputs["tf"] = tf_message_from(factory, [RigidTransform.identity("map", "base_link")], STAMP_NS)
    return outputs


@pytest.mark.parametrize("distro", DISTROS)
def test_rclpy_style_messages_serialize_like_rosbags_ones(distro: str) -> None:
    factory = rosbags_factory(distro)
    header = input_header(factory)
    expected = {
        **{f"image_{enc}": image_from_array(factory, random_pixels(enc, 3, 5), enc, header) for enc in IMAGE_ENCODINGS},
        "compressed": compressed_image_from_array(factory, random_pixels("rgb8", 6, 4), header, codec="png"),
        "camera_info": camera_info_from_model(factory, distorted_model(), header),
        "cloud": pointcloud2_from_structured(factory, header, velodyne_points(12), 3, 4, is_dense=False),
        "tf": tf_message_from(factory, [RigidTransform.identity("map", "base_link")], STAMP_NS),
    }
    for name, fake in rclpy_outputs().items():
        assert cdr_bytes(fake_to_rosbags(fake, distro), distro) == cdr_bytes(expected[name], distro), name


def test_rclpy_style_messages_read_back() -> None:
    outputs = rclpy_outputs()
    for enc in IMAGE_ENCODINGS:
        msg = outputs[f"image_{enc}"]
        assert isinstance(msg.data, array.array) and msg.data.typecode == "B"
        assert image_to_array(msg).tobytes() == random_pixels(enc, 3, 5).tobytes()
    np.testing.assert_array_equal(compressed_image_to_array(outputs["compressed"]), random_pixels("rgb8", 6, 4))
    camera_info = outputs["camera_info"]
    assert isinstance(camera_info.d, array.array) and camera_info.d.typecode == "d"
    assert_models_equal(camera_model_from_camera_info(camera_info), distorted_model())
    cloud = pointcloud2_to_structured(outputs["cloud"])
    assert cloud.shape == (3, 4) and cloud.tobytes() == velodyne_points(12).tobytes()
    assert xyz_from_pointcloud2(outputs["cloud"]).shape == (12 - 3, 3)  # NaN, Inf and (0, 0, 0) dropped
    (identity,) = rigid_transforms_from_tf_message(outputs["tf"])
    assert (identity.dst_frame, identity.src_frame) == ("map", "base_link")


def test_strict_fake_classes_reject_numpy_scalars_and_arrays() -> None:
    factory = rclpy_style_factory()
    with pytest.raises(TypeError, match=r"Time\.sec rejects int64"):
        factory.new("builtin_interfaces/msg/Time", sec=np.int64(1), nanosec=0)
    with pytest.raises(TypeError, match=r"CompressedImage\.data rejects ndarray"):
        factory.new(
            "sensor_msgs/msg/CompressedImage",
            header=make_header(factory, 0, ""),
            format="png",
            data=np.zeros(2, np.uint8),
        )


# ------------------------------------------------------------------------------------ façade and layering


def test_facade_exports_resolve() -> None:
    for name in ros_msgs.__all__:
        assert getattr(ros_msgs, name) is not None, name


@pytest.mark.parametrize("module", MY_MODULES)
def test_no_ros_imports_in_core_message_modules(module: str) -> None:
    tree = ast.parse((CORE_DIR / f"{module}.py").read_text())
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
    assert not [name for name in imported if name.split(".")[0] in ROS_PACKAGES]


# ------------------------------------------------------------------------------------------- real data


@pytest.mark.parametrize("distro", DISTROS)
def test_kitti_frame_as_bgr8_survives_cdr(kitti_object_dir: Path, distro: str) -> None:
    from mono_depth_ros.training.data.kitti_files import load_rgb

    rgb = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    factory = rosbags_factory(distro)
    msg = cdr_round_trip(image_from_array(factory, bgr, "bgr8", input_header(factory)), distro)
    assert (msg.height, msg.width, msg.step) == (rgb.shape[0], rgb.shape[1], rgb.shape[1] * 3)
    np.testing.assert_array_equal(image_to_array(msg), bgr)
    np.testing.assert_array_equal(image_to_rgb8(msg), rgb)
    png = cdr_round_trip(compressed_image_from_array(factory, rgb, input_header(factory), codec="png"), distro)
    np.testing.assert_array_equal(compressed_image_to_array(png), rgb)


def test_depth_output_pair_shares_the_input_stamp() -> None:
    factory = rosbags_factory("humble")
    camera_header = input_header(factory)
    depth = depth_image_from_metres(factory, np.full((375, 1242), 7.5, np.float32), "32FC1", camera_header)
    info = camera_info_from_intrinsics(factory, INTRINSICS, depth.header)
    assert depth.header == info.header == camera_header and depth.header is not camera_header
    assert float(depth_image_to_metres(depth).mean()) == 7.5
    assert TYPESTORES["humble"].types["sensor_msgs/msg/Image"] is type(depth)


@pytest.mark.parametrize("style", ["numpy", "array.array"])
def test_cloud_message_holds_the_cloud_bytes_and_survives_builder_reuse(style: str) -> None:
    from mono_depth_ros.core.cloud import CloudBuilder

    factory = rosbags_factory("humble") if style == "numpy" else rclpy_style_factory()
    intrinsics = PinholeIntrinsics(50.0, 50.0, 15.5, 11.5, width=32, height=24)
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 20.0, (24, 32)).astype(np.float32)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    builder = CloudBuilder()
    cloud = builder.organized(depth, intrinsics, rgb)
    expected = cloud.tobytes()
    padding = np.frombuffer(expected, np.uint8).reshape(-1, 32)
    assert not padding[:, 12:16].any() and not padding[:, 20:32].any()  # the PointCloud invariant
    msg = ros_msgs.pointcloud2_from_cloud(factory, input_header(factory), cloud)
    del cloud  # the builder may now recycle its output buffer for the next frame
    builder.organized(depth * 2.0, intrinsics, rgb)
    assert bytes(msg.data) == expected
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (24, 32, 32, 32 * 32)
