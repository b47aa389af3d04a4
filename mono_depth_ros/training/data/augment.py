"""Training augmentation on :class:`~mono_depth_ros.training.data.sample.Sample`: geometry that keeps the intrinsics
exact, and photometric changes that keep the geometry.

Geometry (crop, resize, horizontal flip) is applied **identically** to the image, the source frames, the depth,
the sparse depth and the ``seen`` mask (a pixel stays seen after a resize only where its whole footprint was), and
the camera matrix follows through :class:`~mono_depth_ros.core.camera.PinholeIntrinsics`
(``cropped`` / ``resized`` / ``flipped_horizontally``). Pixel model: integer coordinates at pixel centres, so a
resize maps ``u → (u + 0.5) · sx − 0.5`` (bilinear with ``align_corners=False`` for colour, ``nearest-exact`` for
depth). Depth values are never interpolated: dense depth is resized with nearest neighbour (no mixed depths across
object edges; when shrinking, a pixel whose sample has no depth takes the nearest return splatted onto it, so a
LiDAR depth target keeps its returns), and sparse LiDAR depth is re-splatted point by point (nearest point wins per
pixel), so upscaling does not invent measurements and downscaling keeps the nearest return. Metric depth values
(metres along z) do not change under any of these operations.

CutMix (for relative-depth training on batches) lives in :mod:`mono_depth_ros.training.data.cutmix`.

Photometric changes (colour jitter, Gaussian noise) touch ``rgb`` and the source frames only; the jitter draws one
set of factors per sample so that source frames stay photometrically consistent for self-supervision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.training.data.sample import Sample, k_tensor

Tensor = torch.Tensor

# RGB → YIQ (NTSC); hue rotation is a rotation of the (I, Q) chroma plane.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], dtype=torch.float64
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_LUMA = _RGB_TO_YIQ[0]


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _map_frames(sample: Sample, fn: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """``fn`` on the (1 + S, 3, H, W) stack of ``rgb`` and the sources, in one call → new ``(rgb, sources)``."""
    out = fn(torch.cat([sample.rgb[None], sample.sources.to(sample.rgb.dtype)]))
    return out[0], out[1:]


# --------------------------------------------------------------------------------------------------------- geometry


def crop(sample: Sample, x_offset: int, y_offset: int, width: int, height: int) -> Sample:
    """The sub-image ``[y_offset : y_offset + height, x_offset : x_offset + width]`` of every image-shaped tensor.

    Raises:
        ShapeError: the window does not fit inside the image.
    """
    intrinsics = sample.intrinsics.cropped(x_offset, y_offset, width, height)
    rows, cols = slice(y_offset, y_offset + height), slice(x_offset, x_offset + width)
    return replace(
        sample,
        rgb=sample.rgb[:, rows, cols].contiguous(),
        depth=sample.depth[:, rows, cols].contiguous(),
        sparse_depth=sample.sparse_depth[:, rows, cols].contiguous(),
        k=k_tensor(intrinsics),
        sources=sample.sources[:, :, rows, cols].contiguous(),
        seen=sample.seen[:, rows, cols].contiguous(),
    )


def resize_sparse_depth(sparse_depth_m: Tensor, width: int, height: int) -> Tensor:
    """Re-splat a sparse depth map (1, H, W) onto a ``width`` × ``height`` grid; nearest point wins per pixel.

    Each valid pixel ``(u, v)`` moves to ``rint((u + 0.5) · sx − 0.5)``, ``rint((v + 0.5) · sy − 0.5)``; its depth in
    metres is unchanged. Returns (1, height, width) float32 with NaN where no point lands.
    """
    _, src_h, src_w = sparse_depth_m.shape
    out = torch.full((height * width,), math.inf, dtype=sparse_depth_m.dtype)
    flat = sparse_depth_m.reshape(-1)
    valid = torch.isfinite(flat) & (flat > 0)
    index = torch.nonzero(valid).squeeze(1)
    if index.numel():
        v_src = torch.div(index, src_w, rounding_mode="floor").to(torch.float64)
        u_src = (index % src_w).to(torch.float64)
        u = torch.round((u_src + 0.5) * (width / src_w) - 0.5).to(torch.int64).clamp_(0, width - 1)
        v = torch.round((v_src + 0.5) * (height / src_h) - 0.5).to(torch.int64).clamp_(0, height - 1)
        out.scatter_reduce_(0, v * width + u, flat[index], reduce="amin", include_self=True)
    out[torch.isinf(out)] = math.nan
    return out.reshape(1, height, width)


def _resize_rgb(frames: Tensor, width: int, height: int) -> Tensor:
    """(N, 3, H, W) → (N, 3, height, width), bilinear on the pixel-centre grid, antialiased when shrinking."""
    downscale = width < frames.shape[3] or height < frames.shape[2]
    resized = F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False, antialias=downscale)
    return resized.clamp_(0.0, 1.0)


def resize(sample: Sample, width: int, height: int) -> Sample:
    """Resize to ``width`` × ``height``: colour bilinear (antialiased when shrinking), depth nearest (when shrinking,
    a pixel whose sample has no depth takes the nearest return splatted onto it: a LiDAR target keeps its returns),
    sparse splat."""
    if width <= 0 or height <= 0:
        msg = f"cannot resize sample {sample.name!r} to {width}x{height}"
        raise ShapeError(msg)
    if (width, height) == (sample.width, sample.height):
        return sample
    intrinsics = sample.intrinsics.resized(width, height)
    rgb, sources = _map_frames(sample, lambda frames: _resize_rgb(frames, width, height))
    depth = F.interpolate(sample.depth[None], size=(height, width), mode="nearest-exact")[0]
    if (width < sample.width or height < sample.height) and not bool(torch.isfinite(depth).all()):
        # a sparse target (LiDAR returns) keeps them: a block whose sampled pixel has none takes its nearest return
        depth = torch.where(torch.isfinite(depth), depth, resize_sparse_depth(sample.depth, width, height))
    return replace(
        sample,
        rgb=rgb,
        depth=depth,
        sparse_depth=resize_sparse_depth(sample.sparse_depth, width, height),
        k=k_tensor(intrinsics),
        sources=sources,
        seen=resize_seen(sample.seen, width, height),
    )


def resize_seen(seen: Tensor, width: int, height: int) -> Tensor:
    """(1, H, W) bool → (1, height, width): seen where the pixel's whole footprint (area resize) was seen."""
    if bool(seen.all()):
        return torch.ones((1, height, width), dtype=torch.bool)
    area = F.interpolate(seen[None].to(torch.float32), size=(height, width), mode="area")[0]
    return area >= 1.0 - 1e-4


def hflip(sample: Sample) -> Sample:
    """Mirror left-right (``u' = W − 1 − u``); exact for any principal point. Applying it twice is the identity.

    The mirrored world is seen through the optical frame reflected by ``F = diag(−1, 1, 1)``, so each
    ``source_from_target`` becomes ``F · T · F`` (a stereo baseline along x changes sign).
    """
    intrinsics = sample.intrinsics.flipped_horizontally()
    reflect = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=sample.source_from_target.dtype))
    return replace(
        sample,
        rgb=sample.rgb.flip(-1),
        depth=sample.depth.flip(-1),
        sparse_depth=sample.sparse_depth.flip(-1),
        k=k_tensor(intrinsics),
        sources=sample.sources.flip(-1),
        source_from_target=reflect @ sample.source_from_target @ reflect,
        seen=sample.seen.flip(-1),
    )


def random_resized_crop(
    sample: Sample,
    width: int,
    height: int,
    scale_range: tuple[float, float] = (1.0, 1.0),
    generator: torch.Generator | None = None,
    zoom_scales_depth: bool = False,
) -> Sample:
    """Resize by a random factor ``s`` from ``scale_range``, then crop a random ``width`` × ``height`` window.

    ``s`` is raised where needed so that the resized image covers the window (no padding, no invalid border).
    With ``zoom_scales_depth`` the depth (dense and sparse, metres) and the translations of the known source poses
    are divided by ``s``: a frame zoomed by ``s`` looks like the scene ``s`` times closer seen by the camera as
    given, so it teaches the depth that camera would see at that apparent size (the canonical-camera rule of
    Metric3D) instead of the same metres for every zoom, which biases a metric network by about the mean zoom.

    Raises:
        ConfigError: an empty or non-positive ``scale_range``, or a non-positive output size.
    """
    low, high = scale_range
    if not 0.0 < low <= high or width <= 0 or height <= 0:
        msg = f"random_resized_crop needs 0 < scale_range[0] <= scale_range[1] and a positive size, got {scale_range}"
        raise ConfigError(msg)
    min_scale = max(width / sample.width, height / sample.height)
    scale = max(_uniform(low, high, generator), min_scale)
    new_w = max(width, round(sample.width * scale))
    new_h = max(height, round(sample.height * scale))
    resized = resize(sample, new_w, new_h)
    x0 = int(torch.randint(0, new_w - width + 1, (), generator=generator))
    y0 = int(torch.randint(0, new_h - height + 1, (), generator=generator))
    out = crop(resized, x0, y0, width, height)
    if not zoom_scales_depth or (new_w, new_h) == (sample.width, sample.height):
        return out
    zoom = math.sqrt(new_w / sample.width * new_h / sample.height)  # the focal lengths' mean change
    poses = out.source_from_target.clone()
    poses[:, :3, 3] /= zoom  # NaN (unknown) stays NaN
    return replace(out, depth=out.depth / zoom, sparse_depth=out.sparse_depth / zoom, source_from_target=poses)


# ------------------------------------------------------------------------------------------------------- photometric


def _jitter_frames(frames: Tensor, brightness: float, contrast: float, saturation: float, hue_rad: float) -> Tensor:
    """One colour transform for a (N, 3, H, W) stack; contrast pivots on the mean grey of ``frames[0]`` (the target),
    so every frame gets the same per-pixel mapping (photometric consistency between target and sources)."""
    luma = _LUMA.to(frames.dtype)
    out = frames * brightness
    pivot = torch.einsum("c,chw->hw", luma, out[0]).mean()
    out = (out - pivot) * contrast + pivot
    grey = torch.einsum("c,nchw->nhw", luma, out)[:, None]
    out = (out - grey) * saturation + grey
    if hue_rad != 0.0:
        cos, sin = math.cos(hue_rad), math.sin(hue_rad)
        rotate = torch.tensor([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]], dtype=torch.float64)
        matrix = (_YIQ_TO_RGB @ rotate @ _RGB_TO_YIQ).to(frames.dtype)
        out = torch.einsum("dc,nchw->ndhw", matrix, out)
    return out.clamp_(0.0, 1.0)


def colour_jitter(
    sample: Sample,
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
    hue: float = 0.05,
    generator: torch.Generator | None = None,
) -> Sample:
    """Random brightness / contrast / saturation factors in ``[1 − x, 1 + x]`` and a hue rotation in ``[−hue, hue]``
    turns (fractions of a full circle), the same draw for ``rgb`` and every source frame. Result clamped to [0, 1].
    """
    if min(brightness, contrast, saturation) < 0.0 or not 0.0 <= hue <= 0.5:
        strengths = (brightness, contrast, saturation, hue)
        msg = f"colour jitter needs non-negative strengths and hue in [0, 0.5], got {strengths}"
        raise ConfigError(msg)
    factors = (
        _uniform(1.0 - brightness, 1.0 + brightness, generator),
        _uniform(1.0 - contrast, 1.0 + contrast, generator),
        _uniform(1.0 - saturation, 1.0 + saturation, generator),
        _uniform(-hue, hue, generator) * 2.0 * math.pi,
    )
    rgb, sources = _map_frames(sample, lambda frames: _jitter_frames(frames, *factors))
    return replace(sample, rgb=rgb, sources=sources)


def gaussian_noise(sample: Sample, std: float, generator: torch.Generator | None = None) -> Sample:
    """Add independent N(0, ``std``²) noise to every colour value of ``rgb`` and each source frame; clamp to [0, 1]."""
    if std < 0.0:
        msg = f"noise std {std} must be >= 0"
        raise ConfigError(msg)
    if std == 0.0:
        return sample

    def noisy(frame: Tensor) -> Tensor:
        noise = torch.randn(frame.shape, generator=generator, dtype=frame.dtype)
        return (frame + noise * std).clamp_(0.0, 1.0)

    return replace(sample, rgb=noisy(sample.rgb), sources=noisy(sample.sources))


# ------------------------------------------------------------------------------------------------- the train pipeline


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation settings (defaults: monodepth2-like strengths).

    Attributes:
        crop_width, crop_height: output size in pixels; 0 = keep the input size (no crop, no scaling).
        scale_range: random resize factor range before the crop (1, 1 = crop only).
        zoom_scales_depth: divide depth and known translations by the zoom (see :func:`random_resized_crop`), so
            that the zoom keeps a metric network's scale true to the un-zoomed camera.
        flip_probability: probability of a horizontal flip.
        jitter_probability: probability of colour jitter; brightness, contrast, saturation, hue: its strengths.
        noise_std: std of additive Gaussian noise on colour values in [0, 1] (0 = off).
    """

    crop_width: int = 0
    crop_height: int = 0
    scale_range: tuple[float, float] = (1.0, 1.0)
    zoom_scales_depth: bool = True
    flip_probability: float = 0.5
    jitter_probability: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.05
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        if (self.crop_width == 0) != (self.crop_height == 0) or min(self.crop_width, self.crop_height) < 0:
            msg = f"crop size {self.crop_width}x{self.crop_height}: give both (positive) or neither (0)"
            raise ConfigError(msg)
        if not 0.0 < self.scale_range[0] <= self.scale_range[1]:
            msg = f"scale_range {self.scale_range} must satisfy 0 < low <= high"
            raise ConfigError(msg)
        for name in ("flip_probability", "jitter_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                msg = f"{name}={getattr(self, name)} must be in [0, 1]"
                raise ConfigError(msg)
        if self.noise_std < 0.0:
            msg = f"noise_std={self.noise_std} must be >= 0"
            raise ConfigError(msg)


class TrainAugment:
    """``Sample → Sample`` transform for a dataset's ``transform`` argument: resized crop, flip, jitter, noise.

    Args:
        config: what to apply.
        generator: random source; None = torch's global RNG, which DataLoader seeds differently in each worker (a
            generator given here is copied into every worker, which would then repeat each other's draws). For
            draws that depend only on the item (exact resume), pass a per-item generator to ``__call__`` instead.
    """

    def __init__(self, config: AugmentConfig, generator: torch.Generator | None = None) -> None:
        self.config = config
        self.generator = generator

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        """Augment one sample (geometry first, then colour), drawing from ``generator`` or the constructor's."""
        return self.both(sample, generator)[1]

    def both(self, sample: Sample, generator: torch.Generator | None = None) -> tuple[Sample, Sample]:
        """``(geometry only, geometry and colour)`` of one sample, from the draws of :meth:`__call__`: the frames a
        photometric loss compares, and the networks' input (monodepth2's ``color`` and ``color_aug``)."""
        cfg = self.config
        gen = generator if generator is not None else self.generator

        def chance(probability: float) -> bool:
            return probability > 0.0 and float(torch.rand((), generator=gen)) < probability

        if cfg.crop_width:
            sample = random_resized_crop(
                sample, cfg.crop_width, cfg.crop_height, cfg.scale_range, gen, cfg.zoom_scales_depth
            )
        if chance(cfg.flip_probability):
            sample = hflip(sample)
        geometric = sample
        if chance(cfg.jitter_probability):
            sample = colour_jitter(sample, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, gen)
        return geometric, gaussian_noise(sample, cfg.noise_std, gen)
