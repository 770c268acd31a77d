"""Both event decoders (pure Python and Cython) must decode exactly the same way.

The pure one, ``roar.tracing._decoder_py``, is the specification; every test runs on both.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import pytest

from roar.tracing import wire
from roar.tracing._decoder_py import Decoder as PyDecoder
from roar.tracing.wire import WireFormatError, encode_record

try:
    _compiled: Any = importlib.import_module("roar.tracing._decoder")
    CompiledDecoder: Any = _compiled.Decoder
    _why_missing = ""
except ImportError as exc:  # not built in this checkout
    CompiledDecoder = None
    _why_missing = f"roar.tracing._decoder is not built ({exc})"


@pytest.fixture(
    params=[
        pytest.param("pure", id="pure"),
        pytest.param("compiled", id="compiled"),
    ]
)
def make_decoder(request: pytest.FixtureRequest) -> Callable[[], Any]:
    if request.param == "compiled":
        if CompiledDecoder is None:
            pytest.skip(_why_missing)
        return CompiledDecoder  # type: ignore[no-any-return]
    return PyDecoder


def sample_records() -> list[tuple[bytes, wire.Record]]:
    """(encoded, expected decoded) pairs covering every field and path shape."""
    cases: list[dict[str, Any]] = [
        dict(kind=wire.EVK_HELLO, pid=10, arg0=1, path1="ptrace"),
        dict(kind=wire.EVK_OPEN, pid=11, tid=12, arg0=0o1101, arg1=3, path1="/tmp/out.txt"),
        dict(kind=wire.EVK_RENAME, pid=2**31 - 1, tid=-1, arg0=-5, path1="/a", path2="/b/c"),
        dict(kind=wire.EVK_FORK, pid=1, arg0=77, arg2=2**32 - 1, arg1=-(2**63)),
        dict(kind=wire.EVK_END, arg0=0x7F00, arg1=2**63 - 1),
        dict(kind=wire.EVK_EXEC, path1="/usr/bin/sh", path2="/usr/bin/dash"),
        dict(kind=wire.EVK_WARN, path1="é ünïcode ✓ 日本"),
        dict(kind=wire.EVK_UNLINK, path1=b"/data/\xff\xfe-latin1-\xe9.csv"),
        dict(kind=wire.EVK_OPEN, flags=wire.EVF_TRUNCATED, path1="/" + "x" * 4063),
        dict(kind=wire.EVK_LINK, path1="", path2="/only/second"),
    ]
    out = []
    for case in cases:
        raw = encode_record(**case)
        p1 = case.get("path1", "")
        p2 = case.get("path2")
        if isinstance(p1, bytes):
            p1 = os.fsdecode(p1)
        expected: wire.Record = (
            case["kind"],
            case.get("flags", 0),
            case.get("pid", 0),
            case.get("tid", 0),
            case.get("arg0", 0),
            case.get("arg1", 0),
            case.get("arg2", 0),
            p1,
            p2,
        )
        out.append((raw, expected))
    return out


SAMPLES = sample_records()
STREAM = b"".join(raw for raw, _ in SAMPLES)
EXPECTED = [rec for _, rec in SAMPLES]


def test_round_trip_each(make_decoder: Callable[[], Any]) -> None:
    for raw, expected in SAMPLES:
        d = make_decoder()
        assert d.feed(raw) == [expected]
        assert d.pending == 0


def test_all_in_one_feed(make_decoder: Callable[[], Any]) -> None:
    d = make_decoder()
    assert d.feed(STREAM) == EXPECTED


def test_many_records_in_one_feed(make_decoder: Callable[[], Any]) -> None:
    one = encode_record(wire.EVK_OPEN, pid=5, tid=6, arg0=0, arg1=3, path1="/lib/libc.so.6")
    d = make_decoder()
    records = d.feed(one * 10_000)
    assert len(records) == 10_000
    assert records[0] == records[-1] == (wire.EVK_OPEN, 0, 5, 6, 0, 3, 0, "/lib/libc.so.6", None)


def test_split_at_every_offset(make_decoder: Callable[[], Any]) -> None:
    """A record cut anywhere (in the header, in path1, in path2) comes out once, whole."""
    for cut in range(1, len(STREAM)):
        d = make_decoder()
        got = d.feed(STREAM[:cut])
        assert d.pending == cut - sum(len(raw) for raw, _ in SAMPLES[: len(got)])
        got += d.feed(STREAM[cut:])
        assert got == EXPECTED, cut
        assert d.pending == 0


def test_byte_by_byte(make_decoder: Callable[[], Any]) -> None:
    d = make_decoder()
    got: list[wire.Record] = []
    for i in range(len(STREAM)):
        got += d.feed(STREAM[i : i + 1])
    assert got == EXPECTED


def test_input_types(make_decoder: Callable[[], Any]) -> None:
    for data in (STREAM, bytearray(STREAM), memoryview(STREAM)):
        assert make_decoder().feed(data) == EXPECTED
    assert make_decoder().feed(b"") == []


def test_paths_decode_like_fsdecode(make_decoder: Callable[[], Any]) -> None:
    raw_path = b"/d/\xff\xc3\xa9\x80"
    (rec,) = make_decoder().feed(encode_record(wire.EVK_OPEN, path1=raw_path))
    assert rec[7] == os.fsdecode(raw_path)
    assert os.fsencode(rec[7]) == raw_path  # lossless
    assert rec[8] is None


def test_empty_paths(make_decoder: Callable[[], Any]) -> None:
    (rec,) = make_decoder().feed(encode_record(wire.EVK_EXIT, pid=3, arg0=9))
    assert rec[7] == "" and rec[8] is None


def test_truncated_flag_is_passed_through(make_decoder: Callable[[], Any]) -> None:
    raw = encode_record(wire.EVK_OPEN, flags=wire.EVF_TRUNCATED, path1="/cut/he")
    (rec,) = make_decoder().feed(raw)
    assert rec[1] & wire.EVF_TRUNCATED
    assert rec[7] == "/cut/he"


def _bad(size: int, len1: int = 0, len2: int = 0) -> bytes:
    return wire.HEADER.pack(size, wire.EVK_OPEN, 0, 1, 1, 0, 0, 0, len1, len2)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_bad(0), "size 0"),
        (_bad(31), "size 31"),
        (_bad(4097, 4065), "size 4097"),
        (_bad(65535, 65503), "size 65535"),
        (_bad(40, 4, 0) + b"\0" * 8, "len1 4"),
        (_bad(32, 0, 1), "len2 1"),
    ],
)
def test_malformed_sizes_raise(make_decoder: Callable[[], Any], raw: bytes, reason: str) -> None:
    good = encode_record(wire.EVK_HELLO, arg0=1, path1="ptrace")
    d = make_decoder()
    with pytest.raises(WireFormatError) as info:
        d.feed(good + raw)
    message = str(info.value)
    assert f"offset {len(good)}" in message and reason in message
    assert info.value.offset == len(good)
    assert info.value.records == [(wire.EVK_HELLO, 0, 0, 0, 1, 0, 0, "ptrace", None)]
    assert isinstance(info.value, ValueError)
    # The stream cannot be trusted past the bad record: later feeds fail the same way.
    with pytest.raises(WireFormatError, match=f"offset {len(good)}"):
        d.feed(good)
    assert d.pending == len(raw) + len(good)


def test_malformed_header_split_across_feeds(make_decoder: Callable[[], Any]) -> None:
    good = encode_record(wire.EVK_HELLO, arg0=1, path1="ptrace")
    bad = _bad(31)
    d = make_decoder()
    hello = (wire.EVK_HELLO, 0, 0, 0, 1, 0, 0, "ptrace", None)
    assert d.feed(good + good + bad[:10]) == [hello, hello]
    assert d.pending == 10
    with pytest.raises(WireFormatError, match=f"offset {2 * len(good)}"):
        d.feed(bad[10:])


def test_offsets_count_the_whole_stream(make_decoder: Callable[[], Any]) -> None:
    d = make_decoder()
    d.feed(STREAM[:100])
    d.feed(STREAM[100:])
    with pytest.raises(WireFormatError, match=f"offset {len(STREAM)}"):
        d.feed(_bad(7))


def test_incomplete_tail_is_pending(make_decoder: Callable[[], Any]) -> None:
    first = len(SAMPLES[0][0])
    d = make_decoder()
    assert d.feed(STREAM + STREAM[: first - 1]) == EXPECTED
    assert d.pending == first - 1
    assert d.feed(STREAM[first - 1 : first]) == [EXPECTED[0]]
    assert d.pending == 0


def test_compiled_and_pure_agree_on_random_streams() -> None:
    if CompiledDecoder is None:
        pytest.skip(_why_missing)
    import random

    rng = random.Random(1234)
    raws = [raw for raw, _ in SAMPLES]
    stream = b"".join(rng.choice(raws) for _ in range(500))
    pure, compiled = PyDecoder(), CompiledDecoder()
    got_pure: list[wire.Record] = []
    got_compiled: list[wire.Record] = []
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, 9000)
        chunk = stream[pos : pos + step]
        got_pure += pure.feed(chunk)
        got_compiled += compiled.feed(chunk)
        assert pure.pending == compiled.pending
        pos += step
    assert got_pure == got_compiled
    assert len(got_pure) == 500


def test_selector_honours_roar_no_extensions(monkeypatch: pytest.MonkeyPatch) -> None:
    import roar.tracing.decoder as selector

    monkeypatch.setenv("ROAR_NO_EXTENSIONS", "1")
    reloaded = importlib.reload(selector)
    try:
        assert reloaded.USING_EXTENSION is False
        assert reloaded.Decoder is PyDecoder
    finally:
        monkeypatch.delenv("ROAR_NO_EXTENSIONS")
        reloaded = importlib.reload(selector)
    assert reloaded.USING_EXTENSION is (CompiledDecoder is not None)
    if CompiledDecoder is not None:
        assert reloaded.Decoder is CompiledDecoder


def test_records_are_typed_records_with_named_fields(make_decoder: Callable[[], Any]) -> None:
    encoded = encode_record(wire.EVK_RENAME, pid=7, tid=8, arg0=2, path1="/a", path2="/b")
    (record,) = make_decoder().feed(encoded)
    assert type(record) is wire.Record
    assert (record.kind, record.pid, record.tid, record.arg0) == (wire.EVK_RENAME, 7, 8, 2)
    assert (record.path1, record.path2) == ("/a", "/b")


def test_compiled_records_are_left_out_of_cycle_collection() -> None:
    """They hold only ints, strings and None; tracked, they cost the collector 2x the decoding."""
    if CompiledDecoder is None:
        pytest.skip(_why_missing)
    import gc

    (record,) = CompiledDecoder().feed(encode_record(wire.EVK_OPEN, path1="/x"))
    assert not gc.is_tracked(record)
    assert record == wire.Record(wire.EVK_OPEN, 0, 0, 0, 0, 0, 0, "/x", None)
