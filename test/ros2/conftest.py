"""Fixtures of the real-ROS 2 tier (``make ros2-test``, ``scripts/ros2_tier.sh``).

These tests need a real ROS 2 (rclpy, ``ros2 launch``) and this package colcon-built into a sourced workspace;
``scripts/ros2_tier.sh`` provides both. Elsewhere (the project's .venv: ``make unit``, or ``pytest test/ros2``) each
test module is skipped with the reason (:func:`pytest_pycollect_makemodule`), none of them imported: a skip raised
while this conftest loads is an error traceback where pytest was pointed at this folder.

One test that fails or hangs must not fail the tests after it (:func:`contained`): before each test that uses the
probe, the probe must hear itself (else its executor is revived, with a warning naming the test before); after each
test, and after each module, the probe's publishers, collectors, clients, services and timers made in it and not
destroyed are destroyed (else a collector takes every later message on its topic for the rest of the session, and a
publisher is one more writer on a topic a later test's node reads), every process group the harness started in it
and still running is SIGKILLed and waited for (an error when the test had passed: it should have stopped its own),
then the graph is waited clear of the nodes the test added, whether or not it left a process (one still there after
15 s is an error: it would answer for the next test's node).

The tier runs on pytest-xdist workers (``scripts/ros2_tier.sh``, ``MONO_DEPTH_ROS2_WORKERS``), a module each at a
time; each worker is a session of its own, in its own ROS domain (:func:`pytest_configure`), so all of the above holds
per worker.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest


def unavailable_reason() -> str:
    """Why the tier cannot run in this interpreter (empty: it can)."""
    if importlib.util.find_spec("rclpy") is None:
        return "real-ROS tier: needs ROS 2 sourced (run `make ros2-test`)"
    if not os.environ.get("MONO_DEPTH_ROS2_WS"):
        return "real-ROS tier: run it through scripts/ros2_tier.sh (`make ros2-test`)"
    return ""


UNAVAILABLE = unavailable_reason()


class Unavailable(pytest.File):
    """A tier module where ROS 2 is not at hand: skipped with :data:`UNAVAILABLE`, never imported."""

    def collect(self) -> Iterator[pytest.Item]:
        pytest.skip(UNAVAILABLE)
        yield from ()


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Each test module of the tier, skipped with the reason where ROS 2 is not at hand (else pytest's module)."""
    return Unavailable.from_parent(parent, path=module_path) if UNAVAILABLE else None


if not UNAVAILABLE:
    import rclpy

    from test.kitti_bag import KittiFrame, load_kitti_frames

    from . import harness
    from .harness import Probe

_previous_test = ["(none)"]

# the tier's ROS_DOMAIN_ID as given, kept for the worker hook below (in the environment: the controller's value reaches
# the workers, and a second pytest_configure in one process shifts nothing twice)
_DOMAIN_BASE = "MONO_DEPTH_ROS2_DOMAIN_BASE"


def pytest_configure(config: pytest.Config) -> None:
    """A pytest-xdist worker (``scripts/ros2_tier.sh``: ``MONO_DEPTH_ROS2_WORKERS``, 2 by default) runs in its own ROS
    domain, ROS_DOMAIN_ID + its index (:func:`domains.worker_domain_id`), set before any fixture can ``rclpy.init`` or
    launch: the workers' nodes, topics and /diagnostics never meet. A serial run stays in ROS_DOMAIN_ID."""
    if UNAVAILABLE:
        return
    from .domains import worker_domain_id

    base = os.environ.setdefault(_DOMAIN_BASE, os.environ.get("ROS_DOMAIN_ID", ""))
    try:
        domain = worker_domain_id(base, os.environ.get("PYTEST_XDIST_WORKER"))
    except ValueError as error:
        raise pytest.UsageError(f"real-ROS tier: {error}") from None
    if domain is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Keep each phase's report on the item (``item.rep_setup`` / ``rep_call``) for :func:`contained`."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


_session_probe: list[Probe] = []


@pytest.fixture(scope="module", autouse=True)
def contained_module() -> Iterator[None]:
    """Process groups started by a module-scoped fixture (a node shared by the module's tests) and still running at
    the module's end are killed, so that they cannot answer for the next module's node; the probe's publishers,
    collectors, clients, services and timers made in the module and not destroyed (a module-scoped fixture's) are
    destroyed, so that they neither take the next modules' messages nor publish beside their tests' publishers;
    then the graph is waited clear of the nodes the module added (:func:`harness.module_leftovers`: one still there
    after 15 s is an error, as after a test)."""
    index = harness.started_count()
    held = _session_probe[0].held() if _session_probe else []
    known = harness.graph_nodes(_session_probe[0]) if _session_probe else None
    yield
    if _session_probe:
        _session_probe[0].drop_since(held)
    left = harness.reap_since(index)
    if left:
        warnings.warn(f"killed what the module left running: {'; '.join(left)}", stacklevel=1)
    problems = harness.module_leftovers(_session_probe[0] if _session_probe else None, known)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(autouse=True)
def contained(request: pytest.FixtureRequest) -> Iterator[None]:
    """One test's failure or hang stays in that test: a probe that hears nothing is revived before the next test, and
    the process groups a test started (``ros2 launch``, ``ros2 run``, ``ros2 bag``) are gone after it."""
    probe: Probe | None = request.getfixturevalue("probe") if "probe" in request.fixturenames else None
    if probe is not None and not probe.hears():
        probe.revive()
        warnings.warn(
            f"the probe heard nothing after {_previous_test[0]} (callback errors: {probe.errors[-3:]}): revived",
            stacklevel=1,
        )
        if not probe.hears(10.0):
            pytest.fail(f"the probe hears nothing since {_previous_test[0]}, even with a new executor")
    # a test without the probe is watched through the session's once there is one: its nodes answer for later tests'
    watcher = probe if probe is not None else (_session_probe[0] if _session_probe else None)
    index = harness.started_count()
    known = harness.graph_nodes(watcher) if watcher is not None else set()
    held = watcher.held() if watcher is not None else None
    yield
    _previous_test[0] = request.node.nodeid
    report = getattr(request.node, "rep_call", None)
    passed = report is not None and report.passed
    problems = harness.contain_teardown(index, watcher, known, passed, 15.0, held)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(scope="session")
def ros_context() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="session")
def probe(ros_context: None) -> Iterator[Probe]:
    node = Probe()
    _session_probe.append(node)
    yield node
    _session_probe.clear()
    node.close()


@pytest.fixture(scope="session")
def kitti_frames(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)


@pytest.fixture(scope="session")
def ros_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for launch logs (kept in pytest's temporary directory)."""
    return tmp_path_factory.mktemp("ros2_logs")
