"""Build rosbag2 input bags from the real KITTI frames in ../shared/data (tests, acceptance checks, benchmarks).

Layout of a bag written by :func:`write_kitti_bag` (topic names are the node's defaults):

=========================  ===================================  =====================================================
topic                      type                                 content
=========================  ===================================  =====================================================
/camera/image_raw          sensor_msgs/Image (rgb8 or bgr8)      KITTI image_2, frame_id ``camera_optical``
/camera/image_raw/...      sensor_msgs/CompressedImage (png)     instead, with ``compressed=True`` (``.../compressed``)
/camera/camera_info        sensor_msgs/CameraInfo                P = calib P2 (with Tx), K = P2[:, :3], no distortion
/lidar/points              sensor_msgs/PointCloud2               Velodyne x, y, z, intensity float32 @ 0/4/8/12, frame
                                                                 ``velodyne``, stamped ``lidar_offset_ns`` off the image
/lidar/points              sensor_msgs/LaserScan                 instead, with ``laser_scan=True``: the 0° slice as a
                                                                 level 2D LiDAR sees it (:func:`velodyne_planar_scan`)
/tf_static                 tf2_msgs/TFMessage                    ``camera_optical`` <- ``velodyne`` from the calib,
                                                                 re-published when the next frame's calib differs
/depth_model/prediction    sensor_msgs/Image 32FC1 / 16UC1       optional external prediction with the image's stamp
=========================  ===================================  =====================================================

The external ``relative_inverse`` prediction is ``scale / depth + shift`` of the LiDAR depth densified by
nearest-neighbour fill, so a LiDAR scale+shift fit can recover metric depth exactly at the LiDAR pixels.
Frames are ``period_ns`` apart; bag (log) times are the header stamps plus small per-topic latencies.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.core.ros_msgs import (
    MessageFactory,
    camera_info_from_model,
    compressed_image_from_array,
    depth_image_from_metres,
    image_from_array,
    make_header,
    pointcloud2_from_structured,
    tf_message_from,
)
from mono_depth_ros.demo.bag_builder import BagBuilder
from mono_depth_ros.evaluation.scale_rigs import (  # the rig bags and these share one layout
    CAMERA_FRAME,
    CAMERA_INFO_TOPIC,
    IMAGE_TOPIC,
    LIDAR_FRAME,
    LIDAR_TOPIC,
    PREDICTION_TOPIC,
    START_NS,
)
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_rgb, load_velodyne, read_calib_file

PERIOD_NS = 100_000_000  # 10 Hz, like KITTI
LIDAR_OFFSET_NS = -30_000_000  # the scan is stamped 30 ms before the image (nearest pairing must still find it)
PREDICTION_SCALE, PREDICTION_SHIFT = 0.37, 0.05  # relative_inverse = scale / depth + shift ("unknown" to the runner)
VELODYNE_DTYPE = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": ["<f4"] * 4, "offsets": [0, 4, 8, 12]})
Distro = Literal["humble", "jazzy"]


@dataclass(frozen=True)
class KittiFrame:
    """One KITTI object frame, everything in the units the core uses.

    Attributes:
        name: file stem (``"000001"``).
        rgb: (H, W, 3) uint8 RGB.
        projection: (3, 4) float64 P2 of the calib file (pixels; includes the baseline Tx).
        intrinsics: rectified pinhole intrinsics (P2's left 3x3) at the image size.
        cam_from_velo: Velodyne → camera optical frame.
        scan: (N, 4) float32 x, y, z (metres, Velodyne frame), reflectance.
        lidar_depth_m: (H, W) float32 depth of the scan projected into the image (z-buffer), NaN where none.
    """

    name: str
    rgb: npt.NDArray[np.uint8]
    projection: npt.NDArray[np.float64]
    intrinsics: PinholeIntrinsics
    cam_from_velo: RigidTransform
    scan: npt.NDArray[np.float32]
    lidar_depth_m: npt.NDArray[np.float32]


@dataclass(frozen=True)
class BagFrame:
    """What a bag holds for one frame: the stamp the outputs must carry, and the truth to check them against."""

    stamp_ns: int
    frame: KittiFrame


def load_kitti_frames(
    kitti_object_dir: Path, names: Sequence[str] = ("000000", "000001", "000002")
) -> list[KittiFrame]:
    """Read KITTI object frames (image_2, velodyne, calib) from ``.../kitti_object_3frames/training``."""
    frames = []
    for name in names:
        rgb = load_rgb(kitti_object_dir / "image_2" / f"{name}.png")
        height, width = rgb.shape[:2]
        calib_path = kitti_object_dir / "calib" / f"{name}.txt"
        calib = load_object_calibration(calib_path, width, height)
        cam_from_velo = RigidTransform(
            calib.cam_from_velo.rotation, calib.cam_from_velo.translation, CAMERA_FRAME, LIDAR_FRAME
        )
        scan = load_velodyne(kitti_object_dir / "velodyne" / f"{name}.bin")
        lidar_depth_m, _ = zbuffer_depth(cam_from_velo.apply(scan[:, :3].astype(np.float64)), calib.intrinsics)
        projection = read_calib_file(calib_path)["P2"].reshape(3, 4)
        frames.append(KittiFrame(name, rgb, projection, calib.intrinsics, cam_from_velo, scan, lidar_depth_m))
    return frames


def relative_inverse_prediction(depth_m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A Depth-Anything-like prediction: ``PREDICTION_SCALE / depth + PREDICTION_SHIFT`` (larger = nearer)."""
    return (np.float32(PREDICTION_SCALE) / depth_m + np.float32(PREDICTION_SHIFT)).astype(np.float32)


def velodyne_cloud(factory: MessageFactory, scan: npt.NDArray[np.float32], stamp_ns: int, frame_id: str) -> Any:
    """(N, 4) x, y, z, intensity → unorganized PointCloud2 (float32 @ 0/4/8/12, point_step 16)."""
    points = np.zeros(scan.shape[0], dtype=VELODYNE_DTYPE)
    for column, name in enumerate(("x", "y", "z", "intensity")):
        points[name] = scan[:, column]
    is_dense = bool(np.isfinite(scan[:, :3]).all())
    header = make_header(factory, stamp_ns, frame_id)
    return pointcloud2_from_structured(factory, header, points, 1, scan.shape[0], is_dense)


def velodyne_planar_scan(
    factory: MessageFactory, scan: npt.NDArray[np.float32], stamp_ns: int, frame_id: str, beams: int = 1800
) -> Any:
    """The Velodyne's points near 0° elevation as a planar LiDAR's ``sensor_msgs/LaserScan`` (a 2D LiDAR mounted
    level at the Velodyne's origin): for beam ``i`` (at ``-π + i * 2π / beams``), of the points within half a beam of
    it and within ±0.25° of the horizontal plane, the horizontal range of the flattest; NaN where none (REP 117)."""
    x, y, z = (scan[:, k].astype(np.float64) for k in range(3))
    horizontal_m = np.hypot(x, y)
    elevation = np.abs(np.arctan2(z, horizontal_m))
    increment = 2 * np.pi / beams
    beam = np.round((np.arctan2(y, x) + np.pi) / increment).astype(np.int64) % beams
    near = np.flatnonzero(elevation < np.deg2rad(0.25))
    order = near[np.lexsort((elevation[near], beam[near]))]  # by beam, the flattest first
    first = order[np.unique(beam[order], return_index=True)[1]]
    ranges = np.full(beams, np.nan, np.float32)
    ranges[beam[first]] = horizontal_m[first]
    return factory.new(
        "sensor_msgs/msg/LaserScan",
        header=make_header(factory, stamp_ns, frame_id),
        angle_min=-np.pi,
        angle_max=np.pi - increment,
        angle_increment=increment,
        time_increment=0.1 / beams,  # a 10 Hz spin
        scan_time=0.1,
        range_min=0.5,
        range_max=120.0,
        ranges=factory.float32_sequence(ranges),
        intensities=factory.float32_sequence(np.zeros(0, np.float32)),
    )


def kitti_camera_info(factory: MessageFactory, frame: KittiFrame, stamp_ns: int, frame_id: str = CAMERA_FRAME) -> Any:
    """CameraInfo of a KITTI rectified image: P = P2 (with Tx), K = P2[:, :3], R = I, no distortion."""
    height, width = frame.rgb.shape[:2]
    model = CameraModel(
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=(0.0,) * 5,
        k=frame.projection[:, :3],
        r=np.eye(3),
        p=frame.projection,
    )
    return camera_info_from_model(factory, model, make_header(factory, stamp_ns, frame_id))


def write_kitti_bag(
    path: Path,
    frames: Sequence[KittiFrame],
    *,
    distro: Distro = "humble",
    storage: str = "sqlite3",
    image_encoding: str = "rgb8",
    compressed: bool = False,
    lidar: bool = True,
    laser_scan: bool = False,
    tf_static: bool = True,
    prediction: Literal["none", "relative_inverse", "metric"] = "none",
    prediction_encoding: str = "32FC1",
    start_ns: int = START_NS,
    period_ns: int = PERIOD_NS,
    lidar_offset_ns: int = LIDAR_OFFSET_NS,
    tf_around: Sequence[int] | None = None,
    static_extra: Sequence[RigidTransform] = (),
    cut_scans: Sequence[int] = (),
    drop_scans: Sequence[int] = (),
) -> list[BagFrame]:
    """Write ``frames`` as a rosbag2 (layout in the module docstring); returns each frame with its stamp.

    ``laser_scan``: the LiDAR topic carries :func:`velodyne_planar_scan` (``sensor_msgs/LaserScan``) instead.
    ``tf_around``: the extrinsic goes on ``/tf`` (a LiDAR on a moving mount) instead of ``/tf_static``, at 10 Hz from
    200 ms before to 200 ms after the stamps of these frames only (a recording whose /tf has gaps, starts late or
    ends early).
    ``static_extra``: more transforms for every ``/tf_static`` message (a robot's ``base_footprint`` <- camera).
    ``cut_scans``: the scans of these frames are recorded cut to 3000 bytes (header readable, no message);
    ``drop_scans``: these frames' scans are not recorded (what a node that never decoded them saw).
    """
    written = []
    with BagBuilder(path, distro, storage) as bag:
        factory = bag.factory
        last_extrinsic: RigidTransform | None = None
        for index, frame in enumerate(frames):
            stamp_ns = start_ns + index * period_ns
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            if (
                tf_static
                and tf_around is None
                and (last_extrinsic is None or not np.allclose(last_extrinsic.matrix, frame.cam_from_velo.matrix))
            ):
                static_ns = stamp_ns - period_ns // 2
                transforms = [frame.cam_from_velo, *static_extra]
                bag.add("/tf_static", tf_message_from(factory, transforms, static_ns), static_ns)
                last_extrinsic = frame.cam_from_velo
            if tf_around is not None and index in tf_around:
                for tf_ns in range(stamp_ns - 200_000_000, stamp_ns + 200_000_001, 100_000_000):
                    bag.add("/tf", tf_message_from(factory, [frame.cam_from_velo], tf_ns), tf_ns)
            if lidar and index not in drop_scans:
                scan_ns = stamp_ns + lidar_offset_ns
                make = velodyne_planar_scan if laser_scan else velodyne_cloud
                scan = make(factory, frame.scan, scan_ns, LIDAR_FRAME)
                if index in cut_scans:
                    msgtype = str(scan.__msgtype__)
                    cut = bag.typestore.serialize_cdr(scan, msgtype)[:3000]
                    bag.write_raw(LIDAR_TOPIC, msgtype, cut, scan_ns + 5_000_000)
                else:
                    bag.add(LIDAR_TOPIC, scan, scan_ns + 5_000_000)
            bag.add(CAMERA_INFO_TOPIC, kitti_camera_info(factory, frame, stamp_ns), stamp_ns + 1_000_000)
            if compressed:
                image_msg = compressed_image_from_array(factory, frame.rgb, header, codec="png")
                bag.add(IMAGE_TOPIC + "/compressed", image_msg, stamp_ns + 2_000_000)
            else:
                pixels = frame.rgb if image_encoding == "rgb8" else np.ascontiguousarray(frame.rgb[..., ::-1])
                bag.add(IMAGE_TOPIC, image_from_array(factory, pixels, image_encoding, header), stamp_ns + 2_000_000)
            if prediction != "none":
                dense_m = densify_nearest(frame.lidar_depth_m)
                values = relative_inverse_prediction(dense_m) if prediction == "relative_inverse" else dense_m
                message = depth_image_from_metres(factory, values, prediction_encoding, header)
                bag.add(PREDICTION_TOPIC, message, stamp_ns + 40_000_000)  # arrives after the image (model latency)
            written.append(BagFrame(stamp_ns, frame))
    return written


def write_static_correction_bag(
    path: Path,
    frame: KittiFrame,
    *,
    n_frames: int = 6,
    corrected_at: int = 3,
    offset_m: float = 3.0,
    correction_stamp_ns: int = START_NS - 2 * PERIOD_NS,
) -> list[int]:
    """``n_frames`` copies of one KITTI frame (10 Hz; scan stamped with its image; the external relative inverse
    prediction) whose ``/tf_static`` extrinsic is first ``offset_m`` off along the optical axis (stamped a period
    before the first image), then corrected: the right value is recorded half a period before image
    ``corrected_at``, stamped ``correction_stamp_ns`` (by default before the first value: a calibration tool that
    stamps 0 or its start time). Returns the image stamps."""
    right = frame.cam_from_velo
    wrong = RigidTransform(
        right.rotation, right.translation + np.array([0.0, 0.0, offset_m]), CAMERA_FRAME, LIDAR_FRAME
    )
    prediction = relative_inverse_prediction(densify_nearest(frame.lidar_depth_m))
    stamps = [START_NS + index * PERIOD_NS for index in range(n_frames)]
    with BagBuilder(path) as bag:
        factory = bag.factory
        bag.add("/tf_static", tf_message_from(factory, [wrong], START_NS - PERIOD_NS), START_NS - PERIOD_NS)
        for index, stamp_ns in enumerate(stamps):
            if index == corrected_at:
                correction = tf_message_from(factory, [right], correction_stamp_ns)
                bag.add("/tf_static", correction, stamp_ns - PERIOD_NS // 2)
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            bag.add(LIDAR_TOPIC, velodyne_cloud(factory, frame.scan, stamp_ns, LIDAR_FRAME), stamp_ns)
            bag.add(CAMERA_INFO_TOPIC, kitti_camera_info(factory, frame, stamp_ns), stamp_ns + 1_000_000)
            bag.add(IMAGE_TOPIC, image_from_array(factory, frame.rgb, "rgb8", header), stamp_ns + 2_000_000)
            message = depth_image_from_metres(factory, prediction, "32FC1", header)
            bag.add(PREDICTION_TOPIC, message, stamp_ns + 3_000_000)
    return stamps


def write_depth_gt_bag(
    path: Path, kitti_depth_dir: Path, *, distro: Distro = "humble"
) -> list[tuple[int, npt.NDArray[np.float32]]]:
    """metric3d_kitti_demo frames as a bag with a **metric** external prediction = the GT depth (16UC1, no LiDAR).

    Returns:
        ``(stamp_ns, gt_depth_m)`` per frame; gt is (H, W) float32 metres with NaN where the annotation has none.
    """
    import json

    from mono_depth_ros.training.data.kitti_files import load_depth_png

    annotations = json.loads((kitti_depth_dir / "test_annotations.json").read_text())["files"]
    written = []
    with BagBuilder(path, distro) as bag:
        factory = bag.factory
        for index, entry in enumerate(sorted(annotations, key=lambda e: e["rgb"])):
            stem = Path(entry["rgb"]).name
            rgb = load_rgb(kitti_depth_dir / "rgb" / stem)
            gt_m = load_depth_png(kitti_depth_dir / "depth" / Path(entry["depth"]).name, float(entry["depth_scale"]))
            fx, fy, cx, cy = (float(v) for v in entry["cam_in"])
            intrinsics = PinholeIntrinsics(fx, fy, cx, cy, width=rgb.shape[1], height=rgb.shape[0])
            stamp_ns = START_NS + index * PERIOD_NS
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            model = CameraModel.from_intrinsics(intrinsics)
            bag.add(CAMERA_INFO_TOPIC, camera_info_from_model(factory, model, header), stamp_ns)
            bag.add(IMAGE_TOPIC, image_from_array(factory, rgb, "rgb8", header), stamp_ns + 1_000_000)
            bag.add(PREDICTION_TOPIC, depth_image_from_metres(factory, gt_m, "16UC1", header), stamp_ns + 30_000_000)
            written.append((stamp_ns, gt_m))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m test.kitti_bag OUT [--prediction relative_inverse] ...``: write a KITTI input bag."""
    import argparse

    from test.conftest import shared_data_dir

    parser = argparse.ArgumentParser(description="Write a rosbag2 of the KITTI frames in ../shared/data.")
    parser.add_argument("output", type=Path, help="bag folder to create")
    parser.add_argument("--frames", nargs="+", default=["000000", "000001", "000002"], help="KITTI frame names")
    parser.add_argument("--prediction", choices=("none", "relative_inverse", "metric"), default="none")
    parser.add_argument("--prediction-encoding", choices=("32FC1", "16UC1"), default="32FC1")
    parser.add_argument("--image-encoding", choices=("rgb8", "bgr8"), default="rgb8")
    parser.add_argument("--compressed", action="store_true", help="png CompressedImage on .../compressed")
    parser.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    parser.add_argument("--distro", choices=("humble", "jazzy"), default="humble")
    args = parser.parse_args(argv)
    frames = load_kitti_frames(shared_data_dir() / "kitti_object_3frames" / "training", args.frames)
    written = write_kitti_bag(
        args.output,
        frames,
        distro=args.distro,
        storage=args.storage,
        image_encoding=args.image_encoding,
        compressed=args.compressed,
        prediction=args.prediction,
        prediction_encoding=args.prediction_encoding,
    )
    sys.stdout.write(f"wrote {len(written)} frames to {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
