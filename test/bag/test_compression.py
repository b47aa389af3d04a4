"""Per-message zstd payloads: told from CDR by their magic, decompressed head first, damage raised when read whole."""

from __future__ import annotations

import pytest

from mono_depth_ros.bag.compression import ZSTD_ERROR, decompressed, is_zstd_frame, zstd
from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead, whole
from mono_depth_ros.core.cdr_header import header_from_cdr

CDR = (
    b"\x00\x01\x00\x00" + (5).to_bytes(4, "little") + (7).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"cam\x00"
)


def test_a_zstd_frame_is_told_from_a_cdr_payload() -> None:
    assert is_zstd_frame(zstd.compress(CDR))
    assert not is_zstd_frame(CDR)
    assert not is_zstd_frame(b"")


def test_a_long_message_comes_as_its_decompressed_head_and_reads_whole_later() -> None:
    message = CDR + bytes(range(256)) * 100
    raw = decompressed(zstd.compress(message))
    assert isinstance(raw, PayloadHead)
    assert bytes(raw) == message[:HEAD_BYTES] and raw.size == len(message)
    assert header_from_cdr(raw) == (5_000_000_007, "cam")
    assert bytes(whole(raw)) == message


def test_a_short_message_is_decompressed_at_once() -> None:
    raw = decompressed(zstd.compress(CDR))
    assert not isinstance(raw, PayloadHead) and raw == CDR


def test_a_truncated_frame_fails_when_read_whole_not_before() -> None:
    message = CDR + bytes(range(256)) * 100
    frame = zstd.compress(message)
    raw = decompressed(frame[: len(frame) // 2])
    assert isinstance(raw, PayloadHead)
    with pytest.raises(ZSTD_ERROR):
        whole(raw)
    broken = decompressed(b"\x28\xb5\x2f\xfd" + b"\xff" * 40)  # a frame header that does not parse: no head at all
    assert header_from_cdr(broken) is None
    with pytest.raises(ZSTD_ERROR):
        whole(broken)


def test_a_frame_that_decompresses_past_the_limit_stops_there(monkeypatch: pytest.MonkeyPatch) -> None:
    from mono_depth_ros.bag import compression

    monkeypatch.setattr(compression, "MESSAGE_BYTES_MAX", 2**20)
    bomb = CDR + bytes(3 * 2**20)  # a zstd bomb in small: 3 MiB of zeros in a few hundred bytes
    for frame in (zstd.compress(bomb), _without_content_size(bomb)):
        raw = decompressed(frame)
        assert isinstance(raw, PayloadHead) and header_from_cdr(raw) == (5_000_000_007, "cam")  # the head still reads
        with pytest.raises(compression.FrameTooLarge, match="more than 1 MiB"):
            whole(raw)
    raw = decompressed(zstd.compress(CDR + bytes(2**20 - len(CDR))))  # exactly at the limit: whole
    assert len(whole(raw)) == 2**20


def test_concatenated_frames_read_whole_within_the_limit() -> None:
    message = CDR + bytes(range(256)) * 100
    frames = zstd.compress(message[:5000]) + zstd.compress(message[5000:])
    assert bytes(whole(decompressed(frames))) == message == zstd.decompress(frames)


def _without_content_size(data: bytes) -> bytes:
    """``data`` compressed as a stream (the frame header states no size), as a streaming recorder may write it."""
    compressor = zstd.ZstdCompressor()
    frame = compressor.compress(data) + compressor.flush()
    assert zstd.get_frame_info(frame).decompressed_size is None
    return frame
