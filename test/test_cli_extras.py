"""A plain ``pip install mono_depth_ros`` (no extras): every sub-command works or names the extra in one line.

The optional packages are hidden from a real subprocess by an import hook (what a machine without them sees:
``ModuleNotFoundError``), so this runs in the test environment, which has them all.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mono_depth_ros.cli import EXTRA_OF_MODULE

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNER = textwrap.dedent(
    """
    import importlib.abc, sys
    HIDDEN = set(sys.argv[1].split(","))
    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Hide())
    from mono_depth_ros.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


def plain_install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    hidden = ",".join(EXTRA_OF_MODULE)
    return subprocess.run([sys.executable, "-c", RUNNER, hidden, *args], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, check=False)  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--out", "demo", "--frames", "2"],
        ["bag", "{kitti_bag}", "out"],  # the shipped model needs torch
        ["params"],
        ["train", "--config", str(REPO_ROOT / "config" / "train_demo.yaml")],
        ["eval", "--checkpoint", "x.safetensors", "--dataset", "synthetic"],
        ["distill", "--teacher", "x.safetensors", "--folders", "."],
        ["export", "--out", "x.onnx"],
        ["weights", "--list"],
    ],
    ids=lambda args: args[0],
)
def test_every_sub_command_works_or_names_its_extra(tmp_path: Path, args: list[str], kitti_bag: Path) -> None:
    result = plain_install(tmp_path, *(arg.format(kitti_bag=kitti_bag) for arg in args))
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr  # one line
        assert "pip install 'mono_depth_ros[" in lines[0] or "error:" in lines[0], lines[0]


@pytest.fixture
def kitti_bag(tmp_path: Path, kitti_object_dir: Path) -> Path:
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    write_kitti_bag(tmp_path / "kitti", load_kitti_frames(kitti_object_dir, ("000000",)), prediction="metric")
    return tmp_path / "kitti"


def test_the_bag_runner_needs_only_opencv_for_an_external_prediction(tmp_path: Path, kitti_bag: Path) -> None:
    params = ["--param", "model.backend=external", "--param", "model.output_kind=metric", "--param", "scale.mode=none"]
    result = plain_install(tmp_path, "bag", str(kitti_bag), "out", "-q", *params)
    assert result.returncode == 2 and "pip install 'mono_depth_ros[cv]'" in result.stderr, result.stderr
    with_cv = subprocess.run(
        [sys.executable, "-c", RUNNER, ",".join(m for m in EXTRA_OF_MODULE if m != "cv2"), "bag", str(kitti_bag),
         "out_with_cv", "-q", *params],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert with_cv.returncode == 0 and "frames in 1, out 1" in with_cv.stdout, with_cv.stderr  # no torch needed


def setup_requirements() -> tuple[set[str], dict[str, set[str]]]:
    """setup.py's install_requires and extras_require, as lower-case distribution names."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text(encoding="utf-8"))
    values = {
        node.arg: ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg in ("install_requires", "extras_require")
    }
    name = lambda requirement: re.match(r"[\w.-]+", requirement).group(0).lower()  # type: ignore[union-attr]  # noqa: E731
    core = {name(requirement) for requirement in values["install_requires"]}
    extras = {extra: {name(r) for r in requirements} for extra, requirements in values["extras_require"].items()}
    return core, extras


def test_each_module_named_with_an_extra_is_optional_and_in_that_extra() -> None:
    """The line a sub-command prints for a missing module names the extra that brings it: the module's distribution is
    in that extra of setup.py and not a core requirement (a missing tqdm, core since `pip install mono_depth_ros`
    brings it, was sent to the train extra, which pulls torch)."""
    core, extras = setup_requirements()
    distributions = importlib.metadata.packages_distributions()
    for module, extra in EXTRA_OF_MODULE.items():
        names = {name.lower() for name in distributions.get(module, [module])}
        assert not names & core, f"{module} is a core requirement ({sorted(names & core)}), not an extra's"
        assert names & extras[extra], f"{module} ({sorted(names)}) is not in the {extra} extra: {sorted(extras[extra])}"
