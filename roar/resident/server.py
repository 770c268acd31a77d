"""The resident roar: imports the run path once, then forks a copy per `roar run`.

``python -m roar.resident.server SOCKET`` is started by the first `roar run` that finds no
resident process (``client._start_server``), detached in its own session. It takes a lock next to
the socket (a second one started at the same moment exits), binds, and serves until it has been
idle for ``ROAR_RESIDENT_IDLE`` seconds (600 by default) or its socket is removed or replaced.

The accepting process runs no event loop and no threads, so forking it is safe; each request is
served by a fork that becomes that user's `roar`: their descriptors as 0/1/2, their environment,
working directory and umask, their argv through the ordinary command line. Only the peer's own
user is served (SO_PEERCRED).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import os
import signal
import socket
import struct
import sys
import time
from typing import Any

from roar.resident import protocol

IDLE_SECONDS = 600.0
_TICK = 5.0
# What a `roar run` imports before and after its command: loaded here once, not per run.
_WARM = (
    "click",
    "difflib",
    "roar.cli._app",
    "roar.cli.run",
    "roar.cli._format",
    "roar.core.context",
    "roar.core.loop",
    "roar.core.git",
    "roar.api",
    "roar.api._project",
    "roar.api._run_cache",
    "roar.lineage.refs",
    "roar.recording.recorder",
    "roar.recording.environment",
    "roar.recording.run_cache",
    "roar.tracing._ring",
    "roar.tracing.select",
    "roar.tracing.preload",
    "roar.tracing.ptrace",
    "roar.tracing.ebpf",
    "roar.store",
    "anyio._backends._asyncio",
    "uvloop",
    "sqlite3",
    "blake3",
)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m roar.resident.server SOCKET\n")
        return 2
    path = argv[0]
    # Whatever the first `roar run` inherited (a pipe's end, a jobserver) must not be held open
    # for as long as this process lives: a reader waiting for EOF would wait for us.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    lock = _lock(path)
    if lock is None:
        return 0  # another resident roar serves this socket
    # What would otherwise vanish into /dev/null (a crash of this process) goes next to the
    # socket, for `roar tracer status` readers and bug reports.
    log = os.open(path + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 2)
    os.close(log)
    _warm()
    # What was imported lives as long as the process: moved out of the collector's sight, the
    # forks' full collections do not scan it again in every run (and do not write to its
    # pages, which stay shared with this process).
    gc.collect()
    gc.freeze()
    listener = _bind(path)
    # The socket file's inode (not the socket's own, which fstat would give): if the path is
    # removed or another resident roar takes it over, this one stops serving.
    mine = os.stat(path).st_ino
    idle = float(os.environ.get("ROAR_RESIDENT_IDLE") or IDLE_SECONDS)
    # Children are reaped by the kernel: the accepting loop never waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # `kill` (SIGTERM) ends it cleanly: its socket and start stamp go with it.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        _serve(listener, path, mine, idle)
    finally:
        if _still_ours(path, mine):
            with contextlib.suppress(OSError):
                os.unlink(path)
            # A clean exit: the next run may start a successor at once (client._may_start),
            # and nothing is left in the directory but a log that has something to say.
            for leftover in (".started", ".lock"):
                with contextlib.suppress(OSError):
                    os.unlink(path + leftover)
            with contextlib.suppress(OSError):
                if os.stat(path + ".log").st_size == 0:
                    os.unlink(path + ".log")
        listener.close()
        os.close(lock)
    return 0


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _lock(path: str) -> int | None:
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _warm() -> None:
    import importlib

    for name in _WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _bind(path: str) -> socket.socket:
    """Bind under a temporary name and rename into place: a client never connects to a socket
    that is not listening yet, and a stale socket file is replaced."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staging)
    listener.bind(staging)
    os.chmod(staging, 0o600)
    listener.listen(64)
    os.rename(staging, path)
    return listener


def _serve(listener: socket.socket, path: str, mine: int, idle: float) -> None:
    started = last = time.monotonic()
    served = 0
    listener.settimeout(min(_TICK, idle))
    while True:
        if time.monotonic() - last >= idle or not _still_ours(path, mine):
            return
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            if not _same_user(conn):
                continue
            conn.setblocking(True)
            try:
                request, fds = protocol.receive(conn)
            except (OSError, protocol.ProtocolError):
                continue
            op = request.get("op", "run")
            if op != "run":
                for fd in fds:
                    os.close(fd)
                # Asking does not count as use: only runs keep the process from its idle exit.
                status = {
                    "pid": os.getpid(),
                    "socket": path,
                    "served": served,
                    "up_seconds": round(time.monotonic() - started, 3),
                    "idle_exit_seconds": idle,
                }
                with contextlib.suppress(OSError):
                    protocol.send(conn, status)
                if op == "stop":
                    return
                continue
            refused = _refusal(request)
            if refused is not None:
                for fd in fds:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    protocol.send(conn, {"op": "decline", "reason": refused})
                continue
            try:
                pid = os.fork()
            except OSError:
                for fd in fds:
                    os.close(fd)
                continue
            if pid == 0:
                listener.close()
                os._exit(_child(conn, request, fds))
            served += 1
            last = time.monotonic()
            for fd in fds:
                os.close(fd)


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def _child(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> int:
    """Become the user's `roar`, run their command line, say how it ended."""
    refused = _take_on_limits(request)
    if refused is not None:
        with contextlib.suppress(OSError):
            protocol.send(conn, {"op": "decline", "reason": refused})
        return 0
    code = 1
    try:
        _become(request, fds)
        protocol.send(conn, {"op": "hello", "pid": os.getpid()})
        from roar.cli import run_cli
        from roar.resident.remote import RemoteStarter
        from roar.tracing._launch import STARTER

        STARTER.set(RemoteStarter(conn))
        code = run_cli(request["argv"])
    except BaseException as exc:  # never return into the accepting loop's stack
        with contextlib.suppress(Exception):
            sys.stderr.write(f"roar: internal error in the resident roar: {exc!r}\n")
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            protocol.send(conn, {"op": "exit", "code": code})
    return code


def _refusal(request: dict[str, Any]) -> str | None:
    """Why a fork of this process could not be the client's `roar` (checked before forking:
    changing groups, raising a hard limit or lowering niceness needs privileges), or None."""
    import resource

    if [os.getgid(), *sorted(os.getgroups())] != request["groups"]:
        return "different groups"
    if os.geteuid() == 0:
        return None
    for name, (_soft, hard) in request["rlimits"].items():
        current = resource.getrlimit(getattr(resource, name))[1]
        if current != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > current):
            return f"cannot raise {name}"
    if int(request["nice"]) < os.getpriority(os.PRIO_PROCESS, 0):
        return "cannot lower the niceness"
    return None


def _take_on_limits(request: dict[str, Any]) -> str | None:
    """Give this process the client's resource limits, niceness, CPUs and groups, or say why it
    cannot (the client then runs roar itself): roar's own work must meet the same limits as
    the `roar` the user started would (a `ulimit -f`, a `nice`, a `taskset`)."""
    import resource

    for name, wanted in request["rlimits"].items():
        limit = getattr(resource, name)
        if tuple(resource.getrlimit(limit)) != tuple(wanted):
            try:
                resource.setrlimit(limit, tuple(wanted))
            except (OSError, ValueError):
                return f"cannot take on {name}"
    nice = int(request["nice"])
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice != current:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError:
            return "cannot take on the niceness"
    cpus = set(request["cpus"])
    if cpus != os.sched_getaffinity(0):
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            return "cannot take on the CPU affinity"
    return None


def _become(request: dict[str, Any], fds: list[int]) -> None:
    for signum in (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    sys.argv = ["roar", *request["argv"]]
    sys.stdin = _text_stream(0, "r")
    sys.stdout = _text_stream(1, "w")
    sys.stderr = _text_stream(2, "w")


def _text_stream(fd: int, mode: str) -> io.TextIOWrapper:
    """A fresh text stream on ``fd``: line-buffered on a terminal, as Python sets up its own."""
    tty = os.isatty(fd)
    binary = io.FileIO(fd, mode, closefd=False)
    return io.TextIOWrapper(
        io.BufferedReader(binary) if mode == "r" else io.BufferedWriter(binary),
        encoding="utf-8",
        errors="strict" if fd == 0 else "backslashreplace",
        line_buffering=tty or fd == 2,
        write_through=fd == 2,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
