"""SIGINT / SIGTERM as a flag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from mono_depth_ros.adapters.signals import (
    LAUNCH_PID_ENV,
    STOP_POLL_S,
    StopSignals,
    context_released,
    parent_gone,
    shut_down,
    spin_until_stopped,
)


def test_stop_signals_set_a_flag_instead_of_raising() -> None:
    import os
    import signal as signal_module

    previous = {s: signal_module.getsignal(s) for s in (signal_module.SIGINT, signal_module.SIGTERM)}
    try:
        stop = StopSignals.install()
        assert not stop.received
        os.kill(os.getpid(), signal_module.SIGTERM)  # would end the process with the default handler
        for _ in range(100):
            if stop.received:
                break
        assert stop.received
        os.kill(os.getpid(), signal_module.SIGINT)  # no KeyboardInterrupt
        stop.ignore_further()
        assert signal_module.getsignal(signal_module.SIGINT) == signal_module.SIG_IGN
    finally:
        for signum, handler in previous.items():
            signal_module.signal(signum, handler)


def test_a_second_signal_stops_at_once_when_asked_and_restore_puts_the_handlers_back() -> None:
    import os
    import signal as signal_module
    import time

    before = signal_module.getsignal(signal_module.SIGTERM)
    notes: list[str] = []
    stop = StopSignals.install(escalate=True, notify=notes.append)
    try:
        os.kill(os.getpid(), signal_module.SIGTERM)
        time.sleep(0.01)  # the handler runs between bytecodes of the main thread
        assert stop() and stop.reason == "SIGTERM" and notes == ["SIGTERM"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal_module.SIGINT)
            time.sleep(0.01)
    finally:
        stop.restore()
    assert signal_module.getsignal(signal_module.SIGTERM) == before


def test_within_interrupting_a_signal_raises_at_once_and_sets_the_flag() -> None:
    """For the node's start-up: a model load looks at no flag, so the signal must interrupt it."""
    import os
    import signal as signal_module

    previous = {s: signal_module.getsignal(s) for s in (signal_module.SIGINT, signal_module.SIGTERM)}
    stop = StopSignals.install()
    try:
        with pytest.raises(KeyboardInterrupt), stop.interrupting():
            os.kill(os.getpid(), signal_module.SIGTERM)
            for _ in range(1000):  # the handler runs between two bytecodes of this loop
                time.sleep(0.001)
        assert stop.reason == "SIGTERM"
        os.kill(os.getpid(), signal_module.SIGINT)  # outside the block: only the flag, as before
        assert stop.reason == "SIGTERM"
    finally:
        stop.restore()
        for signum, handler in previous.items():
            signal_module.signal(signum, handler)


CHILD = """
import signal, sys, time
from mono_depth_ros.adapters.signals import stop_with_parent
signal.signal(signal.SIGTERM, lambda *_: (print("SIGTERM", flush=True), sys.exit(0)))
import os
print("ready", int(stop_with_parent()), os.getpid(), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_the_parents_death_is_a_sigterm_for_the_process_that_asked() -> None:
    """``kill`` of ``ros2 launch`` (or ``ros2 run``) left the node running, orphaned (real Humble)."""
    parent_code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {CHILD!r}]); time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    ready, asked, child = parent.stdout.readline().split()  # from the child, through the inherited pipe
    assert (ready, asked) == ("ready", "1")
    parent.kill()
    parent.wait(10)
    try:
        out, _ = parent.communicate(timeout=10)  # EOF once the child, which holds the pipe too, has exited
    except subprocess.TimeoutExpired:
        os.kill(int(child), signal.SIGKILL)
        raise AssertionError("the child outlived its parent by 10 s") from None
    assert out.split() == ["SIGTERM"]


def test_a_parent_gone_before_the_process_asked_is_a_stop_asked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A launch that failed while it started the node (a second camera's include refused) exited before the node,
    still importing, asked for the parent's death signal: the node loaded its model and ran on, orphaned (Humble)."""
    assert not parent_gone({}) and not parent_gone({LAUNCH_PID_ENV: str(os.getppid())})
    assert parent_gone({LAUNCH_PID_ENV: str(os.getpid())})  # started by a process that is not the parent now
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for launch_pid, stopped in ((os.getppid(), False), (os.getpid(), True)):
        monkeypatch.setenv(LAUNCH_PID_ENV, str(launch_pid))
        stop = StopSignals.install(with_parent=True)
        try:
            assert stop.received is stopped and stop.reason == ("SIGTERM" if stopped else "")
            with stop.interrupting():  # the default: a stop asked before the block is the flag's alone
                pass
            if stopped:  # the node's start-up: ends before the model load
                with pytest.raises(KeyboardInterrupt), stop.interrupting(asked_before=True):
                    raise AssertionError("the model load ran")
        finally:
            stop.restore()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def test_exit_now_ends_with_the_code_after_atexit_and_the_buffered_output_without_the_teardown() -> None:
    # The node's process took 2.4-3.4 s to end after main returned (Python's module teardown with torch loaded: a
    # Ctrl-C'd node "finished cleanly" 2-3.6 s after the signal); exit_now skips it, keeping what the teardown did
    # that matters: atexit handlers (logging's flush) and stdout / stderr (block-buffered into a pipe) written out.
    script = (
        "import atexit, sys\n"
        "from mono_depth_ros.adapters.signals import exit_now\n"
        "class Finalised:\n"
        "    def __del__(self): print('teardown ran', flush=True)\n"
        "kept = Finalised()\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "print('buffered line'); sys.stderr.write('error line')\n"
        "exit_now(3, lambda: print('finalised'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["buffered line", "finalised", "atexit ran"]  # no teardown: no __del__
    assert done.stderr == "error line"
    failing = script.replace("lambda: print('finalised')", "lambda: 1 / 0")
    done = subprocess.run([sys.executable, "-c", failing], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3 and done.stdout.splitlines() == ["buffered line", "atexit ran"]
    assert "finalising before the exit failed (ZeroDivisionError: division by zero)" in done.stderr


def test_context_released_frees_what_the_teardown_freed_so_the_participant_is_deleted() -> None:
    # rclpy's LifecycleNode.destroy_node leaves the state machine (its get_state / change_state services, the node
    # handle) to the garbage collector, and the global executor's guard conditions hold the context: skipped with
    # the teardown, a relaunched lifecycle node's get_state went unanswered (real Humble tier test, 60 s timeout)
    calls: list[str] = []
    context = types.SimpleNamespace(
        destroy=lambda: calls.append("context destroyed"), _logging_fini=lambda: calls.append("logging finalised")
    )
    executor = types.SimpleNamespace(context=context, shutdown=lambda: calls.append("executor shut down"))
    machine = types.SimpleNamespace(destroy_when_not_in_use=lambda: calls.append("state machine destroyed"))
    context_released(lambda: executor, types.SimpleNamespace(_state_machine=machine))()
    assert calls == ["state machine destroyed", "executor shut down", "context destroyed", "logging finalised"]
    calls.clear()
    context_released(lambda: executor, types.SimpleNamespace())()  # a node without a state machine
    assert calls == ["executor shut down", "context destroyed", "logging finalised"]
    calls.clear()
    del context._logging_fini  # an rclpy without it (the private method of Humble's and Jazzy's Context)
    context_released(lambda: executor, types.SimpleNamespace())()
    assert calls == ["executor shut down", "context destroyed"]


def test_context_released_finalises_rcl_logging_so_the_ros_log_file_keeps_the_node_s_lines(tmp_path: Path) -> None:
    # rclpy's signal handler shuts the context down in C, so rclpy.try_shutdown found it shut down already and
    # skipped Context._logging_fini; the spdlog file of ~/.ros/log was then written only by the C++ static
    # destructors that os._exit skips: after a Ctrl-C the node's log file was empty (real Humble: 0 bytes with
    # exit_now, 3 lines without). Humble's rclpy.context.Context._logging_fini, reduced to its reference count
    script = (
        "import types, sys\n"
        "from mono_depth_ros.adapters.signals import context_released, exit_now\n"
        "log = open(sys.argv[1], 'w')\n"  # block-buffered, as the spdlog file sink: written out at close only
        "log.write('[INFO] the node logged this')\n"
        "class Context:\n"
        "    _logging_initialized = True  # try_shutdown skipped the fini: the signal had shut the context down\n"
        "    def destroy(self): pass\n"
        "    def _logging_fini(self):\n"
        "        if self._logging_initialized:\n"
        "            log.close()\n"
        "            self._logging_initialized = False\n"
        "executor = types.SimpleNamespace(context=Context(), shutdown=lambda: None)\n"
        "exit_now(0, context_released(lambda: executor, types.SimpleNamespace()))\n"
    )
    path = tmp_path / "python3_1234_1796497557.log"
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert path.read_text() == "[INFO] the node logged this"


class LateShutdownExecutor:
    """rclpy's executor as a managed node after its shutdown transition sees a SIGINT that rclpy's signal thread
    handles late: a wait without a timeout ends only on a wake-up; the first wait is woken by the signal's guard
    condition (the stop handler runs then), the context is shut down while the next wait is under way and wakes no
    one. ``waits`` records each wait's timeout; a wait that would never end raises instead of blocking the test."""

    def __init__(self, stop: StopSignals) -> None:
        self.stop, self.waits, self.nodes = stop, [], []  # type: ignore[var-annotated]
        self.up = True
        self.context = types.SimpleNamespace(ok=lambda: self.up)

    def add_node(self, node: object) -> None:
        self.nodes.append(node)

    def remove_node(self, node: object) -> None:
        self.nodes.remove(node)

    def spin_once(self, timeout_sec: float | None = None) -> None:
        self.waits.append(timeout_sec)
        if len(self.waits) == 1:  # woken by rclpy's guard condition; the main thread runs the stop handler
            self.stop.request("SIGINT")
            return
        self.up = False  # rclpy's signal thread: rcl_shutdown, nothing triggered
        if timeout_sec is None or timeout_sec < 0:
            raise AssertionError("waits for good: nothing will wake it")
        raise ExternalShutdown  # rclpy (Humble, Jazzy): the context found down when the wait ends


class ExternalShutdown(Exception):
    """rclpy's ``ExternalShutdownException``: its executor's wait raises it when the context is down after it."""


def test_a_stop_asked_while_spin_waits_ends_the_spin_though_the_context_is_still_up() -> None:
    """rclpy.spin's loop (``while context.ok(): spin_once()``) waited again, for good: Ctrl-C left a managed node
    running after its shutdown transition (real Humble). The spin waits at most STOP_POLL_S at a time and ends on
    the stop flag; the node is added for the spin and removed after it."""
    stop = StopSignals()
    executor = LateShutdownExecutor(stop)
    node = object()
    spin_until_stopped(executor, node, stop)
    assert stop() and executor.waits == [STOP_POLL_S] and executor.nodes == []
    assert 0 < STOP_POLL_S <= 1.0


def test_a_context_shut_down_without_a_wake_up_ends_the_spin_at_the_next_poll() -> None:
    """A context shut down from C (no stop asked: a handler of someone else's, rclpy's thread) while the spin waits:
    every wait is bounded, so the wait ends and rclpy raises ExternalShutdownException (main's clean end): it
    reaches the caller, with the node removed; so does any other exception from a wait."""
    stop = StopSignals()
    executor = LateShutdownExecutor(StopSignals())  # its stop is not the one the spin looks at
    node = object()
    with pytest.raises(ExternalShutdown):
        spin_until_stopped(executor, node, stop, poll_s=0.1)
    assert not stop() and executor.waits == [0.1, 0.1] and executor.nodes == [] and not executor.up

    def raising(timeout_sec: float | None = None) -> None:
        raise RuntimeError("context shut down")

    executor = LateShutdownExecutor(stop)
    executor.spin_once = raising  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="context shut down"):
        spin_until_stopped(executor, node, stop)
    assert executor.nodes == []


def test_shut_down_takes_rcl_shutdown_already_called_after_a_stop_as_the_shutdown_done() -> None:
    """rclpy's signal thread shut the context down between try_shutdown's ok() and its rcl_shutdown (the spin ended
    at the stop flag first): Humble's "RCLError: failed to shutdown: rcl_shutdown already called on the given
    context" was a traceback at Ctrl-C. After a stop it is the shutdown done; without one it is raised."""
    calls: list[str] = []
    context = {"up": True, "default": True}

    def lost_race() -> None:  # rclpy's try_shutdown: ok() was True, then rclpy's thread shut the context down
        calls.append("try_shutdown")
        if context["up"]:
            context["up"] = False
            raise RuntimeError("failed to shutdown: rcl_shutdown already called on the given context")
        context["default"] = False  # a context found down: rclpy drops the default context

    stop = StopSignals()
    with pytest.raises(RuntimeError, match="rcl_shutdown already called"):
        shut_down(lost_race, stop)
    assert calls == ["try_shutdown"] and context["default"]
    stop.request("SIGINT")
    calls.clear()
    context["up"] = True
    shut_down(lost_race, stop)
    assert calls == ["try_shutdown", "try_shutdown"] and not context["default"]
