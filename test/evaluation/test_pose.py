"""Tests for evaluation/pose.py: a pose network that outputs the true motion scores perfectly, a reversed one
scores -1."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.pose import evaluate_pose_direction
from mono_depth_ros.training.data.synthetic import ClipSpec, SyntheticDepthDataset, render_clip
from mono_depth_ros.training.objectives.selfsup import PoseNet, PoseOutput


class _Oracle(PoseNet):
    """Looks the frame pair up by content and returns its true ``second_from_first`` pose with the translation
    multiplied by ``factor`` (so every estimate, inverted or not, is the truth with its translation scaled)."""

    def __init__(self, pairs: dict[tuple[float, float], torch.Tensor], factor: float) -> None:
        super().__init__(width=4)
        self.pairs, self.factor = pairs, factor

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> PoseOutput:
        keys = [(_key(a), _key(b)) for a, b in zip(first, second, strict=True)]
        matrix = torch.stack([self.pairs[k] for k in keys]).clone()
        matrix[:, :3, 3] *= self.factor
        return PoseOutput(torch.zeros(len(keys), 3), matrix[:, :3, 3], matrix)


def _key(image: torch.Tensor) -> float:
    return round(float(image.double().sum()), 3)


@pytest.mark.parametrize(("sign", "scale"), [(1.0, 1.0), (1.0, 0.2), (-1.0, 1.0)])
def test_pose_direction_report(tmp_path_factory: pytest.TempPathFactory, sign: float, scale: float) -> None:
    clip = render_clip(ClipSpec(seed=3, n_frames=4, width=64, height=32, beams=0), tmp_path_factory.mktemp("c"))
    dataset = SyntheticDepthDataset([clip], (-1, 1))
    pairs = {}
    for i in range(len(dataset)):
        item = dataset[i]
        for j in range(2):
            source_from_target = item["source_from_target"][j]
            pairs[(_key(item["rgb"]), _key(item["sources"][j]))] = source_from_target
            pairs[(_key(item["sources"][j]), _key(item["rgb"]))] = torch.linalg.inv(source_from_target)
    oracle = _Oracle(pairs, sign * scale)
    report = evaluate_pose_direction(oracle, dataset, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), batch_size=3)
    assert report.pairs == 4
    assert report.mean_cosine == pytest.approx(sign, abs=1e-5)
    assert report.median_angle_deg == pytest.approx(0.0 if sign > 0 else 180.0, abs=0.5)
    assert report.median_norm_ratio == pytest.approx(scale, rel=1e-4)


def test_needs_temporal_neighbours(tmp_path_factory: pytest.TempPathFactory) -> None:
    clip = render_clip(ClipSpec(seed=3, n_frames=2, width=64, height=32, beams=0), tmp_path_factory.mktemp("c"))
    with pytest.raises(ConfigError, match="frame_offsets"):
        evaluate_pose_direction(PoseNet(4), SyntheticDepthDataset([clip]), (0, 0, 0), (1, 1, 1))
