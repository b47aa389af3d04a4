"""Atrous Spatial Pyramid Pooling (DeepLab v3): parallel dilated convolutions + image pooling, fused by 1×1 conv.

No normalisation layers: the image-pooling branch sees one value per channel, which BatchNorm cannot train on with
batch size 1. Padding is zeros (a dilation larger than the map reads only padding and the centre tap, as DeepLab).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DEFAULT_DILATIONS: tuple[int, ...] = (1, 6, 12, 18)


class ASPP(nn.Module):
    """(B, in_ch, h, w) -> (B, out_ch, h, w).

    Args:
        in_ch: input channels.
        out_ch: channels of each branch and of the output.
        dilations: one branch per dilation (1 -> a 1×1 conv, others -> a 3×3 conv with that dilation).
    """

    def __init__(self, in_ch: int, out_ch: int, dilations: tuple[int, ...] = DEFAULT_DILATIONS) -> None:
        super().__init__()
        branches = []
        for dilation in dilations:
            if dilation == 1:
                conv = nn.Conv2d(in_ch, out_ch, 1)
            else:
                conv = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
            branches.append(nn.Sequential(conv, nn.ELU(inplace=True)))
        self.branches = nn.ModuleList(branches)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, out_ch, 1), nn.ELU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(out_ch * (len(dilations) + 1), out_ch, 1), nn.ELU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        """Fuse the branches; the pooled branch is broadcast back to the input's size."""
        pooled = self.image_pool(x).expand(-1, -1, x.shape[-2], x.shape[-1])
        out: Tensor = self.project(torch.cat([*(branch(x) for branch in self.branches), pooled], dim=1))
        return out
