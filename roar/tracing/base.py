"""The interface every tracer backend implements."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from roar.tracing.wire import Record

EventBatch = list[Record]
EventSink = Callable[[EventBatch], None]


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a backend can be used here, and if not, why."""

    name: str
    found: bool
    usable: bool
    reason: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class TraceOutcome:
    """How the traced command ended, as the tracer reported it."""

    wait_status: int | None  # raw wait(2) status of the root process, None if unknown
    tracer_exit_code: int
    completed: bool  # the tracer reported the end of the whole traced tree
    interrupted: bool  # the user aborted the run (a second Ctrl-C)

    @property
    def exit_code(self) -> int:
        """The exit code roar passes through: the command's own, or 128+N if signal N killed it."""
        status = self.wait_status
        if status is None:
            return self.tracer_exit_code
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        return self.tracer_exit_code

    @property
    def signal(self) -> int | None:
        status = self.wait_status
        if status is not None and os.WIFSIGNALED(status):
            return os.WTERMSIG(status)
        return None


@dataclass(frozen=True, slots=True)
class SkipReads:
    """Read-only opens a tracer does not report, to save their cost (see ``ext/skip_reads.h``).

    A successful open that is ``O_RDONLY`` without ``O_CREAT`` or ``O_TRUNC`` is left out when its
    canonical path is under one of ``under``, under none of ``keep_under`` and contains none of
    ``keep_containing``. A prefix ending in ``/`` matches the paths below it; one without matches
    itself too. Prefixes must be absolute; empty entries are ignored. The default skips nothing.
    Whatever the lists say, read-only ``O_DIRECTORY`` opens are never reported.
    ``roar.recording.filters.tracer_skip_reads`` derives the lists from the read filters.
    """

    under: tuple[str, ...] = ()
    keep_under: tuple[str, ...] = ()
    keep_containing: tuple[str, ...] = ()

    def skips(self, path: str) -> bool:
        """Whether the tracers leave out a plain read of canonical ``path`` (the C rule's twin)."""
        return (
            any(_prefix_matches(path, p) for p in self.under)
            and not any(_prefix_matches(path, p) for p in self.keep_under)
            and not any(s in path for s in self.keep_containing if s)
        )


SKIP_NOTHING = SkipReads()


def _prefix_matches(path: str, prefix: str) -> bool:
    if not prefix.startswith("/"):
        return False
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


class Backend(Protocol):
    """A way to run a command and stream its file events to roar."""

    name: str

    def availability(self) -> Availability: ...

    async def trace(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        sink: EventSink,
        snapshot_dir: Path | None = None,
        skip_reads: SkipReads = SKIP_NOTHING,
    ) -> TraceOutcome:
        """Run ``argv`` under the tracer, feeding decoded event batches to ``sink`` as they
        arrive, and return once the whole traced process tree has ended.

        With ``snapshot_dir``, a file the job read is copied (or hard-linked) there just before
        the job overwrites or removes it, and a SNAPSHOT event says where. ``skip_reads`` names
        the reads the tracer need not report (by default, it reports every one)."""
        ...


def native_binary(name: str) -> Path:
    """Where an executable built from ``ext/`` lives inside the installed package."""
    override = os.environ.get(f"ROAR_{name.upper().replace('-', '_')}_BIN")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "_bin" / name
