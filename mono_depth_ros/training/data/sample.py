"""The one training record every dataset returns, and its batched form.

A :class:`Sample` is one camera frame (the *target*) plus, for self-supervision, its *source* frames (temporal
neighbours and/or a stereo partner) as CPU torch tensors. Conventions, fixed here for every dataset, augmentation and
the trainer:

* ``rgb``: (3, H, W) float32 RGB in [0, 1].
* ``depth``: (1, H, W) float32 metres along the optical z axis, NaN = no ground truth (all NaN when the dataset has
  none, e.g. raw image sequences).
* ``sparse_depth``: (1, H, W) float32 metres of a projected LiDAR scan, NaN where no return landed (all NaN
  without LiDAR).
* ``k``: (3, 3) float32 pinhole camera matrix in pixels of *this* image (calibrated principal point).
* ``sources``: (S, 3, H, W) float32 RGB of the source frames (S may be 0), same camera model and size as ``rgb``.
* ``source_offsets``: S ints, the frame offset of each source (-1 = previous frame, +1 = next; 0 = the stereo
  partner taken at the same instant).
* ``source_from_target``: (S, 4, 4) float32 rigid transform target optical frame → source optical frame (metres);
  NaN where the dataset does not know it.
* ``pose_known``: (S,) bool, True where ``source_from_target`` is fixed by the rig (stereo) and need not be estimated.
* ``seen``: (1, H, W) bool, False where the image is no view of the scene: the black fill of an undistorted raw
  camera (:meth:`~mono_depth_ros.core.camera.CameraModel.seen_mask`), the same pixels of the target and its sources
  (one camera, one geometry); all True by default. The photometric loss ignores the rest, as the node's depth does.

``torch.utils.data.DataLoader``'s default collate does not know dataclasses: pass ``collate_fn=collate_samples``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError

Tensor = torch.Tensor


def _no_sources() -> Tensor:
    return torch.zeros((0, 3, 0, 0), dtype=torch.float32)


def _no_poses() -> Tensor:
    return torch.zeros((0, 4, 4), dtype=torch.float32)


def _no_flags() -> Tensor:
    return torch.zeros(0, dtype=torch.bool)


def _all_seen() -> Tensor:
    return torch.zeros((1, 0, 0), dtype=torch.bool)  # replaced by an all-True (1, H, W) mask in __post_init__


def unknown_poses(count: int) -> tuple[Tensor, Tensor]:
    """``(source_from_target, pose_known)`` for ``count`` sources whose poses are unknown: all-NaN (S, 4, 4), False."""
    return torch.full((count, 4, 4), float("nan"), dtype=torch.float32), torch.zeros(count, dtype=torch.bool)


@dataclass(frozen=True)
class Sample:
    """One training frame and its sources (see the module docstring for shapes, dtypes, units, invalid values).

    ``sources``, ``source_offsets``, ``source_from_target`` and ``pose_known`` may be left out for a frame without
    sources (S = 0); see :func:`unknown_poses` for sources without poses.

    Attributes:
        rgb: (3, H, W) float32 RGB in [0, 1].
        depth: (1, H, W) float32 metres, NaN = no ground truth.
        sparse_depth: (1, H, W) float32 metres, NaN = no LiDAR return.
        k: (3, 3) float32 camera matrix in pixels.
        sources: (S, 3, H, W) float32 RGB of the source frames.
        source_offsets: S frame offsets (0 = stereo partner).
        source_from_target: (S, 4, 4) float32 target → source transforms, NaN where unknown.
        pose_known: (S,) bool, True where the transform is fixed by the rig.
        name: identifier of the frame (dataset-relative path, or topic and index in a bag), for logs and evaluation.
        seen: (1, H, W) bool, False on a raw camera's black fill (default: all True).
    """

    rgb: Tensor
    depth: Tensor
    sparse_depth: Tensor
    k: Tensor
    sources: Tensor = field(default_factory=_no_sources)
    source_offsets: tuple[int, ...] = ()
    source_from_target: Tensor = field(default_factory=_no_poses)
    pose_known: Tensor = field(default_factory=_no_flags)
    name: str = ""
    seen: Tensor = field(default_factory=_all_seen)

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[0] != 3:
            msg = f"Sample {self.name!r}: rgb must be (3, H, W), got {tuple(self.rgb.shape)}"
            raise ShapeError(msg)
        height, width = self.rgb.shape[1:]
        count = len(self.source_offsets)
        if count == 0 and self.sources.numel() == 0:
            object.__setattr__(self, "sources", torch.zeros((0, 3, height, width), dtype=self.rgb.dtype))
        if self.seen.numel() == 0:
            object.__setattr__(self, "seen", torch.ones((1, height, width), dtype=torch.bool))
        expected = {
            "depth": (self.depth, (1, height, width)),
            "sparse_depth": (self.sparse_depth, (1, height, width)),
            "k": (self.k, (3, 3)),
            "sources": (self.sources, (count, 3, height, width)),
            "source_from_target": (self.source_from_target, (count, 4, 4)),
            "pose_known": (self.pose_known, (count,)),
            "seen": (self.seen, (1, height, width)),
        }
        for what, (tensor, shape) in expected.items():
            if tuple(tensor.shape) != shape:
                got = tuple(tensor.shape)
                msg = f"Sample {self.name!r}: {what} must have shape {shape} (S = {count} sources), got {got}"
                raise ShapeError(msg)

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.rgb.shape[1])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.rgb.shape[2])

    @property
    def intrinsics(self) -> PinholeIntrinsics:
        """``k`` and the image size as :class:`PinholeIntrinsics`."""
        return intrinsics_from_k(self.k, self.width, self.height)


@dataclass(frozen=True)
class SampleBatch:
    """Equally sized samples with the same sources, each tensor field stacked on a leading B axis.

    Attributes:
        rgb: (B, 3, H, W). depth: (B, 1, H, W). sparse_depth: (B, 1, H, W). k: (B, 3, 3).
        sources: (B, S, 3, H, W). source_offsets: S ints (shared). source_from_target: (B, S, 4, 4).
        pose_known: (B, S). names: B frame names. seen: (B, 1, H, W) bool, or None (all seen).
    """

    rgb: Tensor
    depth: Tensor
    sparse_depth: Tensor
    k: Tensor
    sources: Tensor
    source_offsets: tuple[int, ...]
    source_from_target: Tensor
    pose_known: Tensor
    names: tuple[str, ...]
    seen: Tensor | None = None

    def to(self, device: torch.device | str) -> SampleBatch:
        """The batch on ``device`` (non-blocking copies)."""

        def move(t: Tensor) -> Tensor:
            return t.to(device, non_blocking=True)

        return SampleBatch(
            rgb=move(self.rgb),
            depth=move(self.depth),
            sparse_depth=move(self.sparse_depth),
            k=move(self.k),
            sources=move(self.sources),
            source_offsets=self.source_offsets,
            source_from_target=move(self.source_from_target),
            pose_known=move(self.pose_known),
            names=self.names,
            seen=move(self.seen) if self.seen is not None else None,
        )


def collate_samples(samples: Sequence[Sample]) -> SampleBatch:
    """``DataLoader`` ``collate_fn``: stack samples into a :class:`SampleBatch`.

    Raises:
        ShapeError: empty input, samples of different image sizes (crop or resize them to one size first) or with
            different source offsets.
    """
    if not samples:
        msg = "cannot collate an empty list of samples"
        raise ShapeError(msg)
    sizes = {(s.height, s.width) for s in samples}
    if len(sizes) != 1:
        msg = f"samples in one batch have different sizes {sorted(sizes)}; add a crop / resize augmentation"
        raise ShapeError(msg)
    offsets = {s.source_offsets for s in samples}
    if len(offsets) != 1:
        msg = f"samples in one batch have different source offsets {sorted(offsets)}; build the dataset with one set"
        raise ShapeError(msg)
    return SampleBatch(
        rgb=torch.stack([s.rgb for s in samples]),
        depth=torch.stack([s.depth for s in samples]),
        sparse_depth=torch.stack([s.sparse_depth for s in samples]),
        k=torch.stack([s.k for s in samples]),
        sources=torch.stack([s.sources for s in samples]),
        source_offsets=samples[0].source_offsets,
        source_from_target=torch.stack([s.source_from_target for s in samples]),
        pose_known=torch.stack([s.pose_known for s in samples]),
        names=tuple(s.name for s in samples),
        seen=torch.stack([s.seen for s in samples]),
    )


def evenly_spread(count: int, picks: int) -> list[int]:
    """Up to ``picks`` distinct indices of ``range(count)``, evenly spread from the first to the last."""
    if count <= 0 or picks <= 0:
        return []
    return [int(i) for i in np.unique(np.linspace(0, count - 1, min(picks, count)).round().astype(int))]


def k_tensor(intrinsics: PinholeIntrinsics) -> Tensor:
    """(3, 3) float32 camera matrix of ``intrinsics``."""
    return torch.from_numpy(intrinsics.matrix.astype(np.float32))


def intrinsics_from_k(k: Tensor, width: int, height: int) -> PinholeIntrinsics:
    """(3, 3) camera matrix (pixels) + image size → :class:`PinholeIntrinsics` (skew ignored)."""
    m = k.detach().to(torch.float64).cpu()
    return PinholeIntrinsics(float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2]), width=width, height=height)


def rgb_tensor(rgb_u8: npt.NDArray[np.uint8]) -> Tensor:
    """(H, W, 3) uint8 RGB → (3, H, W) float32 in [0, 1]."""
    if rgb_u8.ndim != 3 or rgb_u8.shape[2] != 3 or rgb_u8.dtype != np.uint8:
        msg = f"RGB image must be (H, W, 3) uint8, got {rgb_u8.dtype} {rgb_u8.shape}"
        raise ShapeError(msg)
    return torch.from_numpy(np.ascontiguousarray(rgb_u8.transpose(2, 0, 1))).to(torch.float32).div_(255.0)


def depth_tensor(
    depth_m: npt.NDArray[np.floating] | None, height: int, width: int, source: str = "depth map"
) -> Tensor:
    """(H, W) float metres (NaN/±Inf/<=0 invalid) → (1, H, W) float32 with NaN invalid; ``None`` → all NaN.

    Raises:
        ShapeError: another size than the image's, naming ``source`` (the file, where it came from one).
    """
    if depth_m is None:
        return torch.full((1, height, width), float("nan"), dtype=torch.float32)
    if depth_m.shape != (height, width):
        msg = f"{source} is {depth_m.shape[1]}x{depth_m.shape[0]} but the image is {width}x{height}"
        raise ShapeError(msg)
    out = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        out[~(np.isfinite(out) & (out > 0))] = np.nan
    return torch.from_numpy(out)[None]
