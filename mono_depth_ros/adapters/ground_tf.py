"""The camera above the ground for the ground-plane scale, from TF, for the node and the bag runner alike.

``scale.ground_frame`` (e.g. ``base_footprint``: on the ground, z up, REP 120 / REP 103) ← the image's optical frame at
the image stamp gives the ground-plane prior's height, pitch and roll
(:func:`~mono_depth_ros.core.scale.ground.ground_pose`), as a robot's URDF publishes them; empty: the parameters
``scale.camera_height_m`` and ``scale.camera_pitch_rad`` alone. Where TF cannot answer at an image's stamp (a joint's TF
that lags behind the image, or pauses) the pose is extrapolated from TF's two newest as the temporal filter's camera
poses are (:meth:`~mono_depth_ros.adapters.motion.CameraPoses.extrapolate`, up to ``temporal.max_extrapolation_s`` and
no further than :data:`LAG_NS`, the lag that is not reported: a tilt joint turning at 30°/s was held 0.6° behind at a
20 ms lag, 3° at 100 ms, 8-14 % of the scale a degree; one that stopped as its TF paused was extrapolated 15° past it,
-53 %, by the filter's 0.5 s); past that the camera frame's last pose from TF (the newest TF holds, where a ``newest``
query is given: the node's tf2) is held for up to :data:`HOLD_NS` (2 s) of image time, and each such frame is reported
(``ground_frame.held``, and its scale ``degraded``: :attr:`GroundPose.age_ns
<mono_depth_ros.core.scale.ground.GroundPose.age_ns>`) unless the pose is from at most :data:`LAG_NS` (0.2 s) before the
image (a TF steadily behind the images is a normal state, as for the temporal filter; it was a WARN in /diagnostics
forever): without the hold the prior switched to the parameters' for those frames, and the scale drifted 8 % towards
theirs over a 1 s pause on real KITTI frames. Past that, or where TF puts the camera at or below the ground frame (a
frame that is not on the ground), the frame's prior is the parameters' and the frame is reported (:data:`Report`: the
node counts it in ``inputs_unused.ground_frame.*`` and warns once per reason and camera frame; the bag runner counts it
in its summary's warnings), and its ground-plane scale is ``degraded`` (:meth:`GroundPoses.add_to`: the parameters are
not the camera's pose where ``scale.ground_frame`` is set; it was ``ok``). Where both are given (the parameters not at
their defaults) and they disagree by more than :data:`HEIGHT_TOLERANCE_M` and :data:`HEIGHT_TOLERANCE` in height or
:data:`PITCH_TOLERANCE_RAD` in pitch, TF's is used and the disagreement is reported once per camera frame and pair of
parameter values (a ``ros2 param set`` at run time is compared again), naming both values: one degree of pitch costs
8-14 % of the scale on KITTI, and a wrong prior still reports ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mono_depth_ros.adapters.motion import CameraPoses, NewestStamp, no_pose_text, tf2_camera_poses
from mono_depth_ros.config import PARAMS_BY_NAME
from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import NS_PER_S, MessageFactory, stamp_to_ns, time_from_ns
from mono_depth_ros.core.ros_msgs import rigid_transform_from_msg
from mono_depth_ros.core.scale.ground import POSE_CURRENT_NS, GroundPose, ground_pose
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold
from mono_depth_ros.depth_config import DepthConfig, ScaleConfig, TemporalConfig
from mono_depth_ros.pipeline import FrameInput

GroundLookup = Callable[[str, str, int], RigidTransform]
"""``lookup(ground_frame, camera_frame, stamp_ns)`` → ``ground_from_cam``; raises when TF cannot answer."""
Report = Callable[[str, str, str], None]
"""``report(reason, camera_frame, text)``: a frame whose prior is the parameters' (reason ``ground_frame.no_transform``
or ``ground_frame.not_above``; every such frame), one given the camera frame's last pose from TF because TF could not
answer at its stamp (``ground_frame.held``; every such frame), or TF and parameters that disagree
(``ground_frame.disagrees``, once per camera frame and pair of parameter values). The bag runner's summary of warnings
(counts each reason, logs its first text); the node's :func:`tf2_frame_poses` counts and logs once per reason and camera
frame (a disagreement: each report)."""
HEIGHT_TOLERANCE_M = 0.05  # TF and parameters disagree: heights apart by more than this and ...
HEIGHT_TOLERANCE = 0.05  # ... this share of TF's height (a 5 % height error: 4-6 % of the scale), or ...
PITCH_TOLERANCE_RAD = math.radians(1.0)  # ... pitches by more than this (1°: 8-14 % of the scale on KITTI)
HOLD_NS = 2_000_000_000  # a camera frame's last pose from TF stands in where TF cannot answer, this long (int ns)
LAG_NS = POSE_CURRENT_NS  # ... and up to this long (a 10 Hz joint state and its delivery) it is TF's answer, unreported


def _default(name: str) -> float:
    return float(PARAMS_BY_NAME[name].default)


def _fallback(scale: ScaleConfig) -> str:
    """What a frame without TF's pose uses: the parameters (named with their values)."""
    return (
        f"the ground-plane prior uses scale.camera_height_m={scale.camera_height_m:g} m and "
        f"scale.camera_pitch_rad={scale.camera_pitch_rad:g} until it does"
    )


class GroundPoses:
    """The ground-plane prior's :class:`~mono_depth_ros.core.scale.ground.GroundPose` from TF at image stamps.

    Args:
        ground_frame: ``scale.ground_frame``; empty: :meth:`pose` is always None (the parameters' prior).
        lookup: the TF query (:data:`GroundLookup`): tf2's buffer in the node, the bag's TF buffer offline.
        report: where unused frames and disagreements go (:data:`Report`).
        errors: the exceptions that mean "TF cannot answer" (tf2's ``TransformException`` in the node; a
            :class:`~mono_depth_ros.core.errors.DepthError` always does).
        newest: the newest stamp TF can answer for (:data:`~mono_depth_ros.adapters.motion.NewestStamp`; tf2's time
            0 in the node): where TF cannot answer at an image stamp, its newest pose is held when newer than the
            last one found at an image stamp (a TF that lags behind every image never answers at one). None (the
            bag runner, whose TF holds the whole bag): the last pose found at an image stamp alone.
        temporal: the temporal filter's slice (None: the defaults): where TF cannot answer at an image stamp the pose
            is extrapolated from TF's two newest poses as the filter's camera poses are
            (:meth:`~mono_depth_ros.adapters.motion.CameraPoses.extrapolate`), at most ``max_extrapolation_s`` and
            at most :data:`LAG_NS` beyond the newer one (a guess growing with the pause: a joint that stopped as its
            TF paused was 15° off at 0.5 s); past that TF's newest pose is held and reported (a joint on the move:
            not followed).
    """

    def __init__(
        self,
        ground_frame: str,
        lookup: GroundLookup,
        report: Report,
        errors: tuple[type[BaseException], ...] = (),
        newest: NewestStamp | None = None,
        temporal: TemporalConfig | None = None,
    ) -> None:
        self._frame = ground_frame
        temporal = DepthConfig.from_params({}).temporal if temporal is None else temporal
        bound_s = min(temporal.max_extrapolation_s, LAG_NS / NS_PER_S)  # no further than a pose is current
        self._asked: dict[tuple[str, str, int | None], int | RigidTransform] = {}  # this frame's TF answers
        self._lookup, self._newest = lookup, newest
        self._motion = CameraPoses(
            replace(temporal, fixed_frame=ground_frame, max_extrapolation_s=bound_s),
            self._asked_lookup,
            errors,
            None if newest is None else self._asked_newest,
        )
        self._report = report
        self._errors: tuple[type[BaseException], ...] = (DepthError, *errors)
        self._compared: dict[str, tuple[float, float]] = {}  # camera frame → the (height, pitch) last compared
        self._last: dict[str, tuple[int, GroundPose]] = {}  # camera frame → (stamp, int ns; pose) of TF's last answer
        self.unused = 0  # frames whose prior came from the parameters because TF could not give one
        self.held = 0  # frames given their camera frame's last pose from TF because TF could not answer at the stamp
        self.lagging = 0  # of those, the pose at most LAG_NS older than the image: a TF behind it, not reported

    def pose(self, camera_frame: str, stamp_ns: int, scale: ScaleConfig) -> GroundPose | None:
        """The camera above ``scale.ground_frame`` at ``stamp_ns`` (int ns); None: the parameters' prior.

        ``scale``: the parameters in force (compared with TF's pose). Where TF cannot answer, the camera frame's last
        pose from TF when it was found within :data:`HOLD_NS` of ``stamp_ns`` (either side); one found more than 1 s
        after ``stamp_ns`` (time went back: ``ros2 bag play --loop``) is forgotten, as the temporal filter's are.
        """
        return self._pose(camera_frame, stamp_ns, scale)[0]

    def add_to(self, frame: FrameInput, scale: ScaleConfig) -> FrameInput:
        """``frame`` with its ``ground_pose`` (:meth:`pose` at its stamp and camera frame); where
        ``scale.ground_frame`` is set and gave none, its ``ground_pose_missing`` says why (the TF missing, or
        putting the camera at or below the ground frame): the pipeline's ground-plane scale of that frame, from the
        parameters, is ``degraded`` (the node and the bag runner alike)."""
        pose, missing = self._pose(frame.frame_id, frame.stamp_ns, scale)
        return replace(frame, ground_pose=pose, ground_pose_missing=missing)

    def _pose(self, camera_frame: str, stamp_ns: int, scale: ScaleConfig) -> tuple[GroundPose | None, str]:
        """:meth:`pose`, and where ``scale.ground_frame`` is set and gave none, why (else empty)."""
        if not self._frame:
            return None, ""
        self._asked.clear()  # TF's answers are kept for one frame: its pose and the extrapolation ask the same
        last = self._last.get(camera_frame)
        if last is not None and last[0] - TIME_JUMP_BACK_NS > stamp_ns:  # time went back (a looped bag): the pose of
            del self._last[camera_frame]  # the pass before, newer than any TF of this pass, kept TF's newest out
        try:
            transform = self._lookup(self._frame, camera_frame, stamp_ns)
            found = ground_pose(transform)
        except self._errors as err:
            return self._held(camera_frame, stamp_ns, err, scale)
        if not found.height_m > 0:
            self.unused += 1
            missing = (
                f"TF puts camera {camera_frame} {found.height_m:.3f} m above scale.ground_frame={self._frame!r}, "
                "not above it"
            )
            text = f"{missing}: is that frame on the ground with z up (base_footprint, REP 120)? {_fallback(scale)}"
            self._report("ground_frame.not_above", camera_frame, text)
            return None, missing
        self._compare(found, camera_frame, scale)
        self._last[camera_frame] = (stamp_ns, found)
        self._motion.record(camera_frame, stamp_ns, transform)
        return found, ""

    def _held(
        self, camera_frame: str, stamp_ns: int, err: BaseException, scale: ScaleConfig
    ) -> tuple[GroundPose | None, str]:
        """The pose extrapolated from TF's two newest (:meth:`_extrapolated`), else the camera frame's last pose from
        TF, for a frame TF could not answer for, if recent (compared with the parameters as an answer is: a TF behind
        every image gives no other); else None (reported past :data:`LAG_NS`) and what is missing."""
        missing = f"no TF {self._frame} <- {camera_frame} for the camera's height above the ground at the image stamp"
        self._take_newest(camera_frame)
        extrapolated = self._extrapolated(camera_frame, stamp_ns, scale)  # a joint on the move, followed
        if extrapolated is not None:
            return extrapolated, ""
        last = self._last.get(camera_frame)
        age_ns = None if last is None else stamp_ns - last[0]
        if last is not None and age_ns is not None and abs(age_ns) <= HOLD_NS:
            self._compare(last[1], camera_frame, scale)
            if 0 <= age_ns <= LAG_NS:
                self.lagging += 1  # TF steadily behind the images: a normal state (not a warning in /diagnostics)
                return last[1]._replace(age_ns=age_ns), ""
            self.held += 1
            when = f"{age_ns / 1e9:.3f} s before" if age_ns >= 0 else f"{-age_ns / 1e9:.3f} s after the image"
            text = (
                f"{missing} ({err}); the ground-plane prior holds TF's pose from {when} "
                f"({last[1].height_m:.3f} m up, pitched {math.degrees(last[1].pitch_rad):+.2f}° down) for up to "
                f"{HOLD_NS / 1e9:g} s: does the camera's TF (a joint's state) lag behind its images or pause?"
            )
            self._report("ground_frame.held", camera_frame, text)
            return last[1]._replace(age_ns=age_ns), ""  # older than LAG_NS: the frame's scale is degraded
        self.unused += 1
        held = (
            "" if age_ns is None else f"; TF's last pose is {age_ns / 1e9:.3f} s older (held up to {HOLD_NS / 1e9:g} s)"
        )
        self._report("ground_frame.no_transform", camera_frame, f"{missing} ({err}){held}; {_fallback(scale)}")
        return None, f"{missing}{held}"

    def _extrapolated(self, camera_frame: str, stamp_ns: int, scale: ScaleConfig) -> GroundPose | None:
        """The pose at ``stamp_ns`` extrapolated from TF's two newest (on the ground; at most :data:`LAG_NS` after
        the newer one), counted in :attr:`lagging` and compared with the parameters; None: none."""
        extrapolated = self._motion.extrapolate(camera_frame, stamp_ns)
        if extrapolated is None:
            return None
        pose = ground_pose(extrapolated[0])._replace(age_ns=stamp_ns - extrapolated[1])
        if not pose.height_m > 0:
            return None
        self._compare(pose, camera_frame, scale)
        self.lagging += 1  # TF steadily behind the images: a normal state (not a warning in /diagnostics)
        return pose

    def _asked_lookup(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        """``lookup``, each answer kept for the frame (the extrapolation asks for TF's newest pose again: a lagging
        frame asked tf2 six times, now four)."""
        answer = self._asked.get((target, source, stamp_ns))
        if not isinstance(answer, RigidTransform):
            answer = self._asked[target, source, stamp_ns] = self._lookup(target, source, stamp_ns)
        return answer

    def _asked_newest(self, target: str, source: str) -> int:
        """``newest``, its answer kept for the frame (:meth:`_asked_lookup`)."""
        assert self._newest is not None  # given to the camera poses only with a newest query
        answer = self._asked.get((target, source, None))
        if not isinstance(answer, int):
            answer = self._asked[target, source, None] = self._newest(target, source)
        return answer

    def _take_newest(self, camera_frame: str) -> None:
        """TF's newest pose of the camera frame as its last, when newer than the last (and on the ground)."""
        if self._newest is None:
            return
        last = self._last.get(camera_frame)
        try:
            newest_ns = self._asked_newest(self._frame, camera_frame)
            if last is not None and newest_ns <= last[0]:
                return
            found = ground_pose(self._asked_lookup(self._frame, camera_frame, newest_ns))
        except self._errors:
            return
        if found.height_m > 0:
            self._last[camera_frame] = (newest_ns, found)

    def _compare(self, found: GroundPose, camera_frame: str, scale: ScaleConfig) -> None:
        """Report where the parameters, when set, disagree with TF's pose: once per camera frame and pair of values
        (parameters changed at run time, ``ros2 param set``, are compared again; set back to a wrong pair after a
        correction, reported again)."""
        height, pitch = scale.camera_height_m, scale.camera_pitch_rad
        if self._compared.get(camera_frame) == (height, pitch):
            return
        self._compared[camera_frame] = (height, pitch)  # agreeing too: set wrong again after a correction, reported
        if (height, pitch) == (_default("scale.camera_height_m"), _default("scale.camera_pitch_rad")):
            return  # not given
        height_off = abs(height - found.height_m) > max(HEIGHT_TOLERANCE_M, HEIGHT_TOLERANCE * found.height_m)
        if height_off or abs(pitch - found.pitch_rad) > PITCH_TOLERANCE_RAD:
            text = (
                f"TF {self._frame} <- {camera_frame} puts the camera {found.height_m:.3f} m above the ground, pitched "
                f"{found.pitch_rad:.4f} rad ({math.degrees(found.pitch_rad):+.2f}°) down, but scale.camera_height_m="
                f"{height:g} m and scale.camera_pitch_rad={pitch:g} ({math.degrees(pitch):+.2f}°); the ground-plane "
                "prior uses TF's: correct the parameters or the URDF, whichever is wrong"
            )
            self._report("ground_frame.disagrees", camera_frame, text)


@dataclass(frozen=True)
class FramePoses:
    """The node's TF for a decoded frame: the temporal filter's camera pose (``camera``; None: the filter is off)
    and the ground-plane prior's (``ground``). ``no_pose(camera_frame, stamp_ns)``: called for a frame the filter
    has no pose for (it goes through unfiltered; the pipeline counts it in ``temporal_no_motion_frames``)."""

    camera: CameraPoses | None
    ground: GroundPoses
    no_pose: Callable[[str, int], None] = lambda _camera, _stamp_ns: None

    def add_to(self, frame: FrameInput, scale: ScaleConfig) -> FrameInput:
        """``frame`` with its ``world_from_cam``, and its ``ground_pose`` at its stamp or why there is none
        (:meth:`GroundPoses.add_to`; ``scale``: the parameters in force)."""
        pose = None if self.camera is None else self.camera.pose(frame.frame_id, frame.stamp_ns)
        if self.camera is not None and pose is None:
            self.no_pose(frame.frame_id, frame.stamp_ns)
        return self.ground.add_to(replace(frame, world_from_cam=pose), scale)


def tf2_frame_poses(
    config: DepthConfig,
    tf_buffer: Any,
    factory: MessageFactory,
    errors: tuple[type[BaseException], ...],
    warning: Callable[[str], None],
    count: Callable[[str], None],
) -> FramePoses:
    """:class:`FramePoses` over a ``tf2_ros.Buffer`` (the node; never waits: timeout zero; the node makes one when
    the temporal filter or ``scale.ground_frame`` asks for TF). ``errors``: tf2's ``TransformException``;
    ``warning``: the node's logger (once per reason and camera frame: a ground prior from the parameters, a frame
    without a temporal-filter pose); ``count``: the node's ``inputs_unused`` counter (no image outcome: the frame is
    published), for frames whose prior is the parameters' (the pipeline counts those without a temporal pose in
    ``temporal_no_motion_frames``)."""

    def lookup(ground_frame: str, camera_frame: str, stamp_ns: int) -> RigidTransform:
        stamped = tf_buffer.lookup_transform(ground_frame, camera_frame, time_from_ns(factory, stamp_ns))
        return rigid_transform_from_msg(stamped)

    warned: set[tuple[str, str]] = set()

    def report(reason: str, camera: str, text: str) -> None:
        if reason != "ground_frame.disagrees":
            count(reason)
        else:  # GroundPoses reports it once per camera frame and pair of parameter values
            warning(text)
        if reason != "ground_frame.disagrees" and (reason, camera) not in warned:
            warned.add((reason, camera))
            warning(text)

    def no_pose(camera: str, stamp_ns: int) -> None:  # the bag runner's warning, once per camera frame
        if ("temporal.no_pose", camera) not in warned:
            warned.add(("temporal.no_pose", camera))
            warning(no_pose_text(camera, config.temporal.fixed_frame, stamp_ns))

    def newest(ground_frame: str, camera_frame: str) -> int:  # tf2: time 0 is the newest common stamp of the chain
        return stamp_to_ns(
            tf_buffer.lookup_transform(ground_frame, camera_frame, time_from_ns(factory, 0)).header.stamp
        )

    ground = GroundPoses(config.scale.ground_frame, lookup, report, errors, newest, config.temporal)
    return FramePoses(tf2_camera_poses(config.temporal, tf_buffer, factory, errors), ground, no_pose)
