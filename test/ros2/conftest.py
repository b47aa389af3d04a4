"""Fixtures of the real-ROS 2 tier (``make ros2-test``, ``scripts/ros2_tier.sh``).

These tests need a real ROS 2 (rclpy, ``ros2 launch``) and this package colcon-built into a sourced workspace;
``scripts/ros2_tier.sh`` provides both. Elsewhere (the project's .venv) the whole folder is skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="real-ROS tier: needs ROS 2 sourced (run `make ros2-test`)")
if not os.environ.get("MONO_DEPTH_ROS2_WS"):
    pytest.skip("real-ROS tier: run it through scripts/ros2_tier.sh (`make ros2-test`)", allow_module_level=True)

import rclpy

from test.kitti_bag import KittiFrame, load_kitti_frames

from .harness import Probe


@pytest.fixture(scope="session")
def ros_context() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="session")
def probe(ros_context: None) -> Iterator[Probe]:
    node = Probe()
    yield node
    node.close()


@pytest.fixture(scope="session")
def kitti_frames(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)


@pytest.fixture(scope="session")
def ros_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for launch logs (kept in pytest's temporary directory)."""
    return tmp_path_factory.mktemp("ros2_logs")
