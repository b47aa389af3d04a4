"""One CameraModel per calibration."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.adapters.camera_cache import (
    CameraModelCache,
    LatestCameraInfo,
    distortion_ignored,
    undistorted_twice,
    warn_about_calibration,
)
from mono_depth_ros.adapters.log_throttle import ReasonThrottle
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError
from mono_depth_ros.core.ros_msgs import camera_info_from_intrinsics, camera_info_from_model, make_header
from test.kitti_bag import load_kitti_frames
from test.test_launch import ARGUMENTS

from ..core.ros_msg_support import rclpy_style_factory

MS = 1_000_000


def test_camera_model_cache_reuses_the_model_until_the_calibration_changes() -> None:
    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    info_a = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 1, "cam"))
    info_b = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 2, "cam"))  # same calibration
    cache = CameraModelCache()
    model = cache.get(info_a)
    assert cache.get(info_b) is model
    changed = camera_info_from_intrinsics(
        factory, PinholeIntrinsics(510.0, 500.0, 319.5, 239.5, 640, 480), make_header(factory, 3, "cam")
    )
    assert cache.get(changed) is not model and cache.get(changed).rectified_intrinsics().fx == 510.0
    uncalibrated = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 4, "cam"))
    uncalibrated.k = np.zeros(9)
    uncalibrated.p = np.zeros(12)
    with pytest.raises(CalibrationError):
        cache.get(uncalibrated)


def test_a_raw_looking_topic_with_distortion_read_as_rectified_is_warned_once_per_calibration() -> None:
    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    distorted = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 1, "cam"))
    distorted.distortion_model = "plumb_bob"
    distorted.d = np.array([-0.3, 0.1, 0.0, 0.0, 0.0])
    warnings: list[str] = []
    cache = CameraModelCache(warn_about_calibration("/camera/image_raw", True, warnings.append))
    cache.get(distorted)
    cache.get(distorted)  # the same calibration: no second warning
    assert len(warnings) == 1 and "plumb_bob D=[-0.3, 0.1" in warnings[0]
    # the remedy was "set image_is_rectified:=false", which `ros2 launch depth.launch.py` ignores (no such argument)
    assert "image_is_rectified" not in ARGUMENTS
    assert "set image_is_rectified: false in the params file (not a launch argument" in warnings[0]
    assert "--param image_is_rectified=false for mono-depth bag" in warnings[0]
    model = cache.get(distorted)
    assert distortion_ignored("/camera/image_rect_color", model, True) is None  # a rectified topic
    assert distortion_ignored("/camera/image_raw/compressed", model, False) is None  # raw, undistorted by the node
    assert distortion_ignored("/camera/image_raw/compressed", model, True) is not None


def test_the_model_check_sees_the_intrinsics_the_model_sees_once_per_calibration() -> None:
    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    info = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 1, "cam"))
    info.p = np.array([400.0, 0.0, 320.0, 0.0, 0.0, 410.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    seen: list[PinholeIntrinsics] = []
    warnings: list[str] = []

    def model_check(camera: PinholeIntrinsics) -> str | None:
        seen.append(camera)
        return f"fx {camera.fx:g}"

    cache = CameraModelCache(warn_about_calibration("/camera/image_rect", True, warnings.append, model_check))
    cache.get(info)
    cache.get(info)
    assert warnings == ["fx 400"] and (seen[0].fx, seen[0].fy) == (400.0, 410.0)  # rectified: P
    no_k = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 2, "cam"))
    no_k.k = np.zeros(9)  # P alone: fine for a rectified image, unusable for a raw one
    raw = CameraModelCache(warn_about_calibration("/camera/image_raw", False, warnings.append, model_check))
    model = raw.get(no_k)  # no warning, no exception: the frame path counts the CalibrationError
    with pytest.raises(CalibrationError):
        model.intrinsics(False)
    assert len(seen) == 1 and warnings == ["fx 400"]


def test_a_change_of_the_settings_the_checks_depend_on_runs_them_again_on_the_same_model() -> None:
    # a run-time scale.mode change (lidar -> none on a metric model of another camera) was never warned about:
    # the training-camera check ran once per calibration only
    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    info = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 1, "cam"))
    settings = {"scale.mode": "lidar"}
    warnings: list[str] = []

    def model_check(camera: PinholeIntrinsics) -> str | None:
        return None if settings["scale.mode"] == "lidar" else f"metres off ({settings['scale.mode']})"

    check = warn_about_calibration("/camera/image_rect", True, warnings.append, model_check)
    cache = CameraModelCache(check, settings=lambda: settings["scale.mode"])
    model = cache.get(info)
    assert cache.get(info) is model and warnings == []
    settings["scale.mode"] = "none"
    assert cache.get(info) is model  # the same model (no new undistortion maps), checked again
    assert cache.get(info) is model and warnings == ["metres off (none)"]  # once per change


def test_a_camera_info_without_a_size_is_checked_at_the_first_images_size() -> None:
    """width = height = 0 with a calibrated P: the model check waits for an image (its intrinsics need a size), then
    sees the image's size, once per calibration and again after a settings change; it was skipped silently."""
    from mono_depth_ros.pipeline import FrameInput

    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(fx=500.0, fy=510.0, cx=319.5, cy=239.5, width=640, height=480)
    info = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 1, "cam"))
    info.width, info.height = 0, 0
    settings = {"scale.mode": "none"}
    seen: list[PinholeIntrinsics] = []

    def model_check(camera: PinholeIntrinsics) -> str | None:
        seen.append(camera)
        return f"{camera.width}x{camera.height} fx {camera.fx:g}"

    warnings: list[str] = []
    check = warn_about_calibration("/camera/image_rect", True, warnings.append, model_check)
    cache = CameraModelCache(check, settings=lambda: settings["scale.mode"])
    model = cache.get(info)
    assert cache.get(info) is model and warnings == []  # no size yet: nothing to check
    frame = FrameInput(0, "cam", np.zeros((480, 640, 3), np.uint8), model, True)
    assert cache.checked(frame) is frame and warnings == ["640x480 fx 500"]
    assert cache.checked(frame) is frame and len(seen) == 1  # once per calibration
    settings["scale.mode"] = "fixed"
    assert cache.get(info) is model and len(seen) == 1  # checked again, at the next image's size
    cache.checked(frame)
    assert warnings == ["640x480 fx 500", "640x480 fx 500"]
    sized = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 2, "cam"))
    sized_cache = CameraModelCache(warn_about_calibration("/camera/image_rect", True, warnings.append, model_check))
    sized_model = sized_cache.get(sized)  # a camera_info with its size: checked at once, as before
    assert len(warnings) == 3
    sized_cache.checked(FrameInput(0, "cam", np.zeros((480, 640, 3), np.uint8), sized_model, True))
    assert len(warnings) == 3


KITTI_LIKE_D = (-0.369, 0.197, 0.00135, 0.00057, -0.0677)  # strong barrel, as KITTI raw's colour cameras (k1 -0.37)


def test_a_rectified_topic_undistorted_again_is_warned_once_per_calibration(kitti_object_dir: Path) -> None:
    """image_is_rectified: false on an image_rect topic undistorts an image that image_proc already rectified: a real
    KITTI frame (rectified) with a camera_info of its raw camera (K = P2's, strong barrel D, P = P2) has its pixels
    moved again (looked up 23 px away in the median, up to 135 px), and the network sees a warped scene. The opposite
    mistake (a raw topic read as rectified) was warned about; this one was not."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    height, width = frame.rgb.shape[:2]
    camera = CameraModel(width, height, "plumb_bob", KITTI_LIKE_D, frame.projection[:, :3], np.eye(3), frame.projection)
    grid = np.stack(np.meshgrid(np.arange(width), np.arange(height)), axis=-1).astype(np.float32)
    moved_px = np.hypot(*(camera.undistort(grid, border_value=np.nan) - grid).transpose(2, 0, 1))
    # where each pixel of the published depth was looked up in the rectified frame
    assert np.nanmedian(moved_px) > 20.0 and np.nanmax(moved_px) > 100.0
    twice = camera.undistort(frame.rgb)
    assert np.median(np.abs(twice.astype(np.int16) - frame.rgb)) > 10  # not the frame the camera saw
    factory = rclpy_style_factory()
    info = camera_info_from_model(factory, camera, make_header(factory, 1, "cam"))
    topic = "/kitti/camera_color_left/image_rect"
    warnings: list[str] = []
    cache = CameraModelCache(warn_about_calibration(topic, False, warnings.append))
    cache.get(info)
    cache.get(info)  # the same calibration: no second warning
    assert len(warnings) == 1
    assert f"{topic} names a rectified image but image_is_rectified=false undistorts it again" in warnings[0]
    assert "plumb_bob D=[-0.369, 0.197" in warnings[0]
    assert "--param image_is_rectified=true for mono-depth bag" in warnings[0]
    assert undistorted_twice(topic, camera, True) is None  # read as rectified: nothing undistorted
    assert undistorted_twice("/kitti/camera_color_left/image_raw", camera, False) is None  # a raw topic, undistorted
    assert undistorted_twice(topic, CameraModel.from_intrinsics(frame.intrinsics), False) is None  # no distortion


@pytest.mark.parametrize("topic", ["/camera/image_color_corrected", "/camera/image_gamma_corrected/compressed"])
def test_a_raw_topic_whose_name_holds_rect_inside_a_word_is_not_told_to_skip_undistortion(
    kitti_object_dir: Path, topic: str
) -> None:
    """A raw distorted camera (KITTI raw's colour camera D) on a colour-corrected raw topic: "corrected" holds
    "rect", which read it as image_proc's image_rect, so image_is_rectified: false (right: it is undistorted once)
    was told to turn undistortion off, and image_is_rectified: true (wrong: used distorted) went unwarned. Words are
    what name a rectified image (image_rect, image_rect_color, imageRect, image_rectified)."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    height, width = frame.rgb.shape[:2]
    camera = CameraModel(width, height, "plumb_bob", KITTI_LIKE_D, frame.projection[:, :3], np.eye(3), frame.projection)
    assert undistorted_twice(topic, camera, False) is None
    assert distortion_ignored(topic, camera, True) is not None
    for rectified in ("/cam/image_rect", "/cam/image_rect_color/compressed", "/cam/imageRect", "/cam/image_rectified"):
        assert undistorted_twice(rectified, camera, False) is not None, rectified
        assert distortion_ignored(rectified, camera, True) is None, rectified


@pytest.mark.parametrize(
    ("topic", "rectified"),
    [
        ("/cam/rect/image", True),
        ("/cam/rectified/image/compressed", True),
        ("/camera/image_undistorted", True),
        ("/camera/imageUndistorted", True),
        ("/rect_cam/image_raw", False),  # the last name says raw: a namespace does not overrule it
        ("/director/image", False),  # rect inside a word of a namespace
        ("/camera/image", False),
    ],
)
def test_a_rectified_namespace_or_an_undistorted_name_is_taken_as_rectified(
    kitti_object_dir: Path, topic: str, rectified: bool
) -> None:
    """KITTI 000000's projection with a lens's D: ``/cam/rect/image`` (a rectifying node's namespace) and
    ``image_undistorted`` (what undistortion nodes outside image_proc publish) named no rectified image (only the
    last name's words ``rect`` / ``rectified`` did): read as rectified (image_is_rectified: true) they were told
    to set image_is_rectified: false, undistorting them a second time, and undistorted again they went unwarned."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    height, width = frame.rgb.shape[:2]
    camera = CameraModel(width, height, "plumb_bob", KITTI_LIKE_D, frame.projection[:, :3], np.eye(3), frame.projection)
    assert (undistorted_twice(topic, camera, False) is not None) == rectified, topic
    assert (distortion_ignored(topic, camera, True) is None) == rectified, topic


def test_latest_camera_info_is_the_latest_stamped_at_or_before_the_image_else_the_last_received() -> None:
    """``sync.mode: latest`` (the bag runner's rule): a camera_info stamped after the image (the next frame's, come
    first) is not taken while one at or before it is held; of equal stamps the last received; every one stamped
    after the image (another clock): the last received; none yet: None."""
    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(width=32, height=24, fx=30.0, fy=30.0, cx=16.0, cy=12.0)

    def info(stamp_ns: int) -> Any:
        return camera_info_from_intrinsics(factory, intrinsics, make_header(factory, stamp_ns, "cam"))

    latest = LatestCameraInfo(keep=4)
    image_at = info  # an image: anything with a header.stamp
    assert latest.for_image(image_at(100)) is None
    first, again, later = info(100), info(100), info(200)
    for received in (first, again, later):
        latest.add(received)
    assert latest.for_image(image_at(150)) is again and latest.for_image(image_at(100)) is again
    assert latest.for_image(image_at(250)) is later and latest.for_image(image_at(50)) is later
    newer = [info(stamp_ns) for stamp_ns in (300, 400, 500, 600)]
    for received in newer:  # only the last 4 are kept: none at or before 250 now
        latest.add(received)
    assert latest.for_image(image_at(250)) is newer[-1] and latest.for_image(image_at(450)) is newer[1]


def test_two_calibrations_alternating_are_warned_once_each_and_keep_their_models() -> None:
    """KITTI 000000's camera_info (with a lens's distortion, read as rectified from ``image_raw``) and a zoomed copy
    interleaved on one topic (two cameras' camera_info on one topic, or a driver alternating): the node warned
    at every switch, ten warnings for ten frames (the bag runner warns once per calibration), and built the model and
    its undistortion maps anew each time. Once per calibration, each model reused."""
    from test.adapters import test_cdr_fuzz as fuzz

    own = fuzz.restamped(fuzz.real_frame("humble").info, 1)
    lens = {"distortion_model": "plumb_bob", "d": np.array([-0.37, 0.2, 0.0, 0.0, 0.0])}
    first = replace(own, **lens)
    zoomed_k, zoomed_p = np.asarray(own.k, np.float64) * [1.5, 1, 1, 1, 1.5, 1, 1, 1, 1], np.asarray(own.p) * 1.0
    zoomed_p[[0, 5]] *= 1.5
    second = replace(own, k=zoomed_k, p=zoomed_p, **lens)
    warnings: list[str] = []
    cache = CameraModelCache(warn_about_calibration("/camera/image_raw", True, warnings.append))
    models = [cache.get(info) for info in (first, second) * 5]
    assert len(warnings) == 2 and all("plumb_bob D=[-0.37, 0.2" in text for text in warnings), warnings
    assert models[0] is models[2] is models[8] and models[1] is models[9] and models[0] is not models[1]


def _zoomed(info: Any, step: int, **changes: Any) -> Any:
    """``info`` (a camera_info) zoomed by ``step`` % (K's and P's focal lengths), with ``changes`` replaced."""
    k, p = np.asarray(info.k, np.float64).copy(), np.asarray(info.p, np.float64).copy()
    k[[0, 4]] *= 1.0 + 0.01 * step
    p[[0, 5]] *= 1.0 + 0.01 * step
    return replace(info, k=k, p=p, **changes)


def _zoomed_ten_times(
    topic: str, image_is_rectified: bool, zoomed: Callable[[int], Any]
) -> tuple[CameraModelCache, list[str], list[float]]:
    """A cache warning through a 2 s throttle on a settable clock (``now[0]``, s), given ``zoomed(0..9)`` 0.1 s
    apart: the cache, the warnings logged and the clock."""
    now = [0.0]
    warnings: list[str] = []
    throttle = ReasonThrottle(2.0, clock=lambda: now[0])
    cache = CameraModelCache(warn_about_calibration(topic, image_is_rectified, warnings.append, same_text=throttle))
    for step in range(10):
        cache.get(zoomed(step))
        now[0] += 0.1
    return cache, warnings, now


def test_a_zoom_repeats_the_distortion_warning_once_a_throttle_period_and_another_lens_at_once() -> None:
    """A zoom (a new K every frame, one lens: each calibration checked once, all with the same distortion text) on a
    raw topic read as rectified: with ``same_text`` (the node's log throttle) the identical text is logged once per
    period, the next one saying how many were held back (it was logged at frame rate, 10 lines for 10 frames);
    another lens's text is not held back. Without ``same_text`` (the bag runner's summary counts them) every
    calibration warns, as test_two_calibrations_alternating_are_warned_once_each_and_keep_their_models asserts."""
    from test.adapters import test_cdr_fuzz as fuzz

    own = fuzz.restamped(fuzz.real_frame("humble").info, 1)
    lens = {"distortion_model": "plumb_bob", "d": np.array([-0.37, 0.2, 0.0, 0.0, 0.0])}

    def zoomed(step: int, **changes: Any) -> Any:
        return _zoomed(own, step, **{**lens, **changes})

    cache, warnings, now = _zoomed_ten_times("/camera/image_raw", True, zoomed)
    assert len(warnings) == 1 and "plumb_bob D=[-0.37, 0.2" in warnings[0], warnings
    cache.get(zoomed(10, d=np.array([-0.3, 0.1, 0.0, 0.0, 0.0])))  # another lens: said at once
    assert len(warnings) == 2 and "plumb_bob D=[-0.3, 0.1" in warnings[1], warnings
    now[0] += 2.0
    cache.get(zoomed(11))
    assert len(warnings) == 3 and warnings[2] == warnings[0] + " (9 more since the last)", warnings
    unthrottled: list[str] = []
    cache = CameraModelCache(warn_about_calibration("/camera/image_raw", True, unthrottled.append))
    for step in range(10):
        cache.get(zoomed(step))
    assert len(unthrottled) == 10 and len(set(unthrottled)) == 1, unthrottled


def test_a_calibration_that_changes_every_frame_keeps_at_most_models_kept_models_and_their_maps() -> None:
    """A zoom (KITTI 000000's camera_info with a lens's distortion, fx / fy 1 % more each frame), each frame's raw
    image undistorted (its maps built) and one camera_info without a size waiting for its image: the cache keeps the
    last MODELS_KEPT models; an older one, its undistortion maps with it, is freed (nothing else holds it, not the
    models awaiting an image's size), so a calibration that changes every frame holds MODELS_KEPT map sets."""
    import gc
    import weakref

    from mono_depth_ros.adapters.camera_cache import MODELS_KEPT
    from test.adapters import test_cdr_fuzz as fuzz

    own = replace(
        fuzz.restamped(fuzz.real_frame("humble").info, 1),
        distortion_model="plumb_bob",
        d=np.array([-0.37, 0.2, 0.0, 0.0, 0.0]),
    )
    image = np.zeros((int(own.height), int(own.width), 3), np.uint8)
    cache = CameraModelCache(lambda model: None)
    unsized = cache.get(replace(own, width=0, height=0))  # awaits an image's size: on the awaiting list
    gone = [weakref.ref(unsized)]
    del unsized
    for frame in range(10):
        zoom = 1.0 + 0.01 * frame
        k = np.asarray(own.k, np.float64) * [zoom, 1, 1, 1, zoom, 1, 1, 1, 1]
        p = np.asarray(own.p, np.float64).copy()
        p[[0, 5]] *= zoom
        model = cache.get(replace(own, k=k, p=p))
        assert model.undistort(image).shape == image.shape
        gone.append(weakref.ref(model))
    del model
    gc.collect()
    alive = [ref() is not None for ref in gone]
    assert alive == [False] * (len(gone) - MODELS_KEPT) + [True] * MODELS_KEPT, alive


def test_maps_kept_releases_the_maps_of_the_calibration_used_before_the_last_models_kept() -> None:
    """A holder of a model per calibration (the bag runner's index) keeps the undistortion maps of the last
    MODELS_KEPT calibrations used: the one used before them has none left (nor seen masks, nor per-size models), and
    undistorts the same image again when used once more (maps rebuilt)."""
    from mono_depth_ros.adapters.camera_cache import MODELS_KEPT, MapsKept

    k = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])
    p = np.hstack([k, np.zeros((3, 1))])
    models = [
        CameraModel(64, 48, "plumb_bob", (0.01 * (i + 1), 0.0, 0.0, 0.0, 0.0), k, np.eye(3), p)
        for i in range(MODELS_KEPT + 2)
    ]
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    first = models[0].undistort(image)
    models[0].for_image(63, 48).undistort(image[:, :63])  # a per-size model with maps of its own
    kept = MapsKept()
    for model in models:
        assert kept.use(model) is model
        model.undistort(image)
        model.seen_mask()
    holding = [bool(m._undistort_maps or m._seen or m._sized) for m in models]
    assert holding == [False, False] + [True] * MODELS_KEPT, holding
    np.testing.assert_array_equal(kept.use(models[0]).undistort(image), first)
    assert not models[2]._undistort_maps and models[0]._undistort_maps  # models[2] pushed out by models[0]


def test_a_raw_looking_topic_with_zero_d_and_a_turning_r_read_as_rectified_is_warned() -> None:
    """D all zero with an R that turns rays (a stereo camera calibrated without distortion terms): the raw road
    rotates its image into P's (CameraModel.resamples_raw), so image_is_rectified=true on a raw-looking topic uses
    it unrotated as P's image, 2 degrees off here, as a non-zero D's undistortion skipped was already warned; it was
    silent. R = I (to 1e-9) with D all zero stays silent: both roads use the image as it is."""
    import cv2

    turn, _ = cv2.Rodrigues(np.array([0.0, math.radians(2.0), 0.0]))
    k = np.array([[721.5, 0.0, 609.6], [0.0, 721.5, 172.9], [0.0, 0.0, 1.0]])
    p = np.hstack([k, np.array([[-389.6], [0.0], [0.0]])])
    rotated = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, k, turn, p)
    text = distortion_ignored("/stereo/right/image_raw", rotated, True)
    assert text is not None and "rectification rotation" in text and "R turns rays 2 degrees" in text
    assert "set image_is_rectified: false in the params file" in text
    assert distortion_ignored("/stereo/right/image_raw", rotated, False) is None  # rotated by the node
    assert distortion_ignored("/stereo/right/image_rect", rotated, True) is None  # a rectified topic
    still = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, k, np.eye(3) + 1e-9, p)
    assert distortion_ignored("/stereo/right/image_raw", still, True) is None


def test_a_rectified_topic_with_zero_d_and_a_turning_r_rotated_again_is_warned() -> None:
    """The other side of the zero-D road: D all zero with an R that turns rays (a stereo camera calibrated without
    distortion terms; stereo_image_proc republishes that camera_info beside ``image_rect``). image_is_rectified=false
    rotates the raw image into P's (CameraModel.resamples_raw), so on an ``image_rect`` topic, already rotated
    upstream, it rotates it a second time, 2 degrees here (about 25 px at fx 721.5): unwarned, as the undistortion
    twice of a non-zero D is warned. R = I with D all zero stays silent: nothing is resampled."""
    import cv2

    turn, _ = cv2.Rodrigues(np.array([0.0, math.radians(2.0), 0.0]))
    k = np.array([[721.5, 0.0, 609.6], [0.0, 721.5, 172.9], [0.0, 0.0, 1.0]])
    p = np.hstack([k, np.zeros((3, 1))])
    rotated = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, k, turn, p)
    text = undistorted_twice("/stereo/left/image_rect", rotated, False)
    assert text is not None and "rotates it again" in text and "R turns rays 2 degrees" in text, text
    assert "set image_is_rectified: true in the params file" in text, text
    assert undistorted_twice("/stereo/left/image_rect", rotated, True) is None  # used as it is
    assert undistorted_twice("/stereo/left/image_raw", rotated, False) is None  # a raw topic, rotated once
    still = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, k, np.eye(3) + 1e-9, p)
    assert undistorted_twice("/stereo/left/image_rect", still, False) is None


def test_a_zoom_on_a_rectified_topic_undistorted_again_is_throttled_in_the_node_and_told_per_model_in_the_bag() -> None:
    """The merge of the node's distortion throttle (``same_text``) with the bag runner's ``warn_twice(text, camera)``
    (one conflict, resolved by hand): a zoom (a new K every frame, one lens) on a rectified topic read as raw logs the
    'undistorted again' text once per throttle period where no ``warn_twice`` is given (the node: it was logged at
    frame rate with review144's side, 10 lines for 10 frames), and hands every calibration with its model to
    ``warn_twice`` where one is (the bag runner: its summary counts them under the model's reason)."""
    from test.adapters import test_cdr_fuzz as fuzz

    own = fuzz.restamped(fuzz.real_frame("humble").info, 1)

    def zoomed(step: int) -> Any:
        return _zoomed(own, step, distortion_model="plumb_bob", d=np.array([-0.37, 0.2, 0.0, 0.0, 0.0]))

    cache, warnings, now = _zoomed_ten_times("/camera/image_rect", False, zoomed)
    assert len(warnings) == 1 and "image_is_rectified: true" in warnings[0], warnings
    now[0] += 2.0
    cache.get(zoomed(10))
    assert len(warnings) == 2 and warnings[1] == warnings[0] + " (9 more since the last)", warnings
    told: list[tuple[str, Any]] = []
    cache = CameraModelCache(
        warn_about_calibration(
            "/camera/image_rect", False, warnings.append, None, None, lambda text, model: told.append((text, model))
        )
    )
    models = [cache.get(zoomed(step)) for step in range(10)]
    assert [model for _, model in told] == models and len(warnings) == 2, told
    assert all(text == told[0][0] and "image_is_rectified: true" in text for text, _ in told), told
