"""First pass over the input bag: which topics to use, every header stamp, all calibration and all TF.

Only small things are kept (stamps, frame ids, CameraInfo, transforms). Images, scans and predictions are not
decoded here, nor read past their header where the storage allows (:mod:`~mono_depth_ros.bag.payload`): their stamp
and frame id are read from the serialised header (:mod:`~mono_depth_ros.core.cdr_header`); they are decoded once, in
the second pass, when their frame is processed. Knowing every stamp up front is what lets
the runner pair an image with a scan or prediction recorded after it.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mono_depth_ros.adapters.camera_cache import calibration_key
from mono_depth_ros.adapters.cdr_input import BAD_CDR
from mono_depth_ros.adapters.lidar_subscription import accepted_types
from mono_depth_ros.adapters.messages import (  # LASER_SCAN: a 2D LiDAR on lidar_topic, read as the bag recorded it
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    LASER_SCAN,
    POINTCLOUD2,
    Scan,
)
from mono_depth_ros.adapters.messages import sweep_middle_offset_ns as messages_sweep_middle_offset_ns
from mono_depth_ros.bag.pairing import NS_PER_S, StampIndex
from mono_depth_ros.bag.passes import StreamPasses, TfPasses
from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead, head_decodes
from mono_depth_ros.bag.reader import BagMessage, InputBag
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.cdr_header import header_from_cdr, point_fields_from_cdr
from mono_depth_ros.core.errors import BagError, DepthError, EncodingError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.point_times import time_field
from mono_depth_ros.core.ros_msgs import camera_model_from_camera_info, stamp_to_ns
from mono_depth_ros.core.scale.deskew import deskewed_scan
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.core.tf_buffer import TfBuffer
from mono_depth_ros.depth_config import DepthConfig

TF_MESSAGE = "tf2_msgs/msg/TFMessage"
TF_TOPICS = {"/tf": False, "/tf_static": True}  # topic -> static


class TfLookupError(TransformError):
    """The bag's TF cannot place a scan for an image (no transform between the frames at that stamp): what the
    node's tf2 raises as ``TransformException``, counted under that name (``inputs_unused.lidar.TransformException``)
    by both, apart from a transform that is there but unusable (``TransformError``)."""


@dataclass(frozen=True)
class TopicPlan:
    """The input topics of a run (resolved against what the bag holds).

    Attributes:
        image: image topic; ``image_type`` is Image or CompressedImage.
        camera_info: CameraInfo topic.
        lidar: PointCloud2 or LaserScan topic, or "" for none (read as :attr:`types` says: the recorded type, of
            both the node's).
        prediction: external prediction Image topic, or "" unless ``model.backend`` is external.
        types: topic → the one message type read of it (the node's: :func:`resolve_topics`), for the input topics
            and TF.
    """

    image: str
    image_type: str
    camera_info: str
    lidar: str
    prediction: str
    types: Mapping[str, str] = field(default_factory=dict, compare=False)

    def read_types(self, bag: InputBag) -> list[str]:
        """Have ``bag`` read each topic of :attr:`types` as that type only (:meth:`.InputBag.read_as`): every opening
        of the bag whose messages are matched by ordinal to this plan's index must, or a topic recorded with several
        types gives other messages those ordinals. Returns the notes naming the messages left out."""
        return [note for topic, msgtype in self.types.items() for note in bag.read_as(topic, msgtype)]

    @property
    def all(self) -> set[str]:
        """Every topic the runner reads (TF included)."""
        return {t for t in (self.image, self.camera_info, self.lidar, self.prediction) if t} | set(TF_TOPICS)


def _topics_of(bag_types: Mapping[str, Mapping[str, int]], *types: str, but: str = "") -> str:
    names = sorted(t for t, recorded in bag_types.items() if any(k in types for k in recorded) and t != but)
    return ", ".join(names) or "none"


def _require(
    bag_types: Mapping[str, Mapping[str, int]],
    topic: str,
    types: tuple[str, ...],
    param: str,
    bag: InputBag,
    but: str = "",
) -> str:
    """The message type ``topic`` is read as: the first of ``types`` (the node's, then what else the runner reads
    there) recorded on it. ``but``: a topic already used otherwise, left out of the candidates named."""
    recorded = bag_types.get(topic)
    candidates = _topics_of(bag_types, *types, but=but)
    if recorded is None and candidates == "none":  # no topic to set instead: say what the bag holds
        held = [f"{name} ({' and '.join(kinds)})" for name, kinds in bag_types.items()]
        more = f" and {len(held) - 8} more" if len(held) > 8 else ""
        what = "the camera's topic" if param == "image_topic" else "that topic"
        other = f" other than {but} (the image topic)" if but in bag_types else ""
        msg = (
            f"bag {bag.path} has no topic {topic!r} ({param}) and none of type {' or '.join(types)}{other}: it holds "
            f"{', '.join(held[:8]) or 'no topic'}{more}; record {what} with the others (ros2 bag record TOPIC ... "
            "or -a)"
        )
        raise BagError(msg)
    if recorded is None:
        msg = (
            f"bag {bag.path} has no topic {topic!r} ({param}); topics of type {' or '.join(types)} in it: "
            f"{candidates}; set --param {param}=TOPIC"
        )
        raise BagError(msg)
    usable = [msgtype for msgtype in types if msgtype in recorded]
    if not usable:
        msg = (
            f"topic {topic} ({param}) in {bag.path} is {' and '.join(recorded)}, expected {' or '.join(types)}; topics "
            f"of those types in it: {candidates}; set --param {param}=TOPIC"
        )
        raise BagError(msg)
    return usable[0]


def resolve_topics(config: DepthConfig, bag: InputBag, summary: BagSummary) -> TopicPlan:
    """Check the configured topics against the bag; each is read as the type the node subscribes it with.

    ``image_transport: compressed`` reads ``<image_topic>/compressed``; when the raw image topic is absent but its
    ``/compressed`` sibling exists, that one is used (with a note). Of a topic recorded with several types (bags
    merged, a second publisher of another type) only the node's type is read (:meth:`.InputBag.read_as`): the image
    topic's Image (CompressedImage with ``image_transport: compressed``), camera_info's CameraInfo, the LiDAR's type
    ``lidar.message_type`` names (``auto``: PointCloud2 where recorded, as the node takes it of both publishers, else
    LaserScan), the prediction's Image; a topic without the node's type is read as the other type the runner accepts
    there (an image topic of CompressedImage only under ``image_transport: raw``).

    Raises:
        BagError: the image, camera_info or (external backend) prediction topic is missing or of the wrong type.
    """
    bag_types = bag.topic_types
    image = config.topics.image
    compressed = config.topics.image_transport == "compressed"
    if compressed and not image.endswith("/compressed"):
        if image + "/compressed" not in bag_types and IMAGE in bag_types.get(image, {}):
            msg = (
                f"image_transport=compressed reads {image}/compressed, which bag {bag.path} lacks; {image} there is "
                f"{IMAGE}: set --param image_transport=raw"
            )
            raise BagError(msg)
        image += "/compressed"
    elif image not in bag_types and COMPRESSED_IMAGE in bag_types.get(image + "/compressed", {}):
        summary.notes.append(f"{image} is not in the bag; reading {image}/compressed instead")
        image, compressed = image + "/compressed", True  # read as the compressed transport would
    cameras = sorted(topic for topic, kinds in bag_types.items() if CAMERA_INFO in kinds and "depth" not in topic)
    several = (
        f"; the bag holds several cameras (camera_info: {', '.join(cameras)}): one run takes one camera: --param "
        "image_topic=IMAGE --param camera_info_topic=CAMERA_INFO, and --node /NAMESPACE/mono_depth_node writes its "
        "outputs under that namespace"
        if len(cameras) > 1
        else ""
    )
    image_types = (COMPRESSED_IMAGE, IMAGE) if compressed else (IMAGE, COMPRESSED_IMAGE)  # the node's first
    try:
        image_type = _require(bag_types, image, image_types, "image_topic", bag)
        camera_info = config.topics.camera_info
        _require(bag_types, camera_info, (CAMERA_INFO,), "camera_info_topic", bag)
    except BagError as err:
        raise BagError(f"{err}{several}") from None
    read = {image: image_type, camera_info: CAMERA_INFO}
    lidar = config.topics.lidar
    kinds = {POINTCLOUD2: "PointCloud2", LASER_SCAN: "LaserScan"}  # a 3D LiDAR first, then a 2D one
    scans = [
        (t, kinds[k])
        for k in kinds
        for t, recorded in sorted(bag_types.items())
        if k in recorded and "depth" not in t and t != lidar
    ]  # recorded LiDARs this run does not read
    if lidar and lidar not in bag_types:
        summary.notes.append(
            f"lidar_topic {lidar} is not in the bag (PointCloud2 / LaserScan topics: "
            f"{_topics_of(bag_types, POINTCLOUD2, LASER_SCAN)})"
        )
    elif lidar:
        accepted = accepted_types(config.lidar.message_type)  # auto: PointCloud2 first, as the node prefers it
        recorded = [k for k in bag_types[lidar] if k in kinds]
        if recorded and not any(k in accepted for k in recorded):  # the topic is right, the type not
            msg = (
                f"topic {lidar} (lidar_topic) in {bag.path} is {' and '.join(recorded)}, expected "
                f"{' or '.join(accepted)} (lidar.message_type={config.lidar.message_type}); set --param "
                f"lidar.message_type={kinds[recorded[0]]} (or auto: the recorded type)"
            )
            raise BagError(msg)
        read[lidar] = _require(bag_types, lidar, accepted, "lidar_topic", bag)
        if scans:  # a second LiDAR (the node too subscribes one): named, as one left unused by an empty lidar_topic
            summary.notes.append(
                f"LiDAR not used: the bag also has {', '.join(f'{kind} {topic}' for topic, kind in scans)}; one run "
                f"takes one lidar_topic (as the node subscribes one): pass --param lidar_topic={scans[0][0]} for the "
                "scale from it instead"
            )
    elif scans:  # a LiDAR is recorded but not used: say so, the scale then comes from the fallbacks
        summary.notes.append(
            f"LiDAR not used: the bag has {', '.join(f'{kind} {topic}' for topic, kind in scans)} but lidar_topic "
            f"is empty; pass --param lidar_topic={scans[0][0]} for a metric scale from it"
        )
    prediction = ""
    if config.model.backend == "external":
        prediction = config.topics.prediction
        read[prediction] = _require(bag_types, prediction, (IMAGE,), "prediction_topic", bag, but=image)
    read |= {topic: TF_MESSAGE for topic in TF_TOPICS if TF_MESSAGE in bag_types.get(topic, {})}  # tf2's type
    plan = TopicPlan(image, image_type, camera_info, lidar, prediction, read)
    summary.notes.extend(plan.read_types(bag))
    return plan


@dataclass(frozen=True)
class ImageEntry:
    """One image message: bag time, header stamp and frame (None / "" when it could not be decoded), and the pass
    of the bag it belongs to (:mod:`.passes`: 0 unless the image stamps went back)."""

    log_ns: int
    stamp_ns: int | None
    frame_id: str
    error: str = ""
    bag_pass: int = 0


@dataclass(frozen=True)
class CameraInfoEntry:
    """One CameraInfo: the model, or the reason it is unusable."""

    frame_id: str
    model: CameraModel | None
    error_reason: str = ""
    error: str = ""
    error_key: str = ""  # the node's bad_messages key (the DepthError class)


@dataclass
class BagIndex:
    """Everything the second pass needs to pair and process frames.

    Attributes:
        topics: the resolved topics.
        images: per image ordinal.
        camera_infos: per camera_info ordinal; ``camera_info_stamps`` indexes them by stamp. Messages with the same
            calibration and frame id share one entry (one CameraModel, one set of undistortion maps).
        calibrations: the distinct entries, by calibration key and frame id.
        lidar_stamps, lidar_frames: scans by stamp; scan ordinal → frame id.
        unreadable_scans: the ordinals of the scans the first pass found no message (cut or corrupt after a readable
            header: :func:`_sweep_middle_ns` None); the node's subscription drops them (``lidar.bad_cdr``).
        prediction_stamps: predictions by stamp.
        tf: every /tf_static transform and the /tf transforms of the first pass of /tf (all of them when its stamps
            never went back; :meth:`tf_for` gives the TF of a bag pass).
        tf_passes: the TF of each pass of /tf (``tf_passes[0]`` is ``tf``), sharing the static transforms;
            ``tf_bag_passes``: the bag pass each began in.
    """

    topics: TopicPlan
    images: list[ImageEntry] = field(default_factory=list)
    camera_infos: list[CameraInfoEntry] = field(default_factory=list)
    calibrations: dict[tuple[Any, ...], CameraInfoEntry] = field(default_factory=dict)
    camera_info_stamps: StampIndex = field(default_factory=lambda: StampIndex((), ()))
    lidar_stamps: StampIndex = field(default_factory=lambda: StampIndex((), ()))
    lidar_frames: dict[int, str] = field(default_factory=dict)
    unreadable_scans: set[int] = field(default_factory=set)
    prediction_stamps: StampIndex = field(default_factory=lambda: StampIndex((), ()))
    tf: TfBuffer = field(default_factory=TfBuffer)
    tf_passes: list[TfBuffer] = field(default_factory=list)
    tf_bag_passes: list[int] = field(default_factory=list)
    _constant_tf: dict[tuple[int, str, str], RigidTransform] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # cam_from_scan's lookups that are the same at every stamp

    def tf_for(self, bag_pass: int) -> TfBuffer:
        """The TF of a bag pass: that of the last pass of /tf begun by then (what the node's buffer holds after it
        forgot the transforms from before the jump)."""
        chosen = self.tf
        for tf, began in zip(self.tf_passes, self.tf_bag_passes, strict=True):
            if began <= bag_pass:
                chosen = tf
        return chosen

    def cam_from_scan(
        self,
        camera_frame: str,
        image_ns: int | None,
        lidar_frame: str,
        scan_ns: int,
        motion_frame: str = "",
        bag_pass: int = 0,
    ) -> RigidTransform:
        """The transform taking a scan's points into the camera frame of an image (of ``bag_pass``: its TF).

        With ``motion_frame`` (a fixed frame such as ``odom``) the points are also moved from the scan stamp to the
        image stamp (TF time travel: ``camera(image)_from_lidar(scan)``); without, the extrinsic at the scan stamp.
        ``image_ns`` None (an image without a stamp) means the scan stamp. Without, a lookup between two frames whose
        chains are the same at every stamp (:meth:`TfBuffer.constant_chain`: a camera and a LiDAR on /tf_static) is
        made once per TF pass and shared (its arrays read-only).

        Raises:
            TransformError: the TF chain is missing (the message says what to publish).
        """
        tf = self.tf_for(bag_pass)
        if motion_frame:
            target_ns = scan_ns if image_ns is None else image_ns
            return tf.lookup_full(camera_frame, target_ns, lidar_frame, scan_ns, motion_frame)
        key = (id(tf), camera_frame, lidar_frame)  # a camera on a robot: /tf_static only, one lookup per run
        constant = self._constant_tf.get(key)
        if constant is not None:
            return constant
        cam_from_lidar = tf.lookup(camera_frame, lidar_frame, scan_ns)
        if tf.constant_chain(camera_frame) and tf.constant_chain(lidar_frame):
            cam_from_lidar.rotation.flags.writeable = cam_from_lidar.translation.flags.writeable = False  # shared
            self._constant_tf[key] = cam_from_lidar
        return cam_from_lidar

    def lidar_scan(
        self,
        camera_frame: str,
        image_ns: int | None,
        scan: Scan,
        motion_frame: str = "",
        bag_pass: int = 0,
    ) -> tuple[LidarScan, int]:
        """A decoded scan placed for an image (:meth:`cam_from_scan`), and with ``motion_frame`` and the scan's
        per-point times de-skewed: each :data:`~mono_depth_ros.core.scale.deskew.BIN_NS` slice of the sweep moved
        from its own time (:func:`~mono_depth_ros.core.scale.deskew.deskewed_scan`). Returns the scan and the number of
        slices TF could not place (left as if taken at the header stamp).

        Raises:
            TfLookupError: the TF chain at the scan stamp is missing (TF cannot answer).
            TransformError: the transform puts the points past float32.
        """
        lidar_frame = scan.frame_id
        try:
            cam_from_lidar = self.cam_from_scan(
                camera_frame, image_ns, lidar_frame, scan.stamp_ns, motion_frame, bag_pass
            )
        except TransformError as err:
            raise TfLookupError(str(err)) from None
        mount: RigidTransform | None = cam_from_lidar  # the mounting: a recalibration restarts the LiDAR scale
        if motion_frame:  # motion folded in: the mounting is camera <- LiDAR at the scan stamp
            try:
                mount = self.cam_from_scan(camera_frame, None, lidar_frame, scan.stamp_ns, "", bag_pass)
            except DepthError:
                mount = None  # not compared
        if not motion_frame or scan.point_dt_ns is None:
            return LidarScan(
                scan.points_in_lidar, cam_from_lidar, scan.stamp_ns, sweep_middle_ns=scan.sweep_middle_ns, mount=mount
            ), 0

        def at(t_ns: int) -> RigidTransform | None:  # camera(image) <- lidar(t_ns); None: TF cannot say
            try:
                return self.cam_from_scan(camera_frame, image_ns, lidar_frame, t_ns, motion_frame, bag_pass)
            except DepthError:
                return None

        deskewed, missing = deskewed_scan(scan.points_in_lidar, scan.point_dt_ns, scan.stamp_ns, cam_from_lidar, at)
        return replace(deskewed, mount=mount, sweep_middle_ns=scan.sweep_middle_ns), missing  # as it was paired


def index_bag(bag: InputBag, topics: TopicPlan, summary: BagSummary, selection: set[str] | None) -> BagIndex:
    """Read the bag once; undecodable messages are noted (images later count as skipped, others as warnings).

    ``selection`` is the topic set the second pass will read (``topics.all``, or None for every topic): reading the
    same selection keeps the per-topic message ordinals of both passes identical.

    Raises:
        BagError: the storage fails part-way.
    """
    index = BagIndex(topics)
    streams = _Streams(TfPasses(index.tf))
    wanted = topics.all
    stamp_only = {topics.image, topics.lidar, topics.prediction} - {""}
    in_order = RecordingOrder()
    for message in bag.messages(selection, heads=stamp_only):  # images, scans, predictions: their heads only
        message = in_order.of(message)  # equal bag times: recording order, as played
        if message.topic not in wanted:
            continue  # read only to keep ordinals aligned with the second pass
        header = header_from_cdr(message.raw) if message.topic in stamp_only else None
        if header is not None:  # images, scans, predictions: the stamp is all the first pass needs (and a scan's
            sweep_middle_ns = _sweep_middle_ns(bag, message) if message.topic == topics.lidar else 0  # own times)
            _add_stamp(index, topics, message, *header, streams, sweep_middle_ns)
            continue
        try:
            decoded = bag.deserialize(message)
        except EncodingError as err:
            if message.topic == topics.image:
                index.images.append(ImageEntry(message.log_ns, None, "", str(err)))
                streams.image_positions.append(None)
            else:
                # the node's name for an input's bytes that are no message (inputs_unused.camera_info.bad_cdr; a
                # scan or prediction whose header cannot be read: lidar.bad_cdr, prediction.bad_cdr)
                kinds = {topics.camera_info: "camera_info", topics.lidar: "lidar", topics.prediction: "prediction"}
                kind = kinds.get(message.topic)
                reason = f"undecodable {message.topic}" if kind is None else f"{kind}.{BAD_CDR}"
                summary.input_unused(reason, str(err))
            continue
        if message.topic in TF_TOPICS:
            try:
                if TF_TOPICS[message.topic]:  # shared by every pass; applies from after the images recorded before it
                    index.tf.add_tf_message(decoded, static=True, recorded_after_ns=streams.last_image_ns)
                else:
                    streams.tf.add(message.log_ns, decoded)
            except DepthError as err:
                summary.warnings.add(f"{message.topic}: {type(err).__name__}", str(err))
            continue
        stamp_ns = stamp_to_ns(decoded.header.stamp)
        frame_id = str(decoded.header.frame_id)
        if message.topic == topics.camera_info:
            streams.camera_info.add(message.log_ns, stamp_ns, len(index.camera_infos))
            key = (*calibration_key(decoded), frame_id)
            if key not in index.calibrations:
                index.calibrations[key] = _camera_info_entry(decoded, frame_id)
            index.camera_infos.append(index.calibrations[key])
        else:
            lidar = message.topic == topics.lidar  # (rare: a header past 4 KiB)
            sweep_middle_ns = _sweep_middle_ns(bag, message, decoded) if lidar else 0
            _add_stamp(index, topics, message, stamp_ns, frame_id, streams, sweep_middle_ns)
    streams.tf.finish()
    passes, starts = streams.images.resolve(), streams.images.starts_log_ns
    index.images = [  # an undecodable image: the pass in force when it was recorded
        replace(e, bag_pass=passes[at] if at is not None else max(bisect.bisect_right(starts, e.log_ns) - 1, 0))
        for e, at in zip(index.images, streams.image_positions, strict=True)
    ]
    index.camera_info_stamps = streams.camera_info.index(streams.images)
    index.lidar_stamps = streams.lidar.index(streams.images)
    index.prediction_stamps = streams.prediction.index(streams.images)
    index.tf_passes = streams.tf.buffers
    index.tf_bag_passes = streams.tf.bag_passes(streams.images)
    _note_passes(streams.images, topics.image, summary)
    return index


class RecordingOrder:
    """Bag times made strictly increasing in recording order for the first pass: a message recorded at the bag time
    of the one before it (or, in a run of equal times, at or before the last one given) is taken 1 ns after the
    last one given (int ns).

    Every pairing rule compares bag times (:class:`~.pairing.StampIndex`'s ``received_by`` and ``recorded_last``,
    the plan's synchroniser queues); at equal bag times they took a camera_info recorded after its image as received
    before it (``sync.mode: latest``: the frame published, where the node, given them in recording order as ``ros2
    bag play`` plays equal times, had none and dropped it), or the last of two camera_infos of one stamp where the
    node's synchroniser had fired with the first. A bag written by a converter at each message's header stamp, or by
    a recorder with a coarse clock, has such ties. Bag times that go back (not from a bag read in order) are kept.
    """

    def __init__(self) -> None:
        self._last: int | None = None  # the last bag time given (int ns)

    def of(self, message: BagMessage) -> BagMessage:
        """``message``, its bag time after the last one given where it is not (a copy), else itself."""
        log_ns, last = int(message.log_ns), self._last
        if last is not None and last - TIE_RUN_NS <= log_ns <= last:
            message = replace(message, log_ns=last + 1)
        self._last = int(message.log_ns)
        return message


TIE_RUN_NS = 1_000_000
"""How far a run of equal bag times may carry the times given past the recorded one (1 ms: a million messages at
one bag time); a bag time further back is a clock that went back, kept as recorded."""


@dataclass
class _Stream:
    """The stamps of one partner topic as the first pass reads them, with the pass of each (:mod:`.passes`)."""

    stamps: list[int] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    logs: list[int] = field(default_factory=list)  # bag time of each (int ns)
    passes: StreamPasses = field(default_factory=StreamPasses)

    def add(self, log_ns: int, stamp_ns: int, key: int) -> None:
        self.stamps.append(stamp_ns)
        self.keys.append(key)
        self.logs.append(log_ns)
        self.passes.add(log_ns, stamp_ns)

    def index(self, images: StreamPasses) -> StampIndex:
        """The stamps indexed by bag pass (the passes of the resolved image stream ``images``)."""
        local_passes = self.passes.resolve()
        bag_passes = self.passes.bag_passes(images)
        return StampIndex.build(self.stamps, self.keys, [bag_passes[k] for k in local_passes], self.logs)


@dataclass
class _Streams:
    tf: TfPasses
    images: StreamPasses = field(default_factory=StreamPasses)
    image_positions: list[int | None] = field(default_factory=list)  # per image entry: its place in ``images``
    camera_info: _Stream = field(default_factory=_Stream)
    lidar: _Stream = field(default_factory=_Stream)
    last_image_ns: int = -(2**63)  # the stamp of the last image recorded so far (before any: lower than any stamp)
    prediction: _Stream = field(default_factory=_Stream)


def _add_stamp(
    index: BagIndex,
    topics: TopicPlan,
    message: BagMessage,
    stamp_ns: int,
    frame_id: str,
    streams: _Streams,
    sweep_middle_ns: int | None = 0,
) -> None:
    """Index one image, scan or prediction by its header stamp (int ns); a scan by the middle of its sweep,
    ``sweep_middle_ns`` after the stamp (:func:`_sweep_middle_ns`; None, an undecodable scan: the stamp)."""
    if message.topic == topics.image:
        streams.last_image_ns = stamp_ns
        streams.image_positions.append(streams.images.add(message.log_ns, stamp_ns))
        index.images.append(ImageEntry(message.log_ns, stamp_ns, frame_id))
    elif message.topic == topics.lidar:  # paired by the middle of its sweep, whichever end the driver stamps
        streams.lidar.add(message.log_ns, stamp_ns + (sweep_middle_ns or 0), message.ordinal)
        index.lidar_frames[message.ordinal] = frame_id
        if sweep_middle_ns is None:
            index.unreadable_scans.add(message.ordinal)
    elif message.topic == topics.prediction:
        streams.prediction.add(message.log_ns, stamp_ns, message.ordinal)


def _sweep_middle_ns(bag: InputBag, message: BagMessage, decoded: Any = None) -> int | None:
    """Where the sweep of a scan lies after its header stamp (:func:`.messages.sweep_middle_offset_ns`, what the
    node's ``LidarFeed.add_scan`` asks of every scan: half a sweep for a driver stamping its start, minus that for one
    stamping its end, 0 without per-point times); None when the scan cannot be decoded (a cut LaserScan or cloud: the
    node drops it as ``lidar.bad_cdr``, the second pass counts it so). Asked of every scan: a partial first sweep, a
    rotation rate that changes, dropped packets or a time field only some scans carry give each scan its own. A
    cloud whose ``fields``, parsed from its head (:func:`~mono_depth_ros.core.cdr_header.point_fields_from_cdr`), hold
    no time field the node reads (:func:`~mono_depth_ros.core.point_times.time_field`) is not read whole; one whose
    do, or whose fields reach past the head, is (~1.6 ms a 2.7 MB Velodyne scan, bench/bench_first_pass.py). One
    without one whose stored (not compressed) payload its head does not show whole
    (:func:`~mono_depth_ros.bag.payload.head_decodes`: a cut cloud) is read whole too: a cut one is None, as the
    node's subscription drops it, and no frame's "no scan in time" names it as the nearest scan.
    ``decoded``: the message, when the caller has deserialised it already."""
    if decoded is None:
        fields = point_fields_from_cdr(message.raw[:HEAD_BYTES]) if message.msgtype == POINTCLOUD2 else None
        if fields is not None and time_field(fields) is None and _whole(bag, message.raw):
            return 0  # the node's answer without a time field it reads; no whole read (fields precede the points)
        try:
            decoded = bag.deserialize(message)
        except EncodingError:
            return None
    return messages_sweep_middle_offset_ns(decoded, message.msgtype)


def _whole(bag: InputBag, raw: bytes | bytearray | memoryview) -> bool:
    """Whether a PointCloud2's stored payload (``raw``: its head, or all of it) is whole, told from its head
    (:func:`~mono_depth_ros.bag.payload.head_decodes`, no points read); True for a compressed payload (its head
    tells only what its zstd frame declares: left to the second pass, as before)."""
    if bag.message_compressed:
        return True
    head = raw if isinstance(raw, PayloadHead) else PayloadHead(bytes(raw[:HEAD_BYTES]), len(raw), lambda: bytes(raw))
    return head_decodes(bag.typestore, head, POINTCLOUD2)


def _note_passes(images: StreamPasses, topic: str, summary: BagSummary) -> None:
    """A summary note when the image stamps went back (the bag holds several passes)."""
    jumps = images.starts_log_ns[1:]
    if jumps:
        shown = ", ".join(f"{log_ns / NS_PER_S:.3f} s" for log_ns in jumps[:5]) + (", ..." if len(jumps) > 5 else "")
        summary.notes.append(
            f"the stamps on {topic} went back {len(jumps)} time(s) (at bag time {shown}: a simulation reset, a "
            f"recorded --loop): each image is paired with the camera_info, scan and prediction of its own pass"
        )


def _camera_info_entry(decoded: object, frame_id: str) -> CameraInfoEntry:
    try:
        return CameraInfoEntry(frame_id, camera_model_from_camera_info(decoded))
    except DepthError as err:
        name = type(err).__name__
        return CameraInfoEntry(frame_id, None, f"camera_info: {name}", str(err), name)
