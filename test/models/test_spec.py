"""ModelSpec and its input policy: sizes are bounded before anything is allocated."""

from __future__ import annotations

import pytest

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.spec import InputPolicy


@pytest.mark.parametrize("sides", [{"height": 100_000, "width": 100_000}, {"height": 0}, {"max_long_side": 10**6}])
def test_a_spec_declaring_an_absurd_input_is_refused_before_allocating(sides: dict[str, int]) -> None:
    with pytest.raises(CheckpointError, match=r"must be in 1\.\.8192 pixels"):
        InputPolicy(**sides)
