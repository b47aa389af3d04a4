"""Why a frame is missing from TF although a like-named one is there: namespaces, a missing optical frame, typos.

The lookup camera <- LiDAR fails with "frame does not exist" for reasons a user can fix once named:

* the frames are namespaced (two robots' TF trees, a ``tf_prefix``, a launch file's namespace): the cloud says
  ``velodyne`` and TF holds ``robot1/velodyne``, or the other way round;
* the image is stamped in the optical frame (``camera_optical_frame``: z forward, x right, y down, REP 103) but TF
  has only the camera's body frame (``camera_link``): the optical frame was never published;
* a plain misspelling.
"""

from __future__ import annotations

from collections.abc import Iterable

from mono_depth_ros.core.names import nearest_names

_OPTICAL_SUFFIXES = ("_optical_frame", "_optical")
_BODY_SUFFIXES = ("_link", "_frame", "")
OPTICAL_FROM_BODY_ARGS = "--roll -1.5708 --yaw -1.5708"
"""static_transform_publisher's rotation of an optical frame (child) from its body frame (parent)."""


def _basename(frame: str) -> str:
    return frame.rsplit("/", 1)[-1]


def missing_frame_hint(frame: str, known: Iterable[str]) -> str:
    """A sentence on why ``frame`` is not among the ``known`` TF frames and what to do ("" when no like-named frame
    is known). ``frame`` and ``known`` are normalised ids (no leading '/')."""
    known = set(known)
    if not frame or frame in known:
        return ""
    namesakes = sorted(k for k in known if k != frame and _basename(k) == _basename(frame))
    if namesakes:
        listed = ", ".join(repr(k) for k in namesakes[:3])
        return (
            f"TF has {listed} with the same name in another namespace: the camera's and the LiDAR's frames must be in "
            f"one TF tree (one robot's namespace); set the driver's frame_id to the frame TF has (or publish TF "
            f"with the prefix the messages carry)"
        )
    base = _basename(frame)
    for suffix in _OPTICAL_SUFFIXES:
        if base.endswith(suffix):
            stem = frame[: len(frame) - len(suffix)]
            bodies = [stem + body for body in _BODY_SUFFIXES if stem + body in known]
            if bodies:
                return (
                    f"the optical frame {frame!r} is not in TF, its body frame {bodies[0]!r} is: publish it, e.g. "
                    f"ros2 run tf2_ros static_transform_publisher {OPTICAL_FROM_BODY_ARGS} --frame-id {bodies[0]} "
                    f"--child-frame-id {frame}"
                )
    close = nearest_names(frame, known)
    return f"did you mean {', '.join(repr(c) for c in close)}?" if close else ""
