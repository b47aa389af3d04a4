"""LatestSlot, FrameWorker, HandOff and TwoStageWorker: the newest frame wins, the worker survives errors, the
two-stage worker publishes every computed output in order while it computes the next."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mono_depth_ros.adapters.worker import (
    FrameWorker,
    HandOff,
    LatestSlot,
    TwoStageWorker,
    refused_while_busy,
    stopped,
)
from mono_depth_ros.core.errors import EncodingError

MS = 1_000_000


@given(st.lists(st.integers(), min_size=1, max_size=50))
def test_slot_keeps_only_the_newest_and_counts_each_replacement(items: list[int]) -> None:
    slot: LatestSlot[int] = LatestSlot()
    replaced = [slot.put(item) for item in items]
    assert replaced == [False] + [True] * (len(items) - 1)
    assert slot.take(timeout_s=0) == items[-1]
    assert slot.take(timeout_s=0) is None  # taken: empty again
    assert slot.put(0) is False


def test_slot_close_wakes_a_waiting_taker_and_ignores_later_puts() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got: list[Any] = []
    taker = threading.Thread(target=lambda: got.append(slot.take()))
    taker.start()
    slot.close()
    taker.join(30)
    assert not taker.is_alive() and got == [None]
    assert slot.closed and slot.put("late") is False and slot.take(timeout_s=0) is None


def test_worker_processes_items_survives_exceptions_and_stops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    handled: list[int] = []
    errors: list[Exception] = []
    seen = threading.Semaphore(0)

    def handle(item: int) -> None:
        seen.release()
        if item == 1:
            raise EncodingError("bad frame")
        if item == 2:
            raise KeyError("a bug")
        handled.append(item)

    worker = FrameWorker(slot, handle, errors.append)
    worker.start()
    for item in (1, 2, 3):
        slot.put(item)
        assert seen.acquire(timeout=30)  # one item at a time: nothing is replaced
    assert worker.stop(timeout_s=30) and not worker.alive
    assert handled == [3]
    assert [type(e) for e in errors] == [EncodingError, KeyError]


def test_handoff_keeps_every_item_in_order_and_close_wakes_both_sides() -> None:
    handoff: HandOff[int] = HandOff()
    assert handoff.put(1)
    second_queued = threading.Event()

    def put_second() -> None:
        assert handoff.put(2)  # waits until 1 was taken
        second_queued.set()

    putter = threading.Thread(target=put_second)
    putter.start()
    assert not second_queued.wait(0.05)  # 1 is untaken: the put of 2 waits (nothing is lost)
    assert handoff.take() == 1
    putter.join(30)
    assert second_queued.is_set() and handoff.take() == 2
    got: list[Any] = []
    taker = threading.Thread(target=lambda: got.append(handoff.take()))
    taker.start()
    handoff.close()
    taker.join(30)
    assert not taker.is_alive() and got == [None] and handoff.put(3) is False


def test_two_stage_worker_computes_the_next_item_while_one_is_published() -> None:
    slot: LatestSlot[int] = LatestSlot()
    computed: list[int] = []
    published: list[int] = []
    errors: list[Exception] = []
    publishing, release = threading.Event(), threading.Event()
    done = threading.Semaphore(0)

    def compute(item: int) -> int | None:
        computed.append(item)
        if item == 5:
            raise EncodingError("bad frame")
        return None if item == 6 else item * 10

    def publish(output: int) -> None:
        if output == 10:
            publishing.set()
            assert release.wait(30)
        if output == 70:
            raise KeyError("a bug in publication")
        published.append(output)
        done.release()

    worker = TwoStageWorker(slot, compute, publish, errors.append)
    worker.start()
    slot.put(1)
    assert publishing.wait(30)  # output 10 is being published ...
    slot.put(2)
    assert _wait(lambda: computed == [1, 2])  # ... and item 2 computed meanwhile (one thread would be stuck)
    slot.put(3)
    assert _wait(lambda: computed == [1, 2, 3])  # 20 is queued: the compute thread waits with 30 in hand
    assert slot.put(4) is False and slot.put(5) is True  # the slot keeps the newest: 4 is stale
    release.set()
    for _ in range(3):
        assert done.acquire(timeout=30)
    assert published == [10, 20, 30]  # every computed output, in order
    assert _wait(lambda: computed == [1, 2, 3, 5])
    for item in (6, 7, 8):  # 6 computes nothing to publish, 70 fails to publish: both threads carry on
        slot.put(item)
        assert _wait(lambda item=item: computed[-1] == item)
    assert done.acquire(timeout=30) and published == [10, 20, 30, 80]
    assert [type(e) for e in errors] == [EncodingError, KeyError]
    assert worker.stop(timeout_s=30) and not worker.alive


def test_two_stage_worker_stops_with_an_output_queued_and_one_in_publication() -> None:
    slot: LatestSlot[int] = LatestSlot()
    published: list[int] = []
    publishing, release = threading.Event(), threading.Event()
    computed = threading.Semaphore(0)

    def compute(item: int) -> int:
        computed.release()
        return item

    def publish(output: int) -> None:
        publishing.set()
        assert release.wait(30)
        published.append(output)

    worker = TwoStageWorker(slot, compute, publish, lambda err: None)
    worker.start()
    slot.put(1)
    assert publishing.wait(30)
    slot.put(2)
    assert computed.acquire(timeout=30) and computed.acquire(timeout=30)  # 2 is computed (queued behind 1)
    assert worker.stop(timeout_s=0.05) is False  # the publication of 1 is still in progress
    release.set()
    assert worker.stop(timeout_s=30) and not worker.alive
    assert published == [1]  # 2, queued when the worker stopped, is dropped


def _wait(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Wait for a worker thread (an event, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_two_stage_worker_reports_every_item_and_output_its_stop_discards() -> None:
    """A lifecycle deactivate lost the frame waiting in the slot and the one being computed without a count."""
    slot: LatestSlot[int] = LatestSlot()
    computing = threading.Event()
    discarded: list[int] = []
    published: list[int] = []

    def compute(item: int) -> int:
        computing.set()
        assert _wait(lambda: slot.closed)  # finishes while the worker stops
        return item

    worker = TwoStageWorker(slot, compute, published.append, lambda err: None, discarded.append)
    worker.start()
    slot.put(1)
    assert computing.wait(30)  # 1 is being computed ...
    slot.put(2)  # ... and 2 waits in the slot
    assert worker.stop(timeout_s=30) and not worker.alive
    assert published == [] and sum(discarded) == 2  # 2 from the slot, 1's output computed after the stop


def test_items_put_together_are_taken_oldest_first_and_replaced_together() -> None:
    """Frames a LiDAR scan releases at once: the one-item slot kept only the last (the others counted stale though
    the worker was idle); put together, they are all taken, and the next input replaces what is left of them."""
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put_all([1, 2, 3]) == 0
    assert slot.take(timeout_s=0) == 1
    assert slot.put_all([4, 5]) == 2  # 2 and 3 were not taken: replaced, counted by the caller
    assert [slot.take(timeout_s=0), slot.take(timeout_s=0), slot.take(timeout_s=0)] == [4, 5, None]
    assert slot.put_all([]) == 0 and slot.put(6) is False
    assert slot.put_all([7, 8]) == 1 and slot.close() == 2 and slot.take(timeout_s=0) is None


def test_a_transition_is_refused_only_while_a_worker_thread_still_runs_and_the_error_names_the_remedy() -> None:
    """A lifecycle transition after a stop that could not join a late frame: refused (with the transition and the
    remedy in the error) while that frame runs; allowed with no worker, and once the frame has returned."""
    errors: list[str] = []
    assert not refused_while_busy(None, "cleanup", errors.append)
    started, release, slot = threading.Event(), threading.Event(), LatestSlot[int]()

    def late_frame(item: int) -> None:
        started.set()
        release.wait(10)

    worker = TwoStageWorker(slot, late_frame, lambda out: None, lambda err: None)
    worker.start()
    slot.put(1)
    assert started.wait(10)
    assert not worker.stop(timeout_s=0.05)  # the frame runs on past the stop
    assert refused_while_busy(worker, "cleanup", errors.append)
    assert len(errors) == 1 and errors[0].startswith("cleanup refused") and "try cleanup again" in errors[0]
    release.set()
    worker.stop(timeout_s=10.0)
    assert not refused_while_busy(worker, "configure", errors.append) and len(errors) == 1


@pytest.mark.parametrize("raises", [False, True])
def test_a_frame_a_stop_gives_up_on_is_abandoned_counted_at_the_stop_and_neither_published_nor_reported(
    raises: bool,
) -> None:
    """A frame in ``compute`` past the stop's timeout was counted only when it returned (after the caller's last
    status), and one raising then (state released under it) reached ``on_error`` as a bug. Now the stop counts it
    and names its stage; its output and what it raises are dropped; one in ``publish`` that raises is counted."""
    slot: LatestSlot[int] = LatestSlot()
    started, release = threading.Event(), threading.Event()
    discarded: list[int] = []
    published: list[int] = []
    errors: list[Exception] = []

    def late(item: int) -> int:
        started.set()
        assert release.wait(30)
        if raises:
            raise AttributeError("'Node' object has no attribute '_pipeline'")  # released under it
        return item

    worker = TwoStageWorker(slot, late, published.append, errors.append, discarded.append)
    worker.start()
    slot.put(1)
    assert started.wait(30)
    assert worker.abandoned is None and not worker.stop(timeout_s=0.01)
    assert worker.abandoned == ("compute",) and discarded == [1], raises  # counted now
    release.set()
    assert worker.stop(timeout_s=30) and not worker.alive
    assert (published, errors, discarded) == ([], [], [1]), raises  # nothing more

    slot, publishing, unblock = LatestSlot[int](), threading.Event(), threading.Event()
    lost: list[int] = []

    def destroyed_under_it(output: int) -> None:
        publishing.set()
        assert unblock.wait(30)
        raise RuntimeError("publisher's handle destroyed")  # rclpy's InvalidHandle

    worker = TwoStageWorker(slot, lambda item: item, destroyed_under_it, errors.append, lost.append)
    worker.start()
    slot.put(1)
    assert publishing.wait(30)
    assert not worker.stop(timeout_s=0.01) and worker.abandoned == ("publish",) and lost == []  # may still publish
    unblock.set()
    assert worker.stop(timeout_s=30) and (errors, lost) == ([], [1])


def test_stopped_warns_once_of_what_it_abandoned_and_does_not_wait_again() -> None:
    """A node destroyed after its shutdown transition gave up on a frame waited another 5 s and warned again."""
    assert stopped(None, print)
    slot, started, release = LatestSlot[int](), threading.Event(), threading.Event()
    worker = TwoStageWorker(slot, lambda item: started.set() or release.wait(30), lambda out: None, lambda err: None)
    worker.start()
    slot.put(1)
    assert started.wait(30)
    warnings: list[str] = []
    assert not stopped(worker, warnings.append, timeout_s=0.01)
    second = threading.Thread(target=stopped, args=(worker, warnings.append, 30.0))
    second.start()
    second.join(10)  # it would wait for the frame (30 s): it does not
    assert not second.is_alive() and len(warnings) == 1 and "(compute stage)" in warnings[0], warnings
    release.set()
    assert _wait(lambda: not worker.alive) and stopped(worker, warnings.append) and len(warnings) == 1


def test_a_stop_that_finds_no_frame_in_hand_abandons_nothing_and_does_not_say_so() -> None:
    """A stop that gave up as the frame left its stage (the frame returned at that instant, its thread not yet
    ended: here inside ``on_error``) found no stage busy; it warned all the same that a ``(compute stage)`` frame was
    abandoned and counted in frames_dropped_stale, though that frame had been reported by its own path (on_error)."""
    slot, reporting, release = LatestSlot[int](), threading.Event(), threading.Event()
    errors: list[Exception] = []
    discarded: list[int] = []

    def slow_report(err: Exception) -> None:
        errors.append(err)
        reporting.set()
        assert release.wait(30)

    def bad(item: int) -> int:
        raise EncodingError("a frame it cannot decode")

    worker = TwoStageWorker(slot, bad, lambda out: None, slow_report, discarded.append)
    worker.start()
    slot.put(1)
    assert reporting.wait(30)
    warnings: list[str] = []
    try:
        assert not stopped(worker, warnings.append, timeout_s=0.01)  # the thread still runs (in on_error)
        assert worker.abandoned == () and discarded == [] and len(errors) == 1
        assert warnings == [], warnings  # no frame was abandoned: nothing to warn of
    finally:
        release.set()
    assert _wait(lambda: not worker.alive) and stopped(worker, warnings.append) and warnings == []


def test_a_stop_with_both_stages_stalled_waits_its_timeout_once_not_once_per_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame stalled in ``publish`` (a blocked middleware) and the next stalled in ``compute`` (a hung GPU): the stop
    joined the publish thread for its whole timeout, then the compute thread for the whole timeout again, so main's
    1 s at the process's end (``EXIT_JOIN_S``) was 2 s and a deactivate's 5 s 10 s, each warned as "still busy after
    1 s" / "5 s". The two joins now share the one timeout: the second gets what the first left of it."""
    joins: list[float] = []
    join = FrameWorker.stop

    def recorded(self: FrameWorker[Any], timeout_s: float = 5.0) -> bool:
        joins.append(timeout_s)
        return join(self, timeout_s)

    monkeypatch.setattr(FrameWorker, "stop", recorded)
    slot, publishing, computing, release = LatestSlot[int](), threading.Event(), threading.Event(), threading.Event()

    def compute(item: int) -> int:
        if item == 2:
            computing.set()
            assert release.wait(30)
        return item

    def publish(output: int) -> None:
        publishing.set()
        assert release.wait(30)

    discarded: list[int] = []
    worker = TwoStageWorker(slot, compute, publish, lambda err: None, discarded.append)
    worker.start()
    try:
        slot.put(1)
        assert publishing.wait(30)
        slot.put(2)
        assert computing.wait(30)
        assert not worker.stop(timeout_s=0.2) and worker.abandoned == ("compute", "publish")
        assert len(joins) == 2 and joins[0] == 0.2 and joins[1] < 0.1, joins  # was [0.2, 0.2]
    finally:
        release.set()
    assert _wait(lambda: not worker.alive) and discarded == [1]
