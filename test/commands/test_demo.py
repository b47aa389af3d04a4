"""`mono-depth demo` through the CLI entry point: exit code, stdout report, stderr progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.cli import main


def test_demo_command_prints_the_report_and_shows_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--out", str(tmp_path), "--frames", "2", "--width", "96", "--height", "64", "--oracle"]
    assert main([*argv, "--param", "cloud.rgb=true"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("mono-depth demo: synthetic drive, 2 frames 96x64")
    assert "ORACLE PREDICTION, NOT A NETWORK" in captured.out and "AbsRel" in captured.out
    assert "[demo" in captured.err and "render: 2/2" in captured.err
    assert (tmp_path / "report.txt").read_text() == captured.out
    assert (tmp_path / "depth.png").is_file()


def test_demo_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "-q", "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert "mono-depth demo: error: --weights" in capsys.readouterr().err
