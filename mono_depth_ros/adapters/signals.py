"""SIGINT / SIGTERM as a stop request: a flag that the running code checks, not an exception thrown into it.

One class for both long-running transports:

* the node installs it before ``rclpy.init()``: rclpy's handler chains to it and shuts the context down, and
  :func:`spin_until_stopped` ends at the flag or the shut-down context, whichever it sees first; the flag tells ``main``
  that an error raised by the shutdown race (Humble's RCLError "context is not valid", or a pybind11 RuntimeError for an
  interrupt inside ``take_message``, both seen on real Humble; ``rclpy.try_shutdown``'s "rcl_shutdown already called":
  :func:`shut_down`) is a requested stop. Ctrl-C under ``ros2 launch`` arrives twice (terminal and launch):
  :meth:`ignore_further` keeps the second from interrupting the clean-up. During start-up (:meth:`interrupting`: the
  model load, ``torch.compile``, a TensorRT build, the warm-up: seconds to minutes, with no flag to look at) a signal
  raises ``KeyboardInterrupt`` at once instead;
* ``mono-depth bag`` passes it to ``run_bag`` as its ``stop``: the run finishes the frame in hand and closes the
  output bag; with ``escalate`` a second signal stops at once (``KeyboardInterrupt``).

:func:`stop_with_parent` makes the death of the node's parent a SIGTERM: Humble's ``ros2 launch`` dies on a SIGTERM
of its own ("using SIGTERM can result in orphaned processes") and ``ros2 run`` does not forward one, so ``kill`` of
either (a supervisor that signals only its main process) left the node running, and the next launch ran a second
``mono_depth_node`` beside it (seen on real Humble). A parent already gone when the node asks is missed by Linux:
``depth.launch.py`` passes its own pid (:data:`LAUNCH_PID_ENV`) and :func:`parent_gone` compares: a launch that
failed while it was starting the node (a second camera's include refused) had exited 1 and left the node running
on, orphaned, after the imports and the model load (seen on real Humble).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
LAUNCH_PID_ENV = "MONO_DEPTH_LAUNCH_PID"
"""Environment variable with the pid of the process that started the node (``depth.launch.py``: ``ros2 launch``)."""


def stop_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Have Linux send ``signum`` to this process when its parent (``ros2 launch``, ``ros2 run``) dies; returns
    whether it is set (False off Linux or when ``prctl`` refuses). A parent already gone before the call is missed.
    Linux ties it to the parent's thread that started the process: ``ros2 launch`` and ``ros2 run`` start it from
    their main thread; a program that starts the node from a thread that ends before it ends the node too."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def exit_now(code: int, finalise: Callable[[], object] = lambda: None) -> NoReturn:
    """End the process with ``code`` without Python's interpreter teardown: ``finalise`` (the node's: rclpy's
    context destroyed), the atexit handlers (``logging``'s flush among them), stdout / stderr flushed, ``os._exit``.

    For the node's console scripts, once the node is destroyed and rclpy shut down: nothing of it is left to
    finalise then but the middleware's participant, which the teardown used to delete (rclpy's ``Context.destroy``)
    and which ``finalise`` must: left to the OS, the other processes kept the node in their graph until its lease
    ran out, and a node started again in its place had service requests lost (``get_state`` of a relaunched
    lifecycle node unanswered, real Humble). The teardown of the modules (torch and the model loaded) took 2.4-3.4 s
    on a 2-core computer, so a node stopped by Ctrl-C or SIGTERM "finished cleanly" 2-3.6 s after the signal (busy
    CPUs: closer to ``ros2 launch``'s 5 s before it escalates to SIGTERM, then SIGKILL).
    """
    try:
        finalise()
    except Exception as err:  # the process ends all the same
        sys.stderr.write(f"finalising before the exit failed ({type(err).__name__}: {err}); other processes may "
                         "list this node until its middleware lease runs out\n")  # fmt: skip
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # closed, or a pipe nobody reads any more
            stream.flush()
    os._exit(code)


def context_released(global_executor: Callable[[], Any], node: Any) -> Callable[[], None]:
    """``exit_now``'s ``finalise`` for a ``node`` (destroyed) that rclpy's global executor (``global_executor()``)
    spun, taken before ``rclpy.try_shutdown``: one that shuts the context down itself (a stop that ended ``spin``
    before rclpy's signal thread did) drops rclpy's global executor, and ``rclpy.get_global_executor()`` then failed
    on the new default context (TypeError, the context never destroyed; real Humble). It releases
    what the interpreter's teardown released, so that the middleware deletes the participant and
    tells the other processes: a lifecycle node's state machine (rclpy's ``destroy_node`` leaves it, and with it the
    ``get_state`` / ``change_state`` services and the node handle, to the garbage collector), the executor (its
    guard conditions hold the context) and the context (rclpy's ``Context.destroy``), then rcl's logging (the
    spdlog file of ``~/.ros/log``, block-buffered, written out when it closes): rclpy's signal handler shuts the
    context down in C, so ``rclpy.try_shutdown`` finds it shut down and skips ``Context._logging_fini``, and the
    C++ static destructors that closed the file at a normal exit are skipped by ``os._exit`` (a Ctrl-C'd node's log
    file was empty, real Humble). rclpy is duck-typed: this module imports no ROS."""

    def release() -> None:
        machine = getattr(node, "_state_machine", None)  # rclpy.lifecycle.LifecycleNode's (Humble, Jazzy)
        if machine is not None:
            machine.destroy_when_not_in_use()
        executor = global_executor()
        context = executor.context  # the node's (rclpy.try_shutdown has made the default context a new one)
        executor.shutdown()
        context.destroy()
        logging_fini = getattr(context, "_logging_fini", None)  # a no-op where try_shutdown did it (Humble, Jazzy)
        if logging_fini is not None:
            logging_fini()

    return release


STOP_POLL_S = 0.25
"""The longest :func:`spin_until_stopped` waits before it looks at the stop flag and the context again (seconds)."""


def spin_until_stopped(executor: Any, node: Any, stop: Callable[[], bool], poll_s: float = STOP_POLL_S) -> None:
    """Spin ``node`` on ``executor`` (rclpy's, duck-typed) until ``stop()`` (a :class:`StopSignals`) or the end of
    ``executor.context``, waiting at most ``poll_s`` seconds at a time; rclpy's ``ExternalShutdownException`` (the
    context shut down during a wait) goes to the caller, as from ``rclpy.spin``.

    ``rclpy.spin`` waits with no timeout and looks at the context only when the wait ends. On SIGINT / SIGTERM
    rclpy's signal thread (Humble, rclpy 3.3) first triggers the executors' guard conditions, then shuts the
    contexts down (``rcl_shutdown``, which wakes no one): a main thread woken in between found the context still up
    and waited again, for good where nothing else wakes it, as in a managed node after its shutdown transition (no
    timer, no subscription left): Ctrl-C left it running, ``ros2 launch`` did not exit, SIGTERM too was held (real
    Humble: 3 of 16 runs of configure, activate, frames, shutdown, SIGINT; 1 in 20-30 for a bare node). Here the
    stop handler's flag (set when the woken main thread comes back to Python) or the shut-down context ends the spin
    within ``poll_s``."""
    executor.add_node(node)
    try:
        while executor.context.ok() and not stop():
            executor.spin_once(timeout_sec=poll_s)
    finally:
        executor.remove_node(node)


def shut_down(try_shutdown: Callable[[], object], stop: Callable[[], bool]) -> None:
    """``rclpy.try_shutdown`` at the end of ``main`` once the spin ended; after a stop (``stop()``, a
    :class:`StopSignals`) its error is the shutdown done: rclpy's signal thread shuts the context down in C, and
    where it did so between ``try_shutdown``'s ``ok()`` and its ``rcl_shutdown`` the latter raised (Humble:
    ``RCLError: failed to shutdown: rcl_shutdown already called on the given context``), a traceback at Ctrl-C and
    no exit 0; :func:`spin_until_stopped`, ending at the flag, can get there before rclpy's thread. It is called
    once more then, the context down: rclpy drops its default context, as where its thread came first (the raise
    had skipped that: a later ``rclpy.init`` in the process would reuse the shut-down one). Without a stop the error
    is raised."""
    try:
        try_shutdown()
    except Exception:
        if not stop():
            raise
        try_shutdown()


def parent_gone(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the process named by :data:`LAUNCH_PID_ENV` in ``environ``, which started this one, is no longer its
    parent (it died, and this process was handed to another); False when the variable is not set (``ros2 run``)."""
    value = environ.get(LAUNCH_PID_ENV, "").strip()
    return value.isdigit() and os.getppid() != int(value)


class StopSignals:
    """A stop request: ``reason`` (the signal's name, e.g. ``SIGTERM``) once asked; calling it says whether it was."""

    def __init__(self, escalate: bool = False, notify: Callable[[str], object] | None = None) -> None:
        self.reason = ""
        self._escalate = escalate
        self._notify = notify
        self._previous: dict[int, Any] = {}
        self._interrupt = False

    @classmethod
    def install(
        cls, escalate: bool = False, notify: Callable[[str], object] | None = None, with_parent: bool = False
    ) -> StopSignals:
        """Handlers for SIGINT and SIGTERM that set the flag (call from the main thread; :meth:`restore` undoes).

        Args:
            escalate: a second signal raises ``KeyboardInterrupt`` (a user who presses Ctrl-C again means it).
            notify: called with the reason when the first signal arrives (e.g. a line on stderr).
            with_parent: the parent process's death is a SIGTERM too (:func:`stop_with_parent`; the node's), and a
                parent gone already (:func:`parent_gone`) asks for the stop at once.
        """
        stop = cls(escalate, notify)
        for signum in SIGNALS:
            stop._previous[signum] = signal.signal(signum, stop._on_signal)
        if with_parent:
            stop_with_parent()
            if parent_gone():  # after prctl: a parent that dies from now on sends the signal instead
                stop.request(signal.SIGTERM.name)
        return stop

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.reason and self._escalate:
            raise KeyboardInterrupt
        self.request(signal.Signals(signum).name)
        if self._interrupt:
            raise KeyboardInterrupt

    @contextmanager
    def interrupting(self, asked_before: bool = False) -> Iterator[None]:
        """Within the block a signal also raises ``KeyboardInterrupt`` where the main thread is (the flag is set as
        always): for long work that never looks at the flag, such as a model load. ``asked_before``: a stop asked
        before the block raises it on entry (the node's start-up: nothing before it looks at the flag)."""
        if asked_before and self.reason:
            raise KeyboardInterrupt
        self._interrupt = True
        try:
            yield
        finally:
            self._interrupt = False

    def request(self, reason: str) -> None:
        """Ask for the stop (the first reason is kept)."""
        if not self.reason:
            self.reason = reason
            if self._notify is not None:
                self._notify(reason)

    def __call__(self) -> bool:
        """True once a stop was asked for."""
        return bool(self.reason)

    @property
    def received(self) -> bool:
        """True once SIGINT or SIGTERM arrived (or :meth:`request` was called)."""
        return bool(self.reason)

    def ignore_further(self) -> None:
        """Ignore SIGINT from now on (shutting down; SIGTERM still ends the process via rclpy's chain)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def restore(self) -> None:
        """Put back the handlers that :meth:`install` replaced."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
