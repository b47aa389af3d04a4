"""The remedies the package's messages give name things that exist.

Every parameter or config key after "set", "--param", "--set", "state", "leave", ... in a string of mono_depth_ros is
a node parameter (config.PARAMS), or in the training code a ``section.key`` of the train / distillation configs; every
``--option`` a message names is an option of some ``mono-depth`` sub-command (the options of other tools it quotes,
``ros2 bag record --compression-mode``, are listed)."""

from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib
import re
from pathlib import Path

from mono_depth_ros.cli import COMMANDS
from mono_depth_ros.config import PARAMS_BY_NAME
from test.test_docs import config_keys

PACKAGE = Path(__file__).resolve().parents[1] / "mono_depth_ros"
REMEDY = re.compile(
    r"\b(?:set|--param|--set|state|leave|raise|lower|give|pass|use|add|with) ([a-z_]+(?:\.[a-z_0-9*]+)+)"
    r"|--param ([a-z_]+)="
)
OTHER_TOOLS = {  # options of ros2 / tf2_ros / torchrun / monodepth2 that messages and docstrings quote
    "--compression-mode", "--storage-preset-profile", "--loop", "--frame-id", "--child-frame-id", "--roll",
    "--pitch", "--yaw", "--qx", "--qy", "--qz", "--qw", "--params-file", "--ros-args", "--nproc", "--eval",
    "--disable",
}  # fmt: skip


TRAINING = ("mono_depth_ros/training/", "mono_depth_ros/commands/train.py", "mono_depth_ros/commands/distill.py")
"""Where a remedy may name a key of the train / distillation configs; everywhere else it names a node parameter."""


def strings() -> list[tuple[str, str]]:
    """(``file:line``, text) of every string constant in the package (f-string parts included)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node.value))
    return found


def cli_options() -> set[str]:
    options: set[str] = set()

    def collect(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            options.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    collect(sub)

    for module, *_ in COMMANDS.values():
        parser = argparse.ArgumentParser()
        importlib.import_module(module).add_arguments(parser)
        collect(parser)
    return options


def test_every_parameter_a_remedy_names_exists() -> None:
    names = set(PARAMS_BY_NAME) | config_keys()
    sections = {name.split(".")[0] for name in names if "." in name}
    wrong = []
    for where, text in strings():
        for name in (dotted or plain for dotted, plain in REMEDY.findall(text)):
            if name == "name" or ("." in name and name.split(".")[0] not in sections):
                continue  # `--param name=value`; config.json, mono_depth_ros.models, ...: not a parameter
            if not fnmatch.filter(names if where.startswith(TRAINING) else PARAMS_BY_NAME, name):
                wrong.append(f"{where}: {name}")
    assert not wrong, f"remedies naming parameters that do not exist: {wrong}"


def test_every_option_a_message_names_is_a_mono_depth_option() -> None:
    known = cli_options() | OTHER_TOOLS
    wrong = [
        f"{where}: {option}"
        for where, text in strings()
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text)
        if option not in known
    ]
    assert not wrong, f"options that no mono-depth sub-command takes: {wrong}"
