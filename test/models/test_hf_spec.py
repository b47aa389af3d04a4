"""Tests for models/hf_spec.py: a transformers model's output kind, the input its network maps whole, its depth
range."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.hf_model import load_transformers_model
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig

from .hf_tiny import HALF, TINY_IMAGE, open_tiny, write_tiny_family

pytest.importorskip("transformers")
CPU = torch.device("cpu")


def test_a_family_without_a_known_output_kind_asks_for_model_output_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A depth model type without a family entry (TIPS v2 DPT with its entry removed: every depth type of this
    transformers has one) asks for model.output_kind."""
    from mono_depth_ros.models.hf_families import FAMILIES

    monkeypatch.delitem(FAMILIES, "tipsv2_dpt")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tipsv2_dpt"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"state it with --param model\.output_kind=metric"):
        load_transformers_model(tmp_path, CPU)


def test_a_depth_model_type_without_a_family_runs_once_its_output_kind_is_stated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A depth model type the project has no family entry for (TIPS v2 DPT with its entry removed):
    model.output_kind=metric, then it runs with the generic ImageNet / short-side-384 input."""
    from mono_depth_ros.models.hf_families import FAMILIES

    monkeypatch.delitem(FAMILIES, "tipsv2_dpt")
    directory = write_tiny_family("tipsv2_dpt", tmp_path / "tips", preprocessor=False)
    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off", output_kind="metric")
    estimator = DepthEstimator.open("transformers", directory, config)
    assert estimator.output_kind is OutputKind.METRIC and estimator.network_hw((120, 200)) == (378, 630)
    assert np.isfinite(estimator.predict(TINY_IMAGE).values).all()


def test_an_output_kind_that_contradicts_the_family_is_refused(tmp_path: Path) -> None:
    metric = write_tiny_family("depth_anything_metric", tmp_path / "metric")
    with pytest.raises(CheckpointError, match=r"model\.output_kind=relative_inverse contradicts .* predicts metric"):
        load_transformers_model(metric, CPU, "relative_inverse")
    _, spec = load_transformers_model(metric, CPU, "depth_up_to_scale")  # metres left to scale recovery: allowed
    assert spec.output_kind is OutputKind.DEPTH_UP_TO_SCALE
    relative = write_tiny_family("glpn", tmp_path / "glpn")
    assert load_transformers_model(relative, CPU, "metric")[1].output_kind is OutputKind.METRIC  # its own kind
    with pytest.raises(CheckpointError, match="predicts metric"):
        load_transformers_model(relative, CPU, "metric_focal")


@pytest.mark.parametrize(
    "processor",
    [
        {"size": 64, "image_mean": [0.5] * 3, "image_std": [0.5] * 3},  # Intel/dpt-large's older file: a bare number
        {"size": {"height": 64, "width": 64}, "keep_aspect_ratio": True, "ensure_multiple_of": 32},
    ],
)
def test_a_vit_dpt_runs_square_whatever_its_processor_says(tmp_path: Path, processor: dict[str, object]) -> None:
    """A plain-ViT DPT rebuilds its patch grid as a square (transformers fails on any other input)."""
    directory = write_tiny_family("dpt", tmp_path / "dpt")
    (directory / "preprocessor_config.json").write_text(json.dumps(processor))
    estimator = open_tiny(directory)
    assert estimator.network_hw((120, 200)) == (64, 64)
    assert np.isfinite(estimator.predict(TINY_IMAGE).values).all()
    # the square keeps the processor's filter (DPTImageProcessor's bicubic: the file's, or its class default)
    assert estimator.spec.input.interpolation == "bicubic"


def test_dpt_input_follows_its_backbone(tmp_path: Path) -> None:
    """Hybrid DPT (dpt-hybrid-midas) runs only its image_size; a DINOv2-backbone DPT keeps the processor's aspect."""
    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec

    processor = {"size": {"height": 96, "width": 96}, "keep_aspect_ratio": True, "ensure_multiple_of": 32}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    hybrid = {"model_type": "dpt", "is_hybrid": True, "backbone_config": {"model_type": "bit"}, "image_size": 64}
    spec = transformers_spec(hybrid, family_of("dpt"), tmp_path)
    assert (spec.input.height, spec.input.width, spec.input.keep_aspect) == (64, 64, False)
    dinov2 = {"model_type": "dpt", "is_hybrid": False, "backbone_config": {"model_type": "dinov2"}}
    assert transformers_spec(dinov2, family_of("dpt"), tmp_path).input.keep_aspect


def test_a_dinov2_dpt_predicts_metres_at_the_camera_aspect(tmp_path: Path) -> None:
    """facebook/dpt-dinov2-*-kitti / -nyu are DINOv2's depth heads, trained on metric depth (the conversion script
    checks 3.36 m on its NYU example): they were read as relative inverse depth (inverted by the LiDAR fit, and
    model.output_kind=metric was refused as a contradiction), and their processor (no resize, padded to 14) got
    the MiDaS 384x384 square: KITTI squashed 3.3:1 into a square."""
    directory = write_tiny_family("dpt_dinov2", tmp_path / "dino")
    _, spec = load_transformers_model(directory, CPU)
    assert spec.output_kind is OutputKind.METRIC
    assert load_transformers_model(directory, CPU, output_kind="metric")[1].output_kind is OutputKind.METRIC
    estimator = open_tiny(directory)  # KITTI and NYU frames at their own size, as its processor runs them
    assert estimator.network_hw((375, 1242)) == (378, 1246) and estimator.network_hw((480, 640)) == (490, 644)
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406), abs=1e-3)  # 123.675 / 255 ...
    intel = write_tiny_family("dpt", tmp_path / "intel")  # MiDaS 3.x: relative inverse depth, as before
    assert load_transformers_model(intel, CPU)[1].output_kind is OutputKind.RELATIVE_INVERSE


@pytest.mark.parametrize(
    ("config", "metres"),
    [
        ({"model_type": "glpn"}, 10.0),  # transformers' GLPNConfig.max_depth default (NYU layout)
        ({"model_type": "glpn", "max_depth": 80}, 80.0),
        ({"model_type": "zoedepth"}, 10.0),  # ZoeDepthConfig's default bin configuration
        ({"model_type": "zoedepth", "bin_configurations": [{"n_bins": 8, "min_depth": 0.1, "max_depth": 80.0}]}, 80.0),
        ({"model_type": "depth_anything", "depth_estimation_type": "metric"}, 1.0),  # DepthAnythingConfig default
        ({"model_type": "prompt_depth_anything", "max_depth": 1}, 100.0),  # metres follow the LiDAR prompt's range
    ],
)
def test_a_config_without_max_depth_gets_its_config_class_default(
    config: dict[str, object], metres: float, tmp_path: Path
) -> None:
    """save_pretrained leaves default values out of config.json: the range is what transformers would use."""
    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec

    spec = transformers_spec(config, family_of(str(config["model_type"])), tmp_path)
    assert spec.output_kind is OutputKind.METRIC
    assert spec.max_depth_m == metres


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ({"n_bins": 16, "min_depth": 0.001, "name": "kitti"}, "no max_depth"),  # was KeyError('max_depth')
        ({"n_bins": 16, "min_depth": 0.001, "max_depth": "ten"}, "max_depth 'ten'"),  # float('ten')'s ValueError
        ({"n_bins": 16, "min_depth": 0.001, "max_depth": None}, "max_depth None"),  # float(None)'s TypeError
    ],
)
def test_a_zoedepth_bin_configuration_without_a_max_depth_in_metres_is_a_checkpoint_error(
    entry: dict[str, object], shown: str, tmp_path: Path
) -> None:
    """ZoeDepth's range is its bin configurations' widest max_depth: an entry without a number there crashed
    transformers_spec with a bare KeyError / ValueError / TypeError traceback."""
    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec

    bins = [{"n_bins": 16, "min_depth": 0.001, "max_depth": 10.0, "name": "nyu"}, entry]
    config: dict[str, object] = {"model_type": "zoedepth", "bin_configurations": bins}
    pattern = rf"config\.json: bin_configurations\[1\] has {shown}: .*max_depth in metres"
    with pytest.raises(CheckpointError, match=pattern):
        transformers_spec(config, family_of("zoedepth"), tmp_path)


def test_a_depth_pro_processor_size_that_disagrees_with_its_config_is_refused_at_load(tmp_path: Path) -> None:
    """The tiny Depth Pro runs 256x256 (patch 64 / ratio 0.25): a 384 processor would fail at the first frame."""
    directory = write_tiny_family("depth_pro", tmp_path / "dp")
    (directory / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 384, "width": 384}}))
    with pytest.raises(CheckpointError, match=r"384x384.*256x256.*preprocessor_config\.json"):
        load_transformers_model(directory, CPU)


def test_a_refused_or_corrected_processor_size_names_the_file_it_was_read_from(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Settings read from processor_config.json's image_processor entry (transformers 5's Processor file, read before
    preprocessor_config.json): the remedy said 'set ... in preprocessor_config.json', which that entry overrides
    (an edit there changes nothing). It names the entry now, in the refusal (Depth Pro's fixed size) and in the
    warning of a size off the patch grid; settings from preprocessor_config.json still name that file."""
    depth_pro = write_tiny_family("depth_pro", tmp_path / "dp")
    (depth_pro / "preprocessor_config.json").unlink()
    nested = {"image_processor": {"size": {"height": 384, "width": 384}}}
    (depth_pro / "processor_config.json").write_text(json.dumps(nested))
    with pytest.raises(CheckpointError, match=r"384x384.*256x256") as refused:
        load_transformers_model(depth_pro, CPU)
    assert "in processor_config.json's image_processor entry" in str(refused.value), refused.value
    assert "preprocessor_config.json" not in str(refused.value), refused.value

    off_grid = {"size": {"height": 100, "width": 300}}
    for name, content in [
        ("processor_config.json", {"image_processor": off_grid}),
        ("preprocessor_config.json", off_grid),
    ]:
        directory = write_tiny_family("depth_anything", tmp_path / name)
        (directory / "preprocessor_config.json").unlink()
        (directory / name).write_text(json.dumps(content))
        caplog.clear()
        with caplog.at_level("WARNING", logger="mono_depth_ros.models.hf_spec"):
            load_transformers_model(directory, CPU)
        said = [record.getMessage() for record in caplog.records if "patches only" in record.getMessage()]
        assert len(said) == 1, caplog.text
        where = "processor_config.json's image_processor entry" if name == "processor_config.json" else name
        assert said[0].endswith(f"in {where} to say so)"), said[0]


@pytest.mark.parametrize(
    ("family", "processor"),
    [
        ("depth_anything", {"size": {"height": 98, "width": 98}, "keep_aspect_ratio": True}),  # ensure_multiple_of: 1
        ("depth_anything", {"size": {"height": 100, "width": 300}}),
        ("prompt_depth_anything", {"size": {"shortest_edge": 98}, "keep_aspect_ratio": True}),
        ("dpt", {"size": {"height": 70, "width": 70}}),
    ],
)
def test_a_processor_size_that_is_no_whole_patch_grid_still_shows_the_network_the_whole_frame(
    tmp_path: Path, kitti_object_dir: Path, family: str, processor: dict[str, object]
) -> None:
    """A ViT floors its input to whole patches (DINOv2: 14 px, DPT's ViT: 16 px): a processor file that leaves
    ensure_multiple_of at its class default (1) or names a size off the grid made the engine run a real KITTI frame
    at e.g. 50x167, the network predicted its top-left 42x154 and that map was stretched over the camera (the
    published row 369 was the network's view of camera row ~310; the frame's bottom 60 rows never seen). The input
    is now whole patches: the network's map is its whole input, and the frame's last rows and columns change the
    published depth there."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    directory = write_tiny_family(family, tmp_path / family)
    (directory / "preprocessor_config.json").write_text(json.dumps(processor))
    estimator = open_tiny(directory)
    shapes: list[tuple[int, ...]] = []
    model = estimator.backend.module.network.model
    model.register_forward_pre_hook(
        lambda _, a, k: shapes.append(tuple(k["pixel_values"].shape[-2:])), with_kwargs=True
    )
    model.register_forward_hook(
        lambda _, a, k, out: shapes.append(tuple(out.predicted_depth.shape[-2:])), with_kwargs=True
    )
    rgb = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    depth = estimator.predict(rgb).values
    assert shapes[0] == shapes[1], f"the network mapped only {shapes[1]} of its {shapes[0]} input"
    for edge in (np.s_[-12:, :], np.s_[:, -12:]):  # the frame's last rows, then its last columns
        changed = rgb.copy()
        changed[edge] = 255 - changed[edge]
        assert np.abs(estimator.predict(changed).values[edge] - depth[edge]).max() > 0


@pytest.mark.parametrize(
    ("config", "processor"),
    [
        ({"image_size": 384}, {"size": 384, **HALF}),  # Intel/dpt-large: a feature-extractor file, no multiple
        ({"image_size": 384, "is_hybrid": True}, {"size": {"height": 384, "width": 384}, "ensure_multiple_of": 1}),
        ({"image_size": 64, "patch_size": 16}, {"size": {"height": 64, "width": 64}, "ensure_multiple_of": 1}),
    ],
)
def test_a_published_fixed_size_on_the_patch_grid_is_run_as_its_file_says_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, config: dict[str, Any], processor: dict[str, Any]
) -> None:
    """Intel/dpt-large and dpt-hybrid-midas (the README's example checkpoints) publish a 384x384 input with
    ensure_multiple_of 1 (DPTImageProcessor's default): 384 is whole 16 px patches, so the network maps all of it.
    Every load of them logged 'its network maps whole 16 px patches only (it would crop the frame ...); set
    ensure_multiple_of: 16' and the spec's multiple became 16, a warning about a crop that does not happen, asking
    users to edit a downloaded file. Such a file's input stays as written and nothing is logged."""
    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_preprocessing import PROCESSOR_CLASS_DEFAULTS, read_preprocessing
    from mono_depth_ros.models.hf_spec import transformers_spec

    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    family = family_of("dpt")
    config = {"model_type": "dpt", **config}
    as_written = read_preprocessing(tmp_path, family.preprocessing(config), PROCESSOR_CLASS_DEFAULTS["dpt"]).input
    with caplog.at_level("WARNING", logger="mono_depth_ros.models.hf_spec"):
        spec = transformers_spec(config, family, tmp_path)
    assert (as_written.height, as_written.width, as_written.multiple_of) == (config["image_size"],) * 2 + (1,)
    assert spec.input == as_written
    assert "patches only" not in caplog.text
