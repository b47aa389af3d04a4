"""adapters.input_bits: 16-bit images of 10/12-bit sensors, their scaling parameter and the watch of their peaks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mono_depth_ros.adapters.input_bits import (
    CLIPPED_KEY,
    DIM_KEY,
    WATCH_FRAMES,
    SixteenBitInput,
    sixteen_bit_encoding,
)
from mono_depth_ros.core.msg_compressed import compressed_image_from_array
from mono_depth_ros.core.msg_image import image_from_array
from mono_depth_ros.core.ros_msgs import stamp_to_ns
from mono_depth_ros.depth_config import DepthConfig
from test.core.ros_msg_support import input_header, rosbags_factory

FACTORY = rosbags_factory("humble")
HEADER = input_header(FACTORY)
IMAGE, COMPRESSED = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"
GREY = np.linspace(0, 255, 48).reshape(6, 8)
RIGHT_12 = np.rint(GREY * 4095 / 255).astype(np.uint16)  # a 12-bit sensor, right-aligned: 0..4095
LEFT_12 = (RIGHT_12 << 4).astype(np.uint16)  # the same, left-aligned: 0..65520


class Watched:
    """A SixteenBitInput with the reports it made and a settable parameter."""

    def __init__(self, bits: int = 16, frames: int = WATCH_FRAMES) -> None:
        self.config = DepthConfig.from_params({"image_significant_bits": bits})
        self.reports: list[tuple[str, str]] = []
        report = lambda reason, text: self.reports.append((reason, text))  # noqa: E731
        self.input = SixteenBitInput(lambda: self.config, report, frames)

    def feed(self, pixels: np.ndarray[Any, Any], count: int = 1, encoding: str = "mono16") -> None:
        for _ in range(count):
            message = image_from_array(FACTORY, pixels, encoding, HEADER)
            self.see(message, IMAGE, self.input.significant_bits)

    def see(self, message: Any, image_type: str, bits: int) -> None:
        """One frame decoded and then published (the reports come with its publication)."""
        self.input.observe(message, image_type, bits)
        self.input.published(stamp_to_ns(message.header.stamp))

    def set_bits(self, bits: int) -> None:
        self.config = self.config.with_changes({"image_significant_bits": bits})


def test_right_aligned_12_bit_frames_are_reported_after_the_watched_frames_naming_the_parameter() -> None:
    watched = Watched()
    watched.feed(RIGHT_12, WATCH_FRAMES - 1)
    assert watched.reports == []  # undecided before the watched frames are in
    watched.feed(RIGHT_12)
    assert len(watched.reports) == 1
    reason, text = watched.reports[0]
    assert reason == DIM_KEY == "frames_high_bits_unused"  # the /diagnostics key (node and bag runner)
    assert f"mono16 images peak at 4095 over their first {WATCH_FRAMES} frames: 12 of the 16 bits" in text
    assert "16x too dark" in text and "needs image_significant_bits: 12" in text
    watched.feed(RIGHT_12, 3)
    assert len(watched.reports) == 4  # every later 16-bit frame is counted (the node's log throttles)


def test_a_10_bit_sensor_is_told_10_bits_and_64x() -> None:
    watched = Watched()
    watched.feed((RIGHT_12 >> 2).astype(np.uint16), WATCH_FRAMES)
    assert "needs image_significant_bits: 10" in watched.reports[0][1] and "64x too dark" in watched.reports[0][1]


@pytest.mark.parametrize("pixels", [LEFT_12, (GREY * 257).astype(np.uint16)], ids=["left_aligned_12", "true_16"])
def test_left_aligned_and_16_bit_frames_are_not_reported(pixels: np.ndarray[Any, Any]) -> None:
    watched = Watched()
    watched.feed(pixels, 3 * WATCH_FRAMES)
    assert watched.reports == []


def test_the_parameter_set_to_12_silences_the_report_and_a_change_is_watched_anew() -> None:
    watched = Watched()
    watched.feed(RIGHT_12, WATCH_FRAMES + 2)
    assert len(watched.reports) == 3
    watched.set_bits(12)  # ros2 param set ... image_significant_bits 12
    watched.feed(RIGHT_12, 2 * WATCH_FRAMES)
    assert len(watched.reports) == 3


def test_bits_set_below_the_data_are_reported_at_once_as_saturating() -> None:
    """A left-aligned 12-bit camera (values to 65520) with image_significant_bits 12: every bright pixel would be
    white; reported at the first frame, naming 16 for left-aligned data."""
    watched = Watched(bits=12)
    watched.feed(LEFT_12)
    assert [reason for reason, _ in watched.reports] == [CLIPPED_KEY] == ["frames_above_significant_bits"]
    text = watched.reports[0][1]
    assert "mono16 pixel value 65520 exceeds 4095, the full scale of image_significant_bits: 12" in text
    assert "or 16 for values left-aligned" in text
    watched.feed(LEFT_12, 2)
    assert len(watched.reports) == 3


def test_black_frames_do_not_count_and_8_bit_images_are_not_watched() -> None:
    watched = Watched(frames=WATCH_FRAMES)
    watched.feed(np.zeros((6, 8), np.uint16), 5 * WATCH_FRAMES)  # a lens cap: says nothing of the bits
    watched.feed(GREY.astype(np.uint8), 5 * WATCH_FRAMES, encoding="mono8")
    assert watched.reports == []
    watched.feed(RIGHT_12, WATCH_FRAMES)
    assert [reason for reason, _ in watched.reports] == [DIM_KEY]


def test_a_16_bit_png_compressed_image_is_watched_too() -> None:
    watched = Watched()
    message = compressed_image_from_array(FACTORY, RIGHT_12, HEADER, codec="png")
    assert sixteen_bit_encoding(message, COMPRESSED) == "mono16"
    for _ in range(WATCH_FRAMES):
        watched.see(message, COMPRESSED, 16)
    assert [reason for reason, _ in watched.reports] == [DIM_KEY]


def test_sixteen_bit_encoding_names_16_bit_pictures_only() -> None:
    rgb16 = image_from_array(FACTORY, np.zeros((2, 2, 3), np.uint16), "rgb16", HEADER)
    bayer = image_from_array(FACTORY, np.zeros((2, 2), np.uint16), "bayer_gbrg16", HEADER)
    depth = image_from_array(FACTORY, np.zeros((2, 2), np.uint16), "16UC1", HEADER)
    jpeg = compressed_image_from_array(FACTORY, np.zeros((2, 2, 3), np.uint8), HEADER)
    assert [sixteen_bit_encoding(m, IMAGE) for m in (rgb16, bayer, depth)] == ["rgb16", "bayer_gbrg16", ""]
    assert sixteen_bit_encoding(jpeg, COMPRESSED) == ""


@pytest.mark.parametrize("aligned", ["true_16", "left_aligned_12"])
def test_a_dark_start_on_a_16_bit_camera_is_warned_and_the_warning_lifts_once_a_frame_uses_the_high_bits(
    aligned: str,
) -> None:
    """A true 16-bit (or a left-aligned 12-bit) camera whose first second is dark (auto exposure settling, a tunnel):
    its first watched frames peak under 4096, as a 12-bit camera's would, and are warned. The first later frame that
    uses the high bits shows the camera is not right-aligned: the reports stop (they went on for every frame of the
    run, /diagnostics WARN for good, while the depth was right)."""
    bright = (GREY * 257).astype(np.uint16) if aligned == "true_16" else LEFT_12
    dark = (bright // 20).astype(np.uint16)  # peak 3276 (3276): needs 12 bits
    dark -= dark % 16 if aligned == "left_aligned_12" else 0
    watched = Watched()
    watched.feed(dark, WATCH_FRAMES + 1)
    assert [reason for reason, _ in watched.reports] == [DIM_KEY] * 2
    watched.feed(bright, 1)
    watched.feed(dark, 3)  # dark again: the camera has shown its high bits, no new verdict
    assert len(watched.reports) == 2, watched.reports


def test_a_dark_start_of_16_bit_png_images_lifts_within_the_watched_frames_of_a_bright_one() -> None:
    """CompressedImages are decoded once more for the peak: after the verdict, every WATCH_FRAMES-th frame."""
    watched = Watched()
    dark, bright = ((GREY * 257 // div).astype(np.uint16) for div in (20, 1))
    dark_png, bright_png = (compressed_image_from_array(FACTORY, p, HEADER, codec="png") for p in (dark, bright))
    for _ in range(WATCH_FRAMES):
        watched.see(dark_png, COMPRESSED, 16)
    assert [reason for reason, _ in watched.reports] == [DIM_KEY]
    for _ in range(WATCH_FRAMES):
        watched.see(bright_png, COMPRESSED, 16)
    assert len(watched.reports) < WATCH_FRAMES + 1
    reports = len(watched.reports)
    watched.see(dark_png, COMPRESSED, 16)
    assert len(watched.reports) == reports


def test_the_bit_depth_named_follows_the_peak_after_a_dark_start_on_a_12_bit_camera() -> None:
    """A right-aligned 12-bit camera whose first watched frames peak at 200 (a dark start) was told to set 8 bits for
    the rest of the run, though its later frames reach 4095 (8 would saturate them): the advice follows the peak."""
    watched = Watched()
    watched.feed((RIGHT_12 * 200 // 4095).astype(np.uint16), WATCH_FRAMES)
    assert "needs image_significant_bits: 8" in watched.reports[-1][1]
    watched.feed(RIGHT_12)
    assert "peak at 4095" in watched.reports[-1][1] and "needs image_significant_bits: 12" in watched.reports[-1][1]
    assert [reason for reason, _ in watched.reports] == [DIM_KEY] * 2


def test_a_frame_decoded_but_refused_later_is_not_counted_and_a_published_one_is_when_it_is_published() -> None:
    """A verdict is reported for the frames published: one decoded and then refused (a camera_info of another size,
    a prediction that does not fit, a pipeline error) was counted in ``frames_high_bits_unused`` all the same, as the
    report came with the decoding. Frames in flight (the node decodes the next while it publishes one) each keep
    their own; the held verdicts of frames never published are bounded."""
    from mono_depth_ros.core.msg_factory import make_header

    watched = Watched(frames=1)

    def decoded(stamp_ns: int) -> None:
        message = image_from_array(FACTORY, RIGHT_12, "mono16", make_header(FACTORY, stamp_ns, "camera"))
        watched.input.observe(message, IMAGE, 16)

    decoded(1_000)  # the deciding frame, decoded: nothing counted yet
    assert watched.reports == []
    decoded(2_000)  # the next one decoded while the first is published
    watched.input.published(1_000)
    assert [reason for reason, _ in watched.reports] == [DIM_KEY]
    decoded(3_000)  # 2_000 refused after its decoding: never published
    watched.input.published(3_000)
    watched.input.published(3_000)  # published once: counted once
    assert [reason for reason, _ in watched.reports] == [DIM_KEY] * 2
    for stamp_ns in range(10_000, 10_100):  # refused frames hold no verdict for ever
        decoded(stamp_ns)
    assert len(watched.input._held) <= 8
    watched.input.published(2_000)  # long gone
    assert len(watched.reports) == 2


def test_frames_in_flight_with_one_stamp_are_each_counted_when_published() -> None:
    """Two frames of one stamp in flight at once (a driver that does not stamp: every header 0, counted in
    ``frames_unstamped``; the node decodes the next while it publishes one): each is counted when it is published.
    Held by stamp in a dict, the second's verdict replaced the first's and one of the two went uncounted."""
    from mono_depth_ros.core.msg_factory import make_header

    watched = Watched(frames=1)
    unstamped = image_from_array(FACTORY, RIGHT_12, "mono16", make_header(FACTORY, 0, "camera"))
    watched.input.observe(unstamped, IMAGE, 16)  # the deciding frame
    watched.input.observe(unstamped, IMAGE, 16)  # the next, decoded while the first is published
    watched.input.published(0)
    watched.input.published(0)
    assert [reason for reason, _ in watched.reports] == [DIM_KEY] * 2
    watched.input.published(0)  # nothing more in flight: nothing more counted
    assert len(watched.reports) == 2
