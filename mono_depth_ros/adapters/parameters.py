"""The node's parameters as ROS declares them: descriptor contents, run-time change checks, device fallback.

ROS-free: :mod:`mono_depth_ros.node` turns :class:`DescriptorFields` into ``rcl_interfaces/ParameterDescriptor``
and answers its on-set-parameters callback with :func:`apply_changes`. The one parameter table is
:data:`mono_depth_ros.config.PARAMS`.

Typing choice: rclpy types a parameter statically from its default and rejects an INTEGER for a DOUBLE parameter
(``max_range: 80`` in YAML, ``scale:=1`` in launch, ``ros2 param set ... 80``). Float parameters are therefore
declared with ``dynamic_typing`` and every value goes through ``config.coerce``, which accepts ints and rejects
anything else (the on-set callback returns the reason). Their FloatingPointRange is still declared, for
``ros2 param describe`` and for DOUBLE values; the callback applies the same range to INTEGER values. String
parameters with a choice YAML reads unquoted as a boolean (``off``, ``on``: ``config.yaml_bool_choices``) are
dynamically typed too, so that ``ros2 param set ... off`` gets the callback's refusal with the quoting remedy, and
so is every run-time parameter: rclpy's own refusal of a wrong type (``ros2 param set NODE cloud.rgb 1``: "Wrong
parameter type, expected 'Type.BOOL' got 'Type.INTEGER'") named neither the parameter nor the value; the
callback's (``config.coerce``) names both and the type expected. For the same reason the managed node declares
its start-up parameters, settable while unconfigured, dynamically typed too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mono_depth_ros.config import PARAMS_BY_NAME, ParamSpec, coerce, unit_hint, yaml_bool_choices
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.depth_config import DepthConfig


@dataclass(frozen=True)
class DescriptorFields:
    """What a ``rcl_interfaces/ParameterDescriptor`` gets for one :class:`~mono_depth_ros.config.ParamSpec`.

    Float parameters (strings with an ``on`` / ``off`` choice, and every run-time parameter, so that a wrong type
    is refused with the parameter's name) use ``dynamic_typing`` so that YAML / launch /
    ``ros2 param set`` integers (``max_range: 80``) are accepted (rclpy's static typing rejects an INTEGER for a
    DOUBLE parameter); the node converts every value with ``config.coerce``, and its on-set callback rejects
    anything that does not convert (a YAML boolean for ``off``: with the quoting remedy).
    """

    description: str
    read_only: bool
    dynamic_typing: bool
    additional_constraints: str
    float_range: tuple[float, float] | None
    int_range: tuple[int, int] | None

    def message_fields(self) -> dict[str, Any]:
        """The descriptor message's plain fields (the ranges are messages of their own): keyword arguments."""
        return {
            "description": self.description,
            "additional_constraints": self.additional_constraints,
            "read_only": self.read_only,
            "dynamic_typing": self.dynamic_typing,
        }


def declare_failure(spec: ParamSpec, err: Exception) -> str:
    """The message for an override that rclpy refused when ``spec`` was declared (wrong type, out of range: rclpy
    applies the declared range to a float before the on-set callback, so an angle's unit is named here)."""
    text = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)  # rclpy's: (text, parameter name)
    out_of_range = "out of range" in text
    hint = unit_hint(spec) if out_of_range else ""
    remedy = "" if out_of_range else "; quote strings in YAML"
    return f"parameter {spec.name}: {text}{hint}; expected {spec.type.__name__} ({spec.description}){remedy}"


def descriptor_fields(spec: ParamSpec, managed: bool = False) -> DescriptorFields:
    """Descriptor contents for ``spec`` (read-only unless ``spec.dynamic``; ranges from min/max; choices listed).

    ``managed``: for the lifecycle node, whose start-up parameters are read at configure: not read-only, so that
    they can be set while it is unconfigured (:func:`apply_changes` refuses them once it is configured), and
    dynamically typed as the run-time ones, so that a wrong type set while unconfigured is refused by the on-set
    callback naming the parameter and the value (rclpy's own refusal, "Wrong parameter type, expected 'Type.BOOL'
    got 'Type.INTEGER'", named neither).
    """
    notes: list[str] = []
    if spec.choices:
        notes.append("one of: " + ", ".join(repr(c) for c in spec.choices))
    float_range = int_range = None
    has_range = spec.min_value is not None or spec.max_value is not None
    low = spec.min_value if spec.min_value is not None else -np.finfo(np.float64).max
    high = spec.max_value if spec.max_value is not None else np.finfo(np.float64).max
    if spec.type is float:
        notes.append("float (integers accepted)")
        if has_range:
            float_range = (float(low), float(high))
    elif spec.type is int and has_range:
        int_range = (int(max(low, -(2**63))), int(min(high, 2**63 - 1)))
    if not spec.dynamic:
        notes.append(
            "read at configure (set it while unconfigured)"
            if managed
            else "read at start-up (restart the node to change)"
        )
    return DescriptorFields(
        description=spec.description,
        read_only=not spec.dynamic and not managed,
        dynamic_typing=spec.type is float or bool(yaml_bool_choices(spec)) or spec.dynamic or managed,
        additional_constraints="; ".join(notes),
        float_range=float_range,
        int_range=int_range,
    )


def as_double(parameter: Any) -> Any:
    """``parameter`` (rclpy's ``Parameter``, duck-typed), or, when it gives an integer to a float parameter of the
    table (``ros2 param set NODE output.max_range 30``, ``max_range: 80`` in YAML), a new one of its class with the
    same number as a float: rclpy types a value by its Python type, so the node held an INTEGER (``ros2 param get``:
    "Integer value is: 30") for a parameter described as a double."""
    spec = PARAMS_BY_NAME.get(parameter.name)
    if spec is None or spec.type is not float or type(parameter.value) is not int:
        return parameter
    return type(parameter)(parameter.name, value=float(parameter.value))


def typed_as_declared(on_set: Callable[[list[Any]], Any], node: Any) -> Callable[[list[Any]], Any]:
    """``on_set`` (the node's on-set-parameters callback), holding and describing each value as the type declared.

    An integer for a float parameter is replaced, in the list rclpy passes to the callbacks and then stores from
    (Humble and Jazzy, ``Node._set_parameters_atomically``: the same list object), by the number as a float
    (:func:`as_double`), so that the node holds a double and ``ros2 param get`` shows one.

    rclpy (Humble and Jazzy, ``Node._apply_descriptor``) writes a dynamically typed parameter's new type into its
    stored descriptor before the callbacks run and leaves it there when one refuses: after ``ros2 param set NODE
    cloud.rgb 1`` (refused) ``ros2 param describe`` said "Type: integer" for a bool holding false (real Humble), the
    type rqt_reconfigure picks its editor by. The described type is put back to the value held after a refusal and
    set to the value stored after a success (a double for the integer given). Duck-typed on rclpy's node
    (``has_parameter``, ``describe_parameter``, which returns the stored descriptor, ``get_parameter``: the value
    held, as the change is not stored yet).
    """

    def checked(parameters: list[Any]) -> Any:
        parameters[:] = [as_double(parameter) for parameter in parameters]  # the list rclpy stores from
        result = on_set(parameters)
        for parameter in parameters:
            if node.has_parameter(parameter.name):  # declared: not being declared
                kept = parameter if result.successful else node.get_parameter(parameter.name)
                node.describe_parameter(parameter.name).type = kept.type_.value
        return result

    return checked


def apply_changes(
    config: DepthConfig,
    changes: Mapping[str, Any],
    configured: bool = True,
    managed: bool = False,
    active: bool = True,
) -> DepthConfig:
    """A parameter set request applied to ``config``: a new, validated config (``config`` itself if none is ours).

    Names the table does not own (``use_sim_time``, ``qos_overrides.*``, ...) are ignored: other parts of the node
    may own them. Validation happens once, here (:meth:`DepthConfig.with_changes`).

    Args:
        configured: False for a managed node before configure or after cleanup: then every parameter of ours may
            change, start-up ones included (a failed configure is retried after fixing one); each value is checked
            alone, configure validates them together, and ``config`` is returned as it is.
        managed: the node is the lifecycle node (the remedy for a start-up parameter is cleanup, not a restart).
        active: the lifecycle node is active, not inactive (the remedy starts with deactivate, and ends with
            activate).

    Raises:
        ConfigError: a read-only parameter, a deleted one (``ros2 param delete``: value None), a value of the wrong
            type, out of range or not finite, or a combination the table rejects (e.g. ``output.min_range >=
            output.max_range``); the message is the reason.
    """
    owned: dict[str, Any] = {}
    for name, value in changes.items():
        spec = PARAMS_BY_NAME.get(name)
        if spec is None:
            continue
        if value is None:  # rclpy's NOT_SET: ``ros2 param delete`` (a float, dynamically typed, reaches us)
            msg = f"parameter {name} cannot be deleted (the node reads it); set a value instead "
            msg += f"(default {spec.default!r})"
            raise ConfigError(msg)
        if not configured:
            coerce(spec, value)  # type, range, choices; the combination is configure's to check
            continue
        if not spec.dynamic:
            remedy = "clean up the node, set it, then configure" if managed else "restart the node"
            if managed and active:
                remedy = f"deactivate and {remedy} and activate"
            msg = f"parameter {name} is read at {'configure' if managed else 'start-up'}; to change it, {remedy}"
            raise ConfigError(msg)
        owned[name] = value
    return config.with_changes(owned) if owned else config


def device_fallback(requested: str, cuda_available: Callable[[], bool]) -> tuple[str, str | None]:
    """The device to open the model on, and a warning when ``cuda`` / ``cuda:N`` is not available (then ``cpu``).

    ``auto`` and ``cpu`` pass through unchanged (``auto`` falls back inside the model loader); ``cuda_available``
    is only called for a CUDA request, so torch is imported only when it matters.
    """
    name = requested.strip().lower()
    if (name == "cuda" or name.startswith("cuda:")) and not cuda_available():
        return "cpu", f"device {requested!r} requested but CUDA is not available; running on the CPU (slow)"
    return requested, None
