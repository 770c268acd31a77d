"""Python mirror of the tracer event wire format defined in ``ext/events.h``.

``ext/events.h`` is the single source of truth; this module copies its constants so that Python
code never hard-codes a number.  Names map one to one by dropping the ``ROAR_`` prefix::

    ROAR_EVT_VERSION     -> EVT_VERSION        ROAR_EVK_OPEN   -> EVK_OPEN
    ROAR_EVT_HEADER_SIZE -> EVT_HEADER_SIZE    ROAR_EVF_TRUNCATED -> EVF_TRUNCATED
    ROAR_EVT_MAX_RECORD  -> EVT_MAX_RECORD     ROAR_FORK_THREAD   -> FORK_THREAD
    ROAR_OPEN_CREATED    -> OPEN_CREATED

``tests/unit/tracing/test_wire_constants.py`` parses the header and fails if any value differs.

A record is a 32-byte header (``HEADER_FORMAT``) followed by ``len1`` bytes of path1 and
``len2`` bytes of path2, in host byte order.  :func:`encode_record` builds one (tests, and the
tracers' test doubles); ``roar.tracing.decoder.Decoder`` parses a stream of them.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = (
    "EVF_TRUNCATED",
    "EVK_CHDIR",
    "EVK_CLOSE",
    "EVK_END",
    "EVK_ENV",
    "EVK_EXEC",
    "EVK_EXIT",
    "EVK_FORK",
    "EVK_HELLO",
    "EVK_LINK",
    "EVK_NAMES",
    "EVK_OPEN",
    "EVK_READ",
    "EVK_RENAME",
    "EVK_SNAPSHOT",
    "EVK_TRUNCATE",
    "EVK_UNLINK",
    "EVK_WARN",
    "EVK_WRITE",
    "EVT_HEADER_SIZE",
    "EVT_MAX_RECORD",
    "EVT_VERSION",
    "FORK_THREAD",
    "FORK_VFORK",
    "HEADER",
    "HEADER_FORMAT",
    "OPEN_CREATED",
    "Record",
    "WireFormatError",
    "encode_record",
)

EVT_VERSION = 1
EVT_HEADER_SIZE = 32
EVT_MAX_RECORD = 4096

# Record kinds (uint8).
EVK_HELLO = 1  # a writer starts: arg0 = format version, path1 = backend name
EVK_OPEN = 2  # successful open: arg0 = open(2) flags, arg1 = resulting fd, path1, arg2 = OPEN_*
EVK_EXEC = 3  # successful exec: path1 = file passed to execve, path2 = real binary
EVK_FORK = 4  # pid = parent, arg0 = child pid, arg2 = FORK_* flags
EVK_EXIT = 5  # a process (thread group) ended: arg0 = raw wait(2) status
EVK_RENAME = 6  # successful rename: path1 = old, path2 = new, arg0 = renameat2 flags
EVK_LINK = 7  # successful hard link: path1 = existing, path2 = new name
EVK_UNLINK = 8  # successful unlink of path1
EVK_TRUNCATE = 9  # truncate/ftruncate of path1 to arg1 bytes
EVK_READ = 10  # data read through a descriptor without a visible open (sendfile, ...)
EVK_WRITE = 11  # data written through a descriptor without a visible open
EVK_CHDIR = 12  # the process changed its working directory to path1
EVK_WARN = 13  # the tracer could not see something: path1 = one-line message
EVK_END = 14  # the tracer is done: arg0 = root's raw wait status, arg1 = events lost
EVK_CLOSE = 15  # a descriptor opened for writing was closed: arg1 = fd, path1
# path1's content as the job first read it, saved at path2 just before the job overwrote,
# truncated, renamed over or unlinked it (roar-ptrace: arg1 = size saved).
EVK_SNAPSHOT = 16
# A process looked up an environment variable that is set: path1 = its name, path2 = the value
# it saw (None when empty; EVF_TRUNCATED: the value was cut). Only the preload backend sends it.
EVK_ENV = 17

# Header flags (uint8).
EVF_TRUNCATED = 0x01  # a path (or an ENV value) was cut to fit the record

# EVK_OPEN arg2 flags. Both tracers decide CREATED for every open with O_CREAT (they look whether
# the path exists before the call runs); it is never set without O_CREAT.
OPEN_CREATED = 0x01  # the file did not exist just before this open: the open created it

# EVK_FORK arg2 flags.
FORK_THREAD = 0x01  # the child shares the parent's address space (a thread)
FORK_VFORK = 0x02  # vfork / CLONE_VFORK

#: Kind number -> short name, for logs and error messages.
EVK_NAMES: dict[int, str] = {
    value: name[4:].lower()
    for name, value in dict(globals()).items()
    if name.startswith("EVK_") and isinstance(value, int)
}

#: struct roar_evt_header: size, kind, flags, pid, tid, arg0, arg1, arg2, len1, len2.
HEADER_FORMAT = "=HBBiiiqIHH"
HEADER = struct.Struct(HEADER_FORMAT)
assert HEADER.size == EVT_HEADER_SIZE


class Record(NamedTuple):
    """One decoded wire record. ``kind`` (an ``EVK_*`` value) is the tag that says what the other
    fields mean for it (ext/README.md): for OPEN ``arg0`` is the open flags and ``arg2`` carries
    ``OPEN_CREATED``; for FORK ``arg0`` is the child and ``arg2`` carries ``FORK_THREAD``; for END
    ``arg0`` is the wait status and ``arg1`` the events lost. ``path1`` is ``""`` and ``path2``
    ``None`` when the record has none.

    A named tuple, not a class per kind: the decoder builds one per traced event (millions per
    job), and a tuple subclass costs ~60 ns more than a plain tuple where a class per kind would
    cost a Python call each.
    """

    kind: int
    flags: int
    pid: int
    tid: int
    arg0: int
    arg1: int
    arg2: int
    path1: str
    path2: str | None


class WireFormatError(ValueError):
    """The event stream is not a sequence of valid records.

    Raised by ``Decoder.feed`` when a header's size is below 32, above 4096, or differs from
    ``32 + len1 + len2``.  The stream cannot be resynchronised after that: the tracer that wrote
    it is broken, so treat the trace as failed.  ``offset`` is the stream offset of the bad
    record; ``records`` holds the valid records that preceded it in the same ``feed`` call.
    """

    def __init__(self, message: str, offset: int = -1, records: list[Record] | None = None):
        super().__init__(message)
        self.offset = offset
        self.records: list[Record] = records if records is not None else []


def _path_bytes(path: str | bytes | None) -> bytes:
    if path is None:
        return b""
    if isinstance(path, bytes):
        return path
    return path.encode("utf-8", "surrogateescape")


def encode_record(
    kind: int,
    *,
    flags: int = 0,
    pid: int = 0,
    tid: int = 0,
    arg0: int = 0,
    arg1: int = 0,
    arg2: int = 0,
    path1: str | bytes = "",
    path2: str | bytes | None = None,
) -> bytes:
    """Encode one record exactly as the C tracers write it.

    Paths are encoded with ``os.fsencode`` semantics (UTF-8, surrogateescape), so a decoded path
    round-trips.  Raises ``ValueError`` if the record would exceed ``EVT_MAX_RECORD``: the
    tracers cut paths instead (and set ``EVF_TRUNCATED``), encoders in tests must do so too.
    """
    p1 = _path_bytes(path1)
    p2 = _path_bytes(path2)
    size = EVT_HEADER_SIZE + len(p1) + len(p2)
    if size > EVT_MAX_RECORD:
        raise ValueError(f"record of {size} bytes exceeds EVT_MAX_RECORD ({EVT_MAX_RECORD})")
    header = HEADER.pack(size, kind, flags, pid, tid, arg0, arg1, arg2, len(p1), len(p2))
    return header + p1 + p2
