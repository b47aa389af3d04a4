"""What a depth map means: the output kinds every model declares and scale recovery dispatches on.

============================  =====================================================  ===========================
kind                          values                                                 made metric by
============================  =====================================================  ===========================
``metric``                    depth along the optical axis in metres                 nothing (optionally a
                                                                                     LiDAR scale correction)
``depth_up_to_scale``         depth × an unknown s > 0 (self-supervised monocular)   a scale fit (LiDAR, ground)
``relative_inverse``          a / depth + b with unknown a > 0, b (MiDaS, Depth      a scale and shift fit in
                              Anything): larger = nearer                             inverse depth
``affine_depth``              (depth - b) / a with unknown a > 0, b (Marigold,       a scale and shift fit in
                              Prompt Depth Anything without its prompt): larger =    depth (LiDAR, the ground
                              farther, any finite value (0 or below: the nearest)    plane's prior normal)
``metric_focal``              depth × D / f, f the focal length in pixels of the     the model runner (× f / D
                              network input, D the spec's ``metric_focal_divisor``   with f from camera_info),
                              (300: Depth Anything 3 metric; 1000: Metric3D): a raw  before anything else
                              model output only, never handed to scale recovery
``canonical_inverse``         f / (w · depth), f the focal length in pixels of the   the model runner (1 / clamp(
                              network input along its width w (Depth Pro): a raw     v · w / f, 1e-4, 1e4), f
                              model output only, never handed to scale recovery      from camera_info, else the
                                                                                     graph's focal output)
============================  =====================================================  ===========================

What a producer (a network's raw map, an external prediction) marks with each value, per kind (the one rule:
:attr:`OutputKind.infinity_is_invalid`; ``core.model_output.producer_marks`` applies it on the external road, the model
runner before its sky mark):

=======================  ==============================  ===========================  ===============================
kind                     +Inf                            -Inf                         finite <= 0; NaN
=======================  ==============================  ===========================  ===============================
``metric``,              beyond range (REP 117): far,    too close (REP 117): no      no depth (0: a 16UC1 map's no
``depth_up_to_scale``,   a clearing ray                  point, never a ray           data); no depth
``metric_focal``
``affine_depth``         farther than any depth: far     nearer than any: too close   a prediction; no depth
``relative_inverse``     1/0, a depth of 0 m: no depth   no depth (NaN)               a prediction (the fit maps
                         (NaN), never the sky                                         inverse <= 0, the sky, far);
                                                                                      no depth
``canonical_inverse``    no depth (NaN)                  no depth (NaN)               1e4 m (Apple's clamp); no depth
=======================  ==============================  ===========================  ===============================

A prediction inside the pipeline then holds +Inf only as "far": a depth kind's or ``affine_depth``'s beyond range, or
the model runner's sky mark (a spec's ``sky_output``), made for every kind after the rule.
"""

from __future__ import annotations

from enum import Enum

from mono_depth_ros.core.errors import CheckpointError


class OutputKind(str, Enum):
    """What a depth model's output means; scale recovery dispatches on it."""

    METRIC = "metric"
    DEPTH_UP_TO_SCALE = "depth_up_to_scale"
    RELATIVE_INVERSE = "relative_inverse"
    METRIC_FOCAL = "metric_focal"
    AFFINE_DEPTH = "affine_depth"
    CANONICAL_INVERSE = "canonical_inverse"

    @property
    def has_shift(self) -> bool:
        """Whether the output is known up to a scale *and* a shift, re-normalised every frame (``relative_inverse``,
        ``affine_depth``): any finite value is a prediction (none is invalid for being <= 0), and scale recovery
        fits a scale and shift per frame."""
        return self in (OutputKind.RELATIVE_INVERSE, OutputKind.AFFINE_DEPTH)

    @property
    def infinity_is_invalid(self) -> bool:
        """Whether +/-Inf in a producer's map of this kind is no measurement (read as NaN) rather than REP 117's
        beyond range / too close: the inverse kinds (``relative_inverse``, ``canonical_inverse``), where +Inf is 1/0,
        a depth of 0 m at the lens (what a node computing 1/depth writes where it has no depth), never the sky, whose
        inverse depth is 0 (up to a shift: what the fit maps at or past 0). The one rule of what a producer's marks
        mean (see the module's table); the model runner's own sky mark, +Inf for every kind, is made after it."""
        return self in (OutputKind.RELATIVE_INVERSE, OutputKind.CANONICAL_INVERSE)

    @property
    def needs_focal(self) -> bool:
        """Whether the raw output becomes metres only with a focal length, which the model runner applies before
        anything else (``metric_focal``; ``canonical_inverse``, whose focal may also come from the graph)."""
        return self in (OutputKind.METRIC_FOCAL, OutputKind.CANONICAL_INVERSE)

    @classmethod
    def parse(cls, value: str) -> OutputKind:
        """Parse a string, raising :class:`CheckpointError` that lists the valid kinds."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(k.value for k in cls)
            msg = f"unknown output kind {value!r}; expected one of {valid}"
            raise CheckpointError(msg) from None


SCALE_KINDS: tuple[OutputKind, ...] = (
    OutputKind.METRIC,
    OutputKind.DEPTH_UP_TO_SCALE,
    OutputKind.RELATIVE_INVERSE,
    OutputKind.AFFINE_DEPTH,
)
"""The kinds a depth map handed to scale recovery (and everything after it) may have; ``metric_focal`` and
``canonical_inverse`` are raw model outputs that the model runner turns into ``metric`` first."""
