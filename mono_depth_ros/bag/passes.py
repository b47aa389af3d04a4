"""Where a bag's clock went back: the passes of one recording (a simulation reset, a recorded ``ros2 bag play --loop``).

The node forgets what it received before ROS time went back (cached scans, TF, scale state: ``adapters.lidar``,
``adapters.tf_time_jump``). Offline the whole bag is indexed first, so without passes a bag whose stamps start again
was one timeline: an image of the second pass was paired with the scan (or prediction) of the first pass that has its
stamp, taken at another place.

Each stream (topic) is followed in recording order: a header stamp more than
:data:`~mono_depth_ros.core.scale.recovery.TIME_JUMP_BACK_NS` before the newest one seen on it starts a new pass of
that stream (the node's rule; on ``/tf``, per child frame, as ``adapters.tf_time_jump``). The image topic's passes
are the bag's passes. A pass of another stream belongs to
the bag pass in force when its first message was recorded, or to one that began at most ``TIME_JUMP_BACK_NS`` later
(after a jump, a scan of the new pass is often recorded just before the first image of it).
"""

from __future__ import annotations

import bisect

from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold


class StreamPasses:
    """The passes of one stream, fed its messages in recording order (:meth:`add`).

    Attributes:
        starts_log_ns: bag time (int ns) of the first message of each pass (one entry per pass).
    """

    def __init__(self, jump_back_ns: int = TIME_JUMP_BACK_NS) -> None:
        self.jump_back_ns = int(jump_back_ns)
        self.starts_log_ns: list[int] = []
        self._newest_ns: dict[str, int] = {}  # key (a TF child frame; "" for a topic) -> newest stamp in this pass

    def add(self, log_ns: int, stamp_ns: int, key: str = "") -> int:
        """The stream's pass number (0, 1, ...) of a message recorded at bag time ``log_ns`` stamped ``stamp_ns``
        (``key``: the TF child frame, whose stamps are compared with its own)."""
        newest = self._newest_ns.get(key)
        if not self.starts_log_ns or (newest is not None and stamp_ns < newest - self.jump_back_ns):
            self.starts_log_ns.append(int(log_ns))
            self._newest_ns = {}
        self._newest_ns[key] = max(self._newest_ns.get(key, int(stamp_ns)), int(stamp_ns))
        return len(self.starts_log_ns) - 1

    @property
    def current(self) -> int:
        """The pass of the last message added (0 before any)."""
        return max(len(self.starts_log_ns) - 1, 0)

    def bag_passes(self, images: StreamPasses) -> list[int]:
        """The bag pass (a pass of ``images``, the image stream) of each of this stream's passes."""
        boundaries = images.starts_log_ns[1:]  # bag times where the image stamps went back
        return [
            bisect.bisect_right(boundaries, start + (self.jump_back_ns if k > 0 else 0))
            for k, start in enumerate(self.starts_log_ns)
        ]
