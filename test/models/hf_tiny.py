"""Tiny random-weight transformers depth models of every family, saved as a Hugging Face directory.

Each is built from its transformers config class with the published architecture scaled down (a few hundred
thousand parameters, tens of milliseconds per KITTI frame on one CPU thread), saved with ``save_pretrained``
(config.json + model.safetensors) next to a ``preprocessor_config.json`` shaped like the published model's with its
input size scaled down too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
HALF = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
_DINO = {
    "model_type": "dinov2",
    "hidden_size": 32,
    "num_attention_heads": 2,
    "num_hidden_layers": 4,
    "mlp_ratio": 2,
    "image_size": 56,
    "patch_size": 14,
    "out_indices": [1, 2, 3, 4],
    "reshape_hidden_states": False,
}
_DPT_HEAD = {"reassemble_hidden_size": 32, "neck_hidden_sizes": [8, 16, 16, 32], "fusion_hidden_size": 16}
_SMALL_VIT = {"model_type": "dinov2", "hidden_size": 32, "num_attention_heads": 2, "num_hidden_layers": 4}

FAMILY_TYPES = (
    "dpt",
    "depth_anything",
    "depth_anything_metric",
    "zoedepth",
    "glpn",
    "depth_pro",
    "prompt_depth_anything",
    "tipsv2_dpt",
)
"""Test names: the model types, plus the metric Depth Anything V2 variant."""


def _config(name: str) -> Any:
    import transformers

    if name == "dpt":  # DPT-ViT (Intel/dpt-large layout), fixed square input
        return transformers.DPTConfig(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
            patch_size=16, neck_hidden_sizes=[16, 16, 32, 32], fusion_hidden_size=16, backbone_out_indices=[0, 1, 2, 3],
        )  # fmt: skip
    if name == "dpt_dinov2":  # facebook/dpt-dinov2-*-kitti / -nyu layout (its projection is 256 wide, as published)
        return transformers.DPTConfig(
            backbone_config=_DINO, hidden_size=32, neck_hidden_sizes=[8, 16, 16, 32], fusion_hidden_size=256,
            use_bias_in_fusion_residual=False, add_projection=True,
        )  # fmt: skip
    if name in ("depth_anything", "depth_anything_metric"):
        metric = {"depth_estimation_type": "metric", "max_depth": 80} if name.endswith("metric") else {}
        return transformers.DepthAnythingConfig(backbone_config=_DINO, head_hidden_size=8, **_DPT_HEAD, **metric)
    if name == "prompt_depth_anything":
        return transformers.PromptDepthAnythingConfig(
            backbone_config=_DINO, head_hidden_size=8, depth_estimation_type="metric", max_depth=1, **_DPT_HEAD
        )
    if name == "glpn":  # KITTI layout: max_depth 80
        return transformers.GLPNConfig(
            num_encoder_blocks=4, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 16, 32], num_attention_heads=[1, 1, 1, 1],
            decoder_hidden_size=16, max_depth=80,
        )  # fmt: skip
    if name == "zoedepth":
        beit = {
            "model_type": "beit", "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
            "intermediate_size": 64, "image_size": 64, "patch_size": 16, "out_indices": [1, 2, 3, 4],
            "use_relative_position_bias": True, "reshape_hidden_states": False,
        }  # fmt: skip
        return transformers.ZoeDepthConfig(
            backbone_config=beit, neck_hidden_sizes=[16, 16, 32, 32], fusion_hidden_size=16, bottleneck_features=16,
            num_attractors=[4, 4, 4, 4], bin_embedding_dim=16, num_relative_features=8,
            bin_configurations=[{"n_bins": 16, "min_depth": 0.001, "max_depth": 80.0, "name": "kitti"}],
        )  # fmt: skip
    if name == "depth_pro":  # 256x256 input (patch 64 / ratio 0.25), with its field-of-view head
        vit = {**_SMALL_VIT, "image_size": 64, "patch_size": 16}
        return transformers.DepthProConfig(
            fusion_hidden_size=16, image_model_config=vit, patch_model_config=vit, fov_model_config=vit,
            scaled_images_ratios=[0.25, 0.5, 1.0], scaled_images_overlap_ratios=[0.0, 0.5, 0.25],
            scaled_images_feature_dims=[32, 32, 32], intermediate_hook_ids=[1, 0], intermediate_feature_dims=[16, 16],
            patch_size=64, use_fov_model=True,
        )  # fmt: skip
    if name == "tipsv2_dpt":  # google/tipsv2-*-dpt layout: depth from bins in metres (0..10 m by default)
        tips = {
            "model_type": "tipsv2_vision_model", "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
            "image_size": 56, "patch_size": 14, "out_indices": [1, 2, 3, 4], "reshape_hidden_states": False,
        }  # fmt: skip
        return transformers.Tipsv2DptConfig(
            backbone_config=tips, neck_hidden_sizes=[8, 16, 16, 32], fusion_hidden_size=16, num_depth_bins=16
        )
    msg = f"no tiny config for {name!r}"
    raise ValueError(msg)


def _preprocessor(name: str) -> dict[str, Any] | None:
    """The published preprocessor_config.json of each family, sizes scaled down (None: GLPN has size_divisor only)."""
    common = {"do_normalize": True, "do_rescale": True, "do_resize": True}
    if name == "dpt":
        return {
            **common,
            **HALF,
            "resample": 3,
            "keep_aspect_ratio": False,
            "ensure_multiple_of": 1,
            "size": {"height": 64, "width": 64},
        }
    if name == "dpt_dinov2":  # as the conversion script wrote it: no resize, padded to 14, normalised in 0..255
        return {
            "do_resize": False, "do_rescale": False, "do_pad": True, "size_divisor": 14, "ensure_multiple_of": 1,
            "do_normalize": True, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375],
            "keep_aspect_ratio": False, "size": {"height": 384, "width": 384},
            "image_processor_type": "DPTImageProcessor",
        }  # fmt: skip
    if name in ("depth_anything", "depth_anything_metric", "prompt_depth_anything"):
        size = {"height": 98, "width": 98}
        return {
            **common,
            **IMAGENET,
            "keep_aspect_ratio": True,
            "ensure_multiple_of": 14,
            "size": size,
            "do_pad": False,
            "resample": 3,  # PIL's bicubic, as the published files say
        }
    if name == "zoedepth":
        size = {"height": 96, "width": 128}
        return {**common, **HALF, "keep_aspect_ratio": True, "ensure_multiple_of": 32, "size": size, "do_pad": True}
    if name == "glpn":
        return {"do_rescale": True, "do_resize": True, "size_divisor": 32, "resample": 2}
    if name == "depth_pro":
        return {**common, **HALF, "size": {"height": 256, "width": 256}}
    if name == "tipsv2_dpt":  # Tipsv2DptImageProcessor's settings: a square, no normalisation, no keep_aspect_ratio
        return {**common, "do_normalize": False, "resample": 2, "size": {"height": 112, "width": 112}}
    return None


def write_tiny_family(
    name: str, directory: Path, seed: int = 0, preprocessor: bool = True, model_class: str = "", **overrides: Any
) -> Path:
    """Save a tiny random-weight model of family ``name`` (see :data:`FAMILY_TYPES`) into ``directory``, with
    ``overrides`` set on its config (e.g. ``use_fov_model=False``); ``model_class``: a transformers class of the
    family to save instead of its depth class (``Tipsv2DptForDensePrediction``)."""
    import transformers

    torch.manual_seed(seed)
    config = _config(name)
    for key, value in overrides.items():
        setattr(config, key, value)
    if model_class:
        model = getattr(transformers, model_class)(config)
    else:
        model = transformers.AutoModelForDepthEstimation.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory), safe_serialization=True)
    settings = _preprocessor(name)
    if preprocessor and settings is not None:
        (directory / "preprocessor_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return directory


def teach_inverse_depth(directory: Path, frames: list[tuple[Any, Any]], steps: int = 200) -> Path:
    """Fit the tiny model in ``directory`` for a few steps to the LiDAR inverse depth (up to scale) of ``frames``
    ((rgb, lidar_depth_m) pairs) and save it back, so that its output follows the scene as a trained model's does
    (random weights predict a near-constant map, or zero behind a dead ReLU, which no scale fit can make metric)."""
    import numpy as np
    import transformers

    from mono_depth_ros.models.hf_model import check_model_directory, family_of
    from mono_depth_ros.models.hf_preprocessing import read_preprocessing
    from mono_depth_ros.models.preprocess import image_to_device, network_input_size, preprocess

    config = check_model_directory(directory)
    settings = read_preprocessing(directory, family_of(str(config["model_type"])).preprocessing(config))
    model = transformers.AutoModelForDepthEstimation.from_pretrained(str(directory), local_files_only=True)
    examples = []
    for rgb, lidar_depth_m in frames:
        network_hw = network_input_size(rgb.shape[:2], settings.input)
        batch = preprocess(image_to_device(rgb, torch.device("cpu")), network_hw, settings.mean, settings.std)
        rows = (np.arange(network_hw[0]) * lidar_depth_m.shape[0]) // network_hw[0]
        cols = (np.arange(network_hw[1]) * lidar_depth_m.shape[1]) // network_hw[1]
        target = torch.from_numpy(10.0 / lidar_depth_m[np.ix_(rows, cols)])
        examples.append((batch, target, torch.isfinite(target)))
    convolutions = [m for m in model.head.modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None]
    with torch.no_grad():  # a positive start: random weights may leave the head's final ReLU dead everywhere
        convolutions[-1].weight.zero_()
        convolutions[-1].bias.fill_(float(np.mean([float(t[v].mean()) for _, t, v in examples])))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for step in range(steps):
        batch, target, valid = examples[step % len(examples)]
        predicted = model(pixel_values=batch).predicted_depth
        if tuple(predicted.shape[-2:]) != tuple(target.shape):  # a head at its own size (DINOv2 DPT)
            size = tuple(target.shape)
            predicted = torch.nn.functional.interpolate(predicted[:, None], size=size, mode="bilinear")[:, 0]
        predicted = predicted[0]
        loss = (predicted[valid] - target[valid]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.save_pretrained(str(directory), safe_serialization=True)
    return directory


def count_config_builds(monkeypatch: Any) -> list[str]:
    """Record the ``model_type`` of every transformers config object built from a config.json while the test runs
    (``transformers.AutoConfig.for_model``, 0.7-3.4 ms each): ``monkeypatch`` is the test's ``pytest.MonkeyPatch``."""
    import transformers

    built: list[str] = []
    for_model = transformers.AutoConfig.for_model

    def counted(model_type: str, *args: object, **kwargs: object) -> object:
        built.append(model_type)
        return for_model(model_type, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "for_model", counted)
    return built


TINY_IMAGE = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
"""A random 120x200 RGB camera image (uint8) for the tiny models."""


def open_tiny(directory: Path) -> DepthEstimator:
    """The node's estimator for a tiny transformers folder, on the CPU, without warm-up or golden self-test."""
    return DepthEstimator.open(
        "transformers", directory, EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off")
    )
