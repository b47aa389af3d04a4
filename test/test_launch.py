"""launch/depth.launch.py with stub launch / launch_ros modules, and the rviz2 and Nav2 example configs (no ROS)."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from mono_depth_ros.config import PARAMS_BY_NAME
from mono_depth_ros.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / "launch" / "depth.launch.py"
NODE_FILE = REPO_ROOT / "mono_depth_ros" / "node.py"
ARGUMENTS = {"image", "camera_info", "lidar", "use_lidar", "lifecycle", "nav2", "params_file", "model", "weights",
             "device", "namespace", "use_sim_time", "image_transport"}  # fmt: skip
# ros2_api_notes §18: the launch imports verified on Humble (all present on Jazzy too), plus OpaqueFunction and
# LaunchContext (the latter for type checking only), both in launch since Crystal.
SECTION_18 = {
    "launch": {"LaunchDescription", "LaunchContext"},
    "launch.actions": {
        "DeclareLaunchArgument",
        "IncludeLaunchDescription",
        "GroupAction",
        "LogInfo",
        "OpaqueFunction",
        "Shutdown",  # not in the notes' list; run on real Humble by test/ros2/test_ros2_launch.py
    },
    "launch.conditions": {"IfCondition", "UnlessCondition"},
    "launch.substitutions": {"LaunchConfiguration", "PathJoinSubstitution", "TextSubstitution", "PythonExpression"},
    "launch.launch_description_sources": {"PythonLaunchDescriptionSource"},
    "launch.logging": {"get_logger"},  # not in the notes' list; run on real Humble by test/ros2/test_ros2_launch.py
    "launch.events.process": {"ProcessExited"},  # for type checking only
    "launch_ros.actions": {"Node", "PushRosNamespace", "SetParameter"},
    "launch_ros.substitutions": {"FindPackageShare"},
    "launch_ros.parameter_descriptions": {"ParameterValue", "ParameterFile"},
}
EXECUTE_PROCESS_KWARGS = {"output", "emulate_tty", "respawn", "respawn_delay", "sigterm_timeout", "sigkill_timeout",
                          "condition", "on_exit", "additional_env"}  # fmt: skip


class Recorded:
    """A stub launch entity that keeps its constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class DeclareLaunchArgument(Recorded):
    def __init__(self, name: str, *, default_value: Any = None, description: Any = None, choices: Any = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(name, default_value=default_value, description=description, choices=choices, **kwargs)
        self.name = name
        if choices is not None and default_value is not None:
            assert default_value in choices, f"default {default_value!r} of {name} not in its choices"


class LaunchConfiguration(Recorded):
    def __init__(self, variable_name: str, *, default: Any = None) -> None:
        super().__init__(variable_name, default=default)
        self.variable_name = variable_name

    def perform(self, context: Context) -> str:
        """The argument's value in a launch context."""
        return context.values[self.variable_name]


class Context:
    """The parts of ``launch.LaunchContext`` the launch file reads: argument values and ``argv`` (the command line's
    ``name:=value`` arguments)."""

    def __init__(self, values: dict[str, str], argv: list[str]) -> None:
        self.values, self.argv = values, argv
        self.launch_configurations = values  # (and ``ros_namespace``: a PushRosNamespace around the include)


class OpaqueFunction(Recorded):
    def __init__(self, *, function: Any, args: Any = None, kwargs: Any = None, **rest: Any) -> None:
        super().__init__(function=function, args=args, kwargs=kwargs, **rest)
        self.function = function


class ParameterValue(Recorded):
    def __init__(self, value: Any, *, value_type: Any = None) -> None:
        super().__init__(value, value_type=value_type)
        self.value, self.value_type = value, value_type


class Node(Recorded):
    def __init__(  # the signature of launch_ros.actions.Node on Humble and Jazzy
        self,
        *,
        executable: str,
        package: str | None = None,
        name: str | None = None,
        namespace: Any = None,
        exec_name: str | None = None,
        parameters: Any = None,
        remappings: Any = None,
        ros_arguments: Any = None,
        arguments: Any = None,
        **kwargs: Any,
    ) -> None:
        assert set(kwargs) <= EXECUTE_PROCESS_KWARGS, set(kwargs) - EXECUTE_PROCESS_KWARGS
        super().__init__(executable=executable, package=package, name=name, namespace=namespace,
                         parameters=parameters, remappings=remappings, **kwargs)  # fmt: skip


class LaunchDescription(Recorded):
    def __init__(self, initial_entities: Any = None, *, deprecated_reason: Any = None) -> None:
        super().__init__(initial_entities)
        self.entities = list(initial_entities or [])


@pytest.fixture
def description(launch_module: types.ModuleType) -> LaunchDescription:
    result = launch_module.generate_launch_description()
    assert isinstance(result, LaunchDescription)
    return result


@pytest.fixture
def launch_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    stubs = {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {
            "DeclareLaunchArgument": DeclareLaunchArgument,
            "OpaqueFunction": OpaqueFunction,
            "Shutdown": Recorded,
        },
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration, "PathJoinSubstitution": Recorded},
        "launch.logging": {"get_logger": lambda name=None: types.SimpleNamespace(warning=print)},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node},
        "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
        "launch_ros.substitutions": {"FindPackageShare": Recorded},
    }
    for name, attrs in stubs.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("depth_launch", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_imports_only_section_18_apis() -> None:
    tree = ast.parse(LAUNCH_FILE.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("launch", "launch_ros"):
            names = {alias.name for alias in node.names}
            assert names <= SECTION_18.get(node.module, set()), (node.module, names)
    assert "def generate_launch_description" in LAUNCH_FILE.read_text()


EXPECTED = {"image_topic": "image", "camera_info_topic": "camera_info", "lidar_topic": "lidar",
            "model.backend": "model", "model.weights": "weights", "device": "device",
            "image_transport": "image_transport"}  # fmt: skip


def _launch(description: LaunchDescription, context: Context | None = None, **given: str) -> Node:
    """Run the OpaqueFunction as ``ros2 launch`` would with these command-line arguments (an existing
    params_file unless given); in ``context`` (an include in a launch whose configurations it holds) when given."""
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    given = {"params_file": str(REPO_ROOT / "config" / "depth.yaml"), **given}
    if context is None:
        context = Context({}, [f"{name}:={value}" for name, value in given.items()])
    context.values.update(given)  # an include's arguments: SetLaunchConfiguration in the launch's configurations
    for name, argument in arguments.items():  # DeclareLaunchArgument sets its default only where nothing is set
        context.values.setdefault(name, argument.kwargs["default_value"])
    (opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    (node,) = opaque.function(context)
    assert isinstance(node, Node)
    return node


def test_launch_arguments_and_node(description: LaunchDescription) -> None:
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert set(arguments) == ARGUMENTS
    for parameter, argument in EXPECTED.items():
        assert arguments[argument].kwargs["default_value"] == "from_params_file"
        assert repr(PARAMS_BY_NAME[parameter].default) in arguments[argument].kwargs["description"]
    assert "depth_anything_v2" in arguments["model"].kwargs["description"]  # the choices are listed
    node = _launch(description)
    assert node.kwargs["package"] == "mono_depth_ros" and node.kwargs["executable"] == "mono_depth_node"
    assert node.kwargs["name"] == "mono_depth_node"
    assert node.kwargs["namespace"].variable_name == "namespace"
    (params_file,) = node.kwargs["parameters"]  # nothing given: params_file alone decides
    assert params_file == str(REPO_ROOT / "config" / "depth.yaml")


MESSAGE_TYPES = re.compile(r"\b(Image|CompressedImage|CameraInfo|PointCloud2|LaserScan)\b")


def test_each_node_arguments_help_names_the_message_types_its_parameter_takes(description: LaunchDescription) -> None:
    """``ros2 launch mono_depth_ros depth.launch.py --show-args`` says what a topic argument takes as the parameter's
    description does (``lidar:=`` said PointCloud2 alone, while a 2D LiDAR's LaserScan is taken too)."""
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    for parameter, argument in EXPECTED.items():
        wanted = set(MESSAGE_TYPES.findall(PARAMS_BY_NAME[parameter].description))
        told = set(MESSAGE_TYPES.findall(arguments[argument].kwargs["description"]))
        assert wanted <= told, (argument, sorted(wanted - told))


def test_every_launch_argument_is_documented_in_the_readme_and_the_node_doc() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    listing = readme[readme.index("Launch arguments:") :].split("\n\n", 1)[0]
    node_doc = (REPO_ROOT / "docs" / "ros2_node.md").read_text(encoding="utf-8")
    launch_section = node_doc[node_doc.index("## Launch file") :].split("\n## ", 1)[0]
    for where, text in (("README.md 'Launch arguments'", listing), ("docs/ros2_node.md 'Launch file'", launch_section)):
        missing = sorted(name for name in ARGUMENTS if f"`{name}`" not in text)
        assert not missing, f"{where} does not list the launch arguments {missing}"


def test_given_arguments_override_only_their_parameters(description: LaunchDescription) -> None:
    node = _launch(description, lidar="/velodyne_points", device="0", image="/cam/image_rect")
    params_file, overrides = node.kwargs["parameters"]
    assert params_file.endswith("depth.yaml")
    assert set(overrides) == {"lidar_topic", "device", "image_topic"}  # model, weights, camera_info: from the file
    assert {name: value.value for name, value in overrides.items()} == {
        "lidar_topic": "/velodyne_points",
        "device": "0",
        "image_topic": "/cam/image_rect",
    }
    # use_lidar:=false turns the LiDAR off even when lidar:= or the file names a topic (Humble rejects lidar:='')
    no_lidar = _launch(description, lidar="/velodyne_points", use_lidar="false")
    assert {name: value.value for name, value in no_lidar.kwargs["parameters"][1].items()} == {"lidar_topic": ""}
    for parameter, value in overrides.items():
        assert isinstance(value, ParameterValue)
        assert value.value_type is PARAMS_BY_NAME[parameter].type is str  # typed: `device:=0` stays a string
    every = _launch(description, **dict.fromkeys(EXPECTED.values(), "x"))
    assert set(every.kwargs["parameters"][1]) == set(EXPECTED)


def test_image_transport_given_overrides_the_params_file_in_one_flag(description: LaunchDescription) -> None:
    """The silent-image warning's remedy for a compressed camera is image_transport: compressed; depth.launch.py had
    no argument for it, so a launch user had to write a params file. ``image_transport:=compressed`` sets it, and
    only when given (the file's value otherwise)."""
    node = _launch(description, image="/cam", image_transport="compressed")
    overrides = node.kwargs["parameters"][1]
    assert {name: value.value for name, value in overrides.items()} == {
        "image_topic": "/cam",
        "image_transport": "compressed",
    }
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert "(raw | compressed)" in arguments["image_transport"].kwargs["description"]
    assert len(_launch(description).kwargs["parameters"]) == 1  # not given: params_file decides


def test_use_sim_time_given_overrides_the_params_file_and_is_a_bool(description: LaunchDescription) -> None:
    """``use_sim_time:=true`` (what Nav2's bringup passes to every launch file) was not declared: ignored silently."""
    assert len(_launch(description).kwargs["parameters"]) == 1  # not given: the params file's (or false)
    for given, expected in (("true", True), ("True", True), ("false", False)):
        (override,) = _launch(description, use_sim_time=given).kwargs["parameters"][1].values()
        assert override is expected  # a bool: launch_ros's ParameterValue(value_type=bool) refuses the text 'true'


def test_a_params_file_that_is_not_a_file_fails_the_launch(description: LaunchDescription, tmp_path: Path) -> None:
    """launch_ros only warns about it and starts the node on its built-in defaults (real Humble)."""
    with pytest.raises(ConfigError, match=r"params_file '.*/no_such.yaml' is not a file; pass an existing"):
        _launch(description, params_file=str(tmp_path / "no_such.yaml"))
    with pytest.raises(ConfigError, match="is not a file"):
        _launch(description, params_file=str(tmp_path))  # a folder


def test_a_relative_params_file_not_there_names_the_working_directory_and_the_packages_own(
    description: LaunchDescription, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's ``params_file:=.../config/depth_nav2.yaml`` typed as ``params_file:=config/depth_nav2.yaml`` outside
    the source tree: the launch said only "'config/depth_nav2.yaml' is not a file". It now says where it looked
    and where the package's own copy is (``config/`` beside ``launch/``: the share folder once installed)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        _launch(description, params_file="config/depth_nav2.yaml")
    said = str(err.value)
    assert said.startswith("params_file 'config/depth_nav2.yaml' is not a file"), said
    assert f"relative to the working directory {tmp_path}: {tmp_path}/config/depth_nav2.yaml" in said, said
    assert f"the package's depth_nav2.yaml is {REPO_ROOT}/config/depth_nav2.yaml" in said, said
    with pytest.raises(ConfigError) as err:
        _launch(description, params_file="my_robot.yaml")  # no file of the package by that name: nothing to name
    assert "the package's" not in str(err.value) and "working directory" in str(err.value)


def test_a_params_file_under_home_is_found(
    description: LaunchDescription, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``params_file:=~/robot.yaml``: bash leaves the ``~`` after ``:=`` alone."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "robot.yaml").write_text("/**:\n  ros__parameters: {}\n")
    (params_file,) = _launch(description, params_file="~/robot.yaml").kwargs["parameters"]
    assert params_file == str(tmp_path / "robot.yaml")


def test_undeclared_arguments_are_warned_with_the_nearest_names(
    launch_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["imgae:=/cam/image", "device:=cpu", "use_sim_tme:=true"]
    monkeypatch.setattr(sys, "argv", ["/opt/ros/bin/ros2", "launch", "mono_depth_ros", "depth.launch.py", *argv])
    first, second = launch_module.unknown_argument_warnings(argv, "depth.launch.py")
    assert first.startswith("launch argument 'imgae' is not an argument of depth.launch.py and is ignored; did you "
                            "mean image") and "(its arguments: image, camera_info," in first  # fmt: skip
    assert "'use_sim_tme'" in second and "did you mean use_sim_time" in second
    # included by another launch file: the command line's arguments are that file's, not ours
    monkeypatch.setattr(sys, "argv", ["ros2", "launch", "my_robot", "bringup.launch.py", *argv])
    assert launch_module.unknown_argument_warnings(argv, "depth.launch.py") == []


def test_the_launch_fails_when_the_node_exits_with_an_error(launch_module: types.ModuleType) -> None:
    """``ros2 launch`` exited 0 after the node's ``cannot start`` (exit code 1): systemd or a script saw success."""
    exited = types.SimpleNamespace
    (shutdown,) = launch_module.fail_unless_clean_exit(exited(returncode=0), None)
    assert shutdown.kwargs == {"reason": "mono_depth_node exited"}
    for code in (1, -9):
        with pytest.raises(RuntimeError, match=rf"mono_depth_node exited with code {code} \(its log above"):
            launch_module.fail_unless_clean_exit(exited(returncode=code), None)


def test_a_node_ended_by_the_stop_signal_of_a_launch_shutting_down_does_not_fail_it(
    launch_module: types.ModuleType,
) -> None:
    """Ctrl-C on ``ros2 launch`` while the node was still importing (its stop handlers not yet installed) ended it by
    the signal (code -2; real Humble, 0.8 s after the start) and the launch failed: "[ERROR] process has died",
    exit 1, for the stop the user asked for. A signal's end while the launch is not shutting down still fails it."""
    exited, context = types.SimpleNamespace, types.SimpleNamespace
    for code in (-2, -15):  # SIGINT, SIGTERM (launch's escalation)
        assert launch_module.fail_unless_clean_exit(exited(returncode=code), context(is_shutdown=True)) == []
        with pytest.raises(RuntimeError, match=rf"exited with code {code} "):
            launch_module.fail_unless_clean_exit(exited(returncode=code), context(is_shutdown=False))
    with pytest.raises(RuntimeError, match=r"exited with code -9 "):  # SIGKILL: it did not stop when asked
        launch_module.fail_unless_clean_exit(exited(returncode=-9), context(is_shutdown=True))
    with pytest.raises(RuntimeError, match=r"exited with code 1 "):
        launch_module.fail_unless_clean_exit(exited(returncode=1), context(is_shutdown=True))


def test_a_second_include_that_inherits_the_first_ones_image_or_namespace_fails_the_launch(
    description: LaunchDescription,
) -> None:
    """Humble's IncludeLaunchDescription leaves its arguments set for the includes after it (seen on real Humble): a
    left camera's include without image:= ran a node on the front camera's image, publishing /left/depth/* silently."""
    launches = [Context({}, []) for _ in range(3)]  # `ros2 launch robot.launch.py`: two includes of depth.launch.py
    for launch in launches:
        _launch(description, launch, namespace="front", image="/front/image_raw", lidar="/points")
    with pytest.raises(ConfigError, match=r"'/left' \(image:=\) and the node in namespace '/front' \(image:=\) would "
                                          r"both compute depth from /front/image_raw; on Humble"):  # fmt: skip
        _launch(description, launches[0], namespace="left")
    with pytest.raises(ConfigError, match=r"twice in namespace '/front': both nodes would publish /front/depth/image"):
        _launch(description, launches[1], image="/left/image_raw")  # namespace:= left out
    _launch(description, launches[2], namespace="left", image="/left/image_raw", camera_info="/left/camera_info")
    pushed = Context({"ros_namespace": "/robot1"}, [])  # GroupAction([PushRosNamespace("robot1"), include])
    front = _launch(description, pushed, namespace="front", image="/a", camera_info="/a_info")
    assert front.kwargs["namespace"].variable_name == "namespace"
    _launch(description, pushed, namespace="left", image="/b", camera_info="/b_info")
    with pytest.raises(ConfigError, match="twice in namespace '/robot1/left'"):
        _launch(description, pushed, namespace="left", image="/c", camera_info="/c_info")


def test_two_includes_with_a_namespace_and_no_image_topic_fail_the_launch(description: LaunchDescription) -> None:
    """namespace:=front and namespace:=left, each scoped, topics left to the shipped params file: both nodes ran on
    its /camera/image_raw (real Humble), publishing one camera's depth twice as two cameras'."""
    launch = Context({}, [])
    _launch(description, launch, namespace="front")
    with pytest.raises(ConfigError, match=r"'/left' \(params_file\) and the node in namespace '/front' \(params_file\) "
                                          r"would both compute depth from /camera/image_raw"):  # fmt: skip
        _launch(description, launch, namespace="left")


def test_a_second_include_that_inherits_the_first_ones_camera_info_fails_the_launch(
    description: LaunchDescription,
) -> None:
    """The left include gives its image:= but leaves camera_info:= out: on Humble it takes the front camera's, and the
    left node paired left images with the front camera's calibration by stamp (hardware-synchronised cameras share
    stamps): depth and cloud with the wrong intrinsics, without a word."""
    launch = Context({}, [])
    _launch(description, launch, namespace="front", image="/front/image_raw", camera_info="/front/camera_info")
    refused = r"'/left' \(camera_info:=\) and the node in namespace '/front' \(camera_info:=\) would both take their "
    with pytest.raises(ConfigError, match=refused + "calibration from /front/camera_info"):
        _launch(description, launch, namespace="left", image="/left/image_raw")


def test_a_second_include_in_the_same_scope_is_warned_about_with_the_arguments_it_may_have_inherited(
    description: LaunchDescription, capsys: pytest.CaptureFixture[str]
) -> None:
    """front gives use_lidar:=false and weights:=, left (unscoped, its own topics) gives neither: on Humble left ran
    without LiDAR and on the front camera's model, silently; GroupAction(scoped=True) gives each include its own."""
    front = {
        "namespace": "front",
        "image": "/f/image",
        "camera_info": "/f/info",
        "use_lidar": "false",
        "weights": "f.pt",
    }
    left = {"namespace": "left", "image": "/l/image", "camera_info": "/l/info"}
    launch = Context({}, [])
    _launch(description, launch, **front)
    assert capsys.readouterr().out == ""
    _launch(description, launch, **left)
    warning = capsys.readouterr().out
    assert warning.startswith("depth.launch.py for namespace '/left' is included in the same launch-configuration "
                              "scope as the one for '/front': on Humble it takes every argument that one was given "
                              "and it leaves out;")  # fmt: skip
    same = warning.split("the same here: ", 1)[1].split("; ", 1)[0].split(", ")
    assert set(same) == {"weights=f.pt", "use_lidar=false", f"params_file={REPO_ROOT / 'config' / 'depth.yaml'}"}
    assert "GroupAction([...], scoped=True)" in warning
    scoped = Context({}, [])
    for include in (front, left):  # GroupAction(scoped=True): the configurations are restored after each group
        saved = dict(scoped.values)
        _launch(description, scoped, **include)
        scoped.values.clear()
        scoped.values.update(saved)
    assert capsys.readouterr().out == ""


def test_an_included_node_that_exits_leaves_the_rest_of_the_launch_running(
    description: LaunchDescription, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Included from a robot's bringup, one camera's node that could not start (device:=gpu) ended the whole launch
    on real Humble: the other camera's node and every other process of the robot were stopped, exit code 1. Run
    directly (`ros2 launch mono_depth_ros depth.launch.py`), the launch still ends with the node (for supervisors)."""
    monkeypatch.setattr(sys, "argv", ["ros2", "launch", "my_robot", "bringup.launch.py", "camera:=front"])
    assert _launch(description, device="cpu").kwargs["on_exit"] is None
    monkeypatch.setattr(sys, "argv", ["ros2", "launch", "mono_depth_ros", "depth.launch.py", "device:=cpu"])
    assert _launch(description, device="cpu").kwargs["on_exit"] is not None


def test_lifecycle_true_runs_the_managed_node(description: LaunchDescription) -> None:
    assert _launch(description).kwargs["executable"] == "mono_depth_node"
    assert _launch(description, lifecycle="true").kwargs["executable"] == "mono_depth_lifecycle_node"


def test_nav2_true_applies_the_preset_over_the_params_file(description: LaunchDescription) -> None:
    params_file, preset, overrides = _launch(description, nav2="true", device="cpu").kwargs["parameters"]
    assert params_file.endswith("depth.yaml")
    (parts,) = preset.args  # PathJoinSubstitution([FindPackageShare(...), "config", "depth_nav2.yaml"])
    assert parts[1:] == ["config", "depth_nav2.yaml"] and parts[0].args == ("mono_depth_ros",)
    assert set(overrides) == {"device"}  # command-line arguments still win


def node_output_topics() -> dict[str, str]:
    tree = ast.parse(NODE_FILE.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "OUTPUT_TOPICS" for t in node.targets):
            topics: dict[str, str] = ast.literal_eval(node.value)
            return {key: "/" + value.lstrip("/") for key, value in topics.items()}  # no namespace
    raise AssertionError("OUTPUT_TOPICS not found in node.py")


def rviz_displays() -> list[dict[str, Any]]:
    config = yaml.safe_load((REPO_ROOT / "config" / "depth.rviz").read_text())
    displays: list[dict[str, Any]] = config["Visualization Manager"]["Displays"]
    return displays


def test_rviz_config_shows_the_camera_the_depth_image_the_cloud_by_depth_and_tf() -> None:
    displays = rviz_displays()
    by_class: dict[str, list[dict[str, Any]]] = {}
    for display in displays:
        by_class.setdefault(display["Class"], []).append(display)
    outputs = node_output_topics()
    image_topics = {d["Topic"]["Value"] for d in by_class["rviz_default_plugins/Image"]}
    assert image_topics == {PARAMS_BY_NAME["image_topic"].default, outputs["depth"]}
    (cloud,) = by_class["rviz_default_plugins/PointCloud2"]
    assert cloud["Topic"]["Value"] == outputs["points"]
    assert (cloud["Color Transformer"], cloud["Axis"]) == ("AxisColor", "Z")  # z = depth in the optical frame
    assert "rviz_default_plugins/TF" in by_class
    for display in displays:  # our outputs are reliable by default; best effort accepts any camera driver
        if display.get("Topic", {}).get("Value") in outputs.values():
            assert display["Topic"]["Reliability Policy"] == "Reliable"
    config = yaml.safe_load((REPO_ROOT / "config" / "depth.rviz").read_text())
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"].endswith("optical_frame")


def test_nav2_example_feeds_the_voxel_layer_from_the_node_outputs() -> None:
    config = yaml.safe_load((REPO_ROOT / "config" / "nav2_costmap_example.yaml").read_text())
    params = config["local_costmap"]["local_costmap"]["ros__parameters"]
    voxel = params["voxel_layer"]
    assert "voxel_layer" in params["plugins"] and voxel["plugin"] == "nav2_costmap_2d::VoxelLayer"
    sources = {voxel[name]["topic"]: voxel[name] for name in voxel["observation_sources"].split()}
    outputs = node_output_topics()
    assert set(sources) == {outputs["points"], outputs["clearing"], outputs["scan"]}
    data_types = {outputs["points"]: "PointCloud2", outputs["clearing"]: "PointCloud2", outputs["scan"]: "LaserScan"}
    for topic, source in sources.items():
        assert source["data_type"] == data_types[topic]
        assert source["min_obstacle_height"] < source["max_obstacle_height"]
        assert PARAMS_BY_NAME["output.min_range"].default <= source["obstacle_min_range"] < source["obstacle_max_range"]
        assert source["obstacle_max_range"] <= source["raytrace_max_range"]
        assert source["expected_update_rate"] > 0
    marking = sources[outputs["points"]]
    assert marking["marking"] is True and 0 < marking["min_obstacle_height"] <= voxel["max_obstacle_height"]
    assert marking["inf_is_valid"] is False  # a cloud has no +Inf points
    assert voxel["z_voxels"] <= 16  # the voxel grid's hard limit


def test_nav2_example_runs_the_managed_node_under_a_manager_without_bond() -> None:
    """The README said: list mono_depth_node in the (Nav2) lifecycle manager's node_names. Nav2's manager then waits
    for a bond (bond_timeout, default 4 s) that this node never forms, and aborts the whole bringup."""
    config = yaml.safe_load((REPO_ROOT / "config" / "nav2_costmap_example.yaml").read_text())
    managers = [s["ros__parameters"] for s in config.values() if "node_names" in s.get("ros__parameters", {})]
    (manager,) = [m for m in managers if "mono_depth_node" in m["node_names"]]
    assert manager["node_names"] == ["mono_depth_node"] and manager["bond_timeout"] == 0.0
    readme = " ".join((REPO_ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "with `bond_timeout: 0.0` (`lifecycle_manager_depth` in `config/nav2_costmap_example.yaml`)" in readme


def test_the_node_docs_several_cameras_snippet_launches_a_node_per_camera(description: LaunchDescription) -> None:
    """docs/ros2_node.md "Several cameras": its robot launch file, run as written (each include scoped, robot.yaml a
    copy of the shipped params file), starts one node per camera; it left camera_info:= to a comment, so both nodes
    took /camera/camera_info and the launch failed on real Humble ("would both take their calibration from")."""
    doc = (REPO_ROOT / "docs" / "ros2_node.md").read_text(encoding="utf-8")
    section = doc[doc.index("### Several cameras") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    names: dict[str, Any] = dict.fromkeys(
        ("PythonLaunchDescriptionSource", "PathJoinSubstitution", "FindPackageShare", "IncludeLaunchDescription"),
        Recorded,
    )
    names.update(GroupAction=Recorded, LaunchDescription=LaunchDescription)
    exec(compile(snippet, "docs/ros2_node.md", "exec"), names)
    launch, nodes = Context({}, []), []
    for group in names["groups"]:
        assert group.kwargs["scoped"] is True
        (include,) = group.args[0]
        arguments = dict(include.kwargs["launch_arguments"])
        arguments["params_file"] = str(REPO_ROOT / "config" / "depth.yaml")  # robot.yaml
        before = dict(launch.values)
        nodes.append(_launch(description, launch, **arguments))
        launch.values.clear()
        launch.values.update(before)  # scoped: the group's launch configurations end with it
    assert len(nodes) == 2


def _show_args_default(default: Any) -> str:
    """A launch argument's default as the table writes it: the text, or the share path of the package's file in the
    launch-XML spelling (``$(find-pkg-share PKG)/config/depth.yaml``) for ``PathJoinSubstitution([FindPackageShare``."""
    if isinstance(default, str):
        return default or "''"  # as --show-args prints an empty default
    package, *parts = default.args[0]
    assert type(package).__name__ == "Recorded" and package.args == ("mono_depth_ros",), package
    return "/".join([f"$(find-pkg-share {package.args[0]})", *parts])


def test_the_node_docs_launch_argument_table_gives_each_arguments_default_and_parameter(
    launch_module: types.ModuleType, description: LaunchDescription
) -> None:
    """docs/ros2_node.md "Launch file": a row per launch argument, in the order ``--show-args`` lists them, with its
    default as declared and, for an argument that sets a node parameter, that parameter and its default (what applies
    when neither the argument nor the params file gives it). The prose gave no default for ``image``, ``camera_info``,
    ``lidar``, ``model``, ``weights`` and ``device``, and the README's ``device`` values left out ``cuda:N``."""
    node_doc = (REPO_ROOT / "docs" / "ros2_node.md").read_text(encoding="utf-8")
    section = node_doc[node_doc.index("## Launch file") :].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]  # cells; "\|" stays in one
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    assert [row[0].strip("`") for row in rows] == [e.name for e in declared]
    for (_, default, parameter, values), argument in zip(rows, declared, strict=True):
        assert default == f"`{_show_args_default(argument.kwargs['default_value'])}`", argument.name
        if argument.name in launch_module.ARGUMENT_PARAMETERS:
            name = launch_module.ARGUMENT_PARAMETERS[argument.name][0]
            spec = PARAMS_BY_NAME[name]
            assert parameter == f"`{name}`: `{spec.default!r}`", argument.name
            if spec.choices:
                assert values == " \\| ".join(f"`{choice}`" for choice in spec.choices), argument.name
        elif argument.name == "use_sim_time":
            assert parameter == "`use_sim_time`: `false`"  # rclpy's default, which the params file may set
        else:
            assert parameter == "", argument.name
    # the README's short list gives an argument's values as ``name`` (`a` | `b` ...): those --show-args lists
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    listing = " ".join(readme[readme.index("Launch arguments:") :].split("\n\n", 1)[0].split())
    told = dict(re.findall(r"`(\w+)` \((`[\w:]+`(?: \| `[\w:]+`)+)", listing))
    assert {"model", "device", "image_transport"} <= set(told), told
    for name, values in told.items():
        (argument,) = (e for e in declared if e.name == name)
        shown = re.search(r"(\w+(?: \| [\w:]+)+)", argument.kwargs["description"])
        assert shown, (name, argument.kwargs["description"])
        assert re.findall(r"`([\w:]+)`", values) == shown.group(1).split(" | "), name
