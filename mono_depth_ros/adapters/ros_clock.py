"""The node's ROS clock while a bag plays (``ros2 bag play --clock`` with ``use_sim_time``: ``--loop``, ``--rate``).

* :class:`PlayedClock`: the clock of the waits for a LiDAR scan and for TF (``lidar.wait_s``): it follows the ROS
  clock while that moves (the bag's played time, slowed or sped by ``--rate``), the steady clock while it stands
  still (no ``/clock``, a paused player). On the steady clock alone, a scan recorded 30 ms after its image came
  0.3 s later at ``--rate 0.1``, past the 0.2 s wait: the frame went on with the scan before (the depth 12-29 % off
  the bag runner's).
* :class:`PlayedPeriod`: a period of played time that survives the clock going back. A ROS-time timer
  (``Node.create_timer`` on the node's clock) is restarted by rcl whenever the clock jumps back before its last call:
  with a looped bag shorter than the period it never fired (the node published no ``/diagnostics`` while its depth
  flowed), and a longer bag lost a period at every pass. It is polled instead, from a timer on the steady clock, and
  counts played time: that of every pass adds up. A clock that stands still (a bag that ended or is paused, no
  ``/clock``) stopped a ROS-time timer, and the last status, from before the last frames, stayed the node's word
  (frames_published 5 of 10): played time goes on with the steady clock then.
* :class:`ClockWentBack`: the ROS clock going back (``--loop``, a simulator reset) is a new start. Stamps alone must
  go back more than :data:`~mono_depth_ros.core.scale.recovery.TIME_JUMP_BACK_NS` (1 s) to reset the scale filter:
  a recording with a single late stamp is no reset. A bag shorter than that, looped, went back less at every pass,
  and the scale filter carried the last pass's state into the next (the second pass's depth 4 % off the first's, and
  off the bag runner's). The ROS clock itself going back is no late stamp: tf2_ros' C++ buffer clears itself on any
  jump back of its clock. It hears the node clock's jumps back (an rclpy jump callback) and tells the worker, at the
  first frame stamped before the frame it processed last (frames of the old pass still in flight are not the new
  start), to forget what the pipeline holds of time (``on_new_pass``). Each jump, of the clock or of the stamps alone
  (more than ``TIME_JUMP_BACK_NS``, where the pipeline, TF buffer, LiDAR pairing and ApproximateTime watch forget
  their state on their own), is warned once at its first frame: the state restarted without a word before.
* :class:`ClockSteps`: how far the ROS clock steps at each ``/clock`` message (``use_sim_time``). The node clock is
  the last ``/clock``: images captured since (``ros2 bag play --clock`` publishes it at 40 Hz of wall time, 1.25 s of
  bag time apart at ``--rate 50``; a simulator publishing it under 1 Hz) are stamped after it by up to one step, which
  is no camera clock ahead of the node's (:meth:`~mono_depth_ros.adapters.stats.RuntimeStats.frame_published_at`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from mono_depth_ros.adapters.log_throttle import ReasonThrottle
from mono_depth_ros.adapters.stats import CLOCK_STANDS, MAX_STAMP_OFFSET_S, NS_PER_S
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold

POLL_S = 0.05  # how often the steady timer polls the ROS clock (without /clock PlayedPeriod's waits longer)
SLACK_NS = 10_000_000  # PlayedPeriod's timer wakes this long after the call is due (not just before it)
STALL_NS = 250_000_000  # the ROS clock unchanged this long (steady): stopped, the steady clock counts instead
LEAP_NS = 1_000_000_000  # a step of the ROS clock further forward than this (a first /clock) counts as no time,
MAX_RATE = 100  # unless it is at most this times the steady time it took, since the last (ros2 bag play --rate 50)
RECENT_STEPS = 16  # ClockSteps: the steps of /clock its step is the largest of (0.4 s at 40 Hz, 32 s at 0.5 Hz)
FIRST_STEP_WAIT_S = 30.0  # ClockSteps: wall time after the first /clock with no step: the clock stands (paused)
CLOCK_CHANGES = ("ROS_TIME_ACTIVATED", "ROS_TIME_DEACTIVATED")  # rclpy's ClockChange names: use_sim_time set anew
JUMP_LOG_PERIOD_S = 5.0  # ClockWentBack: one warning of a jump back per this many s (a 0.2 s bag looped: 5 a second)
BY_CLOCK = (
    "the ROS clock went back too: use_sim_time with ros2 bag play --clock --loop, a bag played again, a simulator reset"
)
BY_STAMPS = "a bag played with --loop or again without --clock, a simulator reset, a camera driver restarted"


class PlayedClock:
    """Monotonic int ns for waits measured in played time: the ROS clock's steps forward while it moves, the steady
    clock's time while it has stood still :data:`STALL_NS` or more. Steps back count as no time, and so do leaps
    forward over :data:`LEAP_NS` and over :data:`MAX_RATE` times the steady time since the ROS clock last moved, or
    after a read saw it stand :data:`STALL_NS` (a first ``/clock``, a paused player seeking on, whose standing the
    steady clock counted; not a bag played fast, nor the system time read once a second, which moved at every read).
    That is the step's own time, not the time since the last read: read at every message of a 10 Hz camera and
    LiDAR played at ``--rate 50`` (every 1 ms), each 1.25 s step of ``/clock`` (40 Hz) was over 100 times the 1 ms
    since the read before, taken as a leap, and the played time stood at 0: frames waiting for a scan after the
    LiDAR stopped went on only when 64 were held ("went on 0.000 s after it came"), never with ``lidar.wait_s``.
    Thread-safe.

    Args:
        clock: the ROS clock: ``clock.now().nanoseconds`` (the node's ``get_clock()``; without ``use_sim_time``
            the system time, which moves as the steady clock does).
        steady_ns: the steady clock, int ns (injectable for tests).
    """

    def __init__(self, clock: Any, steady_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock
        self._steady_ns = steady_ns
        self._lock = threading.Lock()
        self._last: tuple[int, int] | None = None  # (ROS ns, steady ns) at the last read
        self._moved_ns = 0  # steady ns when the ROS clock last moved
        self._value = 0

    def now_ns(self) -> int:
        """The played time so far (ns since the first call)."""
        with self._lock:
            ros, steady = int(self._clock.now().nanoseconds), int(self._steady_ns())
            if self._last is None:
                self._last, self._moved_ns = (ros, steady), steady
                return self._value
            last_ros, last_steady = self._last
            if ros != last_ros:
                took = steady - self._moved_ns  # the step's own time, however often read
                stood = last_steady - self._moved_ns >= STALL_NS  # seen standing: the steady time counted meanwhile
                self._moved_ns = steady
                step = ros - last_ros
                leap = step > LEAP_NS and (stood or step > MAX_RATE * took)
                self._value += step if step > 0 and not leap else 0
            elif steady - self._moved_ns >= STALL_NS:  # stopped: the steady time since it was taken as stopped
                self._value += steady - max(last_steady, self._moved_ns + STALL_NS)
            self._last = (ros, steady)
            return self._value


class PlayedPeriod:
    """Calls ``action`` once per ``period_s`` of played time (:class:`PlayedClock`); :meth:`poll` it from a steady
    timer (every :data:`POLL_S`).

    Args:
        period_s: seconds of played time between calls (> 0).
        clock: the ROS clock: ``clock.now().nanoseconds`` (the node's ``get_clock()``, which follows
            ``use_sim_time``).
        action: what to do once a period (e.g. publish ``/diagnostics``).
        steady_ns: the steady clock, int ns (injectable for tests).

    Time going back counts as no time (a loop's new pass goes on counting from where the last one stopped); a
    clock that stands still (a paused or ended bag, no ``/clock``) gives way to the steady clock: the calls go on,
    a period of wall time apart.
    """

    def __init__(
        self, period_s: float, clock: Any, action: Callable[[], Any], steady_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        if not period_s > 0.0:
            msg = f"period {period_s} s must be > 0"
            raise ConfigError(msg)
        self._period_ns = round(period_s * 1e9)
        self._played = PlayedClock(clock, steady_ns)
        self._clock = clock
        self._action = action
        self._next_ns = self._played.now_ns() + self._period_ns
        self._timer: Any = None  # set by polled_by()

    def poll(self) -> bool:
        """Call ``action`` when a period of played time is full since the last call.

        Returns:
            True when ``action`` was called.
        """
        now = self._played.now_ns()
        due = now >= self._next_ns
        if due:
            self._next_ns += self._period_ns  # in step, unless a period was missed: then a period from now
            self._next_ns = self._next_ns if self._next_ns > now else now + self._period_ns
        self._retime(now)
        if due:
            self._action()
        return due

    def polled_by(self, timer: Any) -> Any:
        """Let :meth:`poll` time ``timer`` (rclpy's steady ``Timer`` that calls it: ``timer_period_ns``, ``reset``);
        returns it. Played time is counted from the reads of the ROS clock, so while that clock is ``/clock``
        (``use_sim_time``: a bag that may loop faster than any period) the timer polls every :data:`POLL_S`. Without
        it the ROS clock is the system time, which runs as the steady clock: the timer then waits for the time left
        to the next call (plus :data:`SLACK_NS`, at most a period): one wake-up per period instead of 20 a second
        (each wake-up of rclpy's executor costs ~0.6 ms CPU: most of an idle node's CPU)."""
        self._timer = timer
        self._retime(self._played.now_ns())
        return timer

    def _retime(self, played_ns: int) -> None:
        timer = self._timer
        if timer is None:
            return
        poll_ns = round(POLL_S * 1e9)
        wait = poll_ns  # /clock: read often enough to count every step forward of a short looped bag
        if not getattr(self._clock, "ros_time_is_active", False):
            wait = max(poll_ns, min(self._next_ns - played_ns + SLACK_NS, self._period_ns + SLACK_NS))
        if wait != timer.timer_period_ns:
            timer.timer_period_ns = wait
            timer.reset()  # the new period from now (rcl keeps the next call time set with the old one otherwise)


class ClockWentBack:
    """Marks a jump back of the ROS clock; :meth:`frame` calls ``on_new_pass`` at the first frame of the new pass.

    Args:
        on_new_pass: what to forget (the node: the pipeline's scale and temporal filter state).
        warn: where each jump back is told, once at its first frame (the node's logger's ``warning``): a new pass,
            or image stamps more than :data:`TIME_JUMP_BACK_NS` before the last frame's (the pipeline's own new
            start, with the TF buffer's, LiDAR pairing's and ApproximateTime watch's); at most one line per
            :data:`JUMP_LOG_PERIOD_S` of ``steady_s`` per cause, the next one counting the jumps held back.
        steady_s: monotonic seconds (injectable for tests).
        clock: the ROS clock jumping (``clock.now().nanoseconds``: the node's ``get_clock()``), read at each jump;
            None: the jump's times are not known (a frame going back before the jump is heard is then no new pass).

    Thread-safe: :meth:`on_jump` runs in the executor (with the ``/clock`` message), :meth:`frame` in the worker.

    Attributes:
        new_passes: how many times ``on_new_pass`` was called.
        back_ns: how far (ns) the stamps went back at the frame that began the latest new pass (0: none yet).
    """

    def __init__(
        self,
        on_new_pass: Callable[[], Any],
        warn: Callable[[str], Any] | None = None,
        steady_s: Callable[[], float] = time.monotonic,
        clock: Any = None,
    ) -> None:
        self._on_new_pass = on_new_pass
        self._warn = warn
        self._throttle = ReasonThrottle(JUMP_LOG_PERIOD_S, steady_s)
        self._lock = threading.Lock()
        self._clock = clock
        self._jumped = False  # the clock went back since the last new pass
        self._before_ns: int | None = None  # the clock's time before that jump (None: no clock, or not known)
        self._late: tuple[int, int] | None = None  # (stamp, last) of a new pass that began before its jump was heard
        self._back: tuple[int, int] | None = None  # (stamp, last) of the latest frame that went back with no jump
        self._back_top_ns = 0  # the latest stamp of that frame and those processed since
        self._last_ns: int | None = None  # the stamp of the frame processed last
        self._handle: Any = None  # rclpy's JumpHandle (kept: the registration lives with it)
        self.new_passes = 0
        self.back_ns = 0

    @classmethod
    def attach(
        cls,
        clock: Any,
        threshold: Any,
        duration: Any,
        on_new_pass: Callable[[], Any],
        warn: Callable[[str], Any] | None = None,
    ) -> ClockWentBack:
        """One registered on ``clock`` (rclpy's ``Clock``: ``create_jump_callback``) for any jump back of it;
        ``threshold`` and ``duration`` are rclpy's ``JumpThreshold`` and ``Duration`` classes."""
        watch = cls(on_new_pass, warn, clock=clock)
        any_back = threshold(min_forward=None, min_backward=duration(nanoseconds=-1), on_clock_change=False)
        watch._handle = clock.create_jump_callback(any_back, post_callback=watch.on_jump)
        return watch

    def on_jump(self, jump: Any) -> None:
        """rclpy's post-jump callback (``TimeJump``: ``delta.nanoseconds``; the clock already reads the time after
        it): a jump back is remembered, for the first frame stamped before the last one and before the time the
        clock left. Where the latest frame that went back was heard before the jump and it and every frame since are
        stamped at or before the clock's time after it (by less than the jump), the new pass began there (``ros2 bag
        play`` publishes ``/clock`` from a 40 Hz wall timer: a new pass's first image can come first): the next frame
        starts it anew, whichever way it goes; the jump left pending was spent later, at a driver's resync a few ms
        back, mid-pass. A resync of the old pass followed by frames stamped after the clock's time is none of this
        pass's (a seek back or a reset to a time after it). Without a clock (``clock=None``) only the first of these."""
        delta_ns = int(jump.delta.nanoseconds)
        if delta_ns >= 0:
            return
        after_ns = None if self._clock is None else int(self._clock.now().nanoseconds)
        with self._lock:
            back, self._back = self._back, None
            if back is not None and after_ns is not None and self._back_top_ns <= after_ns < back[0] - delta_ns:
                if back[1] - back[0] <= TIME_JUMP_BACK_NS:  # more: the pipeline restarted there on its own (told)
                    self._late, self._jumped = back, False
                return
            self._jumped, self._before_ns = True, None if after_ns is None else after_ns - delta_ns

    def frame(self, stamp_ns: int) -> bool:
        """A frame stamped ``stamp_ns`` is about to be processed (in order); returns True when it starts a new pass
        (the clock went back and this stamp is before the last frame's and the clock's before the jump, or the
        new pass began at a frame before the jump was heard), after ``on_new_pass``. A camera stamping another
        clock (the wall time under ``use_sim_time``) is stamped after the time the clock left: no new pass."""
        stamp_ns = int(stamp_ns)
        with self._lock:
            last, late, self._late = self._last_ns, self._late, None
            went_back = last is not None and stamp_ns < last
            new_pass = late is not None or (
                self._jumped and went_back and (self._before_ns is None or stamp_ns < self._before_ns)
            )
            if new_pass:
                self._jumped, self._back = False, None
                self.new_passes += 1
                self.back_ns = late[1] - late[0] if late is not None else (last or 0) - stamp_ns
            elif went_back and last is not None:
                self._back = (stamp_ns, last)
            self._back_top_ns = stamp_ns if went_back else max(self._back_top_ns, stamp_ns)
            self._last_ns = stamp_ns
        if new_pass:
            self._on_new_pass()
        if late is not None:
            self._told(*late, BY_CLOCK)
        elif last is not None and (new_pass or stamp_ns < last - TIME_JUMP_BACK_NS):
            self._told(stamp_ns, last, BY_CLOCK if new_pass else BY_STAMPS)
        return new_pass

    def _told(self, stamp_ns: int, last_ns: int, cause: str) -> None:
        """Warn of the jump back to ``stamp_ns`` from a frame stamped ``last_ns`` (int ns) by ``cause``, throttled."""
        if self._warn is None or (held := self._throttle.allow("time_went_back", cause)) is None:
            return
        forgotten = "scale recovery and the temporal filter start again"
        if last_ns - stamp_ns > TIME_JUMP_BACK_NS:  # the rule of the TF buffer, LiDAR pairing and ApproximateTime watch
            # on their own stamps: a camera driver restarted alone leaves the TF and the scans as they were
            forgotten += "; the TF, LiDAR scans and synchroniser queues whose stamps went back too are forgotten"
        source = "what publishes /clock" if cause == BY_CLOCK else "the camera's clock"
        self._warn(
            f"ROS time went back: image stamped {stamp_ns / NS_PER_S:.3f} s after one stamped "
            f"{last_ns / NS_PER_S:.3f} s ({(last_ns - stamp_ns) / NS_PER_S:.3f} s back; {cause}): {forgotten} "
            f"(expected at each pass of a bag played with --loop; otherwise check {source}){held}"
        )


def in_turn(*actions: Callable[[], Any]) -> Callable[[], None]:
    """One action calling each of ``actions`` in turn (:class:`ClockWentBack`'s ``on_new_pass``: the node's TF of
    the old pass, then the pipeline's state)."""

    def call() -> None:
        for action in actions:
            action()

    return call


class ClockSteps:
    """The ROS clock's recent steps forward, one per ``/clock`` message (``use_sim_time``); rcl calls no jump callback
    for the system time, so none is seen without ``/clock``. ``use_sim_time`` set at run time (rcl's clock change,
    either way) forgets them: the steps of a ``/clock`` left are none of the system time's.

    Args:
        steady_ns: the steady clock, int ns (injectable for tests): how long the clock has stood since its first
            ``/clock`` with its step not known.

    Thread-safe: :meth:`on_jump` runs in the executor (with the ``/clock`` message), :meth:`step_ns` and
    :meth:`changes` in the worker.
    """

    def __init__(self, steady_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._steady_ns = steady_ns
        self._lock = threading.Lock()
        self._changes = 0  # clock changes heard (use_sim_time set at run time, either way)
        self._started = False  # a first step forward was seen: the clock leaving 0 at the first /clock, no step
        self._started_ns = 0  # steady ns at that first step
        self._steps: deque[int] = deque(maxlen=RECENT_STEPS)
        self._handle: Any = None  # rclpy's JumpHandle (kept: the registration lives with it)

    @classmethod
    def attach(cls, clock: Any, threshold: Any, duration: Any) -> ClockSteps:
        """One registered on ``clock`` (rclpy's ``Clock``: ``create_jump_callback``) for any step forward of it and
        its changes (``use_sim_time`` set); ``threshold`` and ``duration`` are rclpy's ``JumpThreshold`` and
        ``Duration`` classes."""
        steps = cls()
        any_forward = threshold(min_forward=duration(nanoseconds=1), min_backward=None, on_clock_change=True)
        steps._handle = clock.create_jump_callback(any_forward, post_callback=steps.on_jump)
        return steps

    def on_jump(self, jump: Any) -> None:
        """rclpy's post-jump callback (``TimeJump``: ``clock_change``, ``delta.nanoseconds``): a step forward is
        remembered, but the first (rclpy's ROS time is 0 until the first ``/clock``) and leaps over
        ``MAX_STAMP_OFFSET_S`` (1 h); a clock change (``use_sim_time`` set: rcl's delta 0) forgets all."""
        if getattr(jump.clock_change, "name", None) in CLOCK_CHANGES:  # off: the system time; on: a first /clock
            with self._lock:
                self._started = False
                self._steps.clear()
                self._changes += 1
            return
        delta_ns = int(jump.delta.nanoseconds)
        if delta_ns <= 0:
            return
        with self._lock:
            if self._started and delta_ns <= MAX_STAMP_OFFSET_S * NS_PER_S:
                self._steps.append(delta_ns)
            elif not self._started:
                self._started, self._started_ns = True, self._steady_ns()

    def step_ns(self) -> int | None:
        """The largest of the clock's last :data:`RECENT_STEPS` steps forward (ns); 0 while the clock is ``/clock``
        but has stepped once at most (its step not known yet), :data:`~mono_depth_ros.adapters.stats.CLOCK_STANDS`
        once that has lasted :data:`FIRST_STEP_WAIT_S` of wall time (a paused simulator or bag: its 1 h allowance
        let a live camera's wall-time stamps up to 1 h ahead pass unwarned for as long as it stood); None where it
        never stepped (the system time: no ``use_sim_time``, or no ``/clock`` yet)."""
        with self._lock:
            if not self._started:
                return None
            if not self._steps and self._steady_ns() - self._started_ns > FIRST_STEP_WAIT_S * NS_PER_S:
                return CLOCK_STANDS
            return max(self._steps, default=0)

    def changes(self) -> int:
        """How many times the clock changed (``use_sim_time`` set at run time, either way): a node clock read before
        a change is another clock's time (the system time against ``/clock``'s), no earlier reading of this one
        (:meth:`~mono_depth_ros.adapters.stats.RuntimeStats.frame_published_at`: the clock going back)."""
        with self._lock:
            return self._changes
