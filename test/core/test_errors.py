"""core.errors: the hierarchy and first_line (the first line of a library's error for a one-line message)."""

from __future__ import annotations

import pytest

from mono_depth_ros.core.errors import CheckpointError, DepthError, first_line


def test_first_line_keeps_only_the_first_line_of_a_long_message() -> None:
    err = RuntimeError("  cannot export aten::foo\n  graph(%x : Float(1, 3)):\n    %1 = aten::foo(%x)\n")
    assert first_line(err) == "cannot export aten::foo"


@pytest.mark.parametrize("message", ["", "   \n  "])
def test_first_line_of_an_empty_message_is_the_errors_type(message: str) -> None:
    # torch.jit.load's message read as str(err).splitlines()[0] raised IndexError for an empty one
    assert first_line(ValueError(message)) == "ValueError"


def test_every_error_is_a_depth_error() -> None:
    assert issubclass(CheckpointError, DepthError)
    assert first_line(CheckpointError("spec m.onnx: malformed")) == "spec m.onnx: malformed"
