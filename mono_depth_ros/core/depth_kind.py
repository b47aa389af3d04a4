"""What a depth map means: the output kinds every model declares and scale recovery dispatches on.

============================  =====================================================  ===========================
kind                          values                                                 made metric by
============================  =====================================================  ===========================
``metric``                    depth along the optical axis in metres                 nothing (optionally a
                                                                                     LiDAR scale correction)
``depth_up_to_scale``         depth × an unknown s > 0 (self-supervised monocular)   a scale fit (LiDAR, ground)
``relative_inverse``          a / depth + b with unknown a > 0, b (MiDaS, Depth      a scale and shift fit in
                              Anything): larger = nearer                             inverse depth
============================  =====================================================  ===========================
"""

from __future__ import annotations

from enum import Enum

from mono_depth_ros.core.errors import CheckpointError


class OutputKind(str, Enum):
    """What a depth model's output means; scale recovery dispatches on it."""

    METRIC = "metric"
    DEPTH_UP_TO_SCALE = "depth_up_to_scale"
    RELATIVE_INVERSE = "relative_inverse"

    @classmethod
    def parse(cls, value: str) -> OutputKind:
        """Parse a string, raising :class:`CheckpointError` that lists the valid kinds."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(k.value for k in cls)
            msg = f"unknown output kind {value!r}; expected one of {valid}"
            raise CheckpointError(msg) from None
