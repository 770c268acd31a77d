"""Pure-Python event decoder: the executable specification of ``roar.tracing._decoder``.

``ext/decoder/_decoder.pyx`` is the same class compiled with Cython; ``roar.tracing.decoder``
picks one of the two.  ``tests/unit/tracing/test_decoder.py`` runs every test on both, so
whatever this module does is what the compiled one must do.
"""

from __future__ import annotations

from roar.tracing.wire import (
    EVT_HEADER_SIZE,
    EVT_MAX_RECORD,
    HEADER,
    Record,
    WireFormatError,
)

__all__ = ("Decoder",)


class Decoder:
    """Split a byte stream of wire records (``ext/events.h``) into :class:`Record` values.

    Feed it whatever a read returned; it returns every record completed by that data and keeps an
    incomplete tail for the next call.  Each record becomes a :class:`~roar.tracing.wire.Record`
    ``(kind, flags, pid, tid, arg0, arg1, arg2, path1, path2)``: paths are decoded as
    ``os.fsdecode`` does on Linux (UTF-8 with surrogateescape, so undecodable bytes survive a
    round trip through ``os.fsencode``), ``path1`` is ``""`` when absent and ``path2`` is ``None``
    when absent.

    A header with ``size < 32``, ``size > 4096`` or ``size != 32 + len1 + len2`` raises
    :class:`~roar.tracing.wire.WireFormatError`.  The decoder stays stuck on that record: later
    feeds raise again, since nothing after it can be trusted.
    """

    __slots__ = ("_buf", "_offset")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream offset of self._buf[0]

    @property
    def pending(self) -> int:
        """Number of bytes buffered: the start of a record not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Record]:
        """Consume ``data``; return the records it completed, in stream order."""
        buf = self._buf
        buf += data
        records: list[Record] = []
        pos = 0
        end = len(buf)
        unpack_from = HEADER.unpack_from
        try:
            while end - pos >= EVT_HEADER_SIZE:
                size, kind, flags, pid, tid, arg0, arg1, arg2, len1, len2 = unpack_from(buf, pos)
                if size < EVT_HEADER_SIZE or size > EVT_MAX_RECORD:
                    raise WireFormatError(
                        f"bad event record at stream offset {self._offset + pos}: size {size} "
                        f"is outside {EVT_HEADER_SIZE}..{EVT_MAX_RECORD}",
                        self._offset + pos,
                        records,
                    )
                if size != EVT_HEADER_SIZE + len1 + len2:
                    raise WireFormatError(
                        f"bad event record at stream offset {self._offset + pos}: size {size} "
                        f"!= {EVT_HEADER_SIZE} + len1 {len1} + len2 {len2}",
                        self._offset + pos,
                        records,
                    )
                if end - pos < size:
                    break
                p = pos + EVT_HEADER_SIZE
                path1 = buf[p : p + len1].decode("utf-8", "surrogateescape") if len1 else ""
                p += len1
                path2 = buf[p : p + len2].decode("utf-8", "surrogateescape") if len2 else None
                records.append(Record(kind, flags, pid, tid, arg0, arg1, arg2, path1, path2))
                pos += size
        finally:
            if pos:
                del buf[:pos]
                self._offset += pos
        return records
