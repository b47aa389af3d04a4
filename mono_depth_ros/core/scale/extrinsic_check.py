"""Is the LiDAR → camera extrinsic plausible? Named frame mistakes recognised from the scans themselves.

A wrong ``cam_from_lidar`` still projects thousands of points into the image and the scale fit still finds
inliers among them (on real KITTI frames a transform rolled 180° about the optical axis gave LiDAR scale ``ok`` with
17-64 % error). The mistakes users make are few and have a signature in the projected points:

* the LiDAR's nearest points are the ground in front of the vehicle, and the ground is in the *lower* half of the
  image (below the principal point row); rolled 180° (camera upside down, the optical frame rolled, or a LiDAR mounted
  upside down whose TF does not say so: Ouster, Livox), they land in the upper half;
* an image stamped in the camera's body frame (``camera_link``: x forward, z up) instead of its optical frame
  (z forward, x right, y down) looks at the sky: next to no point projects;
* a static transform with parent and child swapped (the extrinsic inverted) looks sideways with the LiDAR's rings
  on end: fewer points, the nearest ones anywhere.

:class:`ExtrinsicCheck` compares, over a few frames, the given transform with the transform each mistake implies
(roll 180° about the optical axis, the LiDAR upside down, the optical frame from the body frame, the inverse). A
mistake is named when its correction explains the scans clearly better: it places the nearest points in the lower
half where the given transform does not, or places many more points in the image. KITTI's own calibration is not
flagged (``test/core/scale/test_extrinsic_check.py``).

A yaw error about the LiDAR's spin axis (a quarter or half turn) leaves both signatures intact (the scan is 360°).
Only the image can tell: given the network's prediction, the check also ranks, for the given transform and for the
LiDAR turned by 90°, 180° and 270° about its z axis, how well the prediction's depth order agrees with the points'
(:func:`rank_agreement`, a rank correlation: any output kind, no scale needed). A turn is named when it agrees clearly
better (by ``yaw_margin``, and at least ``yaw_min_agreement``): on the KITTI frames the true transform scores 0.76-0.88
per frame with the shipped model, a quarter turn -0.08-0.85. A half turn is rarely told apart on a street (the road
behind looks like the road ahead, 0.18-0.86 per frame), nor are small yaw errors; neither is a rotation in degrees
where radians were expected, unless it turns the ground upside down, out of view or a quarter turn round.

A planar LiDAR (a ``sensor_msgs/LaserScan``: RPLidar, Hokuyo) scans one plane through its origin and sees no
ground: its nearest points are walls at the scan's height, above the principal point row whenever the LiDAR sits
above the camera. The ground signatures (and the point counts, which for one plane depend on its height in the
view) tell nothing there; such a scan (all points within ``planar_m`` of a plane through the LiDAR's origin) is judged
by the yaw test only, which then says that the yaw looks wrong without naming a turn: a few hundred points in one
plane do not tell which (on KITTI's 0° slice, TF a quarter turn off, the half-turned view agreed best).

Points are in metres; ``cam_from_lidar`` maps the LiDAR frame into the camera **optical** frame (x right, y down,
z forward).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import FloatArray, RigidTransform

_ROLL_180 = np.diag([-1.0, -1.0, 1.0])  # 180° about z (the optical axis)
_LIDAR_UPSIDE_DOWN = np.diag([1.0, -1.0, -1.0])  # 180° about the LiDAR's x axis
# optical_from_body: body x forward, y left, z up -> optical z forward, x right, y down (REP 103)
_OPTICAL_FROM_BODY = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


@dataclass(frozen=True)
class ExtrinsicCheckConfig:
    """Settings of :class:`ExtrinsicCheck`.

    Attributes:
        frames: scans pooled for a verdict (the verdict is renewed every ``recheck_every`` scans afterwards).
        recheck_every: scans between two looks once a verdict stands (the check costs a few ms per look).
        max_points: the scan is subsampled by a stride to at most this many points for the check.
        min_points: a scan with fewer valid points is not looked at.
        near_quantile: the nearest points in the image are those below this depth quantile.
        upright_share: a transform is upright when at least this share of the nearest points lies below the
            principal point row ...
        upside_down_share: ... and upside down at or below this share.
        more_points: a correction that places this many times the points of the given transform in the image
            (and the nearest ones upright) is named.
        reset_deg: a rotation of the given transform that changes by more than this (degrees) starts afresh.
        yaw_margin: a LiDAR turned about its spin axis is named when the turn's rank agreement with the prediction
            (pooled over the frames) exceeds the given transform's by this much ...
        yaw_min_agreement: ... and is at least this.
        min_pairs: fewer projected points on valid prediction pixels give no agreement for that frame.
        planar_m: a scan whose points lie within this RMS distance (metres) of a plane through the LiDAR's origin is
            planar (a 2D LiDAR): no ground, so only the yaw test judges it.
    """

    frames: int = 3
    recheck_every: int = 50
    max_points: int = 8_000
    min_points: int = 1000
    near_quantile: float = 0.2
    upright_share: float = 0.6
    upside_down_share: float = 0.3
    more_points: float = 1.5
    reset_deg: float = 10.0
    yaw_margin: float = 0.3
    yaw_min_agreement: float = 0.6
    min_pairs: int = 200
    planar_m: float = 0.02

    def __post_init__(self) -> None:
        if self.frames < 1 or self.recheck_every < 1 or self.max_points < self.min_points or self.min_points < 10:
            msg = f"extrinsic check needs frames, recheck_every >= 1 and 10 <= min_points <= max_points, got {self}"
            raise ConfigError(msg)
        if not 0.0 <= self.upside_down_share < self.upright_share <= 1.0 or not 0.0 < self.near_quantile < 1.0:
            msg = f"extrinsic check needs 0 <= upside_down_share < upright_share <= 1, 0 < near_quantile < 1: {self}"
            raise ConfigError(msg)
        if not 0.0 < self.yaw_margin <= 2.0 or not -1.0 < self.yaw_min_agreement <= 1.0 or self.min_pairs < 3:
            msg = f"extrinsic check needs 0 < yaw_margin <= 2, -1 < yaw_min_agreement <= 1, min_pairs >= 3: {self}"
            raise ConfigError(msg)
        if not self.planar_m >= 0.0:
            msg = f"extrinsic check needs planar_m >= 0 (metres), got {self.planar_m}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class ViewStats:
    """Where one transform puts a scan in the image (one frame, or several pooled).

    Attributes:
        scan_points: valid points looked at.
        in_image: of those, in front of the camera and inside the image.
        near: the nearest of those (depth below the ``near_quantile``).
        near_low: of the nearest, below the principal point row (the lower part of the image).
    """

    scan_points: int
    in_image: int
    near: int
    near_low: int

    @property
    def near_low_share(self) -> float:
        """Share of the nearest points in the lower part of the image (NaN without near points)."""
        return self.near_low / self.near if self.near else math.nan

    def __add__(self, other: ViewStats) -> ViewStats:
        return ViewStats(
            self.scan_points + other.scan_points,
            self.in_image + other.in_image,
            self.near + other.near,
            self.near_low + other.near_low,
        )


def view_stats(
    points_in_lidar: npt.NDArray[np.floating],
    cam_from_lidar: npt.NDArray[np.float64],
    intrinsics: PinholeIntrinsics,
    near_quantile: float = 0.2,
    min_depth_m: float = 0.5,
) -> ViewStats:
    """:class:`ViewStats` of ``points_in_lidar`` ((N, 3) metres, finite and non-zero) seen through ``cam_from_lidar``
    ((4, 4) LiDAR → optical frame)."""
    points = np.asarray(points_in_lidar, dtype=np.float64)
    cam = points @ cam_from_lidar[:3, :3].T + cam_from_lidar[:3, 3]
    z = cam[:, 2]
    front = z > min_depth_m
    z = z[front]
    u = cam[front, 0] / z * intrinsics.fx + intrinsics.cx
    v = cam[front, 1] / z * intrinsics.fy + intrinsics.cy
    inside = (u >= -0.5) & (u < intrinsics.width - 0.5) & (v >= -0.5) & (v < intrinsics.height - 0.5)
    z, v = z[inside], v[inside]
    if z.size == 0:
        return ViewStats(int(points.shape[0]), 0, 0, 0)
    near = z <= np.quantile(z, near_quantile)
    near_low = int(np.count_nonzero(v[near] > intrinsics.cy))
    return ViewStats(int(points.shape[0]), int(z.size), int(np.count_nonzero(near)), near_low)


@dataclass(frozen=True)
class Agreement:
    """How well a prediction's depth order agrees with a scan's seen through one transform.

    Attributes:
        pairs: projected points (in front, inside the image) on finite prediction pixels.
        rho: Spearman rank correlation of the prediction's depth with the points' depth (1: same order; NaN with
            fewer than 3 pairs).
    """

    pairs: int
    rho: float


def rank_agreement(
    points_in_lidar: npt.NDArray[np.floating],
    cam_from_lidar: npt.NDArray[np.float64],
    intrinsics: PinholeIntrinsics,
    prediction: npt.NDArray[np.floating],
    kind: OutputKind,
    min_depth_m: float = 0.5,
) -> Agreement:
    """:class:`Agreement` of ``prediction`` ((H, W) of ``kind``, NaN / ±Inf invalid, at ``intrinsics``' size) with
    ``points_in_lidar`` ((N, 3) metres) seen through ``cam_from_lidar`` ((4, 4) LiDAR → optical frame).

    Each point is read at its nearest pixel (no occlusion test: the ranks carry the occluded few). Ranks make the
    measure independent of the kind's scale and shift; a relative inverse depth ranks in reverse.
    """
    points = np.asarray(points_in_lidar, dtype=np.float64)
    cam = points @ cam_from_lidar[:3, :3].T + cam_from_lidar[:3, 3]
    z = cam[:, 2]
    front = z > min_depth_m
    z = z[front]
    u = np.rint(cam[front, 0] / z * intrinsics.fx + intrinsics.cx)
    v = np.rint(cam[front, 1] / z * intrinsics.fy + intrinsics.cy)
    inside = (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
    values = np.asarray(prediction)[v[inside].astype(np.intp), u[inside].astype(np.intp)].astype(np.float64)
    z = z[inside]
    valid = np.isfinite(values)
    values, z = values[valid], z[valid]
    if values.size < 3:
        return Agreement(int(values.size), math.nan)
    if OutputKind(kind) is OutputKind.RELATIVE_INVERSE:
        values = -values
    ranks, z_ranks = _ranks(values), _ranks(z)
    rho = float(np.corrcoef(ranks, z_ranks)[0, 1])
    return Agreement(int(values.size), rho)


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each value's place in ``np.argsort(values)`` as float64: ``argsort(argsort(values))`` (the inverse permutation,
    the same ranks for ties), by a scatter instead of a second sort."""
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[np.argsort(values)] = np.arange(values.size, dtype=np.float64)
    return ranks


def _yaw_about_z(degrees: int) -> npt.NDArray[np.float64]:
    """(4, 4) rotation by ``degrees`` (a multiple of 90) about z."""
    c, s = {90: (0.0, 1.0), 180: (-1.0, 0.0), 270: (0.0, -1.0)}[degrees]
    turn = np.eye(4)
    turn[:2, :2] = [[c, -s], [s, c]]
    return turn


YAW_TURNS_DEG = (90, 180, 270)


@dataclass(frozen=True)
class Mistake:
    """A named extrinsic mistake: the correction that undoes it and what to tell the user."""

    name: str
    what: str  # the likely mistake, in words
    remedy: str

    def corrected(self, cam_from_lidar: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The transform the user meant, were this the mistake ((4, 4) LiDAR → optical)."""
        m = cam_from_lidar
        if self.name == "inverted":
            inverse: npt.NDArray[np.float64] = np.linalg.inv(m).astype(np.float64)
            return inverse
        fix = np.eye(4)
        if self.name == "roll_180":
            fix[:3, :3] = _ROLL_180
            return fix @ m
        if self.name == "lidar_upside_down":
            fix[:3, :3] = _LIDAR_UPSIDE_DOWN
            return m @ fix
        if self.name.startswith("yaw_"):
            return m @ _yaw_about_z(int(self.name.removeprefix("yaw_")))
        fix[:3, :3] = _OPTICAL_FROM_BODY  # body_frame
        return fix @ m


def _mistakes(camera: str, lidar: str) -> tuple[Mistake, ...]:
    cam, lid = camera or "the image frame", lidar or "the LiDAR frame"
    return (
        Mistake(
            "roll_180",
            f"the transform {cam} <- {lid} is rolled 180° about the optical axis: the camera or its optical frame "
            "is mounted upside down in TF",
            f"fix the rotation of {cam} in TF (a camera mounted upside down needs roll π in its mount transform; "
            "an optical frame is --roll -1.5708 --yaw -1.5708 from the body frame)",
        ),
        Mistake(
            "lidar_upside_down",
            f"{lid} is upside down against TF: a LiDAR mounted upside down (Ouster, Livox) whose transform does "
            "not say so",
            f"add roll π (--roll 3.14159) to the transform of {lid}, or turn the driver's cloud over",
        ),
        Mistake(
            "body_frame",
            f"{cam} has the camera's body frame axes (x forward, z up, as camera_link) in TF, not the optical frame's "
            "(z forward, x right, y down): the image looks up into the sky",
            _body_frame_remedy(camera),
        ),
        Mistake(
            "inverted",
            f"the transform {cam} <- {lid} is inverted (parent and child swapped in the static transform)",
            "swap --frame-id and --child-frame-id (or invert the transform) where it is published",
        ),
    )


def _yaw_mistakes(lidar: str) -> tuple[Mistake, ...]:
    """A LiDAR turned about its spin axis against TF; the correction of ``yaw_<deg>`` adds ``deg`` to its yaw."""
    lid = lidar or "the LiDAR frame"
    other_frame = {
        90: "",
        180: ", or the cloud stamped in the driver's other frame (Ouster's os_lidar and os_sensor: a half turn apart)",
        270: "",
    }
    return tuple(
        Mistake(
            f"yaw_{deg}",
            f"{lid} is turned {'a half' if deg == 180 else 'a quarter'} turn about its spin axis against TF: a LiDAR "
            f"mounted turned (its cable or connector not where the transform assumes){other_frame[deg]}",
            f"turn {lid} by yaw {deg if deg != 270 else -90}° in its transform (static_transform_publisher --yaw "
            f"{math.radians(deg if deg != 270 else -90):.4f} composed with the current one), or stamp the cloud in "
            "the frame the transform was measured for",
        )
        for deg in YAW_TURNS_DEG
    )


def _body_frame_remedy(camera: str) -> str:
    """How to stamp the image in an optical frame: publish one from the body frame (camera_link -> ..._optical_frame),
    or, for a frame already named optical, give it the optical axes."""
    rotation = "static_transform_publisher --roll -1.5708 --yaw -1.5708"
    if "optical" in camera:
        return (
            f"{camera} is named optical but TF gives it the body frame's axes: publish it from the camera's body frame "
            f"with ros2 run tf2_ros {rotation} --frame-id <camera body frame> --child-frame-id {camera}"
        )
    body = camera or "camera_link"
    return (
        f"publish the optical frame (ros2 run tf2_ros {rotation} --frame-id {body} --child-frame-id "
        f"{body}_optical_frame) and set the camera driver's frame_id to {body}_optical_frame"
    )


@dataclass(frozen=True)
class ExtrinsicVerdict:
    """The check's finding about a transform that looks wrong.

    Attributes:
        mistake: the likely mistake's name (``roll_180``, ``lidar_upside_down``, ``body_frame``, ``inverted``,
            ``yaw_90`` / ``yaw_180`` / ``yaw_270``: the LiDAR turned about its spin axis, the number the yaw in
            degrees that corrects it), or ``unknown`` when the transform looks wrong but no named mistake explains
            it.
        text: the finding for the user: what the scans show, the likely mistake, the remedy.
    """

    mistake: str
    text: str


class ExtrinsicCheck:
    """Pools a few scans and says when ``cam_from_lidar`` looks wrong (see the module docstring). One per stream.

    Call :meth:`observe` with each scan (and the frame's prediction, for the yaw test); it looks at the first
    ``frames`` scans, then at ``frames`` scans every ``recheck_every``. A rotation that changes by more than
    ``reset_deg`` (TF fixed at run time) starts the evidence afresh; smaller changes (a transform through
    ``lidar.motion_frame`` moves with the vehicle) do not.
    """

    def __init__(self, config: ExtrinsicCheckConfig | None = None) -> None:
        self.config = config or ExtrinsicCheckConfig()
        self._window: deque[list[ViewStats]] = deque(maxlen=self.config.frames)
        self._agreements: deque[list[Agreement] | None] = deque(maxlen=self.config.frames)
        self._transform: npt.NDArray[np.float64] | None = None
        # the last transform's values given (RigidTransform.values_key), its matrix and its angle to ``_transform``
        # (the evidence's): a static extrinsic, the same values frame after frame, is compared once, not every frame
        self._given: tuple[bytes, FloatArray, FloatArray | None, float] | None = None
        self._skipped = 0
        self.verdict: ExtrinsicVerdict | None = None

    def reset(self) -> None:
        """Forget the evidence and the verdict."""
        self._window.clear()
        self._agreements.clear()
        self._transform = None
        self._skipped = 0
        self.verdict = None

    def observe(
        self,
        points_in_lidar: npt.NDArray[np.floating],
        cam_from_lidar: RigidTransform,
        intrinsics: PinholeIntrinsics,
        prediction: npt.NDArray[np.floating] | None = None,
        kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE,
    ) -> ExtrinsicVerdict | None:
        """Look at one scan (when due); returns the standing verdict (None: the transform looks right, or too
        little evidence yet).

        Args:
            points_in_lidar: (N, 3) metres, LiDAR frame; NaN / all-zero rows are ignored.
            cam_from_lidar: LiDAR → camera optical frame, as TF gave it (its frame names go into the text).
            intrinsics: the image's pinhole intrinsics (any resolution; the prediction's when one is given).
            prediction: the frame's (H, W) network output of ``kind`` (NaN / ±Inf invalid), for the yaw test; a
                turn is only named when every pooled frame came with one.
            kind: what ``prediction`` means.
        """
        matrix = self._given_matrix(cam_from_lidar)
        if self._transform is None or self._turn_deg(matrix) > self.config.reset_deg:
            self.reset()
            self._transform = matrix
        if len(self._window) == self.config.frames:
            self._skipped += 1
            if self._skipped < self.config.recheck_every:
                return self.verdict
            self._skipped = 0
            self._window.clear()
            self._agreements.clear()
        # float64 once for the ten projections below (each would convert it again), as each of them converts it
        points = np.asarray(_valid_subsample(np.asarray(points_in_lidar), self.config.max_points), dtype=np.float64)
        if points.shape[0] < self.config.min_points:
            return self.verdict
        mistakes = _mistakes(cam_from_lidar.dst_frame, cam_from_lidar.src_frame)
        candidates = [matrix, *(m.corrected(matrix) for m in mistakes)]
        q = self.config.near_quantile
        self._window.append([view_stats(points, c, intrinsics, q) for c in candidates])
        turns = _yaw_mistakes(cam_from_lidar.src_frame)
        self._agreements.append(
            None
            if prediction is None
            else [
                rank_agreement(points, c, intrinsics, prediction, kind)
                for c in (matrix, *(t.corrected(matrix) for t in turns))
            ]
        )
        if len(self._window) == self.config.frames:
            pooled = [sum(column[1:], column[0]) for column in zip(*self._window, strict=True)]
            planar = _plane_rms_m(points) <= self.config.planar_m  # a 2D LiDAR: no ground to judge by
            self.verdict = None if planar else self._judge(pooled[0], list(zip(mistakes, pooled[1:], strict=True)))
            if self.verdict is None:
                self.verdict = self._judge_yaw(pooled[0], turns, planar)
        return self.verdict

    def _given_matrix(self, cam_from_lidar: RigidTransform) -> npt.NDArray[np.float64]:
        """``cam_from_lidar.matrix``, made once per run of frames giving the same values (keyed on the values, not
        the object: its arrays may have been corrected in place since)."""
        key = cam_from_lidar.values_key
        if self._given is None or self._given[0] != key:
            matrix = cam_from_lidar.matrix
            matrix.flags.writeable = False  # shared by the frames that give this transform
            self._given = (key, matrix, None, math.nan)
        return self._given[1]

    def _turn_deg(self, matrix: npt.NDArray[np.float64]) -> float:
        """:func:`_angle_deg` between the evidence's transform and ``matrix`` (the given one's,
        :meth:`_given_matrix`), computed once per pair: the same float for the same two arrays."""
        assert self._transform is not None and self._given is not None and self._given[1] is matrix
        given, _, against, angle = self._given
        if against is not self._transform:
            angle = _angle_deg(self._transform[:3, :3], matrix[:3, :3])
            self._given = (given, matrix, self._transform, angle)
        return angle

    def _judge_yaw(
        self, given_stats: ViewStats, turns: tuple[Mistake, ...], planar: bool = False
    ) -> ExtrinsicVerdict | None:
        """Name a turn about the LiDAR's spin axis whose pooled rank agreement beats the given transform's (a planar
        scan: say that the yaw looks wrong, without a turn: its few hundred points do not tell which)."""
        cfg = self.config
        if any(frame is None for frame in self._agreements):
            return None
        frames = [frame for frame in self._agreements if frame is not None]
        pooled = [_pooled_rho(column, cfg.min_pairs) for column in zip(*frames, strict=True)]
        given, alternatives = pooled[0], list(zip(turns, pooled[1:], strict=True))
        if math.isnan(given):
            return None
        better = [(t, rho) for t, rho in alternatives if rho >= cfg.yaw_min_agreement and rho >= given + cfg.yaw_margin]
        if not better:
            return None
        turn, rho = max(better, key=lambda item: item[1])
        if planar:
            lidar = turn.what.split(" is turned", 1)[0]
            text = (
                f"the LiDAR -> camera transform looks wrong: {_seen_text(given_stats)}, but the network's depth agrees "
                f"with the points' depth order at rank correlation {given:.2f} only; with the LiDAR turned about its z "
                f"axis, up to {rho:.2f}. Likely: the yaw of {lidar} in TF is off (a quarter or half turn; one scan "
                "plane cannot tell which). Remedy: check the yaw of its transform (static_transform_publisher --yaw, "
                "radians) against the way the LiDAR is mounted. The LiDAR scale is not used until the transform is "
                "fixed"
            )
            return ExtrinsicVerdict("unknown", text)
        text = (
            f"the LiDAR -> camera transform looks wrong: {_seen_text(given_stats)}, but the network's depth agrees "
            f"with the points' depth order at rank correlation {given:.2f} only; with the LiDAR turned by "
            f"{turn.name.removeprefix('yaw_')}° about its z axis, {rho:.2f}. Likely: {turn.what}. Remedy: "
            f"{turn.remedy}. The LiDAR scale is not used until the transform is fixed"
        )
        return ExtrinsicVerdict(turn.name, text)

    def _judge(self, given: ViewStats, alternatives: list[tuple[Mistake, ViewStats]]) -> ExtrinsicVerdict | None:
        cfg = self.config
        given_low = 0.0 if math.isnan(given.near_low_share) else given.near_low_share

        def explains(stats: ViewStats) -> bool:
            low = stats.near_low_share
            # the share of the nearest points below the principal point row is judged on at least 10 per frame, as
            # the given transform's is: 15 near points of 70 in the image (a correct side camera at the edge of a
            # front LiDAR's view, mirrored by the roll) named 'roll_180' at the 60 % mark
            if math.isnan(low) or low < cfg.upright_share or stats.near < 10 * cfg.frames:
                return False
            turned_over = given_low <= cfg.upside_down_share and stats.in_image >= 0.8 * given.in_image
            return turned_over or stats.in_image >= cfg.more_points * given.in_image + 10 * cfg.frames

        better = [(m, s) for m, s in alternatives if explains(s)]
        seen = _seen_text(given)
        if better:
            mistake, stats = max(better, key=lambda item: item[1].in_image * item[1].near_low_share)
            text = (
                f"the LiDAR -> camera transform looks wrong: {seen}; corrected for the likely mistake, "
                f"{_seen_text(stats)}. Likely: {mistake.what}. Remedy: {mistake.remedy}. The LiDAR scale is not used "
                "until the transform is fixed"
            )
            return ExtrinsicVerdict(mistake.name, text)
        few = given.in_image < 0.002 * given.scan_points
        upside_down = given.near >= 10 * cfg.frames and given_low <= cfg.upside_down_share
        if few or upside_down:
            text = (
                f"the LiDAR -> camera transform looks wrong: {seen}. Check it: the image's frame_id must be the "
                "optical frame (z forward, x right, y down), static_transform_publisher takes radians and --roll "
                "--pitch --yaw (the old positional form is x y z yaw pitch roll), parent before child. The LiDAR "
                "scale is not used until the transform is fixed"
            )
            return ExtrinsicVerdict("unknown", text)
        return None


def _pooled_rho(agreements: tuple[Agreement, ...], min_pairs: int) -> float:
    """Pair-weighted mean rank correlation over the frames with at least ``min_pairs`` pairs (NaN: none)."""
    used = [(a.pairs, a.rho) for a in agreements if a.pairs >= min_pairs and math.isfinite(a.rho)]
    if not used:
        return math.nan
    total = sum(pairs for pairs, _ in used)
    return sum(pairs * rho for pairs, rho in used) / total


def _seen_text(stats: ViewStats) -> str:
    share = stats.in_image / stats.scan_points if stats.scan_points else 0.0
    low = stats.near_low_share
    nearest = "" if math.isnan(low) else f", the nearest {stats.near} with {low:.0%} in the lower half of the image"
    return f"{stats.in_image} of {stats.scan_points} scan points looked at in the image ({share:.1%}){nearest}"


def _plane_rms_m(points: npt.NDArray[np.floating]) -> float:
    """RMS distance (metres) of ``points`` ((N, 3), N >= 3) from their best-fitting plane through the origin."""
    smallest = np.linalg.svd(np.asarray(points, dtype=np.float64), compute_uv=False)[-1]
    return float(smallest) / math.sqrt(points.shape[0])


def _angle_deg(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Angle of the rotation between two (3, 3) rotation matrices, degrees."""
    cos = (float(np.trace(a.T @ b)) - 1.0) / 2.0
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def _valid_subsample(points: npt.NDArray[np.floating], max_points: int) -> npt.NDArray[np.floating]:
    """Finite, non-zero rows of ``points``, subsampled by a stride to at most ``max_points``."""
    stride = max(1, math.ceil(points.shape[0] / (2 * max_points)))  # twice: about half the rows are invalid at most
    sub = points[::stride]
    x, y, z = sub[:, 0], sub[:, 1], sub[:, 2]  # per column: no (N, 3) temporaries, no reductions across a row
    valid = np.isfinite(x) & np.isfinite(y) & np.isfinite(z) & ((x != 0) | (y != 0) | (z != 0))
    kept: npt.NDArray[np.floating] = sub[valid]
    return kept[:: max(1, math.ceil(kept.shape[0] / max_points))]
