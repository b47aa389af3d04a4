"""One :class:`~mono_depth_ros.core.camera.CameraModel` (and its undistortion maps) per calibration."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError
from mono_depth_ros.core.ros_msgs import camera_model_from_camera_info, stamp_to_ns

if TYPE_CHECKING:
    from mono_depth_ros.adapters.log_throttle import ReasonThrottle
    from mono_depth_ros.pipeline import FrameInput


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
"""A word of a topic name: lower case with an optional capital first (camelCase), or an upper-case run."""
_RECTIFIED_WORDS = frozenset({"rect", "rectified", "undistorted"})


def calibration_key(info: Any) -> tuple[Any, ...]:
    """What makes two ``sensor_msgs/CameraInfo`` (any flavour) the same calibration: size, model, D, K, R, P,
    binning and ROI (the header is not part of it)."""
    roi = info.roi
    return (
        int(info.width),
        int(info.height),
        str(info.distortion_model),
        *(np.asarray(getattr(info, name), dtype=np.float64).tobytes() for name in ("d", "k", "r", "p")),
        int(info.binning_x),
        int(info.binning_y),
        (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
    )


def names_an_unrectified_image(topic: str) -> bool:
    """True for ``.../image_raw``, ``.../image_color``, ``.../image`` (not ``image_rect``, ``image_rect_color``,
    ``imageRect``, ``image_rectified``, ``image_undistorted``, ``/cam/rect/image``): no word ``rect``, ``rectified``
    or ``undistorted`` in the last name of the topic (``/compressed`` dropped), nor, unless that name says ``raw``, in
    a namespace (a rectifying node's ``rect/image``) (words split at ``_``, ``-``, digits and camelCase; ``rect``
    inside a word, as in a raw ``image_color_corrected`` or a ``director`` namespace, names no rectified image)."""
    *namespaces, name = topic.removesuffix("/compressed").rstrip("/").split("/")
    words = [word.lower() for word in _WORD.findall(name)]
    if any(word in _RECTIFIED_WORDS for word in words):
        return False
    return "raw" in words or not any(
        word.lower() in _RECTIFIED_WORDS for namespace in namespaces for word in _WORD.findall(namespace)
    )


def _set_rectified(value: bool) -> str:
    """How to set ``image_is_rectified`` to ``value`` on each road (the launch file has no argument for it)."""
    word = str(value).lower()
    return (
        f"set image_is_rectified: {word} in the params file (not a launch argument: depth.launch.py has none for it; "
        f"-p image_is_rectified:={word} with ros2 run, --param image_is_rectified={word} for mono-depth bag)"
    )


def _resampling(camera: CameraModel) -> tuple[str, str, str]:
    """What in ``camera``'s camera_info makes the raw road resample an image (:attr:`CameraModel.resamples_raw`):
    (its words, the resampling as a gerund, as a verb), for its distortion or, D all zero, its rotation R."""
    if camera.has_distortion:
        coefficients = ", ".join(f"{c:g}" for c in camera.d)
        return f"{camera.distortion_model} D=[{coefficients}]", "undistorting", "undistorts"
    turn_deg = math.degrees(math.acos(min(1.0, max(-1.0, (float(np.trace(camera.r)) - 1.0) / 2.0))))
    return f"R turns rays {turn_deg:.3g} degrees; D all zero", "rotating it into P's image", "rotates"


def distortion_ignored(image_topic: str, camera: CameraModel, image_is_rectified: bool) -> str | None:
    """The warning for a raw-looking image topic whose camera_info has distortion, or D all zero with an R that
    turns rays (:attr:`CameraModel.resamples_raw`: the raw road rotates it into P's image), while
    ``image_is_rectified`` is true (the image is then used as the rectified one P describes, as it is), else None."""
    if not (image_is_rectified and camera.resamples_raw and names_an_unrectified_image(image_topic)):
        return None
    what, undone, _ = _resampling(camera)
    kind = "distortion" if camera.has_distortion else "a rectification rotation"
    return (
        f"{image_topic} has {kind} in its camera_info ({what}) but image_is_rectified=true uses it as the "
        f"rectified image P describes, without {undone}; for a raw image {_set_rectified(False)}; nothing to do if "
        f"it was rectified upstream"
    )


def undistorted_twice(image_topic: str, camera: CameraModel, image_is_rectified: bool) -> str | None:
    """The warning for a rectified image topic (``.../image_rect``, ``.../image_rect_color``) whose camera_info has
    distortion, or D all zero with an R that turns rays (:attr:`CameraModel.resamples_raw`), while
    ``image_is_rectified`` is false (the image, rectified upstream by image_proc with that camera_info, is undistorted
    or rotated a second time: every pixel moved again by the lens's distortion, or turned again by R), else None."""
    if image_is_rectified or not camera.resamples_raw or names_an_unrectified_image(image_topic):
        return None
    what, _, verb = _resampling(camera)
    return (
        f"{image_topic} names a rectified image but image_is_rectified=false {verb} it again with its "
        f"camera_info ({what}): rectified upstream (image_proc), it has no "
        f"{'distortion' if camera.has_distortion else 'rotation'} left, and a second "
        f"{'undistortion' if camera.has_distortion else 'rotation'} moves its pixels as far again; "
        f"{_set_rectified(True)}, or subscribe the camera's raw image (image_raw)"
    )


def sized_by_image(frame: FrameInput) -> CameraModel:
    """The frame's calibration at the size the pipeline runs it: a camera_info without a size (width = height = 0,
    a calibrated K / P) at the image's size (:meth:`CameraModel.for_image`, as depth_image_proc reads it); any other
    calibration as it is."""
    camera = frame.camera
    if camera.width != 0:
        return camera
    return camera.for_image(int(frame.rgb.shape[1]), int(frame.rgb.shape[0]))


def warn_about_calibration(
    image_topic: str,
    image_is_rectified: bool,
    warn: Callable[[str], Any],
    model_check: Callable[[PinholeIntrinsics], str | None] | None = None,
    warn_model: Callable[[str], Any] | None = None,
    warn_twice: Callable[[str, CameraModel], Any] | None = None,
    same_text: ReasonThrottle | None = None,
) -> Callable[[CameraModel], None]:
    """A check to run once per calibration (a :class:`CameraModelCache` ``on_new``; the bag runner's per
    calibration entry), on a model with a size (:func:`sized_by_image`: a camera_info without one is checked at its
    first image's), that warns through ``warn`` (the node's log) when :func:`distortion_ignored` applies, through
    ``warn_twice`` (with the model: distortion or only a rotation R; default ``warn``) when :func:`undistorted_twice`
    does, and through ``warn_model`` (default
    ``warn``) when ``model_check`` (``DepthPipeline.training_camera_warning``) has
    something to say about the intrinsics of the image the model sees (an uncalibrated camera is left to the frame
    path, which counts it).

    With ``same_text`` (the node's log), a distortion warning whose text was let through less than its period ago is
    held back and counted, the next one let through says how many were (``" (9 more since the last)"``): its text
    names D (or R) only, so a zoom (a new K every frame, the same lens) repeated it at frame rate. Another text (another
    lens) is not held back."""

    def once_a_while(text: str, log: Callable[[str], Any]) -> None:
        held = "" if same_text is None else same_text.allow(text)  # the exact text: numbers not left out
        if held is not None:
            log(text + held)

    def check(camera: CameraModel) -> None:
        if (text := distortion_ignored(image_topic, camera, image_is_rectified)) is not None:
            once_a_while(text, warn)
        if (text := undistorted_twice(image_topic, camera, image_is_rectified)) is not None:
            if warn_twice is None:
                once_a_while(text, warn)
            else:
                warn_twice(text, camera)
        if model_check is None:
            return
        try:
            intrinsics = camera.intrinsics(image_is_rectified)
        except CalibrationError:
            return
        if (text := model_check(intrinsics)) is not None:
            (warn_model or warn)(text)

    return check


class CameraModelCache:
    """Reuses one :class:`CameraModel` (and its undistortion maps) per calibration, for the last
    :data:`MODELS_KEPT` calibrations seen (two cameras' camera_info interleaved on one topic, a driver alternating
    between two: each keeps its model, and is checked once, not at every switch).

    Args:
        on_new: called with each new model (once per calibration), e.g. to warn about it; a model without a
            calibrated size (camera_info width = height = 0) has no intrinsics until an image gives it one, so it is
            called with that model at the size of the first image passed to :meth:`checked`.
        settings: what ``on_new``'s checks depend on besides the calibration (the node: the pipeline's
            ``scale`` settings, which a run-time parameter change replaces); when it returns something else than
            at a calibration's last check, ``on_new`` runs again on its model (no new undistortion maps).
    """

    def __init__(
        self, on_new: Callable[[CameraModel], Any] | None = None, settings: Callable[[], Hashable] | None = None
    ) -> None:
        self._on_new = on_new
        self._settings = settings
        self._lock = threading.Lock()
        self._models: OrderedDict[tuple[Any, ...], tuple[CameraModel, Hashable]] = OrderedDict()  # model, the
        # settings of its last on_new (_UNCHECKED: none yet), the latest used last
        self._awaiting: list[CameraModel] = []  # models without a size: on_new runs at their next image's size

    def get(self, info: Any) -> CameraModel:
        """The model for a ``sensor_msgs/CameraInfo`` (any flavour); raises what the conversion raises."""
        key = calibration_key(info)
        settings = self._settings() if self._settings is not None else None
        with self._lock:
            model, checked = self._models.pop(key, (None, _UNCHECKED))
            if model is None:
                model = camera_model_from_camera_info(info)
            if self._on_new is not None and checked != settings:
                checked = settings
                if model.width == 0:
                    self._awaiting = [m for m in self._awaiting if m is not model] + [model]
                else:
                    self._on_new(model)
            self._models[key] = (model, checked)
            while len(self._models) > MODELS_KEPT:
                gone, _ = self._models.popitem(last=False)[1]
                self._awaiting = [m for m in self._awaiting if m is not gone]
            return model

    def checked(self, frame: FrameInput) -> FrameInput:
        """``frame`` as given, after ``on_new`` has run on its calibration at the image's size
        (:func:`sized_by_image`) where :meth:`get` left it waiting for one (a camera_info without a size)."""
        with self._lock:
            if self._on_new is not None and any(m is frame.camera for m in self._awaiting):
                self._awaiting = [m for m in self._awaiting if m is not frame.camera]
                self._on_new(sized_by_image(frame))
        return frame


class MapsKept:
    """Keeps the undistortion maps of the :data:`MODELS_KEPT` calibrations used last and releases those of the
    one used before them (:meth:`CameraModel.release_maps`), for a holder of a model per calibration that keeps
    every model (the bag runner's index: one per distinct camera_info in the bag). A calibration that changes every
    frame (a zoom, a jittering K) kept every frame's maps to the end of the run (~14 MB a frame at 1920x1200, 6
    bytes a pixel, 8 more for a prediction); :class:`CameraModelCache` bounds the node's the same way. Not
    thread-safe (one per runner)."""

    def __init__(self, keep: int | None = None) -> None:
        self._keep = MODELS_KEPT if keep is None else keep
        self._models: OrderedDict[int, CameraModel] = OrderedDict()  # id -> model, the latest used last

    def use(self, model: CameraModel) -> CameraModel:
        """``model``, now the latest used; the maps of the one pushed out of the last ``keep`` released."""
        self._models.pop(id(model), None)
        self._models[id(model)] = model
        while len(self._models) > self._keep:
            self._models.popitem(last=False)[1].release_maps()
        return model


MODELS_KEPT = 4
"""Calibrations :class:`CameraModelCache` keeps a model of, each with its undistortion maps once a raw image was
undistorted: 6 bytes a pixel for the image (CV_16SC2 + CV_16UC1), 8 more for an external prediction (nearest: two
CV_32FC1); at 1920x1200 ~14 MB, ~33 MB with a prediction. A calibration that changes every frame (a zoom, a jittering
K) holds all 4 (measured: RSS +81 MB, +171 MB with a prediction, where 1 model held +40 / +70 MB), and no more."""

_UNCHECKED = object()
"""The settings of a calibration ``on_new`` has not run on yet (``settings`` may return None)."""


LATEST_INFOS_KEPT = 16
"""camera_infos :class:`LatestCameraInfo` holds (the last received), and the bag runner looks among (the last
recorded by the time the node would look: :meth:`~mono_depth_ros.bag.pairing.PairingRules.as_synchronised`)."""


class LatestCameraInfo:
    """``sync.mode: latest``: the camera_info for an image by :func:`latest_for_image` (the bag runner's rule too,
    over the camera_infos recorded by the time the node looks:
    :meth:`~mono_depth_ros.bag.pairing.PairingRules.as_synchronised`): the latest stamped at or before the image (its
    own stamp first; of equal stamps the last received), else, every one held being stamped after the image (another
    clock), the last received. The last received whatever its stamp paired an image with the next frame's
    calibration when that came first (a rectified image later than the raw camera_info): a zoom or a resolution
    change one frame early, where the bag runner took the image's own. Keeps the last ``keep`` camera_infos (the
    headers' stamps, int ns); called from the executor's thread only."""

    def __init__(self, keep: int = LATEST_INFOS_KEPT) -> None:
        self._infos: deque[tuple[int, Any]] = deque(maxlen=keep)

    def add(self, info: Any) -> None:
        """A camera_info received (any flavour with ``header.stamp``)."""
        self._infos.append((stamp_to_ns(info.header.stamp), info))

    def for_image(self, image: Any) -> Any:
        """The camera_info for ``image`` (a message with ``header.stamp``); None before any came."""
        chosen = latest_for_image([info_ns for info_ns, _ in self._infos], stamp_to_ns(image.header.stamp))
        return None if chosen is None else self._infos[chosen][1]


def latest_for_image(stamps_ns: Sequence[int], image_stamp_ns: int) -> int | None:
    """``sync.mode: latest``'s rule, node and bag runner alike: of camera_infos stamped ``stamps_ns`` (int ns, in the
    order received / recorded), the index of the latest stamped at or before the image (of equal stamps the later
    received), else, every one stamped after it (another clock), the last; None for none."""
    chosen: int | None = None
    for index, info_ns in enumerate(stamps_ns):
        if info_ns <= image_stamp_ns and (chosen is None or info_ns >= stamps_ns[chosen]):
            chosen = index
    if chosen is None:
        return len(stamps_ns) - 1 if stamps_ns else None
    return chosen
