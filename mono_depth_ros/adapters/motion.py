"""The camera pose at each image stamp for the temporal filter, from TF, for the node and the bag runner alike.

``temporal.fixed_frame`` (e.g. ``odom``) ← the image's optical frame at the image stamp. When TF has no transform
at that stamp (TF lags behind the camera, or a message was lost), the pose is extrapolated at constant velocity from
the last two poses looked up for that camera, at most ``temporal.max_extrapolation_s`` beyond the newer one;
otherwise there is no pose and the pipeline passes the frame through unfiltered (and counts it). With a ``newest``
query (tf2 in the node), the two poses are TF's newest one and the one :data:`VELOCITY_BASE_NS` before it when they
are newer than those looked up: TF that lags behind *every* image (odometry published after the camera's stamp)
never gave a pose at an image stamp, so there was nothing to extrapolate from and the filter never ran. A frame
stamped more than 1 s before the poses kept (time went back: ``ros2 bag play --loop``) forgets them: newer than
anything TF holds in the new pass, they kept TF's newest poses out, and no frame of a later pass had a pose.
:meth:`CameraPoses.extrapolate` is the one rule: the ground-plane prior's pose from ``scale.ground_frame``
(:mod:`~mono_depth_ros.adapters.ground_tf`) is extrapolated by it too, within the same bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import NS_PER_S, MessageFactory, stamp_to_ns, time_from_ns
from mono_depth_ros.core.ros_msgs import rigid_transform_from_msg
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold
from mono_depth_ros.depth_config import TemporalConfig

PoseLookup = Callable[[str, str, int], RigidTransform]
"""``lookup(fixed_frame, camera_frame, stamp_ns)`` → ``fixed_from_camera``; raises when TF cannot answer."""
NewestStamp = Callable[[str, str], int]
"""``newest(fixed_frame, camera_frame)`` → the newest stamp (int ns) TF can answer for; raises when it cannot."""
VELOCITY_BASE_NS = 50_000_000  # the older of TF's two newest poses, this long before the newest: the velocity's base


class CameraPoses:
    """Camera poses in ``temporal.fixed_frame`` at image stamps (None: unknown).

    Args:
        config: the ``temporal.*`` slice (fixed frame, extrapolation limit).
        lookup: the TF query (:data:`PoseLookup`): tf2's buffer in the node, the bag's TF buffer offline.
        errors: the exceptions that mean "TF cannot answer" (tf2's ``TransformException`` in the node; a
            :class:`~mono_depth_ros.core.errors.DepthError` always does).
    """

    def __init__(
        self,
        config: TemporalConfig,
        lookup: PoseLookup,
        errors: tuple[type[BaseException], ...] = (),
        newest: NewestStamp | None = None,
    ) -> None:
        self._fixed_frame = config.fixed_frame
        self._max_extrapolation_ns = round(config.max_extrapolation_s * NS_PER_S)
        self._lookup = lookup
        self._newest = newest
        self._errors: tuple[type[BaseException], ...] = (DepthError, *errors)
        self._history: dict[str, list[tuple[int, RigidTransform]]] = {}  # camera frame -> last two (stamp, pose)
        self.extrapolated = 0  # frames whose pose came from constant-velocity extrapolation

    def pose(self, camera_frame: str, stamp_ns: int) -> RigidTransform | None:
        """``fixed_from_camera`` at ``stamp_ns`` (int ns), extrapolated when TF lags, else None."""
        try:
            found = self._lookup(self._fixed_frame, camera_frame, stamp_ns)
        except self._errors:
            extrapolated = self.extrapolate(camera_frame, stamp_ns)
            return None if extrapolated is None else extrapolated[0]
        self.record(camera_frame, stamp_ns, found)
        return found

    def record(self, camera_frame: str, stamp_ns: int, found: RigidTransform) -> None:
        """Keep ``found``, TF's answer at ``stamp_ns`` (int ns), as the newer of the camera's two poses (the older:
        the last one kept before ``stamp_ns``; after time went back, none)."""
        self._forget_older_pass(camera_frame, stamp_ns)
        history = [*self._history.get(camera_frame, []), (int(stamp_ns), found)]
        self._history[camera_frame] = [sample for sample in history if sample[0] < stamp_ns][-1:] + history[-1:]

    def extrapolate(self, camera_frame: str, stamp_ns: int) -> tuple[RigidTransform, int] | None:
        """The pose at ``stamp_ns`` (int ns) where TF cannot answer there, at constant velocity from the camera's two
        poses (TF's two newest, where newer: :meth:`_take_newest`), and the stamp of the newer one (int ns); None when
        there are not two, or ``stamp_ns`` is not after the newer one by at most ``max_extrapolation_s``. The one rule
        (the temporal filter's poses and the ground-plane prior's, :mod:`~mono_depth_ros.adapters.ground_tf`)."""
        self._forget_older_pass(camera_frame, stamp_ns)
        self._take_newest(camera_frame)
        history = self._history.get(camera_frame, [])
        if len(history) < 2:
            return None
        (older_ns, older), (newer_ns, newer) = history
        if not 0 < stamp_ns - newer_ns <= self._max_extrapolation_ns or newer_ns <= older_ns:
            return None
        self.extrapolated += 1
        return older.interpolate(newer, (stamp_ns - older_ns) / (newer_ns - older_ns)), newer_ns

    def _forget_older_pass(self, camera_frame: str, stamp_ns: int) -> None:
        """Forget the camera's poses when ``stamp_ns`` is more than 1 s before them (time went back)."""
        history = self._history.get(camera_frame)
        if history and history[-1][0] - TIME_JUMP_BACK_NS > stamp_ns:  # time went back (a looped bag): poses of the
            del self._history[camera_frame]  # pass before, which TF's newest (this pass's) would never replace

    def _take_newest(self, camera_frame: str) -> None:
        """TF's two newest poses of the camera as its history, when they are newer than the history's."""
        if self._newest is None:
            return
        history = self._history.get(camera_frame, [])
        try:
            newest_ns = self._newest(self._fixed_frame, camera_frame)
            if history and newest_ns <= history[-1][0]:
                return
            older_ns = newest_ns - VELOCITY_BASE_NS
            taken = [(t, self._lookup(self._fixed_frame, camera_frame, t)) for t in (older_ns, newest_ns)]
        except self._errors:
            return
        self._history[camera_frame] = taken


def no_pose_text(camera_frame: str, fixed_frame: str, stamp_ns: int) -> str:
    """Why a frame went through the temporal filter unfiltered (no pose at ``stamp_ns``, int ns), with the remedy:
    the node's warning and the bag runner's (``temporal: no camera pose``) alike."""
    seconds, nanoseconds = divmod(int(stamp_ns), NS_PER_S)  # exact: a float cannot hold 19 digits
    return (
        f"no TF from {camera_frame!r} to temporal.fixed_frame {fixed_frame!r} at {seconds}.{nanoseconds:09d} s: "
        "frame published unfiltered (counted in temporal_no_motion_frames); publish (in a bag: record) /tf with the "
        "odometry, or set temporal.fixed_frame"
    )


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

    def newest(fixed_frame: str, camera_frame: str) -> int:  # tf2: time 0 is the newest common stamp of the chain
        return stamp_to_ns(tf_buffer.lookup_transform(fixed_frame, camera_frame, time_from_ns(factory, 0)).header.stamp)

    return CameraPoses(config, lookup, errors, newest)
