"""The ament_python layout ROS 2 expects (ros2_api_notes §1) and the import layering (ARCHITECTURE §1)."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

PACKAGE = "mono_depth_ros"
ROS_MODULES = {"rclpy", "cv_bridge", "message_filters", "tf2_ros", "sensor_msgs", "std_msgs", "geometry_msgs",
               "diagnostic_msgs", "builtin_interfaces", "rcl_interfaces", "tf2_msgs", "sensor_msgs_py", "launch",
               "launch_ros", "ament_index_python"}  # fmt: skip


def test_package_xml_is_format_3_ament_python_with_exec_depends() -> None:
    root = ET.parse(REPO_ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == PACKAGE
    for tag in ("version", "description", "license"):
        assert (root.findtext(tag) or "").strip(), tag
    assert root.find("maintainer").get("email")  # type: ignore[union-attr]
    assert root.findtext("export/build_type") == "ament_python"
    exec_depends = {e.text for e in root.findall("exec_depend")}
    required = {"rclpy", "sensor_msgs", "std_msgs", "geometry_msgs", "diagnostic_msgs", "message_filters",
                "tf2_ros_py", "launch", "launch_ros", "python3-numpy", "python3-opencv", "python3-torch"}  # fmt: skip
    assert required <= exec_depends, required - exec_depends


MODULE_OF_ROS_PACKAGE = {"tf2_ros_py": "tf2_ros"}  # a ROS package whose Python module is named otherwise


def ros_names_used() -> set[str]:
    """The ROS packages the installed code uses: the top-level modules the package and launch/ import, and the
    packages of the ``pkg/msg/Type`` / ``pkg/srv/Type`` names it imports by name (the node's message classes)."""
    used: set[str] = set()
    for path in [*(REPO_ROOT / PACKAGE).rglob("*.py"), *(REPO_ROOT / "launch").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                used |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used |= set(re.findall(r"^(\w+)/(?:msg|srv)/\w+$", node.value))
    return used


def test_every_ros_exec_depend_is_used_by_the_installed_code() -> None:
    """``rosdep install --from-paths src`` (README) installs every ``exec_depend`` on the user's robot. cv_bridge,
    sensor_msgs_py and tf_transformations were listed though nothing imports them (images are decoded in core/,
    rotations are transforms3d's), and rviz2 (Qt and OGRE on a headless robot) though the launch file never starts
    it: README runs it by hand, where a desktop install has it."""
    root = ET.parse(REPO_ROOT / "package.xml").getroot()
    ros_depends = {e.text or "" for e in root.findall("exec_depend")} - {""}
    ros_depends = {name for name in ros_depends if not name.startswith("python3-")}
    used = ros_names_used()
    assert {"rclpy", "tf2_ros", "sensor_msgs", "message_filters"} <= used  # the scan sees the node's imports
    unused = {name for name in ros_depends if MODULE_OF_ROS_PACKAGE.get(name, name) not in used}
    assert not unused, f"package.xml exec_depends nothing imports (rosdep installs them for users): {sorted(unused)}"


def test_setup_cfg_puts_scripts_where_ros2_run_looks() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / "setup.cfg")
    assert cfg["develop"]["script_dir"] == f"$base/lib/{PACKAGE}"
    assert cfg["install"]["install_scripts"] == f"$base/lib/{PACKAGE}"


def test_resource_marker_and_setup_data_files() -> None:
    marker = REPO_ROOT / "resource" / PACKAGE
    assert marker.is_file() and marker.read_text() == ""
    source = (REPO_ROOT / "setup.py").read_text()
    for needed in (
        "share/ament_index/resource_index/packages",
        '"resource/" + package_name',
        '("share/" + package_name, ["package.xml"])',
        'glob("launch/*.launch.py")',
        'glob("config/*.yaml")',
        "mono_depth_node = mono_depth_ros.node:main",
        "mono-depth = mono_depth_ros.cli:main",
    ):
        assert needed in source, needed


def test_install_requires_admit_ros_numpy() -> None:
    source = (REPO_ROOT / "setup.py").read_text()
    assert '"numpy>=1.21"' in source
    assert "numpy>=2" not in source


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_node_py_imports_ros() -> None:
    offenders = {}
    for path in (REPO_ROOT / PACKAGE).rglob("*.py"):
        if path.name == "node.py" and path.parent.name == PACKAGE:
            continue
        ros = _imported_modules(path) & ROS_MODULES
        if ros:
            offenders[str(path.relative_to(REPO_ROOT))] = sorted(ros)
    assert not offenders, f"ROS imports outside node.py: {offenders}"


def test_benchmarks_import_no_ros() -> None:
    # bench/ runs without ROS too; a benchmark of the live node takes its ROS side from test/ros2/harness.py
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(_imported_modules(path) & ROS_MODULES)
        for path in (REPO_ROOT / "bench").rglob("*.py")
        if _imported_modules(path) & ROS_MODULES
    }
    assert not offenders, f"ROS imports in bench/: {offenders}"


def test_core_does_not_reach_up_the_layers() -> None:
    # core/ is the bottom layer: it never imports models, adapters, the pipeline, training, the CLI or ROS.
    upper = {"models", "adapters", "pipeline", "runtime", "node", "node_params", "bag", "training", "cli", "commands",
             "demo", "evaluation"}  # fmt: skip
    offenders = {}
    for path in (REPO_ROOT / PACKAGE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                parts = module.split(".")
                if parts[0] == PACKAGE and len(parts) > 1 and parts[1] in upper:
                    offenders.setdefault(str(path.relative_to(REPO_ROOT)), set()).add(module)
        assert not (_imported_modules(path) & ROS_MODULES), f"{path} imports ROS"
    assert not offenders, f"core imports an upper layer: {offenders}"


def test_every_package_folder_is_a_regular_package() -> None:
    """setup.py's find_packages() installs only folders with an __init__.py (a namespace folder works in a
    checkout but is missing from the colcon / pip install: the real-ROS tier found one)."""
    missing = [
        str(folder.relative_to(REPO_ROOT))
        for folder in (REPO_ROOT / PACKAGE).rglob("*")
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py"))
        and not (folder / "__init__.py").is_file()
    ]  # fmt: skip
    assert not missing, f"add an __init__.py to {missing}"


def test_make_unit_runs_on_workers_the_test_extra_installs_at_their_pins() -> None:
    """``make unit`` runs pytest on ``-n $(UNIT_WORKERS)`` pytest-xdist workers (a number: ``auto`` counts a
    container's host cores), so a fresh clone's ``make test`` must install pytest-xdist: it is in the test extra the
    stamp installs, pinned in constraints.txt with execnet, which it pulls."""
    from test.test_cli_extras import setup_requirements

    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^unit: \$\(STAMP_TEST\)\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe and recipe.group(1) == "$(PY) -m pytest -n $(UNIT_WORKERS)", recipe
    assert re.search(r"^UNIT_WORKERS \?= [1-9][0-9]*$", makefile, re.MULTILINE), "UNIT_WORKERS must default to a number"
    assert re.search(r"^\t\$\(PIP\) install -q -c constraints\.txt -e '\.\[test,", makefile, re.MULTILINE)
    assert "pytest-xdist" in setup_requirements()[1]["test"]
    lines = (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pinned = {line.split("==")[0].lower() for line in lines if "==" in line and not line.startswith("#")}
    assert {"pytest-xdist", "execnet"} <= pinned, sorted(pinned)


def test_the_real_ros_tier_outside_ros_is_skipped_module_by_module_with_the_reason() -> None:
    """``pytest test/ros2`` in the project's .venv (no rclpy): its conftest raised the skip while pytest loaded it
    as an initial conftest, which pytest reports as an error traceback ("Skipped: real-ROS tier: ..."), exit 1.
    Each module of the tier is now skipped with the reason, none imported: pytest's exit for a folder of skipped
    modules, "no tests ran" (5, as ``pytest.skip(allow_module_level=True)`` in each would give). With ROS 2 sourced
    in the shell (rclpy on PYTHONPATH) but outside scripts/ros2_tier.sh, the reason names the script."""
    env = {key: value for key, value in os.environ.items() if key != "MONO_DEPTH_ROS2_WS"}
    if importlib.util.find_spec("rclpy") is None:
        reason = "real-ROS tier: needs ROS 2 sourced (run `make ros2-test`)"
    else:
        reason = "real-ROS tier: run it through scripts/ros2_tier.sh (`make ros2-test`)"
    tier_modules = sorted((REPO_ROOT / "test" / "ros2").glob("test_*.py"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test/ros2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, out
    assert "Traceback" not in out and "error" not in out.lower(), out
    assert f"SKIPPED [{len(tier_modules)}] test/ros2/conftest.py" in out, out
    assert reason in out, out
    assert f"{len(tier_modules)} skipped" in out, out


# a process where torch cannot be imported (as on ROS 2 Jazzy's Python 3.12 in scripts/jazzy_python_tier.sh)
NO_TORCH = "import sys; sys.modules['torch'] = None\n"


# each package whose torch-free modules the tier imports without torch: its names, each with the module it comes from
LAZY_PACKAGES = {
    "mono_depth_ros.demo": {"ORACLE_LABEL": "oracle", "DemoReport": "report", "run_demo": "run"},
    "mono_depth_ros.training.data": dict.fromkeys(["Sample", "SampleBatch", "collate_samples"], "sample"),
}


@pytest.mark.parametrize("module", ["mono_depth_ros.demo.bag_builder", "mono_depth_ros.training.data.kitti_files"])
def test_modules_of_numpy_alone_import_without_torch(module: str) -> None:
    """The bag builder (the bag and adapter tests write their bags with it) and the KITTI file readers use numpy and
    OpenCV alone; their packages' ``__init__`` imported torch-needing modules at once (``demo.run``,
    ``training.data.sample``), so without torch they could not be imported: 30 torch-free test modules (``test/bag``,
    ``test/adapters``, ``test/core``, ...) did not collect under Python 3.12 without torch."""
    no_torch = subprocess.run(
        [sys.executable, "-c", f"{NO_TORCH}import {module}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert no_torch.returncode == 0, no_torch.stderr[-2000:]


@pytest.mark.parametrize("package", sorted(LAZY_PACKAGES))
def test_a_package_imports_its_names_from_their_modules_on_first_use(package: str) -> None:
    """The names of a package whose ``__init__`` imports them on first use (PEP 562) are those of their modules; a
    name the package does not have is an AttributeError."""
    pytest.importorskip("torch")  # the names' modules need it
    package_module = importlib.import_module(package)
    for name, home in LAZY_PACKAGES[package].items():
        assert name in package_module.__all__
        assert getattr(package_module, name) is getattr(importlib.import_module(f"{package}.{home}"), name)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        package_module.nothing_here  # noqa: B018


@pytest.mark.parametrize("package", sorted(LAZY_PACKAGES))
def test_type_checkers_see_the_names_of_a_lazy_package_and_not_its_getattr(package: str) -> None:
    """mypy reads the names from the ``if TYPE_CHECKING:`` imports; a module ``__getattr__`` that mypy could see would
    make every name imported from the package ``Any``: ``from mono_depth_ros.demo import run_demoo`` passed mypy."""
    tree = ast.parse((REPO_ROOT / package.replace(".", "/") / "__init__.py").read_text())
    assert "__getattr__" not in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    guards = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    hidden = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "not TYPE_CHECKING"]
    assert len(guards) == 1 and len(hidden) == 1, ast.dump(tree)
    typed = {
        alias.asname or alias.name
        for node in guards[0].body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == set(LAZY_PACKAGES[package]), typed
    assert [node.name for node in hidden[0].body if isinstance(node, ast.FunctionDef)] == ["__getattr__"]
