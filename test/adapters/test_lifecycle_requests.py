"""adapters.lifecycle_requests: a change_state request by id for a transition the state does not offer is refused
(rclpy raised rcl's "Transition is not registered" in the executor: the node died); the real node is in
test/ros2/test_ros2_operator.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from mono_depth_ros.adapters.lifecycle_requests import refuse_unoffered

ACTIVE_OFFERS = [(4, "deactivate", 3, "active", 2, "inactive"), (7, "shutdown", 3, "active", 4, "finalized")]


@dataclass
class StateMachine:
    """rclpy's LifecycleStateMachine as far as the wrapper reads it."""

    current_state: tuple[int, str] = (3, "active")
    available_transitions: list[tuple[int, str, int, str, int, str]] = field(default_factory=lambda: ACTIVE_OFFERS)


def request(transition_id: int, label: str = "") -> Any:
    return SimpleNamespace(transition=SimpleNamespace(id=transition_id, label=label))


def wrapped() -> tuple[Any, list[int], list[str]]:
    handled: list[int] = []

    def change_state(req: Any, response: Any) -> Any:  # rclpy's handler: it would raise for an unoffered id
        handled.append(req.transition.id)
        response.success = True
        return response

    service, warnings = SimpleNamespace(callback=change_state), list[str]()
    assert refuse_unoffered(
        SimpleNamespace(_service_change_state=service, _state_machine=StateMachine()), warnings.append
    )
    return service, handled, warnings


def test_an_offered_transition_goes_to_rclpy_and_an_unoffered_one_is_refused_with_what_is_offered() -> None:
    service, handled, warnings = wrapped()
    assert service.callback(request(4), SimpleNamespace(success=False)).success is True
    assert handled == [4] and warnings == []
    refused = service.callback(request(1), SimpleNamespace(success=True))
    assert refused.success is False and handled == [4]
    assert warnings == ["transition configure (1) refused: the node is active; it offers: deactivate, shutdown"]
    service.callback(request(99), SimpleNamespace(success=True))
    assert warnings[-1].startswith("transition unknown (99) refused")


def test_a_request_by_label_is_left_to_rclpy_which_checks_labels_itself() -> None:
    service, handled, warnings = wrapped()
    service.callback(request(0, "configure"), SimpleNamespace(success=False))
    assert handled == [0] and warnings == []


def test_a_finalized_node_offers_nothing() -> None:
    handled: list[int] = []
    service = SimpleNamespace(callback=lambda req, resp: handled.append(req.transition.id))
    warnings: list[str] = []
    refuse_unoffered(
        SimpleNamespace(_service_change_state=service, _state_machine=StateMachine((4, "finalized"), [])),
        warnings.append,
    )
    assert service.callback(request(1), SimpleNamespace(success=True)).success is False
    assert handled == [] and warnings == ["transition configure (1) refused: the node is finalized; it offers: none"]


def test_a_node_without_the_service_or_the_state_machine_is_left_as_it_is() -> None:
    """rclpy's LifecycleNode(enable_communication_interface=False) has no change_state service: nothing to wrap (the
    node's constructor raised AttributeError); neither without a state machine that says what it offers."""
    warnings: list[str] = []
    assert refuse_unoffered(SimpleNamespace(_state_machine=StateMachine()), warnings.append) is False
    service = SimpleNamespace(callback=print)
    assert refuse_unoffered(SimpleNamespace(_service_change_state=service), warnings.append) is False
    assert service.callback is print and warnings == []
