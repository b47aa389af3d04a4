"""Temporal filter on a log quantity (log-scale), with innovation gating and re-initialisation.

A one-state Kalman filter on ``x = log(scale)``: a random walk between frames (variance grows by
``process_noise_per_s · dt``) and a measurement per fitted frame with variance
``max(fit sigma, measurement_floor)²``. The floor stands for the errors that do not shrink with more points
(the network's low-frequency error, extrinsic error), so a 20 000-point fit is not believed to 0.1 %.

Innovation gating: a measurement whose normalised innovation ``ν² / S`` exceeds ``gate_sigma²`` is rejected,
so one bad frame cannot move the scale. A *real* change (new scene, re-normalised model) produces rejected
measurements that agree with each other: after ``reinit_after`` consecutive rejections whose spread is below
``reinit_spread``, the filter restarts at their median. A real change is therefore followed after
``reinit_after`` frames, while isolated outliers are ignored. A change that goes on (a zoom, a drifting model) gives
rejections on one side of the estimate that move the same way, each within ``reinit_spread`` of the one before:
those restart the filter at the newest of them (their median would already be a frame behind). Without this, a scale
moving by more than ``reinit_spread / (reinit_after - 1)`` per frame (5 % at the defaults) was never followed while
it moved: every measurement was rejected, however long it lasted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise

from mono_depth_ros.core.errors import ConfigError


@dataclass(frozen=True)
class FilterConfig:
    """Log-scale filter settings (log units: 0.01 ≈ 1 %).

    Attributes:
        process_noise_per_s: variance added to the log-scale per second (random-walk density).
        measurement_floor: smallest 1σ of a single frame's log-scale measurement.
        initial_sigma_floor: smallest 1σ right after (re-)initialisation.
        gate_sigma: innovation gate in standard deviations.
        reinit_after: consecutive rejected, mutually consistent measurements that restart the filter.
        reinit_spread: largest max-min spread (log) of those measurements to count as consistent (a step), or
            largest step between consecutive ones that all move one way on one side of the estimate (a trend).
    """

    process_noise_per_s: float = 1e-3
    measurement_floor: float = 0.03
    initial_sigma_floor: float = 0.05
    gate_sigma: float = 3.0
    reinit_after: int = 3
    reinit_spread: float = 0.1

    def __post_init__(self) -> None:
        if self.process_noise_per_s < 0 or self.measurement_floor <= 0 or self.gate_sigma <= 0:
            msg = f"filter needs process_noise_per_s >= 0, measurement_floor > 0 and gate_sigma > 0, got {self}"
            raise ConfigError(msg)
        if self.reinit_after < 1:
            msg = f"reinit_after must be >= 1, got {self.reinit_after}"
            raise ConfigError(msg)


class UpdateOutcome(str, Enum):
    """What happened to a measurement."""

    INITIALISED = "initialised"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REINITIALISED = "reinitialised"


@dataclass(frozen=True)
class FilterUpdate:
    """Result of :meth:`LogScaleFilter.update`.

    Attributes:
        outcome: see :class:`UpdateOutcome`.
        innovation: measurement minus prediction (log units); 0 when initialising.
        normalised_innovation: ``|ν| / sqrt(S)`` (standard deviations).
    """

    outcome: UpdateOutcome
    innovation: float
    normalised_innovation: float

    @property
    def used(self) -> bool:
        """True when the measurement changed the state (not rejected)."""
        return self.outcome is not UpdateOutcome.REJECTED


@dataclass
class LogScaleFilter:
    """Kalman filter on a log quantity with innovation gating (see the module docstring).

    Times are int nanoseconds; a stamp earlier than the last one adds no process noise (out-of-order frames).
    """

    config: FilterConfig = field(default_factory=FilterConfig)
    _x: float = math.nan
    _p: float = math.inf
    _stamp_ns: int | None = None
    _last_update_ns: int | None = None
    _rejected: list[float] = field(default_factory=list)

    @property
    def initialised(self) -> bool:
        """True once a measurement has been accepted."""
        return math.isfinite(self._x)

    @property
    def value(self) -> float:
        """Current log estimate (NaN before initialisation)."""
        return self._x

    @property
    def sigma(self) -> float:
        """Current 1σ of the log estimate (inf before initialisation)."""
        return math.sqrt(self._p)

    @property
    def last_update_ns(self) -> int | None:
        """Stamp of the last measurement that was used (not rejected), or None."""
        return self._last_update_ns

    @property
    def pending_rejections(self) -> int:
        """Consecutive rejected measurements so far."""
        return len(self._rejected)

    def reset(self) -> None:
        """Forget everything."""
        self._x, self._p = math.nan, math.inf
        self._stamp_ns = self._last_update_ns = None
        self._rejected.clear()

    def predict(self, stamp_ns: int) -> None:
        """Advance the random walk to ``stamp_ns`` (variance grows; the estimate does not change)."""
        if self._stamp_ns is not None and self.initialised:
            dt_s = max(stamp_ns - self._stamp_ns, 0) * 1e-9
            self._p += self.config.process_noise_per_s * dt_s
        if self._stamp_ns is None or stamp_ns > self._stamp_ns:
            self._stamp_ns = stamp_ns

    def update(self, measurement: float, sigma: float, stamp_ns: int) -> FilterUpdate:
        """Predict to ``stamp_ns`` and fuse one log measurement with 1σ ``sigma`` (floored).

        Returns:
            What happened; on rejection the state is unchanged.
        """
        self.predict(stamp_ns)
        r = max(sigma, self.config.measurement_floor) ** 2
        if not self.initialised:
            self._start(measurement, r, stamp_ns)
            return FilterUpdate(UpdateOutcome.INITIALISED, 0.0, 0.0)
        innovation = measurement - self._x
        s = self._p + r
        normalised = abs(innovation) / math.sqrt(s)
        if normalised <= self.config.gate_sigma:
            gain = self._p / s
            self._x += gain * innovation
            self._p *= 1.0 - gain
            self._last_update_ns = stamp_ns
            self._rejected.clear()
            return FilterUpdate(UpdateOutcome.ACCEPTED, innovation, normalised)
        self._rejected.append(measurement)
        restart = self._restart_value(self._rejected[-self.config.reinit_after :])
        if restart is not None:
            self._start(restart, r, stamp_ns)
            return FilterUpdate(UpdateOutcome.REINITIALISED, innovation, normalised)
        return FilterUpdate(UpdateOutcome.REJECTED, innovation, normalised)

    def _restart_value(self, recent: list[float]) -> float | None:
        """Where consecutive rejected measurements restart the filter (None: too few, or not a real change).

        Measurements within ``reinit_spread`` of each other are a step: their median. Measurements on one side of the
        estimate that move one way, each within ``reinit_spread`` of the previous one, are a change still going on:
        the newest.
        """
        spread = self.config.reinit_spread
        if len(recent) < self.config.reinit_after:
            return None
        if max(recent) - min(recent) <= spread:
            return sorted(recent)[len(recent) // 2]
        steps = [later - earlier for earlier, later in pairwise(recent)]
        one_way = all(step > 0 for step in steps) or all(step < 0 for step in steps)
        one_side = all(m > self._x for m in recent) or all(m < self._x for m in recent)
        if one_way and one_side and max(abs(step) for step in steps) <= spread:
            return recent[-1]
        return None

    def _start(self, measurement: float, r: float, stamp_ns: int) -> None:
        self._x = measurement
        self._p = max(r, self.config.initial_sigma_floor**2)
        self._last_update_ns = stamp_ns
        self._rejected.clear()
