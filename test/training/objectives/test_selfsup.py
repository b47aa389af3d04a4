"""Tests for training/selfsup.py: Rodrigues, pose network, projection and warping (with the synthetic world's true
depth and poses), and the reprojected-distance LiDAR term."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import transforms3d
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.training.data.synthetic import ClipSpec, SyntheticDepthDataset, render_clip
from mono_depth_ros.training.objectives.losses import photometric_error
from mono_depth_ros.training.objectives.selfsup import (
    POSE_SCALE,
    PoseNet,
    axis_angle_to_matrix,
    estimate_pose,
    invert_pose,
    pose_to_matrix,
    project_to_source,
    reprojected_distance_loss,
    warp_to_target,
)

finite = st.floats(-3.0, 3.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.tuples(finite, finite, finite))
def test_rodrigues_matches_transforms3d(vector: tuple[float, float, float]) -> None:
    w = np.array(vector)
    matrix = axis_angle_to_matrix(torch.tensor(w, dtype=torch.float64)).numpy()
    angle = float(np.linalg.norm(w))
    expected = np.eye(3) if angle < 1e-12 else transforms3d.axangles.axangle2mat(w / angle, angle)
    np.testing.assert_allclose(matrix, expected, atol=1e-9)
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(matrix) == pytest.approx(1.0)


def test_rodrigues_small_angles_and_gradient() -> None:
    tiny = torch.tensor([[1e-7, -2e-7, 3e-8], [0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    matrix = axis_angle_to_matrix(tiny)
    skew = torch.tensor([[0.0, -3e-8, -2e-7], [3e-8, 0.0, -1e-7], [2e-7, 1e-7, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(matrix[0], torch.eye(3, dtype=torch.float64) + skew, atol=1e-13, rtol=0)
    matrix.sum().backward()
    assert tiny.grad is not None and torch.isfinite(tiny.grad).all()
    big = torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (big,))
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (tiny.detach()[:1].requires_grad_(),))


def test_pose_to_matrix_layout() -> None:
    matrix = pose_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]), torch.tensor([[1.0, 2.0, 3.0]]))
    expected = torch.tensor([[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 1.0, 3.0], [0, 0, 0, 1.0]])
    torch.testing.assert_close(matrix[0], expected, atol=1e-6, rtol=0)


def test_invert_pose() -> None:
    matrix = pose_to_matrix(torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0]]), torch.tensor([[1.0, 2, 3], [0, 0, -1]]))
    torch.testing.assert_close(invert_pose(matrix), torch.linalg.inv(matrix), atol=1e-6, rtol=0)


def test_pose_network_is_fed_in_temporal_order() -> None:
    """An earlier source is fed first and its estimate inverted: the network always sees (earlier, later)."""
    torch.manual_seed(0)
    net = PoseNet(width=4)
    target, source = torch.randn(1, 3, 32, 64), torch.randn(1, 3, 32, 64)
    later = estimate_pose(net, target, source, source_is_earlier=False)
    torch.testing.assert_close(later, net(target, source).source_from_target)
    earlier = estimate_pose(net, target, source, source_is_earlier=True)
    torch.testing.assert_close(earlier, torch.linalg.inv(net(source, target).source_from_target), atol=1e-6, rtol=0)


def test_pose_net_shapes_and_near_identity_start() -> None:
    torch.manual_seed(0)
    net = PoseNet(width=4)
    out = net(torch.randn(2, 3, 32, 64), torch.randn(2, 3, 32, 64))
    assert out.axis_angle.shape == (2, 3) and out.translation.shape == (2, 3)
    assert out.source_from_target.shape == (2, 4, 4)
    assert out.translation.abs().max() < 10 * POSE_SCALE  # scaled by 0.01: starts near the identity
    swapped = net(torch.randn(2, 3, 32, 64), torch.randn(2, 3, 32, 64))
    assert not torch.allclose(out.translation, swapped.translation, atol=1e-4)  # depends on its input (He init)
    torch.testing.assert_close(out.source_from_target[:, :3, 3], out.translation)
    with pytest.raises(ShapeError, match="two"):
        net(torch.randn(2, 3, 32, 64), torch.randn(2, 3, 32, 32))


def _k(batch: int = 1) -> torch.Tensor:
    return torch.tensor([[50.0, 0.0, 31.2], [0.0, 50.0, 14.7], [0.0, 0.0, 1.0]]).expand(batch, 3, 3)


def test_projection_identity_and_hand_computed_translation() -> None:
    depth = torch.full((1, 1, 32, 64), 10.0)
    projection = project_to_source(depth, _k(), torch.eye(4)[None])
    v, u = torch.meshgrid(torch.arange(32.0), torch.arange(64.0), indexing="ij")
    torch.testing.assert_close(projection.uv[0], torch.stack([u, v], -1), atol=1e-4, rtol=0)
    assert projection.valid.all()
    # moving the points 1 m to the right in the source frame at 10 m depth: u shifts by fx * 1 / 10 = 5 px
    shift = torch.eye(4)[None].clone()
    shift[0, 0, 3] = 1.0
    moved = project_to_source(depth, _k(), shift)
    torch.testing.assert_close(moved.uv[0, ..., 0], u + 5.0, atol=1e-4, rtol=0)
    assert not moved.valid[0, 0, :, -5:].any() and moved.valid[0, 0, :, :-6].all()
    with pytest.raises(ShapeError, match="source_from_target"):
        project_to_source(depth, _k(), torch.eye(4)[None].expand(2, 4, 4))


def test_warp_identity_is_exact_and_zeros_padding() -> None:
    image = torch.rand(2, 3, 32, 64)
    warp = warp_to_target(image, torch.full((2, 1, 32, 64), 5.0), _k(2), torch.eye(4).expand(2, 4, 4))
    torch.testing.assert_close(warp.image, image, atol=1e-5, rtol=0)
    behind = torch.eye(4).expand(2, 4, 4).clone()
    behind[:, 2, 3] = -20.0  # every point ends up behind the source camera
    warp = warp_to_target(image, torch.full((2, 1, 32, 64), 5.0), _k(2), behind, padding_mode="zeros")
    assert not warp.valid.any() and warp.image.abs().max() == 0


@pytest.fixture(scope="module")
def street_item(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    clip = render_clip(
        ClipSpec(seed=5, n_frames=3, width=320, height=96, beams=16, stereo_baseline_m=0.5),
        tmp_path_factory.mktemp("clips"),
    )
    return SyntheticDepthDataset([clip], (-1, 1), use_stereo=True)[0]


@pytest.mark.parametrize("source", [0, 1, 2], ids=["previous", "next", "stereo"])
def test_warping_with_true_depth_and_pose_reproduces_the_target(
    street_item: dict[str, torch.Tensor], source: int
) -> None:
    """Warp a rendered neighbour into the target with the TRUE depth and pose: near-zero photometric error except at
    occlusions / borders; a pose 0.3 m off gives a clearly larger error."""
    target = street_item["rgb"][None]
    depth = torch.nan_to_num(street_item["depth"], nan=1e4)[None]  # sky: far enough to be at infinity
    k = street_item["k"][None]
    pose = street_item["source_from_target"][source][None]
    wrong = pose.clone()
    wrong[:, 0, 3] += 0.3

    def errors(source_from_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        warp = warp_to_target(street_item["sources"][source][None], depth, k, source_from_target)
        l1 = (warp.image - target).abs().mean(1, keepdim=True)[warp.valid]
        return l1, photometric_error(warp.image, target)[warp.valid]

    true_l1, true_photometric = errors(pose)
    wrong_l1, wrong_photometric = errors(wrong)
    identity_l1 = (street_item["sources"][source][None] - target).abs().mean()
    # Near zero: half the pixels within 1 % of the intensity range; the rest of the error sits on occlusions and
    # on the aliased edges of the (not anti-aliased) renders.
    assert float(true_l1.median()) < 0.01
    assert float(true_l1.mean()) < 0.6 * float(identity_l1)  # warping explains the motion, not warping does not
    assert float(wrong_l1.median()) > 3 * float(true_l1.median())
    assert float(wrong_photometric.median()) > 2.5 * float(true_photometric.median())
    assert float(wrong_photometric.mean()) > 1.5 * float(true_photometric.mean())


def test_reprojected_distance_loss() -> None:
    torch.manual_seed(0)
    lidar = torch.full((2, 1, 32, 64), float("nan"))
    lidar[:, :, ::4, ::3] = 8.0 + torch.rand(2, 1, 8, 22) * 10
    pose = torch.eye(4).expand(2, 4, 4).clone()
    pose[:, 2, 3] = -0.8  # 0.8 m forward motion
    pose[:, 0, 3] = 0.1
    exact = torch.nan_to_num(lidar, nan=20.0)
    assert float(reprojected_distance_loss(exact, lidar, _k(2), pose)) == pytest.approx(0.0, abs=1e-5)
    scaled = [float(reprojected_distance_loss(exact * s, lidar, _k(2), pose)) for s in (1.1, 1.5, 3.0)]
    assert 0 < scaled[0] < scaled[1] < scaled[2]  # a wrong scale costs pixels: the term fixes metric scale
    pred = (exact * 2).requires_grad_()
    loss = reprojected_distance_loss(pred, torch.full_like(lidar, float("nan")), _k(2), pose)
    loss.backward()
    assert float(loss.detach()) == 0.0 and pred.grad is not None


def test_clip_cache_round_trip(tmp_path: Path) -> None:
    spec = ClipSpec(seed=2, n_frames=2, width=64, height=32, beams=0)
    first = render_clip(spec, tmp_path)
    assert (tmp_path / spec.cache_name()).is_file()
    second = render_clip(spec, tmp_path)
    np.testing.assert_array_equal(first.rgb, second.rgb)
    np.testing.assert_array_equal(first.depth_m, second.depth_m)
    assert np.isnan(second.lidar_depth_m).all()  # beams=0: no LiDAR
