"""``mono_depth_lifecycle_node``: :mod:`mono_depth_ros.node` as a managed (lifecycle) node, for Nav2's lifecycle
manager.

The same node, parameters and topics; only when things happen changes (rclpy.lifecycle, Humble and Jazzy):

- **configure**: the parameters in force are validated, the model is loaded and self-tested (golden check), the
  publishers are made. A bad parameter or unusable weights fail the transition (the node stays unconfigured, the
  reason logged) instead of ending the process.
- **activate**: subscriptions, timers and the worker thread: frames flow.
- **deactivate**: subscriptions and timers destroyed, the worker joined (the frame in hand finishes): nothing flows.
- **cleanup**: the publishers and the model released; **shutdown** does what is still needed of both. An exception
  in configure or activate fails that transition and undoes what it made; one elsewhere goes to *on_error*, which
  releases everything (back to unconfigured).

Bring it up with ``ros2 lifecycle set /mono_depth_node configure`` then ``activate``, or list ``mono_depth_node``
in a ``nav2_lifecycle_manager``'s ``node_names``.
"""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn

from mono_depth_ros import node


class MonoDepthLifecycleNode(node.MonoDepthNode, LifecycleNode):  # type: ignore[misc]  # rclpy is untyped
    """:class:`~mono_depth_ros.node.MonoDepthNode` whose start-up follows the lifecycle transitions."""

    _autostart = False

    def __init__(self, make_pipeline: node.PipelineFactory | None = None, **node_kwargs: Any) -> None:
        self._active: tuple[list[Any], list[Any]] = ([], [])  # subscriptions, timers made by activate
        self._configured = False
        super().__init__(make_pipeline, **node_kwargs)

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as err:  # a failed transition, not a dead process (DepthError or any other)
            self.get_logger().error(f"configure failed: {type(err).__name__}: {err}")
            self._free()
            return TransitionCallbackReturn.FAILURE
        self._configured = True
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if self._worker is not None and self._worker.alive:
            self.get_logger().error("activate refused: the previous worker is still busy with a frame; try again")
            return TransitionCallbackReturn.FAILURE
        subscriptions, timers = list(self.subscriptions), list(self.timers)
        try:
            self._activate()
            result = TransitionCallbackReturn.SUCCESS
        except Exception as err:  # undo what was made, stay inactive
            self.get_logger().error(f"activate failed: {type(err).__name__}: {err}")
            result = TransitionCallbackReturn.FAILURE
        finally:  # whatever activate made, so that deactivate can destroy it
            self._active = (
                [s for s in self.subscriptions if s not in subscriptions],
                [t for t in self.timers if t not in timers],
            )
        if result is TransitionCallbackReturn.FAILURE:
            self._deactivate()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._deactivate()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._free()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._deactivate()
        self._free()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """A callback raised: release everything, back to unconfigured."""
        self._deactivate()
        self._free()
        return TransitionCallbackReturn.SUCCESS

    def _deactivate(self) -> None:
        self._stop_worker()
        subscriptions, timers = self._active
        for subscription in subscriptions:
            self.destroy_subscription(subscription)
        for timer in timers:
            self.destroy_timer(timer)
        self._active = ([], [])

    def _free(self) -> None:
        """Destroy the publishers and drop the model (whatever a configure, complete or not, made)."""
        publishers = [*getattr(self, "_publishers_by_topic", {}).values(), getattr(self, "_pub_diag", None)]
        for publisher in publishers:
            if publisher is not None:
                self.destroy_publisher(publisher)
        for name in ("_publishers_by_topic", "_pub_diag", "_pipeline"):
            if hasattr(self, name):
                delattr(self, name)  # the model's memory goes with the pipeline
        self._configured = False


def main(args: list[str] | None = None) -> int:
    """Console script ``mono_depth_lifecycle_node``; exit codes as ``mono_depth_node``'s."""
    return node.main(args, MonoDepthLifecycleNode)
