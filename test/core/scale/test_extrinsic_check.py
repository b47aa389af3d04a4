"""ExtrinsicCheck on real KITTI frames: KITTI's own calibration stays quiet, the frame mistakes users make are named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.extrinsic_check import (
    ExtrinsicCheck,
    ExtrinsicCheckConfig,
    ExtrinsicVerdict,
    ViewStats,
    rank_agreement,
    view_stats,
)
from test.kitti_bag import KittiFrame, load_kitti_frames

# body_from_optical (REP 103 body x forward, y left, z up <- optical z forward, x right, y down)
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
ROLL_180 = np.diag([-1.0, -1.0, 1.0])
UPSIDE_DOWN = np.diag([1.0, -1.0, -1.0])
YAW_90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _rotation(matrix: np.ndarray) -> RigidTransform:
    return RigidTransform(matrix, np.zeros(3))


def _named(t: RigidTransform) -> RigidTransform:
    return RigidTransform(t.rotation, t.translation, "camera_optical", "velodyne")


# What TF says (cam_from_lidar as used) when the user made each mistake; argument: KITTI's true transform.
MISTAKES: dict[str, Callable[[RigidTransform], RigidTransform]] = {
    "roll_180": lambda t: _rotation(ROLL_180) @ t,  # camera / optical frame rolled 180° in TF
    "lidar_upside_down": lambda t: t @ _rotation(UPSIDE_DOWN),  # an Ouster mounted upside down, TF says upright
    "body_frame": lambda t: _rotation(BODY_FROM_OPTICAL) @ t,  # image stamped camera_link (x forward) as optical
    "inverted": lambda t: t.inverse(),  # static_transform_publisher with parent and child swapped
}


@pytest.fixture(scope="module")
def kitti(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)


def _verdict(
    frames: list[KittiFrame], mistake: Callable[[RigidTransform], RigidTransform] | None
) -> ExtrinsicVerdict | None:
    check = ExtrinsicCheck()
    verdict = None
    for frame in frames:
        given = frame.cam_from_velo if mistake is None else mistake(frame.cam_from_velo)
        verdict = check.observe(frame.scan[:, :3], _named(given), frame.intrinsics)
    return verdict


def test_kitti_calibration_is_not_flagged(kitti: list[KittiFrame]) -> None:
    assert _verdict(kitti, None) is None


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_frame_mistake_on_real_kitti_scans_is_named_with_its_remedy(kitti: list[KittiFrame], name: str) -> None:
    verdict = _verdict(kitti, MISTAKES[name])
    assert verdict is not None and verdict.mistake == name
    assert "camera_optical" in verdict.text or "velodyne" in verdict.text  # the user's frames are named
    assert "Remedy:" in verdict.text


def test_no_verdict_before_the_configured_number_of_scans(kitti: list[KittiFrame]) -> None:
    assert _verdict(kitti[:2], MISTAKES["roll_180"]) is None  # two scans of three: not yet


def test_a_transform_fixed_at_run_time_clears_the_verdict(kitti: list[KittiFrame]) -> None:
    check = ExtrinsicCheck(ExtrinsicCheckConfig(frames=2))
    for frame in kitti[:2]:
        verdict = check.observe(frame.scan[:, :3], _named(MISTAKES["roll_180"](frame.cam_from_velo)), frame.intrinsics)
    assert verdict is not None
    fixed = kitti[2]
    assert check.observe(fixed.scan[:, :3], _named(fixed.cam_from_velo), fixed.intrinsics) is None


def test_view_stats_counts_the_nearest_points_below_the_principal_point(kitti: list[KittiFrame]) -> None:
    frame = kitti[0]
    upright = view_stats(frame.scan[:, :3], frame.cam_from_velo.matrix, frame.intrinsics)
    flipped = view_stats(frame.scan[:, :3], (_rotation(ROLL_180) @ frame.cam_from_velo).matrix, frame.intrinsics)
    assert upright.near_low_share > 0.9 and flipped.near_low_share < 0.1
    assert 15_000 < upright.in_image < 25_000  # the README: 18-20k of ~120k land in the image
    assert np.isnan(ViewStats(10, 0, 0, 0).near_low_share)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="upside_down_share"):
        ExtrinsicCheckConfig(upside_down_share=0.7, upright_share=0.6)


def _yaw(degrees: float) -> RigidTransform:
    """A rotation about the LiDAR's z (spin) axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return _rotation(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))


@pytest.fixture(scope="module")
def predictions(kitti: list[KittiFrame]) -> list[tuple[np.ndarray, PinholeIntrinsics]]:
    """The shipped model's depth of each KITTI frame (no scale correction) at the published size, with intrinsics."""
    from mono_depth_ros.models.depth_source import build_depth_source
    from mono_depth_ros.pipeline import DepthPipeline, FrameInput

    params = {"scale.mode": "none"}
    pipeline = DepthPipeline(params, build_depth_source(params))
    outputs = [
        pipeline.process_frame(FrameInput(0, "camera_optical", f.rgb, CameraModel.from_intrinsics(f.intrinsics)))
        for f in kitti
    ]
    return [(out.depth_m, out.intrinsics) for out in outputs]


def _yaw_verdict(
    frames: list[KittiFrame],
    predictions: list[tuple[np.ndarray, PinholeIntrinsics]],
    given_yaw_deg: float,
    kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE,
) -> ExtrinsicVerdict | None:
    check = ExtrinsicCheck()
    verdict = None
    for frame, (depth, intrinsics) in zip(frames, predictions, strict=True):
        prediction = 1.0 / depth if kind is OutputKind.RELATIVE_INVERSE else depth
        given = _named(frame.cam_from_velo @ _yaw(given_yaw_deg))
        verdict = check.observe(frame.scan[:, :3], given, intrinsics, prediction, kind)
    return verdict


@pytest.mark.parametrize("kind", [OutputKind.DEPTH_UP_TO_SCALE, OutputKind.RELATIVE_INVERSE])
@pytest.mark.parametrize("given_yaw_deg", [90.0, -90.0])
def test_a_lidar_turned_a_quarter_about_its_spin_axis_is_named_from_the_prediction(
    kitti: list[KittiFrame],
    predictions: list[tuple[np.ndarray, PinholeIntrinsics]],
    given_yaw_deg: float,
    kind: OutputKind,
) -> None:
    # Both scan signatures hold for a yawed 360° LiDAR; the network's depth disagrees with the points it meets.
    assert _verdict(kitti, lambda t: t @ _yaw(given_yaw_deg)) is None
    verdict = _yaw_verdict(kitti, predictions, given_yaw_deg, kind)
    correction = -given_yaw_deg % 360
    assert verdict is not None and verdict.mistake == f"yaw_{correction:.0f}", verdict
    assert "velodyne" in verdict.text and "Remedy:" in verdict.text and "--yaw" in verdict.text


@pytest.mark.parametrize("kind", [OutputKind.DEPTH_UP_TO_SCALE, OutputKind.RELATIVE_INVERSE])
def test_kitti_calibration_with_the_prediction_is_not_flagged(
    kitti: list[KittiFrame], predictions: list[tuple[np.ndarray, PinholeIntrinsics]], kind: OutputKind
) -> None:
    assert _yaw_verdict(kitti, predictions, 0.0, kind) is None


def test_a_prediction_that_agrees_with_nothing_names_no_yaw(
    kitti: list[KittiFrame], predictions: list[tuple[np.ndarray, PinholeIntrinsics]]
) -> None:
    rng = np.random.default_rng(0)
    noise = [(rng.uniform(1.0, 80.0, depth.shape).astype(np.float32), k) for depth, k in predictions]
    assert _yaw_verdict(kitti, noise, 90.0) is None


def test_rank_agreement_is_the_rank_correlation_with_the_sign_of_the_kind(kitti: list[KittiFrame]) -> None:
    frame = kitti[0]
    truth = np.where(np.isfinite(frame.lidar_depth_m), frame.lidar_depth_m, np.nan).astype(np.float32)
    m = frame.cam_from_velo.matrix
    depth = rank_agreement(frame.scan[:, :3], m, frame.intrinsics, truth, OutputKind.METRIC)
    inverse = rank_agreement(frame.scan[:, :3], m, frame.intrinsics, 1.0 / truth, OutputKind.RELATIVE_INVERSE)
    assert depth.pairs > 10_000 and depth.rho > 0.99  # the scan's own z-buffered depth: (nearly) the same ranks
    assert inverse.pairs == depth.pairs and inverse.rho == pytest.approx(depth.rho)
    two = rank_agreement(frame.scan[:2, :3], m, frame.intrinsics, truth, OutputKind.METRIC)
    assert two.pairs <= 2 and np.isnan(two.rho)


def _planar(frame: KittiFrame) -> np.ndarray:
    """The frame's Velodyne points near 0° elevation as a level 2D LiDAR's LaserScan gives them (z = 0)."""
    from mono_depth_ros.core.msg_laser_scan import points_from_laser_scan
    from test.core.ros_msg_support import rosbags_factory
    from test.kitti_bag import velodyne_planar_scan

    message = velodyne_planar_scan(rosbags_factory("humble"), frame.scan, 0, "velodyne")
    return points_from_laser_scan(message).points_in_laser


def test_a_correct_planar_lidar_above_the_cameras_axis_is_not_called_upside_down(kitti: list[KittiFrame]) -> None:
    """A 2D LiDAR scans one plane, with no ground: its nearest points are walls at the scan's height, above the
    principal point row when the LiDAR sits above the camera (the Velodyne is 0.08 m above KITTI's camera). The
    ground signature must not name a mistake (it named 'rolled 180°' on KITTI's own calibration and the LiDAR
    scale was refused)."""
    check = ExtrinsicCheck()
    verdicts = [check.observe(_planar(frame), _named(frame.cam_from_velo), frame.intrinsics) for frame in kitti]
    assert _planar(kitti[0]).shape[0] > check.config.min_points  # looked at: dense enough
    assert verdicts == [None, None, None]


@pytest.mark.parametrize("given_yaw_deg", [90.0, -90.0])
def test_a_planar_lidar_turned_a_quarter_is_flagged_without_naming_a_turn_it_cannot_tell(
    kitti: list[KittiFrame], predictions: list[tuple[np.ndarray, PinholeIntrinsics]], given_yaw_deg: float
) -> None:
    """One scan plane meets the image in a few hundred points and sees no ground: the turn that agrees best with the
    network is not always the right one (given +90°, the half-turned view scored 0.775 against the true view's
    0.644: it named yaw_90 where yaw_270 corrects it). The transform is said to look wrong, about its yaw, with no
    number of degrees to apply; KITTI's own calibration stays quiet."""
    check, verdict = ExtrinsicCheck(), None
    for frame, (depth, intrinsics) in zip(kitti, predictions, strict=True):
        given = _named(frame.cam_from_velo @ _yaw(given_yaw_deg))
        verdict = check.observe(_planar(frame), given, intrinsics, depth, OutputKind.DEPTH_UP_TO_SCALE)
    assert verdict is not None and verdict.mistake == "unknown", verdict
    assert "yaw" in verdict.text and "velodyne" in verdict.text and "one scan plane" in verdict.text
    quiet = ExtrinsicCheck()
    for frame, (depth, intrinsics) in zip(kitti, predictions, strict=True):
        verdict = quiet.observe(_planar(frame), _named(frame.cam_from_velo), intrinsics, depth)
    assert verdict is None


def test_ranks_and_subsample_are_those_of_the_row_wise_and_double_sort_forms(kitti: list[KittiFrame]) -> None:
    """The look's cheaper forms give the same numbers on real scans: ranks by a scatter = ``argsort(argsort)`` (ties
    included: a float16 copy has thousands), the per-column validity = the row-wise ``isfinite`` / non-zero test, and
    the rank correlation that of the double sort."""
    from mono_depth_ros.core.scale.extrinsic_check import _ranks, _valid_subsample

    for frame in kitti:
        depth = np.linalg.norm(frame.scan[:, :3], axis=1).astype(np.float16).astype(np.float64)
        assert np.unique(depth).size < depth.size // 10  # ties
        np.testing.assert_array_equal(_ranks(depth), np.argsort(np.argsort(depth)).astype(np.float64))
        points = np.asfortranarray(frame.scan[:, :3].astype(np.float32))
        points[::50] = 0.0
        points[7::50, 1] = np.nan
        sub = points[:: max(1, -(-points.shape[0] // 16_000))]
        rows = sub[np.isfinite(sub).all(axis=1) & np.any(sub != 0, axis=1)]
        np.testing.assert_array_equal(_valid_subsample(points, 8_000), rows[:: -(-rows.shape[0] // 8_000)])
        m = frame.cam_from_velo.matrix  # the agreement with the double sort, written out
        cam = rows.astype(np.float64) @ m[:3, :3].T + m[:3, 3]
        front = cam[:, 2] > 0.5
        z = cam[front, 2]
        intr = frame.intrinsics
        u, v = np.rint(cam[front, 0] / z * intr.fx + intr.cx), np.rint(cam[front, 1] / z * intr.fy + intr.cy)
        inside = (u >= 0) & (u < intr.width) & (v >= 0) & (v < intr.height)
        prediction = np.where(np.isfinite(frame.lidar_depth_m), frame.lidar_depth_m, np.nan).astype(np.float16)
        values = prediction[v[inside].astype(int), u[inside].astype(int)].astype(np.float64)
        valid = np.isfinite(values)
        ranks = [np.argsort(np.argsort(a[valid])).astype(np.float64) for a in (values, z[inside])]
        agreement = rank_agreement(rows, m, intr, prediction, OutputKind.METRIC)
        assert agreement.pairs == np.count_nonzero(valid) > 1000
        assert agreement.rho == float(np.corrcoef(*ranks)[0, 1]) > 0.9


def test_a_correct_front_lidar_barely_overlapping_a_side_camera_is_not_given_a_wrong_mistake(
    kitti: list[KittiFrame],
) -> None:
    """A solid-state front LiDAR (70° x 25°: the real scans' points within ±35° azimuth, -20° to +5° elevation, every
    4th) and a camera turned 77° to the side, TF right: their fields of view meet at the image's edge, where the
    scans put 3 of the 16.7k points looked at. Mirrored by the roll-180 correction, 70 landed in the image, the nearest
    15 of them 60 % in the lower half (the upright mark), and the check named 'roll_180' (camera rolled 180°, with
    that remedy) for a correct transform. The share of a correction's nearest points is now judged on at least 10 per
    frame, as the given transform's is: the check says that next to no point lands in the image and names no
    mistake."""
    check = ExtrinsicCheck()
    angle = np.radians(77.0)
    turned = np.array([[np.cos(angle), 0.0, -np.sin(angle)], [0.0, 1.0, 0.0], [np.sin(angle), 0.0, np.cos(angle)]])
    verdict = None
    for frame in kitti:
        points = frame.scan[:, :3]
        azimuth = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
        elevation = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
        front = points[(np.abs(azimuth) < 35.0) & (elevation > -20.0) & (elevation < 5.0)][::4]
        verdict = check.observe(front, _named(_rotation(turned) @ frame.cam_from_velo), frame.intrinsics)
    assert verdict is not None and verdict.mistake == "unknown", verdict
    assert "Remedy" not in verdict.text and "in the image (0.0%)" in verdict.text


def test_a_transform_object_fixed_in_place_at_run_time_clears_the_verdict(kitti: list[KittiFrame]) -> None:
    """One transform object handed in frame after frame (a caller keeping its ``cam_from_lidar``, as the
    ScaleRecovery example does) whose arrays are corrected in place (RigidTransform is frozen, its numpy arrays are
    not): the check sees the corrected transform, starts afresh and clears the verdict, as with a new object."""
    check = ExtrinsicCheck(ExtrinsicCheckConfig(frames=2))
    given = _named(MISTAKES["roll_180"](kitti[0].cam_from_velo))
    for frame in kitti[:2]:
        verdict = check.observe(frame.scan[:, :3], given, frame.intrinsics)
    assert verdict is not None and verdict.mistake == "roll_180"
    fixed = kitti[2]
    given.rotation[:] = fixed.cam_from_velo.rotation  # recalibrated in place
    given.translation[:] = fixed.cam_from_velo.translation
    assert check.observe(fixed.scan[:, :3], given, fixed.intrinsics) is None
