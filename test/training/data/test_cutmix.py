"""CutMix: the same box in image, depth and sparse depth; partners are other samples."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.cutmix import cutmix
from mono_depth_ros.training.data.sample import collate_samples
from test.training.data.test_augment import HEIGHT, WIDTH, make_sample


def test_cutmix_boxes_agree_across_image_and_targets() -> None:
    batch = collate_samples([make_sample(seed) for seed in range(4)])
    result = cutmix(batch, area_range=(0.2, 0.4), generator=torch.Generator().manual_seed(5))
    assert torch.all(result.partner != torch.arange(4))
    for i in range(4):
        x0, y0, x1, y1 = (int(v) for v in result.boxes[i])
        box = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
        box[y0:y1, x0:x1] = True
        assert torch.equal(result.mask[i, 0], box)
        area = (x1 - x0) * (y1 - y0) / (HEIGHT * WIDTH)
        assert 0.1 < area < 0.6
        p = int(result.partner[i])
        for name in ("rgb", "depth", "sparse_depth"):
            mixed, original = getattr(result.batch, name)[i], getattr(batch, name)
            torch.testing.assert_close(mixed[:, box], original[p][:, box], equal_nan=True, rtol=0, atol=0)
            torch.testing.assert_close(mixed[:, ~box], original[i][:, ~box], equal_nan=True, rtol=0, atol=0)
    assert result.batch.sources.shape == (4, 0, 3, HEIGHT, WIDTH)
    assert result.batch.source_offsets == ()
    with pytest.raises(ConfigError):
        cutmix(batch, area_range=(0.5, 0.2))


def test_cutmix_of_one_sample_pastes_into_itself() -> None:
    batch = collate_samples([make_sample()])
    result = cutmix(batch, generator=torch.Generator().manual_seed(0))
    assert result.partner.tolist() == [0]
    torch.testing.assert_close(result.batch.rgb, batch.rgb)
