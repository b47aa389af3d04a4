"""Tests for `mono-depth weights`: clean failures without network / package / permission, and the happy path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from mono_depth_ros.cli import main
from mono_depth_ros.commands import weights
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.depth_anything import build_depth_anything, depth_anything_spec, save_depth_anything
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig

from ..models.tiny_models import TINY_DA

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: "connection refused", instantly


def test_unreachable_hub_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["weights", "depth-anything-v2-small", "--out", str(tmp_path / "da"), "--endpoint", UNREACHABLE])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "Hugging Face Hub is unreachable" in err and "machine with internet" in err


def test_fetch_form_fails_at_once_with_the_command_to_run_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = "apple/DepthPro-hf"
    code = main(["weights", "fetch", repo, "--to", str(tmp_path / "dp"), "--endpoint", UNREACHABLE])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert f"run `mono-depth weights fetch {repo} --to DIR` on a machine with internet" in err


def test_offline_mode_is_respected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def must_not_run(**kwargs: object) -> None:
        raise AssertionError("download attempted while HF_HUB_OFFLINE is set")

    monkeypatch.setattr("huggingface_hub.snapshot_download", must_not_run)
    assert main(["weights", "depth-anything-v2-small", "--out", str(tmp_path)]) != 0
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_missing_package_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    assert main(["weights", "depth-anything-v2-small", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "pip install 'mono_depth_ros[hf]'" in err and "Traceback" not in err


def test_unknown_name_and_missing_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "midas", "--out", "x"]) != 0
    assert "depth-anything-v2-small" in capsys.readouterr().err
    assert main(["weights", "depth-anything-v2-small"]) != 0
    assert "--to DIR is required" in capsys.readouterr().err
    assert main(["weights", "fetch"]) != 0
    assert "weights fetch OWNER/REPO --to DIR" in capsys.readouterr().err
    assert weights.resolve_repo("org/repo") == "org/repo"
    with pytest.raises(ConfigError):
        weights.resolve_repo("org/")


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "--list"]) == 0
    out = capsys.readouterr().out
    assert "depth-anything/Depth-Anything-V2-Small-hf" in out and "Apache-2.0" in out and "non-commercial" in out


def test_download_then_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, object]] = []

    def fake_snapshot_download(**kwargs: object) -> str:
        calls.append(kwargs)
        torch.manual_seed(0)
        save_depth_anything(build_depth_anything(depth_anything_spec(TINY_DA)), Path(str(kwargs["local_dir"])))
        return str(kwargs["local_dir"])

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    out_dir = tmp_path / "da"
    assert main(["weights", "depth-anything-v2-small", "--out", str(out_dir)]) == 0
    assert calls[0]["repo_id"] == "depth-anything/Depth-Anything-V2-Small-hf"
    assert "model.safetensors" in calls[0]["allow_patterns"]  # type: ignore[operator]
    assert f"model.weights={out_dir}" in capsys.readouterr().out
    estimator = DepthEstimator.open("depth_anything_v2", out_dir, EstimatorConfig(device="cpu", warmup_runs=0))
    assert estimator.output_kind.value == "relative_inverse"


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("depth_pro", ["Depth Pro: output metric; takes the camera's focal length (camera_info)"]),
        ("prompt_depth_anything", ["Prompt Depth Anything: output metric; takes a LiDAR (lidar_topic) prompt"]),
        ("dpt", ["DPT / MiDaS 3.x: output relative_inverse", "relative depth: add --param lidar_topic"]),
    ],
)
def test_fetch_checks_any_depth_family_and_prints_its_parameters(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    family: str,
    expected: list[str],
) -> None:
    from test.models.hf_tiny import write_tiny_family

    calls: list[dict[str, object]] = []

    def fake_snapshot_download(**kwargs: object) -> str:
        calls.append(kwargs)
        return str(write_tiny_family(family, Path(str(kwargs["local_dir"]))))

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    out_dir = tmp_path / family
    assert main(["weights", "fetch", f"someone/{family}", "--to", str(out_dir)]) == 0
    assert calls[0]["repo_id"] == f"someone/{family}"
    patterns = list(calls[0]["allow_patterns"])  # type: ignore[call-overload]
    assert {"preprocessor_config.json", "processor_config.json"} <= set(
        patterns
    )  # safetensors and JSON only, never pickle
    assert not any(pattern.endswith((".bin", ".pt", ".pth", ".ckpt", "*")) for pattern in patterns)
    out = capsys.readouterr().out
    assert f"--param model.backend=transformers --param model.weights={out_dir}" in out
    for line in expected:
        assert line in out


def test_the_parameters_printed_for_a_model_of_unknown_kind_are_ones_a_shell_and_the_node_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A depth model_type the project has no output kind for (TIPS v2 DPT with its family entry removed: every
    depth type of this transformers has one) prints model.output_kind to state; it was printed as
    `--param model.output_kind=metric|relative_inverse`: a shell pipe, and no value the node takes."""
    import shlex

    from mono_depth_ros.commands.weights import usage_lines
    from mono_depth_ros.config import load_config
    from mono_depth_ros.models.hf_families import FAMILIES

    monkeypatch.delitem(FAMILIES, "tipsv2_dpt")
    (tmp_path / "config.json").write_text('{"model_type": "tipsv2_dpt"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    lines = usage_lines(tmp_path)
    assert lines[0] == "tipsv2_dpt: output unknown (state it)"
    words = shlex.split(lines[1].removeprefix("use it with: "))
    assert "|" not in lines[1] and words[::2] == ["--param"] * (len(words) // 2)
    for kind in ("metric", "relative_inverse", "affine_depth"):  # KIND, as the next line says
        assert f"KIND: {kind}" in lines[2] or f"or {kind}" in lines[2] or f", {kind}" in lines[2]
        params = [word.replace("=KIND", f"={kind}") for word in words[1::2]]
        assert load_config(None, params)["model.output_kind"] == kind


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--list", "depth-anything-v2-small", "--out", "OUT"], "depth-anything-v2-small, --out"),
        (["--list", "--revision", "main"], "--revision main"),
        (["--out", "OUT"], "--out"),
        (["--endpoint", "https://hf-mirror.com"], "--endpoint https://hf-mirror.com"),
    ],
)
def test_a_download_option_where_the_list_is_printed_is_refused(
    tmp_path: Path, options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--list`` (or no name) prints the known weights and stops: a name, ``--out``, ``--revision`` or
    ``--endpoint`` beside it were dropped (exit 0, the list, no download and no word of it). Refused naming them,
    with the form that downloads."""
    given = [str(tmp_path / "w") if o == "OUT" else o for o in options]
    assert main(["weights", *given]) == 2
    err = capsys.readouterr().err
    assert named.replace("OUT", str(tmp_path / "w")) in err and "is not read" in err and "--out DIR" in err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("family", ["glpn", "depth_anything_metric"])
def test_the_usage_lines_build_the_transformers_config_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    """`weights fetch`'s usage lines built config.json's transformers config object twice (the folder check, then
    the spec's patch multiple and depth range): once now, handed on as the node's load does."""
    from test.models.hf_tiny import count_config_builds, write_tiny_family

    directory = write_tiny_family(family, tmp_path / family)
    built = count_config_builds(monkeypatch)
    lines = weights.usage_lines(directory)
    assert built == [built[0]] and "output metric" in lines[0], (built, lines)
