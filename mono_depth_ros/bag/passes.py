"""Where a bag's clock went back: the passes of one recording (a simulation reset, a recorded ``ros2 bag play --loop``).

The node forgets what it received before ROS time went back (cached scans, TF, scale state: ``adapters.lidar``,
``adapters.tf_time_jump``). Offline the whole bag is indexed first, so without passes a bag whose stamps start again
was one timeline: an image of the second pass was paired with the scan (or prediction) of the first pass that has its
stamp, taken at another place.

Each stream (topic) is followed in recording order: a header stamp more than
:data:`~mono_depth_ros.core.scale.recovery.TIME_JUMP_BACK_NS` before the newest one seen on it starts a new pass of
that stream (the node's rule; on ``/tf``, per child frame, as ``adapters.tf_time_jump``) when the stream stays back
(the next messages too: a single stale stamp, which the node gets over at its next message, would have put every
later image in a pass of its own). The image topic's passes are the bag's passes. A pass of another stream belongs to
the bag pass in force when its first message was recorded, or to one that began at most ``TIME_JUMP_BACK_NS`` later
(after a jump, a scan of the new pass is often recorded just before the first image of it).
"""

from __future__ import annotations

import bisect
import contextlib
from typing import Any

from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.msg_factory import stamp_to_ns
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold
from mono_depth_ros.core.tf_buffer import TfBuffer

CONFIRM = 3  # a jump back holds when the next messages of the stream (this many with it) stay back too


class StreamPasses:
    """The passes of one stream, fed its messages in recording order (:meth:`add`), resolved once all are in
    (:meth:`resolve`): a message stamped more than ``jump_back_ns`` before the newest one of its key starts a pass
    when the next :data:`CONFIRM` - 1 messages of that key stay back too (before the middle of the jump); one the
    stream comes back from at once (a single stale stamp) is an outlier of the pass it is in.

    Attributes:
        starts_log_ns: bag time (int ns) of the first message of each pass (one entry per pass; after resolve).
    """

    def __init__(self, jump_back_ns: int = TIME_JUMP_BACK_NS) -> None:
        self.jump_back_ns = int(jump_back_ns)
        self.starts_log_ns: list[int] = []
        self._logs: list[int] = []
        self._stamps: list[int] = []
        self._keys: list[str] = []

    def add(self, log_ns: int, stamp_ns: int, key: str = "") -> int:
        """Record a message recorded at bag time ``log_ns`` stamped ``stamp_ns`` (``key``: a TF child frame, whose
        stamps are compared with its own); returns its position, the index into :meth:`resolve`'s list."""
        self._logs.append(int(log_ns))
        self._stamps.append(int(stamp_ns))
        self._keys.append(key)
        return len(self._stamps) - 1

    def resolve(self) -> list[int]:
        """The pass (0, 1, ...) of each message added; sets :attr:`starts_log_ns`."""
        passes: list[int] = []
        newest: dict[str, int] = {}
        self.starts_log_ns = []
        for i, (stamp, key) in enumerate(zip(self._stamps, self._keys, strict=True)):
            before = newest.get(key)
            if not self.starts_log_ns:
                self.starts_log_ns.append(self._logs[i])
            elif before is not None and stamp < before - self.jump_back_ns:
                if not self._stays_back(i, (stamp + before) // 2):  # back past the middle: the old timeline
                    passes.append(len(self.starts_log_ns) - 1)  # an outlier: the timeline goes on
                    continue
                self.starts_log_ns.append(self._logs[i])
                newest = {}
            newest[key] = max(newest.get(key, stamp), stamp)
            passes.append(len(self.starts_log_ns) - 1)
        return passes

    def _stays_back(self, i: int, limit_ns: int) -> bool:
        """Whether the next CONFIRM - 1 messages with message ``i``'s key are stamped before ``limit_ns`` too (or the
        stream ends first)."""
        key, seen = self._keys[i], 0
        for j in range(i + 1, len(self._stamps)):
            if self._keys[j] != key:
                continue
            if self._stamps[j] >= limit_ns:
                return False
            seen += 1
            if seen >= CONFIRM - 1:
                break
        return True

    def bag_passes(self, images: StreamPasses) -> list[int]:
        """The bag pass (a pass of ``images``, the image stream) of each of this stream's passes (both resolved)."""
        boundaries = images.starts_log_ns[1:]  # bag times where the image stamps went back
        return [
            bisect.bisect_right(boundaries, start + (self.jump_back_ns if k > 0 else 0))
            for k, start in enumerate(self.starts_log_ns)
        ]


class TfPasses:
    """``/tf`` read in recording order into one :class:`~mono_depth_ros.core.tf_buffer.TfBuffer` per pass (each
    sharing the first's static transforms): a message with a transform stamped more than ``jump_back_ns`` before the
    newest of its child frame opens a tentative pass, which holds once :data:`CONFIRM` messages with that child stay
    back; when that child comes back first, the tentative messages go to the pass before (a single stale stamp).

    Attributes:
        buffers: the TF of each pass; ``starts_log_ns``: bag time of each pass's first message.
    """

    def __init__(self, first: TfBuffer, jump_back_ns: int = TIME_JUMP_BACK_NS) -> None:
        self.buffers = [first]
        self.starts_log_ns: list[int] = []
        self.jump_back_ns = int(jump_back_ns)
        self._newest: dict[str, int] = {}
        self._tentative: list[Any] | None = None  # messages of a pass not confirmed yet
        self._held: tuple[str, int, dict[str, int]] = ("", 0, {})  # its child, the limit it stays under, newest before

    def add(self, log_ns: int, msg: Any) -> None:
        """Store one ``tf2_msgs/TFMessage`` of ``/tf``.

        Raises:
            TransformError: malformed transforms (the others are stored), from :meth:`TfBuffer.add_tf_message`.
        """
        stamps = [(str(t.child_frame_id), stamp_to_ns(t.header.stamp)) for t in msg.transforms]
        if not self.starts_log_ns:
            self.starts_log_ns.append(int(log_ns))
        if self._tentative is not None:
            self._follow_tentative(msg, stamps)
        else:
            back = [(c, s) for c, s in stamps if c in self._newest and s < self._newest[c] - self.jump_back_ns]
            if back:
                child, stamp = back[0]
                self._held = (child, (stamp + self._newest[child]) // 2, dict(self._newest))
                self._tentative = []
                self.buffers.append(self.buffers[0].sharing_static())
                self.starts_log_ns.append(int(log_ns))
                self._newest = {}
        if self._tentative is not None:
            self._tentative.append(msg)
            if (
                sum(1 for m in self._tentative for t in m.transforms if str(t.child_frame_id) == self._held[0])
                >= CONFIRM
            ):
                self._tentative = None  # confirmed: a new pass
        for child, stamp in stamps:
            self._newest[child] = max(self._newest.get(child, stamp), stamp)
        self.buffers[-1].add_tf_message(msg, static=False)

    def _follow_tentative(self, msg: Any, stamps: list[tuple[str, int]]) -> None:
        child, limit, before = self._held
        if not any(c == child and s >= limit for c, s in stamps):
            return
        tentative = self._tentative or []  # the child came back: those messages were outliers of the pass before
        self._tentative = None
        self.buffers.pop()
        self.starts_log_ns.pop()
        self._newest = before
        for held in tentative:
            with contextlib.suppress(DepthError):  # counted when it was first stored
                self.buffers[-1].add_tf_message(held, static=False)

    def finish(self) -> None:
        """The end of /tf: a tentative pass nothing came back from holds."""
        self._tentative = None

    def bag_passes(self, images: StreamPasses) -> list[int]:
        """The bag pass (of the resolved image stream) each TF pass began in."""
        boundaries = images.starts_log_ns[1:]
        return [
            bisect.bisect_right(boundaries, start + (self.jump_back_ns if k > 0 else 0))
            for k, start in enumerate(self.starts_log_ns)
        ] or [0]
