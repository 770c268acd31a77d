"""The events `project.trace(argv)` yields: what the traced processes do, then the job.

Tracer records are translated one by one (pure functions); tracer bookkeeping (hello, end,
snapshots, environment lookups) is not shown. Paths are as the tracer saw them: absolute,
not yet filtered (roar drops system files and its own when it records the job).
"""

from __future__ import annotations

import os
from typing import Literal

import msgspec

from roar.models import Job
from roar.tracing import wire
from roar.tracing.wire import Record

TraceKind = Literal[
    "read",
    "write",
    "create",
    "exec",
    "fork",
    "exit",
    "rename",
    "link",
    "unlink",
    "truncate",
    "chdir",
    "warning",
]


class TraceEvent(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """One thing a traced process did (``tag``: ``{"type": "TraceEvent"}`` in JSON)."""

    kind: TraceKind
    pid: int
    path: str | None = None  # the file, the program, the message for a warning
    target: str | None = None  # rename/link destination; exec's real binary
    value: int | None = None  # exit: the wait status; fork: the child pid; truncate: size


class JobRecorded(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The last event of a trace: the command's exit code and the job as recorded.

    ``job`` is None when nothing was recorded (the program never started).
    """

    exit_code: int
    job: Job | None
    warnings: list[str] = []


Event = TraceEvent | JobRecorded

_SIMPLE: dict[int, TraceKind] = {
    wire.EVK_RENAME: "rename",
    wire.EVK_LINK: "link",
    wire.EVK_UNLINK: "unlink",
    wire.EVK_CHDIR: "chdir",
    wire.EVK_WARN: "warning",
    wire.EVK_READ: "read",
    wire.EVK_WRITE: "write",
}


def trace_event(record: Record) -> TraceEvent | None:
    """The event for one decoded tracer record, or None for tracer bookkeeping."""
    kind, _flags, pid, _tid, arg0, arg1, arg2, path1, path2 = record
    if kind == wire.EVK_OPEN:
        if arg0 & getattr(os, "O_DIRECTORY", 0):
            return None
        if arg2 & wire.OPEN_CREATED:
            return TraceEvent(kind="create", pid=pid, path=path1)
        reading = arg0 & os.O_ACCMODE == os.O_RDONLY
        return TraceEvent(kind="read" if reading else "write", pid=pid, path=path1)
    if kind == wire.EVK_EXEC:
        return TraceEvent(kind="exec", pid=pid, path=path1, target=path2)
    if kind == wire.EVK_FORK:
        return TraceEvent(kind="fork", pid=pid, value=arg0)
    if kind == wire.EVK_EXIT:
        return TraceEvent(kind="exit", pid=pid, value=arg0)
    if kind == wire.EVK_TRUNCATE:
        return TraceEvent(kind="truncate", pid=pid, path=path1, value=arg1)
    simple = _SIMPLE.get(kind)
    if simple is None:
        return None
    return TraceEvent(kind=simple, pid=pid, path=path1, target=path2)
