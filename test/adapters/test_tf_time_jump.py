"""ClearedOnJumpBack: a tf2 buffer that forgets its moving transforms when TF time goes back."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from mono_depth_ros.adapters.tf_time_jump import ClearedOnJumpBack

S = 1_000_000_000


class Buffer:
    """What the wrapper uses of ``tf2_ros.Buffer``: ``set_transform``, ``clear`` (static transforms survive it)."""

    def __init__(self) -> None:
        self.dynamic: list[tuple[str, int]] = []
        self.static: list[str] = []

    def set_transform(self, transform: Any, authority: str) -> bool:
        self.dynamic.append((transform.child_frame_id, transform.header.stamp.sec))
        return True

    def set_transform_static(self, transform: Any, authority: str) -> bool:
        self.static.append(transform.child_frame_id)
        return True

    def clear(self) -> None:
        self.dynamic.clear()


def transform(child: str, seconds: float) -> Any:
    sec, nanosec = divmod(round(seconds * S), S)
    stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp, frame_id="odom"), child_frame_id=child)


def test_a_transform_more_than_a_second_older_than_its_frames_newest_clears_the_moving_ones() -> None:
    buffer = Buffer()
    tf = ClearedOnJumpBack(buffer)
    tf.set_transform_static(transform("lidar", 0), "bag")  # delegated as it is
    for second in range(100, 116):
        tf.set_transform(transform("base_link", second), "bag")
        tf.set_transform(transform("wheel", second + 0.5), "bag")
    tf.set_transform(transform("base_link", 114.5), "bag")  # a late message, not a jump
    assert tf.clears == 0 and len(buffer.dynamic) == 33
    tf.set_transform(transform("base_link", 0), "bag")  # the bag starts again
    assert tf.clears == 1 and buffer.dynamic == [("base_link", 0)] and buffer.static == ["lidar"]
    tf.set_transform(transform("wheel", 0.5), "bag")  # its frames follow: no second clear
    assert tf.clears == 1 and buffer.dynamic == [("base_link", 0), ("wheel", 0)]


def test_frames_are_followed_one_by_one() -> None:
    """A frame published seconds behind another (a slow odometry) is no jump."""
    tf = ClearedOnJumpBack(Buffer())
    tf.set_transform(transform("camera", 50), "live")
    tf.set_transform(transform("base_link", 40), "live")
    tf.set_transform(transform("base_link", 41), "live")
    assert tf.clears == 0


def test_a_new_pass_keeps_only_the_transforms_that_came_since_each_frames_stamps_went_back() -> None:
    """A simulator reset (or a 0.4 s bag looped with --clock) goes back less than 1 s: the stamps' rule kept the old
    pass's transforms, and lookups in the new pass interpolated between two trajectories. At the new pass's first
    frame (ClockWentBack) each child keeps what came since its stamps went back furthest (a 5 ms resync before is
    not the new pass's start); a child whose new pass has not come keeps nothing; static transforms stay."""
    buffer = Buffer()
    tf = ClearedOnJumpBack(buffer)
    tf.set_transform_static(transform("lidar", 0), "sim")
    for tenth in range(1, 8):
        tf.set_transform(transform("base_link", tenth / 10), "sim")
        tf.set_transform(transform("wheel", tenth / 10), "sim")
    tf.set_transform(transform("base_link", 0.695), "sim")  # a resync 5 ms back, old pass
    tf.set_transform(transform("base_link", 0.0), "sim")  # the reset: the new pass's first transforms
    tf.set_transform(transform("base_link", 0.1), "sim")
    tf.set_transform(transform("base_link", 0.095), "sim")  # a resync in the new pass
    assert tf.clears == 0 and len(buffer.dynamic) == 18  # under 1 s back: the stamps' rule kept everything
    tf.new_pass()
    assert [child for child, _ in buffer.dynamic] == ["base_link"] * 3 and tf.clears == 1, buffer.dynamic
    assert buffer.static == ["lidar"]
    tf.set_transform(transform("wheel", 0.1), "sim")  # the wheel's new pass: no further clear
    assert tf.clears == 1 and len(buffer.dynamic) == 4


def test_a_new_pass_after_the_stamps_cleared_the_buffer_keeps_the_new_transforms() -> None:
    """A loop over 1 s: the new pass's first transform cleared the buffer already; the new pass's first frame then
    keeps what came since (no second clear)."""
    buffer = Buffer()
    tf = ClearedOnJumpBack(buffer)
    for second in (10, 11, 12, 0, 1):
        tf.set_transform(transform("base_link", second), "bag")
    tf.new_pass()
    assert tf.clears == 1 and buffer.dynamic == [("base_link", 0), ("base_link", 1)]
    for second in (1.5, 0.9):  # the next loop, 0.6 s back
        tf.set_transform(transform("base_link", second), "bag")
    tf.new_pass()  # under 1 s back: this one clears, keeping the pass's own
    assert tf.clears == 2 and buffer.dynamic == [("base_link", 0)]


def test_a_resync_of_the_old_pass_is_no_start_of_a_childs_new_pass() -> None:
    """The wheel's driver resynced 5 ms back in the old pass and its new pass had not come at the new pass's first
    frame (images 0.4 s back): the wheel's old-pass transforms since that resync (0.295 s, 0.4 s: after the new
    pass's start) were put back, and its new pass's lookups interpolated between two trajectories again."""
    buffer = Buffer()
    tf = ClearedOnJumpBack(buffer, lambda: 400_000_000)
    for seconds in (0.1, 0.2, 0.3, 0.295, 0.4):
        tf.set_transform(transform("wheel", seconds), "sim")
    for seconds in (0.1, 0.2, 0.3, 0.4, 0.0):
        tf.set_transform(transform("base_link", seconds), "sim")
    tf.new_pass()
    assert [child for child, _ in buffer.dynamic] == ["base_link"], buffer.dynamic


def test_a_transform_arriving_while_the_new_pass_clears_is_not_put_in_after_the_clear() -> None:
    """TF arrives in the executor while the worker starts the new pass: the wrapper's bookkeeping was locked but its
    insert was not, so an old-pass transform (the wheel's, stamps not gone back) counted before the clear went into
    the buffer after it, and stayed in the new pass."""
    worker: list[threading.Thread] = []

    class Racing(Buffer):
        def set_transform(self, transform: Any, authority: str) -> bool:
            if transform.child_frame_id == "wheel" and not worker:  # the worker's new pass, between count and insert
                worker.append(threading.Thread(target=tf.new_pass))
                worker[0].start()
                worker[0].join(timeout=0.5)
            return super().set_transform(transform, authority)

    buffer = Racing()
    tf = ClearedOnJumpBack(buffer, lambda: 400_000_000)
    for seconds in (0.1, 0.2, 0.3, 0.4, 0.0):
        tf.set_transform(transform("base_link", seconds), "sim")
    tf.set_transform(transform("wheel", 0.4), "sim")  # the old pass's, in flight
    worker[0].join()
    assert tf.clears == 1 and [child for child, _ in buffer.dynamic] == ["base_link"], buffer.dynamic
