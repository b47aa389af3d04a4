"""Colour for the demo pictures: depth and error colour maps with labelled colour bars, and title banners.

Images are (H, W, 3) uint8 **RGB** (convert to BGR only when writing with OpenCV). Depth colours follow
log(depth) between ``min_m`` and ``max_m`` (near = red / yellow, far = blue, OpenCV's Turbo map); invalid values
keep their REP 117 meaning visibly: NaN (no measurement) is black, +Inf (beyond range, sky) dark grey, -Inf (too
close) white. Non-finite input never reaches the arithmetic and ``max - min`` is guarded.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ConfigError

RGB = npt.NDArray[np.uint8]
BANNER_HEIGHT = 40
"""Rows of the two-line title banner on top of every picture."""
BAR_WIDTH = 76
"""Columns of a colour bar (gradient strip + tick labels) appended to the right of a map."""
NAN_RGB = (0, 0, 0)
FAR_RGB = (48, 48, 56)
NEAR_RGB = (255, 255, 255)
WARN_RGB = (255, 90, 60)
TEXT_RGB = (235, 235, 235)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_DEPTH_TICKS_M = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)


def _turbo_lut() -> npt.NDArray[np.uint8]:
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(ramp, cv2.COLORMAP_TURBO).reshape(256, 3)
    return np.ascontiguousarray(bgr[::-1, ::-1])  # RGB, and reversed: index 0 (near) is red


def _diverging_lut() -> npt.NDArray[np.uint8]:
    """Blue (negative) → white (0) → red (positive), 256 entries, RGB."""
    t = np.linspace(-1.0, 1.0, 256)[:, None]
    blue, white, red = np.array([40, 90, 230.0]), np.array([245, 245, 245.0]), np.array([220, 40, 40.0])
    lut = np.where(t < 0, white + (blue - white) * -t, white + (red - white) * t)
    return np.asarray(np.clip(np.rint(lut), 0, 255), dtype=np.uint8)


DEPTH_LUT = _turbo_lut()
ERROR_LUT = _diverging_lut()


def _check_range(min_m: float, max_m: float) -> None:
    if not (math.isfinite(min_m) and math.isfinite(max_m) and 0 < min_m < max_m):
        msg = f"colour range needs 0 < min_m ({min_m}) < max_m ({max_m}), both finite"
        raise ConfigError(msg)


def depth_to_index(depth_m: npt.NDArray[np.floating], min_m: float, max_m: float) -> npt.NDArray[np.uint8]:
    """Colour-map index 0..255 of log(depth) between ``min_m`` and ``max_m`` (clipped; non-finite → 0)."""
    _check_range(min_m, max_m)
    finite = np.isfinite(depth_m) & (depth_m > 0)
    safe = np.where(finite, depth_m, min_m).astype(np.float64)
    t = (np.log(np.clip(safe, min_m, max_m)) - math.log(min_m)) / (math.log(max_m) - math.log(min_m))
    return np.rint(t * 255.0).astype(np.uint8)


def colourise_depth(depth_m: npt.NDArray[np.floating], min_m: float, max_m: float) -> RGB:
    """(H, W) metres (NaN / ±Inf per REP 117) → (H, W, 3) uint8 RGB (see the module docstring for the colours)."""
    out = DEPTH_LUT[depth_to_index(depth_m, min_m, max_m)]
    out[np.isnan(depth_m)] = NAN_RGB
    out[np.isposinf(depth_m)] = FAR_RGB
    out[np.isneginf(depth_m)] = NEAR_RGB
    return out


def colourise_error(relative_error: npt.NDArray[np.floating], limit: float, background_rgb: RGB | None = None) -> RGB:
    """Signed relative error (pred - gt) / gt → diverging colours (blue: too near, red: too far), clipped at ±limit.

    Args:
        relative_error: (H, W); NaN where there is no reference or no prediction.
        limit: error at the ends of the scale (0.25 = ±25 %).
        background_rgb: (H, W, 3) shown dimmed where the error is NaN (default black).
    """
    if not limit > 0:
        msg = f"error colour limit must be > 0, got {limit}"
        raise ConfigError(msg)
    valid = np.isfinite(relative_error)
    t = np.clip(np.where(valid, relative_error, 0.0) / limit, -1.0, 1.0)
    out = ERROR_LUT[np.rint((t + 1.0) * 127.5).astype(np.intp)]
    if background_rgb is None:
        out[~valid] = NAN_RGB
    else:
        grey = cv2.cvtColor(background_rgb, cv2.COLOR_RGB2GRAY)[..., None] // 3
        out[~valid] = np.repeat(grey, 3, axis=2)[~valid]
    return out


BAR_STRIP_COLUMNS = (6, 20)
"""Columns [start, stop) of the colour gradient inside a colour bar."""


def bar_strip_rows(height: int) -> tuple[int, int]:
    """Rows [top, bottom) of the colour gradient in a colour bar of ``height`` rows (room for a title above)."""
    return min(16, height // 4), max(height - 8, height // 4 + 1)


def _bar_canvas(height: int) -> tuple[RGB, int, int]:
    """Empty bar (dark), and the strip's top and bottom rows."""
    canvas = np.full((height, BAR_WIDTH, 3), 24, dtype=np.uint8)
    return (canvas, *bar_strip_rows(height))


def _bar_title(canvas: RGB, top: int, text: str) -> None:
    if top >= 12:  # only when there is room above the strip
        cv2.putText(canvas, text, (4, top - 4), _FONT, 0.36, TEXT_RGB, 1, cv2.LINE_AA)


def _tick(canvas: RGB, row: int, text: str) -> None:
    cv2.line(canvas, (22, row), (27, row), TEXT_RGB, 1)
    cv2.putText(canvas, text, (30, row + 4), _FONT, 0.36, TEXT_RGB, 1, cv2.LINE_AA)


def depth_colour_bar(height: int, min_m: float, max_m: float) -> RGB:
    """(height, BAR_WIDTH, 3) RGB: the depth colours (far at the top) with tick labels in metres."""
    _check_range(min_m, max_m)
    canvas, top, bottom = _bar_canvas(height)
    rows = np.arange(top, bottom)
    depth_rows = np.exp(math.log(max_m) + (rows - top) / max(bottom - 1 - top, 1) * (math.log(min_m) - math.log(max_m)))
    canvas[top:bottom, slice(*BAR_STRIP_COLUMNS)] = colourise_depth(depth_rows[:, None], min_m, max_m)
    for value in _DEPTH_TICKS_M:
        if min_m <= value <= max_m:
            fraction = (math.log(max_m) - math.log(value)) / (math.log(max_m) - math.log(min_m))
            _tick(canvas, round(top + fraction * (bottom - 1 - top)), f"{value:g} m")
    _bar_title(canvas, top, "depth")
    return canvas


def percent_label(value: float) -> str:
    """A signed fraction as a tick label: 0.125 → ``+12.5%``, -0.25 → ``-25%``, 0 → ``0`` (never rounded away)."""
    return f"{value * 100:+.3g}%" if value else "0"


def error_colour_bar(height: int, limit: float) -> RGB:
    """(height, BAR_WIDTH, 3) RGB: the error colours (+limit at the top) with percentage ticks."""
    canvas, top, bottom = _bar_canvas(height)
    rows = np.arange(top, bottom)
    errors = limit - (rows - top) / max(bottom - 1 - top, 1) * 2.0 * limit
    canvas[top:bottom, slice(*BAR_STRIP_COLUMNS)] = colourise_error(errors[:, None], limit)
    for fraction, value in ((0.0, limit), (0.25, limit / 2), (0.5, 0.0), (0.75, -limit / 2), (1.0, -limit)):
        _tick(canvas, round(top + fraction * (bottom - 1 - top)), percent_label(value))
    _bar_title(canvas, top, "error")
    return canvas


def fit_text(canvas: RGB, text: str, origin: tuple[int, int], colour: tuple[int, int, int], scale: float = 0.5) -> None:
    """Draw ``text`` at ``origin`` (baseline left), shrinking it (down to 0.3) and then cutting it to fit the width."""
    available = canvas.shape[1] - origin[0] - 4
    while scale > 0.3 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > available:
        scale -= 0.05
    while len(text) > 4 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > available:
        text = text[:-4] + "..."
    cv2.putText(canvas, text, origin, _FONT, scale, colour, 1, cv2.LINE_AA)


def banner(width: int, title: str, source: str, warn: bool) -> RGB:
    """(BANNER_HEIGHT, width, 3) RGB: ``title`` on the first line, ``source`` (what predicted the depth) below it.

    ``warn`` draws the second line in red capitals (the oracle label must not be missed).
    """
    canvas = np.full((BANNER_HEIGHT, width, 3), 16, dtype=np.uint8)
    fit_text(canvas, title, (6, 16), TEXT_RGB)
    fit_text(canvas, source.upper() if warn else source, (6, 34), WARN_RGB if warn else (150, 200, 255))
    return canvas


def with_banner(image: RGB, title: str, source: str, warn: bool) -> RGB:
    """``image`` with a :func:`banner` on top: (BANNER_HEIGHT + H, W, 3)."""
    return np.ascontiguousarray(np.vstack([banner(image.shape[1], title, source, warn), image]))
