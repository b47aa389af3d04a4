"""Every transformers depth family through `mono-depth bag` on real KITTI frames with LiDAR (issue: models users bring).

A tiny random-weight model of each family (test/models/hf_tiny.py: built from its config class, saved with
``save_pretrained`` beside a preprocessor_config.json shaped like the published one) runs through the bag runner
exactly as a user's directory would (``model.backend=transformers``, ``model.weights=DIR``). Checked per family: one
depth image, camera_info and cloud per input frame with the input stamps and frame id, the output kind the family
declares (/diagnostics ``output_kind``), and metres: relative families through the LiDAR scale fit, metric ones
passed through unchanged, Depth Pro made metric with the camera's focal length, Prompt Depth Anything within the
range of its LiDAR prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.cli import main
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.core.ros_msgs import depth_image_to_metres, stamp_to_ns
from test.bag.support import read_bag
from test.kitti_bag import CAMERA_FRAME, BagFrame, KittiFrame, load_kitti_frames, write_kitti_bag
from test.models.hf_tiny import teach_inverse_depth, write_tiny_family

pytest.importorskip("transformers")

EXPECTED_KIND = {
    "dpt": "relative_inverse",
    "depth_anything": "relative_inverse",
    "depth_anything_metric": "metric",
    "zoedepth": "metric",
    "glpn": "metric",
    "depth_pro": "metric",
    "prompt_depth_anything": "metric",
    "tipsv2_dpt": "metric",
}


@pytest.fixture(scope="module")
def kitti_frames(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)[:2]


def _diagnostic_values(out: dict[str, list[tuple[int, Any]]]) -> list[dict[str, str]]:
    """Key/values of the node status entry of every /diagnostics message that carries an output kind."""
    found = []
    for _, message in out.get("/diagnostics", []):
        for status in message.status:
            values = {kv.key: kv.value for kv in status.values}
            if "output_kind" in values:
                found.append(values)
    return found


def _run(
    tmp_path: Path,
    model_dir: Path,
    frames: list[KittiFrame],
    scale_mode: str,
    lidar: bool = True,
    kind: str = "",
    backend: str = "transformers",
) -> Any:
    written = write_kitti_bag(tmp_path / "in", frames, lidar=lidar)
    params = {
        "model.backend": backend, "model.weights": str(model_dir), "device": "cpu", "model.golden_check": "off",
        "lidar_topic": "/lidar/points", "scale.mode": scale_mode, "model.warmup_height": 0, "model.output_kind": kind,
    }  # fmt: skip
    args = [item for key, value in params.items() for item in ("--param", f"{key}={value}")]
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *args]) == 0
    return written, read_bag(tmp_path / "out")


def _published(out: dict[str, list[tuple[int, Any]]], written: list[BagFrame]) -> list[np.ndarray]:
    """Depth images in metres, after checking count, stamps, frame ids and camera_info sizes."""
    images, infos = out["/depth/image"], out["/depth/camera_info"]
    assert len(images) == len(infos) == len(out["/depth/points"]) == len(written)
    depths = []
    for bag_frame, (_, image), (_, info) in zip(written, images, infos, strict=True):
        assert stamp_to_ns(image.header.stamp) == stamp_to_ns(info.header.stamp) == bag_frame.stamp_ns
        assert image.header.frame_id == info.header.frame_id == CAMERA_FRAME
        assert (info.width, info.height) == (image.width, image.height)
        height, width = bag_frame.frame.rgb.shape[:2]
        assert round(width / image.width) == round(height / image.height)  # one downscale factor, aspect kept
        depths.append(depth_image_to_metres(image))
    return depths


def _lidar_at(frame: KittiFrame, shape: tuple[int, int]) -> np.ndarray:
    """The frame's LiDAR depth at the published resolution (nearest sample of the camera-size projection)."""
    rows = (np.arange(shape[0]) * frame.lidar_depth_m.shape[0]) // shape[0]
    cols = (np.arange(shape[1]) * frame.lidar_depth_m.shape[1]) // shape[1]
    return frame.lidar_depth_m[np.ix_(rows, cols)]


def _projected(frame: KittiFrame, shape: tuple[int, int]) -> np.ndarray:
    """The scan projected at the published size as scale recovery projects it (default parameters)."""
    from mono_depth_ros.core.scale import RecoveryConfig
    from mono_depth_ros.core.scale.lidar import LidarScan, project_scan

    intrinsics = frame.intrinsics.resized(shape[1], shape[0])
    scan = LidarScan(frame.scan[:, :3], frame.cam_from_velo, 0)
    return project_scan(scan, intrinsics, RecoveryConfig.from_params({}).projection).to_image(intrinsics)


def _direct(model_dir: Path, frame: KittiFrame, shape: tuple[int, int], hints: FrameHints | None) -> np.ndarray:
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig

    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off")
    estimator = DepthEstimator.open("transformers", model_dir, config)
    return estimator.predict(frame.rgb, shape, hints).values


@pytest.mark.parametrize("family", list(EXPECTED_KIND))
def test_every_family_runs_through_the_bag_runner(tmp_path: Path, kitti_frames: list[KittiFrame], family: str) -> None:
    model_dir = write_tiny_family(family, tmp_path / "model")
    metric = EXPECTED_KIND[family] == "metric"
    if not metric or family == "depth_pro":  # a few steps on the first frame: the output follows the scene (Depth
        # Pro's raw output is an inverse depth too: random weights put it outside any range limit; its checks here,
        # finite pixels and metres passed through, need no more steps than the field-of-view-less test's 6)
        steps = 6 if family == "depth_pro" else 200
        teach_inverse_depth(model_dir, [(frame.rgb, frame.lidar_depth_m) for frame in kitti_frames], steps=steps)
    written, out = _run(tmp_path, model_dir, kitti_frames, "none" if metric else "lidar")
    depths = _published(out, written)
    diagnostics = _diagnostic_values(out)
    assert diagnostics and {values["output_kind"] for values in diagnostics} == {EXPECTED_KIND[family]}
    for bag_frame, depth_m in zip(written, depths, strict=True):
        frame = bag_frame.frame
        finite = np.isfinite(depth_m)
        assert finite.mean() > 0.5
        if not metric:  # the LiDAR fit made the relative prediction metric
            lidar = _lidar_at(frame, depth_m.shape)
            both = finite & np.isfinite(lidar)
            ratio = np.median(depth_m[both]) / np.median(lidar[both])
            assert 0.5 < ratio < 2.0, f"{family}: median depth / LiDAR {ratio:.2f}"
            continue
        focal = (frame.intrinsics.fx, frame.intrinsics.fy)
        sparse = _projected(frame, depth_m.shape) if family == "prompt_depth_anything" else None
        expected = _direct(model_dir, frame, depth_m.shape, FrameHints(focal, sparse))
        np.testing.assert_allclose(depth_m[finite], expected[finite], rtol=2e-3)  # metres passed through
        if family == "prompt_depth_anything":  # the prompt's metric range reaches the output
            lidar = frame.lidar_depth_m[np.isfinite(frame.lidar_depth_m)]
            assert lidar.min() * 0.9 < np.min(depth_m[finite]) and np.max(depth_m[finite]) < lidar.max() * 1.1


@pytest.mark.parametrize("kind", ["", "metric"])
def test_prompt_depth_anything_without_scans_falls_back_to_scale_recovery(
    tmp_path: Path, kitti_frames: list[KittiFrame], kind: str
) -> None:
    """No scan paired with the image: the model runs unprompted (depth up to scale and shift) and scale recovery
    takes over; every frame is still published. Stating the family's own kind (model.output_kind=metric) changes
    nothing."""
    model_dir = write_tiny_family("prompt_depth_anything", tmp_path / "model")
    written, out = _run(tmp_path, model_dir, kitti_frames, "ground_plane", lidar=False, kind=kind)
    assert len(_published(out, written)) == len(written)
    assert {values["output_kind"] for values in _diagnostic_values(out)} == {"affine_depth"}


def test_the_readme_model_table_matches_these_tests() -> None:
    """Every family tested here has a README row naming its model_type and the output kind checked above."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "(`" in line.split("|")[1]]
    for family, kind in EXPECTED_KIND.items():
        model_type = family.removesuffix("_metric")
        matching = [row for row in rows if f"(`{model_type}`" in row.split("|")[1]]
        assert any(f"`{kind}`" in row.split("|")[3] for row in matching), f"README has no {family} row saying {kind}"
    assert any("`affine_depth`" in row for row in rows if "prompt_depth_anything" in row)  # the fallback


def test_depth_pro_without_a_field_of_view_head_runs_on_the_camera_focal(
    tmp_path: Path, kitti_frames: list[KittiFrame]
) -> None:
    """A Depth Pro saved with use_fov_model false takes its focal from camera_info: start-up (warm-up runs at the
    default model.warmup_* without a camera) must not need one, and every frame gets metres from the KITTI fx."""
    model_dir = write_tiny_family("depth_pro", tmp_path / "model", use_fov_model=False)
    teach_inverse_depth(model_dir, [(frame.rgb, frame.lidar_depth_m) for frame in kitti_frames], steps=6)
    written, out = _run(tmp_path, model_dir, kitti_frames, "none")
    for bag_frame, depth_m in zip(written, _published(out, written), strict=True):
        frame = bag_frame.frame
        finite = np.isfinite(depth_m)
        assert finite.mean() > 0.5
        hints = FrameHints((frame.intrinsics.fx, frame.intrinsics.fy), None)
        expected = _direct(model_dir, frame, depth_m.shape, hints)
        np.testing.assert_allclose(depth_m[finite], expected[finite], rtol=2e-3)


def test_a_dinov2_dpt_publishes_its_metres(tmp_path: Path, kitti_frames: list[KittiFrame]) -> None:
    """facebook/dpt-dinov2-*-kitti layout (DPT with a DINOv2 backbone): metric depth passed through (it was read
    as relative inverse depth), at the camera's aspect (its processor here resizes to a tiny 56 px short side)."""
    import json

    model_dir = write_tiny_family("dpt_dinov2", tmp_path / "model")
    processor = json.loads((model_dir / "preprocessor_config.json").read_text())
    processor.update(do_resize=True, keep_aspect_ratio=True, ensure_multiple_of=14, size={"height": 56, "width": 56})
    (model_dir / "preprocessor_config.json").write_text(json.dumps(processor))
    frame = kitti_frames[0]  # a few steps: positive outputs (random weights leave its final ReLU dead)
    teach_inverse_depth(model_dir, [(frame.rgb, frame.lidar_depth_m)], steps=5)
    written, out = _run(tmp_path, model_dir, [frame], "none")
    assert {values["output_kind"] for values in _diagnostic_values(out)} == {"metric"}
    for bag_frame, depth_m in zip(written, _published(out, written), strict=True):
        finite = np.isfinite(depth_m)
        assert finite.mean() > 0.5
        expected = _direct(model_dir, bag_frame.frame, depth_m.shape, None)
        np.testing.assert_allclose(depth_m[finite], expected[finite], rtol=2e-3)  # metres passed through


def test_a_model_whose_map_is_its_patch_grid_publishes_every_frame_upsampled(
    tmp_path: Path, kitti_frames: list[KittiFrame]
) -> None:
    """An ONNX graph whose depth output is its 26x88 patch grid (a ViT's linear depth head) through `mono-depth bag`
    on real KITTI frames: every frame is published at the camera's size (the coarse map upsampled), and /diagnostics
    says what the map is (model_map); refused per frame, the run published nothing."""
    import torch
    from torch.nn import functional

    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
    from test.models.tiny_models import legacy_onnx

    class PatchGrid(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return functional.avg_pool2d(x.abs().sum(1, keepdim=True), 14) + 1.0

    path = legacy_onnx(PatchGrid(), torch.zeros(1, 3, 375, 1242), tmp_path / "grid.onnx", ["pixel_values"], ["depth"])
    spec = ModelSpec("onnx_graph", {}, InputPolicy(375, 1242), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    written, out = _run(tmp_path, path, kitti_frames, "none", backend="onnx")
    depths = _published(out, written)
    for bag_frame, depth_m in zip(written, depths, strict=True):
        assert depth_m.shape == bag_frame.frame.rgb.shape[:2] and np.isfinite(depth_m).mean() > 0.9
    diagnostics = _diagnostic_values(out)
    note = "26x88 for a 375x1242 input, one value per 14x14 pixels"
    assert diagnostics and {values.get("model_map") for values in diagnostics} == {note}
