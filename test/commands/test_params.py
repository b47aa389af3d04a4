"""Tests for commands/params.py through the `mono-depth params` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.cli import main
from mono_depth_ros.commands.params import ParamRow, format_table, preset_rows
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.unet import make_unet_spec


def test_presets_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--encoder", "resnet18", "--width", "tiny", "small"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "encoder", "decoder", "heads", "total"]
    assert lines[1].split() == ["unet", "resnet18", "tiny", "2,798,880", "790,784", "1,156", "3,590,820"]
    assert lines[2].split()[-1] == "14,329,236"
    assert len(lines) == 3


def test_options_change_the_counts() -> None:
    plain = preset_rows(["resnet18"], ["tiny"], aspp=False, difference=False, pixel_shuffle=False, preact=False)
    shuffled = preset_rows(["resnet18"], ["tiny"], aspp=False, difference=False, pixel_shuffle=True, preact=False)
    assert shuffled[0].counts["decoder"] > plain[0].counts["decoder"]  # 4× wide reduce convs
    assert shuffled[0].counts["encoder"] == plain[0].counts["encoder"]


def test_checkpoint_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = make_unet_spec("resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 8, 8, 16])
    path = save_checkpoint(tmp_path / "m.safetensors", build_model(spec).state_dict(), spec)
    assert main(["params", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("unet (m.safetensors)")
    assert len(out) == 2


def test_missing_checkpoint_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--checkpoint", str(tmp_path / "none.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_format_table_adds_other_parts() -> None:
    table = format_table([ParamRow("x", {"encoder": 1, "backbone": 5, "total": 6})])
    header, row = table.splitlines()
    assert header.split() == ["model", "encoder", "decoder", "heads", "backbone", "total"]
    assert row.split() == ["x", "1", "0", "0", "5", "6"]


def test_a_hugging_face_directory_is_counted_and_a_model_made_elsewhere_is_refused_without_a_false_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--checkpoint DIR` / `--checkpoint MODEL.onnx` were refused with "run it with model.backend: transformers" /
    "set model.backend to 'onnx'": options `mono-depth params` does not have. A directory is counted (as transformers
    builds it); an exported graph is refused naming what params counts."""
    import transformers

    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("glpn", tmp_path / "glpn")
    expected = sum(
        p.numel() for p in transformers.AutoModelForDepthEstimation.from_pretrained(str(directory)).parameters()
    )
    assert main(["params", "--checkpoint", str(directory)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.startswith("transformers glpn (glpn)") and row.split()[-1] == f"{expected:,}"
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x07")
    assert main(["params", "--checkpoint", str(onnx)]) == 2
    err = capsys.readouterr().err
    assert "model.backend" not in err and "a project checkpoint (.safetensors) or a Hugging Face directory" in err


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--encoder", "resnet50"], "--encoder resnet50"),
        (["--width", "base"], "--width base"),
        (["--aspp"], "--aspp"),
        (["--preact", "--pixel-shuffle"], "--pixel-shuffle, --preact"),
    ],
)
def test_a_preset_option_beside_a_checkpoint_is_refused(
    tmp_path: Path, options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--checkpoint`` counts that model; the preset options choose rows of the preset table, which is not printed
    then: ``--checkpoint m.safetensors --aspp`` printed the checkpoint's row, the ASPP dropped without a word (exit
    0). Refused naming the options."""
    spec = make_unet_spec("resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 8, 8, 16])
    path = save_checkpoint(tmp_path / "m.safetensors", build_model(spec).state_dict(), spec)
    assert main(["params", "--checkpoint", str(path), *options]) == 2
    assert f"{named} is not read with --checkpoint" in capsys.readouterr().err


def test_a_hugging_face_directory_builds_its_transformers_config_once_for_its_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`params --checkpoint DIR` built config.json's transformers config object three times: the folder check and
    the spec (its patch multiple, its depth range) built it twice; now once, handed on, plus the network's own
    build that the count needs."""
    from mono_depth_ros.commands.params import checkpoint_row
    from test.models.hf_tiny import count_config_builds, write_tiny_family

    directory = write_tiny_family("depth_anything_metric", tmp_path / "da")
    built = count_config_builds(monkeypatch)
    row = checkpoint_row(directory)
    assert built == ["depth_anything"] * 2 and row.counts["total"] > 0, (built, row)
