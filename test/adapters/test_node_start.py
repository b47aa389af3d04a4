"""adapters.node_start: a constructor that raises destroys its node first, and its error goes on unchanged."""

from __future__ import annotations

import pytest

from mono_depth_ros.adapters.node_start import destroyed_on_failure
from mono_depth_ros.core.errors import ConfigError


class Node:
    def __init__(self, fails: bool = False) -> None:
        self.destroyed, self.fails = 0, fails

    def destroy_node(self) -> None:
        self.destroyed += 1
        if self.fails:
            raise RuntimeError("handle already gone")


def test_an_error_destroys_the_node_once_and_propagates_as_it_was() -> None:
    node, error = Node(), ConfigError("parameter output.max_range=-5.0 ...")
    with pytest.raises(ConfigError) as raised, destroyed_on_failure(node):
        raise error
    assert raised.value is error and node.destroyed == 1 and not getattr(error, "__notes__", [])


def test_an_interrupt_during_the_start_destroys_the_node_too() -> None:
    node = Node()
    with pytest.raises(KeyboardInterrupt), destroyed_on_failure(node):
        raise KeyboardInterrupt
    assert node.destroyed == 1


def test_a_destroy_that_fails_is_a_note_on_the_start_up_error_not_its_replacement() -> None:
    node = Node(fails=True)
    with pytest.raises(ConfigError, match="bad value") as raised, destroyed_on_failure(node):
        raise ConfigError("bad value")
    assert raised.value.__notes__ == [
        "(destroying the node that could not start failed too: RuntimeError: handle already gone)"
    ]


def test_a_start_that_succeeds_leaves_the_node_alone() -> None:
    node = Node()
    with destroyed_on_failure(node):
        pass
    assert node.destroyed == 0


class NoAddNote(ConfigError):
    """An exception as on Python 3.10 (Humble's on Ubuntu 22.04; the package supports 3.10): no ``add_note``."""

    def __getattribute__(self, name: str) -> object:
        if name == "add_note":
            raise AttributeError(f"'{type(self).__name__}' object has no attribute 'add_note'")
        return super().__getattribute__(name)


def test_a_destroy_that_fails_on_python_3_10_leaves_the_start_up_error_as_it_was() -> None:
    """``BaseException.add_note`` is Python 3.11+: on 3.10 calling it raised AttributeError from the cleanup, which
    replaced the start-up error (the one naming the bad value and its remedy); run with python3.10 it printed
    "AttributeError: 'ConfigError' object has no attribute 'add_note'". The note goes into ``__notes__`` there."""
    node, error = Node(fails=True), NoAddNote("bad value")
    with pytest.raises(ConfigError, match="bad value") as raised, destroyed_on_failure(node):
        raise error
    assert raised.value is error and node.destroyed == 1
    note = "(destroying the node that could not start failed too: RuntimeError: handle already gone)"
    assert error.__notes__ == [note]
