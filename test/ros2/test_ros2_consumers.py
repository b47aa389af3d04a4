"""Real ROS 2 consumers users attach to our outputs: depth_image_proc (register, convert_metric, point_cloud_xyz)
and image_transport's republisher (compressed_image_transport), fed by the live node on real KITTI frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import message_filters
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from mono_depth_ros.core.depth_codec import decode_depth
from mono_depth_ros.core.ros_msgs import stamp_to_ns
from test.kitti_bag import KittiFrame, kitti_camera_info

from .harness import (
    BEST_EFFORT,
    RELIABLE,
    Launched,
    Probe,
    depth_array,
    feed_images,
    ros2_run,
    running,
    wait_until,
    write_params,
)
from .test_ros2_interop import XY_ATOL_M, xyz_of


def uint16_array(msg: Image) -> np.ndarray:
    """(H, W) uint16 of a 16UC1 image (row padding removed)."""
    assert msg.encoding == "16UC1" and not msg.is_bigendian, (msg.encoding, msg.is_bigendian)
    rows = np.frombuffer(bytes(msg.data), dtype="<u2").reshape(msg.height, msg.step // 2)
    return rows[:, : msg.width]


def feed(probe: Probe, frames: list[KittiFrame]) -> list[int]:
    """Three KITTI frames 1.5 s apart, reliable: depth_image_proc's camera_info subscriptions are reliable."""
    return feed_images(probe, frames, 3, period_s=1.5, qos=RELIABLE)


def test_depth_image_proc_register_puts_our_downscaled_depth_on_its_camera_pixels(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """register_node fed /depth/image + /depth/camera_info (auto downscale: 414 x 125 on KITTI's 1242 x 375, 408 x 123
    on 1224 x 370) and the camera's own camera_info: each depth pixel lands on the camera pixel it stands for."""
    launched = Launched({"device": "cpu"}, ros_logs / "register_node.log")
    subscribers: list[message_filters.Subscriber] = []
    try:
        launched.wait_ready(probe)
        ours = probe.collect(Image, "/depth/image", RELIABLE)
        registered = probe.collect(Image, "/reg/image_rect", RELIABLE)
        # RTAB-Map's rgbd_sync with approx_sync: false: message_filters' exact-time sync of the camera image, our
        # depth and the camera's camera_info (reliable, keep last 10, as its default qos)
        subscribers += [
            message_filters.Subscriber(probe.node, Image, "/camera/image_raw", qos_profile=RELIABLE),
            message_filters.Subscriber(probe.node, Image, "/depth/image", qos_profile=RELIABLE),
            message_filters.Subscriber(probe.node, CameraInfo, "/camera/camera_info", qos_profile=RELIABLE),
        ]
        exact = message_filters.TimeSynchronizer(subscribers, 10)
        synced: list[int] = []
        exact.registerCallback(lambda image, depth, info: synced.append(stamp_to_ns(depth.header.stamp)))
        with ros2_run("depth_image_proc", "register_node", ros_logs / "register.log", "--ros-args",
                      "-r", "depth/image_rect:=/depth/image", "-r", "depth/camera_info:=/depth/camera_info",
                      "-r", "rgb/camera_info:=/camera/camera_info",
                      "-r", "depth_registered/image_rect:=/reg/image_rect"):  # fmt: skip
            wait_until(lambda: probe.node.count_publishers("/reg/image_rect") > 0, 30, "register's publisher")
            wait_until(lambda: probe.node.count_subscribers("/depth/camera_info") > 0, 30, "register's subscription")
            stamps = feed(probe, kitti_frames)
            camera_infos = {s: kitti_camera_info(probe.factory, kitti_frames[i], s) for i, s in enumerate(stamps)}
            wait_until(lambda: len(set(stamps) & set(registered.by_stamp())) >= 2, 30, "registered depth")
        wait_until(lambda: set(stamps) <= set(ours.by_stamp()), 30, "our depth images")
        assert sorted(synced) == sorted(stamps)  # every depth image with its camera image and camera_info
        compared = 0
        for stamp in set(stamps) & set(registered.by_stamp()):
            depth, reg = ours.by_stamp()[stamp], registered.by_stamp()[stamp]
            camera_info = camera_infos[stamp]
            ours_m, reg_m = depth_array(depth), depth_array(reg)
            assert (
                reg_m.shape == (camera_info.height, camera_info.width) and reg.header.frame_id == depth.header.frame_id
            )
            # the camera pixel each published pixel stands for (its centre on the camera grid), shifted by the
            # camera's P Tx / z and Ty / z as register projects them (KITTI's P2: Tx ~ 45 px m, Ty ~ -0.3 px m)
            h, w = ours_m.shape
            v, u = np.nonzero(np.isfinite(ours_m))
            z = ours_m[v, u].astype(np.float64)
            tx, ty = camera_info.p[3], camera_info.p[7]
            u_cam = (u + 0.5) * camera_info.width / w - 0.5 + tx / z
            v_cam = (v + 0.5) * camera_info.height / h - 0.5 + ty / z
            u_at, v_at = np.floor(u_cam + 0.5).astype(int), np.floor(v_cam + 0.5).astype(int)
            inside = (u_at >= 0) & (u_at < camera_info.width) & (v_at >= 0) & (v_at < camera_info.height)
            assert inside.mean() > 0.9
            # every depth lands where its camera pixel is, unchanged (register keeps float32 z), and nowhere else
            np.testing.assert_array_equal(reg_m[v_at[inside], u_at[inside]], ours_m[v, u][inside])
            assert np.isfinite(reg_m).sum() == inside.sum()
            compared += 1
        assert compared >= 2
    finally:
        for subscriber in subscribers:
            probe.node.destroy_subscription(subscriber.sub)
        assert launched.stop() == 0, launched.log[-3000:]


def test_16uc1_output_through_convert_metric_point_cloud_xyz_and_compressed_png(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``output.encoding: 16UC1``: convert_metric gives our metres (NaN where 0), point_cloud_xyz rebuilds our cloud,
    and compressed_image_transport's png carries the millimetres unchanged."""
    params = write_params(ros_logs / "mm.yaml", {"output.encoding": "16UC1"})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "mm_node.log")
    with running(launched):
        launched.wait_ready(probe)
        ours = probe.collect(Image, "/depth/image", RELIABLE)
        our_cloud = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        metric = probe.collect(Image, "/metric/image", RELIABLE)
        dip_cloud = probe.collect(PointCloud2, "/dip/points", BEST_EFFORT)
        png = probe.collect(CompressedImage, "/png/compressed", RELIABLE)
        back = probe.collect(Image, "/png/raw", RELIABLE)
        with ros2_run("depth_image_proc", "convert_metric_node", ros_logs / "convert_metric.log", "--ros-args",
                      "-r", "image_raw:=/depth/image", "-r", "image:=/metric/image"), \
             ros2_run("depth_image_proc", "point_cloud_xyz_node", ros_logs / "point_cloud_xyz.log", "--ros-args",
                      "-r", "image_rect:=/depth/image", "-r", "camera_info:=/depth/camera_info",
                      "-r", "points:=/dip/points"), \
             ros2_run("image_transport", "republish", ros_logs / "republish_png.log", "raw", "compressed",
                      "--ros-args", "-r", "in:=/depth/image", "-r", "out/compressed:=/png/compressed",
                      "-p", "out.format:=png"), \
             ros2_run("image_transport", "republish", ros_logs / "republish_back.log", "compressed", "raw",
                      "--ros-args", "-r", "in/compressed:=/png/compressed", "-r", "out:=/png/raw"):  # fmt: skip
            for topic in ("/metric/image", "/dip/points", "/png/compressed", "/png/raw"):
                wait_until(lambda t=topic: probe.node.count_publishers(t) > 0, 30, f"a publisher of {topic}")
            wait_until(lambda: probe.node.count_subscribers("/depth/image") >= 4, 30, "the consumers' subscriptions")
            stamps = feed(probe, kitti_frames)
            for collector in (metric, dip_cloud, back):
                wait_until(lambda c=collector: len(set(stamps) & set(c.by_stamp())) >= 2, 30, collector.topic)
        compared = 0
        for stamp in set(stamps) & set(metric.by_stamp()) & set(dip_cloud.by_stamp()) & set(back.by_stamp()):
            mm = uint16_array(ours.by_stamp()[stamp])
            assert 0 < (mm == 0).sum() < mm.size // 10  # some invalid pixels, most valid
            # convert_metric: our millimetres as metres, NaN where 0 (what our decode says they mean)
            np.testing.assert_array_equal(depth_array(metric.by_stamp()[stamp]), decode_depth(mm, "16UC1"))
            # point_cloud_xyz from the millimetres: our cloud, the same NaN pattern and z, x / y to float rounding
            a, b = xyz_of(our_cloud.by_stamp()[stamp]), xyz_of(dip_cloud.by_stamp()[stamp])
            assert a.shape == b.shape == (*mm.shape, 3)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            finite = np.isfinite(b[..., 2])
            np.testing.assert_array_equal(a[..., 2][finite], b[..., 2][finite])
            np.testing.assert_allclose(a[finite][:, :2], b[finite][:, :2], rtol=0, atol=XY_ATOL_M)
            # compressed_image_transport's png and back: the same millimetres
            assert png.by_stamp()[stamp].format.startswith("16UC1; png")
            np.testing.assert_array_equal(uint16_array(back.by_stamp()[stamp]), mm)
            compared += 1
        assert compared >= 2


def test_32fc1_depth_past_65_m_is_wrapped_by_convert_metric_and_refused_by_compressed(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """Why docs/ros2_node.md says to publish 16UC1 rather than convert our 32FC1: Humble's convert_metric casts
    ``metres * 1000`` to uint16 unchecked, so a depth past 65.535 m (``output.max_range`` is 80 m) comes out as a
    near one (66.2 m as 0.66 m); compressed_image_transport refuses 32FC1 (png needs 8 or 16 bits). point_cloud_xyz
    leaves our ±Inf pixels out as we do."""
    # a fixed scale that puts the far part of the KITTI scenes between 65.5 m and output.max_range (80 m) and past
    # it (+Inf), and a minimum range that makes the near road -Inf
    settings = {"scale.mode": "fixed", "scale.fixed_scale": 4.0, "output.min_range": 30.0}
    params = write_params(ros_logs / "far.yaml", settings)
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "far_node.log")
    with running(launched):
        launched.wait_ready(probe)
        ours = probe.collect(Image, "/depth/image", RELIABLE)
        converted = probe.collect(Image, "/mm/image", RELIABLE)
        compressed = probe.collect(CompressedImage, "/c/compressed", RELIABLE)
        our_cloud = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        dip_cloud = probe.collect(PointCloud2, "/dip/points", BEST_EFFORT)
        republish_log = ros_logs / "republish_32fc1.log"
        with ros2_run("depth_image_proc", "convert_metric_node", ros_logs / "convert_metric_32fc1.log", "--ros-args",
                      "-r", "image_raw:=/depth/image", "-r", "image:=/mm/image"), \
             ros2_run("image_transport", "republish", republish_log, "raw", "compressed",
                      "--ros-args", "-r", "in:=/depth/image", "-r", "out/compressed:=/c/compressed",
                      "-p", "out.format:=png"), \
             ros2_run("depth_image_proc", "point_cloud_xyz_node", ros_logs / "point_cloud_xyz_32fc1.log",
                      "--ros-args", "-r", "image_rect:=/depth/image", "-r", "camera_info:=/depth/camera_info",
                      "-r", "points:=/dip/points"):  # fmt: skip
            wait_until(lambda: probe.node.count_subscribers("/depth/image") >= 4, 30, "the consumers' subscriptions")
            wait_until(lambda: probe.node.count_publishers("/dip/points") > 0, 30, "point_cloud_xyz's publisher")
            stamps = feed(probe, kitti_frames)
            for collector in (converted, dip_cloud):
                wait_until(lambda c=collector: len(set(stamps) & set(c.by_stamp())) >= 2, 30, collector.topic)
        wrapped = 0
        infinite = {"+": 0, "-": 0}
        for stamp in set(stamps) & set(dip_cloud.by_stamp()):
            metres = depth_array(ours.by_stamp()[stamp])
            infinite["+"] += int(np.isposinf(metres).sum())
            infinite["-"] += int(np.isneginf(metres).sum())
            a, b = xyz_of(our_cloud.by_stamp()[stamp]), xyz_of(dip_cloud.by_stamp()[stamp])
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            assert np.isnan(b[np.isinf(metres)]).all()
        assert min(infinite.values()) > 100, infinite
        for stamp in set(stamps) & set(converted.by_stamp()):
            metres = depth_array(ours.by_stamp()[stamp])
            mm = uint16_array(converted.by_stamp()[stamp]).astype(np.int64)
            far = np.isfinite(metres) & (metres * 1000 >= 65536)
            expected = np.trunc(metres[far].astype(np.float32) * np.float32(1000)).astype(np.int64) % 65536
            np.testing.assert_array_equal(mm[far], expected)  # the low 16 bits: 66.2 m -> 661 mm
            assert (mm[np.isinf(metres)] == 0).all()
            wrapped += int(far.sum())
        assert wrapped > 100
        assert compressed.count() == 0
        assert "PNG compression requires 8/16-bit encoded color format (input format is: 32FC1)" in (
            republish_log.read_text()
        )


def test_image_views_float_scaling_blacks_out_a_32fc1_depth_with_inf_and_shows_16uc1(
    kitti_frames: list[KittiFrame],
) -> None:
    """Why docs/ros2_node.md sends image_view users to 16UC1 (or rviz2's fixed range): Humble's image_view asks
    cv_bridge's ``cvtColorForDisplay`` for dynamic scaling on every float encoding, which takes the image's own min
    and max, ±Inf included: one REP 117 +Inf (beyond ``output.max_range``) and the window is black. For 16UC1 it
    scales 0-10 m. The real cv_bridge of the runtime, on KITTI's LiDAR depth through our range limits and codec."""
    from cv_bridge.boost.cv_bridge_boost import cvtColorForDisplay

    from mono_depth_ros.core.depth_codec import apply_range_limits, encode_depth

    depth_m = apply_range_limits(kitti_frames[0].lidar_depth_m, 0.1, 20.0)  # the far returns become +Inf
    assert np.isposinf(depth_m).sum() > 100
    # image_view_node.cpp (humble): do_dynamic_scaling = encoding has "F"; min 0, max 10 m (10000 mm) otherwise
    metres = cvtColorForDisplay(encode_depth(depth_m, "32FC1"), "32FC1", "bgr8", True, 0.0, 10.0)
    millimetres = cvtColorForDisplay(encode_depth(depth_m, "16UC1"), "16UC1", "bgr8", False, 0.0, 10000.0)
    assert not metres.any()  # every pixel black
    near = np.isfinite(depth_m) & (depth_m < 10.0)
    assert (millimetres[near] > 0).all() and len(np.unique(millimetres[near][:, 0])) > 50


def _cropped(frame: KittiFrame, top: int, left: int, height: int, width: int) -> KittiFrame:
    """``frame`` cut to ``height`` x ``width`` pixels at (``top``, ``left``): its P moved with the image origin."""
    shift = np.array([[1.0, 0.0, -left], [0.0, 1.0, -top], [0.0, 0.0, 1.0]])
    rgb = np.ascontiguousarray(frame.rgb[top : top + height, left : left + width])
    return dataclasses.replace(frame, rgb=rgb, projection=shift @ frame.projection)


def test_depth_image_proc_point_cloud_xyzrgb_rebuilds_our_coloured_cloud_at_camera_resolution(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """README's claim, live: with ``output.downscale: 1`` and ``cloud.rgb: true``, point_cloud_xyzrgb_node fed our
    depth, its camera_info and the camera image gives our cloud: the same points and the same packed colours. (A
    128 x 448 cut of the KITTI frames: its best-effort cloud of 1.8 MB still reaches a reader on loopback.)"""
    frames = [_cropped(frame, 160, 380, 128, 448) for frame in kitti_frames]
    params = write_params(ros_logs / "rgb.yaml", {"output.downscale": 1, "cloud.rgb": True})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "rgb_node.log")
    with running(launched):
        launched.wait_ready(probe)
        ours = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        theirs = probe.collect(PointCloud2, "/dip/rgb_points", BEST_EFFORT)
        with ros2_run("depth_image_proc", "point_cloud_xyzrgb_node", ros_logs / "point_cloud_xyzrgb.log",
                      "--ros-args", "-r", "rgb/image_rect_color:=/camera/image_raw",
                      "-r", "depth_registered/image_rect:=/depth/image", "-r", "rgb/camera_info:=/depth/camera_info",
                      "-r", "points:=/dip/rgb_points"):  # fmt: skip
            wait_until(lambda: probe.node.count_publishers("/dip/rgb_points") > 0, 30, "point_cloud_xyzrgb's publisher")
            stamps = feed(probe, frames)
            wait_until(lambda: len(set(stamps) & set(theirs.by_stamp())) >= 2, 30, "point_cloud_xyzrgb's clouds")
        compared = 0
        for stamp in set(stamps) & set(theirs.by_stamp()):
            a, b = ours.by_stamp()[stamp], theirs.by_stamp()[stamp]
            assert (a.height, a.width, a.point_step) == (b.height, b.width, b.point_step) == (128, 448, 32)
            assert [(f.name, f.offset, f.datatype) for f in a.fields] == [
                (f.name, f.offset, f.datatype) for f in b.fields
            ]
            xyz_a, xyz_b = xyz_of(a), xyz_of(b)
            np.testing.assert_array_equal(np.isnan(xyz_a), np.isnan(xyz_b))
            finite = np.isfinite(xyz_b[..., 2])
            assert finite.mean() > 0.5
            np.testing.assert_array_equal(xyz_a[..., 2][finite], xyz_b[..., 2][finite])
            np.testing.assert_allclose(xyz_a[finite][:, :2], xyz_b[finite][:, :2], rtol=0, atol=XY_ATOL_M)
            rgb_a = np.frombuffer(bytes(a.data), "<u4").reshape(128, 448, 8)[..., 4]
            rgb_b = np.frombuffer(bytes(b.data), "<u4").reshape(128, 448, 8)[..., 4]
            np.testing.assert_array_equal(rgb_a[finite], rgb_b[finite])  # 0x00RRGGBB, alpha byte 0 in both
            compared += 1
        assert compared >= 2
