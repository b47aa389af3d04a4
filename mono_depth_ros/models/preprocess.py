"""Camera image -> network tensor, and network output -> camera-size map, on the device (torch).

Pre-processing (:func:`preprocess`): upload the uint8 RGB image as uint8 (3 bytes per pixel over the bus, not 12),
convert to float on the device, resize to the size the spec's :class:`InputPolicy` gives (bilinear, antialiased when
shrinking; or PIL's bicubic where the policy's ``interpolation`` says, as transformers' processors with
``resample: 3``), normalise with the spec's mean / std.

Post-processing (:func:`upsample_edge_aware`): back to camera size without inventing depth. Plain bilinear upsampling
blends foreground and background across a depth step and creates "flying pixels": points floating in the empty space
between an object and the wall behind it once the depth is back-projected to a cloud. Resizing in inverse depth does
not cure this (it only moves the blended values towards the background). Our choice: **bilinear where the 2×2 source
neighbourhood is smooth, nearest neighbour where it straddles an edge** (max/min ratio of the four source values above
``edge_ratio``, or any of them invalid / non-positive). Every output pixel near an edge therefore carries a value the
network really predicted for one side of it, and smooth surfaces keep bilinear's sub-pixel continuity. The ratio test
is the same in depth and in inverse depth (max/min of 1/x equals max/min of x), so one rule serves every output kind.

On the CPU both directions avoid camera-size float work: :func:`preprocess` shrinks the uint8 image with torch's uint8
antialiased kernel (the same filter, rounded to whole grey levels: under one level from the float resize, ~9 × faster
at KITTI size, ~20 × at 1080p) before it becomes float, and :func:`upsample_edge_aware_host` tests the edges once per
source cell at network resolution and lets ``cv2.resize`` do the bilinear pass (instead of ~20 camera-size float
temporaries and four gathers), giving the same values as :func:`upsample_edge_aware` (a test compares them).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.models.spec import InputPolicy

INTERPOLATIONS = ("bilinear", "bicubic")
"""Resampling filters of the camera image (:attr:`~.spec.InputPolicy.interpolation`)."""
DEFAULT_EDGE_RATIO = 1.1
"""Neighbouring source values differing by more than 10 % (ratio max/min) count as a depth edge."""


def network_input_size(image_hw: tuple[int, int], policy: InputPolicy) -> tuple[int, int]:
    """The (height, width) in pixels that the network runs at for a camera image of ``image_hw``.

    With ``policy.keep_aspect`` False this is ``(policy.height, policy.width)``. Otherwise the image is scaled so
    that its short side becomes ``policy.height``, unless that makes the long side exceed ``policy.max_long_side``,
    in which case the long side is scaled to the cap; both sides are then rounded to the nearest multiple of
    ``policy.multiple_of`` (at least one multiple) and the long side floored again if rounding pushed it over the cap.
    A KITTI image (375×1242) under the Depth Anything policy (518, multiple of 14, cap 882) runs at 266×882, not at
    518×1722. With ``policy.least_scale`` the scale is whichever of ``policy.height / H`` and ``policy.width / W`` is
    nearer 1 (transformers' "scale as little as possible"; the short side for a camera larger than the box), before
    the same cap and rounding: a 480×640 image under a 756 box runs at 560×756, not 756×1008. With
    ``policy.native_floor`` (GLPN) a camera whose short side floors to ``policy.height`` runs at its own size with
    each side floored to the multiple (KITTI's 375×1242 at 352×1216), as GLPN's processor does. With
    ``policy.native_pad`` (DINOv2's DPT heads) a camera whose :func:`padded_size` fits ``policy.height`` (rounded up
    to the multiple) on its short side and the cap on its long side runs at that padded size (NYU's 480×640 at
    490×644), as DPT's processor pads it. With ``policy.reflect_pad`` (ZoeDepth) the sizes are those of the image
    reflect-padded by :func:`reflect_pads`, as ZoeDepth's processor pads before it resizes (a 360×640 camera under
    its 384×512 box: 440×746 padded, input 384×640, not the 384×672 of the unpadded aspect).

    Args:
        image_hw: camera image (height, width) in pixels, both > 0.
        policy: the spec's resize policy.

    Returns:
        (height, width) of the network input, each a multiple of ``policy.multiple_of`` when keeping aspect.

    Raises:
        ShapeError: non-positive image size.
        ConfigError: a policy with non-positive sizes or a cap below one multiple.
    """
    height, width = int(image_hw[0]), int(image_hw[1])
    if height <= 0 or width <= 0:
        msg = f"image size must be positive, got {height}x{width}"
        raise ShapeError(msg)
    if min(policy.height, policy.width, policy.multiple_of, policy.max_long_side) <= 0:
        msg = f"input policy sizes must be positive, got {policy}"
        raise ConfigError(msg)
    if not policy.keep_aspect:
        return policy.height, policy.width
    multiple = policy.multiple_of
    if policy.native_pad:
        padded = padded_size((height, width), multiple)
        if min(padded) <= -(-policy.height // multiple) * multiple and max(padded) <= policy.max_long_side:
            return padded
    if policy.max_long_side < multiple:
        msg = f"input policy max_long_side {policy.max_long_side} is below multiple_of {multiple}; raise the cap"
        raise ConfigError(msg)
    if policy.native_floor:
        floored = (height // multiple * multiple, width // multiple * multiple)
        if min(floored) == policy.height and max(floored) <= policy.max_long_side:
            return floored
    pads = reflect_pads((height, width)) if policy.reflect_pad else None
    if pads is not None:  # ZoeDepth's processor sizes the reflect-padded image, which is what the network sees
        height, width = height + 2 * pads[0], width + 2 * pads[1]
    scale = policy.height / min(height, width)
    if policy.least_scale:
        scale_h, scale_w = policy.height / height, policy.width / width
        scale = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
    if max(height, width) * scale > policy.max_long_side:
        scale = policy.max_long_side / max(height, width)
    cap = (policy.max_long_side // multiple) * multiple

    def snap(side: int) -> int:
        return min(max(multiple, round(side * scale / multiple) * multiple), cap)

    return snap(height), snap(width)


def padded_size(image_hw: tuple[int, int], multiple: int) -> tuple[int, int]:
    """``image_hw`` with each side rounded up to ``multiple`` (DPTImageProcessor's ``do_pad`` to ``size_divisor``)."""
    return -(-int(image_hw[0]) // multiple) * multiple, -(-int(image_hw[1]) // multiple) * multiple


def native_pad_box(
    image_hw: tuple[int, int], size_hw: tuple[int, int], multiple: int
) -> tuple[int, int, int, int] | None:
    """Where DPTImageProcessor (``do_pad``, no resize) puts a camera image of ``image_hw`` when it pads it to
    ``size_hw`` (its :func:`padded_size`): ``(top, left, height, width)``, the odd pixel of padding below and right
    as that processor does; None when the input is not the image padded (a camera resized, or already a multiple)."""
    height, width = int(image_hw[0]), int(image_hw[1])
    size_hw = (int(size_hw[0]), int(size_hw[1]))
    if padded_size((height, width), multiple) != size_hw or size_hw == (height, width):
        return None
    return (size_hw[0] - height) // 2, (size_hw[1] - width) // 2, height, width


def letterbox_box(image_hw: tuple[int, int], size_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where an image fitted inside ``size_hw`` keeping its aspect lies, centred: ``(top, left, height, width)``
    in pixels of ``size_hw`` (the rest is padding; :class:`~.spec.InputPolicy` ``pad``)."""
    scale = min(size_hw[0] / image_hw[0], size_hw[1] / image_hw[1])
    height = min(size_hw[0], max(1, round(image_hw[0] * scale)))
    width = min(size_hw[1], max(1, round(image_hw[1] * scale)))
    return (size_hw[0] - height) // 2, (size_hw[1] - width) // 2, height, width


def reflect_pads(image_hw: tuple[int, int]) -> tuple[int, int] | None:
    """ZoeDepthImageProcessor's (``do_pad``) reflection padding of a camera image, ``int(3·sqrt(side / 2))`` px
    each side: ``(rows, columns)``, or None when the image is too small to reflect that much of it."""
    pad_h, pad_w = (int(math.sqrt(side / 2) * 3) for side in image_hw)
    return (pad_h, pad_w) if pad_h < image_hw[0] and pad_w < image_hw[1] else None


def reflect_pad_window(
    image_hw: tuple[int, int], size_hw: tuple[int, int], map_hw: tuple[int, int] | None = None
) -> tuple[float, float, float, float] | None:
    """Where ZoeDepthImageProcessor (``do_pad``) puts an image of ``image_hw`` in an input of ``size_hw``, exactly:
    ``(top, left, height, width)`` of the image's pixel edges in pixels of a ``map_hw`` map of that input (the
    network's output, ``size_hw`` when None), in the half-pixel convention of :func:`upsample_edge_aware`'s
    ``window`` (image pixel centre ``y`` at ``top + (y + 0.5) · height / H - 0.5``); None when it does not pad.

    The processor resizes the padded image (``H + 2·pad`` rows, :func:`reflect_pads`) with ``align_corners``: padded
    pixel centre ``p`` lands on input row ``p · (h - 1) / (H + 2·pad - 1)``, so the image spans ``H · k`` rows from
    ``(pad - 0.5) · k + 0.5``, ``k = (h - 1) / (H + 2·pad - 1)``; a map of ``m`` rows spanning the input (pixel
    centres) has the same edges times ``m / h``. NYU's 480x640 at 384x512: (31.02, 36.51, 321.96, 438.98), not a
    box of whole pixels.
    """
    pads = reflect_pads(image_hw)
    if pads is None:
        return None
    map_hw = size_hw if map_hw is None else map_hw
    window = []
    for side, pad, size, out in zip(image_hw, pads, size_hw, map_hw, strict=True):
        step = (size - 1) / (side + 2 * pad - 1) if side + 2 * pad > 1 else 1.0
        window.append(((pad - 0.5) * step + 0.5) * out / size)
        window.append(side * step * out / size)
    return window[0], window[2], window[1], window[3]


def reflect_pad_box(image_hw: tuple[int, int], size_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """:func:`reflect_pad_window` rounded to whole pixels of ``size_hw``: ``(top, left, height, width)`` (the size
    the network sees the image at; the engine reads the map at the exact window), or None when it does not pad."""
    window = reflect_pad_window(image_hw, size_hw)
    if window is None:
        return None
    top, left, height, width = window
    first_row, first_col = round(top), round(left)
    return first_row, first_col, max(1, round(top + height) - first_row), max(1, round(left + width) - first_col)


def input_box(
    policy: InputPolicy, image_hw: tuple[int, int], size_hw: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Where the image lies in a padded network input of ``size_hw`` (``policy.pad``: :func:`letterbox_box`;
    ``policy.reflect_pad``: :func:`reflect_pad_box`; ``policy.native_pad``: :func:`native_pad_box`), or None when it
    fills the input."""
    if policy.native_pad:
        return native_pad_box(image_hw, size_hw, policy.multiple_of)
    if policy.pad:
        return letterbox_box(image_hw, size_hw)
    if policy.reflect_pad:
        return reflect_pad_box(image_hw, size_hw)
    return None


def crop_to_box(values: torch.Tensor, box: tuple[int, int, int, int], size_hw: tuple[int, int]) -> torch.Tensor:
    """The part of a (..., h, w) network output that covers the image of a padded input of ``size_hw`` whose image
    lies at ``box`` (:func:`letterbox_box`); an output at another resolution than its input is cropped in
    proportion. A view."""
    out_h, out_w = int(values.shape[-2]), int(values.shape[-1])
    top, left, height, width = box
    rows = round(top * out_h / size_hw[0]), round((top + height) * out_h / size_hw[0])
    cols = round(left * out_w / size_hw[1]), round((left + width) * out_w / size_hw[1])
    return values[..., rows[0] : max(rows[1], rows[0] + 1), cols[0] : max(cols[1], cols[0] + 1)]


def check_rgb_image(image_rgb: np.ndarray) -> None:
    """Raise :class:`ShapeError` unless ``image_rgb`` is an (H, W, 3) uint8 array."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        msg = f"expected an (H, W, 3) uint8 RGB image, got {image_rgb.dtype} {image_rgb.shape}; convert it first"
        raise ShapeError(msg)


def image_to_device(image_rgb: np.ndarray, device: torch.device, staging: torch.Tensor | None = None) -> torch.Tensor:
    """Upload an RGB image as uint8 (the cheapest transfer) and lay it out as a batch of one.

    Args:
        image_rgb: (H, W, 3) uint8 RGB (colour order already converted by the caller).
        device: target device.
        staging: optional (H, W, 3) uint8 pinned host buffer reused across frames (CUDA): the image is copied into
            it and uploaded asynchronously. The caller must not refill it before the upload finished (the engine
            synchronises at the end of every frame).

    Returns:
        (1, 3, H, W) uint8 tensor on ``device`` (a strided view: no copy on the device).

    Raises:
        ShapeError: not (H, W, 3) or not uint8.
    """
    check_rgb_image(image_rgb)
    if staging is not None and tuple(staging.shape) == image_rgb.shape:
        staging.numpy()[...] = image_rgb
        host = staging
    else:
        host = torch.from_numpy(np.ascontiguousarray(image_rgb))
    return host.to(device, non_blocking=host.is_pinned()).permute(2, 0, 1).unsqueeze(0)


def preprocess(
    image_u8: torch.Tensor,
    size_hw: tuple[int, int],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    *,
    channels_last: bool = False,
    pad_box: tuple[int, int, int, int] | None = None,
    mode: str = "bilinear",
    reflect_pad: bool = False,
    antialias: bool = True,
    pad_colour: tuple[float, ...] = (),
) -> torch.Tensor:
    """Resize and normalise a uint8 RGB batch on its own device.

    Args:
        image_u8: (B, 3, H, W) uint8 RGB.
        size_hw: network (height, width) in pixels (see :func:`network_input_size`).
        mean, std: per-channel normalisation of RGB in [0, 1].
        channels_last: return the tensor in channels-last memory format.
        pad_box: ``(top, left, height, width)`` (:func:`letterbox_box`, :func:`native_pad_box`): resize to
            ``(height, width)`` and pad to ``size_hw`` with 0 (the mean colour after normalisation); None: resize to
            ``size_hw``.
        mode: ``bilinear`` or ``bicubic`` (PIL's filter, as transformers' processors with ``resample: 3``: on the
            CPU torch's uint8 kernel, which rounds and clips each pass as PIL does, in both directions; elsewhere
            the float filter clipped to [0, 1]).
        reflect_pad: ZoeDepthImageProcessor's ``do_pad``: the image padded by :func:`reflect_pads` (its reflection),
            then resized to ``size_hw`` as that processor resizes (``align_corners``, no antialiasing); the image
            lies at :func:`reflect_pad_box` in the result.
        antialias: False: sample the image without an antialiasing filter when shrinking it (Depth Pro's processor:
            the float image, as it normalises before resizing).
        pad_colour: RGB in [0, 1] of the padding of ``pad_box`` (normalised as the image is); empty: 0 after
            normalisation (the mean colour).

    Returns:
        (B, 3, h, w) float32 normalised image on the input's device.

    Raises:
        ShapeError: not a (B, 3, H, W) batch.
        ConfigError: another ``mode``.
    """
    if mode not in INTERPOLATIONS:
        msg = f"interpolation {mode!r} is not one of {', '.join(INTERPOLATIONS)}"
        raise ConfigError(msg)
    if image_u8.ndim != 4 or image_u8.shape[1] != 3:
        msg = f"expected a (B, 3, H, W) image batch, got {tuple(image_u8.shape)}"
        raise ShapeError(msg)
    size_hw = (int(size_hw[0]), int(size_hw[1]))
    pads = reflect_pads((int(image_u8.shape[-2]), int(image_u8.shape[-1]))) if reflect_pad else None
    if pads is not None:
        return _reflect_padded(image_u8, pads, size_hw, mean, std, mode, channels_last)
    padded_hw = size_hw
    if pad_box is not None:
        size_hw = (int(pad_box[2]), int(pad_box[3]))
    image = image_u8
    shrinking = (size_hw[0] < image.shape[-2] or size_hw[1] < image.shape[-1]) and antialias
    bicubic = mode == "bicubic" and antialias  # antialias selects PIL's cubic (a = -0.5) in both directions
    resizing = tuple(image.shape[-2:]) != size_hw
    if (shrinking or (bicubic and resizing)) and image.device.type == "cpu" and image.dtype == torch.uint8:
        image = F.interpolate(image, size=size_hw, mode=mode, align_corners=False, antialias=True)  # stays uint8
    image = image.to(torch.float32).div_(255.0)
    if tuple(image.shape[-2:]) != size_hw and bicubic:  # PIL's passes: across, then down, each clipped to [0, 1]
        across = F.interpolate(image, size=(image.shape[-2], size_hw[1]), mode=mode, antialias=True).clamp_(0.0, 1.0)
        image = F.interpolate(across, size=size_hw, mode=mode, antialias=True).clamp_(0.0, 1.0)
    elif tuple(image.shape[-2:]) != size_hw:
        image = F.interpolate(image, size=size_hw, mode=mode, align_corners=False, antialias=shrinking)
    mean_t = _channel_constants(tuple(mean), image.device)
    std_t = _channel_constants(tuple(std), image.device)
    image = image.sub_(mean_t).div_(std_t)  # in place: the tensor is this function's own (converted or resized)
    if pad_box is not None and size_hw != padded_hw:
        top, left = int(pad_box[0]), int(pad_box[1])
        bottom, right = padded_hw[0] - size_hw[0] - top, padded_hw[1] - size_hw[1] - left
        if pad_colour:  # the padding in its own colour, normalised as the image
            fill = _channel_constants(tuple(pad_colour), image.device).sub(mean_t).div_(std_t)
            padded = fill.expand(image.shape[0], -1, *padded_hw).contiguous()
            padded[..., top : top + size_hw[0], left : left + size_hw[1]] = image
            image = padded
        else:
            image = F.pad(image, (left, right, top, bottom))
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return image


def _reflect_padded(
    image_u8: torch.Tensor,
    pads: tuple[int, int],
    size_hw: tuple[int, int],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    mode: str,
    channels_last: bool,
) -> torch.Tensor:
    """ZoeDepthImageProcessor's order: reflect-pad the image in [0, 1], resize (``align_corners``), normalise (in
    place: the resize's result is this function's own)."""
    image = F.pad(image_u8.to(torch.float32).div_(255.0), (pads[1], pads[1], pads[0], pads[0]), mode="reflect")
    image = F.interpolate(image, size=size_hw, mode=mode, align_corners=True)
    image = image.sub_(_channel_constants(tuple(mean), image.device)).div_(_channel_constants(tuple(std), image.device))
    return image.contiguous(memory_format=torch.channels_last) if channels_last else image


@functools.lru_cache(maxsize=16)
def _channel_constants(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """(1, C, 1, 1) float32 per-channel constants on ``device``, made once: a tensor built from host values on every
    frame would copy from pageable memory and wait for the GPU."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, len(values), 1, 1)


def _source_index(
    out_size: int, in_size: int, device: torch.device, start: float = 0.0, extent: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear source indices and weights along one axis, matching ``F.interpolate(align_corners=False)``; with
    ``start`` / ``extent`` (a window, see :func:`upsample_edge_aware`) over that part of the source only."""
    scale = (in_size if extent is None else extent) / out_size
    src = (torch.arange(out_size, device=device, dtype=torch.float32) + 0.5) * scale - 0.5
    if start:
        src += start
    src.clamp_(min=0.0)
    low = src.floor().to(torch.long).clamp_(max=in_size - 1)
    high = (low + 1).clamp_(max=in_size - 1)
    weight = src - low.to(torch.float32)
    return low, high, weight


def _opencv() -> object | None:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


@functools.lru_cache(maxsize=16)
def _host_index(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel along one axis: the first source index of its bilinear cell, and its nearest source index.

    The float32 arithmetic of :func:`_source_index` (ties at exactly half a pixel go to the upper neighbour). Made
    once per pair of sizes (a camera's frames all ask for the same): read-only arrays, shared by every caller.
    """
    scale = np.float32(in_size / out_size)
    src = np.maximum((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
    low = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    nearest = np.where(src - low >= 0.5, high, low)
    for index in (low, nearest):
        index.flags.writeable = False
    return low, nearest


@functools.lru_cache(maxsize=16)
def _window_index(
    out_size: int, in_size: int, start: float, extent: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output pixel along one axis of a window (:func:`upsample_edge_aware`): the bilinear cell's first and
    second source index, the second's weight, and the nearest source index, in :func:`_source_index`'s float32
    arithmetic. Read-only arrays, made once per window."""
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * np.float32(extent / out_size) - np.float32(0.5)
    if start:
        src += np.float32(start)
    src = np.maximum(src, np.float32(0))
    low = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    weight = (src - low.astype(np.float32)).astype(np.float32)
    nearest = np.where(weight >= 0.5, high, low)
    for index in (low, high, weight, nearest):
        index.flags.writeable = False
    return low, high, weight, nearest


def upsample_edge_aware_host(
    prediction: np.ndarray,
    out_hw: tuple[int, int],
    edge_ratio: float = DEFAULT_EDGE_RATIO,
    window: tuple[float, float, float, float] | None = None,
) -> np.ndarray | None:
    """:func:`upsample_edge_aware` on the host with OpenCV: the same values, a fraction of the work.

    The smooth / edge decision is made once per 2×2 source cell at network resolution and gathered to the output;
    ``cv2.resize`` (``INTER_LINEAR``, the pixel-centre grid of ``F.interpolate(align_corners=False)``) gives the
    bilinear map, a gather the nearest one.

    Args:
        prediction: (h, w) float map (NaN invalid).
        out_hw: output (height, width) in pixels.
        edge_ratio: max/min ratio above which a cell counts as an edge (> 1); ``inf``: bilinear wherever the
            four values are finite (see :func:`upsample_edge_aware`).
        window: the part of ``prediction`` the output covers (see :func:`upsample_edge_aware`); None: all of it.
            A window is resampled with numpy's gathers (cv2.resize knows no fractional offset).

    Returns:
        (H, W) float32, or None when OpenCV is not installed.
    """
    if not edge_ratio > 1.0:
        msg = f"edge_ratio must be > 1, got {edge_ratio}"
        raise ConfigError(msg)
    if prediction.ndim != 2:
        msg = f"expected an (h, w) map, got {prediction.shape}"
        raise ShapeError(msg)
    cv2: Any = _opencv()
    if cv2 is None:
        return None
    source = np.ascontiguousarray(prediction, dtype=np.float32)
    out_h, out_w = int(out_hw[0]), int(out_hw[1])
    if window is None and (out_h, out_w) == source.shape:
        return source.copy()
    # the four corners of each cell (i, i+1) x (j, j+1), the last row / column paired with itself
    below = np.concatenate([source[1:], source[-1:]], axis=0)
    low = np.fmin(source, below)  # fmin / fmax ignore one NaN: the finite check below catches it
    high = np.fmax(source, below)
    low = np.minimum(low, np.concatenate([low[:, 1:], low[:, -1:]], axis=1))
    high = np.maximum(high, np.concatenate([high[:, 1:], high[:, -1:]], axis=1))
    finite_source = np.isfinite(source)
    finite = finite_source & np.isfinite(below)  # the cell's four values are finite (a cell of four +Inf passes
    finite &= np.concatenate([finite[:, 1:], finite[:, -1:]], axis=1)  # the ratio, Inf <= ratio · Inf: no blend)
    if math.isinf(edge_ratio):  # no edge: bilinear wherever the four values are finite (evaluation's resize)
        smooth_cell = finite
    else:
        smooth_cell = (high <= np.float32(edge_ratio) * low) & (low > 0) & finite
    if window is not None:
        return _window_host(source, smooth_cell, (out_h, out_w), window)
    cell_y, nearest_y = _host_index(out_h, source.shape[0])
    cell_x, nearest_x = _host_index(out_w, source.shape[1])
    smooth = smooth_cell.take(cell_y, axis=0).take(cell_x, axis=1)  # the same gathers as [rows][:, cols], faster
    out: np.ndarray = source.take(nearest_y, axis=0).take(nearest_x, axis=1)
    # pip's OpenCV 4 wheels (4.6, 4.10: Intel IPP's resize; not OpenCV 5, nor the Humble tier's python3-opencv,
    # Debian 12's 4.6 built without IPP) blend a whole-pixel position with the pixel before it at weight 0: a NaN /
    # ±Inf there made NaN (0 × NaN) in a smooth cell. Only smooth cells (four finite values) take the bilinear map,
    # so the non-finite values go in as 0.
    blended = source if finite_source.all() else np.where(finite_source, source, np.float32(0.0))
    bilinear = np.asarray(cv2.resize(blended, (out_w, out_h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    np.copyto(out, bilinear, where=smooth)
    return out


def _window_host(
    source: np.ndarray, smooth_cell: np.ndarray, out_hw: tuple[int, int], window: tuple[float, float, float, float]
) -> np.ndarray:
    """:func:`upsample_edge_aware_host`'s resampling of a window: the same cell choices, bilinear by gathers.

    Separable gathers with the window's indices (:func:`_window_index`, made once per window), the bilinear blend in
    place (the float32 operations of ``a + w · (b - a)`` in the same order: the same bytes as through temporaries),
    every intermediate in this thread's :func:`_scratch` arrays: only the output is fresh memory. The fresh
    temporaries (about 13 MB a frame at NYU's 480x640) were faulted in again every frame under glibc's default
    thresholds (a process without :func:`~mono_depth_ros.adapters.malloc_policy.keep_freed_memory`: the host road
    0.4 × the time); where the node keeps freed memory the CPU time is the same (``bench/bench_window_upsample.py``).
    """
    out_h, out_w = out_hw
    (in_h, in_w), f32 = source.shape, np.float32
    top, left, height, width = (float(value) for value in window)
    y0, y1, wy, nearest_y = _window_index(out_h, in_h, top, height)
    x0, x1, wx, nearest_x = _window_index(out_w, in_w, left, width)
    near_rows = np.take(source, nearest_y, axis=0, out=_scratch("near_rows", (out_h, in_w), f32), mode="clip")
    out: np.ndarray = near_rows.take(nearest_x, axis=1, mode="clip")  # the only fresh array: returned
    rows = np.take(source, y0, axis=0, out=_scratch("rows", (out_h, in_w), f32), mode="clip")  # rows0, then the blend
    step = np.take(source, y1, axis=0, out=_scratch("row_step", (out_h, in_w), f32), mode="clip")
    np.subtract(step, rows, out=step)
    np.multiply(wy[:, None], step, out=step)
    np.add(rows, step, out=rows)
    bilinear = np.take(rows, x0, axis=1, out=_scratch("bilinear", (out_h, out_w), f32), mode="clip")  # left, then
    step = np.take(rows, x1, axis=1, out=_scratch("column_step", (out_h, out_w), f32), mode="clip")
    np.subtract(step, bilinear, out=step)
    np.multiply(wx[None, :], step, out=step)
    np.add(bilinear, step, out=bilinear)
    cell_rows = np.take(smooth_cell, y0, axis=0, out=_scratch("cell_rows", (out_h, in_w), np.bool_), mode="clip")
    smooth = np.take(cell_rows, x0, axis=1, out=_scratch("smooth", (out_h, out_w), np.bool_), mode="clip")
    np.copyto(out, bilinear, where=smooth)
    return out


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, int], dtype: type[np.generic]) -> np.ndarray:
    """A C-contiguous ``shape`` array of ``dtype`` (contents undefined) for this thread's ``name``: one flat array
    per name and thread, grown to the largest size asked for and handed out as a view (two threads never share
    one; a frame's temporaries are not faulted in again the next frame)."""
    arrays: dict[str, np.ndarray] = _SCRATCH.__dict__.setdefault("arrays", {})
    size = shape[0] * shape[1]
    array = arrays.get(name)
    if array is None or array.dtype != dtype or array.size < size:
        array = arrays[name] = np.empty(size, dtype=dtype)
    return array[:size].reshape(shape)


def upsample_edge_aware(
    prediction: torch.Tensor,
    out_hw: tuple[int, int],
    edge_ratio: float = DEFAULT_EDGE_RATIO,
    window: tuple[float, float, float, float] | None = None,
) -> torch.Tensor:
    """Resize a depth / inverse-depth map: bilinear on smooth surfaces, nearest across depth edges.

    A 2×2 source neighbourhood is an edge when ``max > edge_ratio * min`` of its four values, or when any of them is
    NaN or the minimum is not positive or +Inf; there the output takes the nearest source value instead of a blend, so
    no value between foreground and background is created (see the module docstring).

    Args:
        prediction: (h, w) or (1, 1, h, w) float map (depth in metres or inverse depth; NaN invalid) on any device.
        out_hw: camera (height, width) in pixels.
        edge_ratio: max/min ratio above which a neighbourhood counts as an edge (> 1); ``inf``: none does, every
            neighbourhood of four finite values (zero and negative ones too) is blended.
        window: ``(top, left, height, width)`` in source pixels (fractions allowed): the part of the map the output
            covers, output pixel centre ``i`` read at ``top + (i + 0.5) · height / H - 0.5`` (ZoeDepth's image in
            its padded map: :func:`reflect_pad_window`); values beyond it are read where the bilinear cell reaches
            them. None: the whole map.

    Returns:
        (H, W) float32 map on the input's device; NaN where the nearest source value is NaN.
    """
    if not edge_ratio > 1.0:
        msg = f"edge_ratio must be > 1, got {edge_ratio}"
        raise ConfigError(msg)
    source = prediction.reshape(prediction.shape[-2:]) if prediction.ndim == 4 else prediction
    if source.ndim != 2 or prediction.ndim not in (2, 4) or prediction.numel() != source.numel():
        msg = f"expected an (h, w) or (1, 1, h, w) map, got {tuple(prediction.shape)}"
        raise ShapeError(msg)
    source = source.to(torch.float32)
    out_h, out_w = int(out_hw[0]), int(out_hw[1])
    if window is None and (out_h, out_w) == tuple(source.shape):
        return source.clone()
    top, left, height, width = window if window is not None else (0.0, 0.0, None, None)
    y0, y1, wy = _source_index(out_h, source.shape[0], source.device, float(top), height)
    x0, x1, wx = _source_index(out_w, source.shape[1], source.device, float(left), width)
    rows0, rows1 = source[y0], source[y1]  # (H, w)
    v00, v01, v10, v11 = rows0[:, x0], rows0[:, x1], rows1[:, x0], rows1[:, x1]  # (H, W) each
    wy_col, wx_row = wy[:, None], wx[None, :]
    bilinear = (1 - wy_col) * ((1 - wx_row) * v00 + wx_row * v01) + wy_col * ((1 - wx_row) * v10 + wx_row * v11)
    low = torch.minimum(torch.minimum(v00, v01), torch.minimum(v10, v11))
    high = torch.maximum(torch.maximum(v00, v01), torch.maximum(v10, v11))
    if math.isinf(edge_ratio):  # no edge: bilinear wherever the four values are finite (evaluation's resize)
        smooth = torch.isfinite(low) & torch.isfinite(high)
    else:
        # False for NaN (NaN compares False) and for four +Inf (the blend would make NaN of 0 · Inf: nearest)
        smooth = (high <= edge_ratio * low) & (low > 0) & (low < math.inf)
    take_y1, take_x1 = (wy_col >= 0.5), (wx_row >= 0.5)
    nearest = torch.where(take_y1, torch.where(take_x1, v11, v10), torch.where(take_x1, v01, v00))
    return torch.where(smooth, bilinear, nearest)
