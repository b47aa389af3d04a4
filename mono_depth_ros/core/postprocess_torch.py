"""Everything after the scale fit, on the network's device, and one copy of the final bytes to the host.

The GPU road of ``output.device_postprocess``: the prediction stays where the network made it; the scale fit (made
on the host from a copy of the published-size map, which the fit needs anyway) is applied there, then the speckle
mask, the flying-pixel mask, the range limits, the wire encoding and the organized cloud. Each step is the host
step's maths with the same float32 (float64 for millimetres) operations in the same order, so the results are the
same bits:

* :func:`apply_fit_torch` = :func:`core.scale.fit.apply_fit`;
* :func:`core.cloud_outliers_torch.speckle_mask_torch` = :func:`core.cloud_outliers.speckle_mask`;
* :func:`core.edges_torch.flying_pixel_mask_torch` = :func:`core.edges.flying_pixel_mask`;
* :func:`apply_range_limits_torch` = :func:`core.depth_codec.apply_range_limits`;
* :func:`encode_depth_torch` = :func:`core.depth_codec.encode_depth` (16UC1: millimetres, 0 invalid);
* :func:`core.cloud_torch.organized_cloud_torch` = ``core.cloud.CloudBuilder.organized``.

:func:`postprocess_on_device` writes the depth, the wire depth (16UC1 only: a 32FC1 image *is* the depth) and the
cloud into one device buffer and brings it to the host in one copy: on CUDA a non-blocking copy into pinned memory
(from torch's caching host allocator: a block is reused only once every array made from it is gone) followed by
one wait for the stream; on the CPU the buffer is already host memory and the arrays are views of it, no copy.
Nothing else waits for the device: the colour image goes up through pinned memory without a wait, the camera matrix
and the edge test's sampling indices once per calibration / size. With ``temporal.enabled`` the pipeline runs the
temporal filter (``TemporalFilter.update_tensor``) on the fitted map before these steps; its own decisions (the
frame's median disagreement, the kept share) read a few numbers back per frame.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import torch

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud_outliers import OutlierFilter
from mono_depth_ros.core.cloud_outliers_torch import speckle_mask_torch
from mono_depth_ros.core.cloud_record import PointCloud, cloud_from_packed
from mono_depth_ros.core.cloud_torch import organized_cloud_torch
from mono_depth_ros.core.depth_codec import MILLIMETRES_PER_METRE
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.edges import SourceShape
from mono_depth_ros.core.edges_torch import flying_pixel_mask_torch
from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.point_fields import XYZ_POINT_STEP, XYZRGB_POINT_STEP

_UINT16_MAX = 65535
_ALIGN = 64  # bytes: each part of the packed buffer starts on a cache line
_Scalar = TypeVar("_Scalar", bound=np.generic)


def apply_fit_torch(prediction: torch.Tensor, kind: OutputKind, scale: float, shift: float = 0.0) -> torch.Tensor:
    """Metric depth from a prediction and a fit: :func:`core.scale.fit.apply_fit` on the prediction's device.

    Args:
        prediction: (H, W) prediction of the given kind (any float dtype, computed in float32); NaN invalid.
        kind: what the prediction means.
        scale, shift: from the fit (``shift`` is used for relative_inverse and affine_depth only).

    Returns:
        (H, W) float32 metres; +Inf where the prediction is +Inf (a sky mark, any kind) or maps to a non-positive
        inverse depth (relative_inverse: farther than any depth); -Inf where a depth kind's prediction is -Inf (REP
        117 too close); NaN where it is otherwise invalid or the depth is not positive (depth kinds; affine_depth
        after its shift).
    """
    if prediction.ndim != 2:
        msg = f"prediction must be (H, W), got shape {tuple(prediction.shape)}"
        raise ShapeError(msg)
    out = prediction.float() * float(np.float32(scale))  # numpy multiplies by np.float32(scale)
    inverse = OutputKind(kind) is OutputKind.RELATIVE_INVERSE
    beyond = torch.isposinf(prediction)  # sky: beyond any range, as apply_fit
    if OutputKind(kind).has_shift:
        out = out + float(np.float32(shift))
    if inverse:
        beyond |= torch.isfinite(prediction) & ~(out > 0)  # a finite disparity past inverse depth 0: farther
        out = torch.reciprocal(out)
    bad = ~(out > 0) | ~torch.isfinite(out)  # catches NaN too
    out = torch.where(bad, torch.nan, out)
    if not inverse:
        out = out.masked_fill(torch.isneginf(prediction), -torch.inf)  # REP 117 too close stays so
    return out.masked_fill(beyond, torch.inf)


def apply_range_limits_torch(
    depth_m: torch.Tensor, min_range_m: float, max_range_m: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """:func:`core.depth_codec.apply_range_limits` on the depth's device: -Inf closer than ``min_range_m``, +Inf
    beyond ``max_range_m`` (REP 117), NaN stays NaN. Float32 (H, W); written into ``out`` when given.

    The limits are compared in float32, as NumPy compares a float32 array with a Python float.
    """
    if not 0.0 <= min_range_m < max_range_m:
        msg = f"range limits need 0 <= min_range ({min_range_m}) < max_range ({max_range_m})"
        raise ValueError(msg)
    depth = depth_m.float()
    far = torch.where(depth > float(np.float32(max_range_m)), math.inf, depth)
    too_close = far < float(np.float32(min_range_m))
    if out is None:
        return torch.where(too_close, -math.inf, far)
    return torch.where(too_close, torch.full((), -math.inf, device=far.device), far, out=out)


def millimetres_torch(depth_m: torch.Tensor) -> torch.Tensor:
    """Whole millimetres of a 16UC1 image as float64 (H, W): ``rint(depth · 1000)`` computed in float64 (exact for
    every float32 depth), 0 where that is not finite or outside ``[1, 65535]`` (NaN, ±Inf, too near, too far)."""
    depth_mm = torch.round(depth_m.double() * MILLIMETRES_PER_METRE)  # round half to even, as np.rint
    valid = torch.isfinite(depth_mm) & (depth_mm >= 1) & (depth_mm <= _UINT16_MAX)
    return torch.where(valid, depth_mm, 0.0)


def encode_depth_torch(depth_m: torch.Tensor, encoding: str, out: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`core.depth_codec.encode_depth` on the depth's device.

    Returns:
        ``32FC1``: the float32 depth itself. ``16UC1`` / ``mono16``: the uint16 millimetres (0 invalid) as an int16
        tensor holding the same 16 bits (``.numpy().view(np.uint16)`` on the host): int16 copies and converts on
        every torch device. Written into ``out`` (an (H, W) int16 tensor) when given.
    """
    if depth_m.ndim != 2 or not depth_m.is_floating_point():
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    if encoding == "32FC1":
        return depth_m.float()
    if encoding in ("16UC1", "mono16"):
        return _uint16_bits(millimetres_torch(depth_m), out)
    msg = f"unsupported depth output encoding {encoding!r}; use '32FC1' (metres) or '16UC1' (millimetres)"
    raise EncodingError(msg)


def _uint16_bits(depth_mm: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """Whole millimetres in [0, 65535] (float64) → int16 holding the same 16 bits as the uint16 (into ``out``)."""
    bits = torch.where(depth_mm > 2**15 - 1, depth_mm - 2**16, depth_mm)
    return bits.to(torch.int16) if out is None else out.copy_(bits)


@dataclass(frozen=True)
class DevicePostprocess:
    """What :func:`postprocess_on_device` does (from ``output.*`` and ``cloud.*``).

    Attributes:
        min_range_m, max_range_m: range limits (REP 117 marks in the image, no point in the cloud).
        encoding: ``32FC1`` | ``16UC1`` (``mono16``) of the published image.
        outlier: the speckle filter's settings (``output.outlier_filter``, ``output.outlier_tolerance``); None: no
            speckle filter. It runs before the edge filter, as on the host.
        edge_threshold: the flying-pixel threshold (``output.edge_threshold``); None: no edge filter.
        source_hw: (height, width) the depth was upsampled from (the network's; a ``SourceWindow`` where the image
            was read at a window of it), to run the speckle and edge tests
            at; None: the depth's own size.
        cloud: build the organized cloud (XYZ, or XYZRGB when an image is given).
    """

    min_range_m: float
    max_range_m: float
    encoding: str = "32FC1"
    edge_threshold: float | None = None
    source_hw: SourceShape | None = None
    cloud: bool = True
    outlier: OutlierFilter | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_range_m < self.max_range_m:
            msg = f"range limits need 0 <= min_range ({self.min_range_m}) < max_range ({self.max_range_m}) metres"
            raise ConfigError(msg)
        if self.encoding not in ("32FC1", "16UC1", "mono16"):
            msg = f"unsupported depth output encoding {self.encoding!r}; use '32FC1' or '16UC1'"
            raise EncodingError(msg)


@dataclass(frozen=True)
class HostOutputs:
    """The device path's results on the host, views of one buffer (kept alive while any of them is).

    Attributes:
        depth_m: (H, W) float32 metres after the speckle and edge filters and range limits (NaN invalid, ±Inf out
            of range).
        depth_wire: ``depth_m`` itself for 32FC1, else (H, W) uint16 millimetres (0 invalid).
        cloud: the organized cloud in core.cloud's byte layout (None when not asked for).
    """

    depth_m: npt.NDArray[np.float32]
    depth_wire: npt.NDArray[np.generic]
    cloud: PointCloud | None


def postprocess_on_device(
    depth_m: torch.Tensor,
    intrinsics: PinholeIntrinsics,
    settings: DevicePostprocess,
    rgb: npt.NDArray[np.uint8] | None = None,
) -> HostOutputs:
    """Speckle and edge filters, range limits, encoding and organized cloud of a metric depth map on its device; one
    copy back.

    Args:
        depth_m: (H, W) float metres (after the scale fit), on any device.
        intrinsics: pinhole intrinsics of that image (W × H).
        settings: the steps (see :class:`DevicePostprocess`).
        rgb: (H, W, 3) uint8 RGB for an XYZRGB cloud (uploaded), or None for XYZ.

    Returns:
        :class:`HostOutputs` equal (bit for bit) to the host path's ``apply_range_limits`` / ``encode_depth`` /
        ``CloudBuilder.organized`` of the same depth.
    """
    if depth_m.ndim != 2 or not depth_m.is_floating_point():
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    intrinsics.check_image_size(int(depth_m.shape[1]), int(depth_m.shape[0]), what="depth image")
    height, width = (int(n) for n in depth_m.shape)
    device = depth_m.device
    layout = _Layout.of(height, width, settings, rgb is not None)
    buffer = torch.empty(layout.total, dtype=torch.uint8, device=device)
    depth = depth_m.float()
    if settings.outlier is not None:
        depth = torch.where(speckle_mask_torch(depth, settings.outlier, settings.source_hw), torch.nan, depth)
    if settings.edge_threshold is not None:
        flying = flying_pixel_mask_torch(depth, settings.edge_threshold, settings.source_hw)
        depth = torch.where(flying, torch.nan, depth)
    image_out = layout.part(buffer, "depth", torch.float32).view(height, width)
    final = apply_range_limits_torch(depth, settings.min_range_m, settings.max_range_m, out=image_out)
    cloud_depth = final
    if layout.has("wire"):
        depth_mm = millimetres_torch(final)
        _uint16_bits(depth_mm, layout.part(buffer, "wire", torch.int16).view(height, width))
        # the cloud says what the published image says (decode_depth): whole millimetres, none where the wire has 0
        metres = depth_mm.float() * float(np.float32(1.0 / MILLIMETRES_PER_METRE))
        cloud_depth = torch.where(depth_mm > 0, metres, torch.nan)
    if layout.has("cloud"):
        colour = None if rgb is None else _upload(rgb, device)
        points = layout.part(buffer, "cloud", torch.float32).view(height * width, -1)
        organized_cloud_torch(cloud_depth, _camera_matrix(intrinsics, device), colour, out=points)
    host = _to_host(buffer).numpy()
    depth_host = layout.array(host, "depth", np.float32).reshape(height, width)
    wire_host = layout.array(host, "wire", np.uint16).reshape(height, width) if layout.has("wire") else depth_host
    cloud = None
    if layout.has("cloud"):
        packed = layout.array(host, "cloud", np.float32).reshape(height * width, -1)
        cloud = cloud_from_packed(packed, height, width, is_dense=False)
    return HostOutputs(depth_host, wire_host, cloud)


def _upload(array: npt.NDArray[np.generic], device: torch.device) -> torch.Tensor:
    """``array`` on ``device``. To CUDA through pinned memory, non-blocking: a plain ``.to`` from pageable memory
    would wait for the stream (every kernel queued so far) before copying."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return tensor.to(device)
    staged = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)  # reused once the copy is done
    staged.copy_(tensor)
    return staged.to(device, non_blocking=True)


@functools.lru_cache(maxsize=16)
def _camera_matrix(intrinsics: PinholeIntrinsics, device: torch.device) -> torch.Tensor:
    """The (3, 3) float64 camera matrix on ``device``, uploaded once per calibration (not once per frame)."""
    return torch.from_numpy(intrinsics.matrix).to(device)


def _to_host(buffer: torch.Tensor) -> torch.Tensor:
    """The buffer in host memory: itself on the CPU; from CUDA one non-blocking copy into pinned memory, then one
    wait for the stream (the frame's only one)."""
    if buffer.device.type == "cpu":
        return buffer
    if buffer.device.type != "cuda":
        return buffer.to("cpu")
    host = torch.empty(buffer.shape, dtype=buffer.dtype, pin_memory=True)
    host.copy_(buffer, non_blocking=True)
    torch.cuda.current_stream(buffer.device).synchronize()
    return host


@dataclass(frozen=True)
class _Layout:
    """Byte ranges of the parts (``depth``, ``wire``, ``cloud``) in the one buffer."""

    parts: dict[str, tuple[int, int]]
    total: int

    @classmethod
    def of(cls, height: int, width: int, settings: DevicePostprocess, colour: bool) -> _Layout:
        pixels = height * width
        sizes = {"depth": 4 * pixels}
        if settings.encoding != "32FC1":
            sizes["wire"] = 2 * pixels
        if settings.cloud:
            sizes["cloud"] = (XYZRGB_POINT_STEP if colour else XYZ_POINT_STEP) * pixels
        parts, offset = {}, 0
        for name, size in sizes.items():
            parts[name] = (offset, offset + size)
            offset += -(-size // _ALIGN) * _ALIGN
        return cls(parts, offset)

    def has(self, name: str) -> bool:
        return name in self.parts

    def part(self, buffer: torch.Tensor, name: str, dtype: torch.dtype) -> torch.Tensor:
        start, stop = self.parts[name]
        return buffer[start:stop].view(dtype)

    def array(self, host: npt.NDArray[np.uint8], name: str, dtype: type[_Scalar]) -> npt.NDArray[_Scalar]:
        start, stop = self.parts[name]
        return host[start:stop].view(dtype)
