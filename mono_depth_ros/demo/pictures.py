"""The demo's PNG pictures of one frame (and the scale over the whole run), each under a labelled banner.

=============  ==========================================================  ===========================================
file           content                                                     size (rows × columns)
=============  ==========================================================  ===========================================
input.png      the recorded camera image                                   BANNER + H × W
depth.png      /depth/image colourised (log scale) + colour bar in metres  BANNER + z·h × (z·w + BAR_WIDTH)
error.png      (depth - truth) / truth, ±25 % + colour bar                 BANNER + z·h × (z·w + BAR_WIDTH)
bev.png        /depth/points from above with the LiDAR scan overlaid       BANNER + BEV_SIZE_PX × BEV_SIZE_PX
scale.png      scale the pipeline reported per frame (true one dashed)     BANNER + PLOT_HEIGHT_PX × PLOT_WIDTH_PX
overview.png   the five above stacked (padded to the widest)               sum of the rows × the widest
=============  ==========================================================  ===========================================

H × W is the camera image, h × w the published depth (smaller with ``output.downscale``), shown ``z = W // w`` times
larger (each published pixel a z × z block, nothing interpolated; the banner says so). Every banner names what
predicted the depth; the oracle's says "ORACLE PREDICTION, NOT A NETWORK" in red.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import BagError, DepthError
from mono_depth_ros.demo.colour import (
    RGB,
    colourise_depth,
    colourise_error,
    depth_colour_bar,
    error_colour_bar,
    with_banner,
)
from mono_depth_ros.demo.evaluate import resize_nearest
from mono_depth_ros.demo.outputs import OutputBagContents, read_cloud_at, read_image_at
from mono_depth_ros.demo.plots import birds_eye_view, scale_plot
from mono_depth_ros.demo.scenario import IMAGE_TOPIC, Scenario
from mono_depth_ros.evaluation.metrics import valid_mask

PICTURES = ("input", "depth", "error", "bev", "scale", "overview")
SPARSE_FRACTION = 0.3  # below this share of reference pixels, error dots are spread to stay visible


@dataclass(frozen=True)
class PictureStyle:
    """What the pictures say and how they scale.

    Attributes:
        source: what predicted the depth (second banner line). warn: draw it in red capitals (oracle).
        min_m, max_m: depth colour range (log scale). error_limit: error at the ends of the error scale.
        bev_range_m: metres shown ahead in the bird's-eye view. scale_label: y-axis title of the scale plot.
        scale_text: how the depth was made metric (shown on the depth picture).
    """

    source: str
    warn: bool
    min_m: float = 1.0
    max_m: float = 80.0
    error_limit: float = 0.25
    bev_range_m: float = 60.0
    scale_label: str = "scale"
    scale_text: str = "LiDAR scale"


def spread_sparse(values: npt.NDArray[np.floating], radius_px: float) -> npt.NDArray[np.float32]:
    """Copy every finite pixel onto the NaN pixels within ``radius_px`` of it (nearest wins); others stay NaN."""
    valid = np.isfinite(values)
    if not valid.any():
        return np.asarray(values, dtype=np.float32)
    distance, labels = cv2.distanceTransformWithLabels(
        (~valid).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE, labelType=cv2.DIST_LABEL_PIXEL
    )
    lookup = np.full(int(labels.max()) + 1, np.nan, dtype=np.float32)
    lookup[labels[valid]] = values[valid]
    return np.where(distance <= radius_px, lookup[labels], np.nan).astype(np.float32)


def relative_error(
    depth_m: npt.NDArray[np.floating], gt_m: npt.NDArray[np.floating], max_m: float
) -> npt.NDArray[np.float32]:
    """(depth - gt) / gt where both exist and gt < ``max_m`` (±Inf depth clipped as in scoring); NaN elsewhere."""
    gt = resize_nearest(gt_m, depth_m.shape[1], depth_m.shape[0])
    reference = valid_mask(gt, 1e-3, max_m) & ~np.isnan(depth_m)
    with np.errstate(invalid="ignore"):
        scored = np.clip(depth_m, 1e-3, max_m)
        error = np.where(reference, (scored - gt) / np.where(reference, gt, 1.0), np.nan)
    return error.astype(np.float32)


def zoom_pixels(image: RGB, zoom: int) -> RGB:
    """(h, w, 3) → (zoom·h, zoom·w, 3): every pixel a zoom × zoom block (nothing blended)."""
    return image if zoom == 1 else np.ascontiguousarray(np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1))


def _pad_width(image: RGB, width: int) -> RGB:
    if image.shape[1] >= width:
        return image
    pad = np.full((image.shape[0], width - image.shape[1], 3), 8, dtype=np.uint8)
    return np.hstack([image, pad])


def write_png(path: Path, rgb: RGB) -> Path:
    """Write (H, W, 3) uint8 RGB as PNG.

    Raises:
        DepthError: OpenCV could not write the file.
    """
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        msg = f"could not write {path}; check that the folder exists and is writable"
        raise DepthError(msg)
    return path


def render_pictures(
    scenario: Scenario, outputs: OutputBagContents, output_bag: Path, stamp_ns: int, style: PictureStyle
) -> dict[str, RGB]:
    """The pictures (without writing them) for the frame stamped ``stamp_ns``; see the module docstring."""
    rgb = read_image_at(scenario.input_bag, IMAGE_TOPIC, stamp_ns)
    depth = outputs.depth_by_stamp[stamp_ns]
    truth = scenario.truth_at(stamp_ns)
    if truth is None:
        msg = f"stamp {stamp_ns} ns is not a recorded frame of {scenario.input_bag}"
        raise DepthError(msg)
    index = scenario.frames.index(truth)
    start_ns = scenario.frames[0].stamp_ns
    when = f"frame {index} (t = {(stamp_ns - start_ns) * 1e-9:.1f} s)"
    h, w = depth.shape
    small_rgb = (
        rgb if rgb.shape[:2] == (h, w) else np.asarray(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    )
    zoom = max(1, rgb.shape[1] // w)
    shown = f" (shown x{zoom})" if zoom > 1 else ""
    coloured = zoom_pixels(colourise_depth(depth, style.min_m, style.max_m), zoom)
    pictures: dict[str, RGB] = {
        "input": with_banner(rgb, f"input {IMAGE_TOPIC}, {when}", style.source, style.warn),
        "depth": with_banner(
            np.hstack([coloured, depth_colour_bar(h * zoom, style.min_m, style.max_m)]),
            f"/depth/image {w}x{h}{shown}, metres after {style.scale_text}, {when}",
            style.source,
            style.warn,
        ),
    }
    error = relative_error(depth, truth.gt_depth_m, style.max_m)
    if np.isfinite(error).mean() < SPARSE_FRACTION:
        error = spread_sparse(error, 1.5)
    pictures["error"] = with_banner(
        np.hstack(
            [
                zoom_pixels(colourise_error(error, style.error_limit, small_rgb), zoom),
                error_colour_bar(h * zoom, style.error_limit),
            ]
        ),
        f"(depth - truth) / truth vs {scenario.truth_label}; blue too near, red too far",
        style.source,
        style.warn,
    )
    try:
        cloud = read_cloud_at(output_bag, stamp_ns)
    except BagError:  # cloud.enabled=false: nothing to draw but the LiDAR
        cloud = np.zeros((0, 3), dtype=np.float32)
    bev = birds_eye_view(cloud, truth.lidar_in_camera, truth.intrinsics, range_m=style.bev_range_m)
    pictures["bev"] = with_banner(bev, f"bird's-eye view, {when}", style.source, style.warn)
    pictures["scale"] = with_banner(_scale_plot(scenario, outputs, style), "scale over time", style.source, style.warn)
    widest = max(p.shape[1] for p in pictures.values())
    pictures["overview"] = np.vstack([_pad_width(p, widest) for p in pictures.values()])
    return pictures


def _scale_plot(scenario: Scenario, outputs: OutputBagContents, style: PictureStyle) -> RGB:
    start_ns = scenario.frames[0].stamp_ns if scenario.frames else 0
    track = outputs.scale_track
    truths = [scenario.truth_at(s.stamp_ns) for s in track]
    known = [t.true_scale if t is not None and t.true_scale is not None else float("nan") for t in truths]
    return scale_plot(
        [(s.stamp_ns - start_ns) * 1e-9 for s in track],
        [s.scale for s in track],
        [s.health for s in track],
        known if np.isfinite(known).any() else None,
        y_label=style.scale_label,
    )


def write_pictures(
    out_dir: Path, scenario: Scenario, outputs: OutputBagContents, output_bag: Path, stamp_ns: int, style: PictureStyle
) -> dict[str, Path]:
    """Render (see :func:`render_pictures`) and write ``<name>.png`` into ``out_dir``; returns name → path."""
    rendered = render_pictures(scenario, outputs, output_bag, stamp_ns, style)
    return {name: write_png(Path(out_dir) / f"{name}.png", image) for name, image in rendered.items()}
