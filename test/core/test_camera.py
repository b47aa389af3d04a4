from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mono_depth_ros.core.camera import CameraModel, FloatArray, PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError, ShapeError
from test.kitti_rigs import undistort_points_iterated

KITTI = PinholeIntrinsics(721.5377, 721.5377, 609.5593, 172.854, width=1242, height=375)


def test_matrix_and_projection_matrix() -> None:
    k = KITTI.matrix
    assert k[0, 0] == KITTI.fx and k[1, 1] == KITTI.fy and k[0, 2] == KITTI.cx and k[1, 2] == KITTI.cy
    p = KITTI.projection_matrix
    assert p.shape == (3, 4) and np.all(p[:, 3] == 0) and np.array_equal(p[:, :3], k)


@pytest.mark.parametrize("bad", [{"fx": 0.0}, {"fy": -1.0}, {"fx": float("nan")}, {"cx": float("inf")}])
def test_bad_focal_or_principal_point_is_a_calibration_error(bad: dict[str, float]) -> None:
    values = {"fx": 500.0, "fy": 500.0, "cx": 320.0, "cy": 240.0, **bad}
    with pytest.raises(CalibrationError, match="calibration"):
        PinholeIntrinsics(**values, width=640, height=480)


def test_resize_maps_pixel_centres_like_cv2() -> None:
    # Downscale by 2: source pixel centres 0 and 1 average to destination centre 0 -> source x = 0.5.
    half = KITTI.resized(621, 187)
    sx = 621 / 1242
    assert half.fx == pytest.approx(KITTI.fx * sx)
    # A 3-D point projects to u in the full image and to (u + 0.5) * sx - 0.5 in the resized one.
    x, z = 3.0, 10.0
    u_full = KITTI.fx * x / z + KITTI.cx
    u_half = half.fx * x / z + half.cx
    assert u_half == pytest.approx((u_full + 0.5) * sx - 0.5)


@given(
    st.integers(min_value=16, max_value=2000),
    st.integers(min_value=16, max_value=2000),
)
def test_resize_round_trip(width: int, height: int) -> None:
    back = KITTI.resized(width, height).resized(KITTI.width, KITTI.height)
    assert back.fx == pytest.approx(KITTI.fx)
    assert back.cx == pytest.approx(KITTI.cx)
    assert back.cy == pytest.approx(KITTI.cy)


def test_crop_and_flip() -> None:
    crop = KITTI.cropped(100, 50, 640, 192)
    assert (crop.cx, crop.cy, crop.width, crop.height) == (KITTI.cx - 100, KITTI.cy - 50, 640, 192)
    flip = KITTI.flipped_horizontally()
    assert flip.cx == pytest.approx(KITTI.width - 1 - KITTI.cx)
    assert flip.flipped_horizontally().cx == pytest.approx(KITTI.cx)
    with pytest.raises(ShapeError, match="does not fit"):
        KITTI.cropped(1000, 0, 640, 192)


def test_image_size_mismatch_names_both_sizes() -> None:
    with pytest.raises(CalibrationError, match=r"640x480.*1242x375"):
        KITTI.check_image_size(640, 480)


def _info(**overrides: object) -> CameraModel:
    values: dict[str, object] = {
        "width": 640,
        "height": 480,
        "distortion_model": "plumb_bob",
        "d": (0.0,) * 5,
        "k": [500.0, 0, 320, 0, 510, 240, 0, 0, 1],
        "r": np.eye(3).reshape(-1),
        "p": [490.0, 0, 318, 0, 0, 495, 242, 0, 0, 0, 1, 0],
    }
    values.update(overrides)
    return CameraModel(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("rectified", [True, False])
def test_a_calibration_made_at_another_resolution_is_refused_saying_so(rectified: bool) -> None:
    """usb_cam calibrated at 1280x720 then run at 640x360: camera_info_manager publishes the file's calibration as it
    is (image_geometry and depth_image_proc do not scale it: their cloud is silently wrong). Refused (as before),
    and the error now says what happened and what to do, not only 'publish matching camera_info'."""
    hd = _info(width=1280, height=720, k=[900.0, 0, 640, 0, 900, 360, 0, 0, 1], d=(-0.1, 0.01, 0.0, 0.0, 0.0),
               p=[880.0, 0, 638, 0, 0, 880, 362, 0, 0, 0, 1, 0])  # fmt: skip
    camera = hd.for_image(640, 360)
    with pytest.raises(CalibrationError, match=r"640x360 .* 1280x720.*at another resolution.*recalibrate"):
        if rectified:
            camera.intrinsics(image_is_rectified=True).check_image_size(640, 360)
        else:
            camera.undistort(np.zeros((360, 640, 3), np.uint8))
    with pytest.raises(CalibrationError) as other:
        camera.intrinsics(image_is_rectified=True).check_image_size(640, 480)  # another aspect: no such guess
    assert "another resolution" not in str(other.value)


def test_rectified_uses_p_raw_uses_k() -> None:
    model = _info()
    rect = model.intrinsics(image_is_rectified=True)
    assert (rect.fx, rect.fy, rect.cx, rect.cy) == (490.0, 495.0, 318.0, 242.0)
    raw = model.intrinsics(image_is_rectified=False)
    assert (raw.fx, raw.fy, raw.cx, raw.cy) == (500.0, 510.0, 320.0, 240.0)
    # A raw image with distortion is undistorted into the image that P describes.
    distorted = _info(d=(-0.2, 0.05, 0.0, 0.0, 0.0))
    assert distorted.intrinsics(image_is_rectified=False).fx == 490.0


def test_zero_p_falls_back_to_k_and_zero_everything_fails() -> None:
    assert _info(p=[0.0] * 12).rectified_intrinsics().fx == 500.0
    with pytest.raises(CalibrationError, match="zero focal"):
        _info(p=[0.0] * 12, k=[0.0] * 9)


@pytest.mark.parametrize(("matrix", "index", "value"), [("p", 2, 1e300), ("p", 6, -1e40), ("k", 2, 1e6),
                                                    ("k", 5, float("inf")), ("k", 2, float("nan"))])  # fmt: skip
def test_a_principal_point_far_off_the_image_is_refused(matrix: str, index: int, value: float) -> None:
    """cx or cy of K or P so far off the image that its edge is over 85 degrees off the optical axis (a corrupt
    1e300, a million pixels): no pinhole image; its cloud had x = -Inf for every point. An off-centre principal
    point (a ROI's, 2 widths off: 63 degrees) is a calibration still."""
    values = {"k": [500.0, 0, 320, 0, 510, 240, 0, 0, 1], "p": [490.0, 0, 318, 0, 0, 495, 242, 0, 0, 0, 1, 0]}
    values[matrix][index] = value
    with pytest.raises(CalibrationError, match=f"CameraInfo {matrix.upper()} has principal point.*off the optical"):
        _info(**values)
    off_centre = _info(p=[490.0, 0, -640, 0, 0, 495, 242, 0, 0, 0, 1, 0])
    assert off_centre.rectified_intrinsics().cx == -640.0


@pytest.mark.parametrize(("width", "height"), [(1242, 375), (640, 480), (160, 96)])
def test_image_publishers_placeholder_calibration_is_refused(width: int, height: int) -> None:
    """image_pipeline's image_publisher without camera_info_url (Humble and rolling) publishes K = P with
    fx = fy = 1 and the principal point at the centre: a 179.8-degree pinhole on a 1242-pixel frame. It was taken as a
    calibration: every lateral coordinate of the cloud hundreds of times too large, the LiDAR projected into a few
    pixels, nothing said. A pinhole wider than 170 degrees is refused, naming the likely source."""
    placeholder = {"k": [1.0, 0, width // 2, 0, 1.0, height // 2, 0, 0, 1]}
    placeholder["p"] = [1.0, 0, width // 2, 0, 0, 1.0, height // 2, 0, 0, 0, 1, 0]
    refused = r"field of view of 1[78]\d\.\d degrees.*image_publisher.*camera_info_url"
    with pytest.raises(CalibrationError, match=refused):
        _info(width=width, height=height, **placeholder)
    fov_deg = 160.0  # a wide rectified view (P of a rectified fisheye) is a pinhole still
    fx = width / 2 / np.tan(np.radians(fov_deg / 2))
    wide = _info(width=width, height=height, p=[fx, 0, width / 2, 0, 0, fx, height / 2, 0, 0, 0, 1, 0])
    assert wide.rectified_intrinsics().fx == pytest.approx(fx)
    with pytest.raises(CalibrationError, match=r"CameraInfo P has fx=0\.5"):  # as any K or P, raw or rectified
        _info(d=(-0.2, 0.05, 0.0, 0.0, 0.0), p=[0.5, 0, 318, 0, 0, 0.5, 242, 0, 0, 0, 1, 0])
    kitti = _info(width=1242, height=375, k=KITTI.matrix.reshape(-1), p=KITTI.projection_matrix.reshape(-1))
    assert kitti.rectified_intrinsics() == KITTI


def test_binning_and_roi() -> None:
    model = _info(binning_x=2, binning_y=2, roi=(10, 20, 320, 240))
    rect = model.rectified_intrinsics()
    assert (rect.width, rect.height) == (160, 120)
    assert rect.fx == pytest.approx(245.0)
    assert rect.cx == pytest.approx((318 - 10) / 2)


@pytest.mark.parametrize(
    "roi",
    [(700, 500, 320, 240), (0, 0, 1280, 960), (400, 0, 320, 240), (0, 300, 320, 240)],
    ids=["offset past the image", "larger than the image", "right edge past", "bottom edge past"],
)
def test_a_roi_that_does_not_fit_in_the_calibrated_image_is_a_calibration_error(roi: tuple[int, ...]) -> None:
    """A ROI is a window of the calibrated (full-resolution) image. One that reaches past it (a ROI in binned
    pixels, a calibration of another camera mode) was taken as it came: the depth was published with the intrinsics
    of a window that does not exist (cx = 2 - 100 for a ROI at (100, 100) of a 4 x 4 calibration) and a cloud
    shifted by it, counted nowhere."""
    with pytest.raises(CalibrationError, match=r"roi .* does not fit in the calibrated 640x480 image"):
        _info(roi=roi)
    _info(roi=(320, 240, 320, 240))  # the bottom-right quarter fits exactly


def test_a_roi_that_fits_stays_valid_through_image_procs_one_pixel_resize_rounding() -> None:
    edge = _info(roi=(320, 240, 320, 240))  # at the bottom-right corner
    assert edge.for_image(321, 241).rectified_intrinsics().width == 321


@pytest.mark.parametrize(
    ("distortion_model", "d"),
    [
        ("KANNALA_BRANDT", (0.1, 0.01, 0.002, 0.0005, 0.0)),  # MYNT EYE, also on its *_RECTIFIED streams
        ("kannala_brandt4", (0.1, 0.01, 0.002, 0.0005)),  # realsense polled driver
        ("fisheye", (0.1, 0.01, 0.002, 0.0005)),
        ("equidistant", (0.1, 0.01, 0.002, 0.0005, 0.01)),  # a fifth non-zero value: cv2.fisheye takes 4
        ("fov", (0.1,)),
    ],
)
def test_a_distortion_model_that_cannot_undistort_fails_only_a_raw_image(
    distortion_model: str, d: tuple[float, ...]
) -> None:
    """D describes the raw image only: a rectified image is used with P whatever D holds (image_geometry and
    depth_image_proc never read D for it), so the node must not reject its every frame."""
    model = _info(distortion_model=distortion_model, d=d)
    assert model.intrinsics(image_is_rectified=True).fx == 490.0
    with pytest.raises(CalibrationError, match=rf"{distortion_model}.*(not supported|needs 4 coefficients)"):
        model.undistort(np.zeros((480, 640, 3), dtype=np.uint8))


def test_undistort_plumb_bob_straightens_a_point() -> None:
    import cv2

    model = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0), p=[500.0, 0, 320, 0, 0, 510, 240, 0, 0, 0, 1, 0])
    k = model.k
    # Distort a known undistorted pixel with OpenCV, paint it in a raw image, undistort, find it again.
    target = np.array([[[500.0, 400.0]]])
    normalised = cv2.undistortPoints(target, k, None)
    obj = np.concatenate([normalised.reshape(1, 2), np.ones((1, 1))], axis=1)
    distorted, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), k, np.asarray(model.d))
    raw = np.zeros((480, 640), dtype=np.uint8)
    du, dv = np.rint(distorted.reshape(2)).astype(int)
    raw[dv - 2 : dv + 3, du - 2 : du + 3] = 255
    rect = model.undistort(raw)
    vs, us = np.nonzero(rect > 128)
    assert abs(us.mean() - 500.0) < 1.5 and abs(vs.mean() - 400.0) < 1.5
    # maps are cached: the second call reuses them
    assert len(model._undistort_maps) == 1
    model.undistort(raw)
    assert len(model._undistort_maps) == 1


def test_an_equidistant_d_with_a_trailing_zero_undistorts_as_its_four_coefficients() -> None:
    """Older realsense-ros publishes equidistant D as [k1, k2, k3, k4, 0] (later trimmed to 4): the same camera."""
    raw = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    four = _info(distortion_model="equidistant", d=(0.1, 0.01, 0.002, 0.0005))
    five = _info(distortion_model="equidistant", d=(0.1, 0.01, 0.002, 0.0005, 0.0))
    np.testing.assert_array_equal(five.undistort(raw), four.undistort(raw))


def test_undistort_equidistant_runs_and_keeps_size() -> None:
    model = _info(distortion_model="equidistant", d=(0.1, 0.01, 0.0, 0.0))
    out = model.undistort(np.full((480, 640, 3), 7, dtype=np.uint8))
    assert out.shape == (480, 640, 3)
    assert out[240, 320, 0] == 7


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"d": (-0.3, 0.1, 0.001)}, "plumb_bob distortion needs 4, 5, 8, 12, 14 coefficients in d, got 3"),
        ({"d": (float("nan"), 0.1, 0.0, 0.0, 0.0)}, "not finite"),
        ({"d": (-0.3, 0.1, 0.0, 0.0, 0.0), "r": [0.0] * 9}, "not a rotation"),
    ],
)
def test_a_raw_image_with_a_d_or_r_that_cannot_undistort_is_a_calibration_error(
    fields: dict[str, object], match: str
) -> None:
    """OpenCV raised cv2.error (a worker "bug" in the node) or mapped every pixel off the image (black in, depth)."""
    model = _info(**fields)
    assert model.intrinsics(image_is_rectified=True).fx == 490.0  # a rectified image does not use D or R
    with pytest.raises(CalibrationError, match=match):
        model.undistort(np.zeros((480, 640, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("model", "d", "written"),
    [
        ("plumb_bob", (-0.3, 0.1, 0.001, -0.001, 0.0, 0.0), "5 for plumb_bob"),
        ("rational_polynomial", (-0.3, 0.1, 0.001, -0.001, 0.0, 0.05), "8 for rational_polynomial"),
        ("equidistant", (0.1, 0.01, 0.002), "4 for equidistant"),
    ],
)
def test_a_d_of_a_wrong_length_for_its_model_names_the_lengths_ros_writes_and_the_file_to_fix(
    model: str, d: tuple[float, ...], written: str
) -> None:
    """A calibration file edited by hand or a driver that fills D itself (a 6-coefficient D, an equidistant D of 3):
    the error named the value only ("needs 4, 5, 8, 12, 14 coefficients in d, got 6"), no remedy. It now names the
    coefficients it got, the length camera_calibration writes for the model and where the driver reads D from."""
    raw = _info(distortion_model=model, d=d)
    with pytest.raises(CalibrationError, match=f"got {len(d)}") as refused:
        raw.undistort(np.zeros((480, 640, 3), dtype=np.uint8))
    text = str(refused.value)
    assert written in text and "camera_info_url" in text, text
    assert ", ".join(f"{c:g}" for c in d) in text, text  # the coefficients it got


def test_a_d_of_thousands_of_coefficients_is_named_in_one_readable_line() -> None:
    """A driver that fills D with garbage (a buffer of 5000 doubles): the error listed every coefficient (a 40 kB log
    line per throttle period); it names OpenCV's most (14) and how many more."""
    raw = _info(distortion_model="plumb_bob", d=tuple(np.linspace(-1.0, 1.0, 5000)))
    with pytest.raises(CalibrationError, match="got 5000") as refused:
        raw.undistort(np.zeros((480, 640, 3), dtype=np.uint8))
    text = str(refused.value)
    assert len(text) < 600 and "(4986 more)" in text and "camera_info_url" in text, text


def test_from_intrinsics_round_trip() -> None:
    model = CameraModel.from_intrinsics(KITTI)
    assert model.intrinsics(image_is_rectified=True) == KITTI
    assert model.intrinsics(image_is_rectified=False) == KITTI


def test_a_negative_focal_length_is_not_called_zero() -> None:
    k = np.array([[-500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    p = np.hstack([k, np.zeros((3, 1))])
    with pytest.raises(CalibrationError, match=r"no positive focal length in both K and P \(K\[0\]=-500"):
        CameraModel(width=640, height=480, distortion_model="plumb_bob", d=(0.0,) * 5, k=k, r=np.eye(3), p=p)


def test_seen_mask_marks_the_undistorted_pixels_past_the_raw_image() -> None:
    import cv2

    assert _info().seen_mask() is None  # no distortion: nothing is resampled
    barrel = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0), p=[500.0, 0, 320, 0, 0, 510, 240, 0, 0, 0, 1, 0])
    assert barrel.seen_mask() is None  # P = K: barrel distortion pulls every corner ray inside the raw image
    r = cv2.Rodrigues(np.array([0.0, 0.05, 0.0]))[0].reshape(-1)  # a stereo rectification turn, and a wider P
    turned = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0), r=r, p=[380.0, 0, 318, 0, 0, 385, 242, 0, 0, 0, 1, 0])
    seen = turned.seen_mask()
    assert seen is not None and seen.shape == (480, 640)
    # a pixel is seen where the nearest-neighbour undistortion finds a raw pixel (NaN border_value elsewhere)
    nearest = turned.undistort(np.ones((480, 640), np.float32), cv2.INTER_NEAREST, border_value=np.nan)
    np.testing.assert_array_equal(seen, np.isfinite(nearest))
    assert not seen[:, 0].any() and seen[240, 100:540].all()  # the turn and the wider view show a band at the side
    half = turned.seen_mask((240, 320))
    assert half is not None and half.shape == (240, 320)
    assert not (half & ~seen[::2, ::2] & ~seen[1::2, 1::2]).any()  # a kept block has no unseen pixel


@pytest.mark.parametrize(
    ("d", "p_focal"),
    [((1e30, 0.0, 0.0, 0.0, 0.0), 490.0), ((-0.2, 0.05, 0.0, 0.0, 0.0), 30.0)],
    ids=["absurd D", "P focal of 30 pixels"],  # (half a pixel: refused as no pinhole, see the placeholder test)
)
def test_a_raw_camera_whose_undistorted_image_sees_no_raw_pixel_is_a_calibration_error(
    d: tuple[float, ...], p_focal: float
) -> None:
    """K, D and P that map (all but a pixel or so of) the undistorted image outside the raw image made a black image:
    the model ran on it and every frame went out all NaN, with /diagnostics OK and nothing counted."""
    camera = _info(d=d, p=[p_focal, 0, 318, 0, 0, p_focal, 242, 0, 0, 0, 1, 0])
    seen_share = r"only \d+ of 307200 pixels of the undistorted image see the raw image \(under 1%\)"
    with pytest.raises(CalibrationError, match=seen_share):
        camera.undistort(np.zeros((480, 640, 3), np.uint8))
    _info(d=(-0.2, 0.05, 0.0, 0.0, 0.0)).undistort(np.zeros((480, 640, 3), np.uint8))  # a real lens: undistorted


def test_seen_mask_keeps_no_float_maps_and_gives_the_masks_of_the_maps() -> None:
    import cv2

    r = cv2.Rodrigues(np.array([0.0, 0.05, 0.0]))[0].reshape(-1)
    p = [380.0, 0, 318, 0, 0, 385, 242, 0, 0, 0, 1, 0]
    turned = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0), r=r, p=p)
    small = turned.seen_mask((120, 160))  # a smaller size first: the full-size mask is made on the way
    seen = turned.seen_mask()
    assert turned._undistort_maps == {}  # the two float32 maps (8 bytes a pixel) are gone, only the masks stay
    assert seen is not None and small is not None and seen.dtype == np.bool_
    # the masks the maps give: the raw coordinates of every undistorted pixel within half a pixel of the raw image
    k = np.array([[500.0, 0, 320], [0, 510.0, 240], [0, 0, 1]])
    d = np.array([-0.3, 0.1, 0.0, 0.0, 0.0])
    map_x, map_y = cv2.initUndistortRectifyMap(k, d, r.reshape(3, 3), np.reshape(p, (3, 4)), (640, 480), cv2.CV_32FC1)
    expected = (map_x >= -0.5) & (map_x < 639.5) & (map_y >= -0.5) & (map_y < 479.5)
    np.testing.assert_array_equal(seen, expected)
    area = cv2.resize(expected.astype(np.float32), (160, 120), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(small, area >= 1.0 - 1e-4)
    assert turned.seen_mask((120, 160)) is small  # once per size
    # a nearest-neighbour undistortion (the external backend's prediction) keeps its maps, and the masks reuse them
    again = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0), r=r, p=p)
    again.undistort(np.ones((480, 640), np.float32), cv2.INTER_NEAREST, border_value=np.nan)
    maps = again._undistort_maps[True]
    np.testing.assert_array_equal(again.seen_mask(), expected)
    assert again._undistort_maps[True] is maps


def test_for_image_takes_the_one_pixel_of_image_procs_resize_rounding() -> None:
    model = _info()
    assert model.for_image(640, 480) is model
    taller = model.for_image(640, 481)  # image_proc's resize: camera_info height int(h · s), image round(h · s)
    assert taller is model.for_image(640, 481)  # built once per size, with its own maps
    intrinsics = taller.intrinsics(image_is_rectified=True)
    assert (intrinsics.width, intrinsics.height) == (640, 481)
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (490.0, 495.0, 318.0, 242.0)
    assert model.for_image(642, 480) is model and model.for_image(320, 240) is model  # not a rounding: the check's
    binned = _info(width=1241, height=375, binning_x=2, binning_y=2)  # published 620 x 187
    wider = binned.for_image(621, 188).rectified_intrinsics()
    assert (wider.width, wider.height, wider.fx, wider.cx) == (621, 188, 245.0, 159.0)
    cropped = _info(roi=(10, 20, 320, 240)).for_image(319, 241).rectified_intrinsics()
    assert (cropped.width, cropped.height, cropped.cx, cropped.cy) == (319, 241, 308.0, 222.0)
    distorted = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0))
    assert distorted.for_image(641, 480).undistort(np.zeros((480, 641, 3), np.uint8)).shape == (480, 641, 3)
    assert distorted.undistort(np.zeros((480, 640, 3), np.uint8)).shape == (480, 640, 3)  # its own maps


def test_a_binned_size_mismatch_says_how_binning_and_roi_make_the_expected_size() -> None:
    """A driver that publishes the binned image's size as width / height with binning 2 (against CameraInfo.msg):
    the node expects a quarter of the image, and says why."""
    binned = _info(binning_x=2, binning_y=2)  # width / height 640 x 480 are already the binned image's
    with pytest.raises(CalibrationError, match=r"image is 640x480 but camera_info makes it 320x240.*binned 2x2"):
        binned.for_image(640, 480)
    with pytest.raises(CalibrationError, match=r"roi 320x240 at \(10, 20\) of the calibrated 640x480"):
        _info(roi=(10, 20, 320, 240)).for_image(640, 480)


RIGS = {  # (distortion_model, d, binning, roi) as drivers publish them
    "plumb_bob 5 (RealSense, ZED)": ("plumb_bob", (-0.28, 0.07, 0.0005, -0.0003, -0.01), 0, (0, 0, 0, 0)),
    "plumb_bob 4": ("plumb_bob", (-0.28, 0.07, 0.0005, -0.0003), 1, (0, 0, 0, 0)),
    "rational_polynomial 8 (OAK, ZED X)": (
        "rational_polynomial",
        (2.1, 0.4, 0.0005, -0.0003, 0.01, 2.38, 0.85, 0.06),
        0,
        (0, 0, 0, 0),
    ),
    "rational_polynomial 14": (
        "rational_polynomial",
        (2.1, 0.4, 0.0005, -0.0003, 0.01, 2.38, 0.85, 0.06, 0.001, 0.0, 0.001, 0.0, 0.0, 0.0),
        0,
        (0, 0, 0, 0),
    ),
    "equidistant 4 (RealSense KB4, ZED-M)": ("equidistant", (0.05, -0.01, 0.002, -0.0005), 0, (0, 0, 0, 0)),
    "plumb_bob binned 2, roi": ("plumb_bob", (-0.28, 0.07, 0.0005, -0.0003, -0.01), 2, (60, 30, 480, 240)),
}


@pytest.mark.parametrize("rig", list(RIGS))
def test_undistort_gives_back_the_rectified_kitti_frame(kitti_object_dir: Path, rig: str) -> None:
    """A real KITTI frame (rectified: the truth) distorted with known coefficients, a stereo R and a right camera's
    P (Tx, P != K), cut and binned as the driver's camera_info says: undistort must give the frame back."""
    import cv2

    model_name, d, binning, roi = RIGS[rig]
    rect = cv2.imread(str(kitti_object_dir / "image_2" / "000002.png"), cv2.IMREAD_GRAYSCALE)[:, 300:940]
    height, width = 360, 640
    rect = cv2.resize(rect, (width, height), interpolation=cv2.INTER_AREA)
    p = np.array([[520.0, 0.0, 318.0, -270.0], [0.0, 520.0, 182.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    k = np.array([[500.0, 0.0, 322.0], [0.0, 503.0, 178.0], [0.0, 0.0, 1.0]])
    r = cv2.Rodrigues(np.array([0.004, -0.008, 0.002]))[0]
    # the raw full-resolution frame: each raw pixel looks up where its ray lands in the rectified truth
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pts = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    if model_name == "equidistant":  # (fisheye's takes criteria on OpenCV 4.6 and 5)
        at = cv2.fisheye.undistortPoints(pts, k, np.asarray(d), R=r, P=p[:, :3], criteria=criteria)
    else:
        at = undistort_points_iterated(pts, k, np.asarray(d), r, p[:, :3], criteria)
    at = at.reshape(height, width, 2)
    # float pixels of the truth: x and y coordinates (exact to resample) and the real frame
    coords = np.stack([u, v, rect.astype(np.float64)], axis=-1).astype(np.float32)
    raw = cv2.remap(coords, at[..., 0].astype(np.float32), at[..., 1].astype(np.float32), cv2.INTER_LINEAR)
    x, y, w, h = roi if roi[2] else (0, 0, width, height)
    b = max(binning, 1)
    raw = raw[y : y + h : b, x : x + w : b]  # the sensor's window, every b-th pixel (image_geometry's cx / b)
    camera = CameraModel(width, height, model_name, d, k, r, p, binning, binning, roi)
    out = camera.for_image(raw.shape[1], raw.shape[0]).undistort(raw, border_value=np.nan)
    truth_x, truth_y = (u[y : y + h : b, x : x + w : b] - x) / b, (v[y : y + h : b, x : x + w : b] - y) / b
    inner = (slice(4, -4), slice(8, -8))  # away from the border the remap fills
    got_x, got_y = (out[..., 0] - x) / b, (out[..., 1] - y) / b
    error_px = np.hypot(got_x - truth_x, got_y - truth_y)[inner]
    assert np.isfinite(error_px).mean() > 0.97
    assert np.nanmax(error_px) < 0.1  # the fixed-point maps' 1/32 pixel, bilinear twice
    grey = np.abs(out[..., 2] - rect[y : y + h : b, x : x + w : b])[inner]
    assert np.nanmedian(grey) < 3.0  # the real frame, not a shifted one


@pytest.mark.parametrize(("binning", "roi"), [(2, (0, 0, 0, 0)), (2, (100, 40, 800, 300)), (3, (0, 0, 1242, 375))])
def test_binned_and_cropped_maps_are_image_geometrys(binning: int, roi: tuple[int, int, int, int]) -> None:
    """image_geometry's initRectificationMaps (vision_opencv, humble): maps of the full image at the binned
    resolution with K and P's fx, cx, Tx divided by the binning, then the ROI / binning cut out and its offset
    subtracted. The binning convention (cx / b, not the pixel-centre (cx + 0.5) / b - 0.5) is what a coordinate
    round trip cannot see, as K and P move together."""
    import cv2

    width, height, b = 1242, 375, binning
    p = np.array([[707.0, 0.0, 604.1, -380.0], [0.0, 707.0, 180.5, 0.0], [0.0, 0.0, 1.0, 0.0]])
    k = np.array([[690.0, 0.0, 610.0], [0.0, 695.0, 185.0], [0.0, 0.0, 1.0]])
    d = (-0.28, 0.07, 0.0005, -0.0003, -0.01)
    r = cv2.Rodrigues(np.array([0.01, -0.02, 0.005]))[0]
    k_binned, p_binned = k.copy(), p.copy()
    k_binned[:2] /= b  # rows of fx, cx and fy, cy (and P's Tx, Ty)
    p_binned[:2] /= b
    map_x, map_y = cv2.initUndistortRectifyMap(
        k_binned, np.asarray(d), r, p_binned, (width // b, height // b), cv2.CV_32FC1
    )
    x, y, w, h = roi if roi[2] else (0, 0, width, height)
    cut = (slice(y // b, y // b + h // b), slice(x // b, x // b + w // b))
    ours_x, ours_y = CameraModel(width, height, "plumb_bob", d, k, r, p, b, b, roi)._build_maps(cv2, True)
    np.testing.assert_allclose(ours_x, map_x[cut] - x // b, atol=1e-3)
    np.testing.assert_allclose(ours_y, map_y[cut] - y // b, atol=1e-3)


FOLDING_RIGS = {  # (model, D, K focal, P focal (None: P keeps every raw pixel), R's turn about y in degrees)
    "plumb_bob 5, large k3 (camera_calibration, scale 1)": (
        "plumb_bob",
        (-0.25, 0.08, 0.0, 0.0, -0.012),
        290.0,
        None,
        0,
    ),
    "rational_polynomial 8": ("rational_polynomial", (-0.3, 0.09, 0.0, 0.0, -0.012, 0.0, 0.0, 0.0), 290.0, None, 0),
    "equidistant 4": ("equidistant", (0.02, -0.01, -0.05, 0.004), 200.0, 100.0, 0),  # P: 145 degrees wide
    "equidistant 4 over 180 degrees, turned 75 degrees": ("equidistant", (0.01, 0.0, 0.0, 0.0), 200.0, 150.0, 75),
    "plumb_bob 5 turned 75 degrees": ("plumb_bob", (-0.05, 0.0, 0.0, 0.0, 0.0), 200.0, 150.0, 75),
}


def _first_branch_angle(model_name: str, d: tuple[float, ...], distorted: npt.NDArray[np.float64]) -> FloatArray:
    """The angle (radians, off the optical axis) of the ray of each distorted radius (normalised by K's focal
    length) of a radial lens, on the lens's first branch (a dense table of the polynomial, up to its peak); NaN past
    the peak."""
    k = np.zeros(8)
    k[: len(d)] = d
    if model_name == "equidistant":
        angle = np.linspace(0.0, math.pi, 200_001)
        a2 = angle * angle
        table = angle * (1.0 + a2 * (k[0] + a2 * (k[1] + a2 * (k[2] + a2 * k[3]))))
    else:
        radius = np.linspace(0.0, 10.0, 200_001)
        r2 = radius * radius
        table = radius * (1.0 + r2 * (k[0] + r2 * (k[1] + r2 * k[4]))) / (1.0 + r2 * (k[5] + r2 * (k[6] + r2 * k[7])))
        angle = np.arctan(radius)
    peak = int(np.argmax(np.diff(table) <= 0.0)) or table.size - 1
    out = np.interp(distorted, table[: peak + 1], angle[: peak + 1])
    return np.where(distorted <= table[peak], out, np.nan)


def _along(grey: npt.NDArray[np.float32], rays: FloatArray) -> npt.NDArray[np.float32]:
    """The KITTI frame seen along (H, W, 3) rays, its 80 degrees spread over 137 by angle (a texture for a wide
    view; black behind)."""
    import cv2

    azimuth = np.arctan2(rays[..., 0], rays[..., 2])
    elevation = np.arctan2(rays[..., 1], np.hypot(rays[..., 0], rays[..., 2]))
    map_x, map_y = (240.5 * azimuth + 609.6).astype(np.float32), (240.5 * elevation + 172.9).astype(np.float32)
    return np.asarray(cv2.remap(grey, map_x, map_y, cv2.INTER_LINEAR), dtype=np.float32)


@pytest.mark.parametrize("rig", list(FOLDING_RIGS))
def test_seen_pixels_of_a_wide_lens_show_their_own_ray_not_one_folded_back(kitti_object_dir: Path, rig: str) -> None:
    """A wide lens whose radial distortion r_d(r) peaks inside the view of P (camera_calibration's scale slider at 1
    keeps every raw pixel: P's view reaches rays past the peak): OpenCV's maps (as image_geometry's) send the rays past
    the peak back into the raw image, onto pixels of smaller rays, so a ring of the undistorted image showed a
    mirrored copy of the scene, counted as seen: its depth published at the wrong place and paired with the LiDAR.
    Likewise the rays a turned R puts behind a fisheye of over 180 degrees: OpenCV's fisheye maps take them for the
    rays mirrored in front. Every seen pixel must show its own ray (the raw frame carries the rays of its pixels, on
    the lens's first branch, and a real KITTI frame seen along them)."""
    import cv2

    model_name, d, focal, p_focal, turn_deg = FOLDING_RIGS[rig]
    width, height = 640, 360
    k = np.array([[focal, 0.0, 319.5], [0.0, focal, 179.5], [0.0, 0.0, 1.0]])
    if p_focal is None:
        p3, _ = cv2.getOptimalNewCameraMatrix(k, np.asarray(d), (width, height), 1.0, (width, height))
    else:  # (estimateNewCameraMatrixForUndistortRectify gives a 180-degree P for these)
        p3 = np.array([[p_focal, 0.0, 319.5], [0.0, p_focal, 179.5], [0.0, 0.0, 1.0]])
    r = cv2.Rodrigues(np.array([0.0, math.radians(turn_deg), 0.0]))[0]
    # the raw frame: each raw pixel carries its ray (a unit vector) and the real frame seen along it
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    xd, yd = (u - 319.5) / focal, (v - 179.5) / focal
    angle, azimuth = _first_branch_angle(model_name, d, np.hypot(xd, yd)), np.arctan2(yd, xd)
    rays = np.stack([np.sin(angle) * np.cos(azimuth), np.sin(angle) * np.sin(azimuth), np.cos(angle)], axis=-1)
    grey = cv2.imread(str(kitti_object_dir / "image_2" / "000002.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    raw = np.concatenate([rays, _along(grey, rays)[..., np.newaxis]], axis=-1).astype(np.float32)
    camera = CameraModel(width, height, model_name, d, k, r, np.hstack([p3, np.zeros((3, 1))]))
    out = camera.undistort(raw, border_value=np.nan)
    seen = camera.seen_mask()
    assert seen is not None
    own = np.stack([(u - p3[0, 2]) / p3[0, 0], (v - p3[1, 2]) / p3[1, 1], np.ones_like(u)], axis=-1) @ r  # Rᵀ ray
    own /= np.linalg.norm(own, axis=-1, keepdims=True)
    shown = out[..., :3] / np.linalg.norm(out[..., :3], axis=-1, keepdims=True)
    off_deg = np.degrees(np.arccos(np.clip((shown * own).sum(axis=-1), -1.0, 1.0)))
    ghost = seen & (off_deg > 3.0)  # NaN (a raw pixel past the lens's peak in the footprint) is no ghost
    assert np.count_nonzero(ghost) == 0, f"{np.count_nonzero(ghost)} seen pixels show a ray over 3 degrees off theirs"
    assert np.count_nonzero(seen) > 0.3 * seen.size  # the lens's view is kept
    scene_error = np.abs(out[..., 3] - _along(grey, own))[seen]
    assert np.nanmedian(scene_error) < 3.0  # the scene along each seen pixel's own ray


def test_a_camera_info_without_a_size_takes_the_images_as_depth_image_proc_does() -> None:
    """camera_info with width = height = 0 but a calibrated K / P (a RealSense R200 driver's, rtabmap#64; hand-made
    camera_info publishers): image_geometry keeps the zero size and depth_image_proc reads fx, fy, cx, cy with the
    image's own size, so its cloud is made; it was refused here as an uncalibrated camera. The image's size is taken
    as the calibrated one (binning included): the same intrinsics, undistortion and checks as with the size."""
    sized = _info(d=(-0.3, 0.1, 0.0, 0.0, 0.0))
    sizeless = _info(width=0, height=0, d=(-0.3, 0.1, 0.0, 0.0, 0.0))
    camera = sizeless.for_image(640, 480)
    assert camera is sizeless.for_image(640, 480)  # once per size
    assert camera.intrinsics(image_is_rectified=True) == sized.intrinsics(image_is_rectified=True)
    assert camera.intrinsics(image_is_rectified=False) == sized.intrinsics(image_is_rectified=False)
    raw = np.random.default_rng(3).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    np.testing.assert_array_equal(camera.undistort(raw), sized.undistort(raw))
    binned = _info(width=0, height=0, binning_x=2, binning_y=2).for_image(320, 240).rectified_intrinsics()
    assert (binned.width, binned.height, binned.fx, binned.cx) == (320, 240, 245.0, 159.0)
    with pytest.raises(CalibrationError, match=r"fx=1, fy=1 for the 640x480 image.*no calibration"):
        _info(width=0, height=0, k=[1.0, 0, 320, 0, 1, 240, 0, 0, 1], p=[0.0] * 12).for_image(640, 480)
    with pytest.raises(CalibrationError, match=r"width/height 0x0 .*roi 320x240 at \(10, 20\).*publish"):
        _info(width=0, height=0, roi=(10, 20, 320, 240))
    with pytest.raises(CalibrationError, match=r"width/height 640x0 must be positive"):
        _info(height=0)
    with pytest.raises(CalibrationError, match=r"width/height 0x0: .*no size: give it to"):
        sizeless.rectified_intrinsics()  # the size comes from the image (for_image)


def test_a_ray_square_to_the_raw_cameras_axis_leaves_the_lens_check_its_view() -> None:
    """The lens's peak was looked for on a table of radii up to the largest ray radius in P's view: a pixel whose ray
    is square to the raw camera's axis (a turned R; radius 1e16) spread the table so thin that its first step was
    past the peak, and every pixel was unseen (a CalibrationError for a camera whose left half sees the scene)."""
    import cv2

    k = np.array([[200.0, 0.0, 319.5], [0.0, 200.0, 179.5], [0.0, 0.0, 1.0]])
    p = np.array([[150.0, 0.0, 320.0, 0.0], [0.0, 150.0, 179.5, 0.0], [0.0, 0.0, 1.0, 0.0]])  # column 320: square
    turned = cv2.Rodrigues(np.array([0.0, math.pi / 2, 0.0]))[0]
    camera = CameraModel(640, 360, "plumb_bob", (-0.05, 0.0, 0.0, 0.0, 0.0), k, turned, p)
    seen = camera.seen_mask()
    assert seen is not None
    map_x, map_y = cv2.initUndistortRectifyMap(k, np.array(camera.d), turned, p, (640, 360), cv2.CV_32FC1)
    pixels = np.stack([*np.meshgrid(np.arange(640.0), np.arange(360.0)), np.ones((360, 640))])
    raw = np.einsum("ij,jhw->ihw", turned.T @ np.linalg.inv(p[:, :3]), pixels)  # the rays in the raw camera
    in_front_and_short = (raw[2] > 0) & (np.hypot(raw[0], raw[1]) < 2.0 * raw[2])  # 63 degrees: the peak is at 69
    inside = (map_x >= -0.5) & (map_x < 639.5) & (map_y >= -0.5) & (map_y < 359.5)
    assert np.count_nonzero(in_front_and_short & inside) > 0.2 * seen.size
    np.testing.assert_array_equal(seen[in_front_and_short & inside], True)
    assert not seen[raw[2] <= 0].any()


def test_an_ideal_equidistant_fisheye_with_zero_coefficients_is_still_undistorted() -> None:
    """An ``equidistant`` camera_info whose k1..k4 are all zero is the ideal f-theta fisheye (image radius
    ``f · theta``, as simulators publish one), not a pinhole: its raw image must be undistorted with P as any
    fisheye's is. The raw image carries each raw pixel's ray, written out (angle off the axis = radius / f); OpenCV's
    cv2.fisheye.projectPoints with D = 0 agrees with that formula."""
    import cv2

    width = height = 512  # TUM-VI's cam0 intrinsics, its lens taken as the ideal one
    k = np.array([[190.97847715, 0.0, 254.93170606], [0.0, 190.97330705, 256.89744290], [0.0, 0.0, 1.0]])
    p = np.hstack([k, np.zeros((3, 1))])
    camera = CameraModel(width, height, "equidistant", (0.0, 0.0, 0.0, 0.0), k, np.eye(3), p)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    xd, yd = (u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1]
    angle, azimuth = np.hypot(xd, yd), np.arctan2(yd, xd)
    rays = np.stack([np.sin(angle) * np.cos(azimuth), np.sin(angle) * np.sin(azimuth), np.cos(angle)], axis=-1)
    some = (slice(120, 400, 40), slice(120, 400, 40))  # OpenCV's model of the same lens: the same raw pixels
    projected, _ = cv2.fisheye.projectPoints(rays[some].reshape(-1, 1, 3), np.zeros(3), np.zeros(3), k, np.zeros(4))
    np.testing.assert_allclose(projected.reshape(-1, 2), np.stack([u[some], v[some]], -1).reshape(-1, 2), atol=1e-6)

    out = camera.undistort(rays.astype(np.float32), border_value=np.nan)
    rect = camera.intrinsics(image_is_rectified=False)
    own = np.stack([(u - rect.cx) / rect.fx, (v - rect.cy) / rect.fy, np.ones_like(u)], axis=-1)
    own /= np.linalg.norm(own, axis=-1, keepdims=True)
    seen = np.isfinite(out).all(axis=-1)
    assert np.count_nonzero(seen) > 0.9 * seen.size
    shown = out[seen] / np.linalg.norm(out[seen], axis=-1, keepdims=True)
    off_deg = np.degrees(np.arccos(np.clip((shown * own[seen]).sum(axis=-1), -1.0, 1.0)))
    assert off_deg.max() < 0.05, f"undistorted pixels show rays up to {off_deg.max():.1f} degrees off"  # 1 px: 0.3


REAL_LENSES = {  # (width, height, distortion model, D, (fx, fy, cx, cy)) of published calibrations
    "EuRoC MAV cam0 (plumb_bob, radial-tangential)": (
        752,
        480,
        "plumb_bob",
        (-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, 0.0),
        (458.654, 457.296, 367.215, 248.375),
    ),
    "TUM-VI cam0 (equidistant, Kannala-Brandt)": (
        512,
        512,
        "equidistant",
        (0.0034823894022493434, 0.0007150348452162257, -0.0020532361418706202, 0.00020293673591811182),
        (190.97847715128717, 190.9733070521226, 254.93170605935475, 256.8974428996504),
    ),
    "wide rational_polynomial (Azure Kinect WFOV-like, k1 = 3.6)": (
        1024,
        1024,
        "rational_polynomial",
        (3.6, 2.5, 1.2e-4, -6.0e-5, 0.13, 3.95, 3.6, 0.7),
        (503.7, 503.9, 511.3, 515.9),
    ),
}
LENS_SETUPS = [  # (lens, P's focal / K's, binning, roi)
    ("EuRoC MAV cam0 (plumb_bob, radial-tangential)", 1.0, 0, (0, 0, 0, 0)),
    ("EuRoC MAV cam0 (plumb_bob, radial-tangential)", 0.8, 2, (40, 20, 640, 400)),
    ("TUM-VI cam0 (equidistant, Kannala-Brandt)", 1.0, 0, (0, 0, 0, 0)),
    ("TUM-VI cam0 (equidistant, Kannala-Brandt)", 0.5, 0, (0, 0, 0, 0)),
    ("wide rational_polynomial (Azure Kinect WFOV-like, k1 = 3.6)", 0.5, 2, (0, 0, 0, 0)),
]


@pytest.mark.parametrize(("lens", "p_scale", "binning", "roi"), LENS_SETUPS)
def test_undistortion_and_seen_mask_are_opencvs_projection_of_each_pixels_own_ray(
    lens: str, p_scale: float, binning: int, roi: tuple[int, int, int, int]
) -> None:
    """Every pixel of the undistorted (published) image of a real lens shows the raw pixel where OpenCV's own
    projection (cv2.projectPoints, cv2.fisheye.projectPoints) puts the pixel's ray Rᵀ P⁻¹ (u, v, 1), to 0.05 px (the
    fixed-point maps' 1/32 pixel), binned and cut as image_geometry reads binning and roi (full-resolution pixel =
    b · pixel + offset); and a pixel is seen exactly when that raw pixel lies on the raw image (within half a pixel of
    its outer pixel centres), the ray in front of the lens."""
    import cv2

    width, height, model_name, d, (fx, fy, cx, cy) = REAL_LENSES[lens]
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    p = np.array([[fx * p_scale, 0.0, cx, 0.0], [0.0, fy * p_scale, cy, 0.0], [0.0, 0.0, 1.0, 0.0]])
    r = np.asarray(cv2.Rodrigues(np.array([0.003, -0.006, 0.001]))[0], dtype=np.float64)  # a stereo rectification
    b = max(binning, 1)
    x0, y0, roi_w, roi_h = roi if roi[2] else (0, 0, width, height)
    camera = CameraModel(width, height, model_name, d, k, r, p, binning, binning, roi)
    raw_w, raw_h = roi_w // b, roi_h // b
    # the raw (binned, cut) image holds its own pixel coordinates; undistorting it tells where each pixel looked
    raw_u, raw_v = np.meshgrid(np.arange(raw_w, dtype=np.float32), np.arange(raw_h, dtype=np.float32))
    out = camera.undistort(np.stack([raw_u, raw_v], axis=-1), border_value=np.nan)
    seen = camera.seen_mask()
    seen = np.ones((raw_h, raw_w), bool) if seen is None else seen

    u, v = np.meshgrid(np.arange(raw_w, dtype=np.float64) * b + x0, np.arange(raw_h, dtype=np.float64) * b + y0)
    own = np.stack([(u - p[0, 2]) / p[0, 0], (v - p[1, 2]) / p[1, 1], np.ones_like(u)], axis=-1) @ r  # Rᵀ P⁻¹ uv1
    ahead = own[..., 2] > 0.0
    project = cv2.fisheye.projectPoints if model_name == "equidistant" else cv2.projectPoints
    full, _ = project(own[ahead].reshape(-1, 1, 3), np.zeros(3), np.zeros(3), k, np.asarray(d))
    expected = np.full((raw_h, raw_w, 2), np.nan)
    expected[ahead] = (full.reshape(-1, 2) - (x0, y0)) / b  # image_geometry: binned pixel = (full - offset) / b
    with np.errstate(invalid="ignore"):
        on_raw = (expected[..., 0] >= -0.5) & (expected[..., 0] < raw_w - 0.5)
        on_raw &= (expected[..., 1] >= -0.5) & (expected[..., 1] < raw_h - 0.5)
        edge = np.minimum(  # distance to the raw image's outline, in raw pixels
            np.minimum(np.abs(expected[..., 0] + 0.5), np.abs(expected[..., 0] - raw_w + 0.5)),
            np.minimum(np.abs(expected[..., 1] + 0.5), np.abs(expected[..., 1] - raw_h + 0.5)),
        )
    disagree = (seen != on_raw) & ~(edge < 0.01)  # the maps are float32: a raw pixel on the boundary may go either way
    assert np.count_nonzero(disagree) == 0, f"{np.count_nonzero(disagree)} pixels seen where OpenCV says otherwise"
    assert np.count_nonzero(on_raw) > 0.5 * on_raw.size

    inside = np.isfinite(out).all(axis=-1)  # bilinear: a footprint on the raw image (NaN from the border otherwise)
    assert np.count_nonzero(inside & on_raw) > 0.97 * np.count_nonzero(on_raw)
    error_px = np.hypot(*(out[inside] - expected[inside]).T)
    assert error_px.max() < 0.05, f"undistorted pixels look {error_px.max():.3f} px away from OpenCV's raw pixel"


@st.composite
def _binned_windows(draw: st.DrawFn) -> tuple[int, int, tuple[int, int, int, int]]:
    """(binning_x, binning_y, roi) for a 1242 × 375 calibration: binning 0..4, a roi inside the image or none."""
    bx, by = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    if draw(st.booleans()):
        return bx, by, (0, 0, 0, 0)
    x, y = draw(st.integers(0, 1000)), draw(st.integers(0, 300))
    w, h = draw(st.integers(8, 1242 - x)), draw(st.integers(8, 375 - y))
    return bx, by, (x, y, w, h)


@given(_binned_windows(), st.booleans())
def test_binning_and_roi_follow_image_geometrys_formulas(
    window: tuple[int, int, tuple[int, int, int, int]], p_set: bool
) -> None:
    """image_geometry's PinholeCameraModel.fromCameraInfo (vision_opencv, cameramodels.py), written out: b =
    max(1, binning), an all-zero roi is the full image, then fx / b, fy / b, (cx - x_offset) / b, (cy - y_offset) / b
    for K and P alike; the published image is roi.width // b × roi.height // b. A zero P falls back to K."""
    bx, by, roi = window
    k = np.array([[690.0, 0.0, 610.3], [0.0, 695.5, 185.2], [0.0, 0.0, 1.0]])
    p = (
        np.array([[707.1, 0.0, 604.1, -380.2], [0.0, 707.1, 180.5, 0.0], [0.0, 0.0, 1.0, 0.0]])
        if p_set
        else np.zeros((3, 4))
    )
    camera = CameraModel(1242, 375, "plumb_bob", (-0.28, 0.07, 0.0, 0.0, 0.0), k, np.eye(3), p, bx, by, roi)
    b_x, b_y = max(1, bx), max(1, by)
    x, y, w, h = roi if any(roi) else (0, 0, 1242, 375)
    for got, matrix in ((camera.raw_intrinsics(), k), (camera.rectified_intrinsics(), p if p_set else k)):
        assert got.fx == pytest.approx(matrix[0, 0] / b_x) and got.fy == pytest.approx(matrix[1, 1] / b_y)
        assert got.cx == pytest.approx((matrix[0, 2] - x) / b_x) and got.cy == pytest.approx((matrix[1, 2] - y) / b_y)
        assert (got.width, got.height) == (w // b_x, h // b_y)
    assert camera.intrinsics(image_is_rectified=False) == camera.rectified_intrinsics()  # D: the undistorted image


def test_a_realsense_like_plumb_bob_with_zero_d_is_used_as_it_is() -> None:
    """realsense-ros publishes the colour camera as plumb_bob with D = 0 and P = [K | 0] (its images come
    undistorted): the raw image is the pinhole image, used as it is (no resampling, every pixel seen), K and P agree."""
    k = np.array([[615.3, 0.0, 320.9], [0.0, 615.6, 238.6], [0.0, 0.0, 1.0]])
    camera = CameraModel(640, 480, "plumb_bob", (0.0,) * 5, k, np.eye(3), np.hstack([k, np.zeros((3, 1))]))
    image = np.random.default_rng(3).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert not camera.has_distortion
    assert camera.undistort(image) is image
    assert camera.seen_mask() is None
    expected = PinholeIntrinsics(615.3, 615.6, 320.9, 238.6, width=640, height=480)
    assert camera.intrinsics(image_is_rectified=False) == camera.intrinsics(image_is_rectified=True) == expected


def _image_proc_resize(info: CameraModel, scale: float) -> CameraModel:
    """The camera_info image_proc's resize node publishes with its image at ``scale`` (use_scale, Humble and
    rolling resize.cpp): width / height ``int(W * scale)``, K and P's fx, cx, fy, cy (and Tx) scaled, binning and
    roi copied as they came."""
    k, p = info.k.copy(), info.p.copy()
    k[:2] *= scale
    p[:2, :3] *= scale
    p[0, 3] *= scale
    return replace(info, width=int(info.width * scale), height=int(info.height * scale), k=k, p=p)


@pytest.mark.parametrize(
    ("binning", "roi", "image_wh"),
    [(2, (0, 0, 1242, 375), (310, 94)), (1, (100, 40, 800, 300), (400, 150)), (1, (10, 10, 300, 150), (150, 75))],
    ids=["decimated by 2", "cropped, the roi past the resized size", "cropped, the roi within the resized size"],
)
def test_image_procs_resize_after_crop_decimate_is_refused_naming_the_node_order(
    binning: int, roi: tuple[int, int, int, int], image_wh: tuple[int, int]
) -> None:
    """crop_decimate publishes its window as roi and its decimation as binning, in pixels of the full calibration;
    image_proc's resize after it scales K, P and width / height but copies roi and binning, so the roi is in
    pixels of a calibration that no longer exists (depth_image_proc's cloud of it is silently off). Refused as
    before, but the error blamed the driver's camera_info ('fix the driver's camera_info'): it now names the node
    order that makes it and the remedy (resize before crop_decimate, or crop_decimate's decimation alone)."""
    full = _info(width=1242, height=375, k=KITTI.matrix.reshape(-1), p=KITTI.projection_matrix.reshape(-1))
    decimated = replace(full, binning_x=binning, binning_y=binning, roi=roi)
    with pytest.raises(CalibrationError, match=r"image_proc's resize.*roi.*resize before crop_decimate"):
        _image_proc_resize(decimated, 0.5).for_image(*image_wh)
    x, y, w, h = roi  # the other order: crop_decimate's roi in the resized pixels, which fits
    resized_first = replace(_image_proc_resize(full, 0.5), binning_x=binning, binning_y=binning)
    resized_first = replace(resized_first, roi=(x // 2, y // 2, w // 2, h // 2))
    assert resized_first.for_image(w // 2 // binning, h // 2 // binning).rectified_intrinsics().fx == pytest.approx(
        KITTI.fx / 2 / binning
    )


@pytest.mark.parametrize(
    ("size", "k", "d", "p_fx"),
    [
        ((1280, 800), [[330.0, 0.0, 639.5], [0.0, 330.0, 399.5], [0.0, 0.0, 1.0]], (0.05, -0.01, 0.0, 0.0), 176.4),
        (
            (848, 800),
            [[286.0, 0.0, 423.5], [0.0, 286.0, 399.5], [0.0, 0.0, 1.0]],
            (-0.0075, 0.043, -0.041, 0.0075),
            57.2,
        ),
    ],
    ids=["262-degree diagonal", "T265-like"],
)
def test_a_fisheyes_rectified_view_wider_than_a_pinhole_names_p_not_image_publisher(
    size: tuple[int, int], k: list[list[float]], d: tuple[float, ...], p_fx: float
) -> None:
    """Wide fisheyes whose P camera_calibration's scale slider (cv2.fisheye.estimateNewCameraMatrixForUndistortRectify's
    balance) set to 1: a 171.5 / 174.7-degree pinhole view. Refused (as before: its edges stretch past use), but the
    error said 'no calibration (image_publisher without camera_info_url)' of a calibrated lens; it now says P's
    rectified view is too wide and to write a narrower P. The same lens with balance 0 (camera_calibration's
    default: a 149 / 165-degree view) is taken."""
    import cv2

    def fisheye(balance: float) -> CameraModel:
        p = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(
            np.array(k), np.array(d), size, np.eye(3), balance=balance
        )
        return _info(width=size[0], height=size[1], distortion_model="equidistant", d=d, k=np.array(k).reshape(-1),
                     p=np.hstack([p, np.zeros((3, 1))]).reshape(-1))  # fmt: skip

    with pytest.raises(
        CalibrationError, match=r"CameraInfo P has fx=.*17\d\.\d degrees.*rectified view.*narrower P"
    ) as e:
        fisheye(1.0)
    assert "image_publisher" not in str(e.value)
    assert fisheye(0.0).rectified_intrinsics().fx == pytest.approx(p_fx, abs=0.1)


def test_a_raw_image_with_zero_distortion_and_a_rectification_rotation_is_rotated_into_p() -> None:
    """A stereo camera calibrated without distortion terms (camera_calibration --k-coefficients 0
    --zero-tangent-dist: D all zero) whose camera_info has R != I (the right camera's rectification, 2 degrees here).
    P projects points of the camera's frame into the rectified image (image_geometry's project3dToPixel), and any
    non-zero D (1e-12) rotated the raw image by R into P's image; D all zero gave the raw image unchanged with K: the
    depth, its cloud and the LiDAR pairing 2 degrees (25 pixels at KITTI's fx) off the same camera's with D = 1e-12.
    Now the raw image is rotated into P (cv2.initUndistortRectifyMap with zero D, the reference) whatever D; R = I (or
    within 1e-9, or all zero as uncalibrated drivers send) still gives the raw image as it is, with K."""
    import cv2

    turn, _ = cv2.Rodrigues(np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1]) * math.radians(2.0))
    k = KITTI.matrix
    p = np.array([[700.0, 0.0, 600.0, -700.0 * 0.54], [0.0, 700.0, 170.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    v, u = np.mgrid[0:375, 0:1242].astype(np.float32)
    raw = np.dstack([127 + 60 * np.sin(u / 37.0) + 60 * np.cos(v / 23.0)] * 3).astype(np.uint8)
    map_x, map_y = cv2.initUndistortRectifyMap(k, np.zeros(5), turn, p[:, :3], (1242, 375), cv2.CV_32FC1)
    reference = cv2.remap(raw, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    inside = (map_x > 1) & (map_x < 1240) & (map_y > 1) & (map_y < 373)
    for d in [(0.0,) * 5, (1e-12, 0.0, 0.0, 0.0, 0.0)]:
        camera = CameraModel(1242, 375, "plumb_bob", d, k, turn, p)
        assert camera.intrinsics(image_is_rectified=False) == PinholeIntrinsics(700.0, 700.0, 600.0, 170.0, 1242, 375)
        rotated = camera.undistort(raw)
        assert np.abs(rotated.astype(np.int16) - reference)[inside].max() <= 1
        seen = camera.seen_mask()
        assert seen is not None and 0.9 < seen.mean() < 0.99 and not seen[inside.shape[0] // 2, 0]
    for r in (np.eye(3) + 1e-12, np.zeros((3, 3))):  # no rotation: the raw image with K, as before
        camera = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, k, r, p)
        assert camera.undistort(raw) is raw and camera.seen_mask() is None
        assert camera.intrinsics(image_is_rectified=False) == KITTI


@pytest.mark.parametrize(
    ("turn_px", "rotates"),
    [(1e-9 * 721.5377, False), (0.005, False), (0.02, True), (0.5, True)],
    ids=["float noise (1e-9 rad)", "0.005 px", "0.02 px", "0.5 px"],
)
@pytest.mark.parametrize("axis", [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)], ids=["x", "y", "z"])
def test_a_zero_d_rotation_is_resampled_only_past_min_rectifying_turn_px(
    turn_px: float, rotates: bool, axis: tuple[float, float, float]
) -> None:
    """MIN_RECTIFYING_TURN_PX (0.01 px of P's focal length) on both sides, about each axis: an R within it (a stereo
    left camera's identity to 1e-9, rounding) keeps the raw image as it is with K (no per-frame remap); an R past it
    rotates the raw image into P's (its intrinsics are P's)."""
    import cv2

    angle = turn_px / KITTI.fx  # the largest entry of R - I is sin(angle): turn_px at K's fx (P's is smaller)
    r, _ = cv2.Rodrigues(np.array(axis) * angle)
    p = np.array([[700.0, 0.0, 600.0, 0.0], [0.0, 700.0, 170.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    camera = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, KITTI.matrix, r, p)
    raw = np.zeros((375, 1242, 3), dtype=np.uint8)
    assert camera.rotates_rays is rotates and camera.resamples_raw is rotates
    assert (camera.undistort(raw) is not raw) is rotates
    assert camera.intrinsics(image_is_rectified=False) == (camera.rectified_intrinsics() if rotates else KITTI)


def test_whether_r_turns_rays_is_judged_once_per_calibration_not_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """A raw image without distortion (R = I to 1e-9: most raw cameras that publish D all zero) asks
    :attr:`CameraModel.resamples_raw` three or four times a frame (intrinsics, undistort, seen_mask at one or two
    sizes); R's test (an orthonormality check, ~40 us on this machine) is a property of the calibration, made once."""
    calls: list[int] = []
    allclose = np.allclose

    def counted(*args: object, **kwargs: object) -> bool:
        calls.append(1)
        return bool(allclose(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(np, "allclose", counted)
    camera = CameraModel(1242, 375, "plumb_bob", (0.0,) * 5, KITTI.matrix, np.eye(3) + 1e-9, KITTI.projection_matrix)
    raw = np.zeros((375, 1242, 3), dtype=np.uint8)
    for _ in range(10):  # ten frames of the pipeline's raw road
        assert camera.intrinsics(image_is_rectified=False) == KITTI
        assert camera.undistort(raw) is raw
        assert camera.seen_mask((188, 621)) is None
    assert len(calls) <= 1
