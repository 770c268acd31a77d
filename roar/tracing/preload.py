"""The preload backend: ``libroar_preload.so`` (C, ``ext/preload``) is loaded into every process.

roar starts the command itself, with ``LD_PRELOAD`` naming the shim and ``ROAR_PRELOAD_SOCK``
naming a Unix ``SOCK_SEQPACKET`` socket that roar listens on, in a private (0700) temporary
directory. Each process's shim reports wire records (``ext/events.h``), one record per message, on
a connection it inherited from its parent or made itself (``ext/preload/transport.c`` explains
why the tree normally shares one connection). roar accepts connections and decodes each with its
own decoder as messages arrive.

The trace is over when the root process has exited *and* every connection has closed: a
connection stays open while any process holding it lives, which is how roar waits for a
daemonised grandchild that still writes after its parent exits. There is no tracer process to
report the end, so roar synthesises the EXEC of the root (the shim cannot see the exec roar itself
makes) and the END record, so the recorder sees the same stream shape as with ptrace.

Signals follow system(3), like the ptrace backend: the command stays in roar's process group, so
Ctrl-C and Ctrl-\\ from the terminal reach it directly and roar only counts them; SIGTERM and
SIGHUP sent to roar are forwarded to the root; a second Ctrl-C kills the whole traced tree. With
no tracer to do that, roar kills every process that reported to it (each verified through a
pidfd and its environment, so a recycled pid is never hit). A separate process group would make
killing simpler but would take the terminal away from the command (``SIGTTIN`` on reading it).

With ``snapshot_dir``, the shims save a file the job read just before the job overwrites,
truncates, renames over or deletes it, and report a SNAPSHOT record (``ext/preload/snapshot.c``);
whether a path counts as read is shared by the whole tree through a table in a file roar creates
here (in ``/dev/shm`` when it can) and every shim maps.

The shim also reports which environment variables a process looks up with ``getenv`` (ENV
records, ``ext/preload/env.c``), which ptrace cannot see.

What preload cannot see: statically linked and setuid/setgid programs (the loader never loads the
shim), files opened by the dynamic loader, and raw syscalls. ``auto`` therefore checks the command
first (:func:`roar.tracing.programs.preload_obstacle`) and uses ptrace for such programs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import Process

from roar.core.leftovers import PRELOAD_PREFIX, SNAPSHOT_PREFIX, owner_token
from roar.errors import TracerError
from roar.tracing import wire
from roar.tracing._launch import launched, parent_pid
from roar.tracing.base import (
    SKIP_NOTHING,
    Availability,
    EventBatch,
    EventSink,
    SkipReads,
    TraceOutcome,
    native_binary,
)
from roar.tracing.decoder import Decoder
from roar.tracing.preload_ring import ENV_RING, Ring
from roar.tracing.programs import elf_header_span, inspect_program, read_head
from roar.tracing.wire import Record, WireFormatError

__all__ = (
    "ENV_EXEC",
    "ENV_FD",
    "ENV_KEEP_READS_CONTAINING",
    "ENV_KEEP_READS_UNDER",
    "ENV_SKIP_READS_UNDER",
    "ENV_SNAPSHOT_DIR",
    "ENV_SNAPSHOT_STATE",
    "ENV_SOCK",
    "PreloadBackend",
    "TraceStats",
    "traced_env",
)

LIBRARY = "libroar_preload.so"
ENV_SOCK = "ROAR_PRELOAD_SOCK"  # roar's socket path
ENV_FD = "ROAR_PRELOAD_FD"  # the inherited connection's descriptor number (set by the shim)
ENV_EXEC = "ROAR_PRELOAD_EXEC"  # "P<pid>": the exec that started this image was reported already
ENV_SNAPSHOT_DIR = "ROAR_PRELOAD_SNAPSHOT_DIR"  # where the shim saves inputs before they change
ENV_SNAPSHOT_STATE = "ROAR_PRELOAD_SNAPSHOT_STATE"  # the tree's shared per-path table (snapshot.c)
# Which reads the shim does not report (ext/skip_reads.h): newline-separated lists.
ENV_SKIP_READS_UNDER = "ROAR_PRELOAD_SKIP_READS_UNDER"
ENV_KEEP_READS_UNDER = "ROAR_PRELOAD_KEEP_READS_UNDER"
ENV_KEEP_READS_CONTAINING = "ROAR_PRELOAD_KEEP_READS_CONTAINING"

RECV_SIZE = wire.EVT_MAX_RECORD
RECV_BUFFER = 64 * RECV_SIZE  # read per wake-up (a few thousand typical records) at most
# While records keep coming, let them pile up this long between reads: one wake-up then carries
# hundreds of records instead of one (the socket buffer holds a few hundred before a sender has to
# wait), which cuts roar's CPU per record several times over.  An idle connection is read as soon
# as something arrives.
BATCH_DELAY = 0.001
LISTEN_BACKLOG = 4096
ABORT_GRACE = 5.0  # seconds to wait for connections to close after killing the tree
_SUN_PATH_MAX = 107
# ext/preload/snapshot.c: header (magic, capacity, name counter), then capacity 16-byte slots.
_SNAPSHOT_MAGIC = 0x52534E50
_SNAPSHOT_SLOTS = 1 << 20  # 16 MiB, sparse: only the slots in use take memory
_SNAPSHOT_HEADER = struct.Struct("=IIQ")

# ---- running the command -----------------------------------------------------------------------


def traced_env(
    env: Mapping[str, str],
    library: Path,
    sock_path: str,
    snapshots: tuple[Path, str] | None = None,
    skip_reads: SkipReads = SKIP_NOTHING,
    ring: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The command's environment: ``env`` plus the shim (first in ``LD_PRELOAD``), its socket,
    with ``snapshots`` = (directory, state file) where to save inputs before they change, which
    reads not to report (always set, empty when none: the shim of an enclosing `roar run` would
    otherwise put its own lists back at the next exec), and the record ring's variables
    (``preload_ring``; none: records go on the socket)."""
    child = dict(env)
    child.pop(ENV_RING, None)  # an enclosing `roar run`'s ring is not this trace's
    child.update(ring or {})
    others = [p for p in re.split(r"[: ]+", child.get("LD_PRELOAD", "")) if p and p != str(library)]
    child["LD_PRELOAD"] = ":".join([str(library), *others])
    child[ENV_SOCK] = sock_path
    child[ENV_EXEC] = f"P{parent_pid()}"  # roar reports the root's exec itself
    child.pop(ENV_FD, None)
    child.pop(ENV_SNAPSHOT_DIR, None)
    child.pop(ENV_SNAPSHOT_STATE, None)
    if snapshots is not None:
        child[ENV_SNAPSHOT_DIR] = str(snapshots[0])
        child[ENV_SNAPSHOT_STATE] = snapshots[1]
    lists = (skip_reads.under, skip_reads.keep_under, skip_reads.keep_containing)
    if any("\n" in item for items in lists for item in items):
        lists = ((), (), ())  # not expressible as lines: report every read rather than too few
    for name, items in zip(
        (ENV_SKIP_READS_UNDER, ENV_KEEP_READS_UNDER, ENV_KEEP_READS_CONTAINING), lists, strict=True
    ):
        child[name] = "\n".join(items)
    return child


def _snapshot_state(workdir: str) -> str:
    """Create the shared table the shims keep per-path snapshot state in (in memory if we can)."""
    shm = "/dev/shm"
    where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else workdir
    # Named for its owner so that the next run can remove it if this roar is killed.
    fd, path = tempfile.mkstemp(prefix=f"{SNAPSHOT_PREFIX}{owner_token()}-", dir=where)
    try:
        os.write(fd, _SNAPSHOT_HEADER.pack(_SNAPSHOT_MAGIC, _SNAPSHOT_SLOTS, 0))
        os.ftruncate(fd, _SNAPSHOT_HEADER.size + 16 * _SNAPSHOT_SLOTS)
    finally:
        os.close(fd)
    return path


def _raw_status(returncode: int) -> int:
    """A wait(2) status from a Popen-style return code (negative: killed by that signal)."""
    if returncode < 0:
        return -returncode & 0x7F
    return (returncode & 0xFF) << 8


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class _TraceState:
    """What the tasks of one trace share."""

    def __init__(self, sock_path: str) -> None:
        self.process: Process | None = None
        self.root_pid = 0
        self.sock_token = os.fsencode(f"{ENV_SOCK}={sock_path}")
        self.aborted = False
        self.finished = False
        self.open_connections = 0
        self.connections_seen = 0
        self.changed = anyio.Event()
        self.alive: set[int] = set()  # pids that reported and have not reported their exit
        self.hello_pids: set[int] = set()
        self.lost = 0
        self.records = 0
        self.error: Exception | None = None
        self.ring: Ring | None = None
        self.wakeups = 0  # one-byte messages: a writer found roar asleep on the ring
        self.socket_records = 0  # records sent on a connection (no ring, or none mapped)

    def deliver(self, records: EventBatch, sink: EventSink) -> None:
        self.observe(records)
        sink(records)

    def add_lost(self, count: int) -> None:
        self.lost += count

    def notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def observe(self, records: EventBatch) -> None:
        """Keep the process table (for killing the tree) and the lost-event count."""
        self.records += len(records)
        for record in records:
            kind = record.kind
            if record.flags & wire.EVF_TRUNCATED:
                self.lost += 1
            if kind == wire.EVK_HELLO:
                self._born(record.pid)
                self.hello_pids.add(record.pid)
            elif kind == wire.EVK_FORK:
                if not record.arg2 & wire.FORK_THREAD:
                    self._born(record.arg0)
            elif kind == wire.EVK_EXIT:
                self.alive.discard(record.pid)
            elif kind == wire.EVK_WARN:
                self.lost += max(record.arg0, 0)

    def _born(self, pid: int) -> None:
        if pid not in self.alive:
            self.alive.add(pid)
            if self.aborted and pid != self.root_pid:
                # Forked while the tree was being killed: its parent's FORK came too late.
                _kill_if_ours(pid, self.sock_token)

    def abort(self) -> None:
        """Cancelled from outside while the command runs: nothing would be recorded, so end it."""
        self.aborted = True
        self.kill_tree()

    def kill_tree(self) -> None:
        """SIGKILL the root and every process that reported to us and is still ours."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.signal_tree(signal.SIGKILL)

    def signal_tree(self, signum: int) -> None:
        """Send signum to every process but the root that reported to us and is still ours."""
        for pid in sorted(self.alive - {self.root_pid}):
            _kill_if_ours(pid, self.sock_token, signum)


def _kill_if_ours(pid: int, token: bytes, signum: int = signal.SIGKILL) -> None:
    # Holding a pidfd pins the process: if its environment names our socket, the signal cannot
    # reach a different process that reused the pid.
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return
        if b"\0" + token + b"\0" in b"\0" + environ:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signum)
    finally:
        os.close(pidfd)


def _on_interrupt(state: _TraceState, count: int) -> None:
    # The terminal delivered it to the command's process group as well.
    if count >= 2 and state.process is not None and not state.finished:
        state.aborted = True
        state.kill_tree()


def _on_forward(state: _TraceState, signum: int) -> None:
    process = state.process
    if process is None or state.finished:
        return
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.Signals(signum))
    else:
        # The root is gone and roar waits for what it left behind: that gets it.
        state.signal_tree(signum)


async def _read_connection(conn: socket.socket, state: _TraceState, sink: EventSink) -> None:
    """Decode one connection's messages into the sink until the peer side is closed.

    A failure here (a damaged stream, the sink raising) is kept in ``state.error`` for the main
    task to raise as is, rather than surfacing as an exception group of this task group."""
    try:
        await _pump_connection(conn, state, sink)
    except Exception as exc:
        if state.error is None:
            state.error = exc
        state.kill_tree()
    finally:
        conn.close()
        state.open_connections -= 1
        state.notify()


async def _pump_connection(conn: socket.socket, state: _TraceState, sink: EventSink) -> None:
    decoder = Decoder()
    # Messages are whole records, so received back to back into one buffer they form a valid
    # stream: one decoder call per batch, and no bytes object per message.
    buffer = bytearray(RECV_BUFFER)
    view = memoryview(buffer)
    while True:
        used = 0
        eof = False
        while used <= RECV_BUFFER - RECV_SIZE:
            try:
                n = conn.recv_into(view[used:], RECV_SIZE)
            except BlockingIOError:
                break
            except ConnectionResetError:
                eof = True
                break
            if n == 0:
                eof = True
                break
            if n == 1:  # a wake-up: records are waiting in the ring
                state.wakeups += 1
                if state.ring is not None:
                    state.ring.wake()
                continue
            used += n
        if used:
            records = decoder.feed(view[:used])
            if records:
                state.socket_records += len(records)
                state.observe(records)
                sink(records)
        if eof:
            if decoder.pending:
                raise WireFormatError("a connection closed inside a record")
            return
        if used > RECV_BUFFER - RECV_SIZE:
            await anyio.lowlevel.checkpoint()  # more may be waiting: let other tasks run first
        elif used:
            await anyio.sleep(BATCH_DELAY)
        else:
            await anyio.wait_readable(conn)


async def _serve_ring(
    ring: Ring, state: _TraceState, deliver: Callable[[EventBatch], None]
) -> None:
    """Drain the record ring while the tree runs; a failure ends the trace as a connection's
    does (kept in ``state.error``)."""
    try:
        await ring.serve(deliver, state.add_lost)
    except Exception as exc:
        if state.error is None:
            state.error = exc
        state.kill_tree()
        state.notify()


def _accept_pending(
    listener: socket.socket, state: _TraceState, sink: EventSink, tg: anyio.abc.TaskGroup
) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        state.open_connections += 1
        state.connections_seen += 1
        tg.start_soon(_read_connection, conn, state, sink)


async def _serve(
    listener: socket.socket, state: _TraceState, sink: EventSink, tg: anyio.abc.TaskGroup
) -> None:
    while True:
        _accept_pending(listener, state, sink, tg)
        state.notify()
        await anyio.wait_readable(listener)


def _private_socket_path() -> tuple[str, str]:
    """A fresh 0700 directory and a socket path inside it short enough for sun_path."""
    prefix = f"{PRELOAD_PREFIX}{owner_token()}-"
    workdir = tempfile.mkdtemp(prefix=prefix)
    path = os.path.join(workdir, "events")
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        os.rmdir(workdir)
        workdir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        path = os.path.join(workdir, "events")
    return workdir, path


@dataclass(frozen=True, slots=True)
class TraceStats:
    """Numbers about the last trace, for tests and diagnostics."""

    connections: int
    records: int
    processes: int
    events_lost: int
    ring: bool = False  # records came through the shared-memory ring
    wakeups: int = 0  # times a writer woke roar (a message each)
    socket_records: int = 0  # records that came one message each


class PreloadBackend:
    name = "preload"

    def __init__(self, library: Path | None = None) -> None:
        self.library = library or native_binary(LIBRARY)
        self.last_stats: TraceStats | None = None

    def availability(self) -> Availability:
        location = str(self.library)
        found = read_head(location)
        if found is None:
            return Availability(
                self.name, False, False, f"{location} is missing (reinstall roar)", location
            )
        head, _ = found
        if elf_header_span(head) == 0 or head[16:18] != b"\x03\x00":  # ET_DYN, little endian
            return Availability(
                self.name, True, False, f"{location} is not a shared library", location
            )
        if not hasattr(os, "pidfd_open"):
            return Availability(self.name, True, False, "needs Linux 5.3 or later", location)
        return Availability(self.name, True, True, None, location)

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
        available = self.availability()
        if not available.usable:
            raise TracerError(f"the preload tracer cannot run: {available.reason}")
        library = self.library.resolve()
        program = inspect_program(argv[0], path_env=env.get("PATH"), cwd=cwd)
        workdir, sock_path = _private_socket_path()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        state = _TraceState(sock_path)
        try:
            state.ring = Ring.create(workdir)
        except OSError as exc:  # the shim then sends every record on the socket
            sys.stderr.write(f"roar: no shared record ring ({exc.strerror}); using the socket\n")
        status: int | None = None
        snapshot_state: str | None = None
        try:
            snapshots = None
            if snapshot_dir is not None:
                snapshot_state = _snapshot_state(workdir)
                snapshots = (snapshot_dir.resolve(), snapshot_state)
            listener.bind(sock_path)
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
            try:
                async with launched(
                    argv,
                    env=traced_env(
                        env,
                        library,
                        sock_path,
                        snapshots,
                        skip_reads,
                        state.ring.env() if state.ring is not None else None,
                    ),
                    cwd=cwd,
                    on_interrupt=functools.partial(_on_interrupt, state),
                    on_forward=functools.partial(_on_forward, state),
                    on_abandon=lambda _process: state.abort(),
                ) as process:
                    state.process = process
                    state.root_pid = process.pid
                    state.alive.add(process.pid)
                    if program is not None:
                        # The shim cannot see the exec roar made; report it first.
                        pid = process.pid
                        path = os.path.realpath(program.path)
                        sink([Record(wire.EVK_EXEC, 0, pid, pid, 0, 0, 0, path, program.real)])
                    status = await self._run(process, listener, state, sink)
            except OSError as exc:
                if state.process is not None:
                    raise
                # The command never ran: like a shell, say why and end with 127/126.
                sys.stderr.write(f"roar: cannot execute {argv[0]}: {exc.strerror}\n")
                status = (127 if isinstance(exc, FileNotFoundError) else 126) << 8
        finally:
            state.finished = True
            listener.close()
            if state.ring is not None:
                state.ring.close()
            shutil.rmtree(workdir, ignore_errors=True)
            if snapshot_state is not None:
                with contextlib.suppress(OSError):
                    os.unlink(snapshot_state)
        assert status is not None
        root = state.root_pid
        tail: EventBatch = []
        if root and root not in state.hello_pids and not state.aborted:
            tail.append(
                _warning(
                    root,
                    f"the preload shim did not load in {argv[0]}: nothing it "
                    "did was traced (try --tracer ptrace)",
                )
            )
        tail.append(Record(wire.EVK_END, 0, root, root, status, state.lost, 0, "", None))
        sink(tail)
        self.last_stats = TraceStats(
            connections=state.connections_seen,
            records=state.records,
            processes=len(state.hello_pids),
            events_lost=state.lost,
            ring=state.ring is not None,
            wakeups=state.wakeups,
            socket_records=state.socket_records,
        )
        return TraceOutcome(
            wait_status=status,
            tracer_exit_code=_exit_code(status),
            completed=True,
            interrupted=state.aborted,
        )

    async def _run(
        self,
        process: Process,
        listener: socket.socket,
        state: _TraceState,
        sink: EventSink,
    ) -> int:
        """Serve connections until the root has exited and every connection has closed."""
        deliver = functools.partial(state.deliver, sink=sink)
        async with anyio.create_task_group() as readers:
            readers.start_soon(_serve, listener, state, sink, readers)
            if state.ring is not None:
                readers.start_soon(_serve_ring, state.ring, state, deliver)
            try:
                status = _raw_status(await process.wait())
                await self._wait_connections_closed(listener, state, sink, readers)
            finally:
                readers.cancel_scope.cancel()
        if state.ring is not None and state.error is None:
            # Every process has gone: what is left in the ring is complete, or never will be.
            state.ring.finish(deliver, state.add_lost)
        if isinstance(state.error, WireFormatError):
            raise TracerError(
                f"the preload shim's event stream is damaged: {state.error}"
            ) from state.error
        if state.error is not None:
            raise state.error
        return status

    async def _wait_connections_closed(
        self,
        listener: socket.socket,
        state: _TraceState,
        sink: EventSink,
        readers: anyio.abc.TaskGroup,
    ) -> None:
        while True:
            if state.aborted or state.error is not None:
                # Killed: processes the shim never ran in (static ones) may hold a connection.
                with anyio.move_on_after(ABORT_GRACE):
                    while state.open_connections:
                        await state.changed.wait()
                return
            changed = state.changed
            # Nothing may be waiting in the listen backlog either.
            _accept_pending(listener, state, sink, readers)
            if state.open_connections == 0:
                return
            await changed.wait()


def _warning(pid: int, message: str) -> Record:
    return Record(wire.EVK_WARN, 0, pid, pid, 0, 0, 0, message, None)
