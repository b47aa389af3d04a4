"""Tests for models/hf_model.py, hf_families.py and frame_inputs.py: loading rules, per-family inputs and processors
(the spec: test_hf_spec.py; the network's conversions: test_hf_network.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError, ShapeError
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.models.frame_inputs import frame_inputs, metres_from_metric_focal, prompt_depth, sky_mask
from mono_depth_ros.models.hf_model import build_transformers, load_transformers_model
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.registry import build_model

from .hf_tiny import TINY_IMAGE, count_config_builds, open_tiny, write_tiny_family

pytest.importorskip("transformers")
CPU = torch.device("cpu")


def test_directories_that_are_not_depth_models_are_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"not a depth model of transformers .* depth_anything"):
        load_transformers_model(tmp_path, CPU)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "depth_anything"}))  # a depth model's folder
    with pytest.raises(CheckpointError, match="only safetensors weights are loaded"):
        load_transformers_model(tmp_path, CPU)


@pytest.mark.parametrize("head", ["DPTForSemanticSegmentation", "DPTModel"])
def test_a_dpt_folder_for_another_task_is_refused_naming_its_architecture(tmp_path: Path, head: str) -> None:
    """Intel/dpt-large-ade (model_type dpt, architectures DPTForSemanticSegmentation) and a headless DPTModel folder
    share the depth DPT's model_type: they passed the folder check (`mono-depth weights` printed them as relative
    inverse depth models to run), then loading failed with 'model.safetensors does not fit its config.json:
    mismatched tensor head.head.0.weight', a re-download's remedy. transformers' own AutoModelForDepthEstimation
    loads them with a random depth head. Now the folder check names the architecture, the class a depth checkpoint
    of the family has, the depth families, and a depth checkpoint of its family to fetch instead (Intel/dpt-large:
    the message named the class alone, leaving the user to find one)."""
    import transformers

    from mono_depth_ros.commands.weights import usage_lines

    sizes: dict[str, Any] = {  # the tiny DPT of hf_tiny, with Intel/dpt-large-ade's head (3 classes here)
        "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64, "image_size": 64,
        "patch_size": 16, "neck_hidden_sizes": [16, 16, 32, 32], "fusion_hidden_size": 16,
        "backbone_out_indices": [0, 1, 2, 3], "num_labels": 3,
    }  # fmt: skip
    getattr(transformers, head)(transformers.DPTConfig(**sizes)).save_pretrained(str(tmp_path))
    expected = (
        rf"{head} .*not a depth model.*DPTForDepthEstimation.*depth_anything, depth_pro.*; fetch a DPT / MiDaS 3\.x "
        r"depth checkpoint instead, e\.g\. `mono-depth weights fetch Intel/dpt-large --to DIR`"
    )
    with pytest.raises(CheckpointError, match=expected):
        load_transformers_model(tmp_path, CPU)
    with pytest.raises(CheckpointError, match=expected):
        usage_lines(tmp_path)


def test_a_tipsv2_dense_prediction_folder_loads_its_depth_head(tmp_path: Path) -> None:
    """google/tipsv2-*-dpt's layout: one checkpoint with depth, normals and segmentation heads, saved by
    Tipsv2DptForDensePrediction (architectures names it), which transformers' own AutoModelForDepthEstimation loads
    with its trained depth head (the other heads ignored). It was refused as a model for another task 'with a random
    depth head'; it loads, and predicts the dense model's depth."""
    directory = write_tiny_family("tipsv2_dpt", tmp_path / "tips", model_class="Tipsv2DptForDensePrediction")
    assert json.loads((directory / "config.json").read_text())["architectures"] == ["Tipsv2DptForDensePrediction"]
    import transformers

    dense: Any = transformers.Tipsv2DptForDensePrediction.from_pretrained(str(directory), local_files_only=True)
    dense.eval()
    backend: Any = open_tiny(directory).backend
    network = backend.module.network.model
    pixel_values = torch.rand(1, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        depth = dense(pixel_values=pixel_values).predicted_depth
        torch.testing.assert_close(network(pixel_values=pixel_values).predicted_depth, depth)
    assert float(depth.std()) > 0  # a depth map, not a constant any head would give


def test_a_pickle_only_folder_is_refused_with_a_remedy_that_works(tmp_path: Path) -> None:
    """A folder as older Hub repositories hold it (config.json + pytorch_model.bin, no safetensors) is refused
    naming the pickle file, with a conversion command that, run as printed by a shell, makes the folder load with
    its family's output kind, for a folder whose name holds a quote, a dollar sign and a space (the command put
    the path's repr inside double quotes: the shell ended the string at a repr's double quote and expanded $).
    The remedy was `mono-depth weights fetch`, which fetches safetensors only and so ends at the same refusal for
    such a repository."""
    import re
    import shlex
    import subprocess
    import sys

    import transformers

    source = write_tiny_family("depth_anything_metric", tmp_path / "source")
    model = transformers.AutoModelForDepthEstimation.from_pretrained(str(source))
    pickled = tmp_path / "bob's $HOME model"
    model.config.save_pretrained(str(pickled))
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin") as refused:
        load_transformers_model(pickled, CPU)
    found = re.search(r"python3 (-c .+?) \(writes model\.safetensors", str(refused.value))
    assert found is not None, refused.value
    command = f"{shlex.quote(sys.executable)} {found.group(1)}"  # this interpreter: the one with transformers
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=300)
    assert (pickled / "model.safetensors").is_file()
    backend, spec = load_transformers_model(pickled, CPU)
    assert spec.output_kind is OutputKind.METRIC
    x = torch.rand(1, 3, 56, 84)
    torch.testing.assert_close(backend.infer(x), load_transformers_model(source, CPU)[0].infer(x))


@pytest.mark.parametrize(
    "setting",
    [
        {"attn_implementation": "kernels-community/flash-attn"},
        {"backbone": "someone/backbone", "backbone_config": None},
        {"model_type": "bert"},
    ],
    ids=["kernel", "backbone", "not-depth"],
)
def test_a_pickle_only_folder_whose_config_is_refused_gets_no_conversion_command(
    tmp_path: Path, setting: dict[str, object]
) -> None:
    """The conversion command runs transformers' from_pretrained on the folder's config.json: for one the loader
    refuses (a Hub attention kernel transformers downloads and loads as native code, a backbone it looks up on the
    Hub, a model that is not a depth model) it would do what the refusal is there to prevent, or fail after reading
    the pickle. It was printed all the same (the weights were checked before the config): the config's refusal
    comes first, with no command."""
    model = write_tiny_family("depth_anything", tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, **setting}))
    (model / "model.safetensors").rename(model / "pytorch_model.bin")  # never read: refused before
    with pytest.raises(CheckpointError, match=r"kernels-community/flash-attn|someone/backbone|not a depth model") as e:
        load_transformers_model(model, CPU)
    assert "python" not in str(e.value) and "pytorch_model.bin" not in str(e.value)


def test_a_canopy_height_model_is_refused_whatever_output_kind_is_stated(tmp_path: Path) -> None:
    """CHMv2 (Meta's canopy height model), listed by transformers among its depth-estimation models: its output is
    height above ground in metres, not distance from the camera. It loaded once model.output_kind was stated, so a
    user answering `metric` published canopy heights as depth."""
    import transformers

    from mono_depth_ros.models.hf_model import depth_model_types

    if "chmv2" not in depth_model_types():
        pytest.skip("this transformers has no chmv2")
    backbone = {
        "model_type": "dinov3_vit", "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
        "intermediate_size": 64, "image_size": 64, "patch_size": 16, "out_indices": [1, 2, 3, 4],
        "return_class_token": True, "reshape_hidden_states": True,
    }  # fmt: skip
    hf_config = transformers.AutoConfig.for_model(
        "chmv2", backbone_config=backbone, post_process_channels=[8, 16, 16, 32], fusion_hidden_size=16,
        head_hidden_size=8,
    )  # fmt: skip
    transformers.AutoModelForDepthEstimation.from_config(hf_config).save_pretrained(str(tmp_path / "chm"))
    for kind in ("metric", ""):
        options = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off", output_kind=kind)
        with pytest.raises(CheckpointError, match=r"model_type 'chmv2'.*canopy height above ground.*not a distance"):
            DepthEstimator.open("transformers", tmp_path / "chm", options)


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "bert"},
        {"model_type": "my_depth", "auto_map": {"AutoModelForDepthEstimation": "custom.Model"}},
        {"model_type": "dpt", "architectures": ["DPTForSemanticSegmentation"]},
    ],
)
def test_the_depth_models_a_refusal_lists_leave_out_the_canopy_height_model(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    """A folder refused as no depth model (another type, a model on its own code, a DPT for another task) is told
    the depth models to fetch instead; the list offered chmv2, which is itself refused (canopy height, not depth)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"depth models: .*depth_anything") as refused:
        load_transformers_model(tmp_path, CPU)
    assert "chmv2" not in str(refused.value)


def test_prompt_depth_anything_with_one_lidar_depth_runs_unprompted(tmp_path: Path) -> None:
    """A prompt without spread (a single LiDAR point in view, a wall straight ahead) is normalised by transformers
    as (d - min) / (max - min) = 0 / 0: every pixel was NaN and the frame an error. It runs unprompted instead."""
    estimator = open_tiny(write_tiny_family("prompt_depth_anything", tmp_path / "pda"))
    sparse = np.full((60, 100), np.nan, dtype=np.float32)
    sparse[40, 50] = 7.5
    result = estimator.predict(TINY_IMAGE, hints=FrameHints((150.0, 150.0), sparse))
    assert result.output_kind is OutputKind.AFFINE_DEPTH
    assert np.isfinite(result.values).all()


def test_fp16_weights_load_as_float32_for_model_precision_to_decide(tmp_path: Path) -> None:
    """A checkpoint saved in fp16 (config.json dtype float16) runs in fp32 on the CPU, and bf16 autocast works."""
    import transformers

    directory = write_tiny_family("depth_anything", tmp_path / "da")
    transformers.AutoModelForDepthEstimation.from_pretrained(str(directory)).half().save_pretrained(str(directory))
    backend, _ = load_transformers_model(directory, CPU)
    assert {parameter.dtype for parameter in backend.module.parameters()} == {torch.float32}
    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off", precision="bf16")
    assert np.isfinite(DepthEstimator.open("transformers", directory, config).predict(TINY_IMAGE).values).all()


def test_a_dinov2_dpt_sees_its_processors_padded_input_on_real_frames(
    tmp_path: Path, kitti_object_dir: Path, nyu_dir: Path
) -> None:
    """DINOv2's depth heads' DPTImageProcessor (do_resize false, do_pad, size_divisor 14) runs the camera image at its
    own size, centre-padded with the mean colour to a multiple of 14 (KITTI 370x1224 -> 378x1232, NYU 480x640 ->
    490x644). The engine resized it instead (KITTI to 378x1246: 2.2 % taller, 1.8 % wider; NYU to 476x644: 0.8 %
    shorter, 0.6 % wider than the scale its metres were learnt at). Now the input is the processor's to float
    precision, and the depth map is the network's prediction with the padding cropped off: the camera's pixels
    exactly."""
    import transformers
    from torch.nn import functional

    from mono_depth_ros.models.preprocess import input_box
    from mono_depth_ros.training.data.kitti_files import load_rgb

    # the published 256-wide projection aside (add_projection): the same input path, 20x faster on one CPU thread
    directory = write_tiny_family("dpt_dinov2", tmp_path / "dino", fusion_hidden_size=16, add_projection=False)
    settings = json.loads((directory / "preprocessor_config.json").read_text())
    estimator = open_tiny(directory)
    model = estimator.backend.module.network.model
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda _, args, kwargs: seen.append(kwargs["pixel_values"]), with_kwargs=True)
    frames = (
        (kitti_object_dir / "image_2" / "000000.png", (378, 1232), (4, 4, 370, 1224)),
        (nyu_dir / "rgb" / "rgb_00000.jpg", (490, 644), (5, 2, 480, 640)),
    )
    for path, padded_hw, box in frames:
        rgb = load_rgb(path)
        theirs = transformers.DPTImageProcessorPil(**settings)(rgb, return_tensors="pt").pixel_values
        seen.clear()
        depth = estimator.predict(rgb).values
        assert seen[0].shape == theirs.shape == (1, 3, *padded_hw)
        torch.testing.assert_close(seen[0], theirs, atol=1e-5, rtol=0)
        assert input_box(estimator.spec.input, rgb.shape[:2], padded_hw) == box
        with torch.no_grad():  # the network's map of the processor's input, at its input size, padding cut off
            raw = model(pixel_values=theirs).predicted_depth
            full = functional.interpolate(raw[:, None], size=padded_hw, mode="bilinear", align_corners=False)
        top, left, height, width = box
        expected = full[0, 0, top : top + height, left : left + width].numpy()
        expected = np.where(expected > 0, expected, np.nan)  # the engine's rule for a depth kind
        assert depth.shape == rgb.shape[:2]
        np.testing.assert_allclose(depth, expected, rtol=1e-4, atol=1e-5)


def test_a_sharded_checkpoint_loads_like_one_file(tmp_path: Path) -> None:
    """Large Hub models come as model-0000N-of-0000M.safetensors + model.safetensors.index.json."""
    import transformers

    whole = write_tiny_family("depth_anything_metric", tmp_path / "whole")
    sharded = tmp_path / "sharded"
    model = transformers.AutoModelForDepthEstimation.from_pretrained(str(whole))
    model.save_pretrained(str(sharded), max_shard_size="50KB")
    (sharded / "preprocessor_config.json").write_bytes((whole / "preprocessor_config.json").read_bytes())
    assert (sharded / "model.safetensors.index.json").is_file() and not (sharded / "model.safetensors").exists()
    one, _ = load_transformers_model(whole, CPU)
    many, spec = load_transformers_model(sharded, CPU)
    assert spec.output_kind is OutputKind.METRIC and spec.max_depth_m == 80.0
    x = torch.rand(1, 3, 56, 84)
    torch.testing.assert_close(many.infer(x), one.infer(x))


def _hub_cache(source: Path, cache: Path, revision: str = "0123abcd") -> Path:
    """``source`` laid out as huggingface_hub's cache keeps a model: ``models--org--name/blobs/<hash>`` files,
    ``snapshots/<revision>/<name>`` relative links to them, ``refs/main`` naming the revision. Returns the snapshot."""
    import hashlib
    import os

    repo = cache / "models--org--name"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision, encoding="ascii")
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for file in sorted(source.iterdir()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.write_bytes(file.read_bytes())
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    return snapshot


def test_a_hugging_face_cache_folder_loads_from_its_snapshot_and_names_it_when_given_whole(tmp_path: Path) -> None:
    """A model in huggingface_hub's cache (a relative link per file, sharded weights) loads from its snapshot folder
    with the family's output kind; the models--org--name folder itself, or the cache above it, is refused naming the
    snapshot folder that refs/main points to (it said: no config.json, fetch the model with mono-depth weights
    fetch, though the model is there)."""
    import transformers

    whole = write_tiny_family("depth_anything_metric", tmp_path / "whole")
    sharded = tmp_path / "sharded"
    transformers.AutoModelForDepthEstimation.from_pretrained(str(whole)).save_pretrained(
        str(sharded), max_shard_size="50KB"
    )
    (sharded / "preprocessor_config.json").write_bytes((whole / "preprocessor_config.json").read_bytes())
    snapshot = _hub_cache(sharded, tmp_path / "hub")
    backend, spec = load_transformers_model(snapshot, CPU)
    assert spec.output_kind is OutputKind.METRIC and spec.max_depth_m == 80.0
    one, _ = load_transformers_model(whole, CPU)
    x = torch.rand(1, 3, 56, 84)
    torch.testing.assert_close(backend.infer(x), one.infer(x))
    for given in (snapshot.parent.parent, snapshot.parent.parent.parent):
        with pytest.raises(CheckpointError, match="Hugging Face cache") as refused:
            load_transformers_model(given, CPU)
        assert str(snapshot) in str(refused.value) and "refs/main" in str(refused.value)
        assert "weights fetch" not in str(refused.value)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "a shard"])
def test_a_cache_snapshot_copied_with_its_links_names_the_broken_link_and_how_to_copy_it(
    tmp_path: Path, missing: str
) -> None:
    """A snapshot folder of huggingface_hub's cache copied as `cp -r` and `rsync -a` copy it (its relative links
    kept, the blobs they point to left behind), or one whose blob was deleted: each file the loader reads is a link to
    nothing. The refusals said the folder had no config.json (fetch it again), had "no model.safetensors (found
    [..., 'model.safetensors', ...])", or that a shard was "not a file"; they now name the link, its target and the
    copy that keeps the files (cp -rL)."""
    import os
    import shutil

    import transformers

    whole = write_tiny_family("depth_anything_metric", tmp_path / "whole")
    source = tmp_path / "source"
    model = transformers.AutoModelForDepthEstimation.from_pretrained(str(whole))
    model.save_pretrained(str(source), max_shard_size="50KB" if missing == "a shard" else "5GB")
    missing = min(p.name for p in source.glob("model-*.safetensors")) if missing == "a shard" else missing
    (source / "preprocessor_config.json").write_bytes((whole / "preprocessor_config.json").read_bytes())
    snapshot = _hub_cache(source, tmp_path / "hub")
    copied = tmp_path / "robot" / "model"
    shutil.copytree(snapshot, copied, symlinks=True)  # cp -r: the links as links, relative to a cache not there
    for name in sorted(p.name for p in copied.iterdir() if p.name != missing):  # the others copied whole
        target = (snapshot / name).resolve()
        (copied / name).unlink()
        shutil.copyfile(target, copied / name)
    with pytest.raises(CheckpointError) as refused:
        load_transformers_model(copied, CPU)
    message = str(refused.value)
    assert f"{copied / missing} is a symbolic link to {os.readlink(copied / missing)}" in message, message
    assert "does not exist" in message and "cp -rL" in message, message


def test_a_preprocessor_link_to_nothing_is_refused_not_replaced_by_the_family_defaults(tmp_path: Path) -> None:
    """A snapshot whose preprocessor_config.json links to a missing blob ran at the family's 518 px short side where
    its file says 98 (a missing file means the family's defaults): it is now refused, naming the link."""
    whole = write_tiny_family("depth_anything_metric", tmp_path / "whole")
    snapshot = _hub_cache(whole, tmp_path / "hub")
    assert load_transformers_model(snapshot, CPU)[1].input.height == 98
    (snapshot / "preprocessor_config.json").resolve().unlink()
    broken = r"preprocessor_config\.json is a symbolic link to .* does not exist"
    with pytest.raises(CheckpointError, match=broken) as no:
        load_transformers_model(snapshot, CPU)
    assert "`mono-depth weights fetch org/name --to DIR`" in str(no.value), no.value  # in the cache: cp -rL fails too


def test_custom_code_in_a_model_folder_is_never_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A config.json whose auto_map points at Python files in the folder (Hub "remote code"): transformers would
    import them with trust_remote_code. Loading passes trust_remote_code=False and uses the built-in class of its
    model_type; the code is never imported, and a warning says the folder's own code is ignored."""
    model = write_tiny_family("glpn", tmp_path / "model")
    marker = tmp_path / "imported"
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "custom.Config", "AutoModelForDepthEstimation": "custom.Model"}
    (model / "config.json").write_text(json.dumps(config))
    code = f"open({str(marker)!r}, 'w').close()\n"
    code += "from transformers import GLPNConfig as Config, GLPNForDepthEstimation as Model\n"
    (model / "custom.py").write_text(code)
    with caplog.at_level("WARNING", logger="mono_depth_ros.models.hf_model"):
        _, spec = load_transformers_model(model, CPU)
    assert spec.output_kind is OutputKind.METRIC and not marker.exists()
    assert "custom code (auto_map: custom.Model) is never run" in caplog.text


def test_a_model_that_runs_only_on_its_own_code_is_refused_saying_so(tmp_path: Path) -> None:
    """A Hub "remote code" model whose model_type transformers does not have (its classes in the folder's Python
    files, auto_map): refused, its code never imported, with the reason (the folder's code is never run) and what
    runs it instead; it was refused as 'not a depth model of transformers', which reads as if a newer transformers
    would load it."""
    model = write_tiny_family("glpn", tmp_path / "model")
    marker = tmp_path / "imported"
    config = json.loads((model / "config.json").read_text())
    config.update(model_type="my_depth", architectures=["MyDepthModel"])
    config["auto_map"] = {"AutoConfig": "custom.MyConfig", "AutoModel": "custom.MyDepthModel"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(CheckpointError) as refused:
        load_transformers_model(model, CPU)
    message = str(refused.value)
    assert not marker.exists()
    assert "model_type 'my_depth'" in message and "its own code (auto_map: custom.MyDepthModel)" in message
    assert "never runs a model folder's code" in message and "export it to ONNX" in message


def test_the_registry_rebuilds_a_loaded_model_from_its_spec(tmp_path: Path) -> None:
    backend, spec = load_transformers_model(write_tiny_family("glpn", tmp_path / "glpn"), CPU)
    rebuilt = build_model(spec)
    rebuilt.load_state_dict(backend.module.network.state_dict())
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), backend.infer(x))
    assert isinstance(build_transformers(spec), torch.nn.Module)


def test_frame_inputs_scale_the_focal_to_the_network_and_densify_the_prompt() -> None:
    sparse = np.where(np.eye(8, 16) > 0, 5.0, np.nan).astype(np.float32)
    sparse[7, 7] = 9.0  # the diagonal's last point: the prompt's far corner block
    hints = FrameHints((700.0, 720.0), sparse)
    inputs = frame_inputs(frozenset({"focal_ratio", "prompt_depth"}), hints, (375, 1242), (266, 882), CPU)
    assert inputs["focal_ratio"].item() == pytest.approx(700 / 1242)
    assert inputs["focal_net"].item() == pytest.approx(0.5 * (700 * 882 / 1242 + 720 * 266 / 375))
    prompt = inputs["prompt_depth"]
    assert prompt.shape == (1, 1, 66, 220) and torch.isfinite(prompt).all()  # every pixel filled from its nearest
    assert prompt[0, 0, 0, 0] == 5.0 and prompt[0, 0, -1, -1] == 9.0 and prompt.min() == 5.0 and prompt.max() == 9.0
    assert prompt_depth(np.full((4, 4), np.nan, dtype=np.float32), (8, 8)) is None
    assert prompt_depth(np.where(np.eye(8, 16) > 0, 5.0, np.nan).astype(np.float32), (8, 8)) is None  # no spread
    assert frame_inputs(frozenset({"focal_ratio"}), None, (1, 1), (1, 1), CPU) == {}


def test_metric_focal_and_sky() -> None:
    raw = torch.full((1, 1, 2, 2), 6.0)
    assert metres_from_metric_focal(raw, torch.tensor(50.0), warming=False).flatten()[0].item() == pytest.approx(1.0)
    assert metres_from_metric_focal(raw, None, warming=True) is raw
    with pytest.raises(ShapeError, match="focal length"):
        metres_from_metric_focal(raw, None, warming=False)
    sky = torch.tensor([[[[True, False], [False, False]]]])
    np.testing.assert_array_equal(sky_mask(sky, (4, 4))[:2, :2], True)
    assert sky_mask(sky, (4, 4)).sum() == 4


@pytest.mark.parametrize("key", ["dtype", "torch_dtype"])  # transformers >= 4.56 writes dtype, older torch_dtype
def test_a_checkpoint_of_an_fp16_hub_model_rebuilds_in_float32(tmp_path: Path, key: str) -> None:
    """A model fine-tuned from an fp16 directory is saved as a checkpoint whose spec keeps config.json, dtype
    included: the registry rebuilds it in float32 (as the directory loads), and it runs on a float32 input."""
    import transformers

    from mono_depth_ros.models.checkpoint import save_checkpoint

    directory = write_tiny_family("glpn", tmp_path / "glpn")
    transformers.AutoModelForDepthEstimation.from_pretrained(str(directory)).half().save_pretrained(str(directory))
    config = json.loads((directory / "config.json").read_text())
    config[key] = config.pop("dtype", None) or config.pop("torch_dtype")
    assert config[key] == "float16"
    (directory / "config.json").write_text(json.dumps(config))
    backend, spec = load_transformers_model(directory, CPU)
    assert {parameter.dtype for parameter in build_model(spec).parameters()} == {torch.float32}
    checkpoint = save_checkpoint(tmp_path / "tuned.safetensors", backend.module.network.state_dict(), spec)
    reloaded = open_tiny(checkpoint).predict(TINY_IMAGE).values
    np.testing.assert_allclose(reloaded, open_tiny(directory).predict(TINY_IMAGE).values, rtol=1e-5)


def test_a_checkpoint_whose_spec_config_transformers_refuses_is_a_checkpoint_error(tmp_path: Path) -> None:
    """A checkpoint saved where transformers took a float max_depth (4.x checks no types) keeps it in its spec's
    config: opening it under transformers 5 gave huggingface_hub's StrictDataclassFieldValidationError traceback
    from the registry's builder instead of the loader's error naming the field."""
    from dataclasses import replace

    from mono_depth_ros.models.checkpoint import save_checkpoint

    backend, spec = load_transformers_model(write_tiny_family("glpn", tmp_path / "glpn"), CPU)
    config = {**spec.params["config"], "max_depth": 80.0, "transformers_version": "4.57.1"}
    old = replace(spec, params={**spec.params, "config": config})
    checkpoint = save_checkpoint(tmp_path / "tuned.safetensors", backend.module.network.state_dict(), old)
    pattern = r"field 'max_depth'.*got float \(value: 80\.0\).*; run it under transformers 4\.57\.1 that saved it"
    with pytest.raises(CheckpointError, match=pattern) as refused:
        open_tiny(checkpoint)
    assert "write that field" not in str(refused.value)  # the spec is inside the file: nothing for a user to edit


def test_a_zoedepth_processor_saved_by_transformers_loads(tmp_path: Path) -> None:
    """ZoeDepthImageProcessor's class default ensure_multiple_of is 1/32, which save_pretrained writes (0.03125):
    transformers rounds to no multiple at all; here the family's 32 holds (loading failed with ZeroDivisionError)."""
    import transformers

    directory = write_tiny_family("zoedepth", tmp_path / "zoe", preprocessor=False)
    transformers.ZoeDepthImageProcessorPil(size={"height": 96, "width": 128}).save_pretrained(str(directory))
    assert json.loads((directory / "preprocessor_config.json").read_text())["ensure_multiple_of"] == 1 / 32
    estimator = open_tiny(directory)
    height, width = estimator.network_hw((375, 1242))
    assert height % 32 == width % 32 == 0 and height >= 64
    assert np.isfinite(estimator.predict(TINY_IMAGE).values).all()


def test_glpn_runs_kitti_near_its_native_resolution(tmp_path: Path) -> None:
    """vinvino02/glpn-kitti's processor only rounds the image down to 32 (KITTI: 352x1216, the resolution its metres
    were learnt at); the family's KITTI short side 352 was cut to 192x608 by the 1.7 x long-side cap (half the
    resolution, objects half their trained size in pixels), then kept KITTI's aspect at 352x1152; now each side is
    floored as the processor does. NYU frames (640x480) keep theirs."""
    kitti = write_tiny_family("glpn", tmp_path / "kitti")  # max_depth 80: the KITTI layout
    assert open_tiny(kitti).network_hw((375, 1242)) == (352, 1216)
    nyu = write_tiny_family("glpn", tmp_path / "nyu", max_depth=10)
    assert open_tiny(nyu).network_hw((480, 640)) == (480, 640)


def test_tipsv2_dpt_predicts_metres_at_its_processors_square(tmp_path: Path, kitti_object_dir: Path) -> None:
    """google/tipsv2-*-dpt (transformers' ``tipsv2_dpt``) predicts depth in metres (a softmax over bins from
    min_depth to max_depth): it needed model.output_kind, and with it its processor's square was read keeping
    aspect with the generic ×32 (KITTI at 64x192 instead of 112x112; neither side a multiple of its 14 px patch,
    so the ViT dropped the last 0.6 patch rows and 0.7 columns). Tipsv2DptImageProcessor resizes to its size box
    and does not normalise: the same input and the same metres as transformers' own processing on a KITTI frame."""
    from torch.nn import functional

    from mono_depth_ros.training.data.kitti_files import load_rgb

    directory = write_tiny_family("tipsv2_dpt", tmp_path / "tips")
    estimator = open_tiny(directory)
    assert estimator.output_kind is OutputKind.METRIC and estimator.spec.max_depth_m == 10.0  # its config's bins
    rgb = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    height, width = rgb.shape[:2]
    assert estimator.network_hw((height, width)) == (112, 112)
    # transformers: rescale, bilinear antialiased resize to 112x112, no normalisation; bilinear back to the image
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    pixel_values = functional.interpolate(image, size=(112, 112), mode="bilinear", antialias=True)
    ours_input = estimator.backend.module.network.model
    seen: list[torch.Tensor] = []
    ours_input.register_forward_pre_hook(lambda _, args, kwargs: seen.append(kwargs["pixel_values"]), with_kwargs=True)
    ours = estimator.predict(rgb).values
    torch.testing.assert_close(seen[0], pixel_values, atol=2.5 / 255, rtol=0)  # the uint8 shrink: within a grey level
    with torch.no_grad():
        raw = ours_input(pixel_values=pixel_values).predicted_depth
    theirs = functional.interpolate(raw[:, None], size=(height, width), mode="bilinear")[0, 0].numpy()
    assert ours.shape == theirs.shape and np.isfinite(ours).all()
    relative = np.abs(ours - theirs) / theirs
    assert np.median(relative) < 2e-3 and np.percentile(relative, 99) < 0.05  # edge-aware upsampling aside


_IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
_PUBLISHED = {  # config.json essentials and preprocessor_config.json as the published repositories ship them
    "depth_anything": (
        {"model_type": "depth_anything"},
        {"do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 14,
         "keep_aspect_ratio": True, "resample": 3, "size": {"height": 518, "width": 518}, **_IMAGENET},
    ),
    "dpt_hybrid": (
        {"model_type": "dpt", "is_hybrid": True, "backbone_config": {"model_type": "bit"}, "image_size": 384},
        {"do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 1,
         "keep_aspect_ratio": False, "resample": 3, "size": {"height": 384, "width": 384},
         "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
    ),
    "prompt_depth_anything": (
        {"model_type": "prompt_depth_anything"},
        {"do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 14,
         "keep_aspect_ratio": True, "resample": 3, "size": {"height": 756, "width": 756}, **_IMAGENET},
    ),
    "dpt_beit_512": (  # Intel/dpt-beit-large-512: keeps aspect in its 512 box
        {"model_type": "dpt", "backbone_config": {"model_type": "beit"}},
        {"do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 32,
         "keep_aspect_ratio": True, "resample": 3, "size": {"height": 512, "width": 512},
         "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
    ),
    "dpt_dinov2": (  # facebook/dpt-dinov2-*-kitti / -nyu, as the conversion script writes it: padded to 14
        {"model_type": "dpt", "backbone_config": {"model_type": "dinov2"}},
        {"do_resize": False, "do_rescale": False, "do_pad": True, "size_divisor": 14, "ensure_multiple_of": 1,
         "do_normalize": True, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375],
         "keep_aspect_ratio": False, "size": {"height": 384, "width": 384}},
    ),
    "glpn_nyu": ({"model_type": "glpn", "max_depth": 10}, {"do_rescale": True, "do_resize": True, "size_divisor": 32}),
    "glpn_kitti": (
        {"model_type": "glpn", "max_depth": 80}, {"do_rescale": True, "do_resize": True, "size_divisor": 32}
    ),
}  # fmt: skip


@pytest.mark.parametrize("frame", ["kitti", "nyu"])
@pytest.mark.parametrize("name", list(_PUBLISHED))
def test_the_network_input_is_the_families_own_processors_on_real_frames(
    tmp_path: Path, kitti_object_dir: Path, nyu_dir: Path, name: str, frame: str
) -> None:
    """transformers' own (PIL) image processor of each family on real KITTI and NYU frames: our network input has
    its size and its values within rounding (DINOv2's DPT heads: padded to 14, not resized), except where the
    documented long-side cap (Depth Anything on KITTI: 266x882, not 518x1708; DPT-BEiT-512: 256x864, not 512x1696)
    or GLPN's resolution policy (glpn-nyu runs a KITTI frame at NYU's short side, not its
    own 352x1216; glpn-kitti an NYU frame at KITTI's) decides otherwise. glpn-kitti ran its own KITTI frames at
    352x1152 (the aspect kept, rounded), not the processor's 352x1216 (each side floored to 32)."""
    import transformers

    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec
    from mono_depth_ros.models.preprocess import image_to_device, input_box, network_input_size, preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    config, settings = _PUBLISHED[name]
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    spec = transformers_spec(config, family_of(str(config["model_type"])), tmp_path)
    path = kitti_object_dir / "image_2" / "000000.png" if frame == "kitti" else nyu_dir / "rgb" / "rgb_00000.jpg"
    rgb = load_rgb(path)
    processor = {
        "glpn": transformers.GLPNImageProcessorPil,
        "prompt_depth_anything": transformers.PromptDepthAnythingImageProcessorPil,
    }
    theirs = processor.get(str(config["model_type"]), transformers.DPTImageProcessorPil)(**settings)(
        rgb, return_tensors="pt"
    ).pixel_values
    hw = network_input_size(rgb.shape[:2], spec.input)
    if hw != tuple(theirs.shape[-2:]):
        policy = {("depth_anything", "kitti"), ("dpt_beit_512", "kitti"), ("glpn_nyu", "kitti"), ("glpn_kitti", "nyu")}
        assert (name, frame) in policy, (hw, theirs.shape)
        return
    box = input_box(spec.input, rgb.shape[:2], hw)  # DINOv2's padding to 14
    mode = spec.input.interpolation
    ours = preprocess(image_to_device(rgb, CPU), hw, spec.mean, spec.std, mode=mode, pad_box=box)
    grey = (ours - theirs).abs() * torch.tensor(spec.std).view(1, 3, 1, 1) * 255
    # glpn-kitti shrinks KITTI's rows 375 -> 352 on uint8: PIL's and torch's antialiased bilinear round apart by one
    # grey level at 13 % of the pixels
    assert float(grey.max()) <= 2.5 and float(grey.mean()) < (0.2 if (name, frame) == ("glpn_kitti", "kitti") else 0.05)


_ZOEDEPTH_PROCESSOR = {  # Intel/zoedepth-nyu-kitti's preprocessor_config.json
    "do_normalize": True, "do_pad": True, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 32,
    "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "keep_aspect_ratio": True, "resample": 2,
    "size": {"height": 384, "width": 512},
}  # fmt: skip


def _tiny_zoedepth(tmp_path: Path) -> DepthEstimator:
    """A tiny random ZoeDepth opened with Intel/zoedepth-nyu-kitti's processor file (:data:`_ZOEDEPTH_PROCESSOR`)."""
    directory = write_tiny_family("zoedepth", tmp_path / "zoe")
    (directory / "preprocessor_config.json").write_text(json.dumps(_ZOEDEPTH_PROCESSOR))
    return open_tiny(directory)


def _network_inputs(estimator: DepthEstimator) -> list[torch.Tensor]:
    """The ``pixel_values`` each later call of the estimator's transformers model is given, in order."""
    seen: list[torch.Tensor] = []
    estimator.backend.module.network.model.register_forward_pre_hook(
        lambda _, args, kwargs: seen.append(kwargs["pixel_values"]), with_kwargs=True
    )
    return seen


def test_zoedepth_sees_its_processors_padded_input_on_real_frames(
    tmp_path: Path, nyu_dir: Path, kitti_object_dir: Path
) -> None:
    """ZoeDepthImageProcessor (do_pad) reflect-pads the camera image by int(3 sqrt(side / 2)) px each side, then
    resizes the padded image (align_corners) to 384x512: on NYU the image fills 84 % x 86 % of the input. The
    padding was made at the network's size with one factor for both axes (82 % x 82 %, 34 grey levels off on
    average): the network saw a smaller scene than ZoeDepth's metres were learnt on. Now the input is the
    processor's to float precision, on NYU through the engine and on KITTI at the processor's own 384x1184 (the
    engine caps KITTI's long side at 864)."""
    import transformers

    from mono_depth_ros.models.preprocess import image_to_device, preprocess, reflect_pad_box
    from mono_depth_ros.training.data.kitti_files import load_rgb

    estimator = _tiny_zoedepth(tmp_path)
    seen = _network_inputs(estimator)
    for name in ("rgb_00000.jpg", "rgb_00050.jpg"):
        rgb = load_rgb(nyu_dir / "rgb" / name)
        processor = transformers.ZoeDepthImageProcessorPil(**_ZOEDEPTH_PROCESSOR)
        theirs = processor(rgb, return_tensors="pt").pixel_values
        seen.clear()
        depth = estimator.predict(rgb).values
        assert seen[0].shape == theirs.shape == (1, 3, 384, 512)
        torch.testing.assert_close(seen[0], theirs, atol=1e-5, rtol=0)
        assert depth.shape == rgb.shape[:2] and np.isfinite(depth).all()
        assert reflect_pad_box(rgb.shape[:2], (384, 512)) == (31, 37, 322, 438)  # the image's part, whole pixels
    rgb = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    theirs = transformers.ZoeDepthImageProcessorPil(**_ZOEDEPTH_PROCESSOR)(rgb, return_tensors="pt").pixel_values
    assert theirs.shape == (1, 3, 384, 1184)
    ours = preprocess(image_to_device(rgb, CPU), (384, 1184), (0.5,) * 3, (0.5,) * 3, reflect_pad=True)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "rows_cols", [(slice(60, 420), slice(None)), (slice(None), slice(120, 440)), (slice(0, 120), slice(0, 160))]
)
def test_zoedepth_sizes_its_input_from_the_reflect_padded_image_as_its_processor(
    tmp_path: Path, nyu_dir: Path, rows_cols: tuple[slice, slice]
) -> None:
    """ZoeDepthImageProcessor pads first and resizes the padded image (H + 2 int(3 sqrt(H / 2)) rows) into its
    384x512 box, so the input size follows the padded image's aspect: a 16:9 camera (360x640, cut from a real NYU
    frame) runs at 384x640, a portrait 480x320 at 736x512, a 120x160 one at 384x480. The engine took the size from
    the unpadded image (384x672, 768x512, 384x512): the network saw the scene stretched 4-7 % against what the
    processor feeds it. Now the input is the processor's, size and values."""
    import transformers

    from mono_depth_ros.models.preprocess import network_input_size
    from mono_depth_ros.training.data.kitti_files import load_rgb

    estimator = _tiny_zoedepth(tmp_path)
    seen = _network_inputs(estimator)
    rgb = np.ascontiguousarray(load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")[rows_cols])
    theirs = transformers.ZoeDepthImageProcessorPil(**_ZOEDEPTH_PROCESSOR)(rgb, return_tensors="pt").pixel_values
    assert network_input_size(rgb.shape[:2], estimator.spec.input) == tuple(theirs.shape[-2:])
    depth = estimator.predict(rgb).values
    torch.testing.assert_close(seen[0], theirs, atol=1e-5, rtol=0)
    assert depth.shape == rgb.shape[:2] and np.isfinite(depth).all()


def test_zoedepth_on_kitti_keeps_the_reflect_padded_aspect_under_the_long_side_cap(tmp_path: Path) -> None:
    """KITTI's 375x1242 padded is 457x1390: the processor feeds 384x1152 (aspect 3.0); under the engine's long-side
    cap (864) the input keeps that aspect, 288x864, where the unpadded aspect gave 256x864 (3.375: the scene 12 %
    wider than the processor's)."""
    import transformers

    from mono_depth_ros.models.preprocess import network_input_size

    policy = _tiny_zoedepth(tmp_path).spec.input
    rgb = np.zeros((375, 1242, 3), dtype=np.uint8)
    theirs = transformers.ZoeDepthImageProcessorPil(**_ZOEDEPTH_PROCESSOR)(rgb, return_tensors="pt").pixel_values
    height, width = network_input_size((375, 1242), policy)
    assert tuple(theirs.shape[-2:]) == (384, 1152) and width == policy.max_long_side == 864
    assert (height, width) == (288, 864)


def test_the_readme_zoedepth_row_gives_the_sizes_the_engine_runs(tmp_path: Path) -> None:
    """README's model table said ZoeDepth runs at "short side 384 of the reflect-padded image": its processor scales
    the padded image as little as possible into its 384x512 box (a 600x400 portrait at 736x512, short side 512) and
    the engine caps the long side at 864 (KITTI at 288x864). Each "H×W → h×w" example of the row is the engine's."""
    import re

    from mono_depth_ros.models.preprocess import network_input_size

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| ZoeDepth (`zoedepth`)"))
    examples = re.findall(r"(\d+)×(\d+) → (\d+)×(\d+)", row)
    assert len(examples) >= 4, row
    policy = _tiny_zoedepth(tmp_path).spec.input
    for height, width, net_h, net_w in examples:
        assert network_input_size((int(height), int(width)), policy) == (int(net_h), int(net_w)), (height, width)
    assert f"long side ≤ {policy.max_long_side}" in row


def test_depth_pro_sees_its_processors_input_on_real_frames(
    tmp_path: Path, nyu_dir: Path, kitti_object_dir: Path
) -> None:
    """DepthProImageProcessor normalises, then resizes to its square without antialiasing (as Apple's Depth Pro
    does). Shrinking (here the tiny model's 256x256; the published 1536x1536 from a wider camera) was antialiased on
    uint8: several grey levels off at edges. Now the input is the processor's to float precision (the processor
    needs torchvision, absent here: its two steps are transcribed)."""
    from torch.nn import functional

    from mono_depth_ros.training.data.kitti_files import load_rgb

    estimator = open_tiny(write_tiny_family("depth_pro", tmp_path / "dp"))
    seen = _network_inputs(estimator)
    for path in (kitti_object_dir / "image_2" / "000000.png", nyu_dir / "rgb" / "rgb_00000.jpg"):
        rgb = load_rgb(path)
        image = (torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5  # rescale, normalise
        theirs = functional.interpolate(image, size=(256, 256), mode="bilinear", antialias=False)
        seen.clear()
        estimator.predict(rgb, hints=FrameHints((700.0, 700.0)))
        torch.testing.assert_close(seen[0], theirs, atol=1e-5, rtol=0)


def test_deeply_nested_json_in_a_model_folder_is_a_checkpoint_error(tmp_path: Path) -> None:
    """json.loads raises RecursionError on JSON nested 100 000 deep: config.json and preprocessor_config.json
    gave a traceback instead of the loader's error naming the file."""
    model = write_tiny_family("glpn", tmp_path / "model")
    nested = "[" * 100_000 + "]" * 100_000
    (model / "preprocessor_config.json").write_text(nested)
    with pytest.raises(CheckpointError, match=r"preprocessor_config\.json is not readable JSON"):
        load_transformers_model(model, CPU)
    (model / "config.json").write_text(nested)
    with pytest.raises(CheckpointError, match=r"config\.json is not readable JSON"):
        load_transformers_model(model, CPU)


class _InputCoordinates(torch.nn.Module):
    """Stands in for a transformers depth model: its "depth" is ``1000 +`` the column (``axis`` 1) or row (0) of its
    own input pixel, on an output grid ``out_scale`` times the input's (DINOv2's DPT head: 16 / 14) that spans the
    input as transformers' post-processing takes it (pixel centres, ``align_corners=False``)."""

    def __init__(self, out_scale: float = 1.0) -> None:
        super().__init__()
        self.axis = 1
        self.out_scale = out_scale

    def forward(self, pixel_values: torch.Tensor, **_: object) -> object:
        import types

        size = pixel_values.shape[-2:][self.axis]
        out = round(size * self.out_scale)
        centres = (torch.arange(out, dtype=torch.float64) + 0.5) * size / out - 0.5  # input pixel of each output one
        rows, cols = (out, 1) if self.axis == 0 else (1, out)
        grid = (1000.0 + centres).to(torch.float32).reshape(1, rows, cols)
        other = round(pixel_values.shape[-2:][1 - self.axis] * self.out_scale)
        shape = (1, out, other) if self.axis == 0 else (1, other, out)
        return types.SimpleNamespace(predicted_depth=grid.expand(shape), field_of_view=None)


def _processor_coordinate(family: str, camera: int, network: int, padded: bool) -> np.ndarray:
    """Where the family's transformers image processor puts each camera pixel centre along one axis, in input
    pixels: ZoeDepthImageProcessor reflect-pads int(3 sqrt(side / 2)) px each side and resizes the padded image
    with align_corners; DPTImageProcessor's do_pad (DINOv2 heads) centre-pads, the odd pixel after; the others
    resize the camera image to the input (pixel centres)."""
    x = np.arange(camera, dtype=np.float64)
    if family == "zoedepth":
        pad = int(np.sqrt(camera / 2) * 3)
        return (x + pad) * (network - 1) / (camera + 2 * pad - 1)
    if padded:
        return x + (network - camera) // 2
    return (x + 0.5) * network / camera - 0.5


@pytest.mark.parametrize(
    ("family", "processor", "out_scale"),
    [
        ("depth_anything", {"size": {"height": 518, "width": 518}}, 1.0),
        ("depth_anything_metric", None, 1.0),
        ("prompt_depth_anything", {"size": {"shortest_edge": 518}, "keep_aspect_ratio": True}, 1.0),
        ("dpt", None, 1.0),
        ("dpt_dinov2", None, 16 / 14),
        ("zoedepth", None, 1.0),
        ("zoedepth", _ZOEDEPTH_PROCESSOR, 1.0),
        ("zoedepth", {**_ZOEDEPTH_PROCESSOR, "do_pad": False}, 1.0),
        ("glpn", None, 1.0),
        ("depth_pro", None, 1.0),
        ("tipsv2_dpt", None, 4 / 7),
    ],
)
def test_the_published_map_lies_where_the_processor_put_each_camera_pixel(
    tmp_path: Path, nyu_dir: Path, family: str, processor: dict[str, object] | None, out_scale: float
) -> None:
    """The engine's map at each camera pixel is the network's prediction where the family's image processor put
    that pixel in the network input, within 0.01 input pixel (float32 arithmetic: an upsampled coordinate ramp is
    exact), for a real NYU frame, KITTI's 375x1242, 1080p, a portrait camera and sizes no multiple of 14 or 32.

    The network is replaced by one whose output is its input's own pixel coordinate, so the published value says
    where in the input the engine read each camera pixel. ZoeDepth's processor resizes its reflect-padded image with
    align_corners (the image spans (H - 1)/(H + 2 pad - 1) of the input's pixel grid): the engine took the image's
    part of the input as a box of whole pixels in the half-pixel convention and read NYU's 480x640 0.44 input
    pixels (0.55 camera pixels) outward at its left and right edges, 1080p's 1.0 camera pixel off (the tiny
    96x128 processor: up to 4.3); it now reads the exact place. transformers' own post_process_depth_estimation
    for ZoeDepth (the map resized to the padded camera size, half-pixel, then the padding cut) reads NYU 0.13 input
    pixel in at its left edge and 0.14 out at its right one."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    directory = write_tiny_family("dpt_dinov2" if family == "dpt_dinov2" else family, tmp_path / family)
    if processor is not None:
        (directory / "preprocessor_config.json").write_text(json.dumps(processor))
    estimator = DepthEstimator.open(
        "transformers", directory, EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off", edge_ratio=1e6)
    )
    coordinates = _InputCoordinates(out_scale)
    estimator.backend.module.network.model = coordinates  # type: ignore[attr-defined]
    nyu = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    blank = np.zeros((1, 1, 3), dtype=np.uint8)
    sizes = ((375, 1242), (1080, 1920), (1242, 375), (371, 1237))
    cameras = [nyu, *(np.broadcast_to(blank, (h, w, 3)) for h, w in sizes)]
    worst = 0.0
    for rgb in cameras:
        image_hw = rgb.shape[:2]
        network_hw = estimator.network_hw(image_hw)
        hints = FrameHints(focal_px=(0.8 * image_hw[1], 0.8 * image_hw[1]))  # Depth Pro: metres from the focal
        for axis in (1, 0):
            coordinates.axis = axis
            values = estimator.predict(np.ascontiguousarray(rgb), hints=hints).values
            if family == "depth_pro":
                values = 0.8 / values  # its metres: 1 / (inverse depth / (fx / width))
            line = (values[image_hw[0] // 2] if axis == 1 else values[:, image_hw[1] // 2]) - 1000.0
            camera, network = image_hw[axis], network_hw[axis]
            padded = family == "dpt_dinov2" and network == -(-camera // 14) * 14 and network != camera
            reflected = family if estimator.spec.input.reflect_pad else ""
            expected = _processor_coordinate(reflected, camera, network, padded)
            margin = np.ceil(max(0.0, 0.5 / out_scale - 0.5))  # input pixels beyond the outer output centres: clamped
            inside = (expected >= margin) & (expected <= network - 1 - margin)
            worst = max(worst, float(np.abs(line - expected)[inside].max()))
    assert worst < 0.01


@pytest.mark.parametrize("name", ["depth_anything_metric", "zoedepth", "glpn"])
def test_a_load_builds_the_transformers_config_once(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load built config.json's transformers config object three times for a metric family (the folder check, the
    network's patch multiple, its depth range; 0.7-3.4 ms each): once now, handed on."""
    directory = write_tiny_family(name, tmp_path / name)
    built = count_config_builds(monkeypatch)
    backend, spec = load_transformers_model(directory, torch.device("cpu"))
    assert len(built) == 1, built
    assert spec.output_kind is OutputKind.METRIC and backend.spec is spec


def _save_as_processor(directory: Path, size: int) -> None:
    """Save the folder's image processor (its preprocessor_config.json, ``size`` px) as transformers 5's
    ``Processor.save_pretrained`` does: nested under ``image_processor`` in ``processor_config.json``."""
    import transformers
    from transformers.processing_utils import ProcessorMixin

    class DepthProcessor(ProcessorMixin):  # no depth family ships one: the generic mixin writes the same file
        def __init__(self, image_processor: Any) -> None:
            super().__init__(image_processor)

    image_processor = transformers.AutoImageProcessor.from_pretrained(str(directory), local_files_only=True)
    image_processor.size = {"height": size, "width": size}
    DepthProcessor(image_processor).save_pretrained(str(directory))


def test_a_folder_with_only_processor_config_runs_at_its_size_not_the_family_defaults(tmp_path: Path) -> None:
    """transformers 5 saves a Processor's image processor settings nested in processor_config.json (no
    preprocessor_config.json): such a folder ran at the family's 518 px where the file says 98, silently. Now its
    settings are read, as transformers' AutoImageProcessor reads them."""
    import transformers

    directory = write_tiny_family("depth_anything_metric", tmp_path / "model")
    _save_as_processor(directory, 98)
    (directory / "preprocessor_config.json").unlink()
    assert "image_processor" in json.loads((directory / "processor_config.json").read_text())
    spec = load_transformers_model(directory, CPU)[1]
    assert (spec.input.height, spec.input.width) == (98, 98), spec.input
    assert transformers.AutoImageProcessor.from_pretrained(str(directory), local_files_only=True).size.height == 98


def test_processor_config_wins_over_preprocessor_config_as_in_transformers(tmp_path: Path) -> None:
    """transformers' get_image_processor_dict reads processor_config.json's image_processor entry first and
    preprocessor_config.json only when there is none: both present with different sizes, the nested one is run; a
    processor_config.json without the entry (an older Processor's) leaves preprocessor_config.json's."""
    import transformers

    directory = write_tiny_family("depth_anything_metric", tmp_path / "model")  # preprocessor_config.json: 98
    _save_as_processor(directory, 70)
    read_by_transformers = transformers.AutoImageProcessor.from_pretrained(str(directory), local_files_only=True)
    spec = load_transformers_model(directory, CPU)[1]
    assert spec.input.height == read_by_transformers.size.height == 70, spec.input
    processor = json.loads((directory / "processor_config.json").read_text())
    (directory / "processor_config.json").write_text(json.dumps({"processor_class": processor["processor_class"]}))
    assert load_transformers_model(directory, CPU)[1].input.height == 98
    (directory / "processor_config.json").write_text(json.dumps({"image_processor": [70]}))
    with pytest.raises(CheckpointError, match=r"processor_config\.json: image_processor holds list"):
        load_transformers_model(directory, CPU)


def test_an_unreadable_processor_config_names_the_file_read_instead_once_it_is_deleted(tmp_path: Path) -> None:
    """A processor_config.json that is no JSON is read before preprocessor_config.json (as transformers 5 reads
    it) and refused; its remedy said 'delete it to use the family defaults' where deleting it runs the folder at its
    preprocessor_config.json. The remedy names the file read instead, and deleting the file does run it."""
    directory = write_tiny_family("depth_anything_metric", tmp_path / "model")  # preprocessor_config.json: 98
    (directory / "processor_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"processor_config\.json is not readable JSON") as refused:
        load_transformers_model(directory, CPU)
    assert "delete it to use preprocessor_config.json" in str(refused.value), refused.value
    (directory / "processor_config.json").unlink()
    assert load_transformers_model(directory, CPU)[1].input.height == 98
