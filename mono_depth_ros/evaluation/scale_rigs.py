"""Camera + LiDAR rigs built from real KITTI frames, run through ``mono-depth bag`` and scored (issue 15).

Two rigs, both with a 64-ring LiDAR (the KITTI HDL-64E scan split into 64 elevation bins): the node is given 16 of
the 64 rings (every 4th, :func:`~mono_depth_ros.evaluation.scale.beam_selection`), the other 48 are the truth.

* **rectified**: the KITTI image_2 as recorded (``image_is_rectified: true``), camera_info with P = K = P2's 3×3.
* **raw**: a raw 1920×1200 camera with strong plumb_bob distortion (:data:`RAW_DISTORTION`), made from the KITTI
  frame: every raw pixel's ray (K + D, undistorted) is looked up in the rectified KITTI image (the camera frame and
  the LiDAR extrinsic stay KITTI's). Its camera_info carries K, D and P as a raw driver's calibration does
  (P = ``cv2.getOptimalNewCameraMatrix(K, D, size, alpha=0)``, the pinhole image the node undistorts into); the node
  runs with ``image_is_rectified: false``. KITTI's 3.3:1 field of view fills the 1.6:1 frame, so its pixels are not
  square (fy ≈ 2.3 fx); the distortion acts in normalised coordinates, where it is as strong as asked.

The prediction is what a relative_inverse model (Depth-Anything-like) would publish for the image it sees, in that
image's pixels (the raw image for the raw rig): the true depth (all 64 rings, densified by nearest fill), times a
smooth error field (σ = :data:`PREDICTION_ERROR` in log), through an unknown affine map in inverse depth that differs
per frame (as such a model's normalisation does).

Scores (:func:`score_output`): AbsRel over the truth pixels within 80 m of the published (pinhole) depth image,
where a non-finite output at a truth pixel counts as error 1 (a miss); coverage = share of those truth pixels with a
finite output. The reference is the least-squares affine fit in inverse depth of the same prediction to all truth
(each truth point looks the prediction up where it projects in the prediction's own image, with K + D on the raw
rig).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.core.msg_factory import make_header
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_model,
    depth_image_from_metres,
    image_from_array,
    tf_message_from,
)
from mono_depth_ros.demo.bag_builder import BagBuilder, lidar_cloud
from mono_depth_ros.evaluation.scale import (
    EVAL_MAX_DEPTH_M,
    EVAL_MIN_DEPTH_M,
    beam_selection,
    elevation_bins,
    low_frequency_field,
)
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_rgb, load_velodyne

CAMERA_FRAME = "camera_optical"
LIDAR_FRAME = "velodyne"
IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
LIDAR_TOPIC = "/lidar/points"
PREDICTION_TOPIC = "/depth_model/prediction"
START_NS = 1_700_000_000_000_000_000
# KITTI object frames are unrelated snapshots: stamped 10 s apart (as the demo does) so that no temporal state of
# the scale recovery links one scene to the next (at 10 Hz every frame would be a scene cut).
PERIOD_NS = 10_000_000_000
RAW_SIZE = (1920, 1200)  # (width, height)
RAW_DISTORTION = (-0.3, 0.1, 0.002, -0.0015, 0.0)  # plumb_bob k1, k2, p1, p2, k3
PREDICTION_ERROR = 0.12  # σ of the smooth log error of the prediction
GIVEN_RINGS = 16
N_RINGS = 64
# The contract command: an external relative_inverse prediction scaled by the LiDAR.
CONTRACT_PARAMS = (
    "model.backend=external",
    "model.output_kind=relative_inverse",
    f"prediction_topic={PREDICTION_TOPIC}",
    f"lidar_topic={LIDAR_TOPIC}",
    "scale.mode=lidar",
)


@dataclass(frozen=True)
class RigFrame:
    """One frame of a rig: what the bag carries and the truth to score against.

    Attributes:
        name: KITTI frame name.
        rgb: (H, W, 3) uint8 image as published (raw rig: distorted).
        camera: the published calibration (rectified rig: P = K, no distortion; raw rig: K, D, P).
        image_is_rectified: the node's ``image_is_rectified`` for this rig.
        prediction: (H, W) float32 relative inverse depth in the published image's pixels (larger = nearer).
        given_scan: (N, 3) float32 metres, LiDAR frame: the 16 rings the node gets.
        truth_points: (M, 3) float64 metres, camera optical frame: the other 48 rings.
        truth_m: (h, w) float32 metres of ``truth_points`` in the pinhole image the node publishes (z-buffer),
            NaN where no point landed.
        cam_from_velo: LiDAR → camera optical frame.
    """

    name: str
    rgb: npt.NDArray[np.uint8]
    camera: CameraModel
    image_is_rectified: bool
    prediction: npt.NDArray[np.float32]
    given_scan: npt.NDArray[np.float32]
    truth_points: npt.NDArray[np.float64]
    truth_m: npt.NDArray[np.float32]
    cam_from_velo: RigidTransform

    @property
    def published_intrinsics(self) -> PinholeIntrinsics:
        """Intrinsics of the depth image the node publishes (P)."""
        return self.camera.intrinsics(self.image_is_rectified)


@dataclass(frozen=True)
class RigScore:
    """Scores of one output against one frame's truth (pixels with truth within 80 m)."""

    abs_rel: float  # misses (non-finite output) count as 1
    coverage: float  # share of truth pixels with a finite output
    count: int  # truth pixels


def split_rings(scan: npt.NDArray[np.floating], given: int = GIVEN_RINGS) -> tuple[npt.NDArray[np.bool_], ...]:
    """``(given_mask, truth_mask)`` over the scan's points: ``given`` of the 64 elevation rings, and the rest."""
    rings = elevation_bins(np.asarray(scan)[:, :3], N_RINGS)
    given_mask = np.isin(rings, beam_selection(given, N_RINGS))
    return given_mask, (rings >= 0) & ~given_mask


def raw_camera(
    kitti: PinholeIntrinsics, size: tuple[int, int] = RAW_SIZE, distortion: Sequence[float] = RAW_DISTORTION
) -> CameraModel:
    """A raw plumb_bob camera of ``size`` whose undistorted field of view lies inside the KITTI image's.

    fx, fy are chosen (a few fixed-point steps) so that the raw image's border pixels undistort to at most 97 % of
    KITTI's normalised extent on each side; P is the alpha=0 optimal new camera matrix (every rectified pixel sees
    the raw image), R = I.
    """
    import cv2

    width, height = size
    d = np.asarray(distortion, dtype=np.float64)
    x_max = 0.97 * min(kitti.cx, kitti.width - 1 - kitti.cx) / kitti.fx
    y_max = 0.97 * min(kitti.cy, kitti.height - 1 - kitti.cy) / kitti.fy
    cx, cy = (width - 1) / 2, (height - 1) / 2
    fx, fy = cx / x_max, cy / y_max
    border_u = np.concatenate([np.arange(width), np.arange(width), np.zeros(height), np.full(height, width - 1)])
    border_v = np.concatenate([np.zeros(width), np.full(width, height - 1), np.arange(height), np.arange(height)])
    for _ in range(20):
        x, y = undistorted_rays(border_u, border_v, (fx, fy, cx, cy), tuple(float(c) for c in d))
        fx *= float(np.max(np.abs(x))) / x_max
        fy *= float(np.max(np.abs(y))) / y_max
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    p, _ = cv2.getOptimalNewCameraMatrix(k, d, (width, height), 0.0, (width, height))
    return CameraModel(width, height, "plumb_bob", tuple(d), k, np.eye(3), np.hstack([p, np.zeros((3, 1))]))


def undistorted_rays(
    u: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    k: tuple[float, float, float, float],
    d: Sequence[float],
    iterations: int = 30,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Normalised undistorted ray coordinates ``x = X/Z, y = Y/Z`` of raw pixels ``u, v`` (K = fx, fy, cx, cy).

    Fixed-point inversion of the plumb_bob model (as cv2.undistortPoints, iterated to convergence: the strong
    distortion here needs more than OpenCV's default 5 iterations).
    """
    fx, fy, cx, cy = k
    k1, k2, p1, p2, k3 = (*(float(c) for c in d), 0.0, 0.0, 0.0, 0.0, 0.0)[:5]
    xd = (np.asarray(u, dtype=np.float64) - cx) / fx
    yd = (np.asarray(v, dtype=np.float64) - cy) / fy
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return x, y


def raw_rays(camera: CameraModel) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(H, W) normalised undistorted ray coordinates of every raw pixel of ``camera`` (K + D)."""
    raw = camera.raw_intrinsics()
    u, v = np.meshgrid(np.arange(raw.width, dtype=np.float64), np.arange(raw.height, dtype=np.float64))
    return undistorted_rays(u, v, (raw.fx, raw.fy, raw.cx, raw.cy), camera.d)


def inverse_affine_prediction(
    depth_m: npt.NDArray[np.floating], rng: np.random.Generator, error_sigma: float = PREDICTION_ERROR
) -> npt.NDArray[np.float32]:
    """``(1 / (depth · e^ε) - shift) / scale`` with ε a smooth field of std ``error_sigma``; scale, shift random."""
    h, w = depth_m.shape
    error = low_frequency_field(h, w, (3, 8), error_sigma, rng).astype(np.float64)
    inverse = 1.0 / (np.asarray(depth_m, dtype=np.float64) * np.exp(error))
    scale = math.exp(rng.uniform(math.log(0.02), math.log(0.5)))
    shift = rng.uniform(-0.3, 0.3) * float(np.nanmedian(inverse))
    return ((inverse - shift) / scale).astype(np.float32)


def load_rig_frames(
    kitti_object_dir: Path,
    raw: bool,
    names: Sequence[str] = ("000000", "000001", "000002"),
    seed: int = 0,
    raw_size: tuple[int, int] = RAW_SIZE,
) -> list[RigFrame]:
    """The KITTI object frames as one rig (``raw``: the distorted ``raw_size`` camera, else the rectified image)."""
    import cv2

    frames = []
    for index, name in enumerate(names):
        rng = np.random.default_rng([seed, index])
        rgb = load_rgb(kitti_object_dir / "image_2" / f"{name}.png")
        calib = load_object_calibration(kitti_object_dir / "calib" / f"{name}.txt", rgb.shape[1], rgb.shape[0])
        cam_from_velo = RigidTransform(
            calib.cam_from_velo.rotation, calib.cam_from_velo.translation, CAMERA_FRAME, LIDAR_FRAME
        )
        scan = load_velodyne(kitti_object_dir / "velodyne" / f"{name}.bin")
        given, truth = split_rings(scan)
        in_camera = cam_from_velo.apply(scan[:, :3].astype(np.float64))
        kitti = calib.intrinsics
        dense_m = densify_nearest(zbuffer_depth(in_camera[given | truth], kitti)[0])
        if raw:
            camera = raw_camera(kitti, raw_size)
            x, y = raw_rays(camera)
            map_u = (kitti.fx * x + kitti.cx).astype(np.float32)
            map_v = (kitti.fy * y + kitti.cy).astype(np.float32)
            image = np.asarray(cv2.remap(rgb, map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
            seen_m = np.asarray(
                cv2.remap(dense_m, map_u, map_v, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE), dtype=np.float32
            )
        else:
            camera = CameraModel.from_intrinsics(kitti)
            image, seen_m = rgb, dense_m
        truth_points = np.asarray(in_camera[truth], dtype=np.float64)
        published = camera.intrinsics(not raw)
        truth_m = zbuffer_depth(truth_points, published)[0]
        frames.append(
            RigFrame(
                name=name,
                rgb=np.ascontiguousarray(image, dtype=np.uint8),
                camera=camera,
                image_is_rectified=not raw,
                prediction=inverse_affine_prediction(seen_m, rng),
                given_scan=np.ascontiguousarray(scan[given, :3]),
                truth_points=truth_points,
                truth_m=truth_m,
                cam_from_velo=cam_from_velo,
            )
        )
    return frames


def write_rig_bag(path: Path, frames: Sequence[RigFrame], period_ns: int = PERIOD_NS) -> list[int]:
    """The rig as a rosbag2 (image, camera_info, 16-ring scan, /tf_static, prediction); returns the stamps."""
    stamps = []
    with BagBuilder(path) as bag:
        factory = bag.factory
        last_extrinsic: RigidTransform | None = None
        for index, frame in enumerate(frames):
            stamp_ns = START_NS + index * period_ns
            if last_extrinsic is None or not np.allclose(last_extrinsic.matrix, frame.cam_from_velo.matrix):
                static_ns = stamp_ns - 50_000_000  # each KITTI frame has its own calibration
                bag.add("/tf_static", tf_message_from(factory, [frame.cam_from_velo], static_ns), static_ns)
                last_extrinsic = frame.cam_from_velo
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            bag.add(LIDAR_TOPIC, lidar_cloud(factory, frame.given_scan, stamp_ns, LIDAR_FRAME), stamp_ns + 1_000_000)
            bag.add(CAMERA_INFO_TOPIC, camera_info_from_model(factory, frame.camera, header), stamp_ns + 2_000_000)
            bag.add(IMAGE_TOPIC, image_from_array(factory, frame.rgb, "rgb8", header), stamp_ns + 3_000_000)
            message = depth_image_from_metres(factory, frame.prediction, "32FC1", header)
            bag.add(PREDICTION_TOPIC, message, stamp_ns + 40_000_000)
            stamps.append(stamp_ns)
    return stamps


def rig_params(frames: Sequence[RigFrame], extra: Sequence[str] = ()) -> list[str]:
    """``--param`` arguments of the contract command for this rig (plus ``extra`` ``name=value`` settings)."""
    rectified = f"image_is_rectified={'true' if frames[0].image_is_rectified else 'false'}"
    args: list[str] = []
    for setting in (*CONTRACT_PARAMS, rectified, *extra):
        args += ["--param", setting]
    return args


def read_depth_images(path: Path) -> list[npt.NDArray[np.float32]]:
    """The /depth/image messages of an output bag as (H, W) float32 metres, in order."""
    from rosbags.rosbag2 import Reader

    from mono_depth_ros.bag.reader import typestore_for
    from mono_depth_ros.core.ros_msgs import depth_image_to_metres

    typestore = typestore_for("humble")
    images = []
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == "/depth/image"]
        for connection, _, raw in reader.messages(connections=connections):
            images.append(depth_image_to_metres(typestore.deserialize_cdr(raw, connection.msgtype)))
    return images


def score_output(depth_m: npt.NDArray[np.floating], truth_m: npt.NDArray[np.floating]) -> RigScore:
    """AbsRel (misses = 1) and coverage of a published depth image against the truth within 80 m."""
    truth = np.asarray(truth_m, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(truth) & (truth > EVAL_MIN_DEPTH_M) & (truth < EVAL_MAX_DEPTH_M)
    gt = truth[mask]
    pred = np.asarray(depth_m, dtype=np.float64)[mask]
    finite = np.isfinite(pred)
    error = np.ones_like(gt)
    clamped = np.clip(pred[finite], EVAL_MIN_DEPTH_M, EVAL_MAX_DEPTH_M)
    error[finite] = np.abs(clamped - gt[finite]) / gt[finite]
    count = int(gt.size)
    return RigScore(float(error.mean()) if count else math.nan, float(finite.mean()) if count else math.nan, count)


def prediction_at_points(frame: RigFrame, points_in_camera: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The prediction where each camera-frame point projects in the prediction's image (nearest pixel; NaN off it).

    Raw rig: projected with K + D (the raw image the model saw); rectified rig: with P.
    """
    import cv2

    camera = frame.camera
    points = np.asarray(points_in_camera, dtype=np.float64)
    if frame.image_is_rectified:
        k, d = camera.rectified_intrinsics().matrix, np.zeros(5)
    else:
        k, d = camera.raw_intrinsics().matrix, np.asarray(camera.d)
    in_front = points[:, 2] > EVAL_MIN_DEPTH_M
    values = np.full(points.shape[0], np.nan)
    pixels, _ = cv2.projectPoints(points[in_front], np.zeros(3), np.zeros(3), k, d)
    pixels = pixels.reshape(-1, 2)
    h, w = frame.prediction.shape
    finite: npt.NDArray[np.bool_] = np.all(np.isfinite(pixels), axis=1)  # distortion runs away far off the image
    uv = np.rint(np.clip(np.where(finite[:, None], pixels, -1.0), -1.0, 1e6)).astype(np.int64)
    inside = finite & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    looked_up = np.full(uv.shape[0], np.nan)
    looked_up[inside] = frame.prediction[uv[inside, 1], uv[inside, 0]]
    values[in_front] = looked_up
    return values


def truth_pixels(frame: RigFrame) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Flat indices of the published truth pixels and the camera-frame point that won each (z-buffer)."""
    _, winners = zbuffer_depth(frame.truth_points, frame.published_intrinsics)
    intrinsics = frame.published_intrinsics
    points = frame.truth_points[winners]
    u = np.rint(intrinsics.fx * points[:, 0] / points[:, 2] + intrinsics.cx).astype(np.intp)
    v = np.rint(intrinsics.fy * points[:, 1] / points[:, 2] + intrinsics.cy).astype(np.intp)
    return v * intrinsics.width + u, points


def least_squares_depth(frame: RigFrame, fit_points: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float32]:
    """The prediction mapped by the least-squares affine fit in inverse depth to ``fit_points``, at the truth pixels.

    Args:
        frame: the rig frame.
        fit_points: (N, 3) camera-frame points to fit to (within 80 m are used); None = all truth points (the
            reference, :func:`all_truth_least_squares_depth`). Each point reads the prediction where it projects in
            the prediction's own image.

    Returns:
        (h, w) float32 of the published size: the fitted depth at each truth pixel, NaN elsewhere.
    """
    flat, points = truth_pixels(frame)
    fit_to = points if fit_points is None else np.asarray(fit_points, dtype=np.float64)
    pred_fit = prediction_at_points(frame, fit_to)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(pred_fit) & (fit_to[:, 2] > EVAL_MIN_DEPTH_M) & (fit_to[:, 2] < EVAL_MAX_DEPTH_M)
    design = np.stack([pred_fit[ok], np.ones(int(ok.sum()))], axis=1)
    scale, shift = np.linalg.lstsq(design, 1.0 / fit_to[ok, 2], rcond=None)[0]
    inverse = scale * prediction_at_points(frame, points) + shift
    intrinsics = frame.published_intrinsics
    image = np.full(intrinsics.height * intrinsics.width, np.nan, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        image[flat] = np.where(inverse > 0, 1.0 / inverse, np.nan)
    return image.reshape(intrinsics.height, intrinsics.width)


def all_truth_least_squares_depth(frame: RigFrame) -> npt.NDArray[np.float32]:
    """:func:`least_squares_depth` fitted to all truth: the reference of the rig table. It minimises the squared
    inverse-depth error, not AbsRel, so it bounds nothing (a robust fit may score a lower AbsRel)."""
    return least_squares_depth(frame)


def given_rings_depth(frame: RigFrame) -> npt.NDArray[np.float32]:
    """:func:`least_squares_depth` fitted to the 16 given rings: a plain per-frame least squares, no robustness."""
    given = np.asarray(frame.cam_from_velo.apply(frame.given_scan.astype(np.float64)), dtype=np.float64)
    return least_squares_depth(frame, given)


def validated_removal(
    filtered_m: npt.NDArray[np.floating],
    unfiltered_m: npt.NDArray[np.floating],
    truth_m: npt.NDArray[np.floating],
    tolerance: float = 0.05,
) -> tuple[int, float]:
    """(count, share removed) of the LiDAR-validated pixels: truth within 80 m where the unfiltered output agrees
    with it within ``tolerance``; removed = finite there without the filter, not finite with it."""
    truth = np.asarray(truth_m, dtype=np.float64)
    plain = np.asarray(unfiltered_m, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(truth) & (truth < EVAL_MAX_DEPTH_M) & (np.abs(plain - truth) <= tolerance * truth)
    count = int(ok.sum())
    removed = ~np.isfinite(np.asarray(filtered_m, dtype=np.float64)[ok])
    return count, float(removed.mean()) if count else math.nan


def mean_score(scores: Sequence[RigScore]) -> RigScore:
    """Pixel-weighted mean over frames."""
    counts = np.array([s.count for s in scores], dtype=np.float64)
    total = float(counts.sum())
    abs_rel = float(np.dot(counts, [s.abs_rel for s in scores]) / total)
    coverage = float(np.dot(counts, [s.coverage for s in scores]) / total)
    return RigScore(abs_rel, coverage, int(total))


def describe(frames: Sequence[RigFrame]) -> dict[str, Any]:
    """Key facts of a rig for a report (size, K, D, P, points)."""
    camera = frames[0].camera
    return {
        "size": (camera.width, camera.height),
        "k": camera.k.round(2).tolist(),
        "d": camera.d,
        "p": camera.p.round(2).tolist(),
        "given_points": [int(f.given_scan.shape[0]) for f in frames],
        "truth_pixels": [int(np.isfinite(f.truth_m).sum()) for f in frames],
    }
