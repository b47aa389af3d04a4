"""16-bit camera images to the network's 8 bit: the conversion before and after ``uint16_to_uint8`` went to OpenCV.

Every 16-bit frame (``mono16``, ``rgb16`` & co., ``bayer_*16``) is scaled to 8 bit on the node's and the bag
runner's frame path (``image_to_rgb8``). Until the ``image_significant_bits`` branch it was numpy: float32 product,
``rint``, cast (``float32`` below, with the clip the 12-bit scaling needs); now ``cv2.convertScaleAbs`` (``opencv``),
the same bytes for every value (``test/core/test_msg_image.py``). Times ``image_to_rgb8`` on a 1920x1200 random frame
per encoding and bit depth, the median of ``--repeat`` runs, both conversions in the same run (ratio = opencv /
float32). A 65536-entry uint8 table (``np.take``) was slower than float32 here (uint16 indices are widened to intp
first), so it is not timed. A second table times the grey channel replication of ``mono16`` (``grey_to_rgb8``,
also what a grey CompressedImage goes through; raw ``mono8`` was OpenCV already): ``np.repeat`` before,
``cv2.cvtColor(GRAY2RGB)`` now, the same bytes. No assertions. Run:
``.venv/bin/python -m bench.bench_sixteen_bit``.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.timing import median_ms


def float32_scaling(values: npt.NDArray[Any], significant_bits: int = 16) -> npt.NDArray[np.uint8]:
    """The numpy conversion the branch started from (plus its clip for fewer than 16 bits)."""
    full_scale = (1 << significant_bits) - 1
    scaled = np.rint(values.astype(np.float32) * np.float32(255.0 / full_scale))
    if full_scale < 65535:
        np.minimum(scaled, np.float32(255.0), out=scaled)
    out: npt.NDArray[np.uint8] = scaled.astype(np.uint8)
    return out


def repeat_grey_to_rgb8(grey: npt.NDArray[Any], significant_bits: int = 16) -> npt.NDArray[np.uint8]:
    """The channel replication before ``grey_to_rgb8`` went to OpenCV."""
    from mono_depth_ros.core.msg_image import uint16_to_uint8

    eight = uint16_to_uint8(grey, significant_bits) if grey.dtype == np.uint16 else grey
    return np.repeat(eight[..., np.newaxis], 3, axis=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per case")
    parser.add_argument("--size", default="1920x1200", help="frame WIDTHxHEIGHT")
    args = parser.parse_args()
    import cv2

    from mono_depth_ros.core import msg_image
    from mono_depth_ros.core.msg_image import image_from_array, image_to_rgb8
    from test.core.ros_msg_support import input_header, rosbags_factory

    width, height = (int(side) for side in args.size.split("x"))
    factory = rosbags_factory("humble")
    header = input_header(factory)
    rng = np.random.default_rng(0)
    opencv = msg_image.uint16_to_uint8
    print(f"image_to_rgb8 on a {width}x{height} frame, median of {args.repeat}, numpy {np.__version__}, "
          f"OpenCV {cv2.__version__}")  # fmt: skip
    print("| encoding | bits | float32 ms | opencv ms | ratio | same bytes |")
    print("|---|---:|---:|---:|---:|---|")
    for encoding, channels in (("mono16", 1), ("rgb16", 3), ("bgra16", 4), ("bayer_rggb16", 1)):
        shape = (height, width) if channels == 1 else (height, width, channels)
        message = image_from_array(factory, rng.integers(0, 65536, shape, dtype=np.uint16), encoding, header)
        for bits in (16, 12):
            times, results = {}, {}
            for name, scaling in (("float32", float32_scaling), ("opencv", opencv)):
                msg_image.uint16_to_uint8 = scaling  # type: ignore[assignment]  # image_to_rgb8's module global
                try:
                    times[name] = median_ms(
                        functools.partial(image_to_rgb8, message, significant_bits=bits), args.repeat
                    )
                    results[name] = image_to_rgb8(message, significant_bits=bits)
                finally:
                    msg_image.uint16_to_uint8 = opencv
            same = np.array_equal(results["float32"], results["opencv"])
            ratio = times["opencv"] / times["float32"]
            print(f"| {encoding} | {bits} | {times['float32']:.1f} | {times['opencv']:.1f} | {ratio:.2f} | {same} |")
    grey_opencv = msg_image.grey_to_rgb8
    print()
    print("| grey encoding | np.repeat ms | cv2.cvtColor ms | ratio | same bytes |")
    print("|---|---:|---:|---:|---|")
    for encoding, dtype in (("mono16", np.uint16),):
        top = int(np.iinfo(dtype).max)
        message = image_from_array(
            factory, rng.integers(0, top, (height, width), dtype=dtype, endpoint=True), encoding, header
        )
        times, results = {}, {}
        for name, replication in (("repeat", repeat_grey_to_rgb8), ("opencv", grey_opencv)):
            msg_image.grey_to_rgb8 = replication  # type: ignore[assignment]  # image_to_rgb8's module global
            try:
                times[name] = median_ms(functools.partial(image_to_rgb8, message), args.repeat)
                results[name] = image_to_rgb8(message)
            finally:
                msg_image.grey_to_rgb8 = grey_opencv
        same = np.array_equal(results["repeat"], results["opencv"])
        ratio = times["opencv"] / times["repeat"]
        print(f"| {encoding} | {times['repeat']:.1f} | {times['opencv']:.1f} | {ratio:.2f} | {same} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
