"""CutMix for relative-depth training (Yun et al. 2019, applied to depth as in Depth Anything's unlabeled-image step).

A box of one sample is pasted into another at the same place in the image, the depth and the sparse depth, so
image and targets stay consistent. The two regions carry depth of different scenes (different scale and shift for
affine-invariant targets): compute scale-and-shift-invariant losses inside and outside ``mask`` separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.sample import SampleBatch

Tensor = torch.Tensor


@dataclass(frozen=True)
class CutMixResult:
    """A batch with a box of a partner sample pasted into each sample.

    Attributes:
        batch: the mixed batch. ``k`` stays the receiving sample's (valid outside the box only); sources are
            dropped (S = 0: a mixed frame has no consistent motion).
        boxes: (B, 4) int64 ``x0, y0, x1, y1`` (exclusive end) of the pasted box in each sample.
        mask: (B, 1, H, W) bool, True inside the box (content from ``partner``).
        partner: (B,) int64 index of the sample each box was taken from.
    """

    batch: SampleBatch
    boxes: Tensor
    mask: Tensor
    partner: Tensor


def cutmix(
    batch: SampleBatch, area_range: tuple[float, float] = (0.1, 0.5), generator: torch.Generator | None = None
) -> CutMixResult:
    """CutMix for relative-depth training: paste the same box into image, depth and sparse depth.

    Each sample ``i`` receives a box from sample ``partner[i]`` (a random derangement for B > 1), of area fraction
    drawn from ``area_range`` and aspect ratio in [1/2, 2], at the same location in both images. The two regions
    have different scales (and shifts): fit scale-and-shift-invariant losses inside and outside ``mask`` separately.
    """
    low, high = area_range
    if not 0.0 < low <= high <= 1.0:
        msg = f"cutmix area_range must satisfy 0 < low <= high <= 1, got {area_range}"
        raise ConfigError(msg)
    size, _, height, width = batch.rgb.shape
    partner = (torch.arange(size) + int(torch.randint(1, max(size, 2), (), generator=generator))) % size
    area = low + (high - low) * torch.rand(size, generator=generator, dtype=torch.float64)
    aspect = torch.exp((torch.rand(size, generator=generator, dtype=torch.float64) * 2 - 1) * math.log(2.0))
    box_w = torch.sqrt(area * aspect * width * height).round().clamp(1, width).to(torch.int64)
    box_h = torch.sqrt(area / aspect * width * height).round().clamp(1, height).to(torch.int64)
    x0 = (torch.rand(size, generator=generator, dtype=torch.float64) * (width - box_w + 1)).floor().to(torch.int64)
    y0 = (torch.rand(size, generator=generator, dtype=torch.float64) * (height - box_h + 1)).floor().to(torch.int64)
    boxes = torch.stack([x0, y0, x0 + box_w, y0 + box_h], dim=1)
    cols = torch.arange(width).view(1, 1, width)
    rows = torch.arange(height).view(1, height, 1)
    mask = (
        (cols >= boxes[:, 0].view(-1, 1, 1))
        & (cols < boxes[:, 2].view(-1, 1, 1))
        & (rows >= boxes[:, 1].view(-1, 1, 1))
        & (rows < boxes[:, 3].view(-1, 1, 1))
    )[:, None]

    def mix(values: Tensor) -> Tensor:
        return torch.where(mask, values[partner], values)

    mixed = SampleBatch(
        rgb=mix(batch.rgb),
        depth=mix(batch.depth),
        sparse_depth=mix(batch.sparse_depth),
        k=batch.k.clone(),
        sources=batch.sources[:, :0],
        source_offsets=(),
        source_from_target=batch.source_from_target[:, :0],
        pose_known=batch.pose_known[:, :0],
        names=tuple(f"{batch.names[i]}+{batch.names[int(p)]}" for i, p in enumerate(partner)),
        seen=mix(batch.seen) if batch.seen is not None else None,
    )
    return CutMixResult(batch=mixed, boxes=boxes, mask=mask, partner=partner)
