"""The remedies the package's messages give name things that exist.

Every parameter or config key after "set", "--param", "--set", "state", "leave", ... in a string of mono_depth_ros is
a node parameter (config.PARAMS), or in the training code a ``section.key`` of the train / distillation configs; every
``--option`` a message names is an option of some ``mono-depth`` sub-command (the options of other tools it quotes,
``ros2 bag record --compression-mode``, are in test_docs.OTHER_TOOL_OPTIONS); every `` `mono-depth SUB ...` `` a
message quotes parses, with its placeholders filled (a user copies it)."""

from __future__ import annotations

import argparse
import ast
import fnmatch
import functools
import importlib
import re
import shlex
from pathlib import Path

import pytest

from mono_depth_ros.cli import COMMANDS
from mono_depth_ros.config import PARAMS_BY_NAME
from test.test_docs import OTHER_TOOL_OPTIONS, cli_options, config_keys

PACKAGE = Path(__file__).resolve().parents[1] / "mono_depth_ros"
REMEDY = re.compile(
    r"\b(?:set|--param|--set|state|leave|raise|lower|give|pass|use|add|with) ([a-z_]+(?:\.[a-z_0-9*]+)+)"
    r"|--param ([a-z_]+)="
)


TRAINING = ("mono_depth_ros/training/", "mono_depth_ros/commands/train.py", "mono_depth_ros/commands/distill.py")
"""Where a remedy may name a key of the train / distillation configs; everywhere else it names a node parameter."""


@functools.cache
def strings() -> list[tuple[str, str]]:
    """(``file:line``, text) of every string constant in the package (f-string parts included)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node.value))
    return found


@functools.cache
def messages() -> list[tuple[str, str]]:
    """:func:`strings` without the docstrings (what a user is told, not how the code is explained)."""
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, documented) and ast.get_docstring(node, clean=False) is not None:
                docstrings.add(f"{path.relative_to(PACKAGE.parent)}:{node.body[0].lineno}")
    return [(where, text) for where, text in strings() if where not in docstrings]


def quoted_commands() -> list[tuple[str, list[str]]]:
    """(``file:line``, argv) of each `` `mono-depth SUB ARG...` `` in a message (f-strings with their fields as
    placeholders; docstrings left out: a module's usage line is no remedy)."""
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)  # type: ignore[attr-defined]
            for node in ast.walk(tree)
            if isinstance(node, documented) and ast.get_docstring(node, clean=False) is not None
        }
        parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if id(node) in parts:
                continue  # read with its f-string
            if isinstance(node, ast.JoinedStr):
                text = "".join(part.value if isinstance(part, ast.Constant) else "VALUE" for part in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            else:
                continue
            for command in re.findall(r"`(mono-depth [^`]+)`", text):
                argv = shlex.split(command.replace("...", "").replace("HxW", "96x320"))[1:]
                if len(argv) >= 2:  # `mono-depth export` alone names the command
                    found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", argv))
    return found


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
    known = cli_options() | OTHER_TOOL_OPTIONS
    wrong = [
        f"{where}: {option}"
        for where, text in strings()
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*)", text)
        if option not in known
    ]
    assert not wrong, f"options that no mono-depth sub-command takes: {wrong}"


@pytest.mark.parametrize(("where", "argv"), quoted_commands(), ids=lambda item: str(item)[:60])
def test_each_command_a_message_quotes_parses(where: str, argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"mono-depth {argv[0]}", exit_on_error=False)
    importlib.import_module(COMMANDS[argv[0]][0]).add_arguments(parser)
    try:
        parser.parse_args(argv[1:])
    except (argparse.ArgumentError, SystemExit) as err:
        pytest.fail(f"{where}: `mono-depth {' '.join(argv)}` does not parse: {err}")


def test_every_launch_style_remedy_names_a_launch_argument() -> None:
    """``name:=value`` in a message is what a user types after ``ros2 launch mono_depth_ros depth.launch.py``: the
    name must be one of its arguments (``ros2 launch`` ignores any other), unless it follows ``-p`` (ros2 run) or is
    one of rcl's special remapping names (``__ns:=``, ``__node:=`` after ``--ros-args -r``) or the last part of a
    topic remap rule (``-r /camera/image_raw:=/robot1/cam/image``)."""
    from test.test_launch import ARGUMENTS

    wrong = [
        f"{where}: {name}:="
        for where, text in messages()
        for name in re.findall(r"(?<!-p )(?<![\w./-])([a-z_][\w.]*):=", text)
        if name not in ARGUMENTS and name != "name" and name not in ("__ns", "__node")
    ]
    assert not wrong, f"launch arguments depth.launch.py does not declare: {wrong}"
