"""Temporal depth filter: the previous metric depth, moved by the camera motion, blended with the new one per pixel.

Each frame, every pixel of the new depth ``d`` (metres along the optical z axis) is back-projected, moved into the
previous camera with ``prev_from_cur`` (from the two camera poses in a fixed frame), and the filtered previous depth
is sampled there (bilinear in inverse depth, exact on planes; all four neighbours must be valid). That previous
point, moved back into the current camera, gives the prior ``p`` (its z) and its weight ``w`` (frames averaged so
far). The relative disagreement ``r = (d - p) / d`` decides:

* the median ``s`` of ``r`` over the frame, when it is within ``agreement``, is the frame's change of scale (scale
  recovery's business, not motion): it is taken out of ``r`` for the tests below, and the prior follows the running
  mean of ``s`` (half the last one, half this one), so that a steady scale trend is followed while frame-to-frame
  scale jitter is averaged; a larger ``s`` (a scale jump) restarts every pixel. When scale recovery refits a scale
  *and a shift* every frame (:class:`FrameChange`, from the output kind), the frame's change is modelled as
  ``r ≈ c + b x``: ``x = 1 / p`` (``b`` in metres) for a shift in depth (``depth = s · prediction + t``:
  ``affine_depth``), ``x = p`` (``b`` in metres⁻¹) for a shift in inverse depth (``1 / depth = s · prediction + t``:
  ``relative_inverse``, exact there: a refit that moves ``t`` by ``δ`` and the scale by a factor ``a`` gives
  ``r = (1 - a) - δ p``). ``c`` and ``b`` come from a resistant line (Tukey's: medians of the lowest and highest
  thirds of ``x`` over a subsample, over its ``r`` within ``agreement`` of the median; no least-squares leverage, so
  a few far pixels, up to thousands of metres before the range limits, tilt it no more than any others) of ``r``
  against the prior's ``x`` (not the new depth's, which holds this frame's noise as ``r`` does: the line leant along
  it), with no slope when the thirds' ``x`` differ by no more than ``LINE_SPREAD_FACTOR · agreement`` of the lowest
  third's (the thirds' depths differ by less than a factor ``1 + LINE_SPREAD_FACTOR · agreement`` in either form: a
  wall at one depth, where the prior's noise lies along a refit's line); ``c + b x`` is taken out of ``r`` and the
  prior ``p`` becomes ``p / (1 - (C + B x))``, ``C`` and ``B`` the running means of ``c`` and ``b`` (a pixel where
  ``1 - (C + B x)`` is not above ``MIN_FOLLOW``, the line extrapolated far past the depths it was fitted over, such as
  a prior km away against ``x = p``, restarts: at or below 0 that prior flipped its sign). A refit that
  trades scale for shift in depth changes the near field most (0.4 m of shift is 13 % at 3 m and 1 % at 30 m), one in
  inverse depth the far field (0.003 m⁻¹ is 1 % at 3 m and 9 % at 30 m): the median alone took out the change at the
  median depth, and the rest, restarted, kept its jumps. **Limit:** an object that moves by less than ``agreement`` a
  frame and fills half of the near (or far) third of the pixels tilts the line: the static pixels then take up to its
  motion (a static plane with 1 % noise: 0.6-1.3 % error instead of 0.3-0.4 % beside an object approaching 5 % a
  frame);
* agree: ``|r| < OUTLIER_FACTOR · agreement`` and ``m``, the mean of ``r`` over a ``WINDOW_PX`` window of usable
  pixels, within ``agreement`` (a surface that moved shifts the window mean; pixel noise averages out in it). The
  history then keeps ``w' = min(w, max_weight - 1) · (1 - (m / agreement)²)`` (full trust when the window agrees
  exactly, none at the threshold: no step between blending and restarting), times ``1 - (2 D / agreement)²`` where
  the drift ``D`` (carried with the history, halved each frame, plus half of this frame's ``m``) catches a surface
  that moves slowly but steadily: each frame alone agrees, while its lag adds up in ``D`` (noise does not). The
  output is ``(w' p + d) / (w' + 1)`` and the pixel's weight becomes ``w' + 1``;
* otherwise (a moving object, a disocclusion, a pixel that left the view or had no valid history): the output is
  the new depth itself and the weight restarts at 1. A moving object therefore follows within the frame it moves,
  as long as its own motion changes its depth by more than about ``agreement`` between two frames (a car driving at
  12 m/s moves 1.2 m per frame at 10 Hz: with ``agreement`` 0.08, up to 1.2 / 0.08 = 15 m away); slower steady
  motion is partly averaged for the few frames its drift ``D`` takes to reach ``agreement / 2``.

Without a camera pose (TF missing), after a change of intrinsics (a corner's ray moved by more than
``SAME_GEOMETRY_PX``: another size, a zoom, a recalibration), or on the first frame, the new depth passes
through unchanged and the history restarts from it. Invalid depths (NaN, ±Inf, <= 0) pass through as they are and
hold no history. Vectorised torch on any device (the network's): :meth:`TemporalFilter.update` takes and returns
numpy (the host road), :meth:`TemporalFilter.update_tensor` a tensor that stays on the device (the device road).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.geometry import RigidTransform

WINDOW_PX = 5  # side of the window whose mean disagreement tells a moved surface from pixel noise
OUTLIER_FACTOR = 3.0  # a single pixel further than this many ``agreement`` from its prior always restarts
DRIFT_FACTOR = 0.5  # a pixel whose drift (below) reaches this many ``agreement`` has no trust left
MEDIAN_STRIDE = 7  # the frame's median residual from every 7th usable pixel
LINE_SPREAD_FACTOR = 4.0  # a shift's line: a slope only when the thirds' depths differ by this many ``agreement``
MIN_FOLLOW = 0.5  # a shift's line: a pixel whose followed prior p / (1 - (C + B x)) would be over 1 / MIN_FOLLOW · p
# (or past infinity: a sign flip) restarts; the line extrapolated far beyond the depths it was fitted over
SAME_GEOMETRY_PX = 0.1  # new intrinsics that move no corner's ray by more than this (pixels) keep the history: an
# online calibration refining K by 1e-6 a frame (a 1242-wide image: 6e-4 px) restarted it every frame, never filtering


@dataclass(frozen=True)
class TemporalFilterConfig:
    """Filter settings (parameters ``temporal.agreement`` and ``temporal.max_weight``).

    Attributes:
        agreement: relative depth difference (window mean) up to which the prior and the new depth are taken as
            the same static surface; larger differences restart the pixel from the new depth.
        max_weight: the most frames a pixel's average holds (1 = no filtering; 8 ≈ an exponential average with
            1/8 weight on the new frame once settled).
    """

    agreement: float = 0.08
    max_weight: float = 8.0

    def __post_init__(self) -> None:
        if not 0.0 < self.agreement < 1.0 or not self.max_weight >= 1.0:
            msg = (
                f"temporal filter needs 0 < agreement < 1 and max_weight >= 1, got agreement={self.agreement}, "
                f"max_weight={self.max_weight}; set temporal.agreement / temporal.max_weight"
            )
            raise ConfigError(msg)


class FrameChange(str, Enum):
    """How scale recovery's refit changes a whole frame's depth (taken out of the residual ``r = (d - p) / d`` of the
    new depth ``d`` against its prior ``p`` before the per-pixel tests; module docstring)."""

    SCALE = "scale"  # depth = s · x (metric, depth_up_to_scale): r ≈ c
    SHIFT_IN_DEPTH = "shift_in_depth"  # depth = s · x + t (affine_depth): r ≈ c + b / p, b in metres
    SHIFT_IN_INVERSE = "shift_in_inverse"  # 1 / depth = s · x + t (relative_inverse): r ≈ c + b · p, b in 1 / m

    @classmethod
    def of(cls, kind: OutputKind) -> FrameChange:
        """The change of a map of ``kind`` whose scale recovery refits every frame (``fit_for_kind``)."""
        if kind is OutputKind.AFFINE_DEPTH:
            return cls.SHIFT_IN_DEPTH
        if kind is OutputKind.RELATIVE_INVERSE:
            return cls.SHIFT_IN_INVERSE
        return cls.SCALE


class TemporalState(str, Enum):
    """What the filter did with one frame."""

    FILTERED = "filtered"  # blended with the warped history
    STARTED = "started"  # first frame, new intrinsics or a reset: history restarts from this frame
    NO_MOTION = "no_motion"  # no camera pose for this frame (TF missing): passed through, history restarts


@dataclass(frozen=True)
class TemporalStep:
    """One filtered frame.

    Attributes:
        depth_m: (H, W) float32 metres, optical frame; invalid values exactly as in the input.
        state: :class:`TemporalState`.
        kept_share: share of the valid pixels blended with their history (0 unless ``FILTERED``).
    """

    depth_m: npt.NDArray[np.float32]
    state: TemporalState
    kept_share: float


class TemporalFilter:
    """Per-pixel temporal filter of metric depth (see the module docstring).

    Args:
        config: agreement threshold and maximum weight.
        device: where the history lives and the maths runs (the network's device).
    """

    def __init__(self, config: TemporalFilterConfig | None = None, device: torch.device | str = "cpu") -> None:
        self.config = config or TemporalFilterConfig()
        self.device = torch.device(device)
        self._depth: torch.Tensor | None = None  # (H, W) filtered depth of the last frame, NaN where invalid
        self._weight: torch.Tensor | None = None  # (H, W) frames averaged per pixel, 0 where invalid
        self._drift: torch.Tensor | None = None  # (H, W) running mean of the window disagreement m, 0 on restart
        self._world_from_cam: RigidTransform | None = None
        self._intrinsics: PinholeIntrinsics | None = None
        self._rays: torch.Tensor | None = None  # (3, H, W) K⁻¹ [u, v, 1]
        self._scale_drift = 0.0  # running mean of the frame's median disagreement (its scale change)
        self._shift_drift = 0.0  # running mean of the frame's b (a shift's change c + b x: x = 1 / p or p)
        self._change = FrameChange.SCALE  # the model of the last frame's change

    def reset(self) -> None:
        """Forget the history (the next frame passes through and restarts it)."""
        self._depth = self._weight = self._drift = self._world_from_cam = None
        self._scale_drift = self._shift_drift = 0.0

    def update(
        self,
        depth_m: npt.NDArray[np.floating],
        intrinsics: PinholeIntrinsics,
        world_from_cam: RigidTransform | None,
        change: FrameChange = FrameChange.SCALE,
    ) -> TemporalStep:
        """Filter one frame.

        Args:
            depth_m: (H, W) metres along the optical z axis; NaN / ±Inf / <= 0 invalid.
            intrinsics: pinhole intrinsics of ``depth_m`` (pixels).
            world_from_cam: the camera pose (optical frame → a fixed frame such as ``odom``) at the image stamp, or
                None when it is unknown (the frame then passes through).
            change: how this frame's scale recovery refit changes the whole frame (:meth:`FrameChange.of` the
                output kind): a scale alone, or a scale and a shift in depth or in inverse depth (module docstring).

        Raises:
            ShapeError: ``depth_m`` is not (H, W) of the intrinsics' size.
        """
        if depth_m.ndim != 2:
            msg = f"temporal filter: depth must be (H, W), got shape {depth_m.shape}"
            raise ShapeError(msg)
        depth = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32))
        out, state, share = self.update_tensor(depth, intrinsics, world_from_cam, change)
        if state is not TemporalState.FILTERED:  # passed through: the input itself
            return TemporalStep(np.asarray(depth_m, dtype=np.float32), state, 0.0)
        return TemporalStep(out.cpu().numpy().astype(np.float32, copy=False), state, share)

    def update_tensor(
        self,
        depth_m: torch.Tensor,
        intrinsics: PinholeIntrinsics,
        world_from_cam: RigidTransform | None,
        change: FrameChange = FrameChange.SCALE,
    ) -> tuple[torch.Tensor, TemporalState, float]:
        """:meth:`update` on a tensor, for a map that stays on the network's device (``output.device_postprocess``).

        Args:
            depth_m: (H, W) float32 metres on any device (moved to the filter's device when it is elsewhere).
            intrinsics, world_from_cam, change: as for :meth:`update`.

        Returns:
            (filtered (H, W) float32 tensor on the filter's device, state, kept share); passed through (not
            ``FILTERED``): the input tensor itself.

        Raises:
            ShapeError: ``depth_m`` is not (H, W) of the intrinsics' size.
        """
        if depth_m.ndim != 2:
            msg = f"temporal filter: depth must be (H, W), got shape {tuple(depth_m.shape)}"
            raise ShapeError(msg)
        intrinsics.check_image_size(int(depth_m.shape[1]), int(depth_m.shape[0]), what="depth image")
        depth = depth_m.to(self.device, torch.float32)
        valid = torch.isfinite(depth) & (depth > 0)
        if self._intrinsics is None or _moved_px(self._intrinsics, intrinsics) > SAME_GEOMETRY_PX:
            self._intrinsics, self._rays = intrinsics, _rays(intrinsics, self.device)  # kept while the history
            self.reset()  # rests on them: refinements that add up to SAME_GEOMETRY_PX restart it
        if world_from_cam is None or self._depth is None or self._world_from_cam is None:
            state = TemporalState.NO_MOTION if world_from_cam is None else TemporalState.STARTED
            self._remember(torch.where(valid, depth, torch.nan), valid.float(), torch.zeros_like(depth), world_from_cam)
            return depth_m, state, 0.0
        prev_from_cur = self._world_from_cam.inverse() @ world_from_cam
        prior, weight, drift, usable = self._warp_history(depth, valid, prev_from_cur)
        residual = torch.where(usable, (depth - prior) / depth, torch.zeros_like(depth))
        prior, residual, followable = self._take_out_frame_change(prior, residual, usable, change)
        agreement = self.config.agreement
        window_mean = _window_mean(residual, usable.float())
        agree = followable & (residual.abs() < OUTLIER_FACTOR * agreement) & (window_mean.abs() < agreement)
        drift = torch.where(agree, 0.5 * (drift + window_mean), 0.0)  # steady slow motion adds up here; noise not
        trust = (1.0 - (window_mean / agreement) ** 2).clamp(min=0.0)
        trust *= (1.0 - (drift / (DRIFT_FACTOR * agreement)) ** 2).clamp(min=0.0)
        kept = torch.where(agree, weight.clamp(max=self.config.max_weight - 1.0) * trust, torch.zeros_like(depth))
        blended = (kept * torch.where(agree, prior, torch.zeros_like(depth)) + depth) / (kept + 1.0)
        out = torch.where(valid, blended, depth)
        self._remember(torch.where(valid, out, torch.nan), torch.where(valid, kept + 1.0, 0.0), drift, world_from_cam)
        n_valid, n_agree = torch.stack([valid.sum(), agree.sum()]).tolist()  # one read-back for both
        share = n_agree / n_valid if n_valid else 0.0
        return out, TemporalState.FILTERED, share

    def _take_out_frame_change(
        self, prior: torch.Tensor, residual: torch.Tensor, usable: torch.Tensor, change: FrameChange
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(the prior moved by the followed frame change, the residual ``r`` less this frame's change, the usable
        pixels whose prior may be blended), each (H, W); all as they were after a jump (the frame's median ``r``
        beyond ``agreement``: every pixel restarts). With a shift, a pixel whose followed factor ``1 - (C + B x)`` is
        not above ``MIN_FOLLOW`` (a far prior against ``x = p``, a near one against ``1 / p``: at or past 0 the prior
        would flip its sign or be infinite) restarts from the new depth; its residual still counts in its window."""
        if change is not self._change:  # another model of the change: its followed shift means something else
            self._change, self._shift_drift = change, 0.0
        agreement = self.config.agreement
        sample = residual[usable][::MEDIAN_STRIDE]  # a subsample
        shift = float(sample.median()) if sample.numel() else 0.0
        if not abs(shift) < agreement:
            self._scale_drift = self._shift_drift = 0.0  # a jump: every pixel restarts
            return prior, residual, usable
        # the whole frame's change is scale recovery's business, not motion:
        frame_change: float | torch.Tensor = shift
        follow_shift: float | torch.Tensor = 0.0
        if change is not FrameChange.SCALE:  # a refitted scale and shift: r ≈ c + b x
            # over the samples within agreement of the median: an object moving faster (its window restarts it)
            # that fills the near or far third would tilt the line, blend as a refit and bias the static pixels
            near_median = (sample - shift).abs() < agreement
            in_depth = change is FrameChange.SHIFT_IN_DEPTH
            x_sample = prior[usable][::MEDIAN_STRIDE]
            x_sample = (1.0 / x_sample if in_depth else x_sample)[near_median]
            shift, slope = _resistant_line(x_sample, sample[near_median], LINE_SPREAD_FACTOR * agreement)
            x = torch.where(usable, 1.0 / prior if in_depth else prior, torch.zeros_like(prior))
            self._shift_drift = 0.5 * (self._shift_drift + slope)
            frame_change, follow_shift = shift + slope * x, self._shift_drift * x
        else:
            self._shift_drift = 0.0
        self._scale_drift = 0.5 * (self._scale_drift + shift)  # the history follows a trend, averages jitter
        followed = 1.0 - (self._scale_drift + follow_shift)  # > 1 - agreement with a scale alone
        followable = usable & (followed > MIN_FOLLOW) if change is not FrameChange.SCALE else usable
        return prior / followed, torch.where(usable, residual - frame_change, residual), followable

    def _remember(
        self, depth: torch.Tensor, weight: torch.Tensor, drift: torch.Tensor, world_from_cam: RigidTransform | None
    ) -> None:
        self._depth, self._weight, self._drift, self._world_from_cam = depth, weight, drift, world_from_cam

    def _warp_history(
        self, depth: torch.Tensor, valid: torch.Tensor, prev_from_cur: RigidTransform
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(prior depth, its weight, its drift, usable mask), each (H, W), of the history seen from the current
        camera."""
        assert self._depth is not None and self._weight is not None and self._rays is not None  # by update
        assert self._drift is not None
        assert self._intrinsics is not None
        k = self._intrinsics
        height, width = depth.shape
        rotation = torch.as_tensor(prev_from_cur.rotation, dtype=torch.float32, device=self.device)
        translation = torch.as_tensor(prev_from_cur.translation, dtype=torch.float32, device=self.device)
        points = self._rays * torch.where(valid, depth, torch.zeros_like(depth))  # (3, H, W) current optical frame
        in_prev = torch.einsum("ij,jhw->ihw", rotation, points) + translation[:, None, None]
        z_prev = in_prev[2]
        in_front = valid & (z_prev > 1e-3)
        safe_z = torch.where(in_front, z_prev, torch.ones_like(z_prev))
        u = k.fx * in_prev[0] / safe_z + k.cx
        v = k.fy * in_prev[1] / safe_z + k.cy
        grid = torch.stack([2.0 * u / max(width - 1, 1) - 1.0, 2.0 * v / max(height - 1, 1) - 1.0], dim=-1)
        history_valid = torch.isfinite(self._depth)
        inverse = torch.where(history_valid, 1.0 / self._depth, 0.0)  # linear in pixels on a plane: exact there
        stacked = torch.stack([inverse, self._weight, history_valid.float(), self._drift])
        sampled = F.grid_sample(stacked[None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)
        prev_inverse, weight, coverage, drift = sampled[0, 0], sampled[0, 1], sampled[0, 2], sampled[0, 3]
        usable = in_front & (coverage > 0.999) & (prev_inverse > 0)
        prev_depth = 1.0 / torch.where(usable, prev_inverse, torch.ones_like(prev_inverse))
        # the previous point at (u, v), moved back into the current camera: its z is the prior
        ray_prev = torch.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, torch.ones_like(u)]) * prev_depth
        prior = torch.einsum("ji,jhw->ihw", rotation, ray_prev - translation[:, None, None])[2]
        usable &= prior > 0
        return prior, weight, drift, usable


def _rays(intrinsics: PinholeIntrinsics, device: torch.device) -> torch.Tensor:
    """(3, H, W) float32 ``K⁻¹ [u, v, 1]`` (optical frame; z = 1)."""
    v, u = torch.meshgrid(
        torch.arange(intrinsics.height, dtype=torch.float32, device=device),
        torch.arange(intrinsics.width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, torch.ones_like(u)])


def _moved_px(old: PinholeIntrinsics, new: PinholeIntrinsics) -> float:
    """How far (pixels) the ray of an image corner under ``old`` lands from that corner under ``new``, the most of
    the four; inf for another image size."""
    if (old.width, old.height) != (new.width, new.height):
        return math.inf
    moved = 0.0
    for u in (0.0, old.width - 1.0):
        for v in (0.0, old.height - 1.0):
            du = new.fx * (u - old.cx) / old.fx + new.cx - u
            dv = new.fy * (v - old.cy) / old.fy + new.cy - v
            moved = max(moved, math.hypot(du, dv))
    return moved


def _resistant_line(x: torch.Tensor, y: torch.Tensor, min_spread: float) -> tuple[float, float]:
    """``(c, b)`` of Tukey's resistant line ``y ≈ c + b x`` over 1-D samples (``x > 0``): ``b`` through the medians
    of the lowest and highest thirds of ``x`` (and of their ``y``), ``c`` the median of ``y - b x``; ``(median y, 0)``
    with fewer than 9 samples or when the thirds' ``x`` differ by no more than ``min_spread`` (relative to the lowest
    third's). Outliers (a moving object) move it no more than they move a median, and a few samples at an extreme
    ``x`` (far pixels against ``x = p``) no more than any others: no least-squares leverage.

    Here ``y = r = 1 - p / d`` and ``x = 1 / p`` or ``p`` (the prior's: it does not hold this frame's noise, as ``d``
    does): the prior's noise moves a pixel along a line of slope ``p`` (against ``1 / p``) or ``-1 / d`` (against
    ``p``), which is a refit's slope for a wall at one depth: without a spread of depth in the scene the line would be
    fitted along that noise."""
    n = int(x.numel())
    if n < 9:
        return (float(y.median()) if n else 0.0), 0.0
    order = torch.argsort(x)
    x, y = x[order], y[order]
    third = n // 3
    x_low, x_high = x[:third].median(), x[-third:].median()
    if not float(x_high - x_low) > min_spread * float(x_low):
        return float(y.median()), 0.0
    slope = (y[-third:].median() - y[:third].median()) / (x_high - x_low)
    return float((y - slope * x).median()), float(slope)


def _window_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(H, W) mean of ``values`` over the masked pixels of each ``WINDOW_PX`` window (0 where none)."""
    sums = _box_sum(_box_sum(torch.stack([values * mask, mask]), dim=1), dim=2)
    return sums[0] / sums[1].clamp(min=1e-6)


def _box_sum(stacked: torch.Tensor, dim: int) -> torch.Tensor:
    """Sums over ``WINDOW_PX`` neighbours along ``dim`` (zeros beyond the border), by a cumulative sum: O(N)."""
    pad = WINDOW_PX // 2
    padding = [0, 0, 0, 0]
    padding[2 * (stacked.ndim - 1 - dim) : 2 * (stacked.ndim - dim)] = [pad + 1, pad]
    total = F.pad(stacked, padding).cumsum(dim)
    length = stacked.shape[dim]
    return total.narrow(dim, WINDOW_PX, length) - total.narrow(dim, 0, length)
