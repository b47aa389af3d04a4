"""Flying-pixel removal at depth discontinuities (before a cloud is built).

A monocular network (and any bilinear upsampling) blends foreground and background at object boundaries,
producing "flying pixels" floating between the two surfaces. A pixel is marked when its depth differs from any
4-neighbour by more than ``threshold`` relative to the nearer of the two: ``|d - d_n| > threshold * min(d, d_n)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def depth_edge_mask(depth_m: npt.NDArray[np.floating], relative_threshold: float) -> npt.NDArray[np.bool_]:
    """(H, W) bool mask, True at pixels next to a relative depth jump above ``relative_threshold``.

    Non-finite neighbours do not mark a pixel (the jump is undefined there).
    """
    d = np.asarray(depth_m, dtype=np.float32)
    mask = np.zeros(d.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for axis in (0, 1):
            a = d[:-1, :] if axis == 0 else d[:, :-1]
            b = d[1:, :] if axis == 0 else d[:, 1:]
            jump = np.abs(a - b) > relative_threshold * np.minimum(a, b)
            jump &= np.isfinite(a) & np.isfinite(b)
            if axis == 0:
                mask[:-1, :] |= jump
                mask[1:, :] |= jump
            else:
                mask[:, :-1] |= jump
                mask[:, 1:] |= jump
    return mask


def remove_flying_pixels(depth_m: npt.NDArray[np.floating], relative_threshold: float) -> npt.NDArray[np.float32]:
    """Copy of ``depth_m`` (float32) with NaN at the pixels :func:`depth_edge_mask` marks."""
    out = np.array(depth_m, dtype=np.float32, copy=True)
    out[depth_edge_mask(out, relative_threshold)] = np.nan
    return out
