"""adapters/parameter_sources.py: params-file sections and override names that rclpy would apply silently (none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.adapters.parameter_sources import (
    doubles_for_ints,
    init_failure_text,
    params_files,
    section_matches,
    unknown_override_warnings,
    unmatched_file_warning,
    unmatched_files_warnings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

# Section key -> does it apply to the node in each namespace: what rclpy 3.3.15 on real Humble gave the node
# mono_depth_node in /, /robot1 and /a/b for a params file with these keys (overrides the node received).
SEEN_ON_HUMBLE = {
    "mono_depth_node": ("/", ),
    "/mono_depth_node": ("/", ),
    "/**/mono_depth_node": ("/", "/robot1", "/a/b"),
    "/*/mono_depth_node": ("/robot1", ),
    "/robot1/mono_depth_node": ("/robot1", ),
    "robot1/mono_depth_node": ("/robot1", ),
    "/**": ("/", "/robot1", "/a/b"),
    "/*": ("/", ),
    "/robot1/*": ("/robot1", ),
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(SEEN_ON_HUMBLE))
@pytest.mark.parametrize("namespace", ["/", "/robot1", "/a/b"])
def test_section_keys_match_as_rclpy_matches_them(key: str, namespace: str) -> None:
    fqn = namespace.rstrip("/") + "/mono_depth_node"
    assert section_matches(key, fqn) is (namespace in SEEN_ON_HUMBLE[key])


def test_params_files_are_read_from_the_ros_args_sections_only() -> None:
    argv = ["node", "--params-file", "not_ros.yaml", "--ros-args", "-r", "__node:=x", "--params-file", "a.yaml",
            "-p", "x:=1", "--params-file", "b.yaml", "--", "--params-file", "c.yaml",
            "--ros-args", "--params-file"]  # fmt: skip
    assert params_files(argv) == ["a.yaml", "b.yaml"]


def test_a_file_for_another_node_name_is_named_with_the_sections_that_would_apply() -> None:
    document = {"depth_node": {"ros__parameters": {"output": {"max_range": 30.0}}}}
    warning = unmatched_file_warning("p.yaml", document, "/mono_depth_node")
    assert warning is not None
    assert "no section applies to this node /mono_depth_node (sections: depth_node)" in warning
    assert "/**, mono_depth_node, /mono_depth_node" in warning
    assert unmatched_file_warning("p.yaml", {"/**": {"ros__parameters": {}}}, "/mono_depth_node") is None


def test_a_section_without_the_namespace_is_reported_for_a_namespaced_node() -> None:
    document = {"mono_depth_node": {"ros__parameters": {}}}
    warning = unmatched_file_warning("p.yaml", document, "/robot1/mono_depth_node")
    assert warning is not None and "/**, /**/mono_depth_node, /robot1/mono_depth_node" in warning


def test_files_on_the_command_line_are_checked(tmp_path: Path) -> None:
    good, wrong = tmp_path / "good.yaml", tmp_path / "wrong.yaml"
    good.write_text("/**:\n  ros__parameters:\n    device: cpu\n")
    wrong.write_text("depth_node:\n  ros__parameters:\n    device: cpu\n")
    argv = ["node", "--ros-args", "--params-file", str(good), "--params-file", str(wrong),
            "--params-file", str(tmp_path / "missing.yaml")]  # fmt: skip
    warnings = unmatched_files_warnings(argv, "/mono_depth_node")
    assert len(warnings) == 1 and str(wrong) in warnings[0]


def test_undeclared_override_names_are_warned_with_the_nearest_parameter() -> None:
    declared = {"output.max_range", "use_sim_time"}.__contains__
    names = ["output.max_rnage", "use_sim_time", "output.max_range", "mono_depth_node.output.max_range",
             "qos_overrides./camera/image_raw.subscription.reliability"]  # fmt: skip
    warnings = unknown_override_warnings(names, declared)
    assert warnings == [
        "parameter 'mono_depth_node.output.max_range' (params file or -p) is not a parameter of this node and is "
        "ignored; did you mean output.max_range?",
        "parameter 'output.max_rnage' (params file or -p) is not a parameter of this node and is ignored; "
        "did you mean output.max_range, output.min_range, output.downscale?",
        "parameter 'qos_overrides./camera/image_raw.subscription.reliability' (params file or -p) is not a parameter "
        "of this node and is ignored; this node's QoS is set by input_qos and output_qos (sensor_data | reliable)",
    ]


def test_an_rclpy_init_failure_is_one_line_without_source_locations() -> None:
    other = "failed to initialize rcl: Couldn't parse arguments, at /src/rcl/arguments.c:406"
    assert init_failure_text(RuntimeError(other)) == "failed to initialize rcl: Couldn't parse arguments"
    layout = init_failure_text(RuntimeError("Error: Cannot have a value before ros__parameters at line 3"))
    assert layout.endswith(
        "a node name (mono_depth_node) or /** with ros__parameters: under it and the parameters under that"
    )


def test_a_remap_rule_rcl_cannot_parse_is_named_with_the_forms_it_takes() -> None:
    """What rcl said on real Humble for ``-r __ns:=robot1`` (a relative namespace): only its lexer's view."""
    rcl = "failed to initialize rcl: Couldn't parse remap rule: '-r __ns:=robot1'. Error: Expected lexeme type 19, "
    rcl += "got 18"
    text = init_failure_text(RuntimeError(f"{rcl} at index 6, at /src/rcl/arguments.c:1020"))
    assert text.startswith(rcl) and text.endswith(
        "; a remap rule is FROM:=TO of ROS names (letters, digits, _ and /, no spaces): -r /camera/image_raw:=/robot1/"
        "cam/image; __ns:= takes an absolute namespace (-r __ns:=/robot1), __node:= a plain name (-r __node:=front)"
    )


def test_the_logger_name_of_a_node_that_could_not_start_names_its_camera() -> None:
    """'[mono_depth_node]: cannot start: ...' from one of two cameras' nodes did not say which (real Humble)."""
    from mono_depth_ros.adapters.parameter_sources import logger_name

    launched = ["mono_depth_node", "--ros-args", "-r", "__node:=mono_depth_node", "-r", "__ns:=/robot1/left",
                "--params-file", "/tmp/p.yaml"]  # fmt: skip
    assert logger_name(launched) == "robot1.left.mono_depth_node"
    assert logger_name(["mono_depth_node", "--ros-args", "-r", "__ns:=/"]) == "mono_depth_node"
    assert logger_name(["mono_depth_node", "--ros-args", "--remap", "__node:=depth_front"]) == "depth_front"
    assert logger_name(["mono_depth_node", "-r", "__ns:=/x"]) == "mono_depth_node"  # not in --ros-args: not a remap


def test_integer_overrides_of_float_parameters_are_made_doubles_in_place_before_the_declaration() -> None:
    class Parameter:  # rclpy's, as far as as_double reads and makes one
        def __init__(self, name: str, value: object) -> None:
            self.name, self.value = name, value

    given = {name: Parameter(name, value) for name, value in {"output.max_range": 80, "cloud.stride": 8}.items()}
    stride, overrides = given["cloud.stride"], dict(given)
    doubles_for_ints(overrides)
    held = {name: (type(parameter.value), parameter.value) for name, parameter in overrides.items()}
    assert held == {"output.max_range": (float, 80.0), "cloud.stride": (int, 8)} and overrides["cloud.stride"] is stride


def test_a_relative_params_file_rcl_cannot_open_names_the_working_directory_and_the_packages_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/ros2_node.md's ``ros2 run mono_depth_ros mono_depth_node --ros-args --params-file config/depth.yaml``
    typed outside the source tree (real Humble, from a scratch folder): "cannot start: failed to initialize rcl:
    Couldn't parse params file: '--params-file config/depth.yaml'. Error: Error opening YAML file" only. Now also where
    it was read from and the package's depth.yaml, as ``ros2 launch ... params_file:=`` and ``mono-depth bag
    --config`` say."""
    monkeypatch.chdir(tmp_path)
    rcl = "failed to initialize rcl: Couldn't parse params file: '--params-file config/depth.yaml'. Error: Error "
    rcl += "opening YAML file"
    text = init_failure_text(RuntimeError(f"{rcl}, at /src/rcl/arguments.c:406"))
    assert text.startswith(rcl), text
    assert f"relative to the working directory {tmp_path}: {tmp_path}/config/depth.yaml" in text, text
    assert f"the package's depth.yaml is {REPO_ROOT}/config/depth.yaml" in text, text
    absolute = rcl.replace("config/depth.yaml", f"{tmp_path}/p.yaml")
    assert init_failure_text(RuntimeError(absolute)) == absolute  # an absolute path: rcl's words say it all
