"""Lifecycle ``change_state`` requests for a transition the current state does not offer: refused, not raised.

rclpy (Humble) triggers a ``lifecycle_msgs/ChangeState`` request given by id without asking whether the current
state has that transition: rcl answers "Transition is not registered" with an ``RCLError`` raised in the executor,
and the managed node died with a traceback (seen on real Humble: ``activate`` while unconfigured, ``configure`` while
active, any request after ``shutdown``). Nav2's lifecycle manager and ``ros2 service call`` ask by id; ``ros2
lifecycle set`` asks by label, which rclpy checks itself. rclcpp answers ``success: false`` and logs why; with
:func:`refuse_unoffered` so does the node, and it stays in its state. ROS-free: duck-typed on rclpy's service and
state machine (``test/adapters/test_lifecycle_requests.py``, ``test/ros2/test_ros2_operator.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TRANSITION_NAMES = {
    1: "configure", 2: "cleanup", 3: "activate", 4: "deactivate",
    5: "unconfigured_shutdown", 6: "inactive_shutdown", 7: "active_shutdown",
}  # fmt: skip
"""``lifecycle_msgs/Transition`` ids a client may request, by the name of their constant (``TRANSITION_<NAME>``)."""


def refusal_text(transition_id: int, state_label: str, offered_labels: list[str]) -> str:
    """The warning for a request of ``transition_id`` in state ``state_label``, with the transitions it offers."""
    name = TRANSITION_NAMES.get(transition_id, "unknown")
    offers = ", ".join(dict.fromkeys(offered_labels)) or "none"
    return f"transition {name} ({transition_id}) refused: the node is {state_label}; it offers: {offers}"


def refuse_unoffered(node: Any, warn: Callable[[str], None]) -> bool:
    """Wrap the ``callback`` of ``node._service_change_state`` (rclpy's ``change_state`` handler) so that a request by
    id for a transition that ``node._state_machine`` (rclpy's ``LifecycleStateMachine``) does not offer now is
    answered ``success = False`` and warned about; every other request goes to rclpy's handler as before.

    rclpy's names (Humble 3.3 and Jazzy 7.1 alike). A node made with ``enable_communication_interface=False`` has no
    such service (its constructor raised AttributeError here), and an rclpy without these names keeps its own
    handler: nothing is wrapped then. Returns whether the handler was wrapped.
    """
    service: Any = getattr(node, "_service_change_state", None)
    machine: Any = getattr(node, "_state_machine", None)
    if not callable(getattr(service, "callback", None)) or not hasattr(machine, "available_transitions"):
        return False
    change_state = service.callback

    def callback(request: Any, response: Any) -> Any:
        transition = request.transition
        offered = list(machine.available_transitions)  # (id, label, start id, start label, goal id, goal label)
        if transition.label or any(entry[0] == transition.id for entry in offered):
            return change_state(request, response)
        warn(refusal_text(transition.id, machine.current_state[1], [entry[1] for entry in offered]))
        response.success = False
        return response

    service.callback = callback
    return True
