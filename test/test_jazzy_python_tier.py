"""scripts/jazzy_python_tier.sh (make jazzy-python-test, part of make test): the torch-free unit tests with Jazzy's
Python 3.12, numpy 1.26 and OpenCV 4.6; skipped with the reason where no Python 3.12 is found."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "jazzy_python_tier.sh"


def tier_arguments() -> list[str]:
    """The pytest arguments of the script's JAZZY_TESTS array."""
    match = re.search(r"\nJAZZY_TESTS=\(\n(.*?)\n\)\n", SCRIPT.read_text(), re.S)
    assert match, "JAZZY_TESTS=( ... ) not found in the script"
    return match.group(1).split()


def run_without_python312(tmp_path: Path, cwd: Path = REPO_ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """The script on a PATH with no python3.12 and an empty pyenv root."""
    path = ":".join(folder for folder in ("/usr/bin", "/bin") if not (Path(folder) / "python3.12").exists())
    environ = {"PATH": path, "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv"), **env}
    environ.update({key: os.environ[key] for key in ("LANG", "LC_ALL") if key in os.environ})
    return subprocess.run(
        ["bash", str(SCRIPT)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_without_python_312_the_step_is_skipped_with_the_reason_or_fails_when_required(tmp_path: Path) -> None:
    skipped = run_without_python312(tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "jazzy python tier: SKIPPED (not an error): no Python 3.12" in skipped.stdout
    assert "MONO_DEPTH_PY312=" in skipped.stdout  # the remedy
    assert not (tmp_path / ".cache").exists()  # nothing built
    required = run_without_python312(tmp_path, MONO_DEPTH_REQUIRE_PY312="1")
    assert required.returncode == 1 and "jazzy python tier: cannot run: no Python 3.12" in required.stderr


def test_a_python_given_that_is_not_312_or_not_there_is_an_error_naming_it(tmp_path: Path) -> None:
    """A Python named by hand that is wrong fails the step: a typo in CI's MONO_DEPTH_PY312 was a green skip."""
    other = run_without_python312(tmp_path, MONO_DEPTH_PY312="/bin/true")
    assert other.returncode == 1 and "MONO_DEPTH_PY312=/bin/true is no Python 3.12" in other.stderr, other
    missing = run_without_python312(tmp_path, MONO_DEPTH_PY312=str(tmp_path / "python3.12"))
    assert missing.returncode == 1, missing
    assert f"MONO_DEPTH_PY312={tmp_path / 'python3.12'}: no such program" in missing.stderr, missing.stderr
    assert not (tmp_path / ".cache").exists()  # nothing built


def test_a_python_given_by_a_relative_path_is_run_by_its_absolute_path(tmp_path: Path) -> None:
    """The venv's requirements are read from the repository's folder: ``MONO_DEPTH_PY312=../py/bin/python3.12`` failed
    there (``No such file or directory``, exit 127) on a first run. A stand-in Python that logs how it was called."""
    fake = tmp_path / "py" / "python3.12"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\necho "$0" >> "$FAKE_LOG"\n'
        'case "$*" in *version_info*) echo True ;; *sys.version*) echo 3.12.0 ;; *) exit 3 ;; esac\n'
    )
    fake.chmod(0o755)
    log = tmp_path / "calls.txt"
    (tmp_path / "here").mkdir()
    run = run_without_python312(
        tmp_path, cwd=tmp_path / "here", MONO_DEPTH_PY312="../py/python3.12", MONO_DEPTH_CACHE="cache",
        FAKE_LOG=str(log),
    )  # fmt: skip
    assert run.returncode == 3, run  # its `-m venv` fails: the build stops there
    calls = log.read_text().split()
    assert calls[0] == "../py/python3.12" and set(calls[1:]) == {str(fake)}, calls  # after the check: absolute
    assert list((tmp_path / "here" / "cache").glob("py312-jazzy-*"))  # the cache where it was named


def test_every_path_and_deselected_test_the_step_names_exists() -> None:
    """A renamed or removed module or test would silently leave the step (pytest ignores an --ignore or --deselect
    that matches nothing)."""
    arguments = tier_arguments()
    assert len(arguments) > 20
    for argument in arguments:
        name, _, value = argument.partition("=")
        if name == "--deselect":
            path, _, test = value.partition("::")
            tree = ast.parse((REPO_ROOT / path).read_text())
            tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
            assert test in tests, f"{argument}: no test {test} in {path}"
            # pytest deselects every test whose id starts with the argument: test_x also took test_x_and_more
            assert not {other for other in tests if other.startswith(test) and other != test}, argument
        else:
            assert name in ("--ignore", argument), argument
            assert (REPO_ROOT / (value or argument)).exists(), argument


def test_every_test_module_the_step_runs_is_collected_without_torch() -> None:
    """The step's Python has no torch: a test module it runs that imports torch, itself or through the module it
    tests, is a collection error there that fails ``make test`` (``test/training/trainer/test_log.py`` imported torch
    and ``training.trainer.log`` the torch-needing ``distributed``). Collected here with torch made unimportable."""
    no_torch = (
        "import sys; sys.modules['torch'] = None\n"
        "import pytest\n"
        f"sys.exit(pytest.main(['-q', '--collect-only', '-p', 'no:cacheprovider', *{tier_arguments()!r}]))\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    collected = subprocess.run(
        [sys.executable, "-c", no_torch], cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-2000:]


def test_make_test_runs_the_step_before_the_real_ros_tier() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\njazzy-python-test:\n\tbash scripts/jazzy_python_tier.sh -n $(UNIT_WORKERS)\n" in makefile  # as make unit
    test_target = re.search(r"\ntest: (.*)\n", makefile)
    assert test_target, makefile
    steps = test_target.group(1).split()
    assert steps.index("jazzy-python-test") < steps.index("ros2-test"), steps


def test_the_cached_venv_is_keyed_by_the_requirements_and_pins_and_built_under_the_lock() -> None:
    """A change of setup.py, constraints.txt, the Jazzy pins or the Python makes a new venv, built once at a time."""
    text = SCRIPT.read_text()
    key = re.search(r'\nkey="\$\((.*?)sha256sum', text, re.S)
    assert key, "the venv's key not found"
    for part in ('"$REPO/setup.py"', '"$REPO/constraints.txt"', "${JAZZY_PINS[*]}", "$py_version"):
        assert part in key.group(1), part
    assert 'VENV="$CACHE/py312-jazzy-$key"' in text and 'build_once "$VENV" build_venv' in text
    assert re.search(r"\nJAZZY_PINS=\(numpy==1\.26\.\d+ opencv-python-headless==4\.6\.0\.\d+\)", text)
