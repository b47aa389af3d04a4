"""The camera pose at each image stamp for the temporal filter, from TF, for the node and the bag runner alike.

``temporal.fixed_frame`` (e.g. ``odom``) ← the image's optical frame at the image stamp. When TF has no transform
at that stamp (TF lags behind the camera, or a message was lost), the pose is extrapolated at constant velocity from
the last two poses looked up for that camera, at most ``temporal.max_extrapolation_s`` beyond the newer one;
otherwise there is no pose and the pipeline passes the frame through unfiltered (and counts it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import NS_PER_S, MessageFactory, time_from_ns
from mono_depth_ros.core.ros_msgs import rigid_transform_from_msg
from mono_depth_ros.depth_config import TemporalConfig

PoseLookup = Callable[[str, str, int], RigidTransform]
"""``lookup(fixed_frame, camera_frame, stamp_ns)`` → ``fixed_from_camera``; raises when TF cannot answer."""


class CameraPoses:
    """Camera poses in ``temporal.fixed_frame`` at image stamps (None: unknown).

    Args:
        config: the ``temporal.*`` slice (fixed frame, extrapolation limit).
        lookup: the TF query (:data:`PoseLookup`): tf2's buffer in the node, the bag's TF buffer offline.
        errors: the exceptions that mean "TF cannot answer" (tf2's ``TransformException`` in the node; a
            :class:`~mono_depth_ros.core.errors.DepthError` always does).
    """

    def __init__(
        self, config: TemporalConfig, lookup: PoseLookup, errors: tuple[type[BaseException], ...] = ()
    ) -> None:
        self._fixed_frame = config.fixed_frame
        self._max_extrapolation_ns = round(config.max_extrapolation_s * NS_PER_S)
        self._lookup = lookup
        self._errors: tuple[type[BaseException], ...] = (DepthError, *errors)
        self._history: dict[str, list[tuple[int, RigidTransform]]] = {}  # camera frame -> last two (stamp, pose)
        self.extrapolated = 0  # frames whose pose came from constant-velocity extrapolation

    def pose(self, camera_frame: str, stamp_ns: int) -> RigidTransform | None:
        """``fixed_from_camera`` at ``stamp_ns`` (int ns), extrapolated when TF lags, else None."""
        try:
            found = self._lookup(self._fixed_frame, camera_frame, stamp_ns)
        except self._errors:
            return self._extrapolate(camera_frame, stamp_ns)
        history = [*self._history.get(camera_frame, []), (int(stamp_ns), found)]
        self._history[camera_frame] = [sample for sample in history if sample[0] < stamp_ns][-1:] + history[-1:]
        return found

    def _extrapolate(self, camera_frame: str, stamp_ns: int) -> RigidTransform | None:
        history = self._history.get(camera_frame, [])
        if len(history) < 2:
            return None
        (older_ns, older), (newer_ns, newer) = history
        if not 0 < stamp_ns - newer_ns <= self._max_extrapolation_ns or newer_ns <= older_ns:
            return None
        self.extrapolated += 1
        return older.interpolate(newer, (stamp_ns - older_ns) / (newer_ns - older_ns))


def tf2_camera_poses(
    config: TemporalConfig, tf_buffer: Any, factory: MessageFactory, errors: tuple[type[BaseException], ...]
) -> CameraPoses | None:
    """:class:`CameraPoses` over a ``tf2_ros.Buffer`` (the node; never waits: timeout zero), None when the filter is
    off. ``errors``: tf2's ``TransformException``."""
    if not config.enabled:
        return None

    def lookup(fixed_frame: str, camera_frame: str, stamp_ns: int) -> RigidTransform:
        stamped = tf_buffer.lookup_transform(fixed_frame, camera_frame, time_from_ns(factory, stamp_ns))
        return rigid_transform_from_msg(stamped)

    return CameraPoses(config, lookup, errors)
