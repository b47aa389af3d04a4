"""Tests for training/distill_teacher.py: backend guessing, labels, encoder features (unet, DA-V2), refusals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.depth_anything import build_depth_anything, depth_anything_spec, save_depth_anything
from mono_depth_ros.models.export import export_onnx
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.models.unet import UNet
from mono_depth_ros.training.distillation.config import TeacherConfig
from mono_depth_ros.training.distillation.teacher import Teacher, feature_tap, infer_backend, teacher_from_network
from mono_depth_ros.training.objectives.assemble import normalise
from test.models.tiny_models import TINY_DA, tiny_unet
from test.training.distill_support import one_thread, write_teacher


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def test_backend_is_guessed_from_the_path(tmp_path: Path) -> None:
    assert infer_backend(tmp_path) == "depth_anything_v2"
    assert infer_backend(tmp_path / "m.onnx") == "onnx"
    assert infer_backend(tmp_path / "m.pt") == "torchscript"
    assert infer_backend(tmp_path / "m.safetensors") == "torch"


def test_a_home_relative_teacher_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no shell expands "~" in a YAML or in --set teacher.weights=~/t
    write_teacher(tmp_path / "t.safetensors", OutputKind.METRIC)
    assert Teacher.open(TeacherConfig(weights="~/t.safetensors")).kind is OutputKind.METRIC


def test_unet_checkpoint_labels_and_features(tmp_path: Path) -> None:
    path = write_teacher(tmp_path / "t.safetensors", OutputKind.METRIC)
    teacher = Teacher.open(TeacherConfig(weights=str(path), features=True))
    assert teacher.kind is OutputKind.METRIC and teacher.has_features
    image = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    output = teacher.label(image)
    assert output.values.shape == (50, 70) and output.values.dtype == np.float32
    assert np.isfinite(output.values).all() and (output.values > 0).all()
    assert output.features is not None and output.features.shape == (64, 2, 3)  # width-8 encoder at 64x96 / 32
    identity = teacher.identity()
    assert identity["backend"] == "torch" and identity["weights"] == str(path.resolve())
    assert len(identity["fingerprint"]) == 16 and '"unet"' in identity["spec"]


def test_features_match_the_encoder_output() -> None:
    network, spec = tiny_unet(1, OutputKind.METRIC)
    assert isinstance(network, UNet)
    image = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)  # the network size: no resize
    batch = normalise(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0, spec.mean, spec.std)
    with torch.no_grad():
        reference = network.encoder(batch)[-1][0].numpy()
    teacher = teacher_from_network(network, spec, with_features=True)
    output = teacher.label(image)
    assert output.features is not None
    np.testing.assert_allclose(output.features, reference, rtol=1e-4, atol=1e-5)
    without = teacher_from_network(tiny_unet(1)[0], spec).label(image)
    assert without.features is None


def test_depth_anything_directory_gives_patch_features(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_depth_anything(build_depth_anything(depth_anything_spec(TINY_DA)).eval(), tmp_path / "da")
    teacher = Teacher.open(TeacherConfig(weights=str(tmp_path / "da"), features=True))
    assert teacher.kind is OutputKind.RELATIVE_INVERSE
    output = teacher.label(np.zeros((40, 60, 3), dtype=np.uint8))
    network_hw = teacher.estimator.predict(np.zeros((40, 60, 3), dtype=np.uint8)).network_hw
    assert output.values.shape == (40, 60)
    assert output.features is not None
    assert output.features.shape == (TINY_DA.hidden_size, network_hw[0] // 14, network_hw[1] // 14)


def test_onnx_teacher_labels_but_has_no_features(tmp_path: Path) -> None:
    network, spec = tiny_unet(0, OutputKind.METRIC)
    path = tmp_path / "t.onnx"
    export_onnx(network, spec, path, exporter="legacy")
    teacher = Teacher.open(TeacherConfig(weights=str(path)))
    assert teacher.identity()["backend"] == "onnx"
    assert teacher.label(np.zeros((64, 96, 3), dtype=np.uint8)).features is None
    with pytest.raises(ConfigError, match="onnx model does not expose"):
        Teacher.open(TeacherConfig(weights=str(path), features=True))


def test_an_affine_depth_teacher_is_refused_with_the_remedy(tmp_path: Path) -> None:
    """Labels of depth up to scale and shift (an ONNX export declared affine_depth, Marigold-like) would be inverted
    into inverse-depth targets (inverse_target treats every kind but relative_inverse as depth): 1 / (d - t) is no
    inverse depth up to scale and shift. Refused at load with the kinds a teacher may have."""
    network, spec = tiny_unet(0, OutputKind.AFFINE_DEPTH)
    path = tmp_path / "t.onnx"
    export_onnx(network, spec, path, exporter="legacy")
    with pytest.raises(ConfigError, match=r"affine_depth.*use a metric, depth_up_to_scale or relative_inverse teacher"):
        Teacher.open(TeacherConfig(weights=str(path)))
    with pytest.raises(ConfigError, match="affine_depth"):
        teacher_from_network(*tiny_unet(0, OutputKind.AFFINE_DEPTH))


def test_unknown_architecture_and_missing_weights() -> None:
    with pytest.raises(ConfigError, match="no encoder accessor"):
        feature_tap(torch.nn.Conv2d(3, 1, 1))
    with pytest.raises(ConfigError, match="no teacher given"):
        Teacher.open(TeacherConfig())


def test_a_metric_focal_teacher_labels_in_metres_of_the_frames_camera() -> None:
    """Like the node, the teacher gets the frame's focal length: metres = output × f / 300, f at the network's 64×96
    input (a metric_focal teacher raised ShapeError on every frame; a frame without intrinsics still does)."""
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.core.errors import ShapeError

    network, spec = tiny_unet(3, OutputKind.METRIC_FOCAL)
    teacher = teacher_from_network(network, spec, with_features=True)
    assert teacher.kind is OutputKind.METRIC
    image = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    near = teacher.label(image, PinholeIntrinsics(150.0, 150.0, 34.5, 24.5, width=70, height=50)).values
    far = teacher.label(image, PinholeIntrinsics(300.0, 300.0, 34.5, 24.5, width=70, height=50)).values
    raw = teacher_from_network(*tiny_unet(3)).label(image).values  # the same weights read as plain depth
    focal_net = 0.5 * (150.0 * 96 / 70 + 150.0 * 64 / 50)  # fx, fy of the 50×70 frame at the 64×96 input
    np.testing.assert_allclose(near, raw * focal_net / 300.0, rtol=1e-5)
    np.testing.assert_allclose(far, 2.0 * near, rtol=1e-5)
    with pytest.raises(ShapeError, match="focal length"):
        teacher.label(image)


def test_a_prompt_depth_teacher_labels_without_its_prompt_so_is_refused_as_affine(tmp_path: Path) -> None:
    """Prompt Depth Anything declares metric (its spec), but is metric only with a LiDAR prompt; labelling gives the
    teacher the focal length alone, so every label is depth up to scale and shift (the estimator says
    affine_depth per frame). The cache recorded the spec's metric: a metric student, labels inverted as metres."""
    pytest.importorskip("transformers")
    from test.models.hf_tiny import write_tiny_family

    path = write_tiny_family("prompt_depth_anything", tmp_path / "pda")
    with pytest.raises(ConfigError, match=r"affine_depth.*prompt"):
        Teacher.open(TeacherConfig(weights=str(path)))


def test_a_teacher_in_training_mode_labels_in_eval_mode_without_gradients() -> None:
    """A network handed over in train() mode (batch norm on batch statistics, as a student being trained is) labels
    as in eval mode, the same on every call, and records no graph: the labels are the teacher's inference output."""
    network, spec = tiny_unet(4, OutputKind.METRIC)
    image = np.random.default_rng(4).integers(0, 255, (64, 96, 3), dtype=np.uint8)  # the network size: no resize
    batch = normalise(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0, spec.mean, spec.std)
    with torch.no_grad():
        reference = network.eval()(batch).depth[0, 0].numpy()
    network.train()
    teacher = teacher_from_network(network, spec, with_features=True)
    first, second = teacher.label(image), teacher.label(image)
    assert not network.training and not any(p.requires_grad for p in network.parameters())
    np.testing.assert_allclose(first.values, reference, rtol=1e-5)
    np.testing.assert_array_equal(first.values, second.values)
    assert first.features is not None


def _external_data_export(seed: int, folder: Path) -> Path:
    """A tiny teacher exported to ONNX with every weight in ``t.onnx_data`` beside the graph (as large graphs are)."""
    import onnx

    network, spec = tiny_unet(seed, OutputKind.METRIC)
    path = folder / "t.onnx"
    folder.mkdir()
    export_onnx(network, spec, path, exporter="legacy")
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, location="t.onnx_data", size_threshold=0)
    return path


def test_an_onnx_teachers_identity_covers_its_external_data(tmp_path: Path) -> None:
    """An ONNX teacher whose weights live in external data (model.onnx + model.onnx_data, as large graphs are
    published) retrained and copied over keeping times: the graph file is the same bytes (the tensors' names,
    offsets and lengths), only the data file differs. The content digest read the graph file alone, so the cache
    took the new teacher for the old one and kept its labels."""
    first, second = _external_data_export(0, tmp_path / "a"), _external_data_export(1, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()  # the graphs: only the external data differs
    assert (first.parent / "t.onnx_data").read_bytes() != (second.parent / "t.onnx_data").read_bytes()
    before = Teacher.open(TeacherConfig(weights=str(first))).identity()
    for source in second.parent.iterdir():  # the retrained teacher (graph, data, spec, golden) copied over, times kept
        target = first.parent / source.name
        stamp = target.stat().st_mtime_ns
        target.write_bytes(source.read_bytes())
        os.utime(target, ns=(stamp, stamp))
    after = Teacher.open(TeacherConfig(weights=str(first))).identity()
    assert after != before
    assert Teacher.open(TeacherConfig(weights=str(first))).identity() == after  # the same files: the same teacher


def test_any_transformers_depth_directory_is_a_teacher_and_only_depth_anything_gives_features(tmp_path: Path) -> None:
    """``mono-depth distill --help`` said "--teacher: DA-V2 directory": a directory of any transformers depth family
    labels (here GLPN, metric, and DPT, relative inverse depth); the teacher features are Depth Anything's alone."""
    pytest.importorskip("transformers")
    from test.models.hf_tiny import write_tiny_family

    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    for family, kind in (("glpn", OutputKind.METRIC), ("dpt", OutputKind.RELATIVE_INVERSE)):
        path = write_tiny_family(family, tmp_path / family)
        assert infer_backend(path) == "depth_anything_v2"  # the transformers alias: any family
        teacher = Teacher.open(TeacherConfig(weights=str(path)))
        assert teacher.kind is kind and teacher.label(image).values.shape == (60, 80)
        with pytest.raises(ConfigError, match="feature alignment supports unet and DA"):
            Teacher.open(TeacherConfig(weights=str(path), features=True))
