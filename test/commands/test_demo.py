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


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--kitti", "KITTI", "--width", "320"], "--width 320 is not read with --kitti"),
        (["--kitti", "KITTI", "--height", "96"], "--height 96 is not read with --kitti"),
        (["--oracle", "--weights", "WEIGHTS"], "is not read with the oracle"),
        (["--param", "model.backend=external", "--weights", "WEIGHTS"], "is not read with the oracle"),
    ],
)
def test_an_option_the_demo_does_not_read_is_refused(
    tmp_path: Path, kitti_object_dir: Path, options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--width`` / ``--height`` size the synthetic drive: with ``--kitti`` (the real frames, 1242x375) they were
    dropped; ``--weights`` with the oracle (``--oracle`` or ``model.backend=external``) ran the oracle and never
    opened the checkpoint. Each exited 0 with the report of what was not asked; now exit 2, naming the option, before
    anything is written."""
    from test.demo.support import write_tiny_checkpoint

    weights = write_tiny_checkpoint(tmp_path / "tiny.safetensors")
    given = [str(kitti_object_dir) if o == "KITTI" else str(weights) if o == "WEIGHTS" else o for o in options]
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--frames", "2", "-q", *given]) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()
