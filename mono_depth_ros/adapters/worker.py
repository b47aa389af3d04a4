"""Latest-frame hand-off and the worker thread: the executor never waits for inference.

:class:`LatestSlot` + :class:`FrameWorker`: the transport drops the newest input into a one-item slot and returns at
once; a worker thread processes whatever is newest. A frame replaced before the worker took it is *stale*: dropped
and counted, so the executor never backs up behind inference.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item, thread-safe hand-off: :meth:`put` never blocks and replaces an item nobody has taken yet."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> bool:
        """Offer ``item``; returns True when it replaced an untaken (now dropped) item. Ignored once closed."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item (removing it), waiting up to ``timeout_s`` (None = forever); None on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiter; later puts are ignored and takes return None."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


class FrameWorker(Generic[T]):
    """A daemon thread running ``handle(item)`` for each item it takes from ``slot``.

    Any exception from ``handle`` goes to ``on_error`` and the thread carries on: one bad frame (or a bug hit
    by one frame) must not stop the node. ``on_error`` itself must not raise.
    """

    def __init__(
        self,
        slot: LatestSlot[T],
        handle: Callable[[T], None],
        on_error: Callable[[Exception], None],
        name: str = "mono_depth_worker",
    ) -> None:
        self._slot = slot
        self._handle = handle
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (once)."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Close the slot and join the thread; True when it ended within ``timeout_s`` seconds."""
        self._slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._slot.take()
            if item is None:
                return
            try:
                self._handle(item)
            except Exception as err:  # reported through on_error: the thread must survive
                self._on_error(err)
