"""Which camera_info, LiDAR scan and external prediction go with each image (header stamps, int ns).

The rules (the offline counterpart of the node's subscriptions; the bag is indexed first, so a partner recorded
after its image is found as well):

* camera_info: the one with the image's exact stamp; else, with ``sync.mode: approximate``, the nearest one closer
  than ``sync.slop_s`` (strictly, as message_filters' ApproximateTime); else the latest one stamped at or before the
  image (with ``approximate`` the node would drop that image, so the frame plan carries a warning:
  :meth:`PairingRules.camera_info_unsynced`); with ``sync.mode: latest``, the node's choice among the last 16
  recorded by the time it looks, of any pass (:meth:`PairingRules.latest_camera_info`: the latest stamped at or
  before the image, else, all stamped after it (another clock), the last recorded), none when none was recorded by
  then (the node drops the image: ``no_camera_info``, even when its camera_info is recorded right after it);
* LiDAR: the scan nearest in time to the image, if it is at most ``lidar.max_age_s`` away on either side (ties go to
  the earlier scan; among scans with equal stamps, the first recorded: the node releases a frame as the first scan
  stamped at or after it arrives and cannot wait for a second of the same stamp); one whose bytes are no message
  (the node's subscription drops it) gives way to the next nearest within ``lidar.max_age_s``, as the node pairs
  the nearest scan it received; where the node sends the image on at the LiDAR's scan rate (the next scan expected
  no nearer than one at hand, from the bag times: :meth:`PairingRules.lidar_sent_at_rate`), among the scans recorded
  by then, a nearer one recorded later counted ``lidar.nearer_later`` as the node counts it;
* external prediction: the exact stamp only (a prediction of another image is never used).

Among camera_infos and predictions with equal stamps, the one the node's ApproximateTimeSynchronizer hands over
(:meth:`PairingRules.as_synchronised`): its queue keeps one message per topic and stamp, a later one replacing it,
until image, camera_info and prediction are all in; so the last one recorded by then, and when each came after the
set was complete, the first; with ``sync.mode: latest``, where the node chooses among the camera_infos it received
(its last 16) when the image (and its prediction) are in, the same choice among those recorded by then
(:func:`~mono_depth_ros.adapters.camera_cache.latest_for_image`: the image's own camera_info recorded after it, as
image_transport's CameraPublisher sends it, is the next frame's business; none recorded by then: the frame is
skipped, as the node drops it). A camera_info not within ``sync.slop_s`` with ``approximate`` (which the node drops)
stays the last recorded.
The bag runner took the last recorded: a camera_info recorded again after its image decided the frame where the node
had long published it with the first. In a bag whose clock went back
(:mod:`.passes`), an image is paired within its own pass only; camera_info falls back to the latest one of an earlier
pass (``approximate``, with the warning; ``latest`` chooses among the last 16 recorded of any pass, as the node keeps
the camera_infos it received across the jump: the image's own pass alone had the runner skip, or take its own
camera_info recorded after it, where the node took the last of the pass before).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field

from mono_depth_ros.adapters.camera_cache import LATEST_INFOS_KEPT, latest_for_image
from mono_depth_ros.adapters.lidar import (
    MAX_SCANS_KEPT,
    SCANS_FOR_RATE,
    far_behind,
    final_at_scan_rate,
    late_scan_remedy,
    nearer_later,
    nearer_later_text,
    scan_arrivals,
    scan_period,
    scans_behind,
)
from mono_depth_ros.adapters.stats import seconds_to_ns as seconds_to_ns  # the node's rounding, re-exported
from mono_depth_ros.adapters.sync_watch import synchroniser_slop_ns
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS
from mono_depth_ros.depth_config import DepthConfig

NS_PER_S = 1_000_000_000
SYNC_MODES = ("approximate", "latest")


@dataclass(frozen=True)
class StampIndex:
    """Messages of one topic sorted by header stamp.

    Attributes:
        stamps_ns: ascending header stamps (int ns).
        keys: ``keys[i]`` identifies the message stamped ``stamps_ns[i]`` (its ordinal on the topic).
        passes: bag pass -> the index of its messages, when the bag's clock went back (:meth:`of_pass`).
        logs_ns: ``logs_ns[i]``: the bag time (int ns) the message was recorded at (empty: not known, all 0).
    """

    stamps_ns: tuple[int, ...]
    keys: tuple[int, ...]
    passes: Mapping[int, StampIndex] = field(default_factory=dict, compare=False, repr=False)
    logs_ns: tuple[int, ...] = ()

    @classmethod
    def build(
        cls,
        stamps_ns: Sequence[int],
        keys: Sequence[int] | None = None,
        passes: Sequence[int] | None = None,
        logs_ns: Sequence[int] | None = None,
    ) -> StampIndex:
        """Index messages given in recording order (``keys`` default to 0, 1, 2, ...); equal stamps keep that order.

        ``passes``: the bag pass of each message (:mod:`.passes`; None: all in pass 0). ``logs_ns``: the bag time of
        each (int ns; None: not known).
        """
        keys = list(range(len(stamps_ns))) if keys is None else list(keys)
        logs = [0] * len(stamps_ns) if logs_ns is None else [int(t) for t in logs_ns]
        if (
            len(keys) != len(stamps_ns)
            or len(logs) != len(stamps_ns)
            or (passes is not None and len(passes) != len(stamps_ns))
        ):
            msg = (
                f"{len(stamps_ns)} stamps but {len(keys)} keys, {len(logs)} bag times and "
                f"{'no' if passes is None else len(passes)} passes"
            )
            raise ValueError(msg)
        order = sorted(range(len(stamps_ns)), key=lambda i: stamps_ns[i])  # stable: recording order within a stamp
        by_pass: dict[int, StampIndex] = {}
        if passes is not None and any(passes):
            for bag_pass in sorted(set(passes)):
                chosen = [i for i in range(len(stamps_ns)) if passes[i] == bag_pass]
                by_pass[bag_pass] = cls.build(
                    [stamps_ns[i] for i in chosen], [keys[i] for i in chosen], logs_ns=[logs[i] for i in chosen]
                )
        sorted_logs = tuple(logs[i] for i in order)
        return cls(tuple(int(stamps_ns[i]) for i in order), tuple(keys[i] for i in order), by_pass, sorted_logs)

    def of_pass(self, bag_pass: int) -> StampIndex:
        """The messages of one bag pass (all of them when the bag's clock never went back)."""
        if not self.passes:
            return self
        return self.passes.get(bag_pass, _EMPTY)

    def latest_before_pass(self, bag_pass: int) -> int | None:
        """Key of the latest-stamped message of the last earlier pass that has any, or None."""
        earlier = [p for p in self.passes if p < bag_pass and self.passes[p].keys]
        return self.passes[max(earlier)].keys[-1] if earlier else None

    def __len__(self) -> int:
        """Number of indexed messages."""
        return len(self.stamps_ns)

    def exact(self, stamp_ns: int) -> int | None:
        """Key of the last-recorded message stamped exactly ``stamp_ns``, or None."""
        right = bisect.bisect_right(self.stamps_ns, stamp_ns)
        if right > 0 and self.stamps_ns[right - 1] == stamp_ns:
            return self.keys[right - 1]
        return None

    @functools.cached_property
    def position(self) -> dict[int, int]:
        """Key -> its place in :attr:`keys`."""
        return {key: i for i, key in enumerate(self.keys)}

    def received_by(self, key: int, fired_log_ns: int) -> tuple[int, int]:
        """Among the messages stamped as the one of ``key``: the key of the last one recorded at or before bag time
        ``fired_log_ns`` (int ns), or of the first one when all came later, and the bag time the first was recorded
        at (what a message_filters queue keyed by stamp holds when its set is complete at ``fired_log_ns``).

        A bisection among them (bag times ascend in recording order, as a bag is read), not a loop: a camera_info of
        constant stamp (stamp 0, what ``sync.mode: latest`` is for) is asked once per image, and the loop over all
        its messages made the plan quadratic (an hour at 30 Hz: ~7 min before the first frame). Only a stamp whose
        bag times do not ascend (:attr:`_unordered_stamps`: an index built otherwise) is looped over.

        Raises:
            KeyError: ``key`` is not indexed.
        """
        low, high = self._stamped_alike(key)
        if not self.logs_ns:  # bag times not known: all 0
            return self.keys[high - 1 if fired_log_ns >= 0 else low], 0
        if low not in self._unordered_stamps:
            chosen = max(low, bisect.bisect_right(self.logs_ns, fired_log_ns, low, high) - 1)
        else:  # an index built from bag times out of order (not from a bag): the same answer, by a loop
            chosen = low
            for i in range(low, high):  # recording order within a stamp
                if self.logs_ns[i] <= fired_log_ns:
                    chosen = i
        return self.keys[chosen], self.logs_ns[low]

    def logs_between(self, after_ns: int, before_ns: int) -> tuple[int, ...]:
        """The bag times (int ns, ascending) of the messages recorded after ``after_ns`` and before ``before_ns``."""
        logs = self._by_log[0]
        return logs[bisect.bisect_right(logs, after_ns) : bisect.bisect_left(logs, before_ns)] if self.logs_ns else ()

    def logs_stamped_as(self, key: int) -> tuple[int, ...]:
        """The bag times (int ns, recording order) of the messages stamped as the one of ``key`` (0 each: not known).

        Raises:
            KeyError: ``key`` is not indexed.
        """
        low, high = self._stamped_alike(key)
        return self.logs_ns[low:high] if self.logs_ns else (0,) * (high - low)

    def keys_stamped_as(self, key: int) -> tuple[int, ...]:
        """The keys (recording order) of the messages stamped as the one of ``key``, as :meth:`logs_stamped_as`.

        Raises:
            KeyError: ``key`` is not indexed.
        """
        low, high = self._stamped_alike(key)
        return self.keys[low:high]

    def _stamped_alike(self, key: int) -> tuple[int, int]:
        """The range of places in :attr:`keys` of the messages stamped as the one of ``key``."""
        stamp = self.stamps_ns[self.position[key]]
        return bisect.bisect_left(self.stamps_ns, stamp), bisect.bisect_right(self.stamps_ns, stamp)

    @functools.cached_property
    def _unordered_stamps(self) -> frozenset[int]:
        """The first places in :attr:`keys` of the stamps whose bag times do not ascend in recording order (none from
        a bag: it is read in bag-time order); one flag for the whole index had sent every stamp's lookup through the
        loop for one such stamp."""
        logs, stamps = self.logs_ns, self.stamps_ns
        unordered: set[int] = set()
        first = 0
        for i in range(1, len(logs)):
            if stamps[i] != stamps[i - 1]:
                first = i
            elif logs[i] < logs[i - 1]:
                unordered.add(first)
        return frozenset(unordered)

    def stamp_of(self, key: int) -> int:
        """The stamp (int ns) message ``key`` is indexed by (a scan's: its header stamp plus its sweep's middle).

        Raises:
            KeyError: ``key`` is not indexed.
        """
        return self.stamps_ns[self.position[key]]

    def log_of(self, key: int) -> int:
        """The bag time (int ns) message ``key`` was recorded at (0: not known).

        Raises:
            KeyError: ``key`` is not indexed.
        """
        return self.logs_ns[self.position[key]] if self.logs_ns else 0

    def recorded_last(self, log_ns: int, count: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Keys and stamps (int ns) of the last ``count`` messages recorded at or before bag time ``log_ns`` (int ns),
        in recording order (what a node keeping its last ``count`` received holds then); empty when none was, or
        bag times are not known."""
        logs, keys, stamps = self._by_log
        right = bisect.bisect_right(logs, log_ns) if self.logs_ns else 0
        left = max(0, right - count)
        return keys[left:right], stamps[left:right]

    @functools.cached_property
    def _by_log(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Bag times ascending, their keys and stamps (recording order within a bag time: keys ascend as recorded)."""
        order = sorted(range(len(self.logs_ns)), key=lambda i: (self.logs_ns[i], self.keys[i]))
        return (
            tuple(self.logs_ns[i] for i in order),
            tuple(self.keys[i] for i in order),
            tuple(self.stamps_ns[i] for i in order),
        )

    def latest_at_or_before(self, stamp_ns: int) -> int | None:
        """Key of the latest message stamped at or before ``stamp_ns``, or None."""
        right = bisect.bisect_right(self.stamps_ns, stamp_ns)
        return self.keys[right - 1] if right > 0 else None

    def nearest_stamp_ns(self, stamp_ns: int, skip: Container[int] = ()) -> int | None:
        """The indexed stamp nearest to ``stamp_ns`` at any distance, of a message whose key is not in ``skip`` (None:
        none such indexed)."""
        right, stamps, keys = bisect.bisect_right(self.stamps_ns, stamp_ns), self.stamps_ns, self.keys
        before = next((stamps[i] for i in range(right - 1, -1, -1) if keys[i] not in skip), None)
        after = next((stamps[i] for i in range(right, len(stamps)) if keys[i] not in skip), None)
        around = [stamp for stamp in (before, after) if stamp is not None]
        return min(around, key=lambda s: abs(s - stamp_ns)) if around else None

    def nearest(self, stamp_ns: int, max_distance_ns: int, *, strict: bool = False) -> int | None:
        """Key of the message nearest to ``stamp_ns`` within ``max_distance_ns`` (``<`` when ``strict``), or None.

        Ties between an earlier and a later message go to the earlier one; among equal stamps, the last recorded.
        """
        right = bisect.bisect_right(self.stamps_ns, stamp_ns)
        candidates = []
        if right > 0:
            candidates.append((stamp_ns - self.stamps_ns[right - 1], 0, self.keys[right - 1]))
        if right < len(self.stamps_ns):
            later = self.stamps_ns[right]
            last_equal = bisect.bisect_right(self.stamps_ns, later) - 1
            candidates.append((later - stamp_ns, 1, self.keys[last_equal]))
        if not candidates:
            return None
        distance, _, key = min(candidates)
        within = distance < max_distance_ns if strict else distance <= max_distance_ns
        return key if within else None

    def within(self, stamp_ns: int, max_distance_ns: int) -> tuple[int, ...]:
        """Keys of every message at most ``max_distance_ns`` from ``stamp_ns``, in the LiDAR's order of preference:
        nearer first, an earlier one before a later one as far, among equal stamps the first recorded first (as the
        node takes the first scan it received; :meth:`nearest` takes the last recorded)."""
        low = bisect.bisect_left(self.stamps_ns, stamp_ns - max_distance_ns)
        high = bisect.bisect_right(self.stamps_ns, stamp_ns + max_distance_ns)
        order = sorted(
            range(low, high),
            key=lambda i: (abs(self.stamps_ns[i] - stamp_ns), self.stamps_ns[i] > stamp_ns, i),
        )
        return tuple(self.keys[i] for i in order)


_EMPTY = StampIndex((), ())


def scan_after_wait(scan_ns: int, scan_log_ns: int, image_ns: int, image_log_ns: int, wait_ns: int) -> str | None:
    """Why the node would not pair a scan recorded more than ``lidar.wait_s`` (``wait_ns``) after its image (bag
    times, int ns; ``image_log_ns``: when the node takes the image into its pairing, its synchroniser's set
    complete, :attr:`~.plan.FramePlan.paired_log_ns`): the node holds a frame that long for its scan, then goes on
    without it and counts the scan ``inputs_unused.lidar.after_wait`` when it comes. None when it was recorded in
    time, and with ``wait_ns`` 0 (the node never waits: a scan recorded after its image is not late, the user chose
    so). The bag runner uses the scan
    all the same (an offline run has it) and warns with this text; the wait to set is the node's
    (:func:`~mono_depth_ros.adapters.lidar.late_scan_remedy`: 20 % more, rounded up to 0.1 s; later than the
    parameter's 5 s allows, the LiDAR's latency to fix)."""
    late_ns = scan_log_ns - image_log_ns
    if wait_ns <= 0 or late_ns <= wait_ns:
        return None
    return (
        f"the scan stamped {scan_ns / NS_PER_S:.3f} s was recorded {late_ns / NS_PER_S:.3f} s after the image stamped "
        f"{image_ns / NS_PER_S:.3f} s, longer than lidar.wait_s={wait_ns / NS_PER_S:g} s: used here, but the node "
        f"would not pair it (it goes on without the scan after lidar.wait_s, counting inputs_unused.lidar.after_wait "
        f"when it comes); {late_scan_remedy(late_ns)}"
    )


@dataclass(frozen=True)
class PairingRules:
    """The parameters that decide pairing (see the module docstring).

    Attributes:
        sync_mode: ``approximate`` or ``latest`` (``sync.mode``).
        slop_ns: ApproximateTime slop (``sync.slop_s``) in int ns.
        lidar_max_age_ns: largest |scan stamp - image stamp| (``lidar.max_age_s``) in int ns.
        lidar_wait_ns: how long the node holds an image for its scan (``lidar.wait_s``) in int ns (0: never; then
            :meth:`lidar_sent_at_rate` says None).
    """

    sync_mode: str = "approximate"
    slop_ns: int = 50_000_000
    lidar_max_age_ns: int = 200_000_000
    lidar_wait_ns: int = 0

    def __post_init__(self) -> None:
        if self.sync_mode not in SYNC_MODES:
            msg = f"sync.mode {self.sync_mode!r} must be one of {', '.join(SYNC_MODES)}"
            raise ConfigError(msg)
        if self.slop_ns < 0 or self.lidar_max_age_ns < 0:
            msg = f"sync.slop_s and lidar.max_age_s must be >= 0, got {self.slop_ns} ns and {self.lidar_max_age_ns} ns"
            raise ConfigError(msg)

    @classmethod
    def from_config(cls, config: DepthConfig) -> PairingRules:
        """Rules from the config (``sync.mode``, ``sync.slop_s``, ``lidar.max_age_s``)."""
        return cls(
            sync_mode=config.sync.mode,
            slop_ns=synchroniser_slop_ns(config.sync.slop_s),  # as the node's synchroniser holds it
            lidar_max_age_ns=seconds_to_ns(config.lidar.max_age_s),
            lidar_wait_ns=seconds_to_ns(config.lidar.wait_s),
        )

    def camera_info_for(
        self, image_stamp_ns: int, infos: StampIndex, bag_pass: int = 0, image_log_ns: int | None = None
    ) -> int | None:
        """Key of the camera_info for an image of ``bag_pass``, or None when there is none at or before it (nor
        close enough) in its pass nor in an earlier one; with ``sync.mode: latest`` and the image's bag time
        ``image_log_ns``, the node's choice among those recorded by then (:meth:`latest_camera_info`), as
        :class:`~mono_depth_ros.adapters.camera_cache.LatestCameraInfo` chooses among those it received."""
        if self.sync_mode == "latest" and image_log_ns is not None:
            return self.latest_camera_info(image_stamp_ns, image_log_ns, infos)
        own = infos.of_pass(bag_pass)
        key = own.exact(image_stamp_ns)
        if key is None and self.sync_mode == "approximate":
            key = own.nearest(image_stamp_ns, self.slop_ns, strict=True)
        if key is None:
            key = own.latest_at_or_before(image_stamp_ns)
        if key is None:
            key = infos.latest_before_pass(bag_pass)
        return key

    @staticmethod
    def latest_camera_info(image_stamp_ns: int, fired_log_ns: int, infos: StampIndex) -> int | None:
        """``sync.mode: latest``: the key of the camera_info the node takes for an image stamped ``image_stamp_ns``
        when the image (and its prediction) are in at bag time ``fired_log_ns`` (int ns): its choice
        (:func:`~mono_depth_ros.adapters.camera_cache.latest_for_image`) among the last
        :data:`~mono_depth_ros.adapters.camera_cache.LATEST_INFOS_KEPT` recorded by then, of any bag pass (the node
        keeps those it received across a jump back of the clock); None when none was recorded by then: the node
        drops the image (``bad_messages.no_camera_info``), even when its camera_info comes right after it."""
        held_keys, held_stamps = infos.recorded_last(fired_log_ns, LATEST_INFOS_KEPT)
        chosen = latest_for_image(held_stamps, image_stamp_ns)
        return None if chosen is None else held_keys[chosen]

    def camera_info_unsynced(self, image_stamp_ns: int, infos: StampIndex, bag_pass: int = 0) -> str | None:
        """With ``sync.mode: approximate``, why the node would not pair this image with any camera_info (none within
        ``sync.slop_s`` of its stamp: :meth:`camera_info_for` fell back to the latest one before it); else None."""
        own = infos.of_pass(bag_pass)
        if self.sync_mode != "approximate" or own.exact(image_stamp_ns) is not None:
            return None
        if own.nearest(image_stamp_ns, self.slop_ns, strict=True) is not None:
            return None
        nearest = own.nearest_stamp_ns(image_stamp_ns)
        seen = "none" if nearest is None else f"the nearest camera_info is stamped {nearest / NS_PER_S:.3f} s"
        return (
            f"image stamped {image_stamp_ns / NS_PER_S:.3f} s has no camera_info within sync.slop_s="
            f"{self.slop_ns / NS_PER_S:g} s ({seen}): the latest one before it was used; the node would not pair it "
            f"(bad_messages.no_camera_info): publish camera_info with the image's stamp, or use sync.mode: latest"
        )

    def lidar_for(self, image_stamp_ns: int, scans: StampIndex, bag_pass: int = 0) -> int | None:
        """Key of the scan of ``bag_pass`` nearest to the image within ``lidar_max_age_ns`` (of equal stamps, the
        first recorded), or None."""
        candidates = self.lidar_candidates(image_stamp_ns, scans, bag_pass)
        return candidates[0] if candidates else None

    def lidar_candidates(self, image_stamp_ns: int, scans: StampIndex, bag_pass: int = 0) -> tuple[int, ...]:
        """Keys of the scans of ``bag_pass`` within ``lidar_max_age_ns`` of the image, the one :meth:`lidar_for`
        takes first, then the next nearest: the scan taken when the ones before cannot be read (the node never
        receives those; the first pass reads headers only)."""
        return scans.of_pass(bag_pass).within(image_stamp_ns, self.lidar_max_age_ns)

    def lidar_sent_at_rate(
        self, image_stamp_ns: int, image_log_ns: int, scans: StampIndex, bag_pass: int = 0
    ) -> tuple[tuple[int, ...], tuple[str, str] | None] | None:
        """How the node sends an image on at the LiDAR's scan rate, from the bag times (int ns): at ``image_log_ns``
        (when the node takes the image into its pairing: its synchroniser's set complete, :func:`~.plan.plan_frames`)
        and at each scan's recorded after it within ``lidar.wait_s``, its choice is final when the scans
        recorded by then (of ``bag_pass``) are stamped before the image and the next one, expected one period (of
        the last :data:`~mono_depth_ros.adapters.lidar.SCANS_FOR_RATE`) after the newest, cannot be nearer or within
        ``lidar.max_age_s`` (:func:`~mono_depth_ros.adapters.lidar.final_at_scan_rate`, the node's
        :class:`~mono_depth_ros.adapters.lidar.ScanPairing` rule). Returns the candidates recorded by then
        (:meth:`lidar_candidates`' order) and, when a nearer scan within ``lidar.max_age_s`` is recorded later,
        ``("lidar.nearer_later", text)`` (the node counts it so when it comes); None when the node waits for a scan
        stamped at or after the image, or its wait runs out (the candidates stand: the nearest, a late one warned),
        or with ``lidar.wait_s`` 0 (every frame goes at once by choice). Scans stamped far behind the image (another
        clock) are no choice at the rate: None."""
        if self.lidar_wait_ns <= 0:
            return None
        own = scans.of_pass(bag_pass)
        candidates = own.within(image_stamp_ns, self.lidar_max_age_ns)
        events = (image_log_ns, *own.logs_between(image_log_ns, image_log_ns + self.lidar_wait_ns))
        for at_ns in events:
            _, held = own.recorded_last(at_ns, SCANS_FOR_RATE)
            if not held:
                continue
            newest, period = max(held), scan_period(held)
            if newest >= image_stamp_ns:
                return None  # final with the nearest at hand: the scans recorded later are further (stamp order)
            if far_behind(image_stamp_ns, newest, period, self.lidar_max_age_ns, self.lidar_wait_ns, len(held)):
                return None  # another clock: the node sends the frame at once, and counts a late scan otherwise
            at_hand = tuple(key for key in candidates if own.log_of(key) <= at_ns)
            best_ns = own.stamps_ns[own.position[at_hand[0]]] if at_hand else None
            if final_at_scan_rate(image_stamp_ns, best_ns, newest, period, self.lidar_max_age_ns):
                gap = None if best_ns is None else abs(best_ns - image_stamp_ns)
                nearer = [
                    stamp
                    for key in candidates
                    if own.log_of(key) > at_ns
                    and nearer_later(
                        abs((stamp := own.stamps_ns[own.position[key]]) - image_stamp_ns),
                        gap,
                        period,
                        self.lidar_max_age_ns,
                    )
                ]
                text = nearer_later_text(nearer[0], image_stamp_ns, gap, period) if nearer else ""
                note = ("lidar.nearer_later", text) if nearer else None
                return at_hand, note
        return None

    def scans_at_hand(
        self, image_stamp_ns: int, image_log_ns: int, scans: StampIndex, bag_pass: int = 0, skip: Container[int] = ()
    ) -> tuple[int, int | None, bool, tuple[int, int, int | None] | None, tuple[int, int | None] | None] | None:
        """What the node's "LiDAR scan not used" line judges an image without a scan by, from the bag times (int ns):
        the scans of ``bag_pass`` recorded by the time the node lets the image go (:meth:`_let_go_ns`: when it takes
        the image in, ``image_log_ns``, or a scan recorded within ``lidar.wait_s`` after it that makes its choice
        final; the last :data:`~mono_depth_ros.adapters.lidar.SCANS_FOR_RATE` not in ``skip``, the unreadable ones,
        which the node never receives):
        ``(nearest, period, one_scan, behind, arrivals)``, the stamp of the nearest (among those and the older ones
        stamped within 1 s of the newest, which the node keeps while its scans run ahead of the images, up to
        :data:`~mono_depth_ros.adapters.lidar.MAX_SCANS_KEPT`), the scan period (None: not known), whether
        it is the only one, and :func:`~mono_depth_ros.adapters.lidar.scans_behind` for the newest (the last recorded
        arriving when recorded, the image at ``image_log_ns``) and :func:`~mono_depth_ros.adapters.lidar.scan_arrivals`
        (those recorded arriving when recorded), as the node's
        :class:`~mono_depth_ros.adapters.lidar.ScanPairing` gives them to
        :func:`~mono_depth_ros.adapters.lidar.no_scan_text`. None: no scan recorded by then, or bag times not known.
        The scans recorded when the node took the image in told the frames a LiDAR on another clock holds until its
        second scan (:func:`~mono_depth_ros.adapters.lidar.far_behind` needs the scan period) of the only scan at
        hand, where the node's log named the scans at hand when it let them go (a 10 Hz LiDAR an hour behind a 10 Hz
        camera: the first frame; behind a 30 Hz camera: the first four)."""
        own = scans.of_pass(bag_pass)
        kept = self._readable_recorded(own, self._let_go_ns(image_stamp_ns, image_log_ns, own, skip), skip)
        held = kept[-SCANS_FOR_RATE:]  # what the rate is judged by
        if not held:
            return None
        at_hand = [stamp for _, stamp in held]
        oldest_kept = max(at_hand) - TIME_JUMP_BACK_NS  # the node keeps more than 10 stamped within 1 s (keep_ns)
        kept_stamps = [stamp for _, stamp in kept[-MAX_SCANS_KEPT:-SCANS_FOR_RATE] if stamp >= oldest_kept] + at_hand
        nearest = min(kept_stamps, key=lambda stamp: abs(stamp - image_stamp_ns))
        period = scan_period(at_hand)
        came = own.log_of(held[-1][0])
        behind = scans_behind(
            image_stamp_ns, image_log_ns, max(at_hand), came, period, self.lidar_max_age_ns, self.lidar_wait_ns
        )
        arrivals = scan_arrivals(image_log_ns, came, [own.log_of(key) for key, _ in held])
        return nearest, period, period is None and len(held) == 1, behind, arrivals

    def _let_go_ns(self, image_stamp_ns: int, image_log_ns: int, own: StampIndex, skip: Container[int]) -> int:
        """When the node lets an image without a scan go (int ns bag times), as far as the scans tell: when it takes
        it in, ``image_log_ns``, or at the first scan of ``own`` not in ``skip`` recorded within ``lidar.wait_s``
        after that which makes its choice final, as :class:`~mono_depth_ros.adapters.lidar.ScanPairing` decides it:
        the newest scan at hand stamped at or after the image, or far behind it
        (:func:`~mono_depth_ros.adapters.lidar.far_behind`: with the scan period known), or the next expected no
        nearer (:func:`~mono_depth_ros.adapters.lidar.final_at_scan_rate`); when none does (its wait runs out), the
        last scan recorded within the wait (the scans it had then). No later than the last scan before a gap longer
        than ``lidar.wait_s`` and one and a half scan periods: a frame taken in during it may have waited in vain,
        the LiDAR taken as stopped, and the frames after it go at once (the node's ``_gave_up``, which the scans alone
        do not tell: a 2 Hz LiDAR an hour behind a 30 Hz camera, ``lidar.wait_s`` 0.2 s, the frames after the first
        one's wait went at once with the only scan at hand, where its second scan was taken as their release).
        ``image_log_ns`` with ``lidar.wait_s`` 0 (every frame goes at once)."""
        held = self._readable_recorded(own, image_log_ns, skip)[-SCANS_FOR_RATE:]
        if self.lidar_wait_ns <= 0 or not held:
            return image_log_ns
        let_go, until = image_log_ns, image_log_ns + self.lidar_wait_ns + 1  # a scan as the wait runs out: held still
        for at_ns in (image_log_ns, *own.logs_between(image_log_ns, until)):
            at_hand = self._readable_recorded(own, at_ns, skip)[-SCANS_FOR_RATE:]
            if at_ns != image_log_ns and at_hand[-1] == held[-1]:
                continue  # an unreadable scan: nothing reaches the node
            came, period = own.log_of(held[-1][0]), scan_period([stamp for _, stamp in held])
            if at_ns - came > max(self.lidar_wait_ns, 3 * (period or 0) // 2):
                return let_go  # a frame may have waited in vain since the last scan: the frames after it go at once
            held, let_go = at_hand, at_ns
            stamps = [stamp for _, stamp in held]
            newest, period, max_age_ns = max(stamps), scan_period(stamps), self.lidar_max_age_ns
            if (
                newest >= image_stamp_ns
                or far_behind(image_stamp_ns, newest, period, max_age_ns, self.lidar_wait_ns, len(held))
                or final_at_scan_rate(image_stamp_ns, None, newest, period, max_age_ns)
            ):
                return at_ns
        return let_go

    @staticmethod
    def _readable_recorded(own: StampIndex, log_ns: int, skip: Container[int]) -> list[tuple[int, int]]:
        """``(key, stamp)`` of the last :data:`~mono_depth_ros.adapters.lidar.MAX_SCANS_KEPT` scans of ``own`` (or
        more) recorded at or before ``log_ns`` and not in ``skip`` (the unreadable ones never reach the node, nor take
        a place there), in recording order."""
        count = MAX_SCANS_KEPT
        while True:
            keys, stamps = own.recorded_last(log_ns, count)
            kept = [(key, stamp) for key, stamp in zip(keys, stamps, strict=True) if key not in skip]
            if len(kept) >= MAX_SCANS_KEPT or len(keys) < count:
                return kept
            count *= 2

    def as_synchronised(
        self,
        image_stamp_ns: int,
        image_log_ns: int,
        info: int | None,
        infos: StampIndex,
        prediction: int | None,
        predictions: StampIndex,
        bag_pass: int = 0,
    ) -> tuple[int | None, int | None]:
        """The camera_info and prediction keys the node's synchroniser hands over with an image stamped
        ``image_stamp_ns`` recorded at bag time ``image_log_ns`` (int ns), given the ones :meth:`camera_info_for` and
        :meth:`prediction_for` chose: of those stamped alike, the last recorded before the set was complete (the
        image, the first camera_info and the first prediction of those stamps all recorded), the first when it
        completed the set. With ``sync.mode: latest`` the camera_info is no part of the set: the node chooses among
        the last 16 it received when the image, and its prediction, are in; so the same choice among the last 16
        recorded by then, of any pass (:meth:`latest_camera_info`; the image's own recorded after it is not among
        them: it took that one), None when none was (it took the first recorded after: the node drops the image).
        With ``approximate``, one the synchroniser would not take (none within ``sync.slop_s``:
        :meth:`camera_info_unsynced`, which the node drops) or of an earlier pass stays (the plan warns)."""
        own_infos, own_predictions = infos.of_pass(bag_pass), predictions.of_pass(bag_pass)
        own = info is not None and info in own_infos.position
        synced = own and self.sync_mode == "approximate"
        synced = synced and self.camera_info_unsynced(image_stamp_ns, infos, bag_pass) is None
        fired_ns = image_log_ns
        if synced:
            assert info is not None  # synced
            fired_ns = max(fired_ns, own_infos.received_by(info, image_log_ns)[1])
        if prediction is not None:
            fired_ns = max(fired_ns, own_predictions.received_by(prediction, image_log_ns)[1])
        if self.sync_mode == "latest":  # among the camera_infos the node holds when the image (and prediction) are in
            info = self.latest_camera_info(image_stamp_ns, fired_ns, infos)
        elif synced:
            assert info is not None  # synced
            info = own_infos.received_by(info, fired_ns)[0]
        if prediction is not None:
            prediction = own_predictions.received_by(prediction, fired_ns)[0]
        return info, prediction

    @staticmethod
    def prediction_for(image_stamp_ns: int, predictions: StampIndex, bag_pass: int = 0) -> int | None:
        """Key of the prediction of ``bag_pass`` with the image's exact stamp, or None."""
        return predictions.of_pass(bag_pass).exact(image_stamp_ns)
