"""The depth network from parameters: none for external, the engine for the rest, clear errors for bad weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mono_depth_ros.config import resolve
from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.depth_source import EstimatorSource, build_depth_source, default_weights
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy, OutputKind
from mono_depth_ros.models.unet import make_unet_spec


def test_external_needs_no_network() -> None:
    assert build_depth_source(resolve({"model.backend": "external"})) is None


def test_default_weights_come_from_the_assets_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"model\.weights is empty and no default model"):
        default_weights(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert default_weights(tmp_path) == tmp_path / "model.safetensors"
    (tmp_path / "other.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="2 candidate default models"):
        default_weights(tmp_path)


def test_missing_or_unusable_weights_are_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        build_depth_source(resolve({"model.weights": str(tmp_path / "nope.safetensors")}))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=str(junk)):
        build_depth_source(resolve({"model.weights": str(junk), "device": "cpu"}))


def test_a_checkpoint_becomes_a_depth_source(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = make_unet_spec("resnet18", "tiny")
    weights = save_checkpoint(tmp_path / "tiny.safetensors", build_model(spec).state_dict(), spec)
    source = build_depth_source(resolve({"model.weights": str(weights), "device": "cpu", "model.threads": 1}))
    assert isinstance(source, EstimatorSource)
    assert source.output_kind is OutputKind.DEPTH_UP_TO_SCALE
    prediction = source.predict(np.zeros((40, 100, 3), dtype=np.uint8))
    assert prediction.shape == (40, 100) and prediction.dtype == np.float32
    assert source.last_network_hw is not None


def test_a_home_relative_weights_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No shell expands "~" in `--param model.weights=~/m`, `weights:=~/m` (launch) or a params file.
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = make_unet_spec("resnet18", "tiny")
    save_checkpoint(tmp_path / "tiny.safetensors", build_model(spec).state_dict(), spec)
    source = build_depth_source(resolve({"model.weights": "~/tiny.safetensors", "device": "cpu", "model.threads": 1}))
    assert isinstance(source, EstimatorSource)
    with pytest.raises(CheckpointError, match=f"model.weights {tmp_path}/nope.safetensors does not exist"):
        build_depth_source(resolve({"model.weights": "~/nope.safetensors"}))


def test_a_relative_weights_path_that_is_not_there_names_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``weights:=models/depth.safetensors`` given to ``ros2 launch`` (or ``--param``) started from another directory
    than the user thought: the node reads it from its working directory, the shell's of ``ros2 launch``. The message
    said only "model.weights models/depth.safetensors does not exist", leaving where it was looked for unsaid."""
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path / "models")  # one level too deep
    with pytest.raises(CheckpointError) as err:
        build_depth_source(resolve({"model.weights": "models/depth.safetensors"}))
    said = str(err.value)
    assert said.startswith("model.weights models/depth.safetensors does not exist"), said
    assert f"relative to the working directory {tmp_path}/models: {tmp_path}/models/models/depth.safetensors" in said
    assert "give an absolute path" in said
    with pytest.raises(CheckpointError) as err:
        build_depth_source(resolve({"model.weights": str(tmp_path / "nope.safetensors")}))
    assert "working directory" not in str(err.value)  # an absolute path says no more than before


def test_a_backend_without_weights_names_the_setting_in_each_place_it_is_set() -> None:
    """``ros2 launch ... model:=transformers`` without ``weights:=``: the node said "pass --param model.weights=DIR",
    an option of mono-depth that neither ros2 launch nor a params file takes (seen on real Humble)."""
    with pytest.raises(ConfigError) as err:
        build_depth_source(resolve({"model.backend": "transformers"}))
    said = str(err.value)
    assert "model.backend=transformers needs model.weights" in said, said
    assert "set model.weights to DIR (a local Hugging Face depth model" in said, said
    assert "(launch: weights:=DIR; params file: model: {weights: DIR}; mono-depth: --param model.weights=DIR)" in said
    with pytest.raises(ConfigError, match=r"weights:=MODEL\.onnx; "):
        build_depth_source(resolve({"model.backend": "onnx"}))


def test_channels_last_and_warmup_size_reach_the_engine(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = make_unet_spec("resnet18", "tiny")
    weights = str(save_checkpoint(tmp_path / "tiny.safetensors", build_model(spec).state_dict(), spec))
    params = {"model.weights": weights, "device": "cpu", "model.threads": 1, "model.channels_last": True}
    source = build_depth_source(resolve({**params, "model.warmup_height": 375, "model.warmup_width": 1242}))
    assert isinstance(source, EstimatorSource)
    config = source.estimator.config
    assert config.channels_last and config.warmup_hw == (375, 1242)
    prediction = source.predict(np.zeros((375, 1242, 3), dtype=np.uint8))
    assert prediction.shape == (375, 1242)
    with pytest.raises(ConfigError, match="go together"):
        build_depth_source(resolve({**params, "model.warmup_height": 375}))


def test_inference_threads_auto_policy() -> None:
    from mono_depth_ros.models.depth_source import inference_threads

    assert inference_threads(3, cores=2) == 3  # a setting is used as given
    assert [inference_threads(0, cores=n) for n in (1, 2, 4, 8, 16, 64)] == [1, 1, 2, 4, 4, 4]
    assert inference_threads(0) >= 1  # this machine's affinity


def test_a_depth_source_hands_over_its_map_on_its_device(checkpoint: Path) -> None:
    """``output.device_postprocess``: the same values on the network's device and on the host (on the CPU, one map)."""
    source = build_depth_source(resolve({"model.weights": str(checkpoint), "device": "cpu", "model.threads": 1}))
    assert isinstance(source, EstimatorSource) and source.device == torch.device("cpu")
    image = np.random.default_rng(0).integers(0, 256, (96, 160, 3), dtype=np.uint8)
    values, host = source.predict_on_device(image, (24, 40))
    assert values.device == source.device and host.shape == (24, 40) and host.dtype == np.float32
    assert values.numpy().tobytes() == host.tobytes() == source.predict(image, (24, 40)).tobytes()
    assert source.last_network_hw == (64, 96) and source.last_network_ms > 0.0


def test_model_output_kind_metric_focal_is_refused_where_nothing_would_apply_it(onnx_path: Path) -> None:
    """model.output_kind=metric_focal for an exported model whose spec says another kind was silently dropped (the
    pipeline and the engine both read the spec): a DA3 / Metric3D ONNX written with --kind metric came out at
    300 / focal x the distance. And a metric_focal spec delivers metres: overriding it to a relative kind would
    scale-fit metres as if they were relative."""
    from mono_depth_ros.cli import main

    params = {"model.backend": "onnx", "model.weights": str(onnx_path), "device": "cpu", "model.threads": 1}
    with pytest.raises(ConfigError, match=r"model\.output_kind=metric_focal .* spec says metric.*--kind metric_focal"):
        build_depth_source(resolve({**params, "model.output_kind": "metric_focal"}))
    assert build_depth_source(resolve({**params, "model.output_kind": "metric"})) is not None  # its own kind
    focal = onnx_path.parent / "focal.onnx"
    focal.write_bytes(onnx_path.read_bytes())
    assert main(["spec", str(focal), "--kind", "metric_focal", "--input-size", "64x96"]) == 0
    focal_params = {**params, "model.weights": str(focal)}
    with pytest.raises(ConfigError, match=r"delivers metres.*relative_inverse"):
        build_depth_source(resolve({**focal_params, "model.output_kind": "relative_inverse"}))
    assert build_depth_source(resolve({**focal_params, "model.output_kind": "metric_focal"})) is not None


def test_a_metric_focal_model_stated_affine_depth_is_refused_as_the_other_relative_kinds(onnx_path: Path) -> None:
    """affine_depth (depth up to scale and shift) is a relative kind too: stated for a metric_focal spec, the
    engine's metres were handed to scale recovery as a normalised depth (a scale and shift fitted to metres; with
    scale.mode none published as 'not metric') while depth_up_to_scale and relative_inverse were refused."""
    from mono_depth_ros.cli import main

    focal = onnx_path.parent / "focal_affine.onnx"
    focal.write_bytes(onnx_path.read_bytes())
    assert main(["spec", str(focal), "--kind", "metric_focal", "--input-size", "64x96"]) == 0
    params = {"model.backend": "onnx", "model.weights": str(focal), "device": "cpu", "model.threads": 1}
    with pytest.raises(ConfigError, match=r"metric_focal model: the engine delivers metres.*not affine_depth"):
        build_depth_source(resolve({**params, "model.output_kind": "affine_depth"}))


def test_a_stated_kind_that_contradicts_a_foreign_models_spec_is_refused_naming_both(
    onnx_path: Path, kitti_object_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An ONNX model whose spec says metric, run with model.output_kind=relative_inverse: the pipeline read the stated
    kind and scale recovery fitted its metres as inverse depth, without a word that the spec said otherwise (only
    metric_focal was checked). The two are compared as for a Hugging Face folder: another kind is refused naming
    both and the spec to write; depth_up_to_scale for a metric spec (scale recovery rescales its metres) runs, logged
    with both kinds, the network's output on a KITTI frame unchanged (the spec's metres, for scale recovery to fit)."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    params = {"model.backend": "onnx", "model.weights": str(onnx_path), "device": "cpu", "model.threads": 1}
    for stated in ("relative_inverse", "affine_depth"):
        with pytest.raises(ConfigError) as refused:
            build_depth_source(resolve({**params, "model.output_kind": stated}))
        message = str(refused.value)
        assert f"model.output_kind={stated} contradicts the spec of {onnx_path}, which says metric" in message
        assert (
            f"`mono-depth spec {onnx_path} --kind {stated}`" in message and "leave model.output_kind empty" in message
        )
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    own = build_depth_source(resolve({**params, "model.output_kind": ""}))
    with caplog.at_level("INFO", logger="mono_depth_ros.models.depth_source"):
        rescaled = build_depth_source(resolve({**params, "model.output_kind": "depth_up_to_scale"}))
    assert own is not None and rescaled is not None
    assert any(
        "model.output_kind=depth_up_to_scale" in r.message and "says metric" in r.message for r in caplog.records
    )
    np.testing.assert_array_equal(rescaled.predict(image), own.predict(image))
    caplog.clear()
    with caplog.at_level("INFO", logger="mono_depth_ros.models.depth_source"):
        assert build_depth_source(resolve({**params, "model.output_kind": "metric"})) is not None  # its own kind
    assert not [r for r in caplog.records if r.name == "mono_depth_ros.models.depth_source"]


def test_a_padded_graph_reports_the_size_of_the_image_inside_it(tmp_path: Path) -> None:
    """With ``--pad`` the camera image fills only part of a fixed-size graph's input (a 375x1242 frame in a 64x128
    graph: 39x128, the rest padding). The pipeline sizes what it publishes (``output.downscale: 0``, the default)
    and the flying-pixel test's grid from ``network_hw``: it got the padded 64x128 and published 75x248, three
    times the pixels the network saw (41x138 keeps them all)."""
    import warnings

    from mono_depth_ros.cli import main
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    from mono_depth_ros.pipeline import output_downscale

    class PerPixel(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return 6.0 + image[:, :1] - image[:, 2:]

    path = tmp_path / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(PerPixel(), (torch.zeros(1, 3, 64, 128),), str(path), dynamo=False)
    assert main(["spec", str(path), "--kind", "relative_inverse", "--pad"]) == 0
    config = EstimatorConfig(device="cpu", warmup_runs=0, cpu_threads=1)
    source = EstimatorSource(DepthEstimator.open("onnx", path, config))
    kitti = (375, 1242)
    assert source.network_hw(kitti) == (39, 128)
    assert output_downscale(0, kitti, source.network_hw(kitti)) == 9
    assert source.network_hw((64, 128)) == (64, 128)  # the graph's own aspect: no padding


def test_metric_focal_stated_for_a_project_checkpoint_names_a_remedy_that_applies(tmp_path: Path) -> None:
    """The refusal of ``model.output_kind=metric_focal`` told a project checkpoint's user to run ``mono-depth spec``
    on it, which reads ONNX / TorchScript models only (it fails on a .safetensors file)."""
    torch.manual_seed(0)
    spec = make_unet_spec("resnet18", "tiny")
    weights = save_checkpoint(tmp_path / "tiny.safetensors", build_model(spec).state_dict(), spec)
    params = {"model.weights": str(weights), "device": "cpu", "model.threads": 1, "model.output_kind": "metric_focal"}
    with pytest.raises(ConfigError, match="spec says depth_up_to_scale") as refused:
        build_depth_source(resolve(params))
    assert "mono-depth spec" not in str(refused.value)
    assert "leave model.output_kind empty" in str(refused.value)


def test_a_stated_kind_that_contradicts_a_project_checkpoints_spec_is_refused_naming_both(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A unet checkpoint whose spec says depth_up_to_scale, run with model.output_kind=relative_inverse, was taken
    without a word (only ONNX / TorchScript specs were compared): the pipeline read its depth as inverse depth up to
    scale and shift. Refused naming both kinds and a remedy that applies to a checkpoint (no `mono-depth spec`, which
    reads exported models only); depth_up_to_scale for a metric checkpoint runs, logged with both kinds. The
    checkpoints are narrow and run at 64x96: what is compared is their spec's kind (the tiny preset at 192x640 took
    about 10 s for the five start-ups)."""
    torch.manual_seed(0)
    small: dict[str, Any] = {
        "input_policy": InputPolicy(64, 96),
        "encoder_width": 4,
        "decoder_channels": [4, 4, 4, 4, 4],
    }
    spec = make_unet_spec("resnet18", "tiny", **small)
    weights = save_checkpoint(tmp_path / "tiny.safetensors", build_model(spec).state_dict(), spec)
    params = {"model.weights": str(weights), "device": "cpu", "model.threads": 1}
    for stated in ("relative_inverse", "affine_depth", "metric"):
        with pytest.raises(ConfigError) as refused:
            build_depth_source(resolve({**params, "model.output_kind": stated}))
        message = str(refused.value)
        assert f"model.output_kind={stated} contradicts the spec of {weights}, which says depth_up_to_scale" in message
        assert "leave model.output_kind empty" in message and "mono-depth spec" not in message
    assert build_depth_source(resolve({**params, "model.output_kind": "depth_up_to_scale"})) is not None
    metric = make_unet_spec("resnet18", "tiny", output_kind=OutputKind.METRIC, **small)
    metric_weights = save_checkpoint(tmp_path / "metric.safetensors", build_model(metric).state_dict(), metric)
    rescaled = {**params, "model.weights": str(metric_weights), "model.output_kind": "depth_up_to_scale"}
    with caplog.at_level("INFO", logger="mono_depth_ros.models.depth_source"):
        assert build_depth_source(resolve(rescaled)) is not None
    assert any("says metric" in r.message for r in caplog.records)


@pytest.mark.parametrize("backend", ["onnx", "torchscript", "transformers", "depth_anything_v2"])
def test_a_backend_other_than_unet_without_weights_asks_for_them(backend: str) -> None:
    """The shipped default is a unet checkpoint: with another backend and model.weights empty it was opened anyway
    and failed with that backend's remedy ("re-export the model", "set model.backend: unet"), not the missing one."""
    with pytest.raises(ConfigError, match=rf"model\.backend={backend} needs model\.weights.*--param model\.weights="):
        build_depth_source(resolve({"model.backend": backend, "device": "cpu"}))
