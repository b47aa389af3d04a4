"""Latest-frame hand-off and the worker threads: the executor never waits for inference.

:class:`LatestSlot` + :class:`FrameWorker`: the transport drops the newest input into a one-item slot and returns at
once; a worker thread processes whatever is newest. A frame replaced before the worker took it is *stale*: dropped
and counted, so the executor never backs up behind inference. Frames that become ready together (those a LiDAR scan
releases at once) go in together and are taken oldest first; the next input replaces what is left of them.

:class:`TwoStageWorker`: the same, with the work split in two threads joined by a :class:`HandOff` of one item, so
that frame N+1's compute stage (decoding, inference, post-processing) overlaps frame N's publish stage (message
building, serialisation, ``publish``). Every computed output is published, in order: the compute thread waits
while the previous output is still queued, and meanwhile newer inputs replace older ones in the slot (stale, as
before). Throughput is that of the slower stage instead of the sum of both.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

EXIT_JOIN_S = 1.0
"""How long the node's ``main`` waits for a frame in flight as the process ends (Ctrl-C, SIGTERM): a frame in
``publish`` ends in milliseconds; one stalled in the network (a hung GPU, an overloaded CPU) is abandoned (the process
ends with it). The lifecycle's 5 s stop, the whole of ``ros2 launch``'s grace before it escalates to SIGTERM, made a
stalled frame's node exit after it: 5.09 s (real Humble, ``test_ros2_operator``)."""

T = TypeVar("T")
R = TypeVar("R")
T_co = TypeVar("T_co", covariant=True)


class ItemSource(Protocol[T_co]):
    """What a worker thread takes items from (:class:`LatestSlot`, :class:`HandOff`)."""

    def take(self) -> T_co | None:
        """The next item, waiting for one; None once closed."""
        ...

    def close(self) -> int:
        """Wake the waiters; later takes return None. How many untaken items were dropped (a bool for one)."""
        ...


class _OneItem(Generic[T]):
    """One item between threads under a condition (:class:`HandOff`): its waiting :meth:`take` and :meth:`close`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def take(self, timeout_s: float | None = None) -> T | None:
        """The item (removing it), waiting up to ``timeout_s`` (None = forever); None on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            if self._closed:
                return None
            item, self._item = self._item, None
            self._cond.notify_all()  # a waiting put (HandOff) may go on
            return item

    def close(self) -> bool:
        """Wake every waiter; later puts are ignored and takes return None. True when an untaken item was dropped."""
        with self._cond:
            dropped = self._item is not None and not self._closed
            self._closed = True
            self._item = None
            self._cond.notify_all()
            return dropped

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


class LatestSlot(Generic[T]):
    """The newest input (or inputs that became ready together), thread-safe: :meth:`put` and :meth:`put_all` never
    block and replace whatever nobody has taken yet; :meth:`take` gives the oldest of what is there."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._closed = False

    def put(self, item: T) -> bool:
        """Offer ``item``; returns True when it replaced an untaken (now dropped) item. Ignored once closed."""
        return self.put_all([item]) > 0

    def put_all(self, items: Sequence[T]) -> int:
        """Offer ``items`` together (taken in this order); returns how many untaken items they replaced (dropped).
        Ignored once closed."""
        with self._cond:
            if self._closed or not items:
                return 0
            replaced = len(self._items)
            self._items = deque(items)
            self._cond.notify()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The oldest item there (removing it), waiting up to ``timeout_s`` (None = forever); None on timeout or
        close."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout=timeout_s)
            if self._closed or not self._items:
                return None
            return self._items.popleft()

    def close(self) -> int:
        """Wake every waiter; later puts are ignored and takes return None. Returns how many untaken items were
        dropped."""
        with self._cond:
            dropped = 0 if self._closed else len(self._items)
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
            return dropped

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


class FrameWorker(Generic[T]):
    """A daemon thread running ``handle(item)`` for each item it takes from ``slot`` (any :class:`ItemSource`).

    Any exception from ``handle`` goes to ``on_error`` and the thread carries on: one bad frame (or a bug hit
    by one frame) must not stop the node. ``on_error`` itself must not raise.
    """

    def __init__(
        self,
        slot: ItemSource[T],
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


class HandOff(_OneItem[R]):
    """A one-item queue between two threads that loses nothing: :meth:`put` waits while the item before is untaken.

    Closing wakes both sides; an untaken item is dropped (the node is shutting down).
    """

    def put(self, item: R) -> bool:
        """Queue ``item`` once the previous one was taken; False (and ``item`` dropped) when closed meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is None or self._closed)
            if self._closed:
                return False
            self._item = item
            self._cond.notify_all()
            return True


class TwoStageWorker(Generic[T, R]):
    """Two daemon threads: ``compute(item)`` for each item taken from ``slot``, then ``publish(output)`` for each
    output that is not None, in the order computed, while the next item is computed.

    An exception from either stage goes to ``on_error`` (from that stage's thread) and the thread carries on, as
    in :class:`FrameWorker`; ``on_error`` itself must not raise. ``on_discard(n)`` is told of the ``n`` items or
    outputs that :meth:`stop` leaves unpublished (one in the slot, one queued, one computed after it), so that a
    stop (a lifecycle deactivate) loses no frame uncounted. ``compute`` and ``publish`` each run on one
    thread only, so each may keep state of its own (a reused message buffer in ``publish``).

    A frame a stop cannot join (a network past the stop's timeout) is *abandoned* (:attr:`abandoned`): the caller goes
    on and may release what the frame uses (a lifecycle shutdown drops the model and publishers). One in ``compute``
    is counted by ``on_discard`` at once (in the caller's last status), and when it returns its output is dropped and
    any exception it raises is ignored; one in ``publish`` is published in full or, when it raises (a publisher
    destroyed under it), counted by ``on_discard`` then instead of reported to ``on_error``.
    """

    def __init__(
        self,
        slot: LatestSlot[T],
        compute: Callable[[T], R | None],
        publish: Callable[[R], None],
        on_error: Callable[[Exception], None],
        on_discard: Callable[[int], object] = lambda count: None,
        name: str = "mono_depth_worker",
    ) -> None:
        self._handoff: HandOff[R] = HandOff()
        self._slot = slot
        self._compute = compute
        self._publish = publish
        self._on_discard = on_discard
        self._lock = threading.Lock()  # the stages in hand and the abandonment, read and set together
        self._busy = {"compute": False, "publish": False}  # which stage holds a frame now
        self._abandoned: tuple[str, ...] | None = None  # the stages whose frames a stop abandoned
        self._computer = FrameWorker(slot, self._compute_one, on_error, name)
        self._publisher = FrameWorker(self._handoff, self._publish_one, on_error, f"{name}_publish")

    def start(self) -> None:
        """Start both threads (once)."""
        self._publisher.start()
        self._computer.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Close the hand-off (an output not yet published is dropped) and the slot, and join both threads within
        ``timeout_s`` seconds in all (the compute thread gets what the publish thread's join left: each had the whole
        of it, so a frame stalled in each stage made a stop twice as long); True when both ended."""
        discarded = int(self._handoff.close()) + int(self._slot.close())  # the hand-off first: compute never waits
        if discarded:
            self._on_discard(discarded)
        deadline = time.monotonic() + timeout_s
        published = self._publisher.stop(timeout_s)
        computed = self._computer.stop(max(0.0, deadline - time.monotonic()))  # what the publish join left
        if not (computed and published):
            with self._lock:
                if self._abandoned is None:
                    self._abandoned = tuple(stage for stage, busy in self._busy.items() if busy)
                    if self._busy["compute"]:
                        self._on_discard(1)  # never published: in the status the caller publishes next
        return computed and published

    @property
    def alive(self) -> bool:
        """True while either thread runs."""
        return self._computer.alive or self._publisher.alive

    @property
    def abandoned(self) -> tuple[str, ...] | None:
        """The stages (``"compute"``, ``"publish"``) holding a frame when a stop gave up on them; None before."""
        return self._abandoned

    def _enter(self, stage: str) -> bool:
        """Mark ``stage`` busy; False (and the frame counted discarded) once a stop abandoned the worker."""
        with self._lock:
            if self._abandoned is not None:
                self._on_discard(1)
                return False
            self._busy[stage] = True
            return True

    def _leave(self, stage: str) -> bool:
        """Mark ``stage`` idle; True when a stop abandoned its frame meanwhile."""
        with self._lock:
            self._busy[stage] = False
            return self._abandoned is not None

    def _compute_one(self, item: T) -> None:
        if not self._enter("compute"):
            return
        try:
            output = self._compute(item)
        except Exception:
            if not self._leave("compute"):
                raise  # reported: the frame was not abandoned
            return  # abandoned (counted by the stop): what it raised met state released under it
        if self._leave("compute"):
            return  # abandoned: counted by the stop, never published
        if output is not None and not self._handoff.put(output):
            self._on_discard(1)  # computed after a stop

    def _publish_one(self, output: R) -> None:
        if not self._enter("publish"):
            return
        try:
            self._publish(output)
        except Exception:
            if not self._leave("publish"):
                raise
            self._on_discard(1)  # abandoned mid-publish, and its publisher was released under it: not published
            return
        self._leave("publish")


def refused_while_busy(
    worker: TwoStageWorker[T, R] | None, transition: str, log_error: Callable[[str], object]
) -> bool:
    """Whether ``worker``'s threads, which a stop could not join (a frame past its 5 s), still run; if so the
    lifecycle ``transition`` is refused with an error naming the remedy: it would start a second worker (activate),
    take the model and publishers from under that frame (cleanup) or load a second model beside it (configure)."""
    if worker is None or not worker.alive:
        return False
    log_error(
        f"{transition} refused: the previous depth worker is still busy with a frame (it ran past the 5 s "
        f"stop); try {transition} again once that frame returns (a frame that never returns: restart the node)"
    )
    return True


def stopped(
    worker: TwoStageWorker[T, R] | None,
    log_warning: Callable[[str], object],
    timeout_s: float = 5.0,
    ending: bool = False,
) -> bool:
    """Stop ``worker`` (None: nothing to stop), joining its threads up to ``timeout_s`` seconds; False when a frame
    ran past that, with a warning, once, of what was abandoned (none where no stage held a frame: it returned as the
    stop gave up, counted by its own path). A worker abandoned before is not waited for again (a node destroyed after
    its shutdown transition gave up on the frame: a second 5 s for nothing). ``ending``: the process ends next (the
    node's ``main``), so the join is :data:`EXIT_JOIN_S` instead of ``timeout_s`` and a frame past it ends with the
    process: the warning gives no remedy (it told a node stopped by Ctrl-C to restart). The exit is this flag, not
    read from the join's length: a node whose own stop waits 1 s was told its frame ends with the process."""
    if worker is None:
        return True
    timeout_s = EXIT_JOIN_S if ending else timeout_s
    before = worker.abandoned
    if worker.stop(0.0 if before is not None else timeout_s):
        return True
    if before is None and (stages := " and ".join(worker.abandoned or ())):  # none in hand: the frame returned
        later = "its thread ends when the frame returns (one that never returns: restart the node)"
        log_warning(
            f"depth worker still busy after {timeout_s:g} s ({stages} stage); going on without it: its frame is "
            "abandoned (never published: counted in frames_dropped_stale; one mid-publish: published whole or counted "
            f"so), and {'it ends with the process' if ending else later}"
        )
    return False
