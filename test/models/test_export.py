"""Tests for models/export.py: torch -> ONNX / TorchScript parity, specs and golden references beside the model."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import Tensor, nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models import export as export_module
from mono_depth_ros.models.backend import TensorOutput
from mono_depth_ros.models.depth_anything import build_depth_anything, depth_anything_spec
from mono_depth_ros.models.export import export_onnx, export_torchscript, written_opset
from mono_depth_ros.models.golden import reference_image
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.sidecar import golden_path_for, read_golden, spec_path_for
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind

from .tiny_models import TINY_DA, tiny_unet

CPU = torch.device("cpu")


def _onnx_vs_torch(path: Path, network: nn.Module, inputs: list[torch.Tensor]) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            (got,) = session.run(None, {"image": x.numpy()})
            worst = max(worst, float(np.abs(got - TensorOutput(network)(x).numpy()).max()))
    return worst


def test_unet_onnx_parity_on_random_inputs(tmp_path: Path) -> None:
    network, spec = tiny_unet()
    result = export_onnx(network, spec, tmp_path / "unet.onnx", exporter="legacy")
    generator = torch.Generator().manual_seed(7)
    inputs = [torch.randn(1, 3, h, w, generator=generator) for h, w in ((64, 96), (64, 96), (128, 64), (96, 320))]
    max_diff = _onnx_vs_torch(result.path, network, inputs)
    print(f"\nunet torch vs ONNX Runtime: max abs diff {max_diff:.3g} (export check {result.max_abs_diff:.3g})")
    assert max_diff < 1e-4 and result.max_abs_diff < 1e-4
    assert result.dynamic and result.spec.input == spec.input and result.spec.backend == "onnx"
    assert spec_path_for(result.path).is_file() and golden_path_for(result.path).is_file()


def test_dynamo_exporter_parity(tmp_path: Path) -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1), nn.Softplus())
    spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=24, multiple_of=8))
    result = export_onnx(network, spec, tmp_path / "conv.onnx", exporter="dynamo")
    assert result.exporter == "dynamo" and result.dynamic
    inputs = [torch.randn(1, 3, 16, 24), torch.randn(1, 3, 40, 56)]
    max_diff = _onnx_vs_torch(result.path, network, inputs)
    print(f"\ndynamo export, torch vs ONNX Runtime: max abs diff {max_diff:.3g}")
    assert max_diff < 1e-5


def test_the_dynamo_export_says_nothing_of_torchvision(tmp_path: Path) -> None:
    """Without torchvision, ``mono-depth export -f onnx`` printed four ``W... torchvision is not installed. Skipping
    torchvision::nms`` lines (torch's op registry, once per process: hence a fresh one), though no network here uses
    a torchvision op and the README says none is needed."""
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed: torch says nothing of it")
    script = (
        "import sys; from torch import nn; from mono_depth_ros.models.export import export_onnx; "
        "from mono_depth_ros.models.spec import InputPolicy, ModelSpec; "
        "net = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Softplus()); "
        "spec = ModelSpec('tiny_conv', input=InputPolicy(height=16, width=24, multiple_of=8)); "
        "print(export_onnx(net, spec, sys.argv[1], exporter='dynamo').exporter)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "conv.onnx")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "dynamo", done.stdout + done.stderr
    assert "torchvision" not in done.stderr, done.stderr


def test_depth_anything_exports_fixed_size_and_runs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = depth_anything_spec(TINY_DA)
    network = build_depth_anything(spec).eval()
    result = export_onnx(network, spec, tmp_path / "da.onnx", input_hw=(56, 182), exporter="legacy")
    print(f"\nDA-V2 (tiny) torch vs ONNX Runtime: max abs diff {result.max_abs_diff:.3g}")
    assert result.max_abs_diff < 1e-4
    assert not result.dynamic  # the ViT's patch grid is traced as constants
    assert result.spec.input == InputPolicy(height=56, width=182, keep_aspect=False, multiple_of=14, max_long_side=882)
    assert result.spec.output_kind is OutputKind.RELATIVE_INVERSE
    golden = read_golden(result.path)
    assert golden is not None and golden.image_rgb.shape == (56, 182, 3)
    estimator = DepthEstimator.open("onnx", result.path, EstimatorConfig(device="cpu"))
    assert estimator.golden_report is not None and estimator.golden_report.passed
    image = np.random.default_rng(0).integers(0, 256, size=(120, 390, 3), dtype=np.uint8)
    values = estimator.predict(image)
    assert values.network_hw == (56, 182) and values.values.shape == (120, 390)


def test_torchscript_export_parity_and_golden(tmp_path: Path) -> None:
    network, spec = tiny_unet()
    image = reference_image(40, 80, seed=3)
    result = export_torchscript(network, spec, tmp_path / "unet.pt")
    assert result.max_abs_diff == 0.0 and result.dynamic and result.exporter == "jit-trace"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(result.path))
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), TensorOutput(network)(x))
    golden = read_golden(result.path)
    assert golden is not None
    estimator = DepthEstimator.open("torchscript", result.path, EstimatorConfig(device="cpu"))
    assert estimator.predict(image).values.shape == (40, 80)


def test_export_keeps_the_callers_network_untouched(tmp_path: Path) -> None:
    network, spec = tiny_unet()
    network.train()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    export_torchscript(network, spec, tmp_path / "unet.pt")
    assert network.training and all(p.requires_grad for p in network.parameters())
    for name, tensor in network.state_dict().items():
        torch.testing.assert_close(tensor, before[name])


def test_unknown_exporter_is_refused(tmp_path: Path) -> None:
    network, spec = tiny_unet()
    with pytest.raises(ConfigError, match="unknown ONNX exporter 'tensorrt'"):
        export_onnx(network, spec, tmp_path / "x.onnx", exporter="tensorrt")
    with pytest.raises(ConfigError, match="positive"):
        export_torchscript(network, spec, tmp_path / "x.pt", input_hw=(0, 32))


class _AntialiasedShrink(nn.Module):
    """Depth from an antialiased resize (aten::_upsample_bilinear2d_aa), which the legacy exporter cannot write."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = nn.functional.interpolate(x[:, :1], scale_factor=0.5, mode="bilinear", antialias=True)
        return nn.functional.interpolate(small, size=x.shape[-2:], mode="bilinear").abs() + 1.0


def test_an_op_neither_exporter_writes_is_one_error_naming_both_and_torchscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The legacy exporter's UnsupportedOperatorError came through as torch's traceback; after a failed dynamo export
    the error names both failures and TorchScript (not 'use --exporter dynamo', which had just failed)."""
    import mono_depth_ros.models.export as export_module

    _, spec = tiny_unet()
    with pytest.raises(
        CheckpointError, match=r"legacy ONNX exporter cannot export aa\.onnx \(.*_upsample_bilinear2d_aa"
    ):
        export_onnx(_AntialiasedShrink(), spec, tmp_path / "aa.onnx", exporter="legacy")

    def dynamo_fails(*_: object) -> None:
        raise RuntimeError("no dynamo today\nand a second line")

    monkeypatch.setattr(export_module, "_export_dynamo", dynamo_fails)
    both = r"neither ONNX exporter can export aa\.onnx: dynamo \(RuntimeError: no dynamo today\), legacy \(.*_aa.*"
    with pytest.raises(CheckpointError, match=both + r"; export it with -f torchscript$"):
        export_onnx(_AntialiasedShrink(), spec, tmp_path / "aa.onnx")
    assert not (tmp_path / "aa.onnx").exists()


def test_a_full_disk_is_named_with_the_path_not_sent_to_another_exporter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OSError of the legacy exporter (a full disk, no permission) became "the legacy ONNX exporter cannot export
    m.onnx (OSError: [Errno 28] No space left on device); use --exporter dynamo (the default), or -f torchscript"
    (after a dynamo export failed the same way: "neither ONNX exporter...; export it with -f torchscript"): another
    exporter writes to the same disk. /dev/full is a disk that is full: the graph is written in a folder beside the
    output path, here one whose graph is /dev/full. The earlier export at the path is left as it was."""
    import tempfile

    network, spec = tiny_unet()
    target = tmp_path / "m.onnx"
    export_onnx(network, spec, target, exporter="legacy")
    before = target.read_bytes()
    make_folder = tempfile.mkdtemp

    def full_disk_folder(**kwargs: str) -> str:
        folder = make_folder(**kwargs)
        (Path(folder) / target.name).symlink_to("/dev/full")
        return folder

    monkeypatch.setattr(tempfile, "mkdtemp", full_disk_folder)  # the module export_onnx calls it from
    with pytest.raises(CheckpointError) as raised:
        export_onnx(network, spec, target, exporter="legacy")
    message = str(raised.value)
    assert f"cannot write {target} (" in message and "No space left on device" in message, message
    assert "free disk space" in message and "--exporter" not in message and "torchscript" not in message
    assert "earlier export there is left as it was" in message and target.read_bytes() == before


def test_a_folder_no_file_can_be_written_in_is_named_with_the_output_path() -> None:
    """An ONNX graph is written in a folder of its own made beside the output path: in a folder where nothing can be
    written (read-only, no permission; /proc here, for root too) making it raised a bare FileNotFoundError naming a
    hidden temporary folder (`/proc/.m.onnx.d6qaizsq`), which `mono-depth export` does not catch, where the write
    was refused naming the output path and what to do."""
    network, spec = tiny_unet()
    target = Path("/proc/m.onnx")
    with pytest.raises(CheckpointError) as raised:
        export_onnx(network, spec, target, exporter="legacy")
    message = str(raised.value)
    assert f"cannot write {target} (" in message and "choose another folder" in message, message
    assert not list(Path("/proc").glob(".m.onnx.*"))


def test_an_interrupted_legacy_retry_leaves_no_temporary_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed-size dynamo graph is exported again with the legacy exporter beside it (``.legacy.tmp``); Ctrl-C
    while that graph was checked left the file (a whole model's size) in the output folder."""
    import mono_depth_ros.models.export as export_module

    network, spec = tiny_unet()
    monkeypatch.setattr(export_module, "_export_dynamo", export_module._export_legacy)  # fast: the graph as written
    checked: list[Path] = []

    def parity(_ort: object, path: Path, *_: object) -> tuple[float, bool]:
        checked.append(path)
        if len(checked) == 2:  # the legacy retry's graph
            raise KeyboardInterrupt
        return 0.0, False  # the dynamo graph: fixed-size

    monkeypatch.setattr(export_module, "_onnx_parity", parity)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(network, spec, tmp_path / "unet.onnx")
    assert checked[1].name == "unet.onnx.legacy.tmp" and not checked[1].exists()


def test_the_opset_asked_for_is_the_opset_written_or_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--opset 17`` (TensorRT 8.x on a Jetson reads up to 17) gave a graph of opset 18 without a word: the dynamo
    exporter writes 18 and its down-conversion fails on a Pad ("No Adapter To Version $17 for Pad", logged as a
    traceback), the model was kept at 18, and the command reported a good export (seen with `mono-depth export
    --opset 17` and 13 of a unet trained on real KITTI frames; a padded conv here, which is quicker to export). An
    opset the dynamo exporter does not write now goes to the legacy exporter, which writes it; one that no exporter
    writes is an error naming it, with no model left (the legacy exporter refusing it is stood in for)."""
    network = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, 1, 3), nn.Softplus())
    spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=24, multiple_of=8))
    result = export_onnx(network, spec, tmp_path / "conv.onnx", opset=17)
    assert written_opset(result.path) == 17 and result.exporter == "legacy"
    assert result.max_abs_diff < 1e-5 and result.dynamic

    def legacy_refuses(*args: object) -> None:
        raise RuntimeError("Unsupported ONNX opset version: 16")

    monkeypatch.setattr(export_module, "_export_legacy", legacy_refuses)
    with pytest.raises(CheckpointError, match=r"dynamo \(wrote opset 18, not the opset 16 asked for\).*--opset"):
        export_onnx(network, spec, tmp_path / "old.onnx", opset=16)
    assert not (tmp_path / "old.onnx").exists()  # nor the dynamo graph of opset 18


def test_a_size_asked_for_a_keep_aspect_model_that_runs_any_size_is_the_size_served(tmp_path: Path) -> None:
    """A keep-aspect network that runs any size, exported at a size asked for (``--input-size``) that its policy
    would not run, kept its policy: the node ran each camera at the policy's size, not the one asked for. It is now
    fixed at that size (cameras of its aspect only, as a ViT's fixed-size export); a size the policy gives a camera
    (``--camera``: ``policy_size``) keeps the policy."""
    from mono_depth_ros.models.frozen_input import source_input

    network = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Softplus())
    spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=48, keep_aspect=True, multiple_of=8))
    asked = export_torchscript(network, spec, tmp_path / "asked.pt", input_hw=(32, 96))
    assert asked.dynamic and not asked.spec.input.keep_aspect
    assert (asked.spec.input.height, asked.spec.input.width) == (32, 96) and source_input(asked.spec) == spec.input
    camera = export_torchscript(network, spec, tmp_path / "camera.pt", input_hw=(16, 56), policy_size=True)
    assert camera.dynamic and camera.spec.input == spec.input


def test_an_export_interrupted_after_the_dynamo_graph_leaves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--opset 17``: the dynamo exporter writes its opset-18 graph at the output path, then the legacy exporter
    writes the opset asked for. Ctrl-C in between (here while the written opset is read back) left that opset-18
    graph at the path, with no spec in it: a model of an opset the user's TensorRT cannot read, and a parity
    failure left the graph it refused as well. Either now leaves no file there."""
    network = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, 1, 3), nn.Softplus())
    spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=24, multiple_of=8))
    target = tmp_path / "conv.onnx"
    read = export_module.written_opset
    seen: list[int] = []

    def interrupted(path: Path) -> int:
        seen.append(read(path))  # the dynamo graph, as written
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "written_opset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(network, spec, target, opset=17)
    assert seen == [18] and not target.exists()

    def refused(*_: object) -> tuple[float, bool]:
        raise CheckpointError("ONNX export differs from torch by 0.5 (tolerance 0.001); not usable")

    monkeypatch.setattr(export_module, "_onnx_parity", refused)
    with pytest.raises(CheckpointError, match="not usable"):
        export_onnx(network, spec, target, exporter="legacy")
    assert not target.exists()


def test_an_unknown_exporter_leaves_the_file_already_at_the_path(tmp_path: Path) -> None:
    """An export refused before anything is written (an unknown exporter, as export_weights passes it through) must
    not delete what the user had at the output path: the cleanup of c171231 removed it on any exception."""
    network, spec = tiny_unet()
    target = tmp_path / "x.onnx"
    target.write_bytes(b"the user's earlier export")
    with pytest.raises(ConfigError, match="unknown ONNX exporter 'tensorrt'"):
        export_onnx(network, spec, target, exporter="tensorrt")
    assert target.read_bytes() == b"the user's earlier export"


def test_the_line_for_a_keep_aspect_model_fixed_by_input_size_says_which_cameras_it_serves(tmp_path: Path) -> None:
    """A keep-aspect network that runs any size, exported with ``--input-size 32x96``, now serves cameras of aspect
    3 only (bb23924), but the command printed '(jit-trace, any size, run at 32x96 by its spec)': nothing said that the
    cameras it served before at their own aspect are now refused. The line names the aspect and ``--camera``, and a
    camera of another aspect is refused with the export it needs."""
    from mono_depth_ros.models.frozen_input import aspect_problem

    network = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Softplus())
    spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=48, keep_aspect=True, multiple_of=8))
    asked = export_torchscript(network, spec, tmp_path / "asked.pt", input_hw=(32, 96))
    assert asked.dynamic
    assert "cameras of aspect 3.00 only: --camera HxW for others" in asked.describe(), asked.describe()
    assert aspect_problem(asked.spec, (96, 288)) is None
    problem = aspect_problem(asked.spec, (480, 640))
    assert problem is not None and "--camera 480x640" in problem, problem


def test_an_export_interrupted_before_it_writes_leaves_the_earlier_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the dynamo exporter traces (the long part, before it writes anything) deleted the model an
    earlier export had left at the output path, and left that export's spec and golden beside nothing (c171231
    removes the path on any exception). A file the export did not write stays."""
    network, spec = tiny_unet()
    target = tmp_path / "x.onnx"
    export_onnx(network, spec, target)
    before = target.read_bytes()

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "_export_dynamo", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(network, spec, target)
    assert target.read_bytes() == before and spec_path_for(target).is_file()


@pytest.mark.parametrize("earlier", [True, False])
def test_a_torchscript_export_interrupted_while_it_saves_leaves_no_partial_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, earlier: bool
) -> None:
    """``torch.jit.save`` wrote the model at the output path itself: Ctrl-C (or SIGTERM) while it wrote left a .pt
    cut short there, in place of the model an earlier export had left (which the node then refused as unreadable).
    The model is written beside and renamed once whole: the earlier export stays and loads, or no model is there,
    and no temporary file is left."""
    network, spec = tiny_unet()
    target = tmp_path / "unet.pt"
    if earlier:
        export_torchscript(network, spec, target)
    before = sorted(tmp_path.iterdir())
    whole = target.read_bytes() if earlier else b""
    saved = torch.jit.save

    def cut_short(module: object, f: str, **kwargs: object) -> None:
        saved(module, f, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:1000])  # the bytes written before the signal
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.jit, "save", cut_short)
    with pytest.raises(KeyboardInterrupt):
        export_torchscript(network, spec, target)
    assert sorted(tmp_path.iterdir()) == before
    if earlier:
        assert target.read_bytes() == whole
        estimator = DepthEstimator.open("torchscript", target, EstimatorConfig(device="cpu"))
        assert estimator.predict(reference_image(40, 80, seed=3)).values.shape == (40, 80)


def test_a_legacy_export_that_fails_before_it_writes_leaves_the_earlier_export(tmp_path: Path) -> None:
    """The legacy exporter's failure paths removed the output path whatever it held: a network with an op it has no
    ONNX form for (refused before it writes anything) exported over a model an earlier export had left deleted that
    model, and left its spec and golden beside nothing. Only what this export wrote is removed."""
    network, spec = tiny_unet()
    target = tmp_path / "aa.onnx"
    export_onnx(network, spec, target, exporter="legacy")
    before = target.read_bytes()
    with pytest.raises(CheckpointError, match=r"legacy ONNX exporter cannot export aa\.onnx"):
        export_onnx(_AntialiasedShrink(), spec, target, exporter="legacy")
    assert target.read_bytes() == before and spec_path_for(target).is_file()
    estimator = DepthEstimator.open("onnx", target, EstimatorConfig(device="cpu"))
    assert estimator.predict(reference_image(40, 80, seed=3)).values.shape == (40, 80)


def test_an_export_interrupted_while_it_writes_the_golden_reference_leaves_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec and golden reference beside a model were written in place: Ctrl-C while the golden was written left
    it cut short (``read_golden`` then refused the file as unreadable: CheckpointError). Each is written beside and
    renamed once whole: the earlier golden stays readable, no temporary file is left."""
    from safetensors.numpy import save_file

    network, spec = tiny_unet()
    target = tmp_path / "unet.pt"
    export_torchscript(network, spec, target)
    before, golden = sorted(tmp_path.iterdir()), golden_path_for(target).read_bytes()

    def cut_short(tensors: dict[str, np.ndarray], filename: str, metadata: dict[str, str]) -> None:
        save_file(tensors, filename, metadata=metadata)
        Path(filename).write_bytes(Path(filename).read_bytes()[:100])  # the bytes written before the signal
        raise KeyboardInterrupt

    monkeypatch.setattr("mono_depth_ros.models.sidecar.save_file", cut_short)
    with pytest.raises(KeyboardInterrupt):
        export_torchscript(network, spec, target)
    assert sorted(tmp_path.iterdir()) == before and golden_path_for(target).read_bytes() == golden
    assert read_golden(target) is not None


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_export_over_an_earlier_one_that_fails_before_all_is_written_leaves_every_earlier_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Another network exported over an earlier export, interrupted while its golden reference was saved: the new
    model was already at the path (TorchScript: renamed in; ONNX: written there, then deleted by the cleanup), so the
    path held the new model beside the earlier model's spec and golden (the node then ran the new network under the
    earlier spec, or self-tested it against the earlier network's output), or no model at all. The model and its
    sidecars are written whole beside and swapped in last: every earlier file stays as it was, it loads and passes its
    self-test, and no temporary file is left."""
    from safetensors.numpy import save_file

    target = tmp_path / f"unet.{'onnx' if fmt == 'onnx' else 'pt'}"

    def export(network: nn.Module, spec: ModelSpec, target: Path) -> object:
        if fmt == "onnx":
            return export_onnx(network, spec, target, exporter="legacy")  # the faster exporter: any graph will do
        return export_torchscript(network, spec, target)

    network, spec = tiny_unet(seed=0)
    export(network, spec, target)
    files = sorted(tmp_path.iterdir())
    before = {path: path.read_bytes() for path in files}

    def cut_short(tensors: dict[str, np.ndarray], filename: str, metadata: dict[str, str]) -> None:
        save_file(tensors, filename, metadata=metadata)
        Path(filename).write_bytes(Path(filename).read_bytes()[:100])  # the bytes written before the signal
        raise KeyboardInterrupt

    monkeypatch.setattr("mono_depth_ros.models.sidecar.save_file", cut_short)
    other, _ = tiny_unet(seed=1)
    with pytest.raises(KeyboardInterrupt):
        export(other, spec, target)
    assert sorted(tmp_path.iterdir()) == files
    assert {path: path.read_bytes() for path in files} == before
    estimator = DepthEstimator.open(fmt, target, EstimatorConfig(device="cpu", golden_check="refuse"))
    golden_file = read_golden(target, estimator.spec)
    assert golden_file is not None and estimator.self_test(golden_file).passed


def test_a_graph_over_the_protobuf_limit_is_exported_with_its_external_data_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph past torch's large-model threshold (1.5 GB: Metric3D giant, Depth Anything Large in fp32 near it) is
    written by the dynamo exporter as ``model.onnx`` + ``model.onnx.data``. The spec was embedded by loading the graph
    with its weights and saving it as one file (which protobuf refuses past 2 GB), and the data file written in the
    staging folder was removed with it. Shown at a small size with the threshold at 0 (the path a large graph takes):
    the graph at the path keeps its weights in the data file beside it, with its spec embedded, no staging file left;
    an export over it swaps the data file in with the graph, and an inline export after it leaves no stale data."""
    from torch.onnx._internal.exporter import _onnx_program

    from mono_depth_ros.models.onnx_external import external_data_files
    from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY

    monkeypatch.setattr(_onnx_program, "_LARGE_MODEL_THRESHOLD", 0)
    target = tmp_path / "large.onnx"
    for seed in (0, 1):
        torch.manual_seed(seed)
        network = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1), nn.Softplus())
        spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=24, multiple_of=8))
        result = export_onnx(network, spec, target, exporter="dynamo")
        assert result.exporter == "dynamo"
        graph = onnx.load(str(target), load_external_data=False)
        external = [t.name for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        assert external, "the weights were inlined into the graph (past 2 GB protobuf cannot save that)"
        data = external_data_files(target)  # large.onnx.data, then large.onnx.1.data (the earlier one's name taken)
        assert data == [tmp_path / ("large.onnx.data", "large.onnx.1.data")[seed]]
        assert EMBEDDED_SPEC_KEY in {p.key for p in graph.metadata_props}
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["large.onnx", data[0].name, "large.onnx.golden.safetensors", "large.onnx.spec.json"]
        )
        assert _onnx_vs_torch(target, network, [torch.randn(1, 3, 16, 24)]) < 1e-5
        estimator = DepthEstimator.open("onnx", target, EstimatorConfig(device="cpu", golden_check="refuse"))
        assert estimator.golden_report is not None and estimator.golden_report.passed
    monkeypatch.undo()
    export_onnx(network, spec, target, exporter="legacy")  # a graph that holds its weights: no data beside it
    assert not list(tmp_path.glob("*.data"))
    assert _onnx_vs_torch(target, network, [torch.randn(1, 3, 16, 24)]) < 1e-5


def test_a_legacy_export_past_2_gb_keeps_its_file_per_weight_beside_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The legacy exporter writes a graph past protobuf's 2 GB with one external data file per initializer, named by
    it, beside the graph (here its output re-saved so at a small size): each file is swapped in beside the path under
    the name the graph gives it, the spec embedded, and the staging folder leaves nothing."""
    from mono_depth_ros.models.onnx_external import external_data_files
    from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY

    export_legacy = export_module._export_legacy

    def past_2_gb(module: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
        export_legacy(module, example, path, opset)
        graph = onnx.load(str(path))
        onnx.save_model(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)

    monkeypatch.setattr(export_module, "_export_legacy", past_2_gb)
    network, spec = tiny_unet()
    target = tmp_path / "per_weight.onnx"
    export_onnx(network, spec, target, exporter="legacy")
    graph = onnx.load(str(target), load_external_data=False)
    data = external_data_files(target)
    weights = [t for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert len(weights) > 1 and len(data) == len(weights), (len(weights), data)
    assert all(file.parent == tmp_path for file in data)
    assert EMBEDDED_SPEC_KEY in {p.key for p in graph.metadata_props}
    extra = {"per_weight.onnx", "per_weight.onnx.golden.safetensors", "per_weight.onnx.spec.json"}
    assert {p.name for p in tmp_path.iterdir()} == extra | {file.name for file in data}
    estimator = DepthEstimator.open("onnx", target, EstimatorConfig(device="cpu", golden_check="refuse"))
    assert estimator.golden_report is not None and estimator.golden_report.passed


def test_an_export_interrupted_between_its_data_and_its_graph_leaves_the_earlier_graph_with_its_own_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export over a graph with external data moved ``model.onnx.data`` in over the earlier one, then the graph:
    Ctrl-C (or a node starting) between the two left the earlier graph with the new network's weights (same
    architecture: it loads and runs, wrong). The new data goes in under a name the earlier graph does not use; the
    earlier graph, interrupted there, still gives its own network's output, and nothing of the interrupted export is
    left beside it (an export over it to its end: the test above)."""
    from torch.onnx._internal.exporter import _onnx_program

    from mono_depth_ros.models.onnx_external import external_data_files

    monkeypatch.setattr(_onnx_program, "_LARGE_MODEL_THRESHOLD", 0)
    target = tmp_path / "large.onnx"
    spec = ModelSpec("tiny_conv", input=InputPolicy(height=16, width=24, multiple_of=8))
    networks = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        networks.append(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1)))
    export_onnx(networks[0], spec, target, exporter="dynamo")
    before = {p.name for p in tmp_path.iterdir()}
    replace = Path.replace

    def interrupted(self: Path, to: Path) -> Path:
        if Path(to) == target:
            raise KeyboardInterrupt
        return replace(self, to)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            export_onnx(networks[1], spec, target, exporter="dynamo")
    x = [torch.randn(1, 3, 16, 24)]
    assert _onnx_vs_torch(target, networks[0], x) < 1e-5, "the earlier graph ran with the new network's weights"
    # nothing of the interrupted export is left (its data file moved in removed, no staging folder); its sidecars
    # were gone by then (the earlier graph's embedded spec holds for it)
    assert {p.name for p in tmp_path.iterdir()} == before - {"large.onnx.golden.safetensors", "large.onnx.spec.json"}
    assert external_data_files(target) == [tmp_path / "large.onnx.data"]


_KILLED_EXPORT = """
import os, signal, sys
from pathlib import Path
import mono_depth_ros.models.export as export
from mono_depth_ros.models.spec import OutputKind
from test.models.tiny_models import tiny_unet

def killed(*args, **kwargs):  # SIGKILL once the graph is written in its staging folder: no finally runs
    os.kill(os.getpid(), signal.SIGKILL)

export._onnx_parity = killed
network, spec = tiny_unet(output_kind=OutputKind.METRIC)
export.export_onnx(network, spec, Path(sys.argv[1]), exporter="legacy")
"""


def test_an_export_removes_the_staging_folders_of_killed_exports_and_not_a_live_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export SIGKILLed after writing its graph (the OOM killer, ``kill -9``) left its hidden staging folder
    ``.tiny.onnx.XXXX`` (the graph, for a large model gigabytes of external data) beside the output for good: the next
    export made its own and left it. It removes those whose exporter is gone (its lock on the folder died with it),
    and leaves the folder of an export still running into the same path (here a thread held in its parity check: its
    lock is on a file description of its own, as another process's is), which then completes."""
    import os
    import subprocess
    import sys
    import threading
    import time

    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}  # this checkout first, and the caller's packages (ROS: torch --target)
    target = tmp_path / "tiny.onnx"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_EXPORT, str(target)], cwd=root, env=env, capture_output=True, check=False
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    stale = [p for p in tmp_path.glob(".tiny.onnx.*") if p.is_dir()]
    assert len(stale) == 1 and (stale[0] / "tiny.onnx").is_file() and not target.exists()
    an_hour_ago = time.time() - 3600.0  # an earlier crash: not a folder an exporter has just made
    for path in [stale[0], *stale[0].iterdir()]:
        os.utime(path, (an_hour_ago, an_hour_ago))

    parity = export_module._onnx_parity
    staged, go = threading.Event(), threading.Event()

    def held(*args: object, **kwargs: object) -> object:
        if threading.current_thread() is not threading.main_thread():
            staged.set()
            assert go.wait(timeout=120)
        return parity(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(export_module, "_onnx_parity", held)
    failures: list[BaseException] = []

    def live_export() -> None:
        try:
            network, spec = tiny_unet(output_kind=OutputKind.METRIC)
            export_onnx(network, spec, target, exporter="legacy")
        except BaseException as err:  # reported by the test
            failures.append(err)
            staged.set()

    live = threading.Thread(target=live_export)
    live.start()
    try:
        assert staged.wait(timeout=120) and not failures, failures
        running = [p for p in tmp_path.glob(".tiny.onnx.*") if p.is_dir() and p != stale[0]]
        assert len(running) == 1
        for path in [running[0], *running[0].iterdir()]:
            os.utime(path, (an_hour_ago, an_hour_ago))  # old, but its exporter holds it
        network, spec = tiny_unet(output_kind=OutputKind.METRIC)
        export_onnx(network, spec, target, exporter="legacy")
        assert not stale[0].exists()
        assert running[0].is_dir() and (running[0] / "tiny.onnx").is_file()
    finally:
        go.set()
        live.join(timeout=120)
    assert not failures, failures
    assert not running[0].exists() and target.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


class _Traced(nn.Module):
    """Depth in metres (``near``..``far`` across the image, ``sky`` above ``sky_rows``), whose TorchScript trace
    differs from eager torch by ``fault`` (the graph an exporter wrote): ``fault(depth, x)`` gives the traced output."""

    def __init__(
        self,
        fault: Callable[[Tensor, Tensor], Tensor],
        near: float = 8.3,
        far: float = 34.6,
        sky: float = 0.0,
        sky_rows: int = 0,
    ) -> None:
        super().__init__()
        self.fault, self.near, self.far, self.sky, self.sky_rows = fault, near, far, sky, sky_rows

    def forward(self, x: Tensor) -> Tensor:
        depth = self.near + (self.far - self.near) * torch.sigmoid(x.mean(1, keepdim=True))
        if self.sky_rows:
            depth = torch.cat(
                (torch.full_like(depth[:, :, : self.sky_rows], self.sky), depth[:, :, self.sky_rows :]), 2
            )
        return self.fault(depth, x) if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() else depth


_SPEC_96x320 = ModelSpec("tiny_metres", input=InputPolicy(height=96, width=320, multiple_of=32))


def _far(depth: Tensor, offset: float) -> Tensor:
    """``depth`` with ``offset`` added where it is past 30 m (where float32 rounds most coarsely)."""
    return torch.where(depth > 30.0, depth + offset, depth)


def test_an_export_that_rounds_tens_of_metres_differently_passes(tmp_path: Path) -> None:
    """A unet trained 200 steps on the KITTI demo frames (output 8.3-34.6 m) exported at 96x320 was refused: "ONNX
    export differs from torch by 0.0011 (tolerance 0.001); not usable", 0.0011 m at a pixel of 33.8 m (3.3e-5 of it):
    float32's rounding of tens of metres over another summation order. Such an export passes, in both formats' check."""
    result = export_torchscript(_Traced(lambda d, x: _far(d, 0.0011)), _SPEC_96x320, tmp_path / "m.pt")
    assert result.max_abs_diff == pytest.approx(0.0011, rel=1e-2)
    result = export_onnx(_Traced(lambda d, x: _far(d, 0.0011)), _SPEC_96x320, tmp_path / "m.onnx", exporter="legacy")
    assert result.max_abs_diff == pytest.approx(0.0011, rel=1e-2)
    with pytest.raises(CheckpointError, match=r"ONNX export .*m\.onnx differs from torch by 0\.01 .*not usable"):
        export_onnx(_Traced(lambda d, x: _far(d, 0.01)), _SPEC_96x320, tmp_path / "m.onnx", exporter="legacy")


@pytest.mark.parametrize(
    ("fault", "network"),
    [
        (lambda d, x: _far(d, 0.01), _Traced),  # 1 cm at 30 m: 3e-4 of it
        (lambda d, x: d * 1.001, _Traced),  # a scale off by 1e-3
        (lambda d, x: torch.nn.functional.avg_pool2d(d, 3, 1, 1, count_include_pad=False), _Traced),  # another op
        (
            lambda d, x: 8.3 + 26.3 * torch.sigmoid(((x - 0.45) / 0.225).mean(1, keepdim=True)),
            _Traced,
        ),  # normalised twice
        (lambda d, x: torch.where(d > 30.0, d * float("nan"), d), _Traced),  # NaN where torch has a depth
        (lambda d, x: torch.where(d < 20.0, d + 0.5, d), lambda f: _Traced(f, sky=1e4, sky_rows=8)),  # sky at 10 km
    ],
    ids=["1cm-at-30m", "scale", "smoothed", "normalised-twice", "nan", "0.5m-below-a-10km-sky"],
)
def test_an_export_that_computes_something_else_is_refused(
    tmp_path: Path, fault: Callable[[Tensor, Tensor], Tensor], network: Callable[..., nn.Module]
) -> None:
    """The parity bound is max(1e-3, 1e-4 x |eager output|) at each output: an export off by more at any pixel is
    refused, however large the model's other outputs are (a sky at 10 km widens the bound of the sky only)."""
    with pytest.raises(CheckpointError, match=r"TorchScript trace .*m\.pt differs from torch by .*not usable"):
        export_torchscript(network(fault), _SPEC_96x320, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_an_export_that_gives_a_number_where_torch_gives_nan_is_refused_naming_both(tmp_path: Path) -> None:
    """Eager torch's NaN sky where the trace gives 0 m is refused naming both values, not "in its output's shape" (the
    words of an output of another size, which sent the user to look for a resize that is not there)."""
    network = _Traced(lambda d, x: d.nan_to_num(nan=0.0), sky=float("nan"), sky_rows=8)
    with pytest.raises(CheckpointError, match=r"differs from torch by giving 0 where torch gives nan; not usable"):
        export_torchscript(network, _SPEC_96x320, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
