"""LatestSlot and FrameWorker: the newest frame wins, the worker survives errors."""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mono_depth_ros.adapters.worker import FrameWorker, LatestSlot
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
