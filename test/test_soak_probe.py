"""The live soak's leak finder (``test/ros2/soak_probe/sitecustomize.py`` in the node's process, and
``test.ros2.soak_live.grown_containers``), ROS-free: which containers it sees, and which growth it reports."""

from __future__ import annotations

import importlib.util
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from test.ros2.soak_live import grown_containers

PROBE = Path(__file__).parent / "ros2" / "soak_probe" / "sitecustomize.py"


def probe_module() -> ModuleType:
    """The probe loaded under another name (as ``sitecustomize`` it would start its thread in a soak only)."""
    spec = importlib.util.spec_from_file_location("soak_probe_under_test", PROBE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Foreign:
    """An object of another library (a logger, a message): its containers are not the node's, not entered."""

    __module__ = "somewhere.else"

    def __init__(self) -> None:
        self.items = [1, 2, 3]


class Part:
    """A stand-in for one of the node's parts (the probe enters objects of the package's modules)."""

    __module__ = "mono_depth_ros.adapters.fake"

    def __init__(self) -> None:
        self.by_stamp: dict[int, int] = {}
        self.window: deque[int] = deque(maxlen=150)
        self.image = np.zeros((3, 3))  # an array: no container, not entered
        self.logger = Foreign()


class Node:
    __module__ = "mono_depth_ros.node"

    def __init__(self) -> None:
        self.part = Part()
        self.parts: list[Any] = [Part()]
        self.foreign = deque([1, 2, 3])  # a plain deque is measured


def test_the_probe_names_each_container_by_its_path_and_marks_bounded_deques() -> None:
    sizes = probe_module().sizes
    node = Node()
    for stamp in range(10):
        node.part.by_stamp[stamp] = stamp
        node.part.window.append(stamp)
    found = sizes(node)
    assert found["node.part.by_stamp"] == 10
    assert found["node.part.window (maxlen 150)"] == 10
    assert found["node.parts"] == 1
    assert found["node.parts[0].by_stamp"] == 0
    assert found["node.foreign"] == 3
    assert set(found) == {  # neither the array nor the other library's object (node.part.logger.items) is entered
        "node.part.by_stamp", "node.part.window (maxlen 150)", "node.parts", "node.parts[0].by_stamp",
        "node.parts[0].window (maxlen 150)", "node.foreign",
    }, found  # fmt: skip


def test_a_container_that_grows_with_the_frames_is_reported_and_a_bounded_one_is_not() -> None:
    sizes = probe_module().sizes
    node = Node()
    samples = []
    for frames in (100, 200):
        for stamp in range(frames):
            node.part.by_stamp[stamp] = stamp
            node.part.window.append(stamp)
        samples.append(sizes(node))
    grown = grown_containers(*samples)
    assert [path for _, path in grown] == ["node.part.by_stamp"]
    assert grown[0][0] == 100
    assert grown_containers(samples[1], samples[1]) == []
