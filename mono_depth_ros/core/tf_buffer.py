"""A small ROS-free TF buffer: static and dynamic transforms, chained and time-travel lookups (tf2 for bag runs).

Transforms are stored per child frame as ``parent_from_child`` (a ``geometry_msgs/TransformStamped`` with
``header.frame_id = parent`` and ``child_frame_id = child``, as tf2 stores them). :meth:`TfBuffer.lookup` returns
``target_from_source`` (tf2's ``lookup_transform(target, source, time)``: it maps points in ``source`` into
``target``), chaining through any number of intermediate frames via their closest common ancestor.

Time semantics (simpler than tf2, documented so that nobody is surprised):

* static transforms hold at every stamp. When ``/tf_static`` is re-published with other values for the same child,
  the newer value applies from its own stamp on (what a node sees while the bag replays); before the first static
  sample the earliest value applies. Given in recording order with ``recorded_after_ns`` (the stamp of the last
  image recorded before it, as the bag runner's index gives them), a value applies from just after that stamp,
  whatever its own: tf2's static cache holds the value received last and ignores stamps, so a correction stamped 0,
  with the stamp of the value it replaces or on another clock applies from the first image recorded after it, and
  to none before; a value re-sent unchanged adds no sample;
* a dynamic edge is **interpolated** between the two samples around the query stamp, as tf2 does (translation
  linearly, rotation by slerp), when they are at most :data:`TF_CACHE_NS` (tf2's default cache, 10 s) apart: tf2
  drops a sample more than that older than the newest, so the node has no transform in a longer gap of ``/tf``
  (the lookup fails, naming the gap). After its last sample the last one holds (tf2 would refuse to extrapolate: a
  bag's final frames keep their transform; :meth:`TfBuffer.held_after_end` says when a lookup did, for the bag
  runner to count the frame). A query before the edge's first sample fails, unless the child also
  has a static transform, which then applies;
* ``stamp_ns=None`` asks for the latest sample of every dynamic edge (tf2's ``Time()``);
* :meth:`TfBuffer.lookup_full` is tf2's ``lookup_transform_full``: source and target at two different stamps,
  joined through a fixed frame (e.g. ``odom``) in which the world is static — "time travel", used to move a
  LiDAR scan from its own stamp to the image's.

Frame ids are compared after stripping one leading ``'/'`` (a ROS 1 habit that tf2 in ROS 2 rejects outright).
All times are int nanoseconds.
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections.abc import Iterable
from typing import Any

import numpy as np

from mono_depth_ros.core.errors import TransformError
from mono_depth_ros.core.frame_names import missing_frame_hint
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import NS_PER_S, stamp_to_ns

_MAX_CHAIN = 1000  # deeper than any real TF tree; guards against cycles
TF_CACHE_NS = 10_000_000_000  # tf2's BufferCore default cache: no interpolation between samples further apart
_QUATERNION_NORM_TOLERANCE = 1e-3  # a quaternion further off unit length is reported (and used normalised, as tf2)


def normalize_frame_id(frame_id: str) -> str:
    """``"/base_link"`` → ``"base_link"``; other ids unchanged."""
    return frame_id[1:] if frame_id.startswith("/") else frame_id


def _seconds(stamp_ns: int | None) -> str:
    if stamp_ns is None:
        return "latest"
    seconds, nanoseconds = divmod(int(stamp_ns), NS_PER_S)  # exact: a float cannot hold 19 digits
    return f"{seconds}.{nanoseconds:09d} s"


class _Edge:
    """Time series of ``parent_from_child`` samples of one child frame (static or dynamic), sorted by stamp.

    Stored compactly, 112 bytes a sample (a long bag's /tf holds millions): the stamp (int64), the rotation and
    translation as 12 float64 and the parent frame (one shared string); a :class:`RigidTransform` is built only for
    the samples a lookup reads. Samples were validated as RigidTransforms when they were inserted.
    """

    _WIDTH = 12  # rotation (3x3, row-major) and translation (3)

    def __init__(self, child: str) -> None:
        self.child = child
        self.stamps_ns = array("q")
        self._values = array("d")
        self._parents: list[str] = []

    @property
    def parents(self) -> set[str]:
        """Every parent frame this child has had."""
        return set(self._parents)

    def insert(self, stamp_ns: int, parent_from_child: RigidTransform) -> None:
        row = array("d", parent_from_child.rotation.ravel().tolist() + parent_from_child.translation.tolist())
        parent = sys.intern(parent_from_child.dst_frame)
        index = bisect.bisect_left(self.stamps_ns, stamp_ns)
        width = self._WIDTH
        if index < len(self.stamps_ns) and self.stamps_ns[index] == stamp_ns:
            self._values[index * width : (index + 1) * width] = row  # a repeated stamp replaces the earlier sample
            self._parents[index] = parent
            return
        self.stamps_ns.insert(index, stamp_ns)
        self._values[index * width : index * width] = row
        self._parents.insert(index, parent)

    def newest_is(self, parent_from_child: RigidTransform) -> bool:
        """Whether the sample of the highest stamp holds exactly this parent and value."""
        if not self.stamps_ns:
            return False
        last = len(self.stamps_ns) - 1
        row = parent_from_child.rotation.ravel().tolist() + parent_from_child.translation.tolist()
        values = self._values[last * self._WIDTH : (last + 1) * self._WIDTH]
        return self._parents[last] == parent_from_child.dst_frame and values.tolist() == row

    def _sample(self, index: int) -> RigidTransform:
        start = index * self._WIDTH
        values = np.array(self._values[start : start + self._WIDTH], dtype=np.float64)  # a copy: the array may grow
        return RigidTransform(values[:9].reshape(3, 3), values[9:], self._parents[index], self.child)

    def at(self, stamp_ns: int | None, *, static: bool) -> RigidTransform | None:
        """The sample for ``stamp_ns`` (the very latest for None).

        Static: the latest sample at or before the stamp (the first one before it). Dynamic: interpolated between
        the samples around the stamp, the last sample after the last stamp, None before the first and between two
        samples more than :data:`TF_CACHE_NS` apart.
        """
        if not self.stamps_ns:
            return None
        if stamp_ns is None:
            return self._sample(len(self.stamps_ns) - 1)
        index = bisect.bisect_right(self.stamps_ns, stamp_ns) - 1
        if index < 0:
            return self._sample(0) if static else None
        if static or index == len(self.stamps_ns) - 1 or self.stamps_ns[index] == stamp_ns:
            return self._sample(index)
        before_ns, after_ns = self.stamps_ns[index], self.stamps_ns[index + 1]
        if after_ns - before_ns > TF_CACHE_NS:  # tf2 dropped the older one when the newer one came
            return None
        fraction = (stamp_ns - before_ns) / (after_ns - before_ns)
        return self._sample(index).interpolate(self._sample(index + 1), fraction)


class TfBuffer:
    """Static + dynamic transforms with chained ``target_from_source`` lookups (see the module docstring)."""

    def __init__(self) -> None:
        self._static: dict[str, _Edge] = {}
        self._dynamic: dict[str, _Edge] = {}

    def sharing_static(self) -> TfBuffer:
        """A new buffer without dynamic transforms that shares this one's static transforms (a later pass of a bag
        whose clock went back: ``/tf_static`` recorded once holds in every pass)."""
        other = TfBuffer()
        other._static = self._static
        return other

    @property
    def frames(self) -> set[str]:
        """Every frame id named by a stored transform (parents and children)."""
        names = set(self._static) | set(self._dynamic)
        for edge in [*self._static.values(), *self._dynamic.values()]:
            names.update(edge.parents)
        return names

    def static_transforms(self) -> list[RigidTransform]:
        """The latest static sample of each child frame (``parent_from_child``)."""
        latest = (edge.at(None, static=True) for edge in self._static.values())
        return [transform for transform in latest if transform is not None]

    def __len__(self) -> int:
        """Number of stored samples, static and dynamic."""
        return sum(len(e.stamps_ns) for e in [*self._static.values(), *self._dynamic.values()])

    def set_transform(
        self, parent_from_child: RigidTransform, stamp_ns: int, *, static: bool, recorded_after_ns: int | None = None
    ) -> None:
        """Store one edge; ``dst_frame`` is the parent, ``src_frame`` the child.

        A static sample holds at every stamp until a newer static sample of the same child (see the module
        docstring); a dynamic sample holds from its stamp until the next one. A repeated stamp replaces the sample.
        ``recorded_after_ns`` (static only; int ns): the sample was recorded after the child's earlier static
        samples and after an image of that stamp, so it applies from just after that stamp, whatever ``stamp_ns``
        says (tf2 keeps the static value received last); one equal to the child's newest is not stored again
        (None: it applies from ``stamp_ns``).

        Raises:
            TransformError: an empty frame id, or a transform from a frame to itself.
        """
        parent = normalize_frame_id(parent_from_child.dst_frame)
        child = normalize_frame_id(parent_from_child.src_frame)
        if not parent or not child:
            msg = f"TF transform needs both frame ids, got parent {parent!r} and child {child!r}"
            raise TransformError(msg)
        if parent == child:
            msg = f"TF transform from frame {child!r} to itself; check header.frame_id and child_frame_id"
            raise TransformError(msg)
        edge = RigidTransform(parent_from_child.rotation, parent_from_child.translation, parent, child)
        edges = self._static if static else self._dynamic
        if child not in edges:
            edges[child] = _Edge(child)
        if static and recorded_after_ns is not None:
            if edges[child].newest_is(edge):  # re-sent unchanged (a StaticTransformBroadcaster re-sends all it holds)
                return
            stamp_ns = int(recorded_after_ns) + 1
        edges[child].insert(int(stamp_ns), edge)

    def add_transform_stamped(self, msg: Any, *, static: bool, recorded_after_ns: int | None = None) -> float:
        """Store one ``geometry_msgs/TransformStamped`` (any message flavour: fields are read by name);
        ``recorded_after_ns``: see :meth:`set_transform`.

        Its quaternion is normalised first, as tf2 does (Humble stores any finite, non-zero quaternion normalised).

        Returns:
            The norm of the quaternion as received (1 for a well-formed transform).

        Raises:
            TransformError: an empty frame id, a self-loop, a zero or non-finite quaternion, a non-finite
                translation (tf2 ignores these too).
        """
        rotation = msg.transform.rotation
        q_xyzw = np.array([float(rotation.x), float(rotation.y), float(rotation.z), float(rotation.w)])
        norm = float(np.linalg.norm(q_xyzw))
        if np.isfinite(norm) and norm > 0.0:
            q_xyzw /= norm
        translation = msg.transform.translation
        parent_from_child = RigidTransform.from_translation_quaternion(
            (float(translation.x), float(translation.y), float(translation.z)),
            q_xyzw,
            dst_frame=str(msg.header.frame_id),
            src_frame=str(msg.child_frame_id),
        )
        stamp_ns = stamp_to_ns(msg.header.stamp)
        self.set_transform(parent_from_child, stamp_ns, static=static, recorded_after_ns=recorded_after_ns)
        return norm

    def add_tf_message(self, msg: Any, *, static: bool, recorded_after_ns: int | None = None) -> int:
        """Store every transform of a ``tf2_msgs/TFMessage`` (``/tf`` or, with ``static=True``, ``/tf_static``;
        ``recorded_after_ns``: see :meth:`set_transform`).

        Malformed transforms (zero or NaN quaternion, NaN translation, missing frame ids) are skipped; the others
        are stored, a quaternion off unit length normalised as tf2 does (see :meth:`add_transform_stamped`).

        Returns:
            The number of transforms stored.

        Raises:
            TransformError: after storing the good ones, when any transform was malformed (the message names the
                first problem and how many were skipped) or had a quaternion off unit length (used normalised, as
                the node's tf2 uses it; the message names the first and how many).
        """
        stored = 0
        problems: list[str] = []
        normalised: list[str] = []
        for transform_stamped in msg.transforms:
            try:
                norm = self.add_transform_stamped(transform_stamped, static=static, recorded_after_ns=recorded_after_ns)
            except TransformError as err:
                problems.append(str(err))
                continue
            stored += 1
            if abs(norm - 1.0) > _QUATERNION_NORM_TOLERANCE:
                rotation = transform_stamped.transform.rotation
                q_text = ", ".join(f"{float(getattr(rotation, axis)):g}" for axis in "xyzw")
                child = str(transform_stamped.child_frame_id)
                normalised.append(f"child {child!r}: quaternion (x, y, z, w) = ({q_text}) has norm {norm:.6f}")
        texts = []
        if problems:
            texts.append(
                f"skipped {len(problems)} malformed TF transform(s) of {stored + len(problems)}: {problems[0]}"
            )
        if normalised:
            texts.append(
                f"normalised {len(normalised)} TF quaternion(s) of {stored + len(problems)} off unit length and used "
                f"them, as tf2 does (first: {normalised[0]}); fix the TF publisher (x, y, z, w order, normalised)"
            )
        if texts:
            raise TransformError("; ".join(texts))
        return stored

    def constant_chain(self, frame: str) -> bool:
        """Whether ``frame``'s chain up to its root is the same at every stamp: no dynamic transform on it and one
        sample for each static one (a lookup between two such frames gives one transform, whatever the stamp)."""
        current = normalize_frame_id(frame)
        for _ in range(_MAX_CHAIN):
            if current in self._dynamic:
                return False
            edge = self._static.get(current)
            if edge is None:
                return True
            if len(edge.stamps_ns) != 1:
                return False
            (current,) = edge.parents
        return False  # a cycle: lookups raise for it

    def _parent_edge(self, child: str, stamp_ns: int | None) -> RigidTransform | None:
        dynamic = self._dynamic.get(child)
        sample = dynamic.at(stamp_ns, static=False) if dynamic is not None else None
        if sample is not None:
            return sample
        static = self._static.get(child)
        return static.at(stamp_ns, static=True) if static is not None else None

    def _chain_to_root(self, frame: str, stamp_ns: int | None) -> dict[str, RigidTransform]:
        """``ancestor -> ancestor_from_frame`` for ``frame`` and every ancestor, in order from ``frame`` up."""
        chain = {frame: RigidTransform.identity(frame, frame)}
        current, current_from_frame = frame, chain[frame]
        for _ in range(_MAX_CHAIN):
            parent_from_current = self._parent_edge(current, stamp_ns)
            if parent_from_current is None:
                return chain
            current_from_frame = parent_from_current @ current_from_frame
            current = parent_from_current.dst_frame
            if current in chain:
                msg = f"TF tree has a cycle through frame {current!r}; check the /tf and /tf_static publishers"
                raise TransformError(msg)
            chain[current] = current_from_frame
        msg = f"TF chain above frame {frame!r} is deeper than {_MAX_CHAIN} frames (a cycle?)"
        raise TransformError(msg)

    def lookup(self, target_frame: str, source_frame: str, stamp_ns: int | None = None) -> RigidTransform:
        """``target_from_source`` at ``stamp_ns`` (int ns; None = latest), chained through intermediate frames.

        Returns:
            A transform with ``dst_frame = target_frame`` and ``src_frame = source_frame`` (normalised ids):
            ``lookup("camera", "lidar").apply(points_in_lidar)`` gives points in the camera frame.

        Raises:
            TransformError: an empty frame id, or no chain connects the two frames at that stamp (the message
                says which frames are known, where each chain ends, and what to publish).
        """
        target = normalize_frame_id(target_frame)
        source = normalize_frame_id(source_frame)
        if not target or not source:
            msg = (
                f"TF lookup needs two frame ids, got target {target_frame!r} and source {source_frame!r}; "
                f"the message header has an empty frame_id"
            )
            raise TransformError(msg)
        if target == source:
            return RigidTransform.identity(target, source)
        ancestors_of_source = self._chain_to_root(source, stamp_ns)
        ancestors_of_target = self._chain_to_root(target, stamp_ns)
        for common, common_from_target in ancestors_of_target.items():
            common_from_source = ancestors_of_source.get(common)
            if common_from_source is not None:
                result = common_from_target.inverse() @ common_from_source
                return RigidTransform(result.rotation, result.translation, target, source)
        raise TransformError(self._explain_missing(target, source, stamp_ns, ancestors_of_target, ancestors_of_source))

    def lookup_full(
        self, target_frame: str, target_stamp_ns: int, source_frame: str, source_stamp_ns: int, fixed_frame: str
    ) -> RigidTransform:
        """``target(target_stamp)_from_source(source_stamp)`` through ``fixed_frame`` (tf2's lookup_transform_full).

        Equals ``lookup(target, fixed, target_stamp) @ lookup(fixed, source, source_stamp)``: a point measured in
        ``source`` at ``source_stamp`` is expressed in ``target`` as it stood at ``target_stamp``, assuming the
        point is static in ``fixed_frame`` (``odom`` or ``map``).

        Raises:
            TransformError: either half of the chain is missing (the message names it).
        """
        fixed = normalize_frame_id(fixed_frame)
        if not fixed:
            msg = "lookup_full needs a fixed frame (e.g. 'odom' or 'map'), got an empty frame id"
            raise TransformError(msg)
        if fixed not in self.frames:  # its only caller is lidar.motion_frame; a static extrinsic would pin it
            roots = sorted(self.frames - set(self._static) - set(self._dynamic))  # frames no transform moves
            msg = (
                f"lidar.motion_frame {fixed!r} is not in /tf or /tf_static (frames: {', '.join(sorted(self.frames))}); "
                f"set it to the frame in which the world is static that the recording's TF has "
                f"({', '.join(map(repr, roots)) or 'none'}), or leave it empty (no motion compensation)"
            )
            raise TransformError(msg)
        target_from_fixed = self.lookup(target_frame, fixed, target_stamp_ns)
        fixed_from_source = self.lookup(fixed, source_frame, source_stamp_ns)
        return target_from_fixed @ fixed_from_source

    def held_after_end(self, target_frame: str, source_frame: str, stamp_ns: int) -> str:
        """Why :meth:`lookup` at ``stamp_ns`` (int ns) held a moving transform past the end of its ``/tf`` (where
        tf2 would refuse to extrapolate into the future and the node would have no transform), or ``""``.

        Reads the dynamic edges the lookup chains through (below the closest common ancestor, as tf2); names the
        first that ends before the stamp. Two frames whose chains are constant (:meth:`constant_chain`: no dynamic
        edge, the usual camera and LiDAR of one robot's ``/tf_static``) answer ``""`` without composing the chains'
        transforms (the bag runner asks once a frame: ~0.1 ms a frame at KITTI's two-edge chain).
        """
        if self.constant_chain(source_frame) and self.constant_chain(target_frame):  # no dynamic edge to name
            return ""
        source_chain = list(self._chain_to_root(normalize_frame_id(source_frame), stamp_ns))
        target_chain = list(self._chain_to_root(normalize_frame_id(target_frame), stamp_ns))
        common = next((frame for frame in target_chain if frame in source_chain), None)
        for chain in (source_chain, target_chain):
            for current in chain[: chain.index(common)] if common in chain else chain:
                edge = self._dynamic.get(current)
                if edge is not None and edge.stamps_ns and edge.stamps_ns[-1] < stamp_ns:
                    last_ns = edge.stamps_ns[-1]
                    return (
                        f"/tf for {current!r} ends at {_seconds(last_ns)}, {(stamp_ns - last_ns) / NS_PER_S:.3f} s "
                        f"before the lookup at {_seconds(stamp_ns)}: its last transform was held (tf2 does not "
                        "extrapolate: the node would have no transform and the frame no LiDAR scale); record /tf to "
                        "the end of the camera"
                    )
        return ""

    def can_transform(self, target_frame: str, source_frame: str, stamp_ns: int | None = None) -> bool:
        """True when :meth:`lookup` would succeed."""
        try:
            self.lookup(target_frame, source_frame, stamp_ns)
        except TransformError:
            return False
        return True

    def _explain_missing(
        self,
        target: str,
        source: str,
        stamp_ns: int | None,
        target_chain: dict[str, RigidTransform],
        source_chain: dict[str, RigidTransform],
    ) -> str:
        known = self.frames
        parts = [f"no TF chain from {source!r} to {target!r} at {_seconds(stamp_ns)}"]
        for frame in (source, target):
            if frame not in known:
                hint = missing_frame_hint(frame, known)
                parts.append(f"frame {frame!r} is not in /tf or /tf_static" + (f" ({hint})" if hint else ""))
        source_root, target_root = list(source_chain)[-1], list(target_chain)[-1]
        parts.append(f"{source!r} chains up to {source_root!r}")
        parts.append(f"{target!r} chains up to {target_root!r}")
        if source_root != target_root and source_root.rsplit("/", 1)[-1] == target_root.rsplit("/", 1)[-1]:
            parts.append(
                f"the roots {source_root!r} and {target_root!r} are one name in two namespaces: the camera and the "
                "LiDAR are in two robots' TF trees (or one tree under two prefixes); stamp both in one"
            )
        parts.extend(self._too_early(list(source_chain) + list(target_chain), stamp_ns))
        listed = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
        parts.append(f"known frames: {listed or 'none'}")
        parts.append(
            "publish the extrinsic on /tf_static (e.g. ros2 run tf2_ros static_transform_publisher "
            f"--frame-id {target} --child-frame-id {source} ...) and record it in the bag"
        )
        return "; ".join(parts)

    def _too_early(self, frames: Iterable[str], stamp_ns: int | None) -> list[str]:
        notes = []
        for frame in frames:
            edge = self._dynamic.get(frame)
            if stamp_ns is None or edge is None or not edge.stamps_ns:
                continue
            if edge.stamps_ns[0] > stamp_ns:
                notes.append(
                    f"/tf for {frame!r} starts at {_seconds(edge.stamps_ns[0])}, after the lookup stamp "
                    f"(no transform at or before {_seconds(stamp_ns)})"
                )
                continue
            index = bisect.bisect_right(edge.stamps_ns, stamp_ns)
            if index < len(edge.stamps_ns) and edge.stamps_ns[index] - edge.stamps_ns[index - 1] > TF_CACHE_NS:
                before_ns, after_ns = edge.stamps_ns[index - 1], edge.stamps_ns[index]
                notes.append(
                    f"/tf for {frame!r} has no sample from {_seconds(before_ns)} to {_seconds(after_ns)} "
                    f"({(after_ns - before_ns) / NS_PER_S:.1f} s, longer than tf2's {TF_CACHE_NS // NS_PER_S} s cache: "
                    "the node's tf2 cannot interpolate across it either); record /tf without gaps"
                )
        return notes
