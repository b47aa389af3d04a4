"""What a user copies from README.md and docs/*.md: every `mono-depth` invocation parses, every parameter and option
it names exists, the README's parameter table gives the defaults config.PARAMS has (no command is run), and the
Python snippets run with their placeholders bound."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import itertools
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from mono_depth_ros.cli import COMMANDS
from mono_depth_ros.config import PARAMS_BY_NAME
from mono_depth_ros.training.distillation.config import DistillConfig
from mono_depth_ros.training.trainer.config import TrainConfig
from mono_depth_ros.training.trainer.state import DISTILL_CONFIG_NAME, TRAIN_CONFIG_NAME

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
PLACEHOLDERS = {"HxW": "96x320"}  # a size argument is checked by its argparse type


def page_text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def invocations(text: str) -> list[str]:
    """``mono-depth SUB ...`` lines of fenced blocks and inline code spans (spans may wrap lines)."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("mono-depth "):
                found.append(line)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [command for command in found if command.startswith("mono-depth ")]


def documented_commands() -> list[tuple[str, list[str]]]:
    """(page, argv) of each invocation with arguments: optional ``[...]`` groups and ``...`` dropped, the first of
    ``a | b`` alternatives kept, placeholders replaced."""
    commands = []
    for page in PAGES:
        for command in invocations(page_text(page)):
            command = re.sub(r"\[[^\]]*\]", "", command).replace("...", "").split(" | ")[0]
            for placeholder, value in PLACEHOLDERS.items():
                command = command.replace(placeholder, value)
            argv = shlex.split(command)[1:]
            if len(argv) >= 2:  # `mono-depth bag` alone names the command in prose
                commands.append((page.name, argv))
    return commands


def config_keys() -> set[str]:
    """``section.key`` (and ``section.key.sub``) of the train and distillation configs: what ``--set`` takes."""
    keys: set[str] = set()
    for config in (TrainConfig(), DistillConfig()):
        for section in dataclasses.fields(config):
            value = getattr(config, section.name)
            for field in dataclasses.fields(value):
                keys.add(f"{section.name}.{field.name}")
                inner = getattr(value, field.name)
                if dataclasses.is_dataclass(inner):
                    keys.update(f"{section.name}.{field.name}.{sub.name}" for sub in dataclasses.fields(inner))
    return keys


OTHER_TOOL_OPTIONS = {  # of pip, rosdep, colcon, setuptools, ros2, tf2_ros, torchrun, monodepth2, BTS, bench/, pytest
    "--target", "--index-url", "--skip-keys", "--from-paths", "--ignore-src", "--packages-select", "--params-file",
    "--ros-args", "--compression-mode", "--storage-preset-profile", "--loop", "--clock", "--frame-id",
    "--child-frame-id", "--x", "--y", "--z", "--roll", "--pitch", "--yaw", "--qx", "--qy", "--qz", "--qw",
    "--standalone",
    "--nproc_per_node", "--nproc-per-node", "--nnodes", "--eval_split", "--eval_stereo", "--disable_median_scaling",
    "--eigen_crop", "--do_kb_crop", "--garg_crop", "--quick", "--tf-links", "--rate", "--qos-profile-overrides-path",
    "--remap", "--floor", "--lidar-step-deg", "--network-like", "--slopes", "--symlink-install", "--editable",
    "--single-version-externally-managed", "--dist", "--pdb", "--max-worker-restart", "--show-args",
}  # fmt: skip


def cli_options() -> set[str]:
    """Every option of every ``mono-depth`` sub-command (and of their own sub-commands)."""
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


def test_the_pages_hold_the_documented_commands() -> None:
    commands = documented_commands()
    assert len(commands) >= 20 and {argv[0] for _, argv in commands} >= set(COMMANDS) - {"params"}


@pytest.mark.parametrize(("page", "argv"), documented_commands(), ids=lambda item: str(item)[:60])
def test_each_documented_invocation_parses(page: str, argv: list[str]) -> None:
    name = argv[0]
    assert name in COMMANDS, f"{page}: `mono-depth {name}` is no sub-command ({', '.join(COMMANDS)})"
    parser = argparse.ArgumentParser(prog=f"mono-depth {name}", exit_on_error=False)
    importlib.import_module(COMMANDS[name][0]).add_arguments(parser)
    try:
        parser.parse_args(argv[1:])
    except (argparse.ArgumentError, SystemExit) as err:
        pytest.fail(f"{page}: `mono-depth {' '.join(argv)}` does not parse: {err}")


def test_every_parameter_a_page_sets_exists() -> None:
    keys = config_keys()
    wrong = []
    for page in PAGES:
        text = page_text(page)
        params = re.findall(r"--param ([a-z][\w.]*)=", text) + re.findall(r"-p ([a-z][\w.]*):=", text)
        wrong += [f"{page.name}: {name}" for name in params if name != "name" and name not in PARAMS_BY_NAME]
        wrong += [f"{page.name}: --set {key}" for key in re.findall(r"--set ([a-z][\w.]*)=", text) if key not in keys]
    assert not wrong, f"documented parameters that do not exist: {wrong}"


def test_every_option_a_page_names_exists() -> None:
    known = cli_options() | OTHER_TOOL_OPTIONS
    wrong = [
        f"{page.name}: {option}"
        for page in PAGES
        for option in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*)", page_text(page))))
        if option not in known
    ]
    assert not wrong, f"options that no mono-depth sub-command (nor a tool in OTHER_TOOL_OPTIONS) takes: {wrong}"


def test_every_test_a_page_cites_exists() -> None:
    """The "shown by" columns and test tables cite ``test/x.py`` and ``test/x.py::test_name`` (or ``…::test_name``,
    ``test_name*`` for a prefix): each cited file exists, and each cited test function is defined under test/."""
    defined = {
        name
        for path in (REPO_ROOT / "test").rglob("*.py")
        for name in re.findall(r"^\s*def (test_\w+)", path.read_text(), re.M)
    }
    wrong = []
    for page in PAGES:
        text = page_text(page)
        wrong += [
            f"{page.name}: {path}"
            for path in re.findall(r"\btest/[\w/]+\.py", text)
            if not (REPO_ROOT / path).is_file()
        ]
        for name, prefix in re.findall(r"::(test_\w+)(\*?)", text):
            if not (any(d.startswith(name) for d in defined) if prefix else name in defined):
                wrong.append(f"{page.name}: ::{name}{prefix}")
    assert not wrong, f"cited tests that do not exist: {wrong}"


def test_the_readme_parameter_table_gives_the_defaults_of_config_params() -> None:
    readme = page_text(REPO_ROOT / "README.md")
    table = readme[readme.index("| parameter | default | meaning |") :].split("\n\n", 1)[0].splitlines()[2:]
    checked = 0
    for row in table:
        names_cell, default_cell = (cell.strip() for cell in row.split("|")[1:3])
        names = re.findall(r"`([^`]+)`", names_cell)
        assert all(name in PARAMS_BY_NAME for name in names), row
        defaults = [text.strip().strip("`") for text in re.sub(r"\(.*?\)", "", default_cell).split(",")]
        if len(defaults) != len(names):  # prose such as "see topics", "from checkpoint"
            continue
        for name, text in zip(names, defaults, strict=True):
            default = PARAMS_BY_NAME[name].default
            if default == "":
                continue  # an empty default is told in words ("from checkpoint", "(shipped default)")
            expected = str(default).lower() if isinstance(default, bool) else str(default)
            assert text == expected or (isinstance(default, float) and float(text) == default), (name, text, default)
            checked += 1
    assert checked >= 10


def test_the_node_doc_parameter_table_gives_each_parameters_type_default_range_and_run_time_flag() -> None:
    doc = page_text(REPO_ROOT / "docs" / "ros2_node.md")
    rows = re.findall(r"^\| `([\w.]+)` \| (\w+) \| `(.*?)` \| (.*?) \| (yes|no) \| .* \|$", doc, re.M)
    assert {name for name, *_ in rows} == set(PARAMS_BY_NAME)
    for name, type_name, default, limits, run_time in rows:
        spec = PARAMS_BY_NAME[name]
        expected = str(spec.default).lower() if isinstance(spec.default, bool) else repr(spec.default)
        assert (type_name, default, run_time == "yes") == (spec.type.__name__, expected, spec.dynamic), name
        if spec.min_value is not None or spec.max_value is not None:
            low, high = (float(v) for v in re.fullmatch(r"\[(\S+), (\S+)\]", limits).groups())  # type: ignore[union-attr]
            assert (low, high) == (spec.min_value, spec.max_value), name
        elif spec.choices:
            assert [c.strip().strip('"') for c in limits.split("\\|")] == list(spec.choices), name


def python_blocks(page: Path) -> list[str]:
    """The fenced ```python blocks of a page."""
    return re.findall(r"```python\n(.*?)```", page_text(page), re.S)


def test_the_scale_recovery_snippet_runs_and_fills_a_diagnostic_status() -> None:
    """docs/scale_recovery.md's "call the pipeline makes", run as written with its placeholders bound: a LiDAR scan of
    a wall 10 m ahead and a metric prediction 20 % too far; the depth comes out in metres and the status holds
    ``KeyValue`` items (a DiagnosticStatus' ``values`` is a list of them: a dict added to it gave bare key strings)."""
    from mono_depth_ros.config import PARAMS
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.core.depth_kind import OutputKind
    from mono_depth_ros.core.geometry import RigidTransform

    from . import ros_standin

    (snippet,) = python_blocks(REPO_ROOT / "docs" / "scale_recovery.md")
    height, width = 60, 100
    u, v = np.meshgrid(np.linspace(-4.0, 4.0, 40), np.linspace(-2.0, 2.0, 20))
    wall = np.stack([u.ravel(), v.ravel(), np.full(u.size, 10.0)], axis=1)  # lidar frame = optical frame
    published: list[np.ndarray] = []
    names: dict[str, object] = {
        "params": {spec.name: spec.default for spec in PARAMS},
        "points_in_lidar": wall,
        "cam_from_lidar": RigidTransform.identity(),
        "scan_stamp_ns": 1_000_000_000,
        "image_stamp_ns": 1_000_000_000,
        "prediction": np.full((height, width), 12.0, np.float32),
        "spec": SimpleNamespace(output_kind=OutputKind.METRIC),
        "intrinsics": PinholeIntrinsics(50.0, 50.0, 49.5, 29.5, width, height),
        "publish": published.append,
        "diagnostic_status": ros_standin.DiagnosticStatus(),
        "KeyValue": ros_standin.KeyValue,
    }
    exec(compile(snippet, "docs/scale_recovery.md", "exec"), names)
    (depth,) = published
    assert depth.shape == (height, width) and np.nanmedian(depth) == pytest.approx(10.0, rel=0.02)
    values = names["diagnostic_status"].values  # type: ignore[attr-defined]
    assert values and all(isinstance(value, ros_standin.KeyValue) for value in values), values[:3]
    assert "scale.mode" in {value.key for value in values}


def default_output_folders() -> dict[str, str]:
    """Where the documented commands write when told nothing: ``mono-depth`` options whose default names a folder
    (``demo --out``), the train / distill configs' ``run.out_dir`` and ``data.cache_dir`` (defaults and config/*.yaml),
    the ``model.pretrained`` folder a config tells ``mono-depth weights`` to fill (``weights/...``),
    and the shell variables ``X=${X:-$PWD/folder}`` of bench/*.sh (``bash bench/gpu.sh`` tried on the CPU)."""
    folders: dict[str, str] = {}
    for name, (module, *_) in COMMANDS.items():
        parser = argparse.ArgumentParser()
        importlib.import_module(module).add_arguments(parser)
        for action in parser._actions:
            if action.dest in {"out", "out_dir"} and isinstance(action.default, (str, Path)):
                folders[f"mono-depth {name} {action.option_strings[0]}"] = str(action.default)
    configs = [("defaults", TrainConfig()), ("defaults", DistillConfig())]
    for path in sorted((REPO_ROOT / "config").glob("*.yaml")):
        if (text := page_text(path)).lstrip().startswith("/**"):
            continue  # a node params file
        sections = yaml.safe_load(text)
        configs.append((path.name, SimpleNamespace(**{k: SimpleNamespace(**v) for k, v in sections.items()})))
    for source, config in configs:
        for section, field in (("run", "out_dir"), ("data", "cache_dir"), ("model", "pretrained")):
            if value := getattr(getattr(config, section, None), field, None):
                folders[f"{source}: {type(config).__name__} {section}.{field}"] = str(value)
    for script in sorted((REPO_ROOT / "bench").glob("*.sh")):
        for variable, folder in re.findall(r"^(\w+)=\$\{\1:-\$PWD/([\w./-]+)\}", page_text(script), re.M):
            folders[f"bench/{script.name} {variable}"] = folder
    return folders


def test_what_the_documented_commands_write_by_default_is_ignored_by_git() -> None:
    """A user who follows the pages literally (``make demo``, ``mono-depth train --config ...``, ``bash bench/gpu.sh``
    tried here) leaves no untracked folder behind that git shows: scripts/ros2_tier.sh copies every untracked file git
    does not ignore into its colcon workspace, and a commit with ``git add .`` takes it."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    folders = default_output_folders()
    assert {"mono-depth demo --out", "bench/gpu.sh OUT"} <= set(folders), folders
    probes = {where: f"{folder.rstrip('/')}/probe.txt" for where, folder in folders.items()}
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        input="\n".join(probes.values()),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    ).stdout.split()
    wrong = [f"{where}: {folders[where]}" for where, probe in probes.items() if probe not in ignored]
    assert not wrong, f"default output folders that .gitignore does not ignore: {wrong}"


ROSDEP_KEYS = {"PyYAML": "python3-yaml"}  # a requirement's rosdep key where it is not python3-<name>


def _without_environment(words: list[str]) -> list[str]:
    """A shell command's words without its leading ``NAME=value`` environment assignments."""
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words = words[1:]
    return words


def _readme_ros_install_lines() -> list[str]:
    """The command lines (comments cut) of README "ROS 2 usage"'s first bash block."""
    readme = page_text(REPO_ROOT / "README.md")
    section = readme[readme.index("## ROS 2 usage") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_readme_ros_pip_install_runs_on_an_externally_managed_system_python() -> None:
    """README "ROS 2 usage" installs torch, safetensors and rosbags with pip into ROS's system Python. Ubuntu 24.04
    (Jazzy) and Debian 12 mark it externally managed (PEP 668): a bare ``pip install`` stops with ``error:
    externally-managed-environment``. The line sets ``PIP_BREAK_SYSTEM_PACKAGES=1`` (rosdep's documented setting),
    not ``--break-system-packages``, which Ubuntu 22.04's pip 22.0.2 (Humble) refuses: "no such option" (both run
    here with pip 22.0.2, which ignores the variable)."""
    pips = [
        line for line in _readme_ros_install_lines() if _without_environment(line.split())[:2] == ["pip", "install"]
    ]
    assert pips, "README's ROS 2 usage block has no pip install line"
    for line in pips:
        words = line.split()
        environment = words[: len(words) - len(_without_environment(words))]
        assert "PIP_BREAK_SYSTEM_PACKAGES=1" in environment, f"pip refuses this on Ubuntu 24.04 / Debian 12: {line}"
        assert "--break-system-packages" not in words, f"Ubuntu 22.04's pip 22.0.2 has no such option: {line}"


def test_the_readme_ros_install_gets_every_requirement_of_the_package() -> None:
    """README "ROS 2 usage": its ``pip install`` line and ``rosdep install`` (package.xml's exec_depend keys but the
    ``--skip-keys``) together install every requirement of setup.py and torch: the node imports rosbags and
    safetensors, which have no rosdep key, and did not start (ModuleNotFoundError) when only torch was pip-installed."""
    readme = page_text(REPO_ROOT / "README.md")
    section = readme[readme.index("## ROS 2 usage") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    commands = [_without_environment(line.split("#")[0].split()) for line in block.splitlines()]
    pip = {word for words in commands if words[:2] == ["pip", "install"] for word in words[2:] if word[0] != "-"}
    skipped = {word for words in commands for flag, word in itertools.pairwise(words) if flag == "--skip-keys"}
    rosdep = set(re.findall(r"<exec_depend>([\w-]+)</exec_depend>", page_text(REPO_ROOT / "package.xml"))) - skipped
    setup = ast.parse(page_text(REPO_ROOT / "setup.py"))
    (requires,) = [
        ast.literal_eval(node.value)
        for node in ast.walk(setup)
        if isinstance(node, ast.keyword) and node.arg == "install_requires"
    ]
    names = [re.match(r"[\w-]+", requirement).group(0) for requirement in [*requires, "torch"]]  # type: ignore[union-attr]
    missing = [name for name in names if name not in pip and ROSDEP_KEYS.get(name, f"python3-{name}") not in rosdep]
    assert not missing, f"README's ROS 2 install leaves out {missing}: pip {sorted(pip)}, rosdep {sorted(rosdep)}"


def test_the_sample_table_lists_every_field_of_the_sample_record() -> None:
    """docs/training_data.md's table of ``Sample`` (what every dataset returns) names each field of the dataclass, in
    its order (``seen``, the raw camera's black fill, was missing)."""
    from mono_depth_ros.training.data import Sample

    page = page_text(REPO_ROOT / "docs" / "training_data.md")
    table = page[page.index("| field | shape, dtype | meaning |") :].split("\n\n", 1)[0].splitlines()[2:]
    documented = [re.match(r"\| `(\w+)` \|", row).group(1) for row in table]  # type: ignore[union-attr]
    assert documented == [field.name for field in dataclasses.fields(Sample)]


def test_every_choice_a_page_or_config_gives_a_parameter_is_one_of_its_choices() -> None:
    """``model.backend=onnx``, ``scale.mode: none``, ``-p sync.mode:=latest`` in the pages, and the same or
    ``model.backend torch`` in the comments of config/*.yaml, give a value the parameter takes (the fine-tuning recipe
    told its output to run with ``model.backend torch``, which the node refuses)."""
    configs = sorted((REPO_ROOT / "config").glob("*.yaml"))
    wrong, checked = [], 0
    for spec in (spec for spec in PARAMS_BY_NAME.values() if spec.choices):
        name = re.escape(spec.name)
        given = re.compile(rf"(?<![\w.]){name}(?::=|=|: )`?\"?([A-Za-z_]\w*)")
        in_comment = re.compile(rf"#.*?(?<![\w.]){name} ([A-Za-z_]\w*)")
        for path, pattern in [
            *((page, given) for page in PAGES),
            *((c, given) for c in configs),
            *((c, in_comment) for c in configs),
        ]:
            values = pattern.findall(page_text(path))
            checked += len(values)
            wrong += [f"{path.name}: {spec.name} {value}" for value in values if value not in spec.choices]
    assert checked >= 20 and not wrong, f"values that are no choice of their parameter: {sorted(set(wrong))}"


def test_where_a_page_lists_the_output_kinds_of_depth_kind_it_lists_them_all() -> None:
    """ "``core/depth_kind.py``: ``metric``, ..." gives the kinds every model output declares: each member of
    ``OutputKind`` (README's architecture paragraph left ``metric_focal`` out)."""
    from mono_depth_ros.core.depth_kind import OutputKind

    lists = [
        (page.name, set(re.findall(r"`(\w+)`", listed)))
        for page in PAGES
        for listed in re.findall(r"`core/depth_kind\.py`: ((?:`\w+`(?:,\s*)?)+)", page_text(page))
    ]
    assert lists, "no page lists the kinds of core/depth_kind.py"
    for page, kinds in lists:
        assert kinds == {kind.value for kind in OutputKind}, page


def test_the_output_kind_rows_name_every_kind_a_spec_declares_and_each_stated_kind_taken_for_another() -> None:
    """The ``model.output_kind`` rows of README's parameter table and docs/ros2_node.md's: every ``OutputKind`` a
    spec may declare (``canonical_inverse``, which the parameter does not take, was left out), and exactly the
    pairs ``STATED_KINDS_TAKEN`` takes, as "`stated` for a `kind` or `kind` spec" (they named only
    ``depth_up_to_scale`` for a ``metric`` spec, not ``metric`` for ``metric_focal`` / ``canonical_inverse``)."""
    from mono_depth_ros.core.depth_kind import OutputKind
    from mono_depth_ros.models.depth_source import STATED_KINDS_TAKEN

    taken = {(kind.value, stated) for kind, stated in STATED_KINDS_TAKEN}
    for page in (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "ros2_node.md"):
        row = next(line for line in page_text(page).splitlines() if line.startswith("| `model.output_kind` |"))
        assert {kind.value for kind in OutputKind} <= set(re.findall(r"\w+", row)), (page.name, row)
        named = {
            (kind, stated)
            for stated, kinds in re.findall(r"`(\w+)` for an? ((?:`\w+`(?:, | or )?)+) spec", row)
            for kind in re.findall(r"`(\w+)`", kinds)
        }
        assert named == taken, (page.name, row)


def test_the_readme_model_table_lists_the_example_checkpoint_each_family_names_in_messages() -> None:
    """A model folder for another task is refused with a depth checkpoint of its family to fetch
    (``Family.example``): the README's model table row of that ``model_type`` lists the same checkpoint."""
    from mono_depth_ros.models.hf_families import FAMILIES

    rows = [line.split("|")[1:3] for line in page_text(REPO_ROOT / "README.md").splitlines() if line.startswith("| ")]
    for family in FAMILIES.values():
        examples = [cells[1] for cells in rows if len(cells) == 2 and f"(`{family.model_type}`" in cells[0]]
        assert family.example, f"{family.model_type} names no example checkpoint"
        assert any(family.example in cell for cell in examples), (family.model_type, family.example, examples)


def test_the_readme_nav2_preset_cloud_size_is_what_the_preset_publishes() -> None:
    """README "Large messages": the Nav2 preset's cloud for a KITTI camera, the size a best-effort reader must take
    whole. It said 0.47 MB at 1242x375 (stride 4 at the camera's resolution), where the preset publishes at the
    shipped network's resolution (``output.downscale`` 0): measured through ``mono-depth bag`` on real KITTI frames
    with the preset, 6.7-18 kB. Here: the most points the preset's strided cloud can hold at that size, in bytes."""
    from mono_depth_ros.config import load_config
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.core.cloud import strided_cloud
    from mono_depth_ros.depth_config import DepthConfig
    from mono_depth_ros.models.checkpoint import read_checkpoint_spec
    from mono_depth_ros.models.depth_source import default_weights
    from mono_depth_ros.pipeline import output_downscale

    readme = page_text(REPO_ROOT / "README.md")
    stated = re.search(r"depth_nav2\.yaml` \(strided cloud, 1/16 of the published points: at most ([\d,]+) points, "
                       r"(\d+) kB, for a (\d+)×(\d+) camera", " ".join(readme.split()))  # fmt: skip
    assert stated, "README's Nav2 preset sentence (points, kB, camera size) not found"
    points, kilobytes, width, height = (int(group.replace(",", "")) for group in stated.groups())
    config = DepthConfig.from_params(load_config(REPO_ROOT / "config" / "depth_nav2.yaml"))
    network = read_checkpoint_spec(default_weights()).input
    factor = output_downscale(config.output.downscale, (height, width), (network.height, network.width))
    shape = (height // factor, width // factor)
    depth = np.full(shape, 0.5 * config.output.max_range, np.float32)  # every pixel in range: the most points
    intrinsics = PinholeIntrinsics(500.0 / factor, 500.0 / factor, shape[1] / 2, shape[0] / 2, shape[1], shape[0])
    cloud = strided_cloud(depth, intrinsics, config.cloud.stride, max_range_m=config.output.max_range)
    assert config.cloud.mode == "strided" and cloud.width * cloud.height == points, (shape, cloud.width)
    assert round(points * cloud.point_step / 1000) == kilobytes


def test_the_params_files_header_says_an_integer_for_a_float_parameter_is_taken() -> None:
    """config/depth.yaml's header, the file users copy, said "Floats keep their decimal point: rclpy rejects an
    integer for a float parameter", while the node declares every float parameter with dynamic typing and takes
    ``max_range: 30`` as 30.0 (README says so; on real Humble:
    test/ros2/test_ros2_launch.py::test_params_file_namespace_argument_override_and_compressed_input starts the node on
    ``output.max_range: 40``). The header must say what the node does."""
    from mono_depth_ros.adapters.parameters import descriptor_fields
    from mono_depth_ros.config import coerce

    lines = (REPO_ROOT / "config" / "depth.yaml").read_text(encoding="utf-8").splitlines()
    header = " ".join(line.lstrip("# ") for line in itertools.takewhile(lambda line: line.startswith("#"), lines))
    floats = [spec for spec in PARAMS_BY_NAME.values() if spec.type is float]
    assert floats and all(descriptor_fields(spec).dynamic_typing for spec in floats)
    taken = coerce(PARAMS_BY_NAME["output.max_range"], 30)
    assert taken == 30.0 and isinstance(taken, float)
    assert "rejects an integer" not in header, header
    assert "an integer for a float parameter is taken (max_range: 30 is 30.0)" in header, header


def _humble_tier_table() -> list[str]:
    """The rows of docs/ros2_node.md's table under "Tested on a real ROS 2 Humble", header and rule left out."""
    doc = page_text(REPO_ROOT / "docs" / "ros2_node.md")
    section = doc.split("\n## Tested on a real ROS 2 Humble\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| test (`test/ros2/…`)"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    stray = [line for line in lines[end:] if line.startswith("|")]
    assert not stray, f"{len(stray)} rows after a break in the table (markdown ends it there), from: {stray[0][:100]}"
    return lines[start + 2 : end]


def humble_tier_table_citations() -> list[tuple[str, str]]:
    """(module, test name) of each test the table's first column cites: ``test_x.py::test_name`` names the module,
    ``…::test_name`` is of the module last named above it; a ``[param]`` suffix names the parametrised test."""
    cited = []
    module = ""
    for row in _humble_tier_table():
        first = row.split("|")[1]
        for named, name in re.findall(r"(test_\w+\.py|…)::(test_\w+)", first):
            if named != "…":
                module = named
            assert module, f"a row cites …::{name} before any module is named"
            cited.append((module, name))
    return cited


def humble_tier_tests() -> set[tuple[str, str]]:
    """(module, name) of each module-level ``def test_*`` of test/ros2/test_*.py (parametrised ones once, by name)."""
    return {
        (path.name, node.name)
        for path in sorted((REPO_ROOT / "test" / "ros2").glob("test_*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_the_humble_tier_table_lists_every_tier_test_and_no_other() -> None:
    """README says docs/ros2_node.md's table of the real-ROS tier "lists every test" of test/ros2: each tier test has
    a row, and each test a row cites is still in the module the row names."""
    tests = humble_tier_tests()
    cited = set(humble_tier_table_citations())
    assert len(tests) > 100, f"only {len(tests)} tests found in test/ros2: the collection is broken"
    missing = sorted(f"{module}::{name}" for module, name in tests - cited)
    stale = sorted(f"{module}::{name}" for module, name in cited - tests)
    assert not missing, f"{len(missing)} test/ros2 tests without a row in docs/ros2_node.md's tier table: {missing}"
    assert not stale, f"rows of docs/ros2_node.md's tier table citing tests that are not there: {stale}"


def test_the_readme_topics_table_names_every_lidar_type_the_node_subscribes() -> None:
    """The LiDAR row of the README's topics table names each type ``lidar.message_type`` takes (a 2D LiDAR's
    ``LaserScan`` as well as ``PointCloud2``), so a TurtleBot user reading the table knows their ``/scan`` works."""
    from mono_depth_ros.config import PARAMS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lidar_row = next(
        line for line in readme.splitlines() if line.startswith("| in (opt) |") and "`lidar_topic`" in line
    )
    choices = next(spec.choices for spec in PARAMS if spec.name == "lidar.message_type")
    assert choices is not None
    for type_name in (c for c in choices if c != "auto"):
        assert type_name in lidar_row, f"the README's lidar_topic row does not name {type_name}: {lidar_row}"


def test_the_training_page_names_the_config_files_train_and_distill_write_into_their_run_folder() -> None:
    """A resume needs the configuration the run was trained with; train writes it as ``config.yaml`` and distill as
    ``distill_config.yaml`` (the refusal of another network names the file and its option): the page names each file
    as the commands write it, with the option that reads it back."""
    text = " ".join(page_text(REPO_ROOT / "docs" / "training_data.md").split())
    for name, command, option in (
        (TRAIN_CONFIG_NAME, "train", "--config"),
        (DISTILL_CONFIG_NAME, "distill", "--student"),
    ):
        assert re.search(rf"`{re.escape(name)}` for `{command}` \([^)]*`{option}`\)", text), (name, command, option)


def _architecture_folder_rows() -> dict[str, list[str]]:
    """docs/architecture.md's folder table: folder (``mono_depth_ros/`` for the top level) -> its other cells."""
    text = page_text(REPO_ROOT / "docs" / "architecture.md")
    table = text.split("## Folders", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            rows[cells[0].split("`")[1]] = cells[1:]
    return rows


def test_the_architecture_folder_table_lists_every_package_folder_with_its_file_count() -> None:
    """The table gave lines per folder, which went stale with every change (adapters 5,303 lines against 6,020);
    it gives the file count, which this checks (a new module makes it fail until the table says what it is), for
    every folder of the package that holds Python modules."""
    package = REPO_ROOT / "mono_depth_ros"
    folders = {
        str(folder.relative_to(package)) + "/": len(list(folder.glob("*.py")))
        for folder in sorted({path.parent for path in package.rglob("*.py")})
        if folder != package and folder != package / "training"  # training/: its __init__ only, the rows below it
    }
    folders["mono_depth_ros/"] = len(list(package.glob("*.py")))
    rows = _architecture_folder_rows()
    assert set(rows) == set(folders), sorted(set(rows) ^ set(folders))
    header = page_text(REPO_ROOT / "docs" / "architecture.md").split("## Folders", 1)[1].split("\n| folder |", 1)[1]
    assert header.split("\n", 1)[0] == " files | what |", "columns: folder | files | what (no line counts)"
    wrong = {folder: (cells[0], count) for folder, count in folders.items() if (cells := rows[folder])[0] != str(count)}
    assert not wrong, f"docs/architecture.md file counts (table, actual): {wrong}"


def test_the_rectified_child_frames_translation_is_taken_through_ps_left_3x3_not_camera_infos_k() -> None:
    """The node page's remedy for a TF to the unrectified camera (a child ``camera_rect_optical``) gave its
    translation as -Rᵀ · K⁻¹ · P[:, 3]: read with camera_info's K (the raw camera's, another focal length where the
    rectification rescales, as in KITTI's raw calibration), the baseline comes out scaled by P's fx over K's. What
    test/core/scale/test_lidar.py pins on KITTI's pixels is P's left 3x3 (its ``k = projection[:, :3]``)."""
    page = " ".join((REPO_ROOT / "docs" / "ros2_node.md").read_text(encoding="utf-8").split())
    assert "`--x --y --z` = -Rᵀ · M⁻¹ · P[:, 3] with M P's left 3x3" in page
    assert "K⁻¹ · P[:, 3]" not in page
    pinned = (REPO_ROOT / "test" / "core" / "scale" / "test_lidar.py").read_text(encoding="utf-8")
    assert "k = projection[:, :3]" in pinned and "np.linalg.solve(k, projection[:, 3])" in pinned


def test_the_reliability_page_says_a_recalibration_starts_the_lidar_scale_afresh() -> None:
    """docs/reliability.md's recalibration row said the LiDAR scale filter is kept (a scan's depth does not depend on
    the intrinsics), written before the zoom reset: ScaleRecovery now starts the LiDAR scale afresh at a new
    calibration (the model's depth it is fitted to changes with the focal length), as the row's cited tests show."""
    lines = (REPO_ROOT / "docs" / "reliability.md").read_text(encoding="utf-8").splitlines()
    (row,) = [line for line in lines if line.startswith("| A camera recalibrated mid-stream")]
    assert "the LiDAR scale filter is kept" not in row and "the LiDAR scale starts afresh too" in row
    assert "test_a_zoom_gets_its_own_lidar_scale_from_its_first_frame" in row
