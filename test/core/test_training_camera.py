"""A metric model on a camera unlike its training camera: when the warning is given and what it says."""

from __future__ import annotations

import pytest

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.core.training_camera import FOCAL_TOLERANCE, focal_ratios, median_focal, training_camera_mismatch

SHIPPED = (0.58, 0.58 * 320 / 96)  # the shipped model's synthetic KITTI-like camera, seen at 320x96
KITTI = PinholeIntrinsics(fx=721.5377, fy=721.5377, cx=609.5593, cy=172.854, width=1242, height=375)  # 000000.txt P2
WIDE_16_9 = PinholeIntrinsics(fx=0.58 * 1280, fy=0.58 * 1280, cx=639.5, cy=359.5, width=1280, height=720)


def test_the_ratios_are_per_axis_focal_over_size_and_survive_a_resize() -> None:
    ratios = focal_ratios(SHIPPED, WIDE_16_9)
    assert ratios == pytest.approx((1.0, (0.58 * 1280 / 720) / SHIPPED[1]))
    assert focal_ratios(SHIPPED, WIDE_16_9.resized(320, 96)) == pytest.approx(ratios, rel=1e-3)
    assert focal_ratios((), WIDE_16_9) is None


def test_the_training_camera_and_kitti_are_quiet_a_16_9_camera_of_the_same_hfov_is_warned() -> None:
    args = (OutputKind.METRIC, "none", 1.0)
    assert training_camera_mismatch(SHIPPED, *args, kitti_like_intrinsics(640, 192)) is None
    assert training_camera_mismatch(SHIPPED, *args, KITTI) is None  # fy/height 1.924 vs 1.933
    text = training_camera_mismatch(SHIPPED, *args, WIDE_16_9)
    assert text is not None
    assert "1280x720 camera has 0.58, 1.03 (1.00x, 0.53x)" in text
    assert "a lidar_topic with scale.mode=lidar, or scale.mode=ground_plane" in text


@pytest.mark.parametrize(
    ("kind", "mode", "fixed_scale", "warned"),
    [
        (OutputKind.METRIC, "none", 1.0, True),
        (OutputKind.METRIC, "fixed", 1.0, True),  # fixed at 1: the model's own metres
        (OutputKind.METRIC, "fixed", 0.8, False),  # the user corrected the scale
        (OutputKind.METRIC, "lidar", 1.0, False),  # measured on line
        (OutputKind.METRIC, "ground_plane", 1.0, False),
        (OutputKind.DEPTH_UP_TO_SCALE, "none", 1.0, False),  # scaled anyway
        (OutputKind.RELATIVE_INVERSE, "none", 1.0, False),
        (OutputKind.METRIC_FOCAL, "none", 1.0, False),  # takes the focal length
    ],
)
def test_only_a_metric_model_whose_metres_rest_on_its_own_scale_is_warned(
    kind: OutputKind, mode: str, fixed_scale: float, warned: bool
) -> None:
    assert (training_camera_mismatch(SHIPPED, kind, mode, fixed_scale, WIDE_16_9) is not None) is warned


def test_unknown_training_camera_is_never_warned() -> None:
    assert training_camera_mismatch((), OutputKind.METRIC, "none", 1.0, WIDE_16_9) is None


@pytest.mark.parametrize("factor", [1.0 - FOCAL_TOLERANCE * 0.99, 1.0 + FOCAL_TOLERANCE * 0.99])
def test_within_the_tolerance_on_both_axes_is_quiet_beyond_it_on_one_axis_is_warned(factor: float) -> None:
    camera = PinholeIntrinsics(fx=0.58 * 320 * factor, fy=SHIPPED[1] * 96, cx=160.0, cy=48.0, width=320, height=96)
    assert training_camera_mismatch(SHIPPED, OutputKind.METRIC, "none", 1.0, camera) is None
    beyond = 1.0 + (factor - 1.0) * 1.2
    other = PinholeIntrinsics(fx=0.58 * 320, fy=SHIPPED[1] * 96 * beyond, cx=160.0, cy=48.0, width=320, height=96)
    assert training_camera_mismatch(SHIPPED, OutputKind.METRIC, "none", 1.0, other) is not None


def test_the_median_training_focal_skips_cameras_without_a_focal_length() -> None:
    k = [[50.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]]
    wider = [[40.0, 0.0, 32.0], [0.0, 48.0, 24.0], [0.0, 0.0, 1.0]]
    unknown = [[float("nan")] * 3] * 3
    assert median_focal([(k, 64, 48), (wider, 64, 48), (unknown, 64, 48)]) == pytest.approx((45 / 64, 54 / 48))
    assert median_focal([(unknown, 64, 48)]) == () and median_focal([]) == ()
