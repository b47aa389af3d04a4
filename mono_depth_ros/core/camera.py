"""Pinhole camera model from CameraInfo fields, and intrinsics that follow every resize and crop.

Conventions (as image_geometry and depth_image_proc):

* Pixel coordinates: ``u`` to the right, ``v`` down, integer values at pixel centres (OpenCV).
* Rectified images (``image_rect``) use **P**: ``fx=P[0,0], fy=P[1,1], cx=P[0,2], cy=P[1,2]``.
* Raw images use **K + D** and are undistorted (maps computed once) into the pinhole image that P describes.
* The calibrated principal point is used, never the image centre.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import CalibrationError, ShapeError

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")
OPENCV_DISTORTION_COUNTS = (4, 5, 8, 12, 14)  # coefficient counts cv2.initUndistortRectifyMap takes
MIN_SEEN_SHARE = 0.01
"""Fewest pixels of an undistorted raw image that must see the raw image (:meth:`CameraModel.seen_mask`): below,
K, D, R, P are taken as wrong (the model would run on a black image and every depth be dropped)."""
MAX_PINHOLE_FOV_DEG = 170.0
"""Widest field of view (degrees, across the calibrated width or height) a K or P of CameraInfo may make: a wider
pinhole is no calibration (image_publisher without camera_info_url publishes fx = fy = 1: 179.8 degrees on 1242
pixels); a fisheye's K is far narrower read as a pinhole (an equidistant 180-degree lens: 115 degrees)."""
MIN_RECTIFYING_TURN_PX = 0.01
"""Least turn of R (pixels of P at its focal length: the largest entry of R - I times fx) for which a raw image
without distortion is rotated into P's image (:attr:`CameraModel.rotates_rays`); below, R is the identity a
calibration file prints with rounding."""
FloatArray = npt.NDArray[np.float64]
UNCALIBRATED = (
    "the camera is not calibrated (usb_cam, v4l2_camera, camera_info_manager without a calibration file): calibrate it "
    "(ros2 run camera_calibration cameracalibrator) and give the driver the file (its camera_info_url)"
)

RESIZED_ROI = (
    "image_proc's resize after crop_decimate (or after a camera that publishes a roi or binning) makes this: it "
    "scales K, P and width/height but copies the roi and binning in pixels of the calibration before it; run resize "
    "before crop_decimate, or crop_decimate's decimation alone"
)
"""The likely cause of a roi or binning that does not match camera_info's width / height and the image, and its
remedy (image_pipeline's resize.cpp, Humble and rolling: ``k``, ``p`` and ``width``, ``height`` scaled, ``roi`` and
``binning_x``, ``binning_y`` left as they came)."""


def _wrong_length_remedy(d: tuple[float, ...]) -> str:
    """What to fix for a D of a length no undistortion takes (the text after "got N"): the coefficients received (the
    first 14, OpenCV's most: a driver's garbage D of thousands stays one readable line) and the lengths
    camera_calibration writes for each model (image_geometry, image_proc hand D to OpenCV as it is)."""
    coefficients = ", ".join(f"{c:g}" for c in d[:14]) + (f", ... ({len(d) - 14} more)" if len(d) > 14 else "")
    return (
        f" (D=[{coefficients}]); camera_calibration writes 5 for plumb_bob (k1, k2, p1, p2, k3), 8 for "
        f"rational_polynomial (k1, k2, p1, p2, k3, k4, k5, k6), 4 for equidistant (k1..k4): fix D in the calibration "
        f"file the driver reads (its camera_info_url), or the driver's own camera_info"
    )


def _none_if_all(seen: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_] | None:
    return None if bool(seen.all()) else seen


def seen_at(seen: npt.NDArray[np.bool_], hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """An (H, W) bool mask of seen pixels (:meth:`CameraModel.seen_mask`) at (h, w) = ``hw``: a pixel is True when
    its whole footprint is (area resize), so a resized map keeps no value made from an unseen pixel. ``seen`` itself
    at its own size."""
    if tuple(seen.shape) == tuple(hw):
        return seen
    import cv2

    area = cv2.resize(seen.astype(np.float32), (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_AREA)
    return np.asarray(area >= 1.0 - 1e-4)


@dataclass(frozen=True)
class PinholeIntrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` × ``height`` pixels (no distortion)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("width", "height"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                msg = f"focal length {name}={value} must be finite and > 0; check the camera calibration (P/K)"
                raise CalibrationError(msg)
        for name in ("cx", "cy"):
            value = getattr(self, name)
            if not math.isfinite(value):
                msg = f"principal point {name}={value} is not finite; check the camera calibration"
                raise CalibrationError(msg)
        if self.width <= 0 or self.height <= 0:
            msg = f"image size {self.width}x{self.height} must be positive; check CameraInfo width/height"
            raise CalibrationError(msg)

    @property
    def matrix(self) -> FloatArray:
        """3×3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def projection_matrix(self) -> FloatArray:
        """3×4 projection matrix ``[K | 0]`` as published in CameraInfo.p (float64)."""
        return np.hstack([self.matrix, np.zeros((3, 1))])

    def resized(self, width: int, height: int) -> PinholeIntrinsics:
        """Intrinsics after resizing the image to ``width`` × ``height`` (cv2.resize pixel-centre model).

        A pixel centre ``u`` maps to ``(u + 0.5) * sx - 0.5``, so ``cx' = (cx + 0.5) * sx - 0.5``.
        """
        if width <= 0 or height <= 0:
            msg = f"cannot resize to {width}x{height}"
            raise ShapeError(msg)
        sx = width / self.width
        sy = height / self.height
        return PinholeIntrinsics(
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            width=width,
            height=height,
        )

    def cropped(self, x_offset: int, y_offset: int, width: int, height: int) -> PinholeIntrinsics:
        """Intrinsics of the sub-image ``[y_offset:y_offset+height, x_offset:x_offset+width]``."""
        if (
            x_offset < 0
            or y_offset < 0
            or width <= 0
            or height <= 0
            or x_offset + width > self.width
            or y_offset + height > self.height
        ):
            msg = (
                f"crop x={x_offset} y={y_offset} {width}x{height} does not fit in the {self.width}x{self.height} image"
            )
            raise ShapeError(msg)
        return PinholeIntrinsics(self.fx, self.fy, self.cx - x_offset, self.cy - y_offset, width=width, height=height)

    def flipped_horizontally(self) -> PinholeIntrinsics:
        """Intrinsics of the mirrored image (``u' = width - 1 - u``); exact for any principal point."""
        return PinholeIntrinsics(
            self.fx, self.fy, self.width - 1 - self.cx, self.cy, width=self.width, height=self.height
        )

    def check_image_size(self, width: int, height: int, what: str = "image") -> None:
        """Raise :class:`CalibrationError` if an image of ``width`` × ``height`` does not match."""
        if (width, height) != (self.width, self.height):
            msg = f"{what} is {width}x{height} but the camera calibration is for {self.width}x{self.height}; "
            if width * self.height == height * self.width:  # the same aspect: the camera runs in another mode
                msg += (
                    "the same aspect ratio: a calibration made at another resolution (camera_info_manager publishes "
                    "its file as it is): recalibrate at this one (or scale K and P in the file to it), or, for a "
                    "binning camera, publish binning_x / binning_y"
                )
            else:
                msg += "publish matching camera_info or set the right camera_info_topic"
            raise CalibrationError(msg)


@dataclass
class CameraModel:
    """Camera calibration as carried by ``sensor_msgs/CameraInfo`` (fields in lower case, ROS 2 names).

    Attributes:
        width, height: calibrated image size in pixels (before binning / ROI).
        distortion_model: ``plumb_bob``, ``rational_polynomial`` or ``equidistant`` to undistort a raw image; any
            name for a rectified image (P alone describes it; ``d`` is not read).
        d: distortion coefficients of the raw image.
        k: 3×3 intrinsics of the raw (distorted) image.
        r: 3×3 rectification rotation.
        p: 3×4 projection of the rectified image.
        binning_x, binning_y: 0 or 1 = no binning.
        roi: ``(x_offset, y_offset, width, height)`` of the published sub-window; zeros = full image.
    """

    width: int
    height: int
    distortion_model: str
    d: tuple[float, ...]
    k: FloatArray
    r: FloatArray
    p: FloatArray
    binning_x: int = 0
    binning_y: int = 0
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)
    _undistort_maps: dict[bool, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)
    _seen: dict[tuple[int, int], npt.NDArray[np.bool_] | None] = field(default_factory=dict, repr=False, compare=False)
    _sized: dict[tuple[int, int], CameraModel] = field(default_factory=dict, repr=False, compare=False)
    _unseen_error: list[str] = field(default_factory=list, repr=False, compare=False)  # [message or ""], once

    def __post_init__(self) -> None:
        self.k = np.asarray(self.k, dtype=np.float64).reshape(3, 3)
        self.r = np.asarray(self.r, dtype=np.float64).reshape(3, 3)
        self.p = np.asarray(self.p, dtype=np.float64).reshape(3, 4)
        self.d = tuple(float(x) for x in self.d)
        sizeless = self.width == 0 and self.height == 0  # sized by each image (for_image), as depth_image_proc
        if not sizeless and (self.width <= 0 or self.height <= 0):
            msg = f"CameraInfo width/height {self.width}x{self.height} must be positive: {UNCALIBRATED}"
            raise CalibrationError(msg)
        # distortion_model and d describe the raw image only: checked where a raw image is undistorted
        # (_check_rectification), never for a rectified image, which P alone describes (image_geometry's rule)
        if self.k[0, 0] <= 0 and self.p[0, 0] <= 0:
            kind = "zero" if self.k[0, 0] == 0 and self.p[0, 0] == 0 else "no positive"
            msg = (
                f"CameraInfo has {kind} focal length in both K and P (K[0]={self.k[0, 0]:g}, P[0]={self.p[0, 0]:g}); "
                f"{UNCALIBRATED}"
            )
            raise CalibrationError(msg)
        if sizeless and (self.roi[2] or self.roi[3]):
            x, y, w, h = self.roi
            msg = (
                f"CameraInfo width/height 0x0 with roi {w}x{h} at ({x}, {y}): a roi is in pixels of the calibrated "
                f"image, which camera_info must then size; publish its width/height (the calibration's image size)"
            )
            raise CalibrationError(msg)
        if not sizeless:  # a sizeless calibration is judged with each image's size (for_image)
            self._check_roi()
            self._check_field_of_view()

    def _check_field_of_view(self) -> None:
        """Raise :class:`CalibrationError` for a K or P whose focal lengths make a pinhole wider than
        :data:`MAX_PINHOLE_FOV_DEG` over the calibrated image, or whose principal point puts an image edge more than
        half of that off the optical axis (a zero matrix is not judged: P falls back to K)."""
        for name, matrix in (("K", self.k), ("P", self.p)):
            fx, fy, cx, cy = (float(matrix[0, 0]), float(matrix[1, 1]), float(matrix[0, 2]), float(matrix[1, 2]))
            if not (fx > 0 and fy > 0):
                continue
            fov_deg = 2.0 * math.degrees(math.atan(max(self.width / 2.0 / fx, self.height / 2.0 / fy)))
            if fov_deg > MAX_PINHOLE_FOV_DEG:
                msg = (
                    f"CameraInfo {name} has fx={fx:g}, fy={fy:g} for the {self.width}x{self.height} image: a pinhole "
                    f"field of view of {fov_deg:.1f} degrees (over {MAX_PINHOLE_FOV_DEG:g}), "
                )
                if name == "P" and self.k[0, 0] > 0 and self.k[1, 1] > 0:  # K, checked first, is a lens's
                    msg += (
                        f"a rectified view wider than a pinhole image can show while K (fx={self.k[0, 0]:g}) is a "
                        f"lens's: the calibration's P was chosen too wide (camera_calibration's scale slider, "
                        f"cv2.fisheye balance or getOptimalNewCameraMatrix alpha near 1 on a wide lens); write a "
                        f"narrower P into the calibration file (scale 0: every rectified pixel sees the lens)"
                    )
                else:
                    msg += (
                        "no calibration (image_publisher without camera_info_url publishes fx = fy = 1); give the "
                        "publisher the camera's calibration file (camera_info_url)"
                    )
                raise CalibrationError(msg)
            reach_x, reach_y = max(abs(cx), abs(self.width - cx)), max(abs(cy), abs(self.height - cy))
            aside = max(reach_x / fx, reach_y / fy)  # the tangent of the ray to the image edge farthest off the axis
            off_axis_deg = math.degrees(math.atan(aside))
            if not off_axis_deg <= MAX_PINHOLE_FOV_DEG / 2.0:  # NaN too (a principal point of 1e308 - -1e308)
                msg = (
                    f"CameraInfo {name} has principal point cx={cx:g}, cy={cy:g} with fx={fx:g}, fy={fy:g} for the "
                    f"{self.width}x{self.height} image: its edge {off_axis_deg:.2f} degrees off the optical axis "
                    f"(over {MAX_PINHOLE_FOV_DEG / 2.0:g}), where no pinhole image lies (its cloud points "
                    f"{aside:.3g} times as far to the side as ahead); fix the calibration (cx, cy are pixels "
                    f"of the calibrated image, K[2], K[5], P[2], P[6])"
                )
                raise CalibrationError(msg)

    def _check_roi(self) -> None:
        """Raise :class:`CalibrationError` for a ROI that reaches past the calibrated image (by more than one binned
        pixel: :meth:`for_image` takes image_proc's resize rounding)."""
        x, y, w, h = self.roi
        if w == 0 or h == 0:
            return
        bx, by = self._binning()
        if x + w > self.width + bx or y + h > self.height + by:
            msg = (
                f"CameraInfo roi {w}x{h} at ({x}, {y}) does not fit in the calibrated {self.width}x{self.height} "
                f"image; the roi is in pixels of the unbinned calibration (CameraInfo.msg): {RESIZED_ROI}; else fix "
                f"the driver's camera_info (its roi or its width/height)"
            )
            raise CalibrationError(msg)

    @classmethod
    def from_intrinsics(cls, intrinsics: PinholeIntrinsics) -> CameraModel:
        """Distortion-free model whose K and P both equal ``intrinsics``."""
        return cls(
            width=intrinsics.width,
            height=intrinsics.height,
            distortion_model="plumb_bob",
            d=(0.0, 0.0, 0.0, 0.0, 0.0),
            k=intrinsics.matrix,
            r=np.eye(3),
            p=intrinsics.projection_matrix,
        )

    @property
    def has_distortion(self) -> bool:
        """True when a raw image is not the pinhole image K describes: ``d`` holds a non-zero coefficient, or the
        model is ``equidistant`` (a fisheye's image radius is ``f · theta``, not ``f · tan(theta)``, with k1..k4 all
        zero too: the ideal f-theta lens a simulator publishes; image_geometry copies such an image unrectified)."""
        return self.distortion_model == "equidistant" or any(c != 0.0 for c in self.d)

    @functools.cached_property
    def rotates_rays(self) -> bool:
        """True when R (a rotation: orthonormal within 1e-3) turns rays by more than
        :data:`MIN_RECTIFYING_TURN_PX` of P's pixels: the rectified image P describes looks along other rays than the
        raw image, so a raw image is resampled (:meth:`undistort`) with D all zero too, as image_geometry's Python
        ``PinholeCameraModel.rectifyImage`` does (its C++ one copies a raw image with D all zero as it is, R left
        out: a D of 1e-12 and one of 0 gave depth in frames R apart). An R of zeros (uncalibrated drivers) or that
        is no rotation turns nothing here (:meth:`undistort` refuses it where D needs the undistortion). Judged once
        per model (K, R, P are not changed after it is made): the raw road asks it three or four times a frame."""
        r = self.r
        if not (np.isfinite(r).all() and np.allclose(r @ r.T, np.eye(3), atol=1e-3)):
            return False
        focal = max(float(self.p[0, 0]), float(self.p[1, 1]), float(self.k[0, 0]), float(self.k[1, 1]))
        return float(np.abs(r - np.eye(3)).max()) * focal > MIN_RECTIFYING_TURN_PX

    @property
    def resamples_raw(self) -> bool:
        """True when a raw image is resampled into P's image (:meth:`undistort`): it has distortion
        (:attr:`has_distortion`) or R turns its rays (:attr:`rotates_rays`)."""
        return self.has_distortion or self.rotates_rays

    def _binning(self) -> tuple[int, int]:
        return max(self.binning_x, 1), max(self.binning_y, 1)

    def _roi(self) -> tuple[int, int, int, int]:
        x, y, w, h = self.roi
        if w == 0 or h == 0:
            return 0, 0, self.width, self.height
        return x, y, w, h

    def _published(self, fx: float, fy: float, cx: float, cy: float) -> PinholeIntrinsics:
        """Full-resolution intrinsics → intrinsics of the published (ROI-cropped, binned) image."""
        if self.width == 0:
            msg = (
                "CameraInfo width/height 0x0: the calibration has no size: give it to the camera_info (the "
                "calibration's image_width / image_height); until then each image's size is taken (for_image)"
            )
            raise CalibrationError(msg)
        x, y, w, h = self._roi()
        bx, by = self._binning()
        return PinholeIntrinsics(
            fx=fx / bx,
            fy=fy / by,
            cx=(cx - x) / bx,
            cy=(cy - y) / by,
            width=w // bx,
            height=h // by,
        )

    def for_image(self, width: int, height: int) -> CameraModel:
        """This calibration for an image of ``width`` × ``height`` pixels that is at most one pixel wider or taller
        (or narrower, shorter) than the published size (:meth:`rectified_intrinsics`): the same K, D, R, P over the
        image's own pixel grid. image_proc's ``resize`` publishes ``width = int(W · scale)`` with the image
        ``cv::resize`` makes, ``round(W · scale)`` pixels wide (1242 × 375 at 0.5: a 621 × 188 image, a 621 × 187
        camera_info); depth_image_proc reads the image's size, not camera_info's. Any other size gives ``self``,
        whose size check then names both sizes. Each size's model (and its undistortion maps) is built once.

        Raises:
            CalibrationError: another size where camera_info has binning or a ROI (the message says how they make
                the size it expects: width / height are the unbinned calibration size, as CameraInfo.msg defines).
        """
        fresh: dict[str, Any] = {"_undistort_maps": {}, "_seen": {}, "_sized": {}, "_unseen_error": []}
        x, y, w, h = self._roi()
        bx, by = self._binning()
        if self.width == 0:  # no calibrated size: the image's (binned), as depth_image_proc reads it
            if (width, height) not in self._sized:
                self._sized[(width, height)] = replace(self, width=width * bx, height=height * by, **fresh)
            return self._sized[(width, height)]
        published = (w // bx, h // by)
        if (width, height) == published:
            return self
        if abs(width - published[0]) > 1 or abs(height - published[1]) > 1:
            if (bx, by) == (1, 1) and (x, y, w, h) == (0, 0, self.width, self.height):
                return self
            msg = (
                f"image is {width}x{height} but camera_info makes it {published[0]}x{published[1]}: "
                f"roi {w}x{h} at ({x}, {y}) of the calibrated {self.width}x{self.height}, binned {bx}x{by}; "
                f"camera_info width/height and K must be the unbinned calibration (CameraInfo.msg), or binning 0 "
                f"({RESIZED_ROI})"
            )
            raise CalibrationError(msg)
        if (width, height) not in self._sized:
            if (w, h) == (self.width, self.height) and (x, y) == (0, 0):  # full image: the calibrated size follows
                sized = replace(self, width=width * bx, height=height * by, roi=(0, 0, 0, 0), **fresh)
            else:
                sized = replace(self, roi=(x, y, width * bx, height * by), **fresh)
            self._sized[(width, height)] = sized
        return self._sized[(width, height)]

    def rectified_intrinsics(self) -> PinholeIntrinsics:
        """Intrinsics of the rectified image, from P (falls back to K when P is all zeros)."""
        if self.p[0, 0] > 0:
            return self._published(self.p[0, 0], self.p[1, 1], self.p[0, 2], self.p[1, 2])
        return self.raw_intrinsics()

    def raw_intrinsics(self) -> PinholeIntrinsics:
        """Intrinsics of the raw image from K (distortion not included)."""
        if self.k[0, 0] <= 0:
            msg = "CameraInfo K has zero focal length; cannot use a raw image with it"
            raise CalibrationError(msg)
        return self._published(self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2])

    def intrinsics(self, image_is_rectified: bool) -> PinholeIntrinsics:
        """Pinhole intrinsics of the image the core works on.

        Rectified input: P. Raw input: the undistorted image :meth:`undistort` produces, which P describes
        when the camera has distortion (image_proc's rectify) or R turns its rays (:attr:`resamples_raw`), else K.
        """
        if image_is_rectified or self.resamples_raw:
            return self.rectified_intrinsics()
        return self.raw_intrinsics()

    def release_maps(self) -> None:
        """Drop the undistortion maps, seen masks and per-size models built so far (rebuilt when next needed): a
        calibration no longer in use (:class:`~mono_depth_ros.adapters.camera_cache.MapsKept`)."""
        self._undistort_maps.clear()
        self._seen.clear()
        self._sized.clear()

    def undistort(
        self, image: npt.NDArray[Any], interpolation: int | None = None, border_value: float = 0.0
    ) -> npt.NDArray[Any]:
        """Undistort and rectify a raw image with K, D, R, P (maps computed once, then reused).

        ``interpolation``: ``cv2.INTER_NEAREST`` for depth-like images (no values invented between two surfaces),
        else bilinear. ``border_value`` fills the pixels that see no raw pixel (NaN for a float depth map).
        Images from a camera without distortion whose R turns no ray (:attr:`resamples_raw`) are returned unchanged.

        Raises:
            CalibrationError: a raw image of another size than K's, or a D / R that cannot undistort (a coefficient
                count OpenCV does not take, non-finite D, an R that is not a rotation, e.g. all zeros), or K, D, R, P
                that map all but :data:`MIN_SEEN_SHARE` of the undistorted image outside the raw image.
        """
        if not self.resamples_raw:
            return image
        import cv2

        expected = self.raw_intrinsics()
        expected.check_image_size(image.shape[1], image.shape[0], what="raw image")
        if not self._unseen_error:  # judged once per calibration, not counted again on every frame
            self._unseen_error.append(self._unseen_message(self.seen_mask()))
        if self._unseen_error[0]:
            raise CalibrationError(self._unseen_error[0])
        nearest = interpolation == cv2.INTER_NEAREST
        if nearest not in self._undistort_maps:
            self._undistort_maps[nearest] = self._build_maps(cv2, nearest)
        map1, map2 = self._undistort_maps[nearest]
        flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return cv2.remap(image, map1, map2, flag, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)

    def _unseen_message(self, seen: npt.NDArray[np.bool_] | None) -> str:
        """Why a raw image cannot be used when under :data:`MIN_SEEN_SHARE` of the undistorted image sees it (a black
        image, every depth dropped); empty otherwise."""
        if seen is None or np.count_nonzero(seen) >= MIN_SEEN_SHARE * seen.size:
            return ""
        rect = self.rectified_intrinsics()
        return (
            f"only {np.count_nonzero(seen)} of {seen.size} pixels of the undistorted image see the raw image "
            f"(under {MIN_SEEN_SHARE:.0%}): camera_info {self.distortion_model} D={list(self.d)} with K "
            f"fx={self.k[0, 0]:g} and P fx={rect.fx:g} maps the others outside it; "
            f"check the camera calibration (D, and P for the rectified image)"
        )

    def seen_mask(self, hw: tuple[int, int] | None = None) -> npt.NDArray[np.bool_] | None:
        """Which pixels of the undistorted image (:meth:`undistort`) see the raw image, at ``hw`` (default: its size).

        P's view can reach past the raw image (a rectification rotation R, a P wider than K, pincushion
        distortion): :meth:`undistort` fills those pixels with ``border_value`` (black); a wide lens's rays past the
        peak of its distortion polynomial land on raw pixels of other rays (:meth:`_within_lens`). Returns an (H, W)
        bool, True where the pixel's ray meets the raw image's area (within half a pixel of its outer pixel centres:
        the pixels the nearest-neighbour undistortion fills) on the lens's first branch; at a smaller ``hw`` (the
        published size) a pixel is True when its whole block is. None when every pixel sees the raw image or nothing
        is resampled (no distortion).
        Computed once per size, from the mask at the full size (kept: one byte a pixel); the float maps it is made
        from are not kept unless :meth:`undistort` made them for a nearest-neighbour undistortion.

        Raises:
            CalibrationError: as :meth:`undistort`.
        """
        if not self.resamples_raw:
            return None
        import cv2

        raw = self.raw_intrinsics()
        full = (raw.height, raw.width)
        size = full if hw is None else (int(hw[0]), int(hw[1]))
        if full not in self._seen:
            maps = self._undistort_maps.get(True)
            # float32 raw coordinates of every undistorted pixel (two CV_32FC1 maps, 8 bytes a pixel): dropped here
            map_x, map_y = maps if maps is not None else self._build_maps(cv2, True)
            seen = (map_x >= -0.5) & (map_x < raw.width - 0.5) & (map_y >= -0.5) & (map_y < raw.height - 0.5)
            del map_x, map_y, maps  # the float maps go before the lens's rays are made
            seen &= self._within_lens(full)
            self._seen[full] = _none_if_all(seen)
        if size not in self._seen:
            whole = self._seen[full]  # every pixel seen: every block too
            self._seen[size] = None if whole is None else _none_if_all(seen_at(whole, size))
        return self._seen[size]

    def _within_lens(self, hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
        """An (H, W) bool over the undistorted image of ``hw`` (the raw image's size, P's published pixels): True
        where the pixel's ray (P and R undone) lies in front of the camera and inside the lens's first branch, where
        the radial distortion still grows with the ray's angle. Past its peak a wide lens's polynomial (plumb_bob or
        rational_polynomial r_d(r), equidistant theta_d(theta)) turns back: OpenCV's maps (image_geometry's too)
        send those rays onto raw pixels of smaller rays, a mirrored ring of the scene (the tangential and thin-prism
        terms are left out of the peak: small next to the radial ones)."""
        rect = self.rectified_intrinsics()
        u = ((np.arange(hw[1], dtype=np.float64) - rect.cx) / rect.fx).astype(np.float32)[np.newaxis, :]
        v = ((np.arange(hw[0], dtype=np.float64) - rect.cy) / rect.fy).astype(np.float32)[:, np.newaxis]
        turn = self.r.astype(np.float32)  # the ray in the raw camera: Rᵀ (u, v, 1), one (H, W) float32 a component
        x, y, z = (u * turn[0, j] + v * turn[1, j] + turn[2, j] for j in range(3))
        ahead = z > 0.0
        z[~ahead] = 1.0
        radius = np.divide(np.hypot(x, y, out=x), z, out=x)  # in place: one frame-size float32 less at a time
        d = np.zeros(8)
        d[: min(len(self.d), 8)] = self.d[:8]
        # the polynomial on a table even in the ray's angle (a ray square to the axis has an unbounded radius)
        angle = np.linspace(0.0, math.atan(float(radius[ahead].max(initial=0.0))), 4097)
        if self.distortion_model == "equidistant":
            angle2 = angle * angle
            distorted = angle * (1.0 + angle2 * (d[0] + angle2 * (d[1] + angle2 * (d[2] + angle2 * d[3]))))
        else:  # k1, k2, (p1, p2), k3, k4, k5, k6
            r = np.tan(angle)
            r2 = r * r
            above = 1.0 + r2 * (d[0] + r2 * (d[1] + r2 * d[4]))
            below = 1.0 + r2 * (d[5] + r2 * (d[6] + r2 * d[7]))
            distorted = r * above / np.where(below > 0.0, below, np.nan)
        with np.errstate(invalid="ignore"):
            grows = np.diff(distorted) > 0.0  # False from a pole of the rational model on
        reach = np.inf if grows.all() else math.tan(float(angle[int(np.argmin(grows))]))
        return np.asarray(ahead & (radius < reach))

    def _check_rectification(self) -> None:
        """Raise :class:`CalibrationError` for a D or R that cannot undistort (OpenCV would fail, or map every pixel
        outside the raw image: a black image that the network would turn into plausible-looking depth)."""
        if self.distortion_model not in DISTORTION_MODELS:
            msg = (
                f"CameraInfo distortion_model {self.distortion_model!r} is not supported for a raw image; "
                f"use one of {', '.join(DISTORTION_MODELS)} or rectify the image upstream (image_proc)"
            )
            raise CalibrationError(msg)
        d = np.asarray(self.d, dtype=np.float64)
        if self.distortion_model == "equidistant" and (d.size < 4 or np.any(d[4:] != 0.0)):
            msg = (
                f"equidistant distortion needs 4 coefficients in d (k1..k4; trailing zeros are ignored), got "
                f"{d.size}{_wrong_length_remedy(self.d)}"
            )
            raise CalibrationError(msg)
        if self.distortion_model != "equidistant" and d.size not in OPENCV_DISTORTION_COUNTS:
            counts = ", ".join(str(n) for n in OPENCV_DISTORTION_COUNTS)
            msg = (
                f"{self.distortion_model} distortion needs {counts} coefficients in d, got {d.size}"
                f"{_wrong_length_remedy(self.d)}"
            )
            raise CalibrationError(msg)
        if not np.isfinite(d).all():
            msg = f"CameraInfo d {tuple(self.d)} is not finite; check the camera calibration"
            raise CalibrationError(msg)
        if not (np.isfinite(self.r).all() and np.allclose(self.r @ self.r.T, np.eye(3), atol=1e-3)):
            msg = (
                f"CameraInfo r {self.r.reshape(-1).tolist()} is not a rotation (identity for a monocular camera); "
                f"cannot rectify a raw image with it"
            )
            raise CalibrationError(msg)

    def _build_maps(self, cv2: Any, nearest: bool) -> tuple[Any, Any]:
        raw = self.raw_intrinsics()
        rect = self.rectified_intrinsics()
        k = raw.matrix
        p = rect.matrix
        size = (raw.width, raw.height)
        map_type = cv2.CV_32FC1 if nearest else cv2.CV_16SC2
        if not self.has_distortion:  # R alone (rotates_rays): no distortion model or D to check
            return tuple(cv2.initUndistortRectifyMap(k, np.zeros(5), self.r, p, size, map_type))
        self._check_rectification()
        d = np.asarray(self.d, dtype=np.float64)
        if self.distortion_model == "equidistant":  # older realsense-ros sends [k1, k2, k3, k4, 0]
            return tuple(cv2.fisheye.initUndistortRectifyMap(k, d[:4], self.r, p, size, map_type))
        return tuple(cv2.initUndistortRectifyMap(k, d, self.r, p, size, map_type))
