"""Frame plans: each image with the ordinals of its camera_info, scan and prediction, or why it cannot be processed.

Built once after the first pass (:mod:`.index`) with the pairing rules (:mod:`.pairing`); the second pass
(:mod:`.runner`) follows the plans.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mono_depth_ros.adapters.cdr_input import BAD_CDR
from mono_depth_ros.bag.index import BagIndex, ImageEntry
from mono_depth_ros.bag.pairing import NS_PER_S, PairingRules
from mono_depth_ros.bag.summary import Skip

NO_PREDICTION = "no prediction"
"""The skip reason of an image without its external prediction (the node's ``no_prediction``)."""
NO_PREDICTION_KEY = "no_prediction"
NO_CAMERA_INFO_KEY = "no_camera_info"


def seconds_text(stamp_ns: int) -> str:
    """Int nanoseconds as ``"1700000000.100000000 s"`` (for messages)."""
    seconds, nanoseconds = divmod(int(stamp_ns), NS_PER_S)  # exact: a float cannot hold 19 digits
    return f"{seconds}.{nanoseconds:09d} s"


@dataclass(frozen=True)
class FramePlan:
    """One image and the ordinals of its partners (None: none), or the reason it cannot be processed; ``warning``:
    ``(reason, text)`` of a pairing the node would not make (processed all the same); ``lidar_candidates``: the
    scans within ``lidar.max_age_s`` in the order they are taken when the ones before cannot be read (``lidar``
    first; those recorded by the time the node sends the image on at the LiDAR's scan rate:
    :meth:`~.pairing.PairingRules.lidar_sent_at_rate`); ``lidar_unused``: ``(reason, text)`` of a nearer scan
    recorded after that, counted in ``inputs_unused`` as the node counts it; ``paired_log_ns``: the bag time (int ns)
    the node takes the image into its LiDAR pairing, its wait for the scan starting then (:func:`_paired_at_ns`;
    None: the image's)."""

    ordinal: int
    entry: ImageEntry
    camera_info: int | None = None
    lidar: int | None = None
    prediction: int | None = None
    skip: Skip | None = None
    warning: tuple[str, str] | None = None
    lidar_candidates: tuple[int, ...] = ()
    lidar_unused: tuple[str, str] | None = None
    paired_log_ns: int | None = None


def plan_frames(index: BagIndex, rules: PairingRules) -> list[FramePlan]:
    """Pair every image of ``index`` with its camera_info, scan and prediction (see :mod:`.pairing`)."""
    topics = index.topics
    plans = []
    for ordinal, entry in enumerate(index.images):
        if entry.stamp_ns is None:
            plans.append(FramePlan(ordinal, entry, skip=Skip("image: EncodingError", entry.error, BAD_CDR)))
            continue
        stamp_ns = entry.stamp_ns
        bag_pass = entry.bag_pass  # partners of the image's own pass (the bag's clock may have gone back)
        info = rules.camera_info_for(stamp_ns, index.camera_info_stamps, bag_pass, entry.log_ns)
        prediction = rules.prediction_for(stamp_ns, index.prediction_stamps, bag_pass) if topics.prediction else None
        info, prediction = rules.as_synchronised(  # of equal stamps, the ones the node's synchroniser takes
            stamp_ns, entry.log_ns, info, index.camera_info_stamps, prediction, index.prediction_stamps, bag_pass
        )
        paired_ns = _paired_at_ns(entry.log_ns, info, prediction, index, rules)
        candidates, lidar_unused = _lidar_choice(entry, paired_ns, index, rules)
        lidar = candidates[0] if candidates else None
        skip, no_prediction = None, bool(topics.prediction) and prediction is None
        if info is None and not (no_prediction and rules.sync_mode == "latest"):  # (latest: the node's synchroniser
            skip = _no_camera_info(entry, index, rules)  # pairs image and prediction, then it looks for camera_info)
        elif no_prediction:
            skip = Skip(
                NO_PREDICTION,
                f"no external prediction on {topics.prediction} with the image stamp {seconds_text(stamp_ns)}; "
                f"the prediction must copy the image header stamp",
                NO_PREDICTION_KEY,
            )
        unsynced = rules.camera_info_unsynced(stamp_ns, index.camera_info_stamps, bag_pass) if skip is None else None
        warning = None if unsynced is None else ("camera_info: not within sync.slop_s", unsynced)
        plan = FramePlan(ordinal, entry, info, lidar, prediction, skip, warning, candidates, lidar_unused, paired_ns)
        plans.append(plan)
    if rules.sync_mode == "approximate" or topics.prediction:  # the node's ApproximateTimeSynchronizer
        plans = _one_image_per_stamp(plans, index, rules)
    return plans


def _lidar_choice(
    entry: ImageEntry, paired_ns: int, index: BagIndex, rules: PairingRules
) -> tuple[tuple[int, ...], tuple[str, str] | None]:
    """An image's scan candidates (:meth:`~.pairing.PairingRules.lidar_candidates`; those recorded by the time the
    node sends it on at the LiDAR's scan rate, :meth:`~.pairing.PairingRules.lidar_sent_at_rate`, from
    ``paired_ns``, :func:`_paired_at_ns`) and ``(reason, text)`` of a nearer scan recorded later (None: none)."""
    if not index.topics.lidar or entry.stamp_ns is None:
        return (), None
    lidar_stamps = index.lidar_stamps
    at_rate = rules.lidar_sent_at_rate(entry.stamp_ns, paired_ns, lidar_stamps, entry.bag_pass)
    if at_rate is not None:
        return at_rate
    return rules.lidar_candidates(entry.stamp_ns, lidar_stamps, entry.bag_pass), None


def _paired_at_ns(
    image_log_ns: int, info: int | None, prediction: int | None, index: BagIndex, rules: PairingRules
) -> int:
    """The bag time (int ns) the node takes an image recorded at ``image_log_ns`` into its LiDAR pairing: when its
    synchroniser fires, the last of the set recorded (the camera_info with ``sync.mode: approximate``, an external
    prediction), else at once. Judged at the image's bag time, a frame whose prediction came 100 ms after it was sent
    on at the scan rate with an earlier scan where the node, the set complete only then, held a nearer one."""
    logs = [image_log_ns]
    if rules.sync_mode == "approximate" and info is not None and info in index.camera_info_stamps.position:
        logs.append(index.camera_info_stamps.log_of(info))
    if prediction is not None and prediction in index.prediction_stamps.position:
        logs.append(index.prediction_stamps.log_of(prediction))
    return max(logs)


def _no_camera_info(entry: ImageEntry, index: BagIndex, rules: PairingRules) -> Skip:
    """The skip of an image the node finds no camera_info for (``bad_messages.no_camera_info``): none at or before
    its stamp; with ``sync.mode: latest``, none recorded before it (the node chooses among those it received)."""
    stamp_ns, topic, infos = entry.stamp_ns or 0, index.topics.camera_info, index.camera_info_stamps
    first = infos.stamps_ns[:1]
    text = (
        f"no camera_info on {topic} at or before the image stamp {seconds_text(stamp_ns)} "
        f"({'first one at ' + seconds_text(first[0]) if first else 'the topic is empty'}); "
        f"record camera_info with the images"
    )
    if rules.sync_mode == "latest" and infos.logs_ns:
        late_ns = min(infos.logs_ns) - entry.log_ns
        text = (
            f"no camera_info on {topic} recorded before the image stamped {seconds_text(stamp_ns)}: the first one was "
            f"recorded only after the image ({late_ns / 1e6:.1f} ms after it); with sync.mode: latest the node "
            f"takes one it received before the image and drops this one (bad_messages.no_camera_info): only the "
            f"images recorded before the first camera_info are dropped, the later ones take the latest recorded "
            f"before them (a camera that publishes camera_info just after each image, as image_transport does, "
            f"loses its first image only); to keep them, start the recording before the camera, or publish "
            f"camera_info latched (transient-local)"
        )
    return Skip("no camera_info", text, NO_CAMERA_INFO_KEY)


def _one_image_per_stamp(plans: list[FramePlan], index: BagIndex, rules: PairingRules) -> list[FramePlan]:
    """Of images with equal stamps (in one pass) the ones the node's ApproximateTimeSynchronizer hands over; the
    others skipped under the node's reason. Its queues keep one message per stamp, a later one replacing it, until
    the set is complete (an image, the camera_info and the prediction of the frame all held), then fire and empty:
    the image held then is published; one replaced before is counted by the node's sync watch as missing the partner
    not held then (``no_camera_info``, ``no_prediction``; else ``unsynced``); one held when no partner comes again
    waits for partners that never come (``unsynced``). Partners recorded again with the stamp (a camera driver that
    republishes a frame with its camera_info) complete a second set: that image is published too, with them (the
    ones of its own set, :func:`_handed_over`; it went with the first set's camera_info), its scan chosen from when
    that set fired (:func:`_lidar_choice`; it was chosen from when the first set's partners were recorded).
    Only frames the runner would process (no skip, no pairing warning) are compared."""
    groups: dict[tuple[int, int], list[FramePlan]] = {}
    for plan in plans:
        if plan.skip is None and plan.warning is None and plan.entry.stamp_ns is not None:
            groups.setdefault((plan.entry.bag_pass, plan.entry.stamp_ns), []).append(plan)
    skips: dict[int, Skip] = {}
    renewed: dict[int, tuple[int | None, int | None]] = {}  # ordinal -> camera_info, prediction of its own set
    for (bag_pass, stamp_ns), group in groups.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda plan: (plan.entry.log_ns, plan.ordinal))
        partners: dict[str, tuple[int, ...]] = {}  # partner -> bag times its messages of the frame's stamp came at
        if rules.sync_mode == "approximate" and group[0].camera_info is not None:
            own = index.camera_info_stamps.of_pass(bag_pass)
            if group[0].camera_info in own.position:
                partners["camera_info"] = own.logs_stamped_as(group[0].camera_info)
        if group[0].prediction is not None:
            partners["prediction"] = index.prediction_stamps.of_pass(bag_pass).logs_stamped_as(group[0].prediction)
        published, lost = _synchronised([plan.entry.log_ns for plan in group], partners)
        for i, (fired_ns, held) in published.items():  # the partners of its own set, not the first set's
            handed = _handed_over(group[0], bag_pass, fired_ns, held, index, rules)
            if handed != (group[i].camera_info, group[i].prediction):
                renewed[group[i].ordinal] = handed
        names = ", ".join(f"image {group[i].ordinal}" for i in published) or "none"
        for i, (key, how) in lost.items():
            plan = group[i]
            skips[plan.ordinal] = Skip(
                "image: stamp seen before",
                f"image {plan.ordinal} stamped {seconds_text(stamp_ns)} has the stamp of {len(group) - 1} other "
                f"image(s): the node keeps one image per stamp until its set is complete (published: {names}); "
                f"this one was {how}: give each image its own header stamp",
                key,
            )
    for ordinal, plan in enumerate(plans):
        if plan.ordinal in renewed:
            info, prediction = renewed[plan.ordinal]
            paired_ns = _paired_at_ns(plan.entry.log_ns, info, prediction, index, rules)  # its own set fired then
            candidates, unused = _lidar_choice(plan.entry, paired_ns, index, rules)
            lidar = candidates[0] if candidates else None
            plans[ordinal] = replace(
                plan,
                camera_info=info,
                prediction=prediction,
                lidar=lidar,
                lidar_candidates=candidates,
                lidar_unused=unused,
                paired_log_ns=paired_ns,
            )
    return [plan if plan.ordinal not in skips else replace(plan, skip=skips[plan.ordinal]) for plan in plans]


def _handed_over(
    first: FramePlan, bag_pass: int, fired_ns: int, held: dict[str, int], index: BagIndex, rules: PairingRules
) -> tuple[int | None, int | None]:
    """The camera_info and prediction keys the node hands over with a set of an image stamped as ``first`` that
    fired at bag time ``fired_ns`` (int ns), ``held[partner]`` being the place, among the partner's messages of that
    stamp, of the one its queue held then (:func:`_synchronised`); a camera_info no part of the set (``sync.mode:
    latest``) is the node's choice among those recorded by ``fired_ns``
    (:meth:`~.pairing.PairingRules.latest_camera_info`; the last of the first set's stamp missed a camera_info of a
    newer stamp recorded between the two sets)."""
    info, prediction = first.camera_info, first.prediction
    infos = index.camera_info_stamps.of_pass(bag_pass)
    if rules.sync_mode == "latest":  # the node's choice among those it holds when the set fires
        info = rules.latest_camera_info(first.entry.stamp_ns or 0, fired_ns, index.camera_info_stamps)
    elif info is not None and info in infos.position and "camera_info" in held:
        info = infos.keys_stamped_as(info)[held["camera_info"]]
    if prediction is not None and "prediction" in held:
        prediction = index.prediction_stamps.of_pass(bag_pass).keys_stamped_as(prediction)[held["prediction"]]
    return info, prediction


def _synchronised(
    images_log_ns: list[int], partners: dict[str, tuple[int, ...]]
) -> tuple[dict[int, tuple[int, dict[str, int]]], dict[int, tuple[str, str]]]:
    """message_filters' queues for one stamp, fed in bag-time order (from a bag, recording order: the index's bag
    times strictly increase, :class:`~.index.RecordingOrder`; else an image before a partner of the same time): the
    images published (indices into ``images_log_ns``, in the order their sets fired) with the bag time the set fired
    at and, per partner, the place in its ``partners`` bag times of the message held then (the last one since the
    set before fired); and, for each image lost, the node's key and how it was lost."""
    events = sorted(
        [(log_ns, 0, i, "") for i, log_ns in enumerate(images_log_ns)]
        + [(log_ns, 1, j, name) for name, logs in partners.items() for j, log_ns in enumerate(logs)]
    )
    held_image: int | None = None
    held: dict[str, int] = {}  # partner -> the place of the one its queue holds
    published: dict[int, tuple[int, dict[str, int]]] = {}
    lost: dict[int, tuple[str, str]] = {}
    for log_ns, kind, i, name in events:
        if kind == 1:
            held[name] = i
        else:
            if held_image is not None:  # replaced in the queue before its set was complete
                missing = [partner for partner in partners if partner not in held]
                key = f"no_{missing[0]}" if missing else "unsynced"
                lost[held_image] = (key, f"replaced in the node's synchroniser queue by the next image of that stamp "
                                    f"({key})")  # fmt: skip
            held_image = i
        if held_image is not None and len(held) == len(partners):
            published[held_image] = (log_ns, held)
            held_image, held = None, {}
    if held_image is not None:
        lost[held_image] = ("unsynced", "recorded after the node's synchroniser had paired the one before, it waits "
                            "for partners that never come")  # fmt: skip
    return published, lost
