"""Events in, reads and writes out: the one place where file-access semantics are decided.

Pure and synchronous: :class:`AccessModel` is fed decoded tracer events in order and answers which
paths the job read as inputs (their content existed before the job touched them) and which it left
behind as outputs. The rules, each unit-tested on event sequences:

* the first access decides whether a path is an input: a file first opened for reading (or
  read-write, without truncation, when it already existed) is an input; a file first created or
  truncated is not, even when the job reads it back later;
* whether an open with ``O_CREAT`` created its file is a fact the tracer reports, not a guess: the
  OPEN record carries ``wire.OPEN_CREATED`` when the path did not exist just before the call (both
  backends look before the open runs, on every ``O_CREAT`` open; ``O_CREAT|O_EXCL`` always
  creates). So an ``O_RDWR|O_CREAT`` open of a new file (SQLite creating a database, a logger) is
  a pure write, however much the job wrote into it before roar could hash it; without the flag the
  file was there, and the open reads its old content like any ``O_RDWR`` open. (roar used to guess
  "created" from the file being empty when hashed; a record without the flag is now taken at its
  word: every tracer that writes OPEN records sets it);
* any write access (``O_WRONLY``, ``O_RDWR``, ``O_APPEND``, ``creat``, truncate) makes the path an
  output, and so does creating it (``OPEN_CREATED``, even with ``O_RDONLY``: flock(1)'s lock
  file); a file both read first and written later is both (input digest taken before the write);
* ``rename(a, b)``: the content moves, so ``b`` is an output and ``a`` is no longer one (a temp file
  renamed over the target is not an output); a pre-existing ``a`` the job never opened is an input
  whose content is now found at ``b``;
* a file the job read and then overwrote, truncated, renamed over or deleted is still an input
  with its original content: the tracer saves a snapshot just before the change (SNAPSHOT);
* ``link(a, b)`` makes ``b`` an output; ``unlink`` of something the job wrote removes it from the
  outputs; unlinking an input leaves it an input;
* an exec'd file (the program, or the script run through a shebang) and the binary that actually
  ran are inputs.

Besides files: ENV records (preload backend only) say which environment variables the job's
programs looked up with ``getenv``; the first value seen for each name is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from roar.tracing import wire
from roar.tracing.wire import Record

_ACCMODE = os.O_ACCMODE
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CREATE_NEW = os.O_CREAT | os.O_EXCL


@dataclass(slots=True)
class PathState:
    """What the job did to one path, in the order it happened."""

    order: int
    is_input: bool = False
    written: bool = False
    removed: bool = False
    generation: int = 0  # bumped on every write, to know whether moved content is still there
    moved_to: tuple[str, int] | None = None  # for an input renamed away: (new path, generation)


@dataclass(frozen=True, slots=True)
class Accesses:
    """The outcome of a traced run, before filtering and hashing."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    moved_inputs: dict[str, str]  # input path -> where its unchanged content now lives
    snapshots: dict[str, str]  # input path -> copy of its content taken before the job changed it
    discarded_writes: tuple[str, ...]  # written then deleted or renamed away: not outputs
    deleted: tuple[str, ...]  # pre-existing files the job deleted
    programs: tuple[str, ...]  # every exec'd file, in order
    process_count: int
    warnings: tuple[str, ...]
    backend: str | None
    root_status: int | None  # raw wait status of the traced command, from the END record
    events_lost: int
    env_reads: dict[str, str] = field(default_factory=dict)  # getenv'd name -> first value seen
    env_cut: tuple[str, ...] = ()  # names in env_reads whose value was cut to fit a record


@dataclass
class AccessModel:
    """Accumulates events; :meth:`result` gives the job's :class:`Accesses`."""

    paths: dict[str, PathState] = field(default_factory=dict)
    programs: list[str] = field(default_factory=list)
    processes: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    snapshots: dict[str, str] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)  # written-and-closed, not yet drained
    env_reads: dict[str, str] = field(default_factory=dict)
    env_cut: set[str] = field(default_factory=set)
    backend: str | None = None
    root_status: int | None = None
    events_lost: int = 0
    ended: bool = False
    _counter: int = 0

    # -- primitive transitions --------------------------------------------------------------

    def _state(self, path: str) -> tuple[PathState, bool]:
        state = self.paths.get(path)
        if state is not None:
            return state, False
        self._counter += 1
        state = PathState(order=self._counter)
        self.paths[path] = state
        return state, True

    def read(self, path: str) -> bool:
        """Record a read; True when this made ``path`` a new input (worth hashing right away)."""
        state, new = self._state(path)
        if new:
            state.is_input = True
            return True
        return False

    def write(self, path: str, *, reads_old_content: bool = False) -> bool:
        state, new = self._state(path)
        if new and reads_old_content:
            state.is_input = True
        state.written = True
        state.removed = False
        state.generation += 1
        return new and reads_old_content

    def rename(self, old: str, new: str, *, exchange: bool = False) -> None:
        if exchange:
            self.write(old, reads_old_content=True)
            self.write(new, reads_old_content=True)
            return
        source, unseen = self._state(old)
        if unseen:
            # Moving a file the job never opened consumes its pre-existing content.
            source.is_input = True
        self.write(new)
        target = self.paths[new]
        if source.is_input and not source.written:
            source.moved_to = (new, target.generation)
        source.written = False
        source.removed = True

    def link(self, new: str) -> None:
        self.write(new)

    def unlink(self, path: str) -> None:
        state = self.paths.get(path)
        if state is None:
            self.deleted.append(path)
            self._state(path)[0].removed = True
            return
        state.written = False
        state.removed = True

    # -- events -----------------------------------------------------------------------------

    def feed(self, events: Iterable[Record]) -> list[str]:
        """Apply decoded events in order; return the paths that just became inputs."""
        fresh: list[str] = []
        for event in events:
            kind = event.kind
            path1 = event.path1
            if event.flags & wire.EVF_TRUNCATED and kind != wire.EVK_ENV:
                self.warnings.append(f"a path was too long to record in full: {path1}...")
                continue
            if kind == wire.EVK_OPEN:
                open_flags = event.arg0
                if open_flags & _DIRECTORY:
                    continue
                mode = open_flags & _ACCMODE
                if _created(open_flags, event.arg2):
                    # The open made the file (mkstemp, SQLite's new database, even flock(1)'s
                    # O_RDONLY lock file): there was no old content to read, only a new file.
                    self.write(path1)
                elif mode == os.O_RDONLY:
                    if self.read(path1):
                        fresh.append(path1)
                # O_TRUNC discards the old content: only a read-write open without it reads what
                # was there.
                elif self.write(
                    path1, reads_old_content=mode == os.O_RDWR and not open_flags & os.O_TRUNC
                ):
                    fresh.append(path1)
            elif kind == wire.EVK_READ:
                if self.read(path1):
                    fresh.append(path1)
            elif kind in (wire.EVK_WRITE, wire.EVK_TRUNCATE):
                self.write(path1)
            elif kind == wire.EVK_RENAME:
                exchange = bool(event.arg0 & RENAME_EXCHANGE)
                self.rename(path1, event.path2 or "", exchange=exchange)
            elif kind == wire.EVK_LINK:
                self.link(event.path2 or "")
            elif kind == wire.EVK_UNLINK:
                self.unlink(path1)
            elif kind == wire.EVK_EXEC:
                self.programs.append(path1)
                if self.read(path1):
                    fresh.append(path1)
                binary = event.path2
                if binary and binary != path1:
                    self.programs.append(binary)
                    if self.read(binary):
                        fresh.append(binary)
            elif kind == wire.EVK_FORK:
                if not event.arg2 & wire.FORK_THREAD:
                    self.processes.add(event.arg0)
            elif kind == wire.EVK_HELLO:
                self.processes.add(event.pid)
                self.backend = path1 or self.backend
                if event.arg0 != wire.EVT_VERSION:
                    self.warnings.append(
                        f"tracer speaks event format {event.arg0}, roar reads {wire.EVT_VERSION}"
                    )
            elif kind == wire.EVK_CLOSE:
                self.closed.append(path1)
            elif kind == wire.EVK_SNAPSHOT:
                if event.path2 is not None:
                    self.snapshots.setdefault(path1, event.path2)  # the first one is the original
            elif kind == wire.EVK_WARN:
                self.warnings.append(path1)
            elif kind == wire.EVK_ENV:
                if path1 not in self.env_reads:  # the first value seen is the one kept
                    self.env_reads[path1] = event.path2 or ""
                    if event.flags & wire.EVF_TRUNCATED:
                        self.env_cut.add(path1)
            elif kind == wire.EVK_END:
                self.root_status = event.arg0
                self.events_lost += event.arg1
                self.ended = True
        return fresh

    def drain_closed(self) -> list[str]:
        """Paths closed after writing since the last call (worth hashing right away)."""
        closed, self.closed = self.closed, []
        return list(dict.fromkeys(closed))

    # -- outcome ----------------------------------------------------------------------------

    def result(self) -> Accesses:
        ordered = sorted(self.paths.items(), key=lambda item: item[1].order)
        moved: dict[str, str] = {}
        for path, state in ordered:
            if state.is_input and state.moved_to is not None:
                target, generation = state.moved_to
                if self.paths[target].generation == generation and not self.paths[target].removed:
                    moved[path] = target
        if self.events_lost:
            self.warnings.append(f"the tracer lost {self.events_lost} events")
        return Accesses(
            inputs=tuple(p for p, s in ordered if s.is_input),
            outputs=tuple(p for p, s in ordered if s.written and not s.removed),
            moved_inputs=moved,
            snapshots=dict(self.snapshots),
            discarded_writes=tuple(
                p for p, s in ordered if s.removed and not s.is_input and p not in self.deleted
            ),
            deleted=tuple(self.deleted),
            programs=tuple(self.programs),
            process_count=len(self.processes),
            warnings=tuple(dict.fromkeys(self.warnings)),
            backend=self.backend,
            root_status=self.root_status,
            events_lost=self.events_lost,
            env_reads=dict(self.env_reads),
            env_cut=tuple(sorted(self.env_cut)),
        )


RENAME_EXCHANGE = 2  # renameat2(2) flag: atomically swap the two paths


def _created(open_flags: int, arg2: int) -> bool:
    """Whether an OPEN record's open created its file (so there was no old content to read)."""
    if (open_flags & _CREATE_NEW) == _CREATE_NEW:
        return True
    return bool(open_flags & os.O_CREAT) and bool(arg2 & wire.OPEN_CREATED)
