"""The camera above the ground for the ground-plane scale, from TF, for the node and the bag runner alike.

``scale.ground_frame`` (e.g. ``base_footprint``: on the ground, z up, REP 120 / REP 103) ← the image's optical frame
at the image stamp gives the ground-plane prior's height, pitch and roll
(:func:`~mono_depth_ros.core.scale.ground.ground_pose`), as a robot's URDF publishes them; empty: the parameters
``scale.camera_height_m`` and ``scale.camera_pitch_rad`` alone. Where TF cannot answer, or puts the camera at or
below the ground frame (a frame that is not on the ground), the frame's prior is the parameters' and the frame is
reported (:data:`Report`: the node counts it in ``inputs_unused.ground_frame.*`` and warns once per reason and camera
frame; the bag runner counts it in its summary's warnings). Where both are given (the parameters not at their
defaults) and they disagree by more than :data:`HEIGHT_TOLERANCE_M` and :data:`HEIGHT_TOLERANCE` in height or
:data:`PITCH_TOLERANCE_RAD` in pitch, TF's is used and the disagreement is reported once per camera frame, naming
both values: one degree of pitch costs 8-14 % of the scale on KITTI, and a wrong prior still reports ``ok``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mono_depth_ros.adapters.motion import CameraPoses, no_pose_text, tf2_camera_poses
from mono_depth_ros.config import PARAMS_BY_NAME
from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import MessageFactory, time_from_ns
from mono_depth_ros.core.ros_msgs import rigid_transform_from_msg
from mono_depth_ros.core.scale.ground import GroundPose, ground_pose
from mono_depth_ros.depth_config import DepthConfig, ScaleConfig
from mono_depth_ros.pipeline import FrameInput

GroundLookup = Callable[[str, str, int], RigidTransform]
"""``lookup(ground_frame, camera_frame, stamp_ns)`` → ``ground_from_cam``; raises when TF cannot answer."""
Report = Callable[[str, str, str], None]
"""``report(reason, camera_frame, text)``: a frame whose prior is the parameters' (reason
``ground_frame.no_transform`` or ``ground_frame.not_above``; every such frame), or TF and parameters that disagree
(``ground_frame.disagrees``, once per camera frame). The bag runner's summary of warnings (counts each reason, logs
its first text); the node's :func:`tf2_frame_poses` counts and logs once per reason and camera frame."""
HEIGHT_TOLERANCE_M = 0.05  # TF and parameters disagree: heights apart by more than this and ...
HEIGHT_TOLERANCE = 0.05  # ... this share of TF's height (a 5 % height error: 4-6 % of the scale), or ...
PITCH_TOLERANCE_RAD = math.radians(1.0)  # ... pitches by more than this (1°: 8-14 % of the scale on KITTI)


def _default(name: str) -> float:
    return float(PARAMS_BY_NAME[name].default)


def _fallback(scale: ScaleConfig) -> str:
    """What a frame without TF's pose uses instead (the end of its report; built only for a frame reported)."""
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
    """

    def __init__(
        self, ground_frame: str, lookup: GroundLookup, report: Report, errors: tuple[type[BaseException], ...] = ()
    ) -> None:
        self._frame = ground_frame
        self._lookup = lookup
        self._report = report
        self._errors: tuple[type[BaseException], ...] = (DepthError, *errors)
        self._compared: set[str] = set()  # camera frames whose disagreement was reported
        self.unused = 0  # frames whose prior came from the parameters because TF could not give one

    def pose(self, camera_frame: str, stamp_ns: int, scale: ScaleConfig) -> GroundPose | None:
        """The camera above ``scale.ground_frame`` at ``stamp_ns`` (int ns); None: the parameters' prior.

        ``scale``: the parameters in force (compared with TF's pose).
        """
        if not self._frame:
            return None
        try:
            found = ground_pose(self._lookup(self._frame, camera_frame, stamp_ns))
        except self._errors as err:
            self.unused += 1
            text = f"no TF {self._frame} <- {camera_frame} for the camera's height above the ground ({err}); "
            text += _fallback(scale)
            self._report("ground_frame.no_transform", camera_frame, text)
            return None
        if not found.height_m > 0:
            self.unused += 1
            text = (
                f"TF puts camera {camera_frame} {found.height_m:.3f} m above scale.ground_frame={self._frame!r}, "
                f"not above it: is that frame on the ground with z up (base_footprint, REP 120)? {_fallback(scale)}"
            )
            self._report("ground_frame.not_above", camera_frame, text)
            return None
        self._compare(found, camera_frame, scale)
        return found

    def _compare(self, found: GroundPose, camera_frame: str, scale: ScaleConfig) -> None:
        """Report once per camera frame where the parameters, when set, disagree with TF's pose."""
        height, pitch = scale.camera_height_m, scale.camera_pitch_rad
        if camera_frame in self._compared:
            return
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
            self._compared.add(camera_frame)
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
        """``frame`` with its ``world_from_cam`` and ``ground_pose`` at its stamp (``scale``: the parameters in
        force)."""
        pose = None if self.camera is None else self.camera.pose(frame.frame_id, frame.stamp_ns)
        if self.camera is not None and pose is None:
            self.no_pose(frame.frame_id, frame.stamp_ns)
        ground = self.ground.pose(frame.frame_id, frame.stamp_ns, scale)
        return replace(frame, world_from_cam=pose, ground_pose=ground)


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
        if (reason, camera) not in warned:
            warned.add((reason, camera))
            warning(text)

    def no_pose(camera: str, stamp_ns: int) -> None:  # the bag runner's warning, once per camera frame
        if ("temporal.no_pose", camera) not in warned:
            warned.add(("temporal.no_pose", camera))
            warning(no_pose_text(camera, config.temporal.fixed_frame, stamp_ns))

    ground = GroundPoses(config.scale.ground_frame, lookup, report, errors)
    return FramePoses(tf2_camera_poses(config.temporal, tf_buffer, factory, errors), ground, no_pose)
