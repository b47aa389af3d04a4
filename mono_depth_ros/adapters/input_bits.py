"""16-bit camera images that use fewer bits: the scaling the parameter sets, and a warning when it looks wrong.

Machine-vision and robot cameras with 10- or 12-bit sensors publish ``mono16``, ``bayer_*16`` or ``rgb16`` /
``bgr16`` images. Some right-align the sensor's value in the 16-bit word (0..4095 for 12 bit: V4L2's ``Y12`` /
``Y10`` store it "in 16-bit words with unused high bits padded with 0"); others left-align it (the low bits zero:
0..65520) or scale it to 16 bits. cv_bridge, and this package by default, scale 16 bit to 8 bit by 255 / 65535: a
right-aligned 12-bit image reached the network 16 times too dark (values 0..16 of 255), the depth was garbage and
nothing said why. ``image_significant_bits`` (8..16, default 16) sets the full scale, ``2**bits - 1``
(:func:`~mono_depth_ros.core.msg_image.uint16_to_uint8`), for the node and the bag runner alike
(:func:`~mono_depth_ros.adapters.messages.frame_input`); a left-aligned sensor needs none (its values fill the word).

Why a parameter and not an automatic gain from the observed maxima: a dark scene on a true 16-bit camera (night, a
lens cap, the first frames of auto exposure) has the same maxima as a 12-bit one and would be brightened 16x; a gain
that follows the maxima changes the network input's brightness as the scene changes, and its depth with it. The bit
depth is the camera's, known to its user: :class:`SixteenBitInput` only watches and says what to set.

:class:`SixteenBitInput` looks at the peak of the first :data:`WATCH_FRAMES` 16-bit frames that are not black (per
value of the parameter: a run-time change is watched anew) and then decides:

* ``frames_high_bits_unused``: their peak needs at most ``bits - 4`` bits (at most 4095 with the default 16): the
  frames are at least 16x darker than the full scale; reported for every later 16-bit frame with the bit depth to set,
  until a frame peaks above ``bits - 4`` bits: a dark start (auto exposure, a tunnel) on a 16-bit or left-aligned
  camera, whose verdict is lifted for good (a raw Image's peak is read every frame while the verdict stands, a
  CompressedImage's every :data:`WATCH_FRAMES`-th); a higher peak under it renews the bit depth named.
* ``frames_above_significant_bits``: a frame's peak exceeds ``2**bits - 1`` (``bits`` < 16): values saturate (a
  left-aligned or wider sensor); reported at once and for every later 16-bit frame.

A report is ``report(key, text)``, ``key`` one of :data:`SIXTEEN_BIT_KEYS`, made when the frame is published
(:meth:`SixteenBitInput.published`, node and bag runner), not when it is decoded: a frame refused after its
decoding (a camera_info of another size, a prediction that does not fit, a pipeline error) is counted where it was
refused and not here. The report goes to the node's
:meth:`~mono_depth_ros.adapters.stats.RuntimeStats.sixteen_bit_frame` (the ``/diagnostics`` key of that name, WARN
while frames are counted, and a throttled log), the bag runner's
:meth:`~mono_depth_ros.bag.summary.BagSummary.sixteen_bit_frame` (its summary's warnings and the same key). These are
frames published with a suspect property, as ``frames_unstamped`` counts, not ``inputs_unused`` (messages of another
input that could not be used) nor an image outcome. Cost: one ``max`` over the image, in place, for each of the
first frames only (a CompressedImage is decoded once more for it, for those frames; after a
``frames_high_bits_unused`` verdict, see above).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from mono_depth_ros.core.msg_compressed import compressed_pixel_encoding, compressed_sixteen_bit_peak
from mono_depth_ros.core.msg_image import SIXTEEN_BITS, sixteen_bit_full_scale, sixteen_bit_peak
from mono_depth_ros.core.ros_msgs import stamp_to_ns

WATCH_FRAMES = 30
"""16-bit frames (not black) whose peak decides whether the high bits are used."""
UNUSED_HIGH_BITS = 4
"""A peak that needs ``bits - 4`` bits or fewer (16x below the full scale) is reported."""
DIM_KEY = "frames_high_bits_unused"
"""``/diagnostics`` key (and log / bag summary name): 16-bit frames whose values leave the high bits unused."""
CLIPPED_KEY = "frames_above_significant_bits"
"""``/diagnostics`` key (and log / bag summary name): 16-bit frames whose values exceed ``image_significant_bits``."""
SIXTEEN_BIT_KEYS = (DIM_KEY, CLIPPED_KEY)
"""Both, in every ``/diagnostics`` status (0 while none is counted), node and bag runner alike."""
PARAMETER = "image_significant_bits"
HELD_FRAMES = 8
"""Verdicts held for frames decoded and not yet published (the node has two in flight; refused ones fall out)."""
COMPRESSED = "sensor_msgs/msg/CompressedImage"


def sixteen_bit_encoding(image: Any, image_type: str) -> str:
    """The 16-bit colour encoding of an Image or CompressedImage (its ``encoding``; a CompressedImage's ``format``
    names it), or "" for 8-bit and other images."""
    encoding = compressed_pixel_encoding(str(image.format)) if image_type == COMPRESSED else str(image.encoding)
    return encoding if encoding in ("mono16", "rgb16", "bgr16", "rgba16", "bgra16") or _bayer16(encoding) else ""


def _bayer16(encoding: str) -> bool:
    return encoding.startswith("bayer_") and encoding.endswith("16")


def dim_text(encoding: str, peak: int, frames: int, bits: int) -> str:
    """The ``frames_high_bits_unused`` warning: what was seen, what it does to the depth, the parameter to set."""
    used = max(peak.bit_length(), 8)
    return (
        f"{encoding} images peak at {peak} over their first {frames} frames: {used} of the {bits} bits "
        f"{PARAMETER}: {bits} scales to 8 bit (full scale {sixteen_bit_full_scale(bits)}), so the network sees them "
        f"{1 << (bits - used)}x too dark and the depth is wrong; a {used}-bit sensor whose driver right-aligns its "
        f"values (0..{(1 << used) - 1}) needs {PARAMETER}: {used} (a left-aligned one fills the high bits and needs "
        f"none; a dark scene on a {bits}-bit sensor: leave it)"
    )


def clipped_text(encoding: str, peak: int, bits: int) -> str:
    """The ``frames_above_significant_bits`` warning: the value past the full scale, the parameter to set."""
    return (
        f"{encoding} pixel value {peak} exceeds {sixteen_bit_full_scale(bits)}, the full scale of {PARAMETER}: "
        f"{bits}: brighter pixels saturate to white; the sensor's values use more bits: set {PARAMETER} to its bit "
        f"depth, or {SIXTEEN_BITS} for values left-aligned in the 16-bit word (the low bits zero)"
    )


class SixteenBitInput:
    """The scaling of 16-bit images and the watch of their peaks (see the module docstring); one per stream.

    Args:
        config: the configuration in force (a callable: the node's changes at run time), read for
            ``topics.image_significant_bits``.
        report: ``report(key, text)`` (``key``: one of :data:`SIXTEEN_BIT_KEYS`) for every 16-bit frame published
            once a verdict is in (:meth:`published`).
        frames: how many non-black 16-bit frames decide.
    """

    def __init__(self, config: Callable[[], Any], report: Callable[[str, str], object], frames: int = WATCH_FRAMES):
        self._config = config
        self._report = report
        self._frames = frames
        self._bits = -1  # the parameter value watched (another one: watched anew)
        self._seen = 0
        self._peak = 0
        self._verdict: tuple[str, str] | None = None
        self._decided = False
        self._since = 0  # 16-bit frames since the verdict
        # (stamp ns, the verdict on that frame), oldest first, until it is published: a list, not a dict by stamp, as
        # frames in flight may share a stamp (an unstamped driver: all 0); the oldest of the stamp goes first
        self._held: deque[tuple[int, tuple[str, str]]] = deque(maxlen=HELD_FRAMES)  # full: the oldest falls out
        self._held_lock = threading.Lock()  # the node decodes in one worker thread and publishes in another

    @property
    def significant_bits(self) -> int:
        """``image_significant_bits`` in force (8..16)."""
        return int(self._config().topics.image_significant_bits)

    def observe(self, image: Any, image_type: str, bits: int) -> None:
        """One decoded frame (``bits``: the significant bits it was scaled with): its peak while undecided, and the
        verdict on it, held (by its stamp) until :meth:`published` reports it."""
        encoding = sixteen_bit_encoding(image, image_type)
        if not encoding:
            return
        if bits != self._bits:
            self._bits, self._seen, self._peak, self._verdict, self._decided = bits, 0, 0, None, False
            self._since = 0
        if not self._decided:
            self._watch(image, image_type, encoding, bits)
        elif self._verdict is not None and self._verdict[0] == DIM_KEY:
            self._follow(image, image_type, encoding)
        if self._verdict is not None:
            with self._held_lock:  # those refused after their decoding, never published, fall out (maxlen)
                self._held.append((stamp_to_ns(image.header.stamp), self._verdict))

    def published(self, stamp_ns: int) -> None:
        """The frame stamped ``stamp_ns`` (int ns, its image's header stamp) is published: the verdict observed on
        it, if any, is reported (once)."""
        with self._held_lock:
            held = next((entry for entry in self._held if entry[0] == stamp_ns), None)  # the oldest of that stamp
            if held is not None:
                self._held.remove(held)
        if held is not None:
            self._report(*held[1])

    def _follow(self, image: Any, image_type: str, encoding: str) -> None:
        """After a ``frames_high_bits_unused`` verdict, each frame's peak (a raw Image read in place every frame, one
        ``max``; a CompressedImage decoded once more every :data:`WATCH_FRAMES`-th): above ``bits - 4`` bits lifts the
        verdict (a dark start on a 16-bit or left-aligned camera: its high bits are used after all); a higher peak
        below that renews its text (a dark start on a 12-bit camera was told 8 bits for good)."""
        self._since += 1
        if image_type == COMPRESSED and self._since % self._frames:
            return
        peak = compressed_sixteen_bit_peak(image) if image_type == COMPRESSED else sixteen_bit_peak(image)
        if peak is None or peak <= self._peak:
            return
        if peak.bit_length() > self._bits - UNUSED_HIGH_BITS:
            self._verdict = None
            return
        self._peak = peak
        self._verdict = (DIM_KEY, dim_text(encoding, peak, self._seen + self._since, self._bits))

    def _watch(self, image: Any, image_type: str, encoding: str, bits: int) -> None:
        peak = compressed_sixteen_bit_peak(image) if image_type == COMPRESSED else sixteen_bit_peak(image)
        if not peak:  # black (a lens cap, the first frames of exposure) or no pixels: says nothing of the bits
            return
        if peak > sixteen_bit_full_scale(bits):
            self._verdict, self._decided = (CLIPPED_KEY, clipped_text(encoding, peak, bits)), True
            return
        self._seen, self._peak = self._seen + 1, max(self._peak, peak)
        if self._seen >= self._frames:
            self._decided = True
            if self._peak.bit_length() <= bits - UNUSED_HIGH_BITS:
                self._verdict = (DIM_KEY, dim_text(encoding, self._peak, self._seen, bits))
