"""The one place where depth units and invalid values change (REP 118 / REP 117).

Core depth is always ``float32`` metres, shape ``(H, W)``, along the optical z axis, with

* ``NaN``  = no measurement (invalid),
* ``+Inf`` = beyond the maximum range (REP 117),
* ``-Inf`` = closer than the minimum range (REP 117).

On the wire: ``32FC1`` carries exactly that; ``16UC1`` (and ``mono16``) carry millimetres with ``0`` = invalid,
so every non-finite value and anything outside ``[1, 65535]`` mm becomes ``0``.
No other module multiplies by 1000 or tests for 0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import EncodingError, ShapeError

DEPTH_ENCODINGS = ("32FC1", "16UC1", "mono16")
MILLIMETRES_PER_METRE = 1000.0
_UINT16_MAX = 65535


def check_depth_image(depth_m: npt.NDArray[np.floating], name: str = "depth") -> None:
    """Raise :class:`ShapeError` unless ``depth_m`` is a 2-D floating array."""
    if depth_m.ndim != 2:
        msg = f"{name} must be a 2-D (H, W) array, got shape {depth_m.shape}"
        raise ShapeError(msg)
    if not np.issubdtype(depth_m.dtype, np.floating):
        msg = f"{name} must be floating point metres, got dtype {depth_m.dtype}"
        raise ShapeError(msg)


def decode_depth(raw: npt.NDArray[np.generic], encoding: str) -> npt.NDArray[np.float32]:
    """Wire depth → float32 metres.

    Args:
        raw: ``(H, W)`` array as read from an Image message: float32 metres for ``32FC1``,
            uint16 millimetres for ``16UC1``/``mono16``.
        encoding: the Image encoding.

    Returns:
        ``(H, W)`` float32 metres; NaN where the wire value was invalid (0 mm), non-finite values of
        ``32FC1`` kept as they are (REP 117 meanings).
    """
    if encoding == "32FC1":
        if raw.dtype != np.float32:
            msg = f"32FC1 depth must be float32, got {raw.dtype}"
            raise EncodingError(msg)
        return np.ascontiguousarray(raw)
    if encoding in ("16UC1", "mono16"):
        if raw.dtype != np.uint16:
            msg = f"{encoding} depth must be uint16 millimetres, got {raw.dtype}"
            raise EncodingError(msg)
        depth_m = raw.astype(np.float32) * np.float32(1.0 / MILLIMETRES_PER_METRE)
        depth_m[raw == 0] = np.nan
        return depth_m
    msg = f"unsupported depth encoding {encoding!r}; expected one of {', '.join(DEPTH_ENCODINGS)}"
    raise EncodingError(msg)


def encode_depth(depth_m: npt.NDArray[np.floating], encoding: str) -> npt.NDArray[np.generic]:
    """Float metres → wire depth for ``encoding`` (``32FC1`` or ``16UC1``).

    ``16UC1`` cannot say "beyond range", so ±Inf and NaN all become 0 (invalid), as do depths that
    round to 0 mm or exceed 65.535 m.
    """
    check_depth_image(depth_m)
    if encoding == "32FC1":
        return np.ascontiguousarray(depth_m, dtype=np.float32)
    if encoding in ("16UC1", "mono16"):
        with np.errstate(invalid="ignore"):
            depth_mm = np.rint(depth_m.astype(np.float64) * MILLIMETRES_PER_METRE)
            valid = np.isfinite(depth_mm) & (depth_mm >= 1) & (depth_mm <= _UINT16_MAX)
        out = np.zeros(depth_m.shape, dtype=np.uint16)
        out[valid] = depth_mm[valid].astype(np.uint16)
        return out
    msg = f"unsupported depth output encoding {encoding!r}; use '32FC1' (metres) or '16UC1' (millimetres)"
    raise EncodingError(msg)


def apply_range_limits(
    depth_m: npt.NDArray[np.floating], min_range_m: float, max_range_m: float
) -> npt.NDArray[np.float32]:
    """Mark depths outside ``[min_range_m, max_range_m]`` per REP 117: -Inf too close, +Inf too far.

    NaN stays NaN. Returns a new float32 array.
    """
    if not 0.0 <= min_range_m < max_range_m:
        msg = f"range limits need 0 <= min_range ({min_range_m}) < max_range ({max_range_m})"
        raise ValueError(msg)
    out = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        out[out > max_range_m] = np.inf
        out[out < min_range_m] = -np.inf
    return out
