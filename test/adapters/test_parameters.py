"""Parameter descriptors, run-time change checks and the device fallback of the node (ROS-free)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mono_depth_ros.adapters.parameters import (
    apply_changes,
    as_double,
    declare_failure,
    descriptor_fields,
    device_fallback,
    typed_as_declared,
)
from mono_depth_ros.config import PARAMS, PARAMS_BY_NAME, ParamSpec, yaml_bool_choices
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.depth_config import DepthConfig


def test_descriptor_for_every_parameter() -> None:
    for spec in PARAMS:
        fields = descriptor_fields(spec)
        assert fields.description == spec.description
        assert fields.read_only is not spec.dynamic
        # floats take ints; on / off choices and run-time parameters: a wrong type refused by the node, named
        assert fields.dynamic_typing is (spec.type is float or yaml_bool_choices(spec) != {} or spec.dynamic), spec.name
        assert ("read at start-up" in fields.additional_constraints) is not spec.dynamic
        for choice in spec.choices:
            assert repr(choice) in fields.additional_constraints
        has_range = spec.min_value is not None
        assert (fields.float_range is not None) is (has_range and spec.type is float), spec.name
        assert (fields.int_range is not None) is (has_range and spec.type is int), spec.name
        if fields.float_range is not None:
            assert fields.float_range == (spec.min_value, spec.max_value)
            assert all(type(v) is float for v in fields.float_range)
        if fields.int_range is not None:
            assert fields.int_range == (spec.min_value, spec.max_value)
            assert all(type(v) is int for v in fields.int_range)


def test_descriptor_open_ended_ranges() -> None:
    fields = descriptor_fields(ParamSpec("x", 1.0, "only a minimum", min_value=0.0))
    assert fields.float_range is not None and fields.float_range[0] == 0.0 and fields.float_range[1] > 1e300
    fields_int = descriptor_fields(ParamSpec("n", 1, "only a maximum", max_value=9))
    assert fields_int.int_range == (-(2**63), 9)


def test_apply_changes_coerces_and_ignores_foreign_names() -> None:
    current = DepthConfig.from_params()
    changed = apply_changes(current, {"output.max_range": 40, "cloud.rgb": True, "use_sim_time": True})
    assert (changed.output.max_range, changed.cloud.rgb) == (40.0, True)
    assert type(changed.output.max_range) is float and current.output.max_range == 80.0  # a new value
    assert apply_changes(current, {"qos_overrides./x.reliability": "reliable"}) is current


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"model.backend": "onnx"}, "restart the node"),
        ({"output.max_range": 0.05}, "output.min_range"),
        ({"output.max_range": float("nan")}, "finite"),
        ({"output.max_range": None}, r"cannot be deleted.*set a value instead .*default 80.0"),  # rclpy's NOT_SET
        ({"output.max_range": "far"}, "not a valid float"),
        ({"cloud.mode": "sparse"}, "must be one of"),
        ({"cloud.stride": 0}, "below its minimum"),
        ({"scale.fixed_scale": 1e9}, "above its maximum"),
        ({"cloud.stride": 2.5}, "not a valid int"),
    ],
)
def test_apply_changes_rejects_with_a_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        apply_changes(DepthConfig.from_params(), changes)


def test_a_delete_is_refused_with_the_remedy_configured_or_not() -> None:
    """``ros2 param delete`` of a float parameter (dynamically typed, so rclpy leaves it to the callback) was refused
    as 'parameter output.max_range=None is not a valid float: got NoneType'."""
    for configured in (True, False):
        with pytest.raises(ConfigError, match=r"^parameter lidar.wait_s cannot be deleted \(the node reads it\)"):
            apply_changes(DepthConfig.from_params(), {"lidar.wait_s": None}, configured, managed=True)


@given(st.sampled_from([p for p in PARAMS if p.dynamic and p.type is float]), st.integers(-(10**7), 10**7))
def test_integer_for_a_float_parameter_follows_the_range(spec: ParamSpec, value: int) -> None:
    assert spec.min_value is not None and spec.max_value is not None
    current = DepthConfig.from_params({"output.min_range": 0.0, "output.max_range": 10000.0})
    in_range = spec.min_value <= value <= spec.max_value
    if spec.name == "output.max_range":
        in_range = in_range and value > 0.0  # above output.min_range (0 here)
    if in_range:
        assert apply_changes(current, {spec.name: value}).params[spec.name] == float(value)
    else:
        with pytest.raises(ConfigError):
            apply_changes(current, {spec.name: value})


def test_device_fallback() -> None:
    calls: list[int] = []

    def no_cuda() -> bool:
        calls.append(1)
        return False

    assert device_fallback("auto", no_cuda) == ("auto", None)
    assert device_fallback("cpu", no_cuda) == ("cpu", None)
    assert calls == []  # torch is not consulted for auto / cpu
    device, warning = device_fallback("cuda:1", no_cuda)
    assert device == "cpu" and warning is not None and "cuda:1" in warning and "CPU" in warning
    assert device_fallback("cuda", lambda: True) == ("cuda", None)
    assert PARAMS_BY_NAME["device"].default == "auto"


def test_node_doc_lists_every_parameter() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ros2_node.md").read_text()
    missing = [spec.name for spec in PARAMS if f"| `{spec.name}` |" not in doc]
    assert not missing, f"docs/ros2_node.md lacks {missing}; regenerate its parameter table from config.PARAMS"


def test_the_largest_scale_min_points_the_range_allows_is_usable_at_run_time() -> None:
    """The range said up to 1e6 but the fit takes at most 8192 points: `ros2 param set ... scale.min_points 10000`
    was accepted, then refused by the worker (one frame skipped as 'ConfigError'), the old value still in force."""
    from mono_depth_ros.core.scale import RecoveryConfig

    largest = PARAMS_BY_NAME["scale.min_points"].max_value
    RecoveryConfig.from_params({"scale.min_points": largest})  # what the pipeline builds from it
    with pytest.raises(ConfigError, match=r"scale\.min_points"):
        apply_changes(DepthConfig.from_params({}), {"scale.min_points": int(largest) + 1})


def test_a_managed_node_takes_start_up_parameters_only_while_unconfigured() -> None:
    """The lifecycle node reads its start-up parameters at configure: settable before it (value by value), refused
    after it with the cleanup remedy; the plain node keeps them read-only (restart)."""
    weights = PARAMS_BY_NAME["model.weights"]
    assert descriptor_fields(weights).read_only and not descriptor_fields(weights, managed=True).read_only
    assert "read at configure" in descriptor_fields(weights, managed=True).additional_constraints
    # set while unconfigured: a wrong type reaches the on-set callback, which names the parameter and the value
    assert all(descriptor_fields(spec, managed=True).dynamic_typing for spec in PARAMS), "rclpy's refusal names none"
    current = DepthConfig.from_params()
    assert apply_changes(current, {"model.weights": "/m.onnx", "device": "gpu"}, configured=False) is current
    with pytest.raises(ConfigError, match=r"output\.max_range"):
        apply_changes(current, {"output.max_range": "far"}, configured=False)  # each value is still checked
    with pytest.raises(ConfigError, match="read at configure; to change it, deactivate and clean up the node"):
        apply_changes(current, {"model.weights": "/m.onnx"}, configured=True, managed=True)
    with pytest.raises(ConfigError, match="read at start-up; to change it, restart the node"):
        apply_changes(current, {"model.weights": "/m.onnx"})


def test_descriptor_message_fields_and_the_declare_failure_text() -> None:
    spec = PARAMS_BY_NAME["output.max_range"]
    fields = descriptor_fields(spec)
    assert fields.message_fields() == {
        "description": spec.description,
        "additional_constraints": fields.additional_constraints,
        "read_only": False,
        "dynamic_typing": True,
    }
    text = declare_failure(PARAMS_BY_NAME["device"], ValueError("type STRING expected, got INTEGER"))
    assert text.startswith("parameter device: type STRING expected, got INTEGER; expected str (")
    assert text.endswith("; quote strings in YAML")


def test_a_pitch_in_degrees_refused_at_declare_names_the_radians() -> None:
    """``scale.camera_pitch_rad: 5.0`` (degrees) in a params file: rclpy applies the declared range to a float before
    the on-set callback, so the node's start-up refusal was rclpy's 'out of range. Min: -1.6, Max: 1.6, value: 5.0'
    without the unit that config.coerce names; it now says the parameter is in radians and the factor."""
    rclpy_text = (
        "Invalid parameter value (5.0) for parameter. Reason: Parameter scale.camera_pitch_rad out of range. "
        "Min: -1.6, Max: 1.6, value: 5.0"
    )  # rclpy.exceptions.InvalidParameterValueException from Node.declare_parameter (Humble)
    text = declare_failure(PARAMS_BY_NAME["scale.camera_pitch_rad"], ValueError(rclpy_text))
    assert f"value: 5.0; it is in radians: a value in degrees times {math.radians(1.0):.4g}; expected float" in text
    wrong_type = declare_failure(PARAMS_BY_NAME["scale.camera_pitch_rad"], ValueError("type STRING expected"))
    assert "radians" not in wrong_type  # a wrong type is no unit mistake
    assert "radians" not in declare_failure(PARAMS_BY_NAME["output.max_range"], ValueError(rclpy_text))


def test_a_declare_refusal_reads_as_one_sentence_with_the_remedy_for_its_kind() -> None:
    """rclpy raises InvalidParameterValueException with two args (its message, the parameter's name): str() of it is
    a tuple, and the real node said "parameter scale.camera_pitch_rad: ('Invalid parameter value (5.0) ... value:
    5.0', 'scale.camera_pitch_rad'); ...; quote strings in YAML", a remedy for a string where a number was out of
    range. The message is now rclpy's text alone; 'quote strings in YAML' only follows a refusal that is no range."""
    reason = "Parameter output.max_range out of range. Min: 0.0, Max: 10000.0, value: 20000.0"
    two_args = ValueError(f"Invalid parameter value (20000.0) for parameter. Reason: {reason}", "output.max_range")
    text = declare_failure(PARAMS_BY_NAME["output.max_range"], two_args)
    assert text.startswith(
        f"parameter output.max_range: Invalid parameter value (20000.0) for parameter. Reason: {reason}"
    )
    assert "('" not in text and "quote strings" not in text, text
    wrong_type = declare_failure(PARAMS_BY_NAME["device"], ValueError("Wrong parameter type", "device"))
    assert wrong_type.startswith("parameter device: Wrong parameter type;") and wrong_type.endswith(
        "quote strings in YAML"
    )


class _DescribedNode:
    """rclpy's node as far as typed_as_declared reads it: the stored descriptors, which rclpy has already typed
    as the values asked for (``Node._apply_descriptor``), and the values held."""

    def __init__(self, held: dict[str, tuple[Any, int]]) -> None:
        self.held = {
            name: SimpleNamespace(value=value, type_=SimpleNamespace(value=kind))
            for name, (value, kind) in held.items()
        }
        self.descriptors = {name: SimpleNamespace(type=99) for name in held}  # 99: what rclpy wrote for the request

    def has_parameter(self, name: str) -> bool:
        return name in self.held

    def describe_parameter(self, name: str) -> Any:
        return self.descriptors[name]

    def get_parameter(self, name: str) -> Any:
        return self.held[name]


class _Parameter:
    """rclpy's ``Parameter`` as far as as_double makes one: typed by its value (1 bool, 2 integer, 3 double)."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value
        kind = 1 if isinstance(value, bool) else 2 if isinstance(value, int) else 3 if isinstance(value, float) else 4
        self.type_ = SimpleNamespace(value=kind)


@pytest.mark.parametrize("successful", [False, True])
def test_a_refused_set_puts_back_the_described_types_and_a_taken_one_describes_what_is_stored(successful: bool) -> None:
    node = _DescribedNode({"cloud.rgb": (False, 1), "cloud.stride": (4, 2), "output.max_range": (80.0, 3)})
    seen: list[list[Any]] = []

    def on_set(parameters: list[Any]) -> Any:
        seen.append(list(parameters))
        return SimpleNamespace(successful=successful, reason="" if successful else "parameter cloud.rgb=1 ...")

    asked = [_Parameter("cloud.rgb", 1), _Parameter("cloud.stride", 8), _Parameter("output.max_range", 30)]
    asked.append(_Parameter("being_declared", 1.0))  # not declared yet: no descriptor to put back
    before = list(asked)
    result = typed_as_declared(on_set, node)(asked)
    assert result.successful is successful  # the callback's answer, as it gave it
    assert seen == [asked] and asked[:2] == before[:2] and asked[3] is before[3]  # in place: the list rclpy stores
    assert (type(asked[2]), asked[2].name, asked[2].value, asked[2].type_.value) == (
        _Parameter,
        "output.max_range",
        30.0,
        3,
    )
    assert type(asked[2].value) is float  # 30 for a float parameter: the double 30.0
    described = {name: descriptor.type for name, descriptor in node.descriptors.items()}
    stored = {"cloud.rgb": 2, "cloud.stride": 2, "output.max_range": 3}  # rclpy refuses cloud.rgb=1 in on_set
    assert described == (stored if successful else {"cloud.rgb": 1, "cloud.stride": 2, "output.max_range": 3})


@pytest.mark.parametrize(
    ("name", "value", "converted"),
    [("output.max_range", 30, 30.0), ("output.max_range", 30.5, None), ("output.max_range", True, None),
     ("output.max_range", "30", None), ("cloud.stride", 8, None), ("use_sim_time", 1, None)],
)  # fmt: skip
def test_only_an_integer_for_a_float_parameter_of_the_table_becomes_a_double(
    name: str, value: Any, converted: float | None
) -> None:
    parameter = _Parameter(name, value)
    made = as_double(parameter)
    if converted is None:
        assert made is parameter  # a bool, a string stay for coerce to refuse; int parameters and others' untouched
    else:
        assert made is not parameter and (made.name, made.value, type(made.value)) == (name, converted, float)
