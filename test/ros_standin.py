"""An in-test stand-in for exactly the ROS 2 Python surface ``mono_depth_ros.node`` uses (no ROS installed).

:func:`modules` returns fake ``rclpy`` (+ ``node``, ``qos``, ``parameter``, ``exceptions``, ``executors``, ``duration``,
``time``, ``logging``), ``rcl_interfaces.msg``, ``message_filters``, ``tf2_ros`` and message modules for
``sys.modules``. Behaviour follows rclpy 3.3 (Humble) as recorded in ../shared/docs/ros2_api_notes.md, and is
stricter where Humble and Jazzy differ, so code that passes here uses only the common surface:

* parameters (§4): type from the default, strict INTEGER-vs-DOUBLE check unless ``dynamic_typing``, ``value=None``
  with a descriptor rejected (Jazzy), ranges (bounds inclusive), read-only, on-set callbacks run for declarations
  too and are inserted at the front;
* QoS (§5): a profile needs ``history`` or ``depth``; subscriptions take a QoSProfile or an int >= 0;
* subscription callbacks (§6) must take the message alone (Jazzy refuses any other when subscribing, with two
  arguments it passes ``MessageInfo`` too, which Humble never does);
* ``message_filters.Subscriber`` (§16) is copied structurally, so a positional QoS fails with TypeError;
  ``ApproximateTimeSynchronizer`` is simplified (each new message is matched with the closest message of every
  other input; a set within ``slop`` seconds is emitted);
* ``tf2_ros.Buffer.lookup_transform`` (§17) needs an ``rclpy.duration.Duration`` timeout and records it;
* loggers (§9) take ``str`` only and refuse to change severity or throttle settings at one call site;
* message classes are the strict keyword classes of ``test/core/ros_msg_support.py`` (every field required,
  array.array sequences); the diagnostic_msgs classes here take optional keywords, ``level`` as 1-byte ``bytes``.
"""

from __future__ import annotations

import enum
import inspect
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .core.ros_msg_support import FAKE_RCLPY_CLASSES, cdr_bytes, fake_to_rosbags, rclpy_style_factory

# ------------------------------------------------------------------------------------------------ parameters


class ParameterType(enum.IntEnum):
    NOT_SET = 0
    BOOL = 1
    INTEGER = 2
    DOUBLE = 3
    STRING = 4

    @classmethod
    def from_parameter_value(cls, value: Any) -> ParameterType:
        if value is None:
            return cls.NOT_SET
        if isinstance(value, bool):
            return cls.BOOL
        if isinstance(value, int):
            return cls.INTEGER
        if isinstance(value, float):
            return cls.DOUBLE
        if isinstance(value, str):
            return cls.STRING
        raise TypeError(f"The given value is not one of the allowed types '{value}'.")


class Parameter:
    Type = ParameterType

    def __init__(self, name: str, type_: ParameterType | None = None, value: Any = None) -> None:
        self.name = name
        self.type_ = ParameterType.from_parameter_value(value) if type_ is None else type_
        self.value = value


class _Keywords:
    """Message-like class: optional keywords with defaults, unknown keywords rejected (Humble asserts)."""

    DEFAULTS: dict[str, Any] = {}  # noqa: RUF012 - per class, never mutated

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self.DEFAULTS)
        if unknown:
            raise AssertionError(f"{type(self).__name__}: invalid arguments {sorted(unknown)}")
        for name, default in self.DEFAULTS.items():
            value = kwargs.get(name, default)
            setattr(self, name, list(value) if isinstance(value, list) else value)


class FloatingPointRange(_Keywords):
    DEFAULTS = {"from_value": 0.0, "to_value": 0.0, "step": 0.0}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        assert all(type(getattr(self, n)) is float for n in self.DEFAULTS), "FloatingPointRange fields are float"


class IntegerRange(_Keywords):
    DEFAULTS = {"from_value": 0, "to_value": 0, "step": 0}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        assert all(type(getattr(self, n)) is int for n in self.DEFAULTS), "IntegerRange fields are int"


class ParameterDescriptor(_Keywords):
    DEFAULTS = {  # noqa: RUF012
        "name": "",
        "type": 0,
        "description": "",
        "additional_constraints": "",
        "read_only": False,
        "dynamic_typing": False,
        "floating_point_range": [],
        "integer_range": [],
    }


class SetParametersResult(_Keywords):
    DEFAULTS = {"successful": False, "reason": ""}  # noqa: RUF012


class InvalidParameterTypeException(Exception):
    pass


class InvalidParameterValueException(Exception):
    pass


class ParameterAlreadyDeclaredException(Exception):
    pass


class ParameterNotDeclaredException(Exception):
    pass


# ------------------------------------------------------------------------------------------------ QoS, time


class ReliabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class HistoryPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


class DurabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


class QoSProfile:
    def __init__(self, **kwargs: Any) -> None:
        allowed = {"history", "depth", "reliability", "durability"}
        assert set(kwargs) <= allowed, f"invalid QoS keys {set(kwargs) - allowed}"
        if "history" not in kwargs and "depth" not in kwargs:
            raise ValueError("InvalidQoSProfileException: history and/or depth settings are required")
        self.history = kwargs.get("history", HistoryPolicy.KEEP_LAST)
        self.depth = kwargs.get("depth", 10)
        self.reliability = kwargs.get("reliability", ReliabilityPolicy.RELIABLE)
        self.durability = kwargs.get("durability", DurabilityPolicy.VOLATILE)


qos_profile_sensor_data = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)


class Duration:
    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0) -> None:
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)


class Time:
    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0) -> None:
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)

    def to_msg(self) -> Any:
        sec, nanosec = divmod(self.nanoseconds, 1_000_000_000)
        return FAKE_RCLPY_CLASSES["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


class JumpThreshold:
    """``rclpy.clock.JumpThreshold``: keyword-only, a negative ``min_backward`` (rclpy raises ValueError otherwise)."""

    def __init__(self, *, min_forward: Duration | None, min_backward: Duration | None, on_clock_change: bool = True):
        if min_backward is not None and min_backward.nanoseconds >= 0:
            raise ValueError("min_backward must be a negative non-zero duration")
        if min_forward is not None and min_forward.nanoseconds <= 0:
            raise ValueError("min_forward must be a positive non-zero duration")
        self.min_forward, self.min_backward, self.on_clock_change = min_forward, min_backward, on_clock_change


class Clock:
    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now_ns = now_ns
        self.jump_callbacks: list[tuple[JumpThreshold, Callable[[Any], None]]] = []

    def now(self) -> Time:
        return Time(nanoseconds=self._now_ns())

    def create_jump_callback(
        self, threshold: JumpThreshold, *, pre_callback: Any = None, post_callback: Callable[[Any], None] | None = None
    ) -> object:
        assert isinstance(threshold, JumpThreshold) and post_callback is not None and pre_callback is None
        self.jump_callbacks.append((threshold, post_callback))
        return object()  # rclpy's JumpHandle

    def jump(self, delta_ns: int) -> None:
        """The ROS clock jumped by ``delta_ns`` (a /clock message): the post-callbacks whose threshold it passes,
        each with a ``TimeJump`` (``clock_change``, ``delta``), as rcl calls them."""
        for threshold, callback in self.jump_callbacks:
            back, forward = threshold.min_backward, threshold.min_forward
            if (back is not None and delta_ns <= back.nanoseconds) or (
                forward is not None and delta_ns >= forward.nanoseconds
            ):
                callback(types.SimpleNamespace(clock_change=None, delta=Duration(nanoseconds=delta_ns)))

    def change(self, *, active: bool) -> None:
        """``use_sim_time`` set to ``active`` at run time: rcl's clock change (delta 0) to the post-callbacks whose
        threshold has ``on_clock_change``."""
        change = ClockChange.ROS_TIME_ACTIVATED if active else ClockChange.ROS_TIME_DEACTIVATED
        for threshold, callback in self.jump_callbacks:
            if threshold.on_clock_change:
                callback(types.SimpleNamespace(clock_change=change, delta=Duration(nanoseconds=0)))


class ClockChange(enum.IntEnum):
    """``rclpy.clock.ClockChange`` (Humble: rclpy's C enum; Jazzy: an IntEnum), its members' names and values."""

    ROS_TIME_NO_CHANGE = 1
    ROS_TIME_ACTIVATED = 2
    ROS_TIME_DEACTIVATED = 3
    SYSTEM_TIME_NO_CHANGE = 4


class ClockType(enum.IntEnum):
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


class TimerClock:
    """``rclpy.clock.Clock(clock_type=...)`` as handed to ``create_timer(clock=...)`` (only its type is kept)."""

    def __init__(self, *, clock_type: ClockType = ClockType.SYSTEM_TIME) -> None:
        self.clock_type = ClockType(clock_type)


class ExternalShutdownException(Exception):
    pass


# ------------------------------------------------------------------------------------------------ logging


class Logger:
    """Records (severity, message); enforces str messages and fixed severity / filters per call site (§9)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[tuple[str, str]] = []
        self._sites: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _log(self, severity: str, message: Any, kwargs: dict[str, Any]) -> bool:
        if not isinstance(message, str):
            raise TypeError("Argument 'message' must be a str")
        caller = sys._getframe(2)
        site = (caller.f_code.co_filename, caller.f_lineno)
        with self._lock:
            previous = self._sites.setdefault(site, (severity, kwargs))
            if previous != (severity, kwargs):
                raise ValueError("Logger severity or filters cannot be changed between calls")
            self.records.append((severity, message))
        return True

    def debug(self, message: Any, **kwargs: Any) -> bool:
        return self._log("DEBUG", message, kwargs)

    def info(self, message: Any, **kwargs: Any) -> bool:
        return self._log("INFO", message, kwargs)

    def warning(self, message: Any, **kwargs: Any) -> bool:
        return self._log("WARN", message, kwargs)

    def error(self, message: Any, **kwargs: Any) -> bool:
        return self._log("ERROR", message, kwargs)

    def fatal(self, message: Any, **kwargs: Any) -> bool:
        return self._log("FATAL", message, kwargs)

    def messages(self, severity: str) -> list[str]:
        with self._lock:
            return [m for s, m in self.records if s == severity]


# ------------------------------------------------------------------------------------------------ node


@dataclass
class Publisher:
    msg_type: type
    topic: str
    qos: QoSProfile
    topic_name: str = ""  # resolved in the node's namespace, as rclpy's Publisher.topic_name
    messages: list[Any] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, msg: Any) -> None:
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"Expected {self.msg_type}, got {type(msg)}")
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Any]:
        """Block until ``count`` messages were published (or the timeout passed); returns them."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout_s)
            return list(self.messages)


@dataclass
class Subscription:
    msg_type: type
    topic: str
    callback: Callable[[Any], None]
    qos: Any
    raw: bool = False  # the callback takes the message serialised (CDR bytes), as rclpy's raw=True

    def receive(self, msg: Any) -> None:
        """What an executor does when ``msg`` arrives on this subscription (serialised first when it is raw)."""
        assert isinstance(msg, self.msg_type), f"{self.topic} carries {self.msg_type}, got {type(msg)}"
        self.callback(cdr_bytes(fake_to_rosbags(msg, "humble"), "humble") if self.raw else msg)


@dataclass
class Timer:
    period_s: float
    callback: Callable[[], None]
    clock: TimerClock | None = None  # None: the node's clock (ROS time, /clock with use_sim_time)
    canceled: bool = False

    def cancel(self) -> None:
        self.canceled = True

    def reset(self) -> None:
        self.canceled = False

    def is_canceled(self) -> bool:
        return self.canceled

    @property
    def timer_period_ns(self) -> int:
        return round(self.period_s * 1e9)

    @timer_period_ns.setter
    def timer_period_ns(self, value: int) -> None:
        self.period_s = value / 1e9


class Node:
    def __init__(
        self,
        node_name: str,
        *,
        context: Any = None,
        cli_args: Any = None,
        namespace: str | None = None,
        use_global_arguments: bool = True,
        enable_rosout: bool = True,
        start_parameter_services: bool = True,
        parameter_overrides: list[Parameter] | None = None,
        allow_undeclared_parameters: bool = False,
        automatically_declare_parameters_from_overrides: bool = False,
    ) -> None:
        if not STATE.initialized:
            raise RuntimeError("NotInitializedException: rclpy.init() has not been called, cannot create node")
        self._name = node_name
        self._namespace = namespace or "/"
        self._parameter_overrides = {p.name: p for p in parameter_overrides or []}  # rclpy's name (H and J)
        self._parameters: dict[str, Parameter] = {}
        self._descriptors: dict[str, ParameterDescriptor] = {}
        self._on_set: list[Callable[[list[Parameter]], SetParametersResult]] = []
        self._logger = Logger(node_name)
        self._clock = Clock(lambda: STATE.now_ns())
        self.publishers: dict[str, Publisher] = {}
        self.subscriptions: list[Subscription] = []
        self.timers: list[Timer] = []
        self.destroyed = False
        self.declare_parameter("use_sim_time", False)
        STATE.nodes.append(self)

    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def resolve_topic_name(self, topic: str, *, only_expand: bool = False) -> str:
        """rclpy's (Humble, Jazzy): ``topic`` expanded in the namespace (no remap rules here: none to apply)."""
        return topic if topic.startswith("/") else self._namespace.rstrip("/") + "/" + topic

    def get_publishers_info_by_topic(self, topic_name: str, no_mangle: bool = False) -> list[TopicEndpointInfo]:
        name = self.resolve_topic_name(topic_name)
        qos = STATE.graph_qos.get(name)
        return [TopicEndpointInfo(type_name, qos_profile=qos) for type_name in STATE.graph.get(name, [])]

    def get_fully_qualified_name(self) -> str:
        return self._namespace.rstrip("/") + "/" + self._name

    def get_logger(self) -> Logger:
        return self._logger

    def get_clock(self) -> Clock:
        return self._clock

    # parameters (rclpy node.py: declare_parameters / _apply_descriptor / _set_parameters_atomically_common)
    def declare_parameter(
        self, name: str, value: Any = None, descriptor: ParameterDescriptor | None = None, ignore_override: bool = False
    ) -> Parameter:
        if name in self._parameters:
            raise ParameterAlreadyDeclaredException(name)
        descriptor = descriptor if descriptor is not None else ParameterDescriptor()
        if isinstance(value, ParameterType):
            descriptor.type = int(value)
            value = None
        elif not descriptor.dynamic_typing:
            descriptor.type = int(ParameterType.from_parameter_value(value))
            if descriptor.type == ParameterType.NOT_SET:
                raise ValueError("Cannot declare a statically typed parameter with default value of type NOT_SET")
        if not ignore_override and name in self._parameter_overrides:
            value = self._parameter_overrides[name].value
        parameter = Parameter(name, value=value)
        result = self._apply_descriptor(parameter, descriptor, check_read_only=False)
        if result.successful:
            result = self._run_callbacks([parameter])
        if not result.successful:
            if result.reason.startswith("Wrong parameter type"):
                raise InvalidParameterTypeException(
                    f"Trying to set parameter '{name}' to '{value}' of type '{parameter.type_.name}', "
                    f"expecting type '{ParameterType(descriptor.type).name}'"
                )
            raise InvalidParameterValueException(name, value, result.reason)
        descriptor.name = name
        self._descriptors[name] = descriptor
        self._parameters[name] = parameter
        return parameter

    def has_parameter(self, name: str) -> bool:
        return name in self._parameters

    def get_parameter(self, name: str) -> Parameter:
        if name not in self._parameters:
            raise ParameterNotDeclaredException(name)
        return self._parameters[name]

    def describe_parameter(self, name: str) -> ParameterDescriptor:
        if name not in self._descriptors:
            raise ParameterNotDeclaredException(name)
        return self._descriptors[name]

    def add_on_set_parameters_callback(self, callback: Callable[[list[Parameter]], SetParametersResult]) -> None:
        self._on_set.insert(0, callback)

    def set_parameters(self, parameters: list[Parameter]) -> list[SetParametersResult]:
        return [self.set_parameters_atomically([p]) for p in parameters]

    def set_parameters_atomically(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name not in self._parameters:
                raise ParameterNotDeclaredException(parameter.name)
            result = self._apply_descriptor(parameter, self._descriptors[parameter.name], check_read_only=True)
            if not result.successful:
                return result
        result = self._run_callbacks(parameters)
        if result.successful:
            self._parameters.update({p.name: p for p in parameters})
        return result

    def _run_callbacks(self, parameters: list[Parameter]) -> SetParametersResult:
        for callback in self._on_set:
            result = callback(parameters)
            if not result.successful:
                return result
        return SetParametersResult(successful=True)

    @staticmethod
    def _apply_descriptor(parameter: Parameter, descriptor: ParameterDescriptor, check_read_only: bool) -> Any:
        if check_read_only and descriptor.read_only:
            return SetParametersResult(
                successful=False, reason=f"Trying to set a read-only parameter: {parameter.name}."
            )
        if descriptor.dynamic_typing:
            descriptor.type = int(parameter.type_)
        elif parameter.type_ != ParameterType.NOT_SET and int(parameter.type_) != descriptor.type:
            reason = f"Wrong parameter type, expected '{ParameterType(descriptor.type)}' got '{parameter.type_}'"
            return SetParametersResult(successful=False, reason=reason)
        value = parameter.value
        ranges: list[Any] = []
        if parameter.type_ == ParameterType.INTEGER:
            ranges = descriptor.integer_range
        elif parameter.type_ == ParameterType.DOUBLE:
            ranges = descriptor.floating_point_range
        if ranges:
            low, high = sorted((ranges[0].from_value, ranges[0].to_value))
            if not (low <= value <= high):
                reason = f"Parameter {parameter.name} out of range. Min: {low}, Max: {high}, value: {value}"
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    # endpoints
    def create_publisher(self, msg_type: type, topic: str, qos_profile: Any, **kwargs: Any) -> Publisher:
        assert set(kwargs) <= {"callback_group", "event_callbacks", "qos_overriding_options", "publisher_class"}
        resolved = topic if topic.startswith("/") else self._namespace.rstrip("/") + "/" + topic
        publisher = Publisher(msg_type, topic, _check_qos(qos_profile), resolved)
        self.publishers[topic] = publisher
        return publisher

    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos_profile: Any,
        *,
        callback_group: Any = None,
        event_callbacks: Any = None,
        qos_overriding_options: Any = None,
        raw: bool = False,
    ) -> Subscription:
        _check_message_callback(callback)
        subscription = Subscription(msg_type, topic, callback, _check_qos(qos_profile), raw=bool(raw))
        self.subscriptions.append(subscription)
        return subscription

    def create_timer(
        self, timer_period_sec: float, callback: Callable[[], None], callback_group: Any = None, clock: Any = None
    ) -> Timer:
        timer = Timer(float(timer_period_sec), callback, clock)
        self.timers.append(timer)
        return timer

    def destroy_subscription(self, subscription: Subscription) -> bool:
        if subscription not in self.subscriptions:  # rclpy: False for one already destroyed
            return False
        self.subscriptions.remove(subscription)
        return True

    def destroy_timer(self, timer: Timer) -> bool:
        self.timers.remove(timer)
        return True

    def destroy_publisher(self, publisher: Publisher) -> bool:
        (topic,) = [t for t, p in self.publishers.items() if p is publisher]
        del self.publishers[topic]
        return True

    def destroy_node(self) -> None:
        self.destroyed = True

    # test helpers
    def subscription(self, topic: str) -> Subscription:
        matches = [s for s in self.subscriptions if s.topic == topic]
        assert len(matches) == 1, f"{len(matches)} subscriptions on {topic}: {[s.topic for s in self.subscriptions]}"
        return matches[0]

    def deliver(self, topic: str, msg: Any) -> None:
        """What an executor does when ``msg`` arrives on ``topic``."""
        self.subscription(topic).receive(msg)


class TransitionCallbackReturn(enum.Enum):
    """rclpy.lifecycle.TransitionCallbackReturn."""

    SUCCESS = 0
    FAILURE = 1
    ERROR = 2


@dataclass(frozen=True)
class LifecycleState:
    """rclpy.lifecycle.State (``state_id``, ``label``)."""

    state_id: int
    label: str


class _StateMachine:
    """rclpy's ``LifecycleStateMachine``: ``current_state`` (id, label) and ``available_transitions`` (id, label,
    start id, start label, goal id, goal label) of a :class:`LifecycleNode` stand-in."""

    def __init__(self, node: LifecycleNode) -> None:
        self._node = node

    @property
    def current_state(self) -> tuple[int, str]:
        return 0, self._node.lifecycle_state

    @property
    def available_transitions(self) -> list[tuple[int, str, int, str, int, str]]:
        state = self._node.lifecycle_state
        moves = [(i, name, *LifecycleNode._MOVES[name]) for i, name in LifecycleNode._IDS.items()]
        offered = [(i, name, target) for i, name, source, target in moves if source in (None, state)]
        return [] if state == "finalized" else [(i, name, 0, state, 0, target) for i, name, target in offered]


class LifecycleNode(Node):
    """rclpy.lifecycle.LifecycleNode: the ``trigger_*`` transitions of LifecycleNodeMixin call the ``on_*`` callbacks;
    the state moves only when a callback returns SUCCESS (test helper: :attr:`lifecycle_state`)."""

    _MOVES: ClassVar[dict[str, tuple[str | None, str]]] = {  # transition: (from, to)
        "configure": ("unconfigured", "inactive"),
        "activate": ("inactive", "active"),
        "deactivate": ("active", "inactive"),
        "cleanup": ("inactive", "unconfigured"),
        "shutdown": (None, "finalized"),
    }

    _IDS: ClassVar[dict[int, str]] = {1: "configure", 2: "cleanup", 3: "activate", 4: "deactivate", 7: "shutdown"}

    def __init__(self, node_name: str, *, enable_communication_interface: bool = True, **kwargs: Any) -> None:
        Node.__init__(self, node_name, **kwargs)
        self.lifecycle_state = "unconfigured"
        self._state_machine = _StateMachine(self)  # rclpy's LifecycleStateMachine, as far as the node reads it
        if enable_communication_interface:  # rclpy makes the lifecycle services only then
            self._service_change_state = types.SimpleNamespace(callback=self._on_change_state)

    def _on_change_state(self, request: Any, response: Any) -> Any:
        """rclpy's handler: a transition id the state does not offer raises (rcl: "Transition is not registered")."""
        name = self._IDS.get(request.transition.id, "")
        if not any(entry[0] == request.transition.id for entry in self._state_machine.available_transitions):
            raise RuntimeError("Failed to trigger lifecycle state machine transition: Transition is not registered.")
        response.success = self._trigger(name) is TransitionCallbackReturn.SUCCESS
        return response

    def _trigger(self, transition: str) -> TransitionCallbackReturn:
        source, target = self._MOVES[transition]
        assert source is None or self.lifecycle_state == source, f"{transition} from {self.lifecycle_state}"
        result: TransitionCallbackReturn = getattr(self, f"on_{transition}")(LifecycleState(0, self.lifecycle_state))
        if result is TransitionCallbackReturn.SUCCESS:
            self.lifecycle_state = target
        return result

    def trigger_configure(self) -> TransitionCallbackReturn:
        return self._trigger("configure")

    def trigger_activate(self) -> TransitionCallbackReturn:
        return self._trigger("activate")

    def trigger_deactivate(self) -> TransitionCallbackReturn:
        return self._trigger("deactivate")

    def trigger_cleanup(self) -> TransitionCallbackReturn:
        return self._trigger("cleanup")

    def trigger_shutdown(self) -> TransitionCallbackReturn:
        return self._trigger("shutdown")


def _check_message_callback(callback: Callable[..., Any]) -> None:
    """rclpy Jazzy (``subscription.py``@jazzy) calls a subscription's callback with the message when it binds one
    argument, else with ``(message, MessageInfo)``, else refuses it (RuntimeError) as the subscription is made;
    Humble calls it with the message alone. The common surface: a callback that binds one argument."""
    try:
        inspect.signature(callback).bind(object())
    except TypeError:
        msg = f"subscription callback {callback!r} does not take the message alone (Humble passes only the message)"
        raise RuntimeError(msg) from None


def _check_qos(qos_profile: Any) -> Any:
    if isinstance(qos_profile, bool) or not isinstance(qos_profile, QoSProfile | int):
        raise TypeError(f"Expected QoSProfile or int, but received {type(qos_profile)!r}")
    if isinstance(qos_profile, int) and qos_profile < 0:
        raise ValueError("history depth must be greater than or equal to zero")
    return qos_profile


# ------------------------------------------------------------------------------------------------ message_filters


class SimpleFilter:
    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., None], tuple[Any, ...]]] = {}

    def registerCallback(self, cb: Callable[..., None], *args: Any) -> int:
        conn = len(self.callbacks)
        self.callbacks[conn] = (cb, args)
        return conn

    def signalMessage(self, *msg: Any) -> None:
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class MfSubscriber(SimpleFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        SimpleFilter.__init__(self)
        self.node = args[0]
        self.topic = args[2]
        kwargs.setdefault("qos_profile", 10)
        self.sub = self.node.create_subscription(*args[1:], self.callback, **kwargs)

    def callback(self, msg: Any) -> None:
        self.signalMessage(msg)


class ApproximateTimeSynchronizer(SimpleFilter):
    def __init__(self, fs: list[SimpleFilter], queue_size: int, slop: float, allow_headerless: bool = False) -> None:
        SimpleFilter.__init__(self)
        self.queue_size = int(queue_size)
        self.slop_ns = int(Duration(seconds=slop).nanoseconds)
        self.queues: list[dict[int, Any]] = [{} for _ in fs]
        self.lock = threading.Lock()
        for index, f in enumerate(fs):
            f.registerCallback(self.add, index)

    def add(self, msg: Any, index: int) -> None:
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        with self.lock:
            queue = self.queues[index]
            queue[stamp] = msg
            while len(queue) > self.queue_size:
                del queue[min(queue)]
            if not all(self.queues):
                return
            chosen = [min(q, key=lambda t: abs(t - stamp)) for q in self.queues]
            if max(chosen) - min(chosen) >= self.slop_ns:
                return
            msgs = [q[t] for q, t in zip(self.queues, chosen, strict=True)]
            for q, t in zip(self.queues, chosen, strict=True):
                for old in [k for k in q if k <= t]:
                    del q[old]
        self.signalMessage(*msgs)


# ------------------------------------------------------------------------------------------------ tf2_ros


class TransformException(Exception):
    pass


class LookupException(TransformException):
    pass


class Buffer:
    def __init__(self, cache_time: Any = None, node: Any = None) -> None:
        self.transforms: dict[tuple[str, str], Any] = {}
        self.lookups: list[tuple[str, str, Any, Any]] = []
        self.full_lookups: list[tuple[str, Any, str, Any, str, Any]] = []

    def set_transform(self, transform: Any, authority: str) -> bool:
        self.transforms[(transform.header.frame_id, transform.child_frame_id)] = transform
        return True

    def lookup_transform(self, target_frame: str, source_frame: str, time: Any, timeout: Any = None) -> Any:
        timeout = Duration() if timeout is None else timeout
        if not isinstance(timeout, Duration):
            raise TypeError("timeout must be an rclpy.duration.Duration")
        self.lookups.append((target_frame, source_frame, time, timeout))
        found = self.transforms.get((target_frame, source_frame))
        if found is None:
            raise LookupException(f'"{source_frame}" passed to lookupTransform argument source_frame does not exist.')
        return found

    def lookup_transform_full(
        self,
        target_frame: str,
        target_time: Any,
        source_frame: str,
        source_time: Any,
        fixed_frame: str,
        timeout: Any = None,
    ) -> Any:
        """tf2's signature; stored edges are timeless here, so this composes target<-fixed and fixed<-source."""
        from mono_depth_ros.core import ros_msgs

        timeout = Duration() if timeout is None else timeout
        if not isinstance(timeout, Duration):
            raise TypeError("timeout must be an rclpy.duration.Duration")
        self.full_lookups.append((target_frame, target_time, source_frame, source_time, fixed_frame, timeout))
        halves = [self.transforms.get(pair) for pair in ((target_frame, fixed_frame), (fixed_frame, source_frame))]
        if halves[0] is None or halves[1] is None:
            raise LookupException(f'"{fixed_frame}" passed to lookupTransform argument fixed_frame does not exist.')
        target_from_fixed, fixed_from_source = (ros_msgs.rigid_transform_from_msg(h) for h in halves)
        composed = target_from_fixed @ fixed_from_source
        return ros_msgs.transform_stamped_from_rigid(rclpy_style_factory(), composed, ros_msgs.stamp_to_ns(target_time))

    def clear(self) -> None:
        """tf2's ``clear``: the dynamic transforms (all of them here: none is set static)."""
        self.transforms.clear()

    def can_transform(self, target_frame: str, source_frame: str, time: Any, timeout: Any = None) -> bool:
        """tf2's check without a lookup (timeless edges: whether the edge is stored)."""
        return (target_frame, source_frame) in self.transforms

    def can_transform_full(
        self,
        target_frame: str,
        target_time: Any,
        source_frame: str,
        source_time: Any,
        fixed_frame: str,
        timeout: Any = None,
    ) -> bool:
        """tf2's check of :meth:`lookup_transform_full` (both halves through the fixed frame stored)."""
        pairs = ((target_frame, fixed_frame), (fixed_frame, source_frame))
        return all(pair in self.transforms for pair in pairs)


class TransformListener:
    def __init__(
        self, buffer: Buffer, node: Node, *, spin_thread: bool = False, qos: Any = None, static_qos: Any = None
    ) -> None:
        self.buffer = buffer
        self.node = node
        self.spin_thread = spin_thread
        node.tf_listener = self


# ------------------------------------------------------------------------------------------------ diagnostic_msgs


class KeyValue(_Keywords):
    DEFAULTS = {"key": "", "value": ""}  # noqa: RUF012


class DiagnosticStatus(_Keywords):
    OK = b"\x00"
    WARN = b"\x01"
    ERROR = b"\x02"
    STALE = b"\x03"
    DEFAULTS = {"level": b"\x00", "name": "", "message": "", "hardware_id": "", "values": []}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        assert isinstance(self.level, bytes) and len(self.level) == 1, "The 'level' field must be a byte"
        assert all(isinstance(v, KeyValue) for v in self.values)


class DiagnosticArray(_Keywords):
    DEFAULTS = {"header": None, "status": []}  # noqa: RUF012


# ------------------------------------------------------------------------------------------------ rclpy module


@dataclass
class StandInState:
    """Global state of the fake rclpy: init flag, nodes, the clock, and what ``spin`` does."""

    initialized: bool = False
    init_calls: int = 0
    shutdown_calls: int = 0
    nodes: list[Node] = field(default_factory=list)
    now_ns: Callable[[], int] = time.time_ns
    spin: Callable[[Node], None] | None = None  # default: raise KeyboardInterrupt (Ctrl-C)
    loggers: dict[str, Logger] = field(default_factory=dict)
    graph: dict[str, list[str]] = field(default_factory=dict)  # topic -> type names of other nodes' publishers
    graph_qos: dict[str, QoSProfile] = field(default_factory=dict)  # topic -> the QoS its publishers offer
    released: list[str] = field(default_factory=list)  # "executor", "context": what get_global_executor()'s freed
    executor: _GlobalExecutor | None = None  # rclpy's global one (get_global_executor; a try_shutdown drops it)


@dataclass
class TopicEndpointInfo:
    """What rclpy's ``get_publishers_info_by_topic`` lists (the fields the node reads)."""

    topic_type: str
    node_name: str = "driver"
    qos_profile: QoSProfile | None = None  # None: the graph does not say

    node_namespace: str = "/"


STATE = StandInState()


def _init(*, args: Any = None, context: Any = None, domain_id: Any = None, signal_handler_options: Any = None) -> None:
    if STATE.initialized:
        raise RuntimeError("Failed to init: rcl_init called while already initialized")
    STATE.initialized = True
    STATE.init_calls += 1


def _ok(*, context: Any = None) -> bool:
    return STATE.initialized


def _shutdown(*, context: Any = None, uninstall_handlers: Any = None) -> None:
    if not STATE.initialized:
        raise RuntimeError("failed to shutdown: rcl_shutdown already called on the given context")
    STATE.initialized = False
    STATE.shutdown_calls += 1


def _try_shutdown(*, context: Any = None) -> None:
    if STATE.initialized:  # Humble / Jazzy: the context's on_shutdown drops the global executor (reset_executor)
        _shutdown()
        STATE.executor = None


def _get_global_executor() -> _GlobalExecutor:
    """rclpy's: one per context. Made after a ``try_shutdown`` that shut the context down (the default context a new,
    uninitialised one), it fails as on Humble (a shutdown by rclpy's signal thread keeps the executor)."""
    if STATE.executor is None:
        if not STATE.initialized:
            raise TypeError("'NoneType' object does not support the context manager protocol")
        STATE.executor = _GlobalExecutor()
    return STATE.executor


class _GlobalExecutor:
    """rclpy's global executor (``rclpy.spin``'s): its ``context`` and ``shutdown`` (recorded in ``STATE.released``),
    and what the node's spin loop calls: ``add_node`` / ``remove_node``, ``spin_once``, whose first call after an
    ``add_node`` (a spin) does all that ``STATE.spin`` does (that spin ends after it: ``context.ok()`` is False then;
    a later ``main`` in the test, on this executor where the context was shut down without ``try_shutdown``'s reset,
    spins again)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.spun = False
        self.context = types.SimpleNamespace(
            destroy=lambda: STATE.released.append("context"), ok=lambda: STATE.initialized and not self.spun
        )

    def add_node(self, node: Node) -> bool:
        self.nodes.append(node)
        self.spun = False
        return True

    def remove_node(self, node: Node) -> None:
        self.nodes.remove(node)

    def spin_once(self, timeout_sec: float | None = None) -> None:
        self.spun = True
        _spin(self.nodes[-1], self)

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        STATE.released.append("executor")
        return True


def _get_logger(name: str) -> Logger:
    if not name:
        raise ValueError("logger name must not be empty")
    return STATE.loggers.setdefault(name, Logger(name))


def _spin(node: Node, executor: Any = None) -> None:
    executor = executor or _get_global_executor()
    if STATE.spin is None:
        raise KeyboardInterrupt
    STATE.spin(node)


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _classes(package: str) -> dict[str, Any]:
    prefix = f"{package}/msg/"
    return {name[len(prefix) :]: cls for name, cls in FAKE_RCLPY_CLASSES.items() if name.startswith(prefix)}


def modules() -> dict[str, types.ModuleType]:
    """Every fake module by its import name (put them into ``sys.modules``)."""
    global STATE
    STATE = StandInState()
    rclpy_modules = {
        "rclpy.node": _module("rclpy.node", Node=Node),
        "rclpy.lifecycle": _module(
            "rclpy.lifecycle",
            LifecycleNode=LifecycleNode,
            State=LifecycleState,
            TransitionCallbackReturn=TransitionCallbackReturn,
        ),
        "rclpy.qos": _module(
            "rclpy.qos",
            QoSProfile=QoSProfile,
            qos_profile_sensor_data=qos_profile_sensor_data,
            ReliabilityPolicy=ReliabilityPolicy,
            HistoryPolicy=HistoryPolicy,
            DurabilityPolicy=DurabilityPolicy,
        ),
        "rclpy.parameter": _module("rclpy.parameter", Parameter=Parameter),
        "rclpy.exceptions": _module(
            "rclpy.exceptions",
            InvalidParameterTypeException=InvalidParameterTypeException,
            InvalidParameterValueException=InvalidParameterValueException,
            ParameterAlreadyDeclaredException=ParameterAlreadyDeclaredException,
            ParameterNotDeclaredException=ParameterNotDeclaredException,
        ),
        "rclpy.executors": _module("rclpy.executors", ExternalShutdownException=ExternalShutdownException),
        "rclpy.duration": _module("rclpy.duration", Duration=Duration),
        "rclpy.time": _module("rclpy.time", Time=Time),
        "rclpy.clock": _module("rclpy.clock", Clock=TimerClock, ClockType=ClockType, JumpThreshold=JumpThreshold),
        "rclpy.logging": _module("rclpy.logging", get_logger=_get_logger),
    }
    rclpy = _module(
        "rclpy",
        init=_init,
        ok=_ok,
        shutdown=_shutdown,
        try_shutdown=_try_shutdown,
        get_global_executor=_get_global_executor,
        spin=_spin,
        **{name.split(".")[1]: module for name, module in rclpy_modules.items()},
    )
    rcl_msg = _module(
        "rcl_interfaces.msg",
        ParameterDescriptor=ParameterDescriptor,
        SetParametersResult=SetParametersResult,
        FloatingPointRange=FloatingPointRange,
        IntegerRange=IntegerRange,
    )
    diag_msg = _module(
        "diagnostic_msgs.msg", DiagnosticArray=DiagnosticArray, DiagnosticStatus=DiagnosticStatus, KeyValue=KeyValue
    )
    out = {"rclpy": rclpy, **rclpy_modules, "rcl_interfaces.msg": rcl_msg, "diagnostic_msgs.msg": diag_msg}
    out["message_filters"] = _module(
        "message_filters",
        Subscriber=MfSubscriber,
        ApproximateTimeSynchronizer=ApproximateTimeSynchronizer,
        SimpleFilter=SimpleFilter,
    )
    out["tf2_ros"] = _module(
        "tf2_ros",
        Buffer=Buffer,
        TransformListener=TransformListener,
        TransformException=TransformException,
        LookupException=LookupException,
    )
    for package in ("sensor_msgs", "std_msgs", "builtin_interfaces", "geometry_msgs", "tf2_msgs"):
        out[f"{package}.msg"] = _module(f"{package}.msg", **_classes(package))
    for name in (
        "rcl_interfaces",
        "diagnostic_msgs",
        "sensor_msgs",
        "std_msgs",
        "builtin_interfaces",
        "geometry_msgs",
        "tf2_msgs",
    ):
        out[name] = _module(name, msg=out[f"{name}.msg"])
    return out


def state() -> StandInState:
    """The current fake rclpy state (replaced by every :func:`modules` call)."""
    return STATE
