"""Images that ApproximateTime never paired with their camera_info (or prediction): counted, not silently lost.

``message_filters.ApproximateTimeSynchronizer`` drops an image without a word when no camera_info (or external
prediction) lies within its slop of the image stamp: a driver that stamps camera_info differently (stamp 0, its own
clock), a camera_info publisher that is missing, a prediction that is late. :class:`SyncWatch` follows the images
fed to it the way the synchroniser keeps them (one per stamp, at most ``sync.queue_size``, the oldest stamp evicted
first) and reports each image that left that queue unpaired, or has waited :data:`SYNC_GIVE_UP_S` for its partners
(:data:`PREDICTION_GIVE_UP_S` with an external prediction), with the reason (``no_camera_info``, ``no_prediction``,
``unsynced``) and a message naming the stamps and the remedy. An image paired after it was reported (a partner later
than that) is published all the same, and its report is taken back (``on_late``): each image is counted once.

The other way round, a camera_info with no image within the slop of its stamp, while images stamped before and after
it have arrived (the image stream passed it), is an image that never reached the node: lost in transport (a
best-effort reader drops a whole large image when one of its UDP fragments is lost: a 1920x1200 rgb8 camera at 30 Hz
lost 65% of its images that way on Humble + Cyclone, uncounted) or never sent. :meth:`SyncWatch.poll` reports them,
once a later image has arrived, at least :data:`SYNC_GIVE_UP_S` after their camera_info, to ``on_missing``
(``sync.mode: approximate`` only).

Time going back (a bag played with ``--loop``, a restarted clock) on one input drops from the synchroniser (see
:meth:`SyncWatch.follow`) the messages stamped more than :data:`TIME_JUMP_BACK_NS` after the one that went back:
message_filters keeps unpaired messages until its queue overflows, evicting the oldest stamp, so a queue full of
messages from before the jump evicted every new (older-stamped) message on arrival, and no frame was paired until
the stamps passed them again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mono_depth_ros.adapters.cdr_input import Relay
from mono_depth_ros.adapters.input_watch import WatchedInput, publisher_reliability, silence_reason
from mono_depth_ros.adapters.messages import negative_stamp_text
from mono_depth_ros.adapters.topic_names import shown_topic
from mono_depth_ros.core.msg_factory import stamp_to_ns
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold
from mono_depth_ros.depth_config import DepthConfig

NS_PER_S = 1_000_000_000
SYNC_GIVE_UP_S = 1.0  # an image still unpaired after this long (monotonic) is counted as lost
PREDICTION_GIVE_UP_S = 5.0  # ... when it waits for an external prediction (another model: seconds on a CPU)
MISSING_WAIT_S = 10.0  # a camera_info whose image neither came nor was passed by later images: forgotten then
MISSING_HELD = 1000  # camera_infos held for their image at most (the oldest forgotten, uncounted)
HISTORY_HELD = 1024  # image and partner stamps remembered: the give-up time of a 100 Hz camera at 5 s, and the pause
# before it (a restart's lost images are explained that late; with 64 a 30 Hz camera at 5 s had forgotten the pause)
SYNC_POLL_S = 0.1  # how often the node looks for such images (:meth:`SyncWatch.poll` from a timer)
STOPPED_AFTER_IMAGES = 2  # images stamped after a partner's last message (and its silence) that make it 'stopped'
Synchroniser = TypeVar("Synchroniser")


def synchroniser_slop_s(slop_s: float) -> float:
    """The slop to give message_filters' ApproximateTimeSynchronizer for ``sync.slop_s``: it pairs stamps closer
    than its slop, strictly, so 0 would pair nothing, not even equal stamps (every image lost as ``no_camera_info``);
    ``sync.slop_s: 0`` means equal stamps only (as TimeSynchronizer and the bag runner pair them): 1 ns."""
    return max(float(slop_s), 1.0 / NS_PER_S)


def synchroniser_slop_ns(slop_s: float) -> int:
    """``sync.slop_s`` in int ns as message_filters holds it (``rclpy.duration.Duration(seconds=...)`` truncates:
    2.01 s is 2_009_999_999 ns), for the bag runner's pairing (``bag.pairing.PairingRules``); 0 stays 0 (equal stamps
    only, as the 1 ns of :func:`synchroniser_slop_s` pairs them)."""
    return int(float(slop_s) * NS_PER_S)


@dataclass(frozen=True)
class Unpaired:
    """An image the synchroniser did not pair.

    Attributes:
        stamp_ns: its header stamp (int ns).
        missing: the partner inputs (``camera_info``, ``prediction``) with no message within the slop of that stamp;
            empty when every partner had one (the synchroniser's queue was too short for the rate).
        latest_ns: the newest stamp seen on each partner input (None: nothing received on it).
        behind: for each partner input with a message within the slop, how many messages came on it after that one
            (a large image that lags its camera_info in transport came that many camera_infos late).
        streamed_ns: how long images had been arriving (since the first one, monotonic ns) when it was given up
            (None: not known); shorter than the give-up time, a partner nothing has come on may merely be late.
        stopped_ns: per missing partner input that was stopped around the image (``SyncWatch._stopped_ns``): how
            long it was silent (ns).
        started_ns: per missing partner input whose first message (since the start, or the last jump back) is
            stamped less than 1 s after the image and within the slop of a later image's: that stamp (it started
            after the images, or its subscription matched later; a partner stamped on another clock matches no
            image, and an image stamped 0 amid the stream is no image before the partner started).
    """

    stamp_ns: int
    missing: tuple[str, ...]
    latest_ns: dict[str, int | None]
    behind: dict[str, int] = field(default_factory=dict)  # per partner: messages that came after the matching one
    streamed_ns: int | None = None
    stopped_ns: dict[str, int] = field(default_factory=dict)
    started_ns: dict[str, int] = field(default_factory=dict)


STOPPED_PUBLISHER = {  # what publishes each partner input, for a partner that stopped while images go on
    "camera_info": "the camera driver's camera_info (or its camera_info_manager)",
    "prediction": "the external depth model's prediction",
}
TOPIC_SETTING = {  # what names the topic of each partner input, for the remedy of a topic that delivers nothing
    "camera_info": "camera_info_topic (launch: camera_info:=)",
    "prediction": "prediction_topic",
}
SENDER = {"camera_info": "the camera driver", "prediction": "the external depth model"}  # who sends each partner
PARTNER_TYPE = {"camera_info": "sensor_msgs/msg/CameraInfo", "prediction": "sensor_msgs/msg/Image"}
GRAPH_EVERY_S = 1.0  # a silent partner's publishers are looked up once a second at most (each lost image asks)


class SyncWatch:
    """Tracks the images given to an ApproximateTimeSynchronizer; thread-safe.

    :meth:`image` and :meth:`partner` must see each message *before* the synchroniser does (:meth:`attach` registers
    them on the message_filters sources first), :meth:`paired` is called from the synchroniser's callback, and
    :meth:`expired` (or :meth:`poll`) from a timer.

    Args:
        partners: input name -> topic (for the messages) of the inputs paired with the image, in filter order.
        slop_s, queue_size: the synchroniser's (``sync.slop_s``, ``sync.queue_size``).
        on_lost: ``(reason, text)`` for each unpaired image found by :meth:`poll` or :meth:`attach`'s callbacks.
        on_late: ``(reason)`` for each reported image the synchroniser paired after all (its partner came
            after the give-up time): that ``on_lost`` report is taken back (of the last ``remembered`` reports).
        on_missing: ``(count, text)`` for camera_infos whose image never arrived (see the module docstring).
    """

    def __init__(
        self,
        partners: dict[str, str],
        slop_s: float,
        queue_size: int,
        on_lost: Callable[[str, str], Any] | None = None,
        *,
        give_up_s: float = SYNC_GIVE_UP_S,
        remembered: int = 64,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        on_late: Callable[[str], Any] | None = None,
        on_missing: Callable[[int, str], Any] | None = None,
        publishers: Callable[[str], Sequence[Any] | None] | None = None,
        input_qos: str = "sensor_data",
    ) -> None:
        self._lock = threading.Lock()
        self._publishers = publishers  # partner name -> its topic's publisher endpoint infos (None: unknown)
        self._input_qos = input_qos
        self._graph: dict[str, tuple[int, str]] = {}  # partner name -> (when looked up, ns; silence_reason or "")
        self._on_missing = on_missing
        self._infos: dict[int, int] = {}  # camera_info stamp ns -> arrival (monotonic ns), no image within the slop
        self._info_paused: dict[int, int] = {}  # of those, stamp ns -> the camera's pause before it (ns)
        self._image_span: tuple[int, int] | None = None  # oldest, newest image stamp since the last jump back
        self._images: deque[int] = deque(maxlen=MISSING_HELD)  # images whose camera_info has not come (yet)
        self._waiting: dict[int, int] = {}  # image stamp ns -> arrival (monotonic ns)
        self._first_image: int | None = None  # arrival (monotonic ns) of the first image (since the last drain)
        self._reported: OrderedDict[int, str] = OrderedDict()  # image stamp ns -> reason, of the last reports
        self._remembered = int(remembered)
        self._on_late = on_late
        self._topics = dict(partners)
        self._partners: dict[str, deque[int]] = {name: deque(maxlen=remembered) for name in partners}
        self._partner_arrived: dict[str, int] = {}  # name -> arrival (ns) of its latest message
        self._image_arrived: int | None = None  # arrival (monotonic ns) of the latest image
        history = max(int(remembered), HISTORY_HELD)
        self._partner_arrivals = {name: deque[tuple[int, int]](maxlen=history) for name in partners}  # stamp, ns
        self._first_partner: dict[str, int] = {}  # name -> stamp of its first message (since the last jump back)
        self._recent_images: deque[int] = deque(maxlen=history)  # stamps of the last images
        self._slop_s = float(slop_s)
        self._queue_size = int(queue_size)
        self._give_up_ns = int(give_up_s * NS_PER_S)
        self._clock_ns = clock_ns
        self._on_lost = on_lost
        self._newest: dict[str, int] = {}  # input name -> newest stamp seen (since the last jump back on it)
        self._synchroniser: Any = None  # set by follow()
        self._timer: Any = None  # set by polled_by()
        self.outputs: list[Relay] = []  # what the synchroniser reads (:meth:`attach`), in the order of the sources

    @classmethod
    def attach(
        cls,
        sources: Sequence[Any],
        config: DepthConfig,
        on_image: Callable[[], Any],
        on_lost: Callable[[str, str], Any],
        on_late: Callable[[str], Any] | None = None,
        on_missing: Callable[[int, str], Any] | None = None,
        on_unused: Callable[[str, str], Any] | None = None,
    ) -> SyncWatch:
        """A watch between the node's message_filters ``sources`` (image, then camera_info in ``approximate`` mode,
        then the prediction with ``model.backend: external``) and the synchroniser, which takes :attr:`outputs`.

        ``on_missing(count, text)`` for camera_infos whose image never arrived (:meth:`missing_images`).
        ``on_image()`` is called for every image as it arrives, ``on_late(reason)`` for every lost image paired
        after all (its ``on_lost`` report taken back), ``on_lost(reason, text)`` for every image lost and
        every image held back: one stamped before 0 (``header.stamp.sec < 0``), on which message_filters raises
        ValueError in the executor, which ends the node (reason ``TransformError``, as for an image's bad header).
        A camera_info or prediction stamped before 0 is held back too and is no image: ``on_unused(reason, text)``
        (reason ``<partner>.TransformError``, e.g. ``camera_info.TransformError``; :meth:`RuntimeStats.input_unused`
        in the node; without ``on_unused``, ``on_lost`` with that reason).
        """
        partners = {"camera_info": config.topics.camera_info} if config.sync.mode == "approximate" else {}
        if config.model.backend == "external":
            partners["prediction"] = config.topics.prediction
        named = zip(partners.items(), sources[1:], strict=True)
        partners = {name: _as_subscribed(source, topic) for (name, topic), source in named}  # as subscribed: remapped
        give_up_s = PREDICTION_GIVE_UP_S if "prediction" in partners else SYNC_GIVE_UP_S
        sync = config.sync
        watch = cls(partners, sync.slop_s, sync.queue_size, on_lost, give_up_s=give_up_s, on_late=on_late)
        watch._on_missing, watch._input_qos = on_missing, config.topics.input_qos
        graph = {name: getattr(source, "publishers", None) for name, source in zip(partners, sources[1:], strict=True)}
        watch._publishers = lambda name: (look_up := graph.get(name)) and look_up()

        def arrived(msg: Any, name: str, output: Relay) -> None:
            stamp_ns = stamp_to_ns(msg.header.stamp)
            if name == "image":
                on_image()
            if stamp_ns < 0:
                text = negative_stamp_text(name, stamp_ns)
                if name == "image":
                    on_lost("TransformError", text)
                else:  # no image outcome: its image is counted on its own (published or lost)
                    (on_unused or on_lost)(f"{name}.TransformError", text)
                return
            watch.report(watch.forget_after_a_jump_back(name, stamp_ns))
            if name == "image":
                watch.report(watch.image(stamp_ns))
            else:
                watch.partner(name, stamp_ns)
            output.signalMessage(msg)
            watch.update_timer()

        for name, source in zip(["image", *partners], sources, strict=True):
            watch.outputs.append(Relay())
            source.registerCallback(arrived, name, watch.outputs[-1])
        return watch

    def polled_by(self, timer: Any) -> Any:
        """Run ``timer`` (rclpy's, calling :meth:`poll`) only while :meth:`poll` has work: an image waits for its
        partners or a camera_info for its image; returns it. Always running, the node's 10 Hz poll woke the executor
        every frame with nothing to do (camera_info and image pair within milliseconds; ~0.6 ms CPU per wake-up in
        rclpy). Restarted (a full period from then) when something is held; what is reported, and when to the
        period, is unchanged. Updated after each message :meth:`attach` relays, each :meth:`paired` and each
        :meth:`poll`, all from the executor's thread (rclpy timers are not thread-safe)."""
        self._timer = timer
        self.update_timer()
        return timer

    def update_timer(self) -> None:
        """Start or stop the :meth:`polled_by` timer for what is held now."""
        timer = self._timer
        if timer is None:
            return
        with self._lock:
            held = bool(self._waiting or self._infos)
        stopped = timer.is_canceled()
        if held and stopped:
            timer.reset()
        elif not held and not stopped:
            timer.cancel()

    def follow(self, synchroniser: Synchroniser) -> Synchroniser:
        """Watch over ``synchroniser`` too (message_filters' ApproximateTimeSynchronizer built on :attr:`outputs`:
        its ``queues``, one dict per input keyed by stamp, under its ``lock``); returns it."""
        self._synchroniser = synchroniser
        return synchroniser

    def forget_after_a_jump_back(self, name: str, stamp_ns: int) -> list[Unpaired]:
        """A message stamped ``stamp_ns`` on input ``name`` is about to reach the synchroniser. When it is more than
        :data:`TIME_JUMP_BACK_NS` before the newest stamp seen on that input (time went back), drops every message the
        followed synchroniser holds stamped more than that after it (from before the jump), and forgets the images
        waiting here from then; returns those images (lost: to be reported).

        Per input: a partner seconds behind the image input (a slow external prediction) is no jump.
        """
        limit = stamp_ns + TIME_JUMP_BACK_NS
        with self._lock:
            newest = self._newest.get(name)
            jumped = newest is not None and stamp_ns < newest - TIME_JUMP_BACK_NS
            self._newest[name] = stamp_ns if newest is None or jumped else max(newest, stamp_ns)
            if not jumped:
                return []
            self._image_span, self._infos = None, {}
            self._first_partner.clear()  # a partner's first stamp from before the jump is after every image since
            for arrivals in self._partner_arrivals.values():
                arrivals.clear()
            self._recent_images.clear()
            self._images.clear()  # (images seen before the jump pass no camera_info after it)
            stale_images = sorted(stamp for stamp in self._waiting if stamp > limit)
            for stamp in stale_images:
                del self._waiting[stamp]
            lost = [self._unpaired(stamp) for stamp in stale_images]
        synchroniser = self._synchroniser
        if synchroniser is not None:
            with synchroniser.lock:
                for queue in synchroniser.queues:  # keys: int ns (Humble), or a Time with .nanoseconds
                    for key in [key for key in queue if int(getattr(key, "nanoseconds", key)) > limit]:
                        del queue[key]
        return lost

    def image(self, stamp_ns: int) -> list[Unpaired]:
        """An image arrived; returns the images the synchroniser's queue loses to it (same stamp, or the oldest)."""
        with self._lock:
            span = self._image_span
            self._image_span = (
                (stamp_ns, stamp_ns) if span is None else (min(span[0], stamp_ns), max(span[1], stamp_ns))
            )
            info = _nearest(self._infos, stamp_ns, self._slop_s * NS_PER_S)  # each image takes one camera_info
            if info is not None:
                del self._infos[info]
            else:
                self._images.append(int(stamp_ns))  # for its camera_info, still to come
            if self._first_image is None:
                self._first_image = self._clock_ns()
            self._image_arrived = self._clock_ns()
            self._recent_images.append(int(stamp_ns))
            lost = [self._unpaired(stamp_ns)] if stamp_ns in self._waiting else []  # replaced in the queue
            self._waiting[int(stamp_ns)] = self._clock_ns()
            while len(self._waiting) > self._queue_size:
                oldest = min(self._waiting)
                del self._waiting[oldest]
                lost.append(self._unpaired(oldest))
            return lost

    def partner(self, name: str, stamp_ns: int) -> None:
        """A message arrived on partner input ``name``."""
        with self._lock:
            self._partners[name].append(int(stamp_ns))
            self._partner_arrived[name] = self._clock_ns()
            self._partner_arrivals[name].append((int(stamp_ns), self._clock_ns()))
            self._first_partner.setdefault(name, int(stamp_ns))
            if name == "camera_info" and self._on_missing is not None:
                image = _nearest(self._images, stamp_ns, self._slop_s * NS_PER_S)
                if image is not None:
                    self._images.remove(image)  # its image came first
                    return
                self._infos[int(stamp_ns)] = self._clock_ns()  # its image may have come: checked in missing_images
                while len(self._infos) > MISSING_HELD:
                    del self._infos[min(self._infos)]
                # the pause before it, taken now: by the report (the give-up time later) a fast camera's last image
                # before the pause has left the remembered ones
                self._info_paused = {s: ns for s, ns in self._info_paused.items() if s in self._infos}
                if paused := self._camera_paused_ns(int(stamp_ns)):
                    self._info_paused[int(stamp_ns)] = paused

    def paired(self, image: Any) -> None:
        """The synchroniser emitted ``image`` (a message with a header); an image reported lost: ``on_late``."""
        stamp_ns = stamp_to_ns(image.header.stamp)
        with self._lock:
            reason = None if self._waiting.pop(stamp_ns, None) is not None else self._reported.pop(stamp_ns, None)
        if reason is not None and self._on_late is not None:
            self._on_late(reason)
        self.update_timer()

    def expired(self) -> list[Unpaired]:
        """Images that have waited ``give_up_s`` for their partners (forgotten from now on)."""
        with self._lock:
            now = self._clock_ns()
            old = sorted(stamp for stamp, arrived in self._waiting.items() if now - arrived >= self._give_up_ns)
            for stamp in old:
                del self._waiting[stamp]
            return [self._unpaired(stamp) for stamp in old]

    def poll(self) -> None:
        """:meth:`expired`, each reported to ``on_lost``, and :meth:`missing_images` to ``on_missing`` (the node's
        timer callback)."""
        self.report(self.expired())
        missing = self.missing_images()
        if missing and self._on_missing is not None:
            first, last = missing[0] / NS_PER_S, missing[-1] / NS_PER_S
            text = (
                f"{len(missing)} camera_info(s) stamped {first:.3f} .. {last:.3f} s came without their image (images "
                f"before and after them arrived)"
            )
            with self._lock:
                paused = max(self._info_paused.pop(stamp, 0) for stamp in missing)
            if paused:
                text += (
                    f", after a pause of the whole camera of {paused / NS_PER_S:.1f} s (nothing on the image or "
                    f"camera_info topic): a camera driver that restarted loses its first images so when its new image "
                    f"publisher matches the node after its camera_info's (they pair from then on), or a network "
                    f"stall's recovery lost them"
                )
            self._on_missing(len(missing), text)
        self.update_timer()

    def missing_images(self) -> list[int]:
        """Stamps of the camera_infos, arrived ``give_up_s`` ago or more, that no image took (each image takes the
        camera_info of its stamp, else the nearest within the slop, one each) while images stamped before and after
        them have arrived; forgotten from now on. One that the image stream has not passed yet is kept: a 3840x2160
        image reached the node up to 1.4 s after its camera_info. A camera_info no image could match (stamp 0,
        another clock, before the first image) is forgotten after :data:`MISSING_WAIT_S`, uncounted."""
        with self._lock:
            now, span = self._clock_ns(), self._image_span
            waited = {
                stamp: now - arrived for stamp, arrived in self._infos.items() if now - arrived >= self._give_up_ns
            }
            missing = sorted(s for s in waited if span is not None and span[0] < s < span[1])
            forgotten = [s for s, wait_ns in waited.items() if wait_ns >= MISSING_WAIT_S * NS_PER_S]
            for stamp in {*missing, *forgotten}:
                del self._infos[stamp]
            return missing

    def _camera_paused_ns(self, stamp_ns: int) -> int:
        """How long the whole camera paused before a camera_info stamped ``stamp_ns`` (as it arrives) that came with
        no image since the pause: the longest gap in the stamps of the last image before it and of the camera_infos
        since, when it is the give-up time and three of the camera_info's usual periods (in stamps) or more (else 0:
        a 0.5 Hz camera's 2 s between frames is no pause). Then its image may have been lost as a restarted camera
        driver's new image publisher matched the node's subscription after its camera_info's, or in a network
        stall's recovery: counted all the same, and named."""
        tail = self._remembered  # taken as the camera_info arrives: the latest messages are the ones that matter
        images = [image for image in itertools.islice(reversed(self._recent_images), tail) if image < stamp_ns]
        if not images:
            return 0
        last = max(images)
        arrivals = self._partner_arrivals.get("camera_info", ())
        stamps = sorted(s for s, _ in itertools.islice(reversed(arrivals), tail))
        infos = [s for s in stamps if last < s <= stamp_ns]
        pause = max((b - a for a, b in itertools.pairwise([last, *infos])), default=0)
        periods = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
        usual = periods[len(periods) // 2] if periods else 0  # a slow camera's period is no pause
        return pause if pause >= max(self._give_up_ns, 3 * usual) else 0

    def report(self, images: list[Unpaired]) -> None:
        """Each of ``images`` to ``on_lost`` as ``(reason, text)`` (:meth:`explain`)."""
        for lost in images:
            reason, text = self.explain(lost)
            with self._lock:
                self._reported[lost.stamp_ns] = reason
                self._reported.move_to_end(lost.stamp_ns)
                while len(self._reported) > self._remembered:
                    self._reported.popitem(last=False)
            if self._on_lost is not None:
                self._on_lost(reason, text)

    @property
    def waiting(self) -> int:
        """Images not paired yet."""
        with self._lock:
            return len(self._waiting)

    def drain(self) -> int:
        """Forget the images not paired yet, unreported (their subscriptions are going); returns how many."""
        with self._lock:
            count = len(self._waiting)
            self._waiting.clear()
            self._infos.clear()
            self._first_image = self._image_arrived = None
            self._partner_arrived.clear()
            for arrivals in self._partner_arrivals.values():
                arrivals.clear()
            self._first_partner.clear()
            self._recent_images.clear()
            return count

    def _silence(self, name: str, remedy: str) -> str:
        """Why partner ``name``'s topic, which has publishers, delivered nothing (:func:`~.input_watch.silence_reason`
        from the topic's publishers, as the input watch says it of a silent image topic: another message type, or
        publishers of the type subscribed that send nothing or do not match its QoS); ``""`` when the topic has no
        publisher or they are unknown (then the topic setting, ``remedy``, is the remedy). Looked up once every
        :data:`GRAPH_EVERY_S` at most."""
        now = self._clock_ns()
        cached = self._graph.get(name)
        if cached is not None and now - cached[0] < GRAPH_EVERY_S * NS_PER_S:
            return cached[1]
        infos = list((self._publishers and self._publishers(name)) or ())
        text = ""
        if infos:
            topic = self._topics[name]
            watched = WatchedInput(name, topic, PARTNER_TYPE[name], lambda: 0, remedy, self._input_qos)
            types = [str(info.topic_type) for info in infos]
            text = silence_reason(watched, types, publisher_reliability(infos))
            if PARTNER_TYPE[name] in types:  # a publisher of the right type that sends nothing: not the topic setting
                text += f" (`ros2 topic hz {topic}` shows whether anything is sent; {SENDER[name]} must publish one "
                text += f"{name} per image, with the image's header stamp)"
        self._graph[name] = (now, text)
        return text

    def explain(self, lost: Unpaired) -> tuple[str, str]:
        """``(reason, text)``: ``no_<input>`` (nothing within the slop on that input) or ``unsynced``."""
        seen = ", ".join(
            f"latest {name} stamped " + (f"{ns / NS_PER_S:.3f} s" if ns is not None else f"never: none on {topic}")
            for (name, topic), ns in zip(self._topics.items(), lost.latest_ns.values(), strict=True)
        )
        stamp = f"image stamped {lost.stamp_ns / NS_PER_S:.3f} s"
        if lost.missing and lost.latest_ns[lost.missing[0]] is None:  # nothing ever came: the topic is wrong
            name = lost.missing[0]
            remedy = f"set {TOPIC_SETTING[name]} to the topic the driver publishes (`ros2 topic list -t` lists the "
            remedy += "topics and their types)"
            streamed = lost.streamed_ns
            if streamed is not None and streamed < self._give_up_ns:  # a partner that starts a little late pairs next
                return f"no_{name}", (
                    f"{stamp} not paired: no {' / '.join(lost.missing)} ({seen}); nothing has arrived on "
                    f"{self._topics[name]} yet, {streamed / NS_PER_S:.2f} s after the first image (one that starts a "
                    f"little after the images pairs from then on); if none ever does, {remedy}"
                )
            text = (
                f"{stamp} not paired: no {' / '.join(lost.missing)} ({seen}); nothing has arrived on "
                f"{self._topics[name]} since the node started: {self._silence(name, remedy) or remedy}"
            )
            return f"no_{name}", text
        if stopped := [name for name in lost.missing if name in lost.stopped_ns]:
            name = stopped[0]
            topic = self._topics[name]
            return f"no_{name}", (
                f"{stamp} not paired: {name} stopped: nothing arrived on {topic} for "
                f"{lost.stopped_ns[name] / NS_PER_S:.1f} s while images came ({seen}); {STOPPED_PUBLISHER[name]} "
                f"ended, stalled or was restarted without it (`ros2 topic info -v {topic}` lists its publishers); "
                f"images are skipped (no_{name}) until it publishes again"
            )
        if started := [name for name in lost.missing if name in lost.started_ns]:
            name = started[0]
            after_s = (lost.started_ns[name] - lost.stamp_ns) / NS_PER_S
            return f"no_{name}", (
                f"{stamp} not paired: the first {name} on {self._topics[name]} is stamped {after_s:.3f} s after it "
                f"({seen}): {name} started after the images (its publisher started later, or the node's subscription "
                f"to it matched after the image's: at start-up, at a lifecycle activate, when the camera driver "
                f"restarted); the images since pair"
            )
        if lost.missing:
            text = (
                f"{stamp} not paired: no {' / '.join(lost.missing)} within sync.slop_s={self._slop_s:g} s of it "
                f"({seen}); publish it with the image's stamp"
                + (", or use sync.mode: latest" if lost.missing[0] == "camera_info" else "")
            )
            return f"no_{lost.missing[0]}", text
        late = max(lost.behind.values(), default=0)
        text = f"{stamp} left the synchroniser's queue unpaired ({seen}); raise sync.queue_size ({self._queue_size})"
        if late >= self._queue_size:  # its partner was evicted from the synchroniser's queue before it came
            text += (
                f" above {late}: the image came {late} messages after its partner's (a large image lags its "
                f"camera_info in transport)"
            )
        return "unsynced", text

    def _unpaired(self, stamp_ns: int) -> Unpaired:
        slop_ns = self._slop_s * NS_PER_S
        missing = tuple(
            name for name, stamps in self._partners.items() if not any(abs(s - stamp_ns) <= slop_ns for s in stamps)
        )
        latest = {name: (stamps[-1] if stamps else None) for name, stamps in self._partners.items()}
        behind = {
            name: min(range(len(stamps)), key=lambda k: abs(stamps[-1 - k] - stamp_ns))  # its own: the nearest
            for name, stamps in self._partners.items()
            if name not in missing
        }
        first, now = self._first_image, self._clock_ns()
        stopped = {name: silent for name in missing if (silent := self._stopped_ns(name, stamp_ns, now)) is not None}
        streamed = None if first is None else now - first
        started = {  # a first partner (since the node started, or the camera restarted) that a later image took
            name: first_ns
            for name in missing
            if 0
            < (first_ns := self._restarted_ns(name, stamp_ns) or self._first_partner.get(name, 0)) - stamp_ns
            <= TIME_JUMP_BACK_NS  # not an odd stamp
            and any(abs(image - first_ns) <= slop_ns for image in self._recent_images)
        }
        return Unpaired(int(stamp_ns), missing, latest, behind, streamed, stopped, started)

    def _stopped_ns(self, name: str, stamp_ns: int, now_ns: int) -> int | None:
        """How long partner ``name`` was silent around an image stamped ``stamp_ns`` when that silence is a stop (its
        publisher ended or stalled while images went on), else None: silent (monotonic) up to the latest image for the
        give-up time and three of its usual periods (in stamps or in arrival, the longer: a bag played at ``--rate
        0.1``) with :data:`STOPPED_AFTER_IMAGES` images stamped after its last message, or, back since, a gap around
        the image of as long both in its stamps and in their arrival. No stop:
        a slow camera whose camera_info is stamped otherwise, one camera_info lost from a slow camera (its image came
        after it), a camera_info published once (no usual period: ``sync.mode: latest`` is the remedy) or at 1 Hz
        beside 10 Hz images, images that stopped too (the end of a stream), camera_infos lost from the subscription's
        history in a burst of messages after a network stall (their neighbours arrived together)."""
        arrivals = sorted(self._partner_arrivals[name])
        stamps = [stamp for stamp, _ in arrivals]
        periods = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
        if not periods:
            return None  # published once (or not since a jump back): no rate to have stopped from
        arrived_every = sorted(b - a for a, b in itertools.pairwise(sorted(ns for _, ns in arrivals)))
        usual = max(periods[len(periods) // 2], arrived_every[len(arrived_every) // 2])  # a bag at --rate 0.1: arrival
        least = max(self._give_up_ns, 3 * usual)
        after = next((i for i, s in enumerate(stamps) if s > stamp_ns), None)
        if after is None:
            arrived, image_arrived = self._partner_arrived.get(name), self._image_arrived
            if arrived is None or image_arrived is None:
                return None
            since = sum(image > stamps[-1] + self._slop_s * NS_PER_S for image in self._recent_images)
            silent = image_arrived - arrived >= least and since >= STOPPED_AFTER_IMAGES
            return now_ns - arrived if silent else None
        if after == 0:
            return None  # nothing before the image
        (before_ns, before_arrival), (after_ns, after_arrival) = arrivals[after - 1], arrivals[after]
        if self._images_paused(before_ns, after_ns, stamp_ns):
            return None  # the images paused in its silence too: the camera restarted (:meth:`_restarted_ns`)
        return after_ns - before_ns if min(after_ns - before_ns, after_arrival - before_arrival) >= least else None

    def _images_paused(self, before_ns: int, after_ns: int, stamp_ns: int) -> bool:
        """Whether the images paused for half or more of a partner's silence between its messages stamped
        ``before_ns`` and ``after_ns``: a gap that long in the image stamps from the last one paired with
        ``before_ns`` (within the slop) up to the image stamped ``stamp_ns``, as at a restart of the camera driver
        (where the partner's silence is the pause and the partners lost after it). A partner that stopped while the
        images went on leaves gaps of their usual period only. False when that image is no longer remembered."""
        slop_ns = self._slop_s * NS_PER_S
        images = sorted(image for image in self._recent_images if image <= stamp_ns)
        before = [image for image in images if image <= before_ns + slop_ns]
        if not before:
            return False
        span = [before[-1], *(image for image in images if image > before_ns + slop_ns)]
        return 2 * max((b - a for a, b in itertools.pairwise(span)), default=0) >= after_ns - before_ns

    def _restarted_ns(self, name: str, stamp_ns: int) -> int | None:
        """The stamp of partner ``name``'s first message after a pause around the image stamped ``stamp_ns`` in which
        no image came either (the camera driver restarted: its new publishers match the node's subscriptions one by
        one, the image's first, so the first images' partners never reach the node), else None. The pause is as long
        as a stop's (:meth:`_stopped_ns`): the give-up time and three of the partner's usual periods (in stamps)."""
        stamps = sorted(stamp for stamp, _ in self._partner_arrivals[name])
        after = next((i for i, s in enumerate(stamps) if s > stamp_ns), None)
        if after is None or after == 0:
            return None  # not back yet (a stop, or the end), or nothing before the image (a first start)
        periods = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
        least = max(self._give_up_ns, 3 * periods[len(periods) // 2])
        before_ns, after_ns = stamps[after - 1], stamps[after]
        paused = after_ns - before_ns >= least and self._images_paused(before_ns, after_ns, stamp_ns)
        return after_ns if paused else None


def _nearest(stamps: Any, stamp_ns: int, slop_ns: float) -> int | None:
    """Of ``stamps`` (an iterable of int ns), ``stamp_ns`` itself or else the nearest within ``slop_ns``; None."""
    if stamp_ns in stamps:
        return int(stamp_ns)
    best = min(stamps, key=lambda s: abs(s - stamp_ns), default=None)
    return best if best is not None and abs(best - stamp_ns) <= slop_ns else None


class MissingImages:
    """``on_missing`` for :meth:`SyncWatch.attach`: counts the images that never arrived (``count``, e.g.
    ``RuntimeStats.images_missing``) and warns through ``warn`` at most every ``period_s`` (monotonic), with how many
    since the last warning and the remedy for ``input_qos``."""

    def __init__(
        self,
        count: Callable[[int], Any],
        warn: Callable[[str], Any],
        input_qos: str,
        period_s: float = 10.0,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._count, self._warn, self._qos = count, warn, input_qos
        self._period_ns, self._clock_ns = int(period_s * NS_PER_S), clock_ns
        self._next_ns: int | None = None
        self._held = 0

    def __call__(self, count: int, text: str) -> None:
        """``count`` images missing, ``text`` saying which."""
        self._count(count)
        self._held += count
        now = self._clock_ns()
        if self._next_ns is not None and now < self._next_ns:
            return
        self._next_ns = now + self._period_ns
        held, self._held = self._held, 0
        remedy = (
            "input_qos: sensor_data is best effort, which drops a whole image when one of its UDP fragments is lost "
            "(large images: set input_qos: reliable with a reliable camera, or publish it compressed, or raise the "
            "socket receive buffer: net.core.rmem_max and the DDS's)"
            if self._qos == "sensor_data"
            else "input_qos: reliable: the camera did not send them, or publishes camera_info more often than images"
        )
        remedy += f"; or the subscription's history (keep last {5 if self._qos == 'sensor_data' else 10}) or the "
        remedy += "camera's overflowed while the node's executor or the DDS's receive thread was busy (a raw 3840x2160 "
        remedy += "stream at 30 Hz outran Cyclone here even reliable: publish it compressed, or at a lower rate)"
        self._warn(f"{held} image(s) never arrived (images_missing in /diagnostics), the latest: {text}; {remedy}")


def _as_subscribed(source: Any, topic: str) -> str:
    """``topic`` as message_filters' ``source`` subscribed it (its rclpy subscription's ``topic_name``: expanded and
    remapped), for the messages (:func:`~.topic_names.shown_topic`)."""
    resolved = getattr(getattr(source, "sub", None), "topic_name", None)
    return shown_topic(topic, lambda name: resolved if isinstance(resolved, str) else name)
