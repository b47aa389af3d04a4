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
