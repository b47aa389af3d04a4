"""A tf2 buffer that forgets its moving transforms when TF time goes back (a bag played with ``--loop``).

tf2 ignores a transform stamped more than its cache time (10 s) before the newest one of its frame
(``TF_OLD_DATA ignoring data from the past``). After a bag longer than that starts again, every ``/tf`` message of
the new pass was ignored until its stamps came within 10 s of the end of the first pass: the camera poses of the
temporal filter and the ``lidar.motion_frame`` lookups failed for most of every later pass. tf2_ros' C++ buffer
clears itself on a jump back of the ROS clock (with ``use_sim_time``); rclpy's does not on Humble, and on Jazzy only
on the clock of the node it is made with (``Buffer(node=...)``, ``tf2_ros/buffer.py``@jazzy; the node's ``Buffer()``
has a system clock, whose jumps never fire). Without ``/clock`` the stamps are the only sign anyway. Static
transforms are kept (tf2's ``clear`` leaves them).
"""

from __future__ import annotations

import threading
from typing import Any

from mono_depth_ros.core.msg_factory import stamp_to_ns
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold


class ClearedOnJumpBack:
    """Wraps a ``tf2_ros.Buffer`` (what ``TransformListener`` fills and the node looks up; every other attribute is
    the buffer's): a transform stamped more than :data:`TIME_JUMP_BACK_NS` before the newest one seen for its child
    frame clears the buffer's dynamic transforms before it goes in. Thread-safe.

    Attributes:
        clears: how many times the buffer was cleared.
    """

    def __init__(self, buffer: Any) -> None:
        self._buffer = buffer
        self._lock = threading.Lock()
        self._newest: dict[str, int] = {}  # child frame -> newest stamp ns since the last clear
        self.clears = 0

    def set_transform(self, transform: Any, authority: str) -> Any:
        """``tf2_ros.Buffer.set_transform`` of a ``geometry_msgs/TransformStamped``, after a clear if time went back."""
        stamp_ns = stamp_to_ns(transform.header.stamp)
        child = str(transform.child_frame_id)
        with self._lock:
            newest = self._newest.get(child)
            if newest is not None and stamp_ns < newest - TIME_JUMP_BACK_NS:
                self._buffer.clear()
                self._newest.clear()
                self.clears += 1
            self._newest[child] = max(stamp_ns, self._newest.get(child, stamp_ns))
        return self._buffer.set_transform(transform, authority)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._buffer, name)
