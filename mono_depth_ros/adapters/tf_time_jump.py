"""A tf2 buffer that forgets its moving transforms when TF time goes back (a bag played with ``--loop``).

tf2 ignores a transform stamped more than its cache time (10 s) before the newest one of its frame
(``TF_OLD_DATA ignoring data from the past``). After a bag longer than that starts again, every ``/tf`` message of
the new pass was ignored until its stamps came within 10 s of the end of the first pass: the camera poses of the
temporal filter and the ``lidar.motion_frame`` lookups failed for most of every later pass. tf2_ros' C++ buffer
clears itself on a jump back of the ROS clock (with ``use_sim_time``); rclpy's does not on Humble, and on Jazzy only
on the clock of the node it is made with (``Buffer(node=...)``, ``tf2_ros/buffer.py``@jazzy; the node's ``Buffer()``
has a system clock, whose jumps never fire). Without ``/clock`` the stamps are the only sign anyway. A jump back of
the ROS clock itself (``ClockWentBack``: under 1 s too, a short bag with ``--clock --loop``, a simulator reset) also
clears it at the new pass's first frame (:meth:`ClearedOnJumpBack.new_pass`), keeping the new pass's transforms
that came before that frame. Static transforms are kept (tf2's ``clear`` leaves them).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from mono_depth_ros.core.msg_factory import stamp_to_ns
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold

RECENT_TF = 256  # transforms kept per child frame for new_pass() (2.5 s of a 100 Hz odometry)


class ClearedOnJumpBack:
    """Wraps a ``tf2_ros.Buffer`` (what ``TransformListener`` fills and the node looks up; every other attribute is
    the buffer's): a transform stamped more than :data:`TIME_JUMP_BACK_NS` before the newest one seen for its child
    frame clears the buffer's dynamic transforms before it goes in. Thread-safe.

    Args:
        buffer: the ``tf2_ros.Buffer``.
        pass_back_ns: how far (ns) the image stamps went back at the new pass's first frame (``ClockWentBack``'s
            ``back_ns``), read at :meth:`new_pass`; None: 0.

    Attributes:
        clears: how many times the buffer was cleared.
    """

    def __init__(self, buffer: Any, pass_back_ns: Callable[[], int] | None = None) -> None:
        self._buffer = buffer
        self._pass_back_ns = pass_back_ns
        self._lock = threading.Lock()
        self._newest: dict[str, int] = {}  # child frame -> newest stamp ns since the last clear
        self._recent: dict[str, deque[tuple[int, Any, str]]] = {}  # child -> its last (stamp ns, transform, authority)
        self._stamps_cleared = False  # cleared by the stamps' rule since the last new_pass()
        self.clears = 0

    def set_transform(self, transform: Any, authority: str) -> Any:
        """``tf2_ros.Buffer.set_transform`` of a ``geometry_msgs/TransformStamped``, after a clear if time went back."""
        stamp_ns = stamp_to_ns(transform.header.stamp)
        child = str(transform.child_frame_id)
        with self._lock:
            newest = self._newest.get(child)
            if newest is not None and stamp_ns < newest - TIME_JUMP_BACK_NS:
                self._clear()
                self._stamps_cleared = True
            self._newest[child] = max(stamp_ns, self._newest.get(child, stamp_ns))
            self._remember(child, (stamp_ns, transform, authority))
            return self._buffer.set_transform(transform, authority)  # locked: not after a clear that did not keep it

    def new_pass(self) -> None:
        """The ROS clock went back and the new pass's first frame is about to be looked up (``ClockWentBack``): its
        dynamic transforms are the new pass's only. A jump back under :data:`TIME_JUMP_BACK_NS` (a short bag with
        ``--clock --loop``, a simulator reset soon after its start) kept the old pass's: a lookup in the new pass
        interpolated between two trajectories. Each child frame keeps what came since its stamps went back
        furthest (the new pass's transforms that came before its first image was processed); a frame whose stamps
        have not gone back keeps nothing until its next transform (tf2_ros' C++ buffer clears all on a jump back).
        Stamps going back by half the image stamps' jump or less (``pass_back_ns``: a driver's resync of the old
        pass, a child whose new pass has not come) begin no pass. Static transforms stay. Nothing is cleared where
        the stamps already cleared the buffer since the last new pass (those kept are the new pass's)."""
        with self._lock:
            if self._stamps_cleared:
                self._stamps_cleared = False
                return
            least = 0 if self._pass_back_ns is None else self._pass_back_ns() // 2
            kept = [(child, entry) for child, recent in self._recent.items() for entry in _since_back(recent, least)]
            self._clear()
            for child, (stamp_ns, transform, authority) in kept:
                self._newest[child] = max(stamp_ns, self._newest.get(child, stamp_ns))
                self._remember(child, (stamp_ns, transform, authority))
                self._buffer.set_transform(transform, authority)

    def _remember(self, child: str, entry: tuple[int, Any, str]) -> None:
        """Keep ``entry`` (stamp ns, transform, authority) among ``child``'s last :data:`RECENT_TF` (its deque made
        once, not at every /tf message)."""
        recent = self._recent.get(child)
        if recent is None:
            recent = self._recent[child] = deque(maxlen=RECENT_TF)
        recent.append(entry)

    def _clear(self) -> None:
        self._buffer.clear()
        self._newest.clear()
        self._recent.clear()
        self.clears += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._buffer, name)


def _since_back(recent: deque[tuple[int, Any, str]], least_ns: int = 0) -> list[tuple[int, Any, str]]:
    """The entries (in arrival order) from the one stamped furthest before the newest that came earlier: empty where
    no stamp went back by more than ``least_ns``."""
    best, start, newest = least_ns, len(recent), None
    for index, (stamp_ns, _transform, _authority) in enumerate(recent):
        if newest is not None and newest - stamp_ns > best:
            best, start = newest - stamp_ns, index
        newest = stamp_ns if newest is None else max(newest, stamp_ns)
    return list(recent)[start:]
