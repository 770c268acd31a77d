"""The aws-chunked decoder and re-encoder, fed every way a socket can split the bytes."""

from __future__ import annotations

import io
import os
import random

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from roar.proxy._chunked import (
    ChunkedDecoder,
    ChunkedEncoder,
    ChunkedFormatError,
    encoded_length,
    trailer_names,
)

SIG = "0" * 64


def boto_encoded(payload: bytes, chunk_size: int) -> bytes:
    """The body boto3 sends for a streaming upload with a CRC32 trailer (its own encoder)."""
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=chunk_size,
    )
    return wrapper.read()


def signed_encoded(payload: bytes, chunk_size: int, trailer: bool = False) -> bytes:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] framing (signature values are opaque here)."""
    out = bytearray()
    for start in range(0, len(payload), chunk_size):
        piece = payload[start : start + chunk_size]
        out += f"{len(piece):x};chunk-signature={SIG}\r\n".encode() + piece + b"\r\n"
    out += f"0;chunk-signature={SIG}\r\n".encode()
    if trailer:
        out += b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + SIG.encode() + b"\r\n"
    return bytes(out + b"\r\n")


def decode_in_pieces(body: bytes, sizes: list[int] | None) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    out = bytearray()
    pos = 0
    step = iter(sizes or [])
    while pos < len(body):
        size = next(step, 1) if sizes is not None else len(body)
        for piece in decoder.feed(body[pos : pos + size]):
            out += piece
        pos += size
    decoder.finish()
    return bytes(out), decoder


@pytest.mark.parametrize("payload_size", [0, 1, 8191, 8192, 70_000])
def test_boto3_trailer_encoding_byte_by_byte(payload_size: int) -> None:
    payload = os.urandom(payload_size)
    body = boto_encoded(payload, chunk_size=8192)
    decoded, decoder = decode_in_pieces(body, sizes=[])  # [] -> one byte at a time
    assert decoded == payload
    assert decoder.done and decoder.decoded == payload_size
    expected = Crc32Checksum()
    expected.update(payload)
    assert decoder.trailers == {"x-amz-checksum-crc32": expected.b64digest()}


def test_random_splits_and_whole_feed() -> None:
    rng = random.Random(7)
    payload = os.urandom(100_000)
    body = boto_encoded(payload, chunk_size=16_384)
    for _ in range(20):
        sizes = [rng.randint(1, 9000) for _ in range(len(body))]
        assert decode_in_pieces(body, sizes)[0] == payload
    assert decode_in_pieces(body, None)[0] == payload


def test_signed_chunks_with_and_without_trailer() -> None:
    payload = os.urandom(20_000)
    plain, _ = decode_in_pieces(signed_encoded(payload, 8192), sizes=[])
    assert plain == payload
    trailed, decoder = decode_in_pieces(signed_encoded(payload, 8192, trailer=True), sizes=[3])
    assert trailed == payload
    assert decoder.signed_trailers() == {"x-amz-checksum-crc32": "AAAAAA=="}
    assert "x-amz-trailer-signature" in decoder.trailers


def test_missing_final_blank_line_is_tolerated() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n") == [b"abc"]
    decoder.finish()
    assert decoder.done


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"-3\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"3\r\nabcX\r\n0\r\n\r\n", "not followed by CRLF"),
        (b"3\nabc\r\n0\r\n\r\n", "not ended by CRLF"),
        (b"3\r\nabc\r\n0\r\nnocolon\r\n\r\n", "name:value"),
        (b"3\r\nabc\r\n0\r\n\r\nextra", "after the final chunk"),
        (b"1" * 5000, "longer than 4 KiB"),
    ],
)
def test_malformed_framing(body: bytes, message: str) -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedFormatError, match=message):
        for i in range(len(body)):
            decoder.feed(body[i : i + 1])
        decoder.finish()


@pytest.mark.parametrize("body", [b"", b"3\r\nab", b"3\r\nabc\r\n", b"3\r\nabc\r\n0\r\nx-a"])
def test_truncated_bodies(body: bytes) -> None:
    decoder = ChunkedDecoder()
    decoder.feed(body)
    with pytest.raises(ChunkedFormatError, match="ended before"):
        decoder.finish()


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 300_000])
def test_reencoding_length_is_known_up_front_and_round_trips(size: int) -> None:
    payload = os.urandom(size)
    encoder = ChunkedEncoder(chunk_size=65_536)
    frames = []
    for start in range(0, size, 10_000):
        frames += encoder.push(payload[start : start + 10_000])
    trailers = {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha256": "A" * 43 + "="}
    names = ["x-amz-checksum-crc32", "x-amz-checksum-sha256"]
    frames.append(encoder.finish(trailers, names))
    body = b"".join(frames)
    assert len(body) == encoded_length(size, 65_536, names)
    decoded, decoder = decode_in_pieces(body, None)
    assert decoded == payload and decoder.trailers == trailers


def test_reencoding_refuses_a_trailer_of_unexpected_length() -> None:
    encoder = ChunkedEncoder()
    with pytest.raises(ChunkedFormatError, match="missing or malformed"):
        encoder.finish({"x-amz-checksum-crc32": "short"}, ["x-amz-checksum-crc32"])
    with pytest.raises(ChunkedFormatError):
        encoder.finish({}, ["x-amz-checksum-crc32"])


def test_trailer_names() -> None:
    assert trailer_names(" X-Amz-Checksum-CRC32 , x-amz-checksum-sha1") == [
        "x-amz-checksum-crc32",
        "x-amz-checksum-sha1",
    ]
    assert trailer_names(None) == []
