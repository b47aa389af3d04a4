"""Camera geometry of the published depth on real Humble: depth_image_proc's ``point_cloud_xyz_node`` fed our
/depth/image + /depth/camera_info gives our /depth/points, and that cloud puts each depth where the Velodyne point it
came from lies, for raw (distorted) cameras, sizes the downscale does not divide, binning and roi, 32FC1 and 16UC1.

The node runs ``model.backend: external`` with a metric prediction that is the real KITTI Velodyne scan projected
into each raw camera (OpenCV's forward model, nearest point per raw pixel): every published depth is one real
point's z, so the point depth_image_proc makes of it must lie within one raw pixel of that point's own projection
(half a pixel from the scan's rounding, half from the nearest-neighbour undistortion)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.evaluation.scale_rigs import CAMERA_FRAME
from test.kitti_bag import KittiFrame
from test.kitti_rigs import raw_image, raw_pixels, raw_scan_depth
from test.test_depth_image_proc_equivalence import FLOAT32_RTOL

from .harness import BEST_EFFORT, RELIABLE, Launched, Probe, ros2_run, running, wait_until, write_params
from .test_ros2_interop import XY_ATOL_M, xyz_of


@dataclass(frozen=True)
class Rig:
    """One camera the node is fed: its raw image, camera_info model and the scan (camera frame) as truth."""

    name: str
    camera: CameraModel
    rgb: npt.NDArray[np.uint8]
    prediction: npt.NDArray[np.float32]
    scan_in_camera: npt.NDArray[np.floating[Any]]


def _raw_camera(
    kitti: KittiFrame, model: str, d: tuple[float, ...], size: tuple[int, int], binning: int = 0,
    roi: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> CameraModel:  # fmt: skip
    """A raw camera of ``size`` (calibrated width, height) at KITTI's camera 2, its view inside KITTI's, P from
    OpenCV's new-camera-matrix helpers at balance / alpha 0.5 (part of the raw view, some black corners)."""
    import cv2

    width, height = size
    kk = kitti.intrinsics
    fx = (width / 2) / (0.8 * kk.cx / kk.fx)
    fy = (height / 2) / (0.8 * min(kk.cy, kk.height - 1 - kk.cy) / kk.fy)
    k = np.array([[fx, 0.0, (width - 1) / 2 + 3.3], [0.0, fy, (height - 1) / 2 - 2.1], [0.0, 0.0, 1.0]])
    coefficients = np.asarray(d, dtype=np.float64)
    if model == "equidistant":
        p3 = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(
            k, coefficients, (width, height), np.eye(3), balance=0.5
        )
    else:
        p3, _ = cv2.getOptimalNewCameraMatrix(k, coefficients, (width, height), 0.5, (width, height))
    p = np.hstack([np.asarray(p3, dtype=np.float64), np.zeros((3, 1))])
    return CameraModel(width, height, model, d, k, np.eye(3), p, binning, binning, roi)


def _rig(name: str, kitti: KittiFrame, camera: CameraModel, rgb: npt.NDArray[np.uint8] | None = None) -> Rig:
    """``camera`` at KITTI's camera 2: its image (``rgb``, else KITTI's seen through it) and the scan's depth."""
    scan = kitti.cam_from_velo.apply(kitti.scan[:, :3].astype(np.float64))
    image = raw_image(kitti.rgb, kitti.intrinsics, camera) if rgb is None else rgb
    return Rig(name, camera, np.ascontiguousarray(image), raw_scan_depth(scan, camera), scan)


def _kitti_crop(kitti: KittiFrame, width: int, height: int) -> CameraModel:
    """KITTI's own image (no distortion: K = P2's 3 x 3, P = P2 with its Tx), cut to ``width`` x ``height``."""
    return CameraModel(width, height, "plumb_bob", (0.0,) * 5, kitti.projection[:, :3], np.eye(3), kitti.projection)


PLUMB_BOB = ("plumb_bob", (-0.28, 0.09, 0.0008, -0.0006, 0.0))
RATIONAL = ("rational_polynomial", (-0.3, 0.1, 0.0008, -0.0006, 0.0, 0.05, 0.01, 0.0))
EQUIDISTANT = ("equidistant", (0.08, 0.01, -0.004, 0.001))


def rigs(kitti: KittiFrame, downscale: int) -> list[Rig]:
    """KITTI's 1242 x 375 and an odd 1237 x 371 cut of it (not at downscale 1: a camera-size cloud is too large
    for depth_image_proc's best-effort publisher on loopback); raw plumb_bob, rational_polynomial and equidistant
    cameras of odd sizes; a binned plumb_bob camera with a roi (image_geometry's fx / b, (cx - x_offset) / b)."""
    out = []
    if downscale != 1:
        for width, height in ((1242, 375), (1237, 371)):
            crop = kitti.rgb[:height, :width]
            out.append(_rig(f"kitti {width}x{height}", kitti, _kitti_crop(kitti, width, height), crop))
    cameras = [
        ("plumb_bob 449x135", _raw_camera(kitti, *PLUMB_BOB, (449, 135))),
        ("rational_polynomial 451x137", _raw_camera(kitti, *RATIONAL, (451, 137))),
        ("equidistant 447x133", _raw_camera(kitti, *EQUIDISTANT, (447, 133))),
        ("plumb_bob 898x270 binned 2, roi", _raw_camera(kitti, *PLUMB_BOB, (898, 270), 2, (31, 17, 801, 241))),
    ]
    return out + [_rig(name, kitti, camera) for name, camera in cameras]


def _check_camera_info(info: Any, depth: Any) -> None:
    """The camera_info beside a depth image: its header and size, and a rectified pinhole (no D, R, binning, roi)."""
    assert (info.header.stamp, info.header.frame_id) == (depth.header.stamp, depth.header.frame_id)
    assert (info.width, info.height) == (depth.width, depth.height)
    assert info.distortion_model == "plumb_bob" and not np.any(info.d)
    assert np.array_equal(np.asarray(info.r).reshape(3, 3), np.eye(3))
    projection = np.asarray(info.p).reshape(3, 4)
    assert np.array_equal(np.asarray(info.k).reshape(3, 3), projection[:, :3]) and not projection[:, 3].any()
    assert (info.binning_x, info.binning_y) == (0, 0)
    assert (info.roi.x_offset, info.roi.y_offset) == (0, 0) and info.roi.width in (0, info.width)


def _raw_pixel_error(points: npt.NDArray[np.float32], rig: Rig, mm: bool) -> npt.NDArray[np.float64]:
    """For each point (camera frame, finite): the raw-pixel distance (largest of u, v) between its projection into
    the raw camera and that of the nearest in the raw image of the scan points with its z (the same float32 z; for
    16UC1 within half a millimetre and a float32 step)."""
    scan = rig.scan_in_camera
    scan_z = scan[:, 2].astype(np.float32)
    order = np.argsort(scan_z, kind="stable")
    sorted_z = scan_z[order]
    scan_pixels = raw_pixels(scan[order], rig.camera)
    point_pixels = raw_pixels(points.astype(np.float64), rig.camera)
    tolerance = np.float32(0.0005 + 1e-5) if mm else np.float32(0.0)  # rounded mm, read as float32 mm * 0.001
    low = np.searchsorted(sorted_z, points[:, 2] - tolerance, side="left")
    high = np.searchsorted(sorted_z, points[:, 2] + tolerance, side="right")
    errors = np.full(len(points), np.inf)
    for index in range(len(points)):
        if high[index] > low[index]:
            offsets = np.abs(scan_pixels[low[index] : high[index]] - point_pixels[index]).max(axis=1)
            errors[index] = offsets.min()
    return errors


@dataclass(frozen=True)
class Published:
    """What the node and point_cloud_xyz_node published for one rig."""

    rig: Rig
    depth: Any
    camera_info: Any
    ours: Any
    theirs: Any
    from_camera_info: Any = None
    xyzrgb_of_raw: Any = None
    xyzrgb_of_rectified: Any = None


def _xyzrgb_node(ros_logs: Path, name: str, image: str, points: str) -> Any:
    """point_cloud_xyzrgb_node on /depth/image + /depth/camera_info and the colour image ``image``."""
    return ros2_run("depth_image_proc", "point_cloud_xyzrgb_node", ros_logs / f"{name}.log", "--ros-args",
                    "-r", f"__node:={name}", "-r", "depth_registered/image_rect:=/depth/image",
                    "-r", "rgb/camera_info:=/depth/camera_info", "-r", f"rgb/image_rect_color:={image}",
                    "-r", f"points:={points}")  # fmt: skip


def _arrived(collectors: list[Any], stamp: int) -> Callable[[], bool]:
    """Whether every collector holds a message of ``stamp``."""
    return lambda: all(stamp in collector.by_stamp() for collector in collectors)


def run_rigs(
    probe: Probe, ros_logs: Path, name: str, settings: dict[str, Any], cases: list[Rig], external: bool,
    camera_info_too: bool = False, xyzrgb: bool = False,
) -> list[Published]:  # fmt: skip
    """The node (``image_is_rectified: false``, no LiDAR, ``settings``; the external backend fed each rig's
    prediction, else the shipped model) and point_cloud_xyz_node on /depth/image + /depth/camera_info: each rig's
    frame in turn, the next once every output of the last came (a frame whose best-effort cloud was lost is sent
    again, up to 3 times). ``camera_info_too``: a second point_cloud_xyz_node on /depth/image and the camera's own
    camera_info (its binning and roi read by image_geometry). ``xyzrgb``: two point_cloud_xyzrgb_nodes on our
    depth and camera_info, one fed the raw image, one the raw image rectified with the same calibration
    (``CameraModel.undistort``, as image_proc's rectify) on /camera/image_rect_color."""
    params = write_params(ros_logs / f"{name}.yaml", {"image_is_rectified": False, **settings})
    launch = {"device": "cpu", "use_lidar": "false", "params_file": str(params)}
    if external:
        launch["model"] = "external"
    launched = Launched(launch, ros_logs / f"{name}_node.log")
    with running(launched):
        launched.wait_ready(probe)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        info = probe.collect(CameraInfo, "/depth/camera_info", RELIABLE)
        ours = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        theirs = probe.collect(PointCloud2, "/dip/points", BEST_EFFORT)
        pub_image = probe.publisher(Image, "/camera/image_raw", RELIABLE)
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info", RELIABLE)
        inputs = [pub_image, pub_info]
        if external:
            pub_prediction = probe.publisher(Image, "/depth_model/prediction", RELIABLE)
            inputs.append(pub_prediction)
        from_camera_info = probe.collect(PointCloud2, "/dip/camera_info_points", BEST_EFFORT)
        of_raw = probe.collect(PointCloud2, "/dip/raw_points", BEST_EFFORT)
        of_rectified = probe.collect(PointCloud2, "/dip/rect_points", BEST_EFFORT)
        pub_rect = probe.publisher(Image, "/camera/image_rect_color", RELIABLE)
        rectified = {rig.name: rig.camera.undistort(rig.rgb) for rig in cases} if xyzrgb else {}
        with ExitStack() as consumers:
            consumers.enter_context(
                ros2_run("depth_image_proc", "point_cloud_xyz_node", ros_logs / f"{name}_dip.log", "--ros-args",
                         "-r", "image_rect:=/depth/image", "-r", "camera_info:=/depth/camera_info",
                         "-r", "points:=/dip/points")
            )  # fmt: skip
            if camera_info_too:
                consumers.enter_context(
                    ros2_run("depth_image_proc", "point_cloud_xyz_node", ros_logs / f"{name}_dip_input.log",
                             "--ros-args", "-r", "__node:=xyz_input", "-r", "image_rect:=/depth/image",
                             "-r", "camera_info:=/camera/camera_info", "-r", "points:=/dip/camera_info_points")
                )  # fmt: skip
                wait_until(lambda: probe.node.count_publishers("/dip/camera_info_points") > 0, 30, "the second one")
            if xyzrgb:
                consumers.enter_context(_xyzrgb_node(ros_logs, "xyzrgb_raw", "/camera/image_raw", "/dip/raw_points"))
                consumers.enter_context(
                    _xyzrgb_node(ros_logs, "xyzrgb_rect", "/camera/image_rect_color", "/dip/rect_points")
                )
                outputs = ("/dip/raw_points", "/dip/rect_points")
                wait_until(lambda: all(probe.node.count_publishers(t) > 0 for t in outputs), 30, "xyzrgb's publishers")
            wait_until(lambda: probe.node.count_publishers("/dip/points") > 0, 30, "point_cloud_xyz's publisher")
            readers = 3 if xyzrgb else 1
            wait_until(lambda: probe.node.count_subscribers("/depth/camera_info") >= readers, 30, "their subscriptions")
            wait_until(lambda: all(p.get_subscription_count() > 0 for p in inputs), 30, "the node's subscriptions")
            time.sleep(1.0)
            outputs_of_a_frame = [depth, info, ours, theirs]
            outputs_of_a_frame += [from_camera_info] if camera_info_too else []
            outputs_of_a_frame += [of_raw, of_rectified] if xyzrgb else []
            stamps = {}
            for rig in cases:
                # one frame at a time, its outputs awaited; depth_image_proc publishes best effort, and with four of
                # its nodes sending MB clouds at once on a loaded machine one is sometimes lost: the frame again
                for attempt in range(3):
                    stamp = probe.now_ns()
                    header = ros_msgs.make_header(probe.factory, stamp, CAMERA_FRAME)
                    pub_info.publish(ros_msgs.camera_info_from_model(probe.factory, rig.camera, header))
                    if external:
                        prediction = ros_msgs.image_from_array(probe.factory, rig.prediction, "32FC1", header)
                        pub_prediction.publish(prediction)
                    pub_image.publish(ros_msgs.image_from_array(probe.factory, rig.rgb, "rgb8", header))
                    if xyzrgb:
                        pub_rect.publish(ros_msgs.image_from_array(probe.factory, rectified[rig.name], "rgb8", header))
                    try:
                        wait_until(_arrived(outputs_of_a_frame, stamp), 10, f"the outputs of {rig.name}")
                        break
                    except AssertionError:
                        # our own outputs are reliable: only a depth_image_proc cloud may be sent again for
                        assert _arrived([depth, info, ours], stamp)(), f"our node published nothing for {rig.name}"
                        if attempt == 2:
                            raise
                        print(f"{rig.name}: a best-effort depth_image_proc cloud was lost; the frame again")
                stamps[stamp] = rig
        for collector in (depth, info, ours, theirs, from_camera_info, of_raw, of_rectified):
            probe.drop(collector)
        return [
            Published(rig, depth.by_stamp()[s], info.by_stamp()[s], ours.by_stamp()[s], theirs.by_stamp()[s],
                      from_camera_info.by_stamp().get(s), of_raw.by_stamp().get(s), of_rectified.by_stamp().get(s))
            for s, rig in stamps.items()
        ]  # fmt: skip


def check_point_cloud_xyz(published: Published, encoding: str) -> npt.NDArray[np.float32]:
    """Camera_info beside the depth image (:func:`_check_camera_info`), point_cloud_xyz's cloud equal to ours (NaN
    pattern, z identical, x / y to float32 rounding: 1e-5 m plus 4e-7 of them); returns its finite points (N, 3)."""
    image, rig = published.depth, published.rig
    _check_camera_info(published.camera_info, image)
    assert image.encoding == encoding
    a, b = xyz_of(published.ours), xyz_of(published.theirs)
    assert a.shape == b.shape == (image.height, image.width, 3), rig.name
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=rig.name)
    finite = np.isfinite(b[..., 2])
    np.testing.assert_array_equal(a[..., 2][finite], b[..., 2][finite], err_msg=rig.name)
    xy_a, xy_b = a[finite][:, :2], b[finite][:, :2]
    np.testing.assert_allclose(xy_a, xy_b, rtol=FLOAT32_RTOL, atol=XY_ATOL_M, err_msg=rig.name)
    return np.asarray(b[finite], dtype=np.float32)


@pytest.mark.parametrize(("downscale", "encoding"), [(1, "32FC1"), (2, "16UC1"), (3, "32FC1")])
def test_point_cloud_xyz_of_our_depth_and_camera_info_is_our_cloud_and_lands_on_the_velodyne_points(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, downscale: int, encoding: str
) -> None:
    """``image_is_rectified: false``, ``output.downscale`` N and ``output.encoding``: for each raw camera (see
    :func:`rigs`) the published camera_info has the depth image's header and size (rectified: no D, binning, roi),
    point_cloud_xyz_node rebuilds /depth/points from it (same NaN pattern, z identical, x / y to float rounding),
    and each of its points, projected into the raw camera, lies within one raw pixel of the Velodyne point whose z
    it carries (half a pixel where nothing is undistorted). At 1/1 (``cloud.rgb: true``) image_geometry fed the
    camera's own camera_info gives our cloud, and point_cloud_xyzrgb_node colours it as :func:`check_xyzrgb` says."""
    full = downscale == 1  # the camera's own camera_info and point_cloud_xyzrgb read our depth at its own size
    settings = {"model.output_kind": "metric", "scale.mode": "none", "output.downscale": downscale,
                "output.encoding": encoding, "output.edge_filter": False, "output.outlier_filter": False,
                "cloud.rgb": full}  # fmt: skip
    cases = rigs(kitti_frames[1], downscale)
    name = f"geometry_{downscale}_{encoding}"
    results = run_rigs(probe, ros_logs, name, settings, cases, external=True, camera_info_too=full, xyzrgb=full)
    assert [p.rig.name for p in results] == [rig.name for rig in cases]
    for published in results:
        rig = published.rig
        points = check_point_cloud_xyz(published, encoding)
        if full:  # image_geometry's reading of the camera's own P, binning and roi: the same cloud
            a, b = xyz_of(published.ours), xyz_of(published.from_camera_info)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=rig.name)
            finite = np.isfinite(b[..., 2])
            np.testing.assert_allclose(a[finite], b[finite], rtol=FLOAT32_RTOL, atol=XY_ATOL_M, err_msg=rig.name)
            check_xyzrgb(published)
        size = rig.camera.for_image(rig.rgb.shape[1], rig.rgb.shape[0]).rectified_intrinsics()
        assert (published.depth.width, published.depth.height) == (size.width // downscale, size.height // downscale)
        errors = _raw_pixel_error(points, rig, encoding == "16UC1")
        print(f"{rig.name} at 1/{downscale} {encoding}: {errors.size} points, raw-pixel error median "
              f"{np.median(errors):.3f}, max {errors.max():.3f}")  # fmt: skip
        assert errors.size > 300, rig.name
        # half a pixel from the scan's rounding, half from the undistortion's nearest raw pixel where there is one
        bound = 1.0 if rig.camera.has_distortion else 0.5
        assert errors.max() <= bound + 1e-3, (rig.name, np.sort(errors)[-5:])


def test_point_cloud_xyz_of_the_shipped_models_depth_of_raw_cameras_is_our_cloud(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The shipped model (96 x 320 input) at ``output.downscale: 0`` (auto) and 16UC1 on the same raw cameras: the
    network's map at the published size (1242 x 375 at 1/3: 414 x 125; 1237 x 371: 412 x 123; the raw cameras
    at 1/1), its camera_info beside it, and point_cloud_xyz_node's cloud of them equal to ours, with the steps
    after the network on its device (``output.device_postprocess: on``: torch's cloud, here on the CPU). The host
    road's cloud of these cameras is the first test's (its camera_info and cloud do not depend on the backend);
    test_ros2_interop's one-road test shows the device road's messages equal the host road's on KITTI."""
    settings = {"output.encoding": "16UC1", "scale.mode": "fixed", "scale.fixed_scale": 4.0,  # within 65.5 m
                "output.device_postprocess": "on"}  # fmt: skip
    cases = rigs(kitti_frames[1], 3)
    results = run_rigs(probe, ros_logs, "geometry_network", settings, cases, external=False)
    sizes = [(p.depth.width, p.depth.height) for p in results]
    assert sizes == [(414, 125), (412, 123), (449, 135), (451, 137), (447, 133), (400, 120)]
    for published in results:
        assert len(check_point_cloud_xyz(published, "16UC1")) > 0.3 * published.depth.width * published.depth.height


def check_xyzrgb(published: Published) -> None:
    """point_cloud_xyzrgb_node copies each point's colour from the pixel of the same row and column of the colour
    image it is given. Given the raw camera's image_raw, it colours our (undistorted) depth with the distorted
    image's pixels: not our cloud's colours (docs/ros2_node.md and README say to give it the rectified colour image);
    given the raw image rectified with the same calibration, it gives our ``cloud.rgb`` cloud: the same points and
    colours."""
    rig, mine = published.rig, published.ours
    xyz = xyz_of(mine)
    height, width = xyz.shape[:2]
    assert (width, height) == (rig.rgb.shape[1], rig.rgb.shape[0]), rig.name
    finite = np.isfinite(xyz[..., 2])
    assert finite.sum() > 5000, rig.name
    colour = {}
    for name, cloud in (("ours", mine), ("raw", published.xyzrgb_of_raw), ("rect", published.xyzrgb_of_rectified)):
        assert (cloud.height, cloud.width, cloud.point_step) == (height, width, 32), (rig.name, name)
        other = xyz_of(cloud)
        np.testing.assert_array_equal(np.isnan(other), np.isnan(xyz), err_msg=rig.name)
        np.testing.assert_array_equal(other[..., 2][finite], xyz[..., 2][finite], err_msg=rig.name)
        packed = np.frombuffer(bytes(cloud.data), "<u4").reshape(height, width, 8)[..., 4][finite]
        colour[name] = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=-1)
    np.testing.assert_array_equal(colour["rect"], colour["ours"], err_msg=rig.name)
    np.testing.assert_array_equal(colour["raw"], rig.rgb[finite], err_msg=rig.name)  # the same index, distorted
    wrong = np.abs(colour["raw"].astype(int) - colour["ours"].astype(int)).max(axis=1) > 20
    print(f"{rig.name}: xyzrgb fed image_raw: {wrong.mean():.0%} of {wrong.size} points > 20 levels off ours")
    assert wrong.mean() > 0.1, rig.name  # 21 % (the mild equidistant lens) to 44 % here


def _binned_kitti(kitti: KittiFrame, bx: int, by: int, roi: tuple[int, int, int, int]) -> Rig:
    """KITTI's rectified image as image_proc's crop_decimate publishes it: every b-th pixel of the roi, camera_info
    with the full-resolution K, P (P2, with its Tx), binning and roi (CameraInfo.msg)."""
    x, y, w, h = roi if roi[2] else (0, 0, 1242, 375)
    camera = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, kitti.projection[:, :3], np.eye(3), kitti.projection,
                         bx, by, roi)  # fmt: skip
    rgb = kitti.rgb[y : y + h // by * by : by, x : x + w // bx * bx : bx]
    return _rig(f"kitti binned {bx}x{by}, roi {roi}", kitti, camera, rgb)


def test_a_rectified_camera_with_binning_or_a_roi_gives_image_geometrys_cloud(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``image_is_rectified: true`` (image_rect), camera_info with binning and / or a roi (crop_decimate's output):
    our camera_info (no binning, no roi) beside the depth image, point_cloud_xyz_node fed it or fed the camera's own
    camera_info (image_geometry: fx / b, (cx - x_offset) / b from P) gives our cloud, and each point lies within half
    a published pixel of the Velodyne point whose z it carries."""
    kitti = kitti_frames[1]
    cases = [
        _binned_kitti(kitti, 2, 2, (100, 40, 800, 300)),
        _binned_kitti(kitti, 3, 3, (0, 0, 0, 0)),
        _binned_kitti(kitti, 1, 1, (301, 87, 449, 135)),
        _binned_kitti(kitti, 2, 1, (0, 100, 901, 201)),
    ]
    settings = {"image_is_rectified": True, "model.output_kind": "metric", "scale.mode": "none",
                "output.downscale": 1, "output.edge_filter": False, "output.outlier_filter": False}  # fmt: skip
    results = run_rigs(probe, ros_logs, "geometry_binned", settings, cases, external=True, camera_info_too=True)
    sizes = [(p.depth.width, p.depth.height) for p in results]
    assert sizes == [(400, 150), (414, 125), (449, 135), (450, 201)]
    for published in results:
        points = check_point_cloud_xyz(published, "32FC1")
        a, b = xyz_of(published.ours), xyz_of(published.from_camera_info)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=published.rig.name)
        finite = np.isfinite(b[..., 2])
        np.testing.assert_allclose(a[finite], b[finite], rtol=FLOAT32_RTOL, atol=XY_ATOL_M)
        errors = _raw_pixel_error(points, published.rig, mm=False)
        print(f"{published.rig.name}: {errors.size} points, pixel error median {np.median(errors):.3f}, "
              f"max {errors.max():.3f}")  # fmt: skip
        assert errors.size > 1000 and errors.max() <= 0.5 + 1e-3, published.rig.name
