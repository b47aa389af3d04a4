"""The LiDAR scan for an image: pairing scans that arrive after their image, and the TF lookup that places them."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import numpy as np
import yaml

from mono_depth_ros.adapters.log_throttle import ReasonThrottle
from mono_depth_ros.adapters.messages import Scan
from mono_depth_ros.config import PARAMS_BY_NAME
from mono_depth_ros.core.frame_names import missing_frame_hint
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import MessageFactory, make_header, stamp_to_ns, time_from_ns
from mono_depth_ros.core.ros_msgs import rigid_transform_from_msg
from mono_depth_ros.core.scale.deskew import deskewed_scan
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold
from mono_depth_ros.core.tf_buffer import normalize_frame_id

T = TypeVar("T")
MAX_SCANS_KEPT = 100  # ScanPairing's bound on the scans it keeps (a 100 Hz LiDAR's second)
MAX_FRAMES_GONE = 512  # frames gone without their scan that a late scan may still report (a 100 Hz camera over 5 s,
# lidar.wait_s's maximum; 16 let a LiDAR 1 s late behind a 30 Hz camera count 16 of its 30 frames a second)


def select_scan(scans: Any, stamp_ns: int, max_age_ns: int) -> Any:
    """The item of ``scans`` (``(stamp_ns, payload)`` pairs) closest in time to ``stamp_ns`` within ``max_age_ns``.

    Returns the ``(stamp_ns, payload)`` pair, or None when every scan is further than ``max_age_ns`` away.
    """
    best = None
    for item in list(scans):
        gap = abs(int(item[0]) - int(stamp_ns))
        if gap <= max_age_ns and (best is None or gap < best[0]):
            best = (gap, item)
    return None if best is None else best[1]


def nearest_stamp(scans: Any, stamp_ns: int) -> int | None:
    """The stamp of the item of ``scans`` (``(stamp_ns, payload)`` pairs) nearest to ``stamp_ns``, at any distance
    (None: no scans)."""
    stamps = [int(item[0]) for item in scans]
    return min(stamps, key=lambda scan_ns: abs(scan_ns - stamp_ns)) if stamps else None


@dataclass(frozen=True)
class Paired(Generic[T]):
    """A frame released by :class:`ScanPairing`, with the scan chosen for it (None: no scan within the age limit).

    ``waited_ns``: how long the frame was held (monotonic); ``timed_out``: released because ``wait_s`` ran out;
    ``nearest_ns``: without a scan, the stamp of the scan at hand nearest to the frame's (None: no scan at hand);
    ``period_ns``, ``one_scan``, ``behind``, ``arrivals``: what :func:`no_scan_text` judges it by (the scan period
    then, None: not known; the only scan at hand; :func:`scans_behind`; :func:`scan_arrivals`).
    """

    item: T
    stamp_ns: int
    scan: tuple[int, Any] | None
    waited_ns: int
    timed_out: bool
    nearest_ns: int | None = None
    period_ns: int | None = None
    one_scan: bool = False
    behind: tuple[int, int, int | None] | None = None
    arrivals: tuple[int, int | None] | None = None


def no_scan_text(
    topic: str,
    image_ns: int,
    nearest_ns: int | None,
    max_age_s: float,
    *,
    period_ns: int | None = None,
    one_scan: bool = False,
    behind: tuple[int, int, int | None] | None = None,
    arrivals: tuple[int, int | None] | None = None,
) -> str:
    """Why an image has no LiDAR scan (node log and bag summary alike): the nearest scan's distance and, when it is
    more than 1 s away, what that means, judged by what is at hand: the scan period ``period_ns`` (int ns; None: not
    known), ``one_scan`` (the only scan at hand, its rate not known yet) and ``behind`` (:func:`scans_behind` for the
    newest scan: stamped further behind the image than it arrived before it). Within ``max_age_s`` and one known
    period, the LiDAR's rate; with one scan at hand stamped before the image, the clocks only where ``behind`` shows
    it (a healthy 0.2 Hz LiDAR on the camera's clock, its first scan 1.5 s behind a frame that came 1.5 s after it,
    was told "the LiDAR stopped, or the LiDAR and the camera stamp on different clocks"). With scans before the image
    and ``arrivals`` (:func:`scan_arrivals`: how long before the image the last scan arrived, and the scans' period in
    arrivals), the arrivals tell which, as the camera_info's stop rule does (:mod:`.sync_watch`): the LiDAR stopped
    when no scan arrived for 1 s and three usual periods (the longer of the stamps' and the arrivals') or more and
    its scans are stamped no further behind than that (``behind`` None) nor ahead (its last scan stamped no more
    than 1 s and ``max_age_s`` nearer the image than it arrived before it: one clock); the clocks (or scans delivered
    that late) when scans still arrive (the last within one and a half usual periods) stamped further behind than
    they arrived. Else, as before, a LiDAR that stopped or another clock (:data:`DIFFERENT_CLOCKS`): a 10 Hz LiDAR
    whose scans stopped arriving at 2 s was told so for every frame after 3 s, and one whose scans arrive stamped an
    hour behind was told it may have stopped."""
    text = f"no scan on {topic} within lidar.max_age_s={max_age_s:g} s of the image stamped {image_ns / 1e9:.3f} s"
    if nearest_ns is None:
        return text
    gap_s = (nearest_ns - image_ns) / 1e9
    text += f"; the nearest scan is stamped {abs(gap_s):.3f} s {'after' if gap_s > 0 else 'before'} it"
    distance = abs(nearest_ns - image_ns)
    if distance <= TIME_JUMP_BACK_NS:
        return text
    if period_ns is not None and distance <= max_age_s * 1e9 + period_ns:
        return text + f" (the LiDAR's rate: a scan every {period_ns / 1e9:.3f} s)"
    if one_scan and gap_s < 0:
        text += " (the only scan at hand: the LiDAR's rate is not known yet"
        if behind is None:  # it arrived about as long before the image as it is stamped: one clock
            return text + ")"
        return text + (
            f"; it is stamped {behind[1] / 1e9:.3f} s more than the time between their arrivals: {DIFFERENT_CLOCKS}"
            " (or the LiDAR delivers its scans that late))"
        )
    if gap_s < 0 and arrivals is not None:
        since_ns, arrival_period_ns = arrivals
        usual_ns = max(period_ns or 0, arrival_period_ns or 0)
        # one clock: stamped no further behind (behind None) nor ahead (a LiDAR 10 s ahead, stopped) than they came
        ahead = since_ns - distance > TIME_JUMP_BACK_NS + max_age_s * 1e9
        if behind is None and not ahead and since_ns >= max(TIME_JUMP_BACK_NS, 3 * usual_ns):
            return text + (
                f" (the LiDAR stopped: no scan arrived on {topic} for {since_ns / 1e9:.1f} s before the image, its "
                f"scans stamped as they arrived; the LiDAR driver ended, stalled or was restarted: `ros2 topic info "
                f"-v {topic}` lists its publishers)"
            )
        if behind is not None and usual_ns > 0 and since_ns <= usual_ns + usual_ns // 2:
            return text + (
                f" (its scans still arrive, one every {usual_ns / 1e9:.3f} s, stamped {behind[1] / 1e9:.3f} s more "
                f"than the time between their arrivals: {DIFFERENT_CLOCKS} (or the LiDAR delivers its scans that late))"
            )
    cause = "the LiDAR stopped, or " if gap_s < 0 else ""
    return text + f" ({cause}{DIFFERENT_CLOCKS})"


def scan_arrivals(arrived_ns: int, came_ns: int | None, arrivals_ns: Any) -> tuple[int, int | None] | None:
    """``(since, period)`` for :func:`no_scan_text` (int ns): how long before an image that arrived at ``arrived_ns``
    the last scan arrived (at ``came_ns``; negative: after it), and the scans' period in arrivals
    (:func:`scan_period` of ``arrivals_ns``, the last :data:`SCANS_FOR_RATE` scans' arrival times; None: fewer than
    two); None when no scan arrived. The node's :class:`ScanPairing` and the bag runner's
    :meth:`~mono_depth_ros.bag.pairing.PairingRules.scans_at_hand` (from the bag times) give them alike."""
    if came_ns is None:
        return None
    return arrived_ns - came_ns, scan_period(arrivals_ns)


def scans_behind(
    stamp_ns: int,
    arrived_ns: int,
    newest_ns: int | None,
    came_ns: int | None,
    period_ns: int | None,
    max_age_ns: int,
    wait_ns: int,
    rate: float = 1.0,
) -> tuple[int, int, int | None] | None:
    """``(gap, excess, late)`` (int ns) when the newest scan at hand (stamped ``newest_ns``; None: none), the last
    scan received at ``came_ns`` (clock ns; None: none), is stamped ``gap`` before a frame stamped ``stamp_ns`` that
    arrived at ``arrived_ns``, ``excess`` more than the time between the two arrivals (scaled by ``rate``, the
    frames' stamp ns per arrival ns, where that makes the excess smaller), and ``excess`` exceeds ``max_age_ns`` +
    max(1 s, ``wait_ns``) (:func:`far_behind`'s margin): on one clock a scan is stamped no further behind a frame than
    it arrived before it, plus its latency; else None. ``late``: how long after the frame its own scan comes on one
    clock, the excess and the wait for the scan after the newest (one ``period_ns``, at most half one and
    ``max_age_ns``: :func:`final_at_scan_rate`); None when the excess is more than ``max_age_ns`` beyond the most
    ``lidar.wait_s`` can be (no LiDAR on the camera's clock that the node can wait for). The one rule of
    :func:`held_full_text` and :func:`no_scan_text` (node: :meth:`ScanPairing._scans_behind`; bag runner:
    :meth:`~mono_depth_ros.bag.pairing.PairingRules.scans_at_hand`, from the bag times)."""
    if newest_ns is None or came_ns is None:
        return None
    since = arrived_ns - came_ns
    excess = (stamp_ns - newest_ns) - max(since, int(rate * since))
    if excess <= max(TIME_JUMP_BACK_NS, wait_ns) + max_age_ns:
        return None
    if excess > MAX_WAIT_S * 1e9 + max_age_ns:
        return stamp_ns - newest_ns, excess, None
    return stamp_ns - newest_ns, excess, excess + min(period_ns or 0, max_age_ns + (period_ns or 0) // 2)


DIFFERENT_CLOCKS = "the LiDAR and the camera stamp on different clocks: compare their header stamps"
"""The cause a scan stamped far from the image names (:func:`no_scan_text`, :func:`held_full_text`: node log and bag
summary say it alike)."""


MAX_WAIT_S = float(PARAMS_BY_NAME["lidar.wait_s"].max_value or 5.0)  # the most lidar.wait_s can be (5 s)


def late_scan_wait_s(late_ns: int) -> float:
    """The ``lidar.wait_s`` that waits for scans that come ``late_ns`` after their image: 20 % more, rounded up to
    0.1 s (s; more than :data:`MAX_WAIT_S` when no wait can)."""
    return math.ceil(late_ns * 1.2 / 1e8) / 10


def late_scan_remedy(late_ns: int) -> str:
    """What to do about scans that come ``late_ns`` after their image: the ``lidar.wait_s`` that would have waited
    for them (20 % more, rounded up to 0.1 s; the maximum when that is more but they came within it); later than
    the parameter's :data:`MAX_WAIT_S` no wait can, and the LiDAR driver's or the network's latency is what to fix
    (the node and the bag runner say it alike)."""
    wait_to_set = late_scan_wait_s(late_ns)
    if wait_to_set < MAX_WAIT_S:
        return f"set lidar.wait_s to {wait_to_set:g} s or more (the LiDAR delivers its scans that late)"
    if late_ns <= MAX_WAIT_S * 1e9:  # the maximum still waits for them, with less than the 20 % margin
        return f"set lidar.wait_s to {MAX_WAIT_S:g} s, its maximum (the LiDAR delivers its scans that late)"
    return (
        f"the LiDAR delivers its scans later than the node can wait (lidar.wait_s is {MAX_WAIT_S:g} s at most): "
        "fix the LiDAR driver's or the network's latency (a driver that publishes a sweep long after it ends, a "
        "saturated link)"
    )


def late_scan_text(scan_ns: int, image_ns: int, late_ns: int, wait_ns: int) -> str:
    """Why a scan came too late for its image (``inputs_unused.lidar.after_wait``): how long after the image arrived
    it came (``late_ns``), and :func:`late_scan_remedy` (the ``lidar.wait_s`` that would have waited for it, or,
    later than the parameter's 5 s allows, the latency to fix)."""
    return (
        f"the scan stamped {scan_ns / 1e9:.3f} s came {late_ns / 1e9:.3f} s after the image stamped "
        f"{image_ns / 1e9:.3f} s, which had gone on without it: longer than lidar.wait_s={wait_ns / 1e9:g} s; "
        f"{late_scan_remedy(late_ns)}"
    )


def held_full_text(
    image_ns: int, held_ns: int, max_waiting: int, wait_ns: int, behind: tuple[int, int, int | None] | None = None
) -> str:
    """Why an image went on without waiting for its scan (``inputs_unused.lidar.held_full``): ``max_waiting`` images
    were held, the oldest (stamped ``image_ns``) for ``held_ns``, less than ``lidar.wait_s``; the wait to set is the
    time those images took to come, rounded down to 0.1 s (a wait that holds fewer of them); under 0.1 s no wait
    helps (it would say "0 s or less": never wait): the images came in a burst, and the camera rate or what
    delivers them at once is named instead. ``behind``: ``(gap_ns, excess_ns, late_ns)`` when the newest scan at
    hand is stamped ``gap_ns`` before the image, ``excess_ns`` more than the time between their arrivals
    (:meth:`ScanPairing._scans_behind`), so that the image's own scan comes ``late_ns`` after it on one clock: the
    wait that pairs them (:func:`late_scan_remedy`) and, within the most ``lidar.wait_s`` can be, the camera rate
    that lets ``max_waiting`` images span it (a 10 Hz LiDAR 3.2 s late with ``lidar.wait_s`` 3 s was told
    "different clocks ... neither another lidar.wait_s nor a lower camera rate pairs them", and 4 s at 16 Hz pairs
    them all); ``late_ns`` None (an excess more than any wait explains), the text names the clocks
    (:data:`DIFFERENT_CLOCKS`, as the "LiDAR scan not used" line and the bag runner's summary do) instead (a 0.2 Hz
    LiDAR stamped an hour behind a 30 Hz camera, ``lidar.wait_s`` 5 s: 89 images were told "set lidar.wait_s to 2.1
    s or less, or lower the camera rate")."""
    text = (
        f"{max_waiting} images were held for their LiDAR scan, the most the node holds: the image stamped "
        f"{image_ns / 1e9:.3f} s went on {held_ns / 1e9:.3f} s after it came, before lidar.wait_s={wait_ns / 1e9:g} s,"
        f" without waiting for its scan (or its TF); "
    )
    if behind is not None:
        gap_ns, excess_ns, late_ns = behind
        text += (
            f"the newest scan at hand is stamped {gap_ns / 1e9:.3f} s before it, {excess_ns / 1e9:.3f} s more than the "
            "time between their arrivals: "
        )
        if late_ns is not None:  # on one clock, the scans that late
            text += f"its image's scan comes {late_ns / 1e9:.3f} s after it: {late_scan_remedy(late_ns)}"
            if late_ns > MAX_WAIT_S * 1e9:
                return text
            rate_hz = math.floor(max_waiting / min(MAX_WAIT_S, late_scan_wait_s(late_ns)))  # the held images span it
            return text + f", and lower the camera rate to {rate_hz} Hz or less (the node holds {max_waiting} images)"
        return text + (
            f"{DIFFERENT_CLOCKS} (or the LiDAR delivers its scans that late); neither another lidar.wait_s nor a lower"
            " camera rate pairs them"
        )
    if (wait_to_set := math.floor(held_ns / 1e8) / 10) > 0:
        return text + f"set lidar.wait_s to {wait_to_set:g} s or less, or lower the camera rate"
    return text + (
        f"they came in a burst ({max_waiting} images within {held_ns / 1e9:.3f} s): lower the camera rate, or find "
        "what delivers them at once (an executor backlog behind a slow callback, a driver's or network buffer)"
    )


def final_at_scan_rate(
    stamp_ns: int, best_ns: int | None, newest_ns: int, period_ns: int | None, max_age_ns: int
) -> bool:
    """Whether the scan choice of a frame stamped ``stamp_ns`` is final at the LiDAR's scan rate, the newest scan at
    hand stamped ``newest_ns`` (before the frame) and the best one ``best_ns`` (None: none within ``max_age_ns``):
    the next scan, expected one ``period_ns`` after the newest (None: not known yet, not final), cannot be closer
    than the best, or cannot be within ``max_age_ns`` even half a period early (a LiDAR's phase can jump). The node's
    :class:`ScanPairing` and the bag runner's plan (:meth:`~mono_depth_ros.bag.pairing.PairingRules.lidar_sent_at_rate`)
    decide so alike. Stamps in int ns."""
    if period_ns is None:
        return False
    next_gap = newest_ns + period_ns - stamp_ns  # the expected next scan's distance from this frame
    if next_gap > max_age_ns + period_ns // 2:
        return True
    return best_ns is not None and abs(best_ns - stamp_ns) <= next_gap


def far_behind(
    stamp_ns: int, newest_ns: int | None, period_ns: int | None, max_age_ns: int, wait_ns: int, scans: int = 1
) -> bool:
    """Whether the newest scan at hand (stamped ``newest_ns``; None: none) is stamped more than ``max_age_ns`` +
    max(1 s, ``wait_ns``) + one period ``period_ns`` before a frame stamped ``stamp_ns``: no scan can come within
    ``max_age_ns`` of it in time (a LiDAR on another clock, a stalled driver, or one that late), and the frame goes
    at once. Not before the scan period is known (``period_ns`` None: one scan at hand): the scans may come as far
    apart as the frames (KITTI object frames recorded 10 s apart, each scan 3 ms after its image: the node sent the
    second frame at once, without the scan that came 1.5 ms later and that the bag runner paired, and warned that
    the LiDAR stopped), and waiting one ``wait_ns`` for a second scan costs a LiDAR on another clock one frame's
    wait. Two or more ``scans`` (of the last :data:`SCANS_FOR_RATE`) all stamped alike (a driver that leaves its
    stamps at 0, or with use_sim_time and no /clock) are no unknown period: their stamps do not advance, none is
    added (every frame was held ``wait_ns`` for a scan that cannot come). The node's :class:`ScanPairing` and the
    bag runner's :meth:`~mono_depth_ros.bag.pairing.PairingRules.lidar_sent_at_rate` decide so alike. Stamps and
    times in int ns."""
    if newest_ns is None or (period_ns is None and scans < 2):
        return False
    return stamp_ns - max_age_ns - newest_ns > max(TIME_JUMP_BACK_NS, wait_ns) + (period_ns or 0)


def scan_period(stamps_ns: Any) -> int | None:
    """The LiDAR's scan period: the median of the positive gaps between ``stamps_ns`` sorted (int ns; None with
    fewer than two distinct stamps): :meth:`ScanPairing.scan_period_ns` over its scans, the bag runner's over the
    last :data:`SCANS_FOR_RATE` recorded."""
    stamps = sorted(int(stamp) for stamp in stamps_ns)
    gaps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    return int(np.median(gaps)) if gaps else None


SCANS_FOR_RATE = 10  # the scans the rate is judged from (the last received or recorded); ScanPairing's max_scans


def stamp_jitter_ns(period_ns: int | None) -> int:
    """How much nearer than the scan a frame went with at the LiDAR's scan rate a later scan must be to be counted
    ``lidar.nearer_later`` (int ns): a tenth of the scan period ``period_ns``, at least :data:`MIN_STAMP_JITTER_NS`. A
    healthy driver's stamps jitter by a few ms (stamped on arrival, on a loaded host): a frame stamped about the
    middle between two scans went with one only that much further than the next (a 30 Hz camera and a 10 Hz LiDAR
    with 3 ms jitter, simulated 60 s: 10 frames a minute were counted and warned); a phase or rate change moves the
    next scan further."""
    return max((period_ns or 0) // 10, MIN_STAMP_JITTER_NS)


MIN_STAMP_JITTER_NS = 5_000_000  # stamp_jitter_ns at least (5 ms: a fast LiDAR's tenth of a period is less)


def nearer_later(distance_ns: int, gap_ns: int | None, period_ns: int | None, max_age_ns: int) -> bool:
    """Whether a scan ``distance_ns`` from a frame sent on at the LiDAR's scan rate (period ``period_ns`` then) with a
    scan ``gap_ns`` from it (None: none) is counted ``lidar.nearer_later``: within ``max_age_ns`` and nearer than that
    scan by more than :func:`stamp_jitter_ns` (node and bag runner alike). Times in int ns."""
    return distance_ns <= max_age_ns and (gap_ns is None or distance_ns < gap_ns - stamp_jitter_ns(period_ns))


def nearer_later_text(scan_ns: int, image_ns: int, gap_ns: int | None, period_ns: int | None) -> str:
    """Why a scan came too late for its image although it came (``inputs_unused.lidar.nearer_later``): the frame
    went on with a scan ``gap_ns`` from it (None: none within lidar.max_age_s), the next scan expected no nearer at
    the LiDAR's scan rate (period ``period_ns``); this one, stamped ``scan_ns``, is nearer by more than its stamps'
    jitter (:func:`stamp_jitter_ns`); what to check (node and bag runner say it alike)."""
    went = "no scan" if gap_ns is None else f"the scan {gap_ns / 1e6:.1f} ms from it"
    return (
        f"the scan stamped {scan_ns / 1e9:.3f} s came after the image stamped {image_ns / 1e9:.3f} s had gone on with "
        f"{went}, {abs(scan_ns - image_ns) / 1e6:.1f} ms from it: at the LiDAR's scan rate (a scan every "
        f"{(period_ns or 0) / 1e6:.1f} ms) no nearer scan was expected, and the frame went as it was (not a matter "
        f"of lidar.wait_s). The LiDAR's phase or rate changed (a driver restart, a new mode), or its stamps jitter by "
        f"more than {stamp_jitter_ns(period_ns) / 1e6:.1f} ms: compare its header stamps with its rate, and stamp "
        f"its sweeps from the sensor's clock where the driver can"
    )


class UnpairedLog:
    """``on_unpaired`` for :class:`ScanPairing` in the node: a warning (one per kind every ``period_s``) for each
    frame released without a scan because the scans at hand are further than ``max_age_ns`` and one scan period from
    it (:func:`no_scan_text`)."""

    def __init__(self, warn: Callable[[str], Any], topic: str, max_age_s: float, period_s: float = 2.0) -> None:
        self._warn, self._topic, self._max_age_s = warn, topic, max_age_s
        self._throttle = ReasonThrottle(period_s)

    def __call__(self, paired: Paired[Any]) -> None:
        text = no_scan_text(
            self._topic,
            paired.stamp_ns,
            paired.nearest_ns,
            self._max_age_s,
            period_ns=paired.period_ns,
            one_scan=paired.one_scan,
            behind=paired.behind,
            arrivals=paired.arrivals,
        )
        if (held := self._throttle.allow("no scan", text)) is not None:
            self._warn(f"LiDAR scan not used: {text}; this frame's scale falls back{held}")


class ScanPairing(Generic[T]):
    """Pairs each image with its LiDAR scan when the scan arrives *after* the image, as real sensors deliver them.

    A frame is held (never the executor: :meth:`add_frame`, :meth:`add_scan` and :meth:`poll` return at once) until
    the choice of its scan is final, then released with the scan closest to its stamp within ``max_age_ns``:

    * a scan stamped at or after the frame has arrived (scans arrive in stamp order: later ones are further away);
    * the next scan, expected one scan period (median of recent stamp gaps) after the last, cannot be closer than
      the best one at hand, or cannot be within ``max_age_ns`` even half a period early (a low-rate LiDAR: no
      pointless wait);
    * the newest scan is stamped more than ``max_age_ns`` + max(1 s, ``wait_ns``) + one period before the frame:
      the LiDAR stamps on another clock (or its driver stalled), and no scan can come within ``max_age_ns`` in time
      (not with one scan at hand, the period unknown: :func:`far_behind`);
    * the frame has waited ``wait_ns`` (a late scan costs only this frame's LiDAR scale); when no scan arrived
      during that wait, nor for one and a half scan periods (a LiDAR slower than the wait is not stopped between
      its scans), the LiDAR is taken as stopped and later frames are not held until a scan arrives again (a dead
      LiDAR delays the frames of one wait or one and a half periods, not every frame).

    With ``ready`` (``ready(item, scan)``: can TF place this scan in this frame now? tf2 with timeout zero), a frame
    whose scan choice is final is also held until ``ready`` answers, at most ``wait_ns``: TF that lags behind the
    image (odometry published 30 ms after the camera's stamp) costs a few ms, not the frame's LiDAR scale. A frame
    released after waiting for TF in vain makes later frames go at once (TF stopped, or a transform that is missing)
    until the TF of that frame can be looked up after all (TF is back).

    ``on_unpaired(paired)`` is called for a frame released without a scan although scans are at hand, the nearest
    further than ``max_age_ns`` plus one scan period (not a matter of the scan rate: the LiDAR stopped, or stamps on
    another clock); ``paired.nearest_ns`` is that scan's stamp.
    ``on_late(reason, text)`` (reason ``lidar.after_wait``, text :func:`late_scan_text`) is called for a scan that
    arrives, within ``max_age_ns`` of an image released without a final choice of its scan and closer than the scan it
    went with, more than ``wait_ns`` (the wait it went under: ``wait_ns`` may be set at run time, e.g. raised as the
    report advises) after that image when it timed out (however far ahead the scan is stamped: a sweep paired by its
    middle), or after an image stamped as the scan would have arrived when it went at once while the LiDAR was taken as
    stopped or its scans at hand were stamped far behind (a LiDAR more than ``max_age_ns`` + 1 s late, taken as on
    another clock: its frames went uncounted) (one call a frame, once, by its own scan: each frame left without its
    LiDAR scale): a LiDAR that delivers later than ``wait_ns`` cost every frame its own scan, silently (a LiDAR coming
    back after a stop, its first scan stamped after the frames that went at once, is not; with ``wait_ns`` 0, "never
    wait", only for a frame that went with no scan at all: every frame goes at once by choice, one that took an older
    scan kept its LiDAR scale); (reason ``lidar.nearer_later``, text :func:`nearer_later_text`) for a scan that
    arrives, whenever, for a frame sent on at the scan rate with an earlier scan or none, the next expected no
    nearer, nearer than that by more than :func:`stamp_jitter_ns` (:func:`nearer_later`: a LiDAR whose phase jumped;
    the bag runner pairs and counts such a frame alike); and (reason ``lidar.held_full``, text :func:`held_full_text`)
    for each frame let go before its wait because more than ``max_waiting`` were held (it went without its scan,
    silently).

    Frames leave in arrival order. At most ``max_waiting`` frames are held (64: a 30 Hz camera waiting 2 s, the images
    as received, 1.4 MB each at 1242x375 rgb8; the waits bound them first: camera rate x ``wait_ns``); an older one is
    released as is when more arrive, counted (``on_late``: 8 let a 30 Hz camera waiting 0.4 s for a LiDAR 0.3 s late
    lose most frames' own scans, silently). The scans kept are the last ``max_scans`` and any a frame may still pair
    with (:meth:`_oldest_needed_ns`: within ``max_age_ns`` of a frame held, or behind the newest scan by as much as the
    scans ran ahead of the recent images, x1.25, plus ``max_age_ns``; at most ``keep_ns``, and ``keep_ns`` until an
    image came; at most :data:`MAX_SCANS_KEPT`): an image that arrives late (a GigE camera, a rectification on the way)
    still finds a fast LiDAR's scan of its stamp (the last 10 alone, 0.2 s of a 50 Hz LiDAR, had let every image 250 ms
    late take a scan 60 ms away), and a prompt camera does not keep a dense LiDAR's last second (a 128-beam Ouster at 20
    Hz: 10 scans, 63 MB, not 21, 132 MB). A frame stamped more than max(1 s, ``max_age_ns``) before the newest frame, or
    a scan so before the newest scan, means ROS time went back (a bag played with ``--loop``, a restarted driver): the
    cached scans, from before the jump, are dropped (they would make every choice "final" at once: ten frames without
    their own scan), and the frames held then go first, with them (their own scans will not come; the next are the new
    pass's). Each stream is compared with itself: frames stamped behind the scans (a LiDAR on a clock ahead of the
    camera's) are no jump (they cleared the scans at every frame, which then waited for the next scan). Thread-safe.
    Times: stamps in int ns (ROS time of the headers; the node gives a scan the middle of its sweep when the cloud
    has per-point times: :func:`~mono_depth_ros.core.msg_pointcloud2.sweep_middle_offset_ns`), waits on ``clock_ns``
    (monotonic ns).
    """

    def __init__(
        self,
        max_age_ns: int,
        wait_ns: int,
        *,
        max_scans: int = SCANS_FOR_RATE,
        max_waiting: int = 64,
        keep_ns: int = TIME_JUMP_BACK_NS,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        ready: Callable[[T, tuple[int, Any]], bool] | None = None,
        on_unpaired: Callable[[Paired[T]], Any] | None = None,
        on_late: Callable[[str, str], Any] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._ready = ready
        self._on_unpaired = on_unpaired  # a frame released without a scan while scans are at hand
        self._on_late = on_late  # a scan that came after its frame went on without a final choice
        self._gone: deque[tuple[int, int, int | None, bool, bool, int, int | None]] = deque(maxlen=MAX_FRAMES_GONE)
        # stamp, arrival, gap, waited, quiet (wait 0, before any scan came: its scan is not reported), the wait it went
        # under, the scan period it was sent on at (None: not at the scan rate; a nearer scan is lidar.nearer_later)
        self._unplaced: tuple[T, tuple[int, Any]] | None = None  # released without TF: hold none until it answers
        self._scans: deque[tuple[int, Any]] = deque(maxlen=MAX_SCANS_KEPT)
        self._max_scans, self._keep_ns = max_scans, keep_ns  # the last max_scans, and those _oldest_needed_ns keeps
        self._leads: deque[int] = deque(maxlen=64)  # newest scan stamp minus image stamp as each image arrived
        self._waiting: deque[tuple[int, int, int, T]] = deque()  # (stamp ns, arrival ns, scans seen then, item)
        self._max_waiting = max_waiting
        self._clock_ns = clock_ns
        self._gave_up = False  # a frame timed out with no scan arriving meanwhile: hold none until a scan comes
        self._scan_came_ns: int | None = None  # when the last scan came (clock_ns)
        self._arrivals: deque[int] = deque(maxlen=SCANS_FOR_RATE)  # when the last scans came (clock_ns): no_scan_text
        self._newest: dict[str, int] = {}  # "frame" / "scan" -> newest stamp since the last jump back
        self._scans_seen = 0  # scans added so far (a frame remembers the count at its arrival)
        self.max_age_ns = int(max_age_ns)
        self.wait_ns = int(wait_ns)

    @property
    def scans_seen(self) -> int:
        """Scans added so far."""
        return self._scans_seen

    def add_scan(self, stamp_ns: int, scan: Any) -> list[Paired[T]]:
        """Cache a scan; returns the frames whose choice it made final."""
        with self._lock:
            before = self._forget_scans_after_a_jump_back("scan", int(stamp_ns))
            self._scans.append((int(stamp_ns), scan))
            oldest_needed = self._oldest_needed_ns(int(stamp_ns))
            while len(self._scans) > self._max_scans and self._scans[0][0] < oldest_needed:
                self._scans.popleft()
            self._scans_seen += 1
            self._gave_up, self._scan_came_ns = False, self._clock_ns()
            self._arrivals.append(self._scan_came_ns)
            self._late(int(stamp_ns))
            return before + self._release()

    def add_frame(self, stamp_ns: int, item: T) -> list[Paired[T]]:
        """Hold a frame; returns the frames (possibly this one) that can go now."""
        with self._lock:
            before = self._forget_scans_after_a_jump_back("frame", int(stamp_ns))
            if (newest_scan := self._newest.get("scan")) is not None:
                self._leads.append(newest_scan - int(stamp_ns))  # how far the scans at hand run ahead of the image
            self._waiting.append((int(stamp_ns), self._clock_ns(), self._scans_seen, item))
            return before + self._release()

    def poll(self) -> list[Paired[T]]:
        """Frames released by the passing of time (call it from a timer, e.g. every 20 ms)."""
        with self._lock:
            return self._release()

    @property
    def waiting(self) -> int:
        """Frames held now."""
        with self._lock:
            return len(self._waiting)

    def drain(self) -> int:
        """Forget the frames held now (their subscriptions are going: a lifecycle deactivate); returns how many."""
        with self._lock:
            count = len(self._waiting)
            self._waiting.clear()
            self._gone.clear()
            return count

    def scan_period_ns(self) -> int | None:
        """Median gap between the stamps of the last :data:`SCANS_FOR_RATE` scans received (None with fewer than two
        scans): :func:`scan_period`, from as many scans as the bag runner judges the rate by (the last recorded):
        every scan kept (20-odd of a 50 Hz LiDAR, the last second's before an image came) made other choices at
        the scan rate where the median of more gaps differed (a rate change; a 50 Hz LiDAR's 2 ms stamp jitter)."""
        return scan_period(stamp for stamp, _ in itertools.islice(reversed(self._scans), SCANS_FOR_RATE))

    def _forget_scans_after_a_jump_back(self, stream: str, stamp_ns: int) -> list[Paired[T]]:
        """After a jump back, the frames held from before it, released with the scans of their pass (the scans that
        would have come for them will not: the next scans are the new pass's); none when there was no jump."""
        newest = self._newest.get(stream)
        released: list[Paired[T]] = []
        if newest is not None and stamp_ns < newest - max(TIME_JUMP_BACK_NS, self.max_age_ns):
            released = self._release(flush=True)
            self._scans.clear()
            self._arrivals.clear()  # as the scans: the bag runner judges by those of the pass
            self._gone.clear()  # scans of the new pass are no late scans of the old one's frames
            self._leads.clear()
            self._unplaced = None  # a frame from before the jump: its TF will not be looked up again
            self._newest = {}  # both streams start again
        self._newest[stream] = max(stamp_ns, self._newest.get(stream, stamp_ns))
        return released

    def _oldest_needed_ns(self, newest_ns: int) -> int:
        """The oldest scan stamp a frame may still pair with, the newest scan stamped ``newest_ns``: ``max_age_ns``
        before a frame held now, or before the stamp the next image may have, judged by how far the newest scan ran
        ahead of the last 64 images as they arrived (the camera's lateness behind the LiDAR, x1.25); the span behind
        the newest scan at most ``keep_ns``, and ``keep_ns`` until an image came (its lateness unknown)."""
        span = int(max(0, max(self._leads)) * 1.25) + self.max_age_ns if self._leads else self._keep_ns
        held = min((stamp for stamp, _, _, _ in self._waiting), default=newest_ns)
        return min(newest_ns - min(span, self._keep_ns), held - self.max_age_ns)

    def _release(self, flush: bool = False) -> list[Paired[T]]:
        """The frames that can go now, oldest first (``flush``: every frame held, each with its best scan)."""
        now = self._clock_ns()
        period = self.scan_period_ns()
        newest = max((scan_stamp for scan_stamp, _ in self._scans), default=None)  # the scans do not change here
        released: list[Paired[T]] = []
        if self._unplaced is not None and self._ready is not None and self._ready(*self._unplaced):
            self._unplaced = None  # TF answers again for the frame that went without it: wait for TF again
        while self._waiting:
            stamp, arrived, scans_then, item = self._waiting[0]
            best = select_scan(self._scans, stamp, self.max_age_ns)
            timed_out = now - arrived >= self.wait_ns
            gave_up = self._gave_up
            chosen = self._final(stamp, best, newest, period)
            final = chosen and self._placed(item, best)
            far = chosen and best is None and self._far_behind(stamp, newest, period)  # went at once: scan may be late
            if not (final or timed_out or flush or len(self._waiting) > self._max_waiting):
                break  # later frames wait behind this one: outputs keep their order
            lost = (gave_up or far or not chosen) and (self.wait_ns > 0 or best is None)
            by_rate = chosen and not gave_up and not far and self.wait_ns > 0 and newest is not None and newest < stamp
            self._waiting.popleft()
            if not (final or timed_out or flush):  # let go before its wait: too many held (counted here, once)
                if self._on_late is not None:
                    behind = self._scans_behind(stamp, arrived, newest, period)
                    text = held_full_text(stamp, now - arrived, self._max_waiting, self.wait_ns, behind)
                    self._on_late("lidar.held_full", text)
            elif (lost or by_rate) and not flush:
                # lost: went without the final choice of its scan (with wait 0, "never wait", every frame goes at once
                # by choice: a scan is late only for a frame that went with none at all, its LiDAR scale lost; before
                # any scan came, its scan is taken quietly, not left to be paired with a later frame); by_rate: with
                # an earlier scan, none expected nearer at the scan rate, yet a nearer one may come after the wait (a
                # LiDAR whose phase jumped): the scan the bag runner pairs, and warns about
                gap = None if best is None else abs(best[0] - stamp)
                waited = timed_out or not lost  # by_rate: late after the image came, as the bag runner measures it
                quiet = self.wait_ns == 0 and not scans_then
                self._gone.append(
                    (stamp, arrived, gap, waited, quiet, self.wait_ns, period if by_rate and not lost else None)
                )
            if timed_out and not chosen and self._scans_seen == scans_then and self._silent(now, period):
                self._gave_up = True  # no scan during the wait: later frames go at once until a scan arrives
            if timed_out and chosen and not final and best is not None:
                self._unplaced = (item, best)  # waited for TF in vain: later frames go at once until it answers
            nearest = None if best is not None else nearest_stamp(self._scans, stamp)
            behind = None if nearest is None else self._scans_behind(stamp, arrived, newest, period)  # no_scan_text's
            one_scan = nearest is not None and period is None and len(self._scans) == 1
            arrivals = None if nearest is None else scan_arrivals(arrived, self._scan_came_ns, self._arrivals)
            late = timed_out and not final
            released.append(Paired(item, stamp, best, now - arrived, late, nearest, period, one_scan, behind, arrivals))
            if nearest is not None and abs(nearest - stamp) > self.max_age_ns + (period or 0) and self._on_unpaired:
                self._on_unpaired(released[-1])  # not the scan rate (a 1 Hz LiDAR): stopped, or on another clock
        return released

    def _late(self, scan_ns: int) -> None:
        """``on_late`` for each frame gone without its final choice that went without the scan arriving now (one call
        a frame: a 30 Hz camera's three frames left without a 10 Hz LiDAR's late scan are three frames without their
        LiDAR scale, as the bag runner warns once per frame and the other ``inputs_unused.lidar.*`` keys count). A
        frame stamped more than half a scan period after the scan waits for its own, the next, nearer scan (its report
        then names how late that one came: the wait that would have kept it)."""
        now, period = self._clock_ns(), self.scan_period_ns()
        for entry in list(self._gone):
            stamp, arrived, gap, waited, quiet, wait_ns, at_rate = entry  # wait_ns: the frame's (set since)
            if gap is not None and scan_ns >= stamp + gap + (period or 0):  # none can be nearer now: scans come
                self._gone.remove(entry)  # in stamp order, one out of order at most (two LiDARs on one topic, a
                continue  # driver's reorder); frames gone at once with a scan are not kept all 512 deep
            may_forget = at_rate is not None or (gap is None and period is not None)  # sent at the scan rate, or
            if may_forget and scan_ns > stamp + self.max_age_ns + (period or 0):  # with no scan at hand (a LiDAR that
                self._gone.remove(entry)  # stopped for 30 s left its 300 frames looped over at every scan after it
                continue  # came back): none can come within lidar.max_age_s now; not before the period is known (the
                # first two scans swapped: the second stamped a period before the first, within max_age of frames)
            distance = abs(scan_ns - stamp)
            if period is not None and scan_ns < stamp - period // 2:
                continue  # the LiDAR's next scan is nearer to this frame: its own scan, to come
            # a frame that waited its full wait lost this scan however far ahead it is stamped (a sweep paired by its
            # middle, 180 ms ahead); one that went at once (the LiDAR taken as stopped) only if the LiDAR itself is
            # late, after an image stamped as the scan would arrive (else a LiDAR coming back after a stop)
            if at_rate is not None:  # sent on at the scan rate: the bag runner pairs as the node did, both count
                if nearer_later(distance, gap, at_rate, self.max_age_ns):  # not a scan nearer by its jitter alone
                    self._gone.remove(entry)
                    if self._on_late is not None:
                        self._on_late("lidar.nearer_later", nearer_later_text(scan_ns, stamp, gap, at_rate))
                continue
            own_delay = now - arrived - (0 if waited else max(0, scan_ns - stamp))
            if distance <= self.max_age_ns and (gap is None or distance < gap) and own_delay > wait_ns:
                self._gone.remove(entry)  # one report a frame
                if self._on_late is not None and not quiet:
                    self._on_late("lidar.after_wait", late_scan_text(scan_ns, stamp, now - arrived, wait_ns))

    def _silent(self, now: int, period: int | None) -> bool:
        """Whether no scan has come for one and a half scan periods by ``now`` (clock ns; True before two scans): a
        wait without a scan, shorter than that, is no stopped LiDAR (a 1 Hz LiDAR with ``wait_ns`` 0.2 s had every
        frame after such a wait go at once, those within ``max_age_ns`` before its next scan too, without it)."""
        came = self._scan_came_ns
        return period is None or came is None or now - came > period + period // 2

    def _placed(self, item: T, best: tuple[int, Any] | None) -> bool:
        """Whether TF can place the chosen scan in the frame now (True: no check, no scan, or TF given up on)."""
        return self._ready is None or best is None or self._unplaced is not None or self._ready(item, best)

    def _scans_behind(
        self, stamp: int, arrived: int, newest: int | None, period: int | None
    ) -> tuple[int, int, int | None] | None:
        """:func:`scans_behind` for a frame stamped ``stamp`` that arrived at ``arrived`` (clock ns), the newest scan
        at hand stamped ``newest``, the last received at ``_scan_came_ns``. Judged from the arrivals, not the scan
        rate, which one scan at hand does not tell (a healthy 0.2 Hz LiDAR's newest scan may be 4 s behind a frame,
        and arrived 4 s before it). The time between the arrivals is scaled by how fast the held frames' stamps ran
        against their arrivals, when faster (``ros2 bag play --rate 4`` without /clock, a simulator faster than real
        time: a 0.2 Hz LiDAR on the camera's clock, its newest scan stamped 2.3 s behind a frame that came 0.6 s after
        it, was said to stamp on another clock), and only where that makes the excess smaller (a burst of frames is no
        rate)."""
        last_stamp, last_arrived = self._waiting[-1][:2] if self._waiting else (stamp, arrived)
        rate = max(1.0, (last_stamp - stamp) / max(1, last_arrived - arrived))  # stamp ns per arrival ns
        came = self._scan_came_ns
        return scans_behind(stamp, arrived, newest, came, period, self.max_age_ns, self.wait_ns, rate)

    def _far_behind(self, stamp: int, newest: int | None, period: int | None) -> bool:
        """:func:`far_behind` with this pairing's ``max_age_ns`` and ``wait_ns`` (the frame, gone at once, is
        remembered for :meth:`_late`)."""
        scans = min(len(self._scans), SCANS_FOR_RATE)  # as many as the period is judged from
        return far_behind(stamp, newest, period, self.max_age_ns, self.wait_ns, scans)

    def _final(self, stamp: int, best: tuple[int, Any] | None, newest: int | None, period: int | None) -> bool:
        """Whether the scan choice for a frame stamped ``stamp`` can no longer improve, the newest scan at hand
        stamped ``newest`` (None: none)."""
        if self._gave_up:
            return True  # the last wait went unanswered: the LiDAR is stopped (or was never there)
        if newest is None:
            return False  # no scan yet (start-up): wait for the first one, at most wait_ns
        if newest >= stamp:
            return True
        if self._far_behind(stamp, newest, period):
            return True  # the scans are stamped far behind (another clock, a stalled driver): none can come in time
        return final_at_scan_rate(stamp, None if best is None else best[0], newest, period, self.max_age_ns)


class PairingPoll:
    """The timer that polls a :class:`ScanPairing`, running only while it holds frames.

    :meth:`ScanPairing.poll` has work only while frames wait (for their scan, for TF, for ``wait_ns``). A timer that
    never stops wakes the executor at its rate whatever comes in: the node's 20 ms poll made five of every 10 Hz
    frame's wake-ups, each ~0.5 ms CPU in rclpy's executor (an idle node: ~30 ms CPU per second). Call
    :meth:`update` after every ``add_frame`` / ``add_scan`` / ``poll`` (from the thread that calls them, the
    executor's): the timer is restarted (a full period from now) when frames are held and stopped when none are.
    Which frames leave, with which scan, is unchanged; a frame that times out leaves at the first poll at or after
    ``wait_ns`` as before.

    ``timer``: rclpy's ``Timer`` (``cancel``, ``reset``, ``is_canceled``).
    """

    def __init__(self, timer: Any, pairing: ScanPairing[Any]) -> None:
        self._timer, self._pairing = timer, pairing
        timer.cancel()  # nothing is held yet

    def update(self) -> None:
        """Run the timer while the pairing holds frames, stop it when it holds none."""
        held, stopped = self._pairing.waiting > 0, self._timer.is_canceled()
        if held and stopped:
            self._timer.reset()
        elif not held and not stopped:
            self._timer.cancel()

    def after(self, released: list[Paired[T]]) -> list[Paired[T]]:
        """:meth:`update`, then ``released`` (what the ``add_frame`` / ``add_scan`` / ``poll`` call returned)."""
        self.update()
        return released


def lookup_cam_from_scan(
    tf_buffer: Any, camera_frame: str, image_stamp: Any, cloud_header: Any, motion_frame: str, timeout: Any
) -> Any:
    """tf2 ``TransformStamped`` taking a scan into the camera: the extrinsic at the scan stamp, or with
    ``motion_frame`` (e.g. ``odom``) ``lookup_transform_full``: camera at the image stamp <- lidar at the scan stamp.

    ``tf_buffer`` is a ``tf2_ros.Buffer``; ``timeout`` an ``rclpy.duration.Duration`` (zero: never wait). A ROS 1
    style scan frame ``/velodyne`` is looked up as ``velodyne``: tf2 stores it so and refuses ids with a leading '/'
    (the bag runner's :class:`~mono_depth_ros.core.tf_buffer.TfBuffer` does the same). tf2's exception for a frame
    it does not hold carries, appended, the like-named frame it does hold (another namespace, the body frame of a
    missing optical frame: :func:`~mono_depth_ros.core.frame_names.missing_frame_hint`).
    """
    lidar_frame = normalize_frame_id(str(cloud_header.frame_id))
    try:
        if motion_frame:
            return tf_buffer.lookup_transform_full(
                camera_frame, image_stamp, lidar_frame, cloud_header.stamp, motion_frame, timeout=timeout
            )
        return tf_buffer.lookup_transform(camera_frame, lidar_frame, cloud_header.stamp, timeout=timeout)
    except Exception as err:  # tf2's exceptions: raised again as the same type, with the hint
        known = tf_frames(tf_buffer)
        camera_frame, motion_frame = normalize_frame_id(camera_frame), normalize_frame_id(motion_frame)
        frames = [f for f in (camera_frame, lidar_frame, motion_frame) if f]
        hints = [missing_frame_hint(frame, known) for frame in frames]
        text = "; ".join(hint for hint in hints if hint)
        if missing := [frame for frame in frames if frame not in known]:  # as the bag runner's TfBuffer says it
            listed = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
            text += "; " if text else ""
            text += (
                f"{'frames' if len(missing) > 1 else 'frame'} {', '.join(repr(f) for f in missing)} "
                f"{'are' if len(missing) > 1 else 'is'} not in /tf or /tf_static; known frames: {listed}"
            )
            text += _missing_frames_remedy(missing, camera_frame, lidar_frame, motion_frame)
        enriched = _same_error(err, f"{str(err).rstrip()} {text[:1].upper()}{text[1:]}") if text and known else None
        if enriched is None:
            raise
        raise enriched from err


def _missing_frames_remedy(missing: list[str], camera_frame: str, lidar_frame: str, motion_frame: str) -> str:
    """The remedy for each role of the ``missing`` frames (``"; ..."``): the image's or the scan's frame, the
    transform between them or the driver's frame_id; ``lidar.motion_frame``, the odometry's TF or the setting."""
    text = ""
    drivers = [role for role, frame in (("camera", camera_frame), ("LiDAR", lidar_frame)) if frame in missing]
    if drivers:
        whose = f"{drivers[0]} driver's" if len(drivers) == 1 else "camera and LiDAR drivers'"
        text += (
            f"; publish the transform between them (e.g. ros2 run tf2_ros static_transform_publisher --frame-id "
            f"{camera_frame} --child-frame-id {lidar_frame} ..., or the robot's URDF), or set the {whose} frame_id to "
            f"the frame TF has"
        )
    if motion_frame and motion_frame in missing and motion_frame not in (camera_frame, lidar_frame):
        text += (
            f"; lidar.motion_frame {motion_frame!r} is the fixed frame the scans are moved in: it needs the robot's "
            f"odometry in TF ({motion_frame} -> the robot's base frame, from the odometry node), or set "
            f"lidar.motion_frame to a fixed frame TF has (empty: no motion compensation)"
        )
    return text


def lidar_scan_from_tf(
    tf_buffer: Any,
    factory: MessageFactory,
    camera_frame: str,
    image_ns: int,
    scan: Scan,
    motion_frame: str,
    timeout: Any,
) -> LidarScan:
    """A decoded scan placed for an image through tf2 (the node; the bag runner's is ``BagIndex.lidar_scan``):
    :func:`lookup_cam_from_scan` at the scan stamp, and with ``motion_frame`` and per-point times the sweep de-skewed
    (:func:`~mono_depth_ros.core.scale.deskew.deskewed_scan`: each slice placed at its own time, tf2 asked every
    10 ms with the same ``timeout``; a slice tf2 cannot place yet takes the nearest placed one's transform).

    Raises:
        tf2's exceptions: the lookup at the scan stamp failed (as :func:`lookup_cam_from_scan`).
    """
    header = make_header(factory, scan.stamp_ns, scan.frame_id)
    image_stamp = time_from_ns(factory, image_ns)
    stamped = lookup_cam_from_scan(tf_buffer, camera_frame, image_stamp, header, motion_frame, timeout)
    cam_from_lidar = rigid_transform_from_msg(stamped)
    lidar_frame = normalize_frame_id(scan.frame_id)
    mount = _mount(tf_buffer, camera_frame, lidar_frame, header.stamp, timeout) if motion_frame else cam_from_lidar
    if not motion_frame or scan.point_dt_ns is None:
        return LidarScan(
            scan.points_in_lidar, cam_from_lidar, scan.stamp_ns, sweep_middle_ns=scan.sweep_middle_ns, mount=mount
        )

    def at(t_ns: int) -> RigidTransform | None:
        try:
            found = tf_buffer.lookup_transform_full(
                camera_frame, image_stamp, lidar_frame, time_from_ns(factory, t_ns), motion_frame, timeout=timeout
            )
        except Exception:  # tf2's exceptions (no ROS imports here): that slice takes its neighbour's transform
            return None
        return rigid_transform_from_msg(found)

    deskewed, _ = deskewed_scan(scan.points_in_lidar, scan.point_dt_ns, scan.stamp_ns, cam_from_lidar, at)
    return replace(deskewed, mount=mount, sweep_middle_ns=scan.sweep_middle_ns)  # the middle it was paired by


def _mount(tf_buffer: Any, camera_frame: str, lidar_frame: str, stamp: Any, timeout: Any) -> RigidTransform | None:
    """The LiDAR's mounting, camera <- LiDAR at the scan stamp without the motion frame (``LidarScan.mount``: a
    recalibration restarts the LiDAR scale); None where tf2 cannot say (then not compared)."""
    try:
        return rigid_transform_from_msg(tf_buffer.lookup_transform(camera_frame, lidar_frame, stamp, timeout=timeout))
    except Exception:  # tf2's exceptions (no ROS imports here): the scan is placed all the same
        return None


def _same_error(err: Exception, text: str) -> Exception | None:
    """An exception of ``err``'s type with ``text`` (None: its type takes other arguments)."""
    try:
        return type(err)(text)
    except Exception:  # any constructor failure: the original is raised instead
        return None


def tf_frames(tf_buffer: Any) -> set[str]:
    """The frames a ``tf2_ros.Buffer`` holds (children and their parents, from ``all_frames_as_yaml``); empty when
    it cannot say."""
    try:
        table = yaml.safe_load(tf_buffer.all_frames_as_yaml()) or {}
    except Exception:  # a buffer without the call, or text that is no YAML: no hint, no harm
        return set()
    if not isinstance(table, dict):
        return set()
    parents = {str(v["parent"]) for v in table.values() if isinstance(v, dict) and v.get("parent")}
    return {str(k) for k in table} | parents


def tf_ready(
    tf_buffer: Any, motion_frame: str, image_header: Callable[[T], Any]
) -> Callable[[T, tuple[int, Any]], bool]:
    """``ready`` for :class:`ScanPairing`: whether tf2 can answer now (timeout zero) the lookup
    :func:`lookup_cam_from_scan` will make for a frame (``image_header(item)``: its image header) and its scan.

    ``tf_buffer`` is a ``tf2_ros.Buffer``. A check tf2 cannot make (a bad frame id) answers True: the worker's lookup
    then counts the error, the frame is not held for it. With ``motion_frame``, a scan paired by the middle of its
    sweep (``scan[0]`` past its header stamp: per-point times) is also checked at the sweep's other end (as far past
    the middle): the de-skew places every slice, and an Ouster sweep stamped at its start ends 100 ms later, after
    the image; TF not there yet left the slices after the image with the image's motion.
    """

    def ready(item: T, scan: tuple[int, Any]) -> bool:
        image, cloud = image_header(item), scan[1].header
        camera_frame, lidar_frame = str(image.frame_id), str(cloud.frame_id)
        try:
            if not motion_frame:
                return bool(tf_buffer.can_transform(camera_frame, lidar_frame, cloud.stamp))
            stamps = [cloud.stamp]
            header_ns = stamp_to_ns(cloud.stamp)
            if scan[0] != header_ns:  # the sweep's other end, as far from its middle as the header stamp
                sec, nanosec = divmod(2 * int(scan[0]) - header_ns, 1_000_000_000)
                stamps.append(type(cloud.stamp)(sec=sec, nanosec=nanosec))
            return all(
                tf_buffer.can_transform_full(camera_frame, image.stamp, lidar_frame, stamp, motion_frame)
                for stamp in stamps
            )
        except Exception:  # tf2 raises its own types for invalid arguments: the worker reports them
            return True

    return ready
