"""A static transform whose angles are degrees read as radians: ``--roll -90 --yaw -90`` for ``-1.5708``.

``static_transform_publisher`` takes radians. Given ``--roll -90 --yaw -90`` (the optical frame in degrees) it
publishes a roll and yaw of -90 rad, that is -2.0354 rad (-116.6°) each: a rotation nobody means, which projects
LiDAR points plausibly enough that nothing else flags it. Its fingerprint is exact: every non-zero roll, pitch and yaw
equals a round number of degrees (a multiple of 15, from 15 to 360) wrapped as radians into (-π, π], to 1e-4 rad
(a measured angle matches by chance with a probability of about 0.1 % per angle).
"""

from __future__ import annotations

import math

import transforms3d.euler as te

from mono_depth_ros.core.geometry import RigidTransform

ROUND_DEGREES = tuple(d for d in range(-360, 361, 15) if d != 0)
"""Numbers a user writes for an angle in degrees."""
_TOLERANCE_RAD = 1e-4


def _wrap(angle: float) -> float:
    """``angle`` in (-π, π]."""
    return float(math.atan2(math.sin(angle), math.cos(angle)))


def _as_degrees_read_as_radians(angle: float) -> int | None:
    """The round number of degrees that, read as radians, gives ``angle`` (None: none does)."""
    for degrees in ROUND_DEGREES:
        if abs(_wrap(degrees - angle)) < _TOLERANCE_RAD and abs(_wrap(math.radians(degrees) - angle)) > 1e-3:
            return degrees
    return None


def degrees_read_as_radians(parent_from_child: RigidTransform) -> str:
    """Why ``parent_from_child`` (a static TF edge) looks like angles given in degrees, with the radians meant; ""
    when it does not (its rotation has no non-zero angle, or one that no round number of degrees explains).

    Both roll-pitch-yaw solutions of the rotation (tf2's fixed-axis x-y-z, as static_transform_publisher sets it)
    are tried: a pitch given as ±90 or more comes back as the other solution.
    """
    roll, pitch, yaw = te.mat2euler(parent_from_child.rotation, "sxyz")
    for angles in ((roll, pitch, yaw), (roll + math.pi, math.pi - pitch, yaw + math.pi)):
        wrapped = [_wrap(a) for a in angles]
        given = [0 if abs(a) < _TOLERANCE_RAD else _as_degrees_read_as_radians(a) for a in wrapped]
        if any(g is None for g in given) or not any(given):
            continue
        names = ("roll", "pitch", "yaw")
        published = " ".join(f"--{n} {a:.4f}" for n, a, g in zip(names, wrapped, given, strict=True) if g)
        meant = " ".join(f"--{n} {math.radians(g):.4f}" for n, g in zip(names, given, strict=True) if g)
        typed = ", ".join(f"{n} {g}" for n, g in zip(names, given, strict=True) if g)
        return (
            f"the static transform {parent_from_child.dst_frame} <- {parent_from_child.src_frame} has {published} "
            f"rad: {typed} given in degrees and read as radians (static_transform_publisher takes radians); "
            f"publish {meant} (or --qx --qy --qz --qw)"
        )
    return ""
