"""``run_bag``: rosbag2 in → :class:`~mono_depth_ros.pipeline.DepthPipeline` on every image → rosbag2 out.

Two passes over the input. The first (:mod:`.index`) reads every header stamp, all CameraInfo and all TF; the
pairing rules (:mod:`.pairing`) then fix each image's camera_info, LiDAR scan and external prediction. The second
pass decodes images, scans and predictions as they come (reading a payload whole only to decode it), holds an image
only until its partners have been read, and processes images in recording order (the scale filter in the pipeline is
temporal). Every image ends up written or skipped with a reason (:class:`~.summary.BagSummary`). Outputs carry the
input image's stamp and frame_id and are written at the image's bag time.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.adapters.camera_cache import MapsKept, sized_by_image, warn_about_calibration
from mono_depth_ros.adapters.cdr_input import BAD_CDR
from mono_depth_ros.adapters.diagnostics import is_depth_status, status_name
from mono_depth_ros.adapters.ground_tf import GroundPoses
from mono_depth_ros.adapters.input_bits import SixteenBitInput
from mono_depth_ros.adapters.lidar import no_scan_text
from mono_depth_ros.adapters.messages import (
    CAMERA_INFO,
    DIAGNOSTIC_ARRAY,
    DIAGNOSTICS_TOPIC,
    IMAGE,
    LASER_SCAN,
    OUTPUT_TOPICS,
    POINTCLOUD2,
    Scan,
    decode_prediction,
    decode_scan,
    frame_input,
    output_messages,
)
from mono_depth_ros.adapters.model import build_pipeline
from mono_depth_ros.adapters.motion import CameraPoses, no_pose_text
from mono_depth_ros.adapters.scan_frame import ScanFrameCheck
from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.bag.cdr_parts import cdr_parts
from mono_depth_ros.bag.diagnostics import BagDiagnostics, status_clock_ns
from mono_depth_ros.bag.index import BagIndex, TfLookupError, TopicPlan, index_bag, resolve_topics
from mono_depth_ros.bag.pairing import PairingRules, scan_after_wait, seconds_to_ns
from mono_depth_ros.bag.payload import PayloadHead, head_decodes
from mono_depth_ros.bag.plan import NO_PREDICTION, NO_PREDICTION_KEY, FramePlan, plan_frames, seconds_text
from mono_depth_ros.bag.reader import BagMessage, InputBag, typestore_for
from mono_depth_ros.bag.summary import DAMAGED_INPUT, DAMAGED_INPUT_KEY, BagSummary, Skip, pipeline_reason
from mono_depth_ros.bag.writer import OutputBag
from mono_depth_ros.config import NODE_NAME, ParamValue
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.errors import BagError, DepthError, EncodingError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.scale.deskew import BIN_NS
from mono_depth_ros.core.tf_angles import degrees_read_as_radians
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import DepthPipeline, DepthSource, FrameOutput, LidarInput

CLOCK_TOPIC = "/clock"  # the simulated time's topic: absolute, as ``ros2 bag play --clock`` publishes it
CLOCK_AGREES_NS = 10**9
"""How far (ns) a recorded ``/clock`` may be from its message's bag time and still be what ``ros2 bag play --clock``
publishes (a bag recorded on the simulated time itself, or a wall clock): such a one is left out of a copy. One farther
(a simulator's time recorded by Humble's ``ros2 bag record``, bag time the wall clock) is the only record of that
timeline, the one its header stamps are in: it is copied."""

UNREADABLE_SCAN = f"lidar.{BAD_CDR}"
"""The reason of a scan whose bytes are no message (counted once; a frame takes the next nearest scan instead)."""
UNREADABLE_PREDICTION = f"prediction.{BAD_CDR}"
"""The reason of an external prediction whose bytes are no message (counted once; its frame is ``no prediction``)."""
PREDICTION_UNDECODABLE = "prediction: undecodable"
"""The skip reason of a frame whose prediction the decoder refuses (not 32FC1)."""


@dataclass(frozen=True)
class BagRunOptions:
    """How to write the output (the parameters decide what is computed).

    Attributes:
        storage: ``sqlite3`` (default) or ``mcap``.
        distro: ``humble`` (default; the bag also plays on Jazzy) or ``jazzy``: message definitions and hashes.
        copy_inputs: also copy every input message (all topics but the outputs') into the output bag.
        diagnostics: write ``/diagnostics`` every ``diagnostics.period_s`` of bag time.
        progress: show a tqdm progress bar on stderr.
        node: the fully qualified name of the node the run stands for (``--node``): its namespace prefixes the
            output topics (``/front/depth/image``, as that node publishes them; ``/diagnostics`` stays global) and
            names its status (``front/mono_depth_node: depth``).
        on_frame: called ``on_frame(done, total)`` after each image (written or skipped); None: not called.
        status_per_frame: ``/diagnostics`` at a frame only, as the demo's scale plot reads it (``BagDiagnostics.
            per_frame``); False: also between the frames of a camera slower than the period, as the node's timer.
    """

    storage: str = "sqlite3"
    distro: str = "humble"
    copy_inputs: bool = False
    diagnostics: bool = True
    progress: bool = True
    node: str = "/" + NODE_NAME
    on_frame: Callable[[int, int], None] | None = None
    status_per_frame: bool = False

    @property
    def namespace(self) -> str:
        """The node's namespace, ``""`` for none (``/front`` for ``/front/mono_depth_node``)."""
        return "/" + "/".join(self.node.strip("/").split("/")[:-1]) if "/" in self.node.strip("/") else ""

    @property
    def status_name(self) -> str:
        """The node's ``/diagnostics`` status name, as the live node names it."""
        return status_name(self.node)


class _SecondPass:
    """State of the second pass: pending images, decoded partners (with reference counts), counters."""

    def __init__(
        self,
        bag: InputBag,
        out: OutputBag,
        index: BagIndex,
        plans: list[FramePlan],
        pipeline: DepthPipeline,
        summary: BagSummary,
        options: BagRunOptions,
        stop: StopSignals | None = None,
    ) -> None:
        self.stop = stop
        self.bag, self.out, self.index, self.pipeline, self.summary = bag, out, index, pipeline, summary
        self.topics: TopicPlan = index.topics
        self.plans = plans
        self.options = options
        self.config = pipeline.config
        self.factory = MessageFactory.for_rosbags(out.typestore)
        self.cloud_buffer = self.factory.field_buffer()
        active = [p for p in plans if p.skip is None]
        # every scan a frame may take (its nearest, or the next nearest readable within lidar.max_age_s)
        self.lidar_refs = Counter(c for p in active for c in p.lidar_candidates)
        self.indexed_scans = frozenset(index.lidar_stamps.keys)  # scans whose header the first pass read
        self.indexed_predictions = frozenset(index.prediction_stamps.keys)  # the same for predictions
        self.prediction_refs = Counter(p.prediction for p in active if p.prediction is not None)
        # decoded scans, or why one cannot be used: (reason as the node counts it in inputs_unused, text); scans read
        # and not decoded yet (a frame's second choice is decoded only when its first cannot be read)
        self.scans: dict[int, Scan | tuple[str, str]] = {}
        self.scan_messages: dict[int, BagMessage] = {}
        self.predictions: dict[int, npt.NDArray[np.float32] | Skip] = {}  # or why its frame is skipped
        self.pending: deque[tuple[FramePlan, BagMessage]] = deque()
        period_ns = seconds_to_ns(self.config.diagnostics.period_s)
        self.diagnostics = (
            BagDiagnostics(period_ns, self.config, options.status_name, per_frame=options.status_per_frame)
            if options.diagnostics
            else None
        )
        self.outputs = {topic: options.namespace + topic for topic in OUTPUT_TOPICS if topic != DIAGNOSTICS_TOPIC}
        self.progress: Any = _progress_bar(len(plans), options.progress)
        self.done = 0  # images processed (written or skipped)
        self.last_image: tuple[int, int] | None = None  # the last processed image's (stamp, bag time), int ns
        # an image stamped 0 on the statuses' clock: its bag time plus this (status_clock_ns); the lead of the image
        # stamped last, before the first one stamped, that one's
        self.stamp_lead_ns = next((p.entry.stamp_ns - p.entry.log_ns for p in plans if p.entry.stamp_ns), 0)
        self.committed_out = 0  # frames written and committed to the output bag's file
        self.replaced: Counter[str] = Counter()  # input messages copy_inputs left out, per topic
        self.replaced_statuses: set[str] = set()  # names of the mono_depth_node statuses left out of /diagnostics
        self.clock_left_out = 0  # recorded /clock messages copy_inputs left out (``ros2 bag play --clock`` has it)
        self.clock_copied = 0  # recorded /clock messages copied: another time than the bag's (a simulator's)
        self.clock_apart_ns: int | None = None  # the first recorded /clock's time minus its bag time
        self.bag_pass = 0  # of the image in hand: its pass's TF (the bag's clock may have gone back)
        self.poses = CameraPoses(self.config.temporal, self._pose_lookup) if self.config.temporal.enabled else None
        report = lambda reason, _camera, text: (  # noqa: E731  # counted per frame; a prior from the parameters:
            summary.warnings.add if reason == "ground_frame.disagrees" else summary.input_unused  # no image outcome
        )(reason, text)
        self.ground = GroundPoses(  # tf2's answers too
            self.config.scale.ground_frame, self._pose_lookup, report, temporal=self.config.temporal
        )
        self.scan_frames = ScanFrameCheck(
            lambda text: summary.warnings.add("scan: frame without x forward?", text),
            lambda text: summary.warnings.add("lidar: transform looks wrong", text),
        )
        for static in index.tf.static_transforms():  # --roll -90 for -1.5708: nothing downstream shows it
            if text := degrees_read_as_radians(static):
                summary.warnings.add("tf: angles in degrees?", text)
        self.bits = SixteenBitInput(lambda: self.config, summary.sixteen_bit_frame)  # 16-bit scaling; high bits unused?
        self.cameras_checked: set[int] = set()  # ids of the index's calibration entries already checked
        self.maps_kept = MapsKept()  # the index keeps a model per calibration: the maps of the last few only
        self.check_calibration = warn_about_calibration(  # raw read as rectified (or back), a metric model elsewhere
            self.topics.image,
            self.config.topics.image_is_rectified,
            lambda text: summary.warnings.add("image_is_rectified: raw image with distortion", text),
            pipeline.training_camera_warning,
            lambda text: summary.warnings.add("metric model on another camera", text),
            lambda text, camera: summary.warnings.add(_resampled_again(camera), text),
        )

    def run(self, selection: set[str] | None) -> None:
        """Read the bag again (the same ``selection`` as the first pass) and process every image.

        Payloads are read whole only when decoded (:mod:`.payload`): a scan or prediction that no frame needs, or an
        image that is skipped, costs its header, and a pending image holds no more than that until its frame runs.
        """
        self._prepare_codecs()
        heads = () if self.options.copy_inputs else (selection or ())  # copying reads every payload anyway
        try:
            for message in self.bag.messages(selection, heads=heads):
                if self.stop is not None and self.stop():
                    self.summary.interrupted = self.stop.reason
                    break  # the frame in hand is done; the ones waiting for partners are dropped
                if self.options.copy_inputs:
                    self._copy_input(message)
                if message.topic == self.topics.image:
                    self.pending.append((self.plans[message.ordinal], message))
                elif message.topic == self.topics.lidar:
                    if self.lidar_refs[message.ordinal] > 0:
                        self.scan_messages[message.ordinal] = message
                    elif message.ordinal in self.indexed_scans:  # (one whose header is unreadable: counted there)
                        self._count_if_cut(message)  # no frame may take it: its bytes checked, as the node's are
                elif message.topic == self.topics.prediction and self.prediction_refs[message.ordinal] > 0:
                    self.predictions[message.ordinal] = self._decode_prediction(message)
                elif message.topic == self.topics.prediction and message.ordinal in self.indexed_predictions:
                    self._count_if_cut(message, UNREADABLE_PREDICTION)  # no frame takes it: checked as the node does
                self._flush(final=False)
            else:
                self._flush(final=True)
            self._final_status()
        finally:
            if self.progress is not None:
                self.progress.close()
            self._note_not_copied()

    def _prepare_codecs(self) -> None:
        """Have rosbags generate the (de)serialisers of the types this pass decodes and writes before its first frame
        (3-11 ms a type, ~30-45 ms in all: once per process, :func:`~.reader.typestore_for`), not inside the first
        frames, where they were counted as those frames' decode, encode and write."""
        topics = self.bag.topics
        read = {topics[t] for t in (self.topics.image, self.topics.lidar, self.topics.prediction) if t in topics}
        written = {IMAGE, CAMERA_INFO, POINTCLOUD2} | ({LASER_SCAN} if self.config.scan.enabled else set())
        if self.diagnostics is not None:
            written.add(DIAGNOSTIC_ARRAY)
        for store, msgtypes in ((self.bag.typestore, read), (self.out.typestore, written)):
            for msgtype in sorted(msgtypes):
                if msgtype in store.types:  # an unknown input type is reported where its message is decoded
                    store.get_msgdef(msgtype)

    def _silent_statuses(self, stamp_ns: int, log_ns: int) -> None:
        """The ``/diagnostics`` statuses due while the camera was silent before the image stamped ``stamp_ns``
        (:meth:`BagDiagnostics.silent`), each at bag time ``log_ns`` less the stamps between (the image's recording
        delay kept), before the image is processed: they count what came before it."""
        if self.diagnostics is None:
            return
        clock_ns = status_clock_ns(stamp_ns, log_ns, self.stamp_lead_ns)
        for due_ns, message in self.diagnostics.silent(self.factory, self.summary, clock_ns):
            self.out.write(DIAGNOSTICS_TOPIC, DIAGNOSTIC_ARRAY, message, max(log_ns - (clock_ns - due_ns), 0))

    def _final_status(self) -> None:
        """The last ``/diagnostics`` status, at the last image's stamp and bag time, where frames came after the last
        periodic one (those of the last, unfinished period; at a stop too): the bag's last status counts every
        image processed, as the summary does."""
        if self.diagnostics is None or self.last_image is None:
            return
        stamp_ns, log_ns = self.last_image
        message = self.diagnostics.final(
            self.factory, self.summary, status_clock_ns(stamp_ns, log_ns, self.stamp_lead_ns)
        )
        if message is not None:
            self.out.write(DIAGNOSTICS_TOPIC, DIAGNOSTIC_ARRAY, message, log_ns)
            self._commit()

    def _copy_input(self, message: BagMessage) -> None:
        """Copy an input message, but not one on a topic this run writes; on ``/diagnostics`` (a topic every node
        publishes on) only the statuses of other nodes than a mono_depth_node (all of them with ``diagnostics`` off:
        this run writes none); nor a recorded ``/clock`` that is the bag's time (:meth:`_copy_clock`)."""
        if message.topic == CLOCK_TOPIC:
            self._copy_clock(message)
        elif message.topic == DIAGNOSTICS_TOPIC and self.options.diagnostics:
            self._copy_diagnostics(message)
        elif message.topic == DIAGNOSTICS_TOPIC:
            self._copy(message)
        elif message.topic in self.outputs.values():
            self.replaced[message.topic] += 1
        else:
            self._copy(message)

    def _copy_clock(self, message: BagMessage) -> None:
        """Leave a recorded ``/clock`` out where it is the bag's time (within :data:`CLOCK_AGREES_NS` at its first
        message): ``ros2 bag play OUT --clock`` publishes that time and Humble's player plays a recorded one beside
        it (ros2/rosbag2#1645), two publishers with the time jumping between them. Copy it where it is another time
        (a simulator's, recorded on the wall clock): OUT is then played as IN was, without ``--clock``. The first
        message decides for all (one timeline); one that does not parse keeps it copied."""
        if self.clock_apart_ns is None:
            try:
                clock = self.bag.deserialize(message).clock
                self.clock_apart_ns = int(clock.sec) * 10**9 + int(clock.nanosec) - message.log_ns
            except (DepthError, AttributeError):
                self.clock_apart_ns = CLOCK_AGREES_NS + 1  # not read: copied, as every other topic
        if abs(self.clock_apart_ns) <= CLOCK_AGREES_NS:
            self.clock_left_out += 1
        else:
            self.clock_copied += 1
            self._copy(message)

    def _copy_diagnostics(self, message: BagMessage) -> None:
        try:
            array = self.bag.deserialize(message)
        except DepthError as err:
            self.summary.warnings.add(f"not copied: {message.topic}", str(err))
            return
        ours = [status.name for status in array.status if self._own_status(status)]
        if not ours:
            self._copy(message)
            return
        self.replaced_statuses.update(ours)
        self.replaced[message.topic] += 1
        kept = [status for status in array.status if not self._own_status(status)]
        if kept:
            data = self.out.typestore.serialize_cdr(replace(array, status=kept), message.msgtype)
            self.out.copy(message.connection, data, message.log_ns)

    def _own_status(self, status: Any) -> bool:
        """Whether a recorded status (``diagnostic_msgs/DiagnosticStatus``) is one this run replaces: the node's own;
        for the un-namespaced default node any mono_depth_node's (a bag this runner wrote, a live recording), under
        whatever name a user's launch file gave it (:func:`~mono_depth_ros.adapters.diagnostics.is_depth_status`)."""
        if str(status.name) == self.options.status_name:
            return True
        return not self.options.namespace and is_depth_status(status)

    def _note_not_copied(self) -> None:
        """Say which input messages ``copy_inputs`` left out (this run writes its own on their topics)."""
        replaced = dict(self.replaced)
        if self.clock_left_out:
            self.summary.notes.append(
                f"not copied: {CLOCK_TOPIC} {self.clock_left_out} message(s) of the input: play the output with "
                f"`ros2 bag play OUT --clock`, which publishes the bag's time on {CLOCK_TOPIC} (a copied {CLOCK_TOPIC} "
                "would be a second publisher beside it, the time jumping between the two)"
            )
        if self.clock_copied:
            apart = "?" if self.clock_apart_ns is None else f"{self.clock_apart_ns / 1e9:+.3f} s"
            self.summary.notes.append(
                f"copied: the input's recorded {CLOCK_TOPIC} ({self.clock_copied} message(s), {apart} from the bag's "
                f"time: a simulator's): play the output as the input, `ros2 bag play OUT` without --clock (with it, "
                f"the player's {CLOCK_TOPIC} would be a second publisher beside the recorded one)"
            )
        if self.replaced_statuses:
            names = ", ".join(sorted(self.replaced_statuses))
            self.summary.notes.append(
                f"{DIAGNOSTICS_TOPIC}: the statuses of {NODE_NAME} ({names}) in {replaced.pop(DIAGNOSTICS_TOPIC)} "
                "message(s) are not copied: this run writes its own; the other statuses are"
            )
        if replaced:
            counts = ", ".join(f"{topic} {count}" for topic, count in sorted(replaced.items()))
            self.summary.notes.append(
                f"not copied: {counts} message(s) of the input: this run writes its own on these topics"
            )

    def _copy(self, message: BagMessage) -> None:
        try:
            payload = self.bag.payload(message)
        except EncodingError as err:  # a damaged compressed payload: that message is not copied
            self.summary.warnings.add(f"not copied: {message.topic}", str(err))
            return
        if not self.out.copy(message.connection, payload, message.log_ns):
            self.summary.warnings.add(
                f"not copied: {message.topic}",
                f"{message.topic} ({message.msgtype}) has no message definition in the typestore, nor one in the bag "
                "that parses",
            )

    def _decode(self, message: BagMessage, decoder: Any) -> Any:
        started = time.perf_counter()
        try:
            return decoder(self.bag.deserialize(message))
        except DepthError as err:
            return f"{type(err).__name__}: {err}"
        finally:
            self.summary.add_stage("decode", _ms(started))

    def _decode_prediction(self, message: BagMessage) -> npt.NDArray[np.float32] | Skip:
        """The prediction, or why its frame is skipped: bytes that are no message are counted here, once, as the
        node's subscription counts them (``prediction.bad_cdr``), and the frame is left without it (``no
        prediction``, the node's ``no_prediction``); a prediction the decoder refuses (not 32FC1) is ``prediction:
        undecodable``, under the decoder's error class as the node counts it (``EncodingError``)."""
        started = time.perf_counter()
        try:
            try:
                msg = self.bag.deserialize(message)
            except DepthError as err:
                text = f"{type(err).__name__}: {err}"
                self.summary.input_unused(UNREADABLE_PREDICTION, text)
                text = f"its external prediction on {message.topic} is no message ({text})"
                return Skip(NO_PREDICTION, text, NO_PREDICTION_KEY)
            try:
                return decode_prediction(msg)
            except DepthError as err:
                name = type(err).__name__
                return Skip(PREDICTION_UNDECODABLE, f"{name}: {err}", name)
        finally:
            self.summary.add_stage("decode", _ms(started))

    def _decode_scan(self, message: BagMessage) -> Scan | tuple[str, str]:
        """The scan, or ``(reason, text)`` when it cannot be used, the reason as the node counts it in
        ``inputs_unused``: ``lidar.bad_cdr`` for bytes that are no message (cut, corrupt), counted here, once, as
        the node's subscription counts them (no frame is paired with them there), ``lidar.<DepthError>`` for a
        cloud the decoder refuses (a layout without z), counted per frame paired with it, as the node's worker."""
        started = time.perf_counter()
        try:
            try:
                msg = self.bag.deserialize(message)
            except DepthError as err:
                self.summary.input_unused(UNREADABLE_SCAN, f"{type(err).__name__}: {err}")
                return UNREADABLE_SCAN, f"{type(err).__name__}: {err}"
            try:
                paired_ns = self.index.lidar_stamps.stamp_of(message.ordinal)  # its sweep's middle: the first pass's
                return decode_scan(msg, message.msgtype, paired_ns=paired_ns)
            except DepthError as err:
                return f"lidar.{type(err).__name__}", str(err)
        finally:
            self.summary.add_stage("decode", _ms(started))

    def _count_if_cut(self, message: BagMessage, reason: str = UNREADABLE_SCAN) -> None:
        """Count a scan (or external prediction: ``reason`` ``prediction.bad_cdr``) no frame decoded if its bytes
        are no message (``lidar.bad_cdr``): the node's subscription counts every such scan, also one no frame is
        paired with (none within ``lidar.max_age_s``, or each frame's nearer scan readable; a prediction of no
        image)."""
        self._check_payload(message, reason)

    def _check_payload(self, message: BagMessage, reason: str) -> None:
        """See :meth:`_count_if_cut`. Deserialised only (its payload read): the points are not decoded. A compressed
        payload (``--compression-mode message``) is read whole: its head's size is what the zstd frame declares, and
        only decompressing the rest tells a cut or hostile frame (one declaring 2**62 bytes ended the run)."""
        started = time.perf_counter()
        try:
            raw, known = message.raw, message.msgtype in (POINTCLOUD2, IMAGE)
            stored = not self.bag.message_compressed  # a head's size is then the stored bytes
            if not (
                known and stored and isinstance(raw, PayloadHead)
                and head_decodes(self.bag.typestore, raw, message.msgtype)
            ):  # fmt: skip
                self.bag.deserialize(message)  # a LaserScan, a compressed or undecided payload: read whole
        except DepthError as err:
            self.summary.input_unused(reason, f"{type(err).__name__}: {err}")
        finally:
            self.summary.add_stage("decode", _ms(started))

    def _ready(self, plan: FramePlan) -> bool:
        return plan.skip is not None or (
            self._chosen_scan(plan, final=False)[0] and (plan.prediction is None or plan.prediction in self.predictions)
        )

    def _scan(self, ordinal: int) -> Scan | tuple[str, str] | None:
        """Scan ``ordinal`` decoded (on first use), why it cannot be used, or None: not read (yet)."""
        if ordinal not in self.scans and ordinal in self.scan_messages:
            self.scans[ordinal] = self._decode_scan(self.scan_messages.pop(ordinal))
        return self.scans.get(ordinal)

    def _chosen_scan(self, plan: FramePlan, *, final: bool) -> tuple[bool, int | None]:
        """Whether the frame's scan is known, and which one: the first of ``plan.lidar_candidates`` whose bytes are a
        message (a cloud the decoder refuses included: the node's worker refuses it for that frame), as the node
        pairs the nearest scan its subscription passed on; None: none readable. Not known while a candidate before
        it is still to be read (``final``: the bag is read to its end, a scan never read back is passed over)."""
        for ordinal in plan.lidar_candidates:
            scan = self._scan(ordinal)
            if scan is None and not final:
                return False, None
            if scan is None or (isinstance(scan, tuple) and scan[0] == UNREADABLE_SCAN):
                continue
            return True, ordinal
        return True, None

    def _flush(self, *, final: bool) -> None:
        while self.pending and (final or self._ready(self.pending[0][0])):
            plan, message = self.pending.popleft()
            if plan.entry.stamp_ns is not None:
                self.last_image = (plan.entry.stamp_ns, message.log_ns)
                if plan.entry.stamp_ns:  # stamped: the stamps' lead on bag time for the images stamped 0 after it
                    self.stamp_lead_ns = plan.entry.stamp_ns - message.log_ns
                self._silent_statuses(plan.entry.stamp_ns, message.log_ns)
            try:
                self._process(plan, message)
                self._commit()
            finally:
                self._release(plan)
                if self.progress is not None:
                    self.progress.update(1)
                self.done += 1
                if self.options.on_frame is not None:
                    self.options.on_frame(self.done, len(self.plans))

    def _commit(self) -> None:
        """The frame's outputs (and the inputs copied before them) become part of the bag: a write that fails later
        (a full disk) leaves the bag with every frame up to the last commit that reached the file (sqlite3 commits
        frames in batches: :class:`~.writer.CommittingSqlite3Writer`), whole, and ``frames_out`` says how many.
        Timed as part of the ``write`` stage."""
        started = time.perf_counter()
        try:
            filed = self.out.commit()
        except BagError:
            self.summary.frames_out = self.committed_out
            raise
        finally:
            self.summary.add_stage("write", _ms(started))
        if filed:
            self.committed_out = self.summary.frames_out

    def _release(self, plan: FramePlan) -> None:
        """Drop decoded partners that no later image needs."""
        if plan.skip is not None:
            return
        for ordinal in plan.lidar_candidates:
            self.lidar_refs[ordinal] -= 1
            if self.lidar_refs[ordinal] <= 0:
                self.scans.pop(ordinal, None)
                if (unread := self.scan_messages.pop(ordinal, None)) is not None:
                    self._count_if_cut(unread)  # read, never decoded: every frame took a nearer scan
        if plan.prediction is not None:
            self.prediction_refs[plan.prediction] -= 1
            if self.prediction_refs[plan.prediction] <= 0:
                self.predictions.pop(plan.prediction, None)

    def _process(self, plan: FramePlan, message: BagMessage) -> None:
        skip, warnings = self.summary.skip, self.summary.warnings
        if plan.skip is not None:
            skip(plan.skip)
            return
        if plan.warning is not None:
            warnings.add(*plan.warning)
        assert plan.camera_info is not None and plan.entry.stamp_ns is not None  # planned
        started = time.perf_counter()
        self.bag_pass = plan.entry.bag_pass
        camera = self.index.camera_infos[plan.camera_info]
        if camera.model is None:
            skip(Skip(camera.error_reason, camera.error, camera.error_key))
            return
        if camera.frame_id != plan.entry.frame_id:
            warnings.add(
                "camera_info frame_id differs",
                f"camera_info frame_id {camera.frame_id!r} differs from the image's {plan.entry.frame_id!r}; "
                f"outputs use the image's",
            )
        prediction = None
        if plan.prediction is not None:
            missing = Skip(PREDICTION_UNDECODABLE, "missing in the second pass over the bag", NO_PREDICTION_KEY)
            decoded = self.predictions.get(plan.prediction, missing)
            if isinstance(decoded, Skip):
                skip(decoded)
                return
            prediction = decoded
        lidar = self._lidar_input(plan)
        rectified = self.config.topics.image_is_rectified
        key = BAD_CDR  # bytes that are no image message (cut, corrupt): the node's subscription's key
        try:
            image = self.bag.deserialize(message)
            key = ""
            pose = self._camera_pose(plan.entry.frame_id, plan.entry.stamp_ns)
            model = self.maps_kept.use(camera.model)  # its maps kept, those of a calibration long unused released
            frame = frame_input(
                image, message.msgtype, model, rectified, lidar, prediction, pose, copy=False, bits=self.bits
            )
            frame = self.ground.add_to(frame, self.config.scale)  # scale.ground_frame's TF, or why none
        except DepthError as err:
            skip(Skip(f"image: {type(err).__name__}", str(err), key or type(err).__name__))
            return
        finally:
            self.summary.add_stage("decode", _ms(started))
        if id(camera) not in self.cameras_checked:  # once per calibration (the index shares one entry per calibration)
            self.cameras_checked.add(id(camera))
            self.check_calibration(sized_by_image(frame))  # a camera_info without a size: at its first image's
        try:
            output = self.pipeline.process_frame(frame)
        except DepthError as err:
            skip(Skip(pipeline_reason(type(err)), str(err), type(err).__name__))
            return
        self._warn_unfiltered(output)
        for stage, milliseconds in output.timings_ms.items():
            if stage != "total":
                self.summary.add_stage(stage, milliseconds)
        if self.diagnostics is not None:
            self.diagnostics.latencies_ms.append(output.timings_ms.get("total", math.nan))
        self._write(output, message.log_ns)

    def _pose_lookup(self, fixed_frame: str, camera_frame: str, stamp_ns: int) -> RigidTransform:
        """The temporal filter's TF query (:data:`~mono_depth_ros.adapters.motion.PoseLookup`; also the ground-plane
        prior's, :data:`~mono_depth_ros.adapters.ground_tf.GroundLookup`) on the bag's TF as
        the node's tf2 answers it: past the end of a moving transform's /tf it has none (the bag's TF would hold
        the last one, a camera standing still), so :class:`CameraPoses` extrapolates up to
        ``temporal.max_extrapolation_s`` and then counts the frame, and the ground-plane prior extrapolates as far,
        then holds its last pose (``ground_tf.HOLD_NS``) and then takes the parameters, as in the node.

        Raises:
            TransformError: no transform, or one held past the end of /tf.
        """
        tf = self.index.tf_for(self.bag_pass)
        if held := tf.held_after_end(fixed_frame, camera_frame, stamp_ns):
            raise TransformError(held)
        return tf.lookup(fixed_frame, camera_frame, stamp_ns)

    def _camera_pose(self, camera_frame: str, stamp_ns: int) -> RigidTransform | None:
        """The camera pose in ``temporal.fixed_frame`` for the temporal filter (None: off, or not in the bag's TF;
        the frame is warned about once the pipeline has counted it: :meth:`_warn_unfiltered`)."""
        return None if self.poses is None else self.poses.pose(camera_frame, stamp_ns)

    def _warn_unfiltered(self, output: FrameOutput) -> None:
        """``temporal: no camera pose`` for a frame the temporal filter passed through for want of a pose: per frame
        the pipeline counts in ``temporal_no_motion_frames`` (not one skipped after the lookup), in the words of the
        node's warning (:func:`~mono_depth_ros.adapters.motion.no_pose_text`)."""
        if output.temporal is None:  # the filter off: and torch not imported for it (an external prediction needs none)
            return
        from mono_depth_ros.core.temporal_filter import TemporalState

        if output.temporal.state == TemporalState.NO_MOTION.value:
            text = no_pose_text(output.frame_id, self.config.temporal.fixed_frame, output.stamp_ns)
            self.summary.warnings.add("temporal: no camera pose", text)

    def _lidar_input(self, plan: FramePlan) -> LidarInput | None:
        if plan.lidar_unused is not None:  # a nearer scan after the node sent the frame on at the scan rate
            self.summary.input_unused(*plan.lidar_unused)
        if not self.topics.lidar:
            return None
        warnings = self.summary.warnings
        if plan.lidar is None:  # explained as the node explains it: by the scans at hand when it takes the image
            stamp_ns, scans = plan.entry.stamp_ns or 0, self.index.lidar_stamps.of_pass(plan.entry.bag_pass)
            known_cut = {o for o, scan in self.scans.items() if isinstance(scan, tuple) and scan[0] == UNREADABLE_SCAN}
            skip = self.index.unreadable_scans | known_cut  # the node's drop
            image_log_ns = plan.entry.log_ns if plan.paired_log_ns is None else plan.paired_log_ns  # node takes it
            rules = PairingRules.from_config(self.config)
            at_hand = rules.scans_at_hand(stamp_ns, image_log_ns, self.index.lidar_stamps, plan.entry.bag_pass, skip)
            if at_hand is None:  # none recorded when the node takes it (or no bag times): the nearest of its pass
                text = no_scan_text(
                    self.topics.lidar, stamp_ns, scans.nearest_stamp_ns(stamp_ns, skip), self.config.lidar.max_age_s
                )
            else:  # what the node had at hand: its "LiDAR scan not used" words
                nearest, period, one_scan, behind, arrivals = at_hand
                text = no_scan_text(
                    self.topics.lidar,
                    stamp_ns,
                    nearest,
                    self.config.lidar.max_age_s,
                    period_ns=period,
                    one_scan=one_scan,
                    behind=behind,
                    arrivals=arrivals,
                )
            warnings.add("lidar: no scan in time", text)
            return None
        _, chosen = self._chosen_scan(plan, final=True)
        if chosen is None:  # every scan within lidar.max_age_s is no message (each counted once, when decoded)
            text = (
                f"no readable scan on {self.topics.lidar} within lidar.max_age_s={self.config.lidar.max_age_s:g} s of "
                f"the image stamped {seconds_text(plan.entry.stamp_ns or 0)}: {len(plan.lidar_candidates)} scan(s) "
                f"there could not be read ({UNREADABLE_SCAN})"
            )
            warnings.add("lidar: no scan in time", text)
            return None
        scan = self.scans[chosen]
        if isinstance(scan, tuple):  # a cloud refused (a layout without z): per frame, as the node's worker counts it
            self.summary.input_unused(*scan)
            return None
        if scan.points_in_lidar.shape[0] == 0:
            text = f"scan at {seconds_text(scan.stamp_ns)} has no finite, non-zero points"
            self.summary.input_unused("lidar.empty_scan", text)
            return None
        try:
            deskewed, missing = self.index.lidar_scan(
                plan.entry.frame_id, plan.entry.stamp_ns, scan, self.config.lidar.motion_frame, plan.entry.bag_pass
            )
        except TfLookupError as err:  # TF cannot answer: what the node's tf2 raises (TransformException)
            self.summary.input_unused("lidar.TransformException", str(err))
            return None
        except DepthError as err:
            self.summary.input_unused(f"lidar.{type(err).__name__}", str(err))
            return None
        image_ns = plan.entry.stamp_ns or 0
        image_log_ns = plan.entry.log_ns if plan.paired_log_ns is None else plan.paired_log_ns  # the node's wait
        scan_log_ns, wait_ns = self.index.lidar_stamps.log_of(chosen), seconds_to_ns(self.config.lidar.wait_s)
        if late := scan_after_wait(scan.stamp_ns, scan_log_ns, image_ns, image_log_ns, wait_ns):
            warnings.add("lidar: scan after lidar.wait_s", late)  # kept: see docs/ros2_node.md
        if held := self._held_after_end(plan.entry.frame_id, plan.entry.stamp_ns, scan, plan.entry.bag_pass):
            warnings.add("tf: held after /tf ended", held)
        if missing:
            text = f"TF had no transform for {missing} {BIN_NS // 1_000_000} ms slices of the sweep stamped"
            text += f" {seconds_text(scan.stamp_ns)}; they were moved as the nearest slice TF could place"
            warnings.add("lidar: sweep not de-skewed", text)
        return deskewed

    def _held_after_end(self, camera_frame: str, image_ns: int | None, scan: Scan, bag_pass: int) -> str:
        """Why the scan's placement held a moving transform past the end of /tf (the node's tf2 would have none),
        or ``""``: the lookups :meth:`BagIndex.cam_from_scan` made (with ``lidar.motion_frame``, through it)."""
        tf, fixed = self.index.tf_for(bag_pass), self.config.lidar.motion_frame
        if not fixed:
            return tf.held_after_end(camera_frame, scan.frame_id, scan.stamp_ns)
        target_ns = scan.stamp_ns if image_ns is None else image_ns
        return tf.held_after_end(camera_frame, fixed, target_ns) or tf.held_after_end(
            fixed, scan.frame_id, scan.stamp_ns
        )

    def _write(self, output: Any, log_ns: int) -> None:
        started = time.perf_counter()
        typestore = self.out.typestore
        self.scan_frames.check(output, self.config.scan.frame_id)
        messages = output_messages(self.factory, output, self.cloud_buffer)  # the cloud's bytes are not copied here,
        serialized = [(t, k, cdr_parts(typestore, m, k)) for t, k, m in messages]  # nor here: once, into the storage
        self.summary.add_stage("encode", _ms(started))
        started = time.perf_counter()
        for topic, msgtype, data in serialized:
            self.out.write_raw(self.outputs[topic], msgtype, data, log_ns)
        self.summary.frames_out += 1
        self.bits.published(output.stamp_ns)  # 16-bit scaling looks wrong: counted for the frames written only
        self.summary.scale_health[output.scale.health] += 1
        if output.scale.health != "ok" and output.scale.reason:  # ScaleStatus fields are plain strings
            self.summary.add_scale_reason(output.scale.reason)
        if self.diagnostics is not None:
            clock_ns = status_clock_ns(output.stamp_ns, log_ns, self.stamp_lead_ns)
            message = self.diagnostics.update(self.factory, output, self.summary, clock_ns)
            if message is not None:
                self.out.write(DIAGNOSTICS_TOPIC, DIAGNOSTIC_ARRAY, message, log_ns)
        self.summary.add_stage("write", _ms(started))


def _count_lost_images(bag: InputBag, image_topic: str, summary: BagSummary) -> None:
    """Images the bag lists (metadata or index) but its storage could not give back count as skipped inputs."""
    listed = bag.message_counts.get(image_topic, 0)
    lost = listed - summary.frames_in
    if lost > 0:
        reports = "; ".join(line for report in bag.integrity for line in report.lines()) or "the storage ended early"
        message = f"{lost} of {listed} images on {image_topic} could not be read back: {reports}"
        summary.frames_in += lost
        summary.skip(Skip(DAMAGED_INPUT, message, DAMAGED_INPUT_KEY), count=lost)


def _report_integrity(bag: InputBag, summary: BagSummary) -> None:
    """Summary lines for what the storage lost or salvaged, and a note where it cannot verify its payloads."""
    unverified = []
    for report in bag.integrity:
        summary.input_damage.extend(report.lines())
        if report.unverified and report.path.suffix == ".mcap":  # SQLite never has checksums: no news there
            unverified.append(report.path.name)
    if unverified:  # one note for the bag, not one per file of a split recording
        summary.notes.append(
            f"{', '.join(unverified)} {'stores' if len(unverified) == 1 else 'store'} no chunk checksums (as rosbags "
            "and ros2 bag record -s mcap on Humble and Jazzy write MCAP by default): corruption inside a message "
            "cannot be detected; this tool's own MCAP output (--storage mcap) carries them"
        )


def _resampled_again(camera: CameraModel) -> str:
    """The summary's reason for a rectified image topic resampled a second time
    (:func:`~mono_depth_ros.adapters.camera_cache.undistorted_twice`): undistorted again where its camera_info has
    distortion, rotated again where D is all zero and only R turns rays (:attr:`CameraModel.rotates_rays`)."""
    return f"image_is_rectified: rectified image {'undistorted' if camera.has_distortion else 'rotated'} again"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="frame", desc="depth", file=sys.stderr, dynamic_ncols=True)


def _remove_empty_output(output_path: Path, out: OutputBag) -> bool:
    """Remove the output bag a run created when it holds no message (a failed run, or one whose every image was
    skipped): it would refuse the same command once the cause is fixed ("output bag ... already exists"). Returns
    whether it was removed."""
    if any(out.counts.values()):
        return False
    shutil.rmtree(output_path, ignore_errors=True)
    return True


def run_bag(
    input_path: Path,
    output_path: Path,
    params: DepthConfig | Mapping[str, ParamValue],
    options: BagRunOptions | None = None,
    source: DepthSource | None = None,
    stop: StopSignals | None = None,
) -> BagSummary:
    """Run the depth pipeline over every image of a rosbag2 and write the outputs to a new rosbag2.

    Args:
        input_path: rosbag2 folder (sqlite3 or MCAP) or a ``.mcap`` / ``.db3`` file.
        output_path: folder to create (must not exist); metadata version 8.
        params: the configuration, or flat parameter values (missing ones take their defaults), e.g. from
            ``load_config``; validated once into a :class:`~mono_depth_ros.depth_config.DepthConfig`.
        options: output options.
        source: a ready depth network; None builds it from ``model.*`` (nothing for ``model.backend: external``).
        stop: asked between messages; when it answers True the run ends cleanly: the frame in hand is finished, the
            output bag is closed with everything written so far, and ``summary.interrupted`` names the reason.

    Returns:
        The summary; ``frames_out + skipped.total == frames_in``.

    Raises:
        BagError: the input is missing / truncated / corrupt, lacks a required topic, or the output exists.
        CheckpointError, ConfigError: unusable weights or parameters (before anything is written).
    """
    started = time.perf_counter()
    options = options or BagRunOptions()
    resolved = DepthConfig.of(params)
    summary = BagSummary(Path(input_path), Path(output_path))
    typestore = typestore_for(options.distro)
    if Path(output_path).exists():  # checked again on creation; here to fail before the model loads
        msg = f"output bag {output_path} already exists; choose a new path or remove the old bag first"
        raise BagError(msg)
    folder = next(parent for parent in Path(output_path).absolute().parents if parent.exists())
    if not folder.is_dir():  # the output's folder would be made under a file: refused before the bag is read
        msg = f"cannot create output bag {output_path}: {folder} is a file, not a folder"
        raise BagError(msg)
    with InputBag(Path(input_path), typestore) as bag:
        # until the output exists a signal stops at once (KeyboardInterrupt): the first pass over a long bag and the
        # model load have no frame in hand to finish, and nothing is left behind
        with stop.interrupting() if stop is not None else nullcontext():
            summary.notes.extend(bag.notes)
            topics = resolve_topics(resolved, bag, summary)
            startup = time.perf_counter()
            if source is not None:
                pipeline = DepthPipeline(resolved, source)
            else:  # the node's device policy: cuda without CUDA runs on the CPU, with a warning
                pipeline = build_pipeline(resolved, lambda text: summary.warnings.add("device", text))
            summary.add_stage("startup", _ms(startup))
            selection = None if options.copy_inputs else topics.all
            index_started = time.perf_counter()
            index = index_bag(bag, topics, summary, selection)
            summary.add_stage("index", _ms(index_started))
            plans = plan_frames(index, PairingRules.from_config(resolved))
            summary.frames_in = len(plans)
            _count_lost_images(bag, topics.image, summary)
        if stop is not None and stop():  # asked before run_bag was called
            raise KeyboardInterrupt
        out = OutputBag(Path(output_path), typestore, options.storage)
        second_pass: _SecondPass | None = None
        try:
            with out:  # closing it may fail too (a disk full by the index at the end)
                second_pass = _SecondPass(bag, out, index, plans, pipeline, summary, options, stop)
                try:
                    second_pass.run(selection)
                finally:
                    summary.topic_counts = dict(out.counts)
                    _report_integrity(bag, summary)
        except BagError as err:
            summary.frames_out = second_pass.committed_out if second_pass else 0  # a failed write drops the frame
            msg = f"{err} ({summary.frames_out} of {summary.frames_in} frames were written to {output_path})"
            raise BagError(msg) from None
        except BaseException:  # e.g. a missing extra (cv2) at the first image, a second Ctrl-C
            _remove_empty_output(Path(output_path), out)
            raise
        if not summary.interrupted and _remove_empty_output(Path(output_path), out):  # every image skipped, or none
            summary.notes.append(f"nothing was written: {output_path} was not kept (it would hold no message)")
    summary.elapsed_s = time.perf_counter() - started
    return summary
