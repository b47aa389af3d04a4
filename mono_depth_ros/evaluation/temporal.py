"""Temporal error of published depth: how much a static surface's depth changes from one frame to the next.

The previous frame is warped into the current view with the known camera motion: every previous pixel with a true
depth is back-projected (K), moved with ``cur_from_prev`` and projected into the current image, nearest point first
(z-buffer). A warped pixel counts when it lands on a static surface that both frames see: the warped true depth
matches the current true depth within ``static_tolerance`` (this drops disocclusions, pixels that left the view and
moving objects, whose warp under the camera motion alone misses them, and pixels whose current truth is +inf: sky or
beyond range), and ``exclude`` (e.g. the truth mask of a
moving object) does not cover it. There the published previous depth, moved along its own ray into the current
camera, gives the depth the current frame should publish for that point if nothing flickered, carried to the point
the target pixel sees (``Correspondences.truth_ratio``: the warp rounds to the nearest pixel, up to half a pixel
along a slope: compared as it lands, exact depth of a road read 0.3 % of change a frame); the temporal error is
the mean relative difference ``|d_cur - d_prev→cur| / d_prev→cur``. A network that is right on average can still
flicker: this is the number beside AbsRel that says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.geometry import RigidTransform, backproject_depth, pixel_rays, zbuffer_depth

STATIC_TOLERANCE = 0.01  # relative: warped and current true depth within 1 % = the same static surface

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TemporalError:
    """Frame-to-frame change of the published depth on static surfaces.

    Attributes:
        mean: mean relative change (0.05 = 5 %); NaN when no pixel counted.
        median: median relative change.
        pixels: pixels that counted.
    """

    mean: float
    median: float
    pixels: int


@dataclass(frozen=True)
class Correspondences:
    """Pixels of the previous frame that land on the same static surface in the current one.

    Attributes:
        source: (M,) flat pixel indices in the previous image. target: (M,) flat indices in the current image.
        truth_ratio: (M,) the target pixel's true depth over the true depth of the source pixel's point moved into
            the current camera (within ``static_tolerance`` of 1): the point lands between pixel centres, and the
            target pixel sees a point of the same surface up to half a pixel away, nearer or farther on a slope.
    """

    source: npt.NDArray[np.intp]
    target: npt.NDArray[np.intp]
    truth_ratio: npt.NDArray[np.float64]


def static_correspondences(
    truth_prev_m: F32,
    truth_cur_m: F32,
    intrinsics: PinholeIntrinsics,
    cur_from_prev: RigidTransform,
    static_tolerance: float = STATIC_TOLERANCE,
) -> Correspondences:
    """Forward warp of the true previous depth (z-buffer) kept where it meets the current true depth.

    Args:
        truth_prev_m, truth_cur_m: (H, W) true depth, metres along the optical z axis; non-finite = no surface.
        intrinsics: pinhole intrinsics of both images.
        cur_from_prev: current camera (optical frame) from the previous one.
        static_tolerance: relative depth agreement that marks a static, visible surface.
    """
    if truth_prev_m.shape != truth_cur_m.shape or truth_prev_m.ndim != 2:
        msg = f"true depths must be two (H, W) images of one size, got {truth_prev_m.shape} and {truth_cur_m.shape}"
        raise ShapeError(msg)
    points = backproject_depth(truth_prev_m, intrinsics).reshape(-1, 3)
    source = np.flatnonzero(np.isfinite(points[:, 2]))
    moved = cur_from_prev.apply(points[source].astype(np.float64))
    warped, winners = zbuffer_depth(moved, intrinsics)
    u = np.rint(intrinsics.fx * moved[winners, 0] / moved[winners, 2] + intrinsics.cx).astype(np.intp)
    v = np.rint(intrinsics.fy * moved[winners, 1] / moved[winners, 2] + intrinsics.cy).astype(np.intp)
    target = v * intrinsics.width + u
    truth_here = truth_cur_m.reshape(-1)[target].astype(np.float64)
    with np.errstate(invalid="ignore"):  # a current truth of +inf (sky, beyond range) is no surface: inf <= inf held
        same = np.isfinite(truth_here) & (
            np.abs(warped.reshape(-1)[target] - truth_here) <= static_tolerance * truth_here
        )
    return Correspondences(source[winners][same], target[same], truth_here[same] / warped.reshape(-1)[target][same])


def signed_change(
    published_prev_m: F32,
    published_cur_m: F32,
    correspondences: Correspondences,
    intrinsics: PinholeIntrinsics,
    cur_from_prev: RigidTransform,
    exclude: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """Signed relative change ``(d_cur - d_prev→cur) / d_prev→cur`` on the static pixels of
    :func:`static_correspondences` (the measure of :func:`temporal_error` before its absolute value).

    Args: as :func:`temporal_error`.

    Returns:
        (N,) the change (0.05 = the current frame publishes 5 % farther) and (N,) the flat indices of the current
        image's pixels it was measured at (pixels whose published depths were both finite and positive, not
        ``exclude``).
    """
    ray_x, ray_y = pixel_rays(intrinsics)
    rows, cols = np.divmod(correspondences.source, intrinsics.width)
    depth_prev = published_prev_m.reshape(-1)[correspondences.source].astype(np.float64)
    rays = np.stack([ray_x[cols], ray_y[rows], np.ones(cols.size, np.float32)], axis=1).astype(np.float64)
    with np.errstate(invalid="ignore"):  # moved to the target pixel's own point of the surface (truth_ratio)
        expected = cur_from_prev.apply(rays * depth_prev[:, None])[:, 2] * correspondences.truth_ratio
        current = published_cur_m.reshape(-1)[correspondences.target].astype(np.float64)
        keep = np.isfinite(expected) & np.isfinite(current) & (expected > 0) & (current > 0)
    if exclude is not None:
        keep &= ~exclude.reshape(-1)[correspondences.target]
    return (current[keep] - expected[keep]) / expected[keep], correspondences.target[keep]


def temporal_error(
    published_prev_m: F32,
    published_cur_m: F32,
    correspondences: Correspondences,
    intrinsics: PinholeIntrinsics,
    cur_from_prev: RigidTransform,
    exclude: npt.NDArray[np.bool_] | None = None,
) -> TemporalError:
    """Mean relative change of the published depth on the static pixels of :func:`static_correspondences`.

    Args:
        published_prev_m, published_cur_m: (H, W) published depth, metres; non-finite pixels do not count.
        correspondences: from :func:`static_correspondences` on the true depths of the same two frames.
        intrinsics: pinhole intrinsics of the published images.
        cur_from_prev: current camera from the previous one.
        exclude: (H, W) bool over the current image: pixels that never count (a moving object's truth mask).
    """
    change = np.abs(
        signed_change(published_prev_m, published_cur_m, correspondences, intrinsics, cur_from_prev, exclude)[0]
    )
    if change.size == 0:
        return TemporalError(float("nan"), float("nan"), 0)
    return TemporalError(float(np.mean(change)), float(np.median(change)), int(change.size))


def abs_rel(
    published_m: F32, truth_m: F32, mask: npt.NDArray[np.bool_] | None = None, max_depth_m: float = 80.0
) -> float:
    """Mean ``|d - d*| / d*`` over pixels where both are finite and the truth is within (0, ``max_depth_m``]."""
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(published_m) & np.isfinite(truth_m) & (truth_m > 0) & (truth_m <= max_depth_m)
    if mask is not None:
        keep &= mask
    if not np.any(keep):
        return float("nan")
    return float(np.mean(np.abs(published_m[keep] - truth_m[keep]) / truth_m[keep]))
