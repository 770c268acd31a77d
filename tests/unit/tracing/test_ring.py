"""The reader's half of the preload shim's record ring (roar.tracing._ring, ext/ring.h), on rings
made by hand: which slots are read, skipped, waited for, and what is given back."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from typing import Any

import pytest

from roar.tracing import wire

try:
    from roar.tracing._ring import DATA_OFFSET, MAGIC, RingView
except ImportError as exc:  # not built in this checkout
    pytest.skip(f"roar.tracing._ring is not built ({exc})", allow_module_level=True)

CAPACITY = 8192
HEAD, TAIL, WAITING, GIVEN_UP = 64, 128, 192, 200
CLAIMED, COMMITTED, PAD = 1, 2, 3


def _ring() -> bytearray:
    ring = bytearray(DATA_OFFSET + CAPACITY)
    struct.pack_into("=QQ", ring, 0, MAGIC, CAPACITY)
    return ring


def _word(length: int, state: int, lap: int, pid: int) -> int:
    return length | (state << 16) | ((lap & 0x3FFF) << 18) | (pid << 32)


def _slot_size(record: bytes) -> int:
    return (8 + len(record) + 7) & ~7


def _put(ring: bytearray, pos: int, record: bytes, state: int = COMMITTED, pid: int = 1) -> int:
    """Write one slot at ``pos`` as a writer would; returns the position after it."""
    off = pos % CAPACITY
    size = _slot_size(record)
    struct.pack_into("=Q", ring, DATA_OFFSET + off, _word(size, state, pos // CAPACITY, pid))
    ring[DATA_OFFSET + off + 8 : DATA_OFFSET + off + 8 + len(record)] = record
    return pos + size


def _set(ring: bytearray, offset: int, value: int) -> None:
    struct.pack_into("=Q", ring, offset, value)


def _get(ring: bytearray, offset: int) -> int:
    value: int = struct.unpack_from("=Q", ring, offset)[0]
    return value


def _open(path: str, pid: int = 7) -> bytes:
    return wire.encode_record(wire.EVK_OPEN, pid=pid, tid=pid, path1=path)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    return child.pid


def test_committed_records_come_out_in_order_and_their_space_is_zeroed() -> None:
    ring = _ring()
    records = [_open(f"/p/{i}") for i in range(3)]
    pos = 0
    for record in records:
        pos = _put(ring, pos, record)
    _set(ring, HEAD, pos)
    view: Any = RingView(ring)
    data, lost = view.drain()
    assert (data, lost) == (b"".join(records), 0)
    assert _get(ring, TAIL) == pos
    assert not any(ring[DATA_OFFSET : DATA_OFFSET + pos])  # free slots read 0 again
    assert view.drain() == (b"", 0)


def test_a_slot_being_written_by_a_live_writer_is_waited_for() -> None:
    ring = _ring()
    pos = _put(ring, 0, _open("/p/a"))
    held = _put(ring, pos, _open("/p/b"), state=CLAIMED, pid=os.getpid())
    end = _put(ring, held, _open("/p/c"))
    _set(ring, HEAD, end)
    view: Any = RingView(ring)
    assert view.drain() == (_open("/p/a"), 0)
    assert _get(ring, TAIL) == pos  # stopped before the slot still being written
    _put(ring, pos, _open("/p/b"))  # the writer commits it
    assert view.drain() == (_open("/p/b") + _open("/p/c"), 0)


def test_a_dead_writers_half_written_slot_is_skipped_and_counted() -> None:
    ring = _ring()
    pos = _put(ring, 0, b"\xff" * 40, state=CLAIMED, pid=_dead_pid())  # garbage: never read
    end = _put(ring, pos, _open("/p/after"))
    _set(ring, HEAD, end)
    view: Any = RingView(ring)
    assert view.drain() == (_open("/p/after"), 1)
    assert _get(ring, TAIL) == end


def test_padding_at_the_end_and_records_across_the_wrap() -> None:
    ring = _ring()
    record = _open("/p/wrapped")
    start = CAPACITY - 16  # a record does not fit in the last 16 bytes: PAD, then the start
    _set(ring, TAIL, start)
    struct.pack_into("=Q", ring, DATA_OFFSET + start, _word(16, PAD, 0, 1))
    end = _put(ring, CAPACITY, record)  # lap 1, at offset 0
    _set(ring, HEAD, end)
    view: Any = RingView(ring)
    assert view.drain() == (record, 0)
    assert _get(ring, TAIL) == end
    assert not any(ring[DATA_OFFSET:])


def test_when_the_tree_has_ended_what_cannot_be_delimited_is_counted_not_read() -> None:
    ring = _ring()
    pos = _put(ring, 0, _open("/p/a"))
    # A writer killed between claiming (head moved) and writing its slot word: 0 below head.
    _set(ring, HEAD, pos + 64)
    view: Any = RingView(ring)
    assert view.drain() == (_open("/p/a"), 0)  # while the tree runs: wait for it
    assert view.drain(True) == (b"", 1)  # at the end: one loss, nothing misread


def test_a_slot_of_another_lap_is_not_read() -> None:
    ring = _ring()
    record = _open("/p/old")
    struct.pack_into("=Q", ring, DATA_OFFSET, _word(_slot_size(record), COMMITTED, lap=5, pid=1))
    _set(ring, HEAD, 64)
    view: Any = RingView(ring)
    assert view.drain() == (b"", 0)
    assert _get(ring, TAIL) == 0


def test_arming_the_wake_up_says_when_records_are_already_there() -> None:
    ring = _ring()
    view: Any = RingView(ring)
    assert view.arm() is False and struct.unpack_from("=I", ring, WAITING)[0] == 1
    view.disarm()
    _set(ring, HEAD, _put(ring, 0, _open("/p/a")))
    assert view.arm() is True and struct.unpack_from("=I", ring, WAITING)[0] == 0


def test_a_buffer_that_is_not_a_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="not a roar record ring"):
        RingView(bytearray(DATA_OFFSET + CAPACITY))
