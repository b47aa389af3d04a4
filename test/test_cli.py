from __future__ import annotations

import argparse
import importlib

import pytest

from mono_depth_ros.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_has_the_contract(name: str) -> None:
    module = importlib.import_module(COMMANDS[name][0])
    assert isinstance(module.HELP, str) and module.HELP
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    assert callable(module.run)


def test_help_and_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("bag", "demo", "export", "weights", "params"):
        assert name in out
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_depth_errors_become_exit_code_2_without_traceback(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert main(["bag", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "mono-depth bag: error:" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["train", "distill", "export", "eval"])
def test_the_training_commands_help_gives_each_options_default(name: str) -> None:
    """``mono-depth eval --help`` said "--device cpu | cuda | auto" without its default (cpu, where the node's
    ``device`` and the trainers' ``run.device`` default to auto): each option with a default says it."""
    parser = argparse.ArgumentParser()
    importlib.import_module(COMMANDS[name][0]).add_arguments(parser)
    silent = [
        f"{action.option_strings}: {action.help}"
        for action in parser._actions
        if action.default not in (None, False, [], argparse.SUPPRESS)
        and not ("default" in str(action.help) and str(action.default) in str(action.help))
    ]
    assert not silent, f"mono-depth {name}: options whose help does not give their default: {silent}"


@pytest.mark.parametrize(
    ("name", "written"), [("train", "--config <out>/config.yaml"), ("distill", "--student <out>/distill_config.yaml")]
)
def test_the_resume_help_says_where_auto_looks_and_which_file_it_takes(name: str, written: str) -> None:
    """``--resume auto|FILE``: "continue from the latest checkpoint (auto) or a file" left out where auto looks (the
    run's run.out_dir, so the run's --out or config), which file (a checkpoint's model file with its .state.pt; the
    run folder and the final model are refused) and with which settings."""
    parser = argparse.ArgumentParser()
    importlib.import_module(COMMANDS[name][0]).add_arguments(parser)
    (resume,) = [action for action in parser._actions if action.dest == "resume"]
    text = " ".join(str(resume.help).split())
    assert "run.out_dir (--out)" in text and "checkpoints/step_N.safetensors" in text and written in text, text


def test_the_top_level_help_of_eval_names_the_frames_its_own_help_names() -> None:
    """``mono-depth --help`` said eval scores "KITTI / NYU / synthetic frames"; ``mono-depth eval --help`` and its
    ``--dataset folder`` score one's own frames too."""
    module = importlib.import_module(COMMANDS["eval"][0])
    assert "KITTI / NYU / own / synthetic frames" in module.HELP
    assert "KITTI / NYU / own / synthetic frames" in COMMANDS["eval"][1], COMMANDS["eval"][1]


def test_python_dash_m_mono_depth_ros_runs_the_cli_with_its_exit_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``python -m mono_depth_ros --help`` (what a user tries where the ``mono-depth`` script is not on PATH: a
    ``pip install --target``, ROS's Python) said "No module named mono_depth_ros.__main__"; it is the CLI, with its
    program name in the usage and its exit codes (2 for a bag that is not there)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    shown = subprocess.run(
        [sys.executable, "-m", "mono_depth_ros", "--help"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: mono-depth "), shown.stderr
    assert all(name in shown.stdout for name in COMMANDS)
    failed = subprocess.run(
        [sys.executable, "-m", "mono_depth_ros", "bag", "missing", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert failed.returncode == 2 and "mono-depth bag: error:" in failed.stderr, failed.stderr


def test_importing_the_package_main_module_runs_nothing() -> None:
    """Tools that import every module of the package (docs builders, test collectors, ``pkgutil.walk_packages``)
    import ``mono_depth_ros.__main__``: that must not run the CLI (which would parse the tool's own argv and exit)."""
    import importlib
    import sys

    sys.modules.pop("mono_depth_ros.__main__", None)
    module = importlib.import_module("mono_depth_ros.__main__")
    assert callable(module.main)
