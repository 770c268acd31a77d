"""The `roar run` a user types, when a resident roar does the work.

This module is imported before anything heavy and imports only what the standard library loads
cheaply: the whole point is that `roar run true` costs a connect, not a start-up of roar.

:func:`hand_over` returns None whenever the resident path is not available (switched off, no
resident process yet, running inside a traced job, a descriptor missing): the caller then runs
roar in this process as usual. The first `roar run` that finds no resident process starts one
in the background for the next.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import socket
import sys

from roar.core.project_root import CONFIG_NAME, ROAR_DIR, project_root
from roar.resident import address, protocol

# `typing` and `collections.abc` cost ~9 ms to import, more than a resident `roar run` spends
# before its command starts: this module is on that path, so they are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# Signals the user (or a supervisor) sends to `roar`: the forked roar handles them as an
# in-process roar would (_signals.relay_signals). The terminal's Ctrl-C also reaches the command
# directly: it is in this process's group.
_PASSED_ON = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)
OFF_VALUES = ("0", "false", "no", "off")
START_INTERVAL = 30.0
_SUN_PATH_MAX = 108  # sockaddr_un.sun_path, its terminating NUL included
# The resident process inherits only what decides how it imports roar.
_SERVER_ENV = (
    "PATH", "PYTHONPATH", "PYTHONHOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR",
    "ROAR_RESIDENT_IDLE",
)  # fmt: skip


def hand_over(args: Sequence[str]) -> int | None:
    """Run ``roar ARGS`` (a run or build) through the resident roar; its exit code, or None to
    run in this process instead."""
    if not _wanted():
        return None
    try:
        directory = address.ensure_private(address.socket_dir())
        path = os.path.join(directory, f"{address.fingerprint()}.sock")
    except (OSError, address.UnsafeDirectory):
        return None
    if len(os.fsencode(path)) >= _SUN_PATH_MAX:
        return None  # a deep $XDG_RUNTIME_DIR: no socket can be bound there
    try:
        request = _request(args)
    except OSError:
        return None  # a deleted working directory: in-process roar says so
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        if not _being_started(path) and _may_start(path):
            _start_server(path)
        return None
    with conn:
        return _Session(conn).run(request)


def _request(args: Sequence[str]) -> dict[str, Any]:
    """What the forked roar needs to be this process: argv, environment, working directory and
    the process attributes its own work must respect."""
    import resource

    limits = {
        name: resource.getrlimit(getattr(resource, name))
        for name in dir(resource)
        if name.startswith("RLIMIT_")
    }
    return {
        "argv": list(args),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": _umask(),
        "rlimits": limits,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "groups": [os.getgid(), *sorted(os.getgroups())],
    }


def ask(op: str) -> dict[str, Any] | None:
    """The resident roar's answer to ``op`` ("status", or "stop": it answers, then exits), or
    None when none is running for this installation."""
    try:
        path = address.socket_path()
    except OSError:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(path)
            protocol.send(conn, {"op": op})
            answer, _ = protocol.receive(conn)
        except (OSError, protocol.ProtocolError):
            return None
    return answer


def _wanted() -> bool:
    if os.environ.get("ROAR_RESIDENT", "").lower() in OFF_VALUES:
        return False
    # Inside a traced job (a roar run in a pipeline step) the nested roar runs in the job's own
    # process tree, where the outer tracer sees what it does.
    if "ROAR_JOB_ID" in os.environ:
        return False
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return _config_allows()


def _config_allows() -> bool:
    """False when the project's `.roar/config.toml` sets ``tracer.resident = false``.

    The file is parsed only when a line could set the key (``roar init`` writes it commented
    out): tomllib costs more to import than the rest of this module together."""
    config = _project_config()
    if config is None:
        return True
    try:
        with open(config, "rb") as handle:
            text = handle.read()
    except OSError:
        return True
    if not any(
        line.lstrip().startswith((b"resident", b"tracer.resident", b"tracer = {"))
        for line in text.splitlines()
    ):
        return True
    import tomllib

    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # in-process roar reports the broken file
    tracer = data.get("tracer")
    return not (isinstance(tracer, dict) and tracer.get("resident") is False)


def _project_config() -> str | None:
    root = project_root()
    return None if root is None else os.path.join(root, ROAR_DIR, CONFIG_NAME)


def _being_started(path: str) -> bool:
    """Whether a resident roar holds the socket's lock (it is still importing, say)."""
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if this process took it
    return False


def _may_start(path: str, now: float | None = None) -> bool:
    """At most one start every START_INTERVAL seconds: a resident roar that cannot start (an
    import fails, say) must not cost every later run a Python start-up in the background."""
    import time

    stamp = path + ".started"
    now = time.time() if now is None else now
    try:
        if now - os.stat(stamp).st_mtime < START_INTERVAL:
            return False
        os.utime(stamp, (now, now))
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            os.close(os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError:
        return False
    return True


def _start_server(path: str) -> None:
    """Start the resident roar for the next `roar run`, detached, in its own session."""
    env = {name: os.environ[name] for name in _SERVER_ENV if name in os.environ}
    null = os.devnull
    with contextlib.suppress(OSError):
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "roar.resident.server", path],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
            ],
            setsid=True,
        )


class _Session:
    """One request: hand the run over, start what it asks for, report exits and signals."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.roar_pid = 0
        self.children: dict[int, int | None] = {}  # pid -> wait status once reaped

    def run(self, request: dict[str, Any]) -> int | None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        previous = {sig: signal.signal(sig, _noted) for sig in (*_PASSED_ON, signal.SIGCHLD)}
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        result: int | None = None
        try:
            try:
                protocol.send(self.conn, request, (0, 1, 2))
                hello, _ = protocol.receive(self.conn)
            except (OSError, protocol.ProtocolError):
                return None  # nothing ran: the caller runs roar in this process
            if hello.get("op") != "hello":
                return None  # declined (it cannot take on this process's limits)
            self.roar_pid = int(hello["pid"])
            result = self._serve(wake_r)
            return result
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            unhandled = _drain(wake_r) if result is None and not self.roar_pid else b""
            os.close(wake_r)
            os.close(wake_w)
            # A Ctrl-C during a hand-over that did not happen is this process's to act on.
            for signum in unhandled:
                if signum != signal.SIGCHLD:
                    signal.raise_signal(signum)

    def _serve(self, wake_r: int) -> int:
        while True:
            readable, _, _ = select.select([self.conn.fileno(), wake_r], [], [])
            if wake_r in readable:
                self._on_signals(os.read(wake_r, 256))
            if self.conn.fileno() in readable:
                try:
                    message, fds = protocol.receive(self.conn)
                except (OSError, protocol.ProtocolError):
                    return self._orphaned()
                op = message.get("op")
                if op == "exit":
                    return int(message["code"])
                if op == "spawn":
                    self._spawn(message, fds)
                elif op == "kill":
                    self._kill(int(message["pid"]), int(message["sig"]))
                for fd in fds:
                    os.close(fd)

    def _on_signals(self, raw: bytes) -> None:
        for signum in raw:
            if signum == signal.SIGCHLD:
                self._reap()
            elif self.roar_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.roar_pid, signum)

    def _reap(self) -> None:
        for pid, status in list(self.children.items()):
            if status is not None:
                continue
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done:
                self.children[pid] = status
                self._send({"op": "status", "pid": pid, "status": status})

    def _spawn(self, message: dict[str, Any], fds: list[int]) -> None:
        targets = [int(t) for t in message["targets"]]
        # Moved out of the way first, so that placing one descriptor never overwrites another
        # that is still to be placed; close-on-exec, so the command gets only the placed copies.
        high = 1 + max([*targets, *fds, 2])
        moved: list[int] = []
        try:
            for fd in fds:
                moved.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, high))
            os.chdir(message["cwd"])
            pid = os.posix_spawn(
                message["path"],
                message["argv"],
                message["env"],
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, fd, target)
                    for fd, target in zip(moved, targets, strict=True)
                ],
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, *_PASSED_ON, signal.SIGCHLD),
            )
        except OSError as exc:
            self._send(
                {
                    "op": "failed",
                    "id": message["id"],
                    "errno": exc.errno or errno.EIO,
                    "strerror": exc.strerror or str(exc),
                    "filename": exc.filename if isinstance(exc.filename, str) else None,
                }
            )
            return
        finally:
            for fd in moved:
                os.close(fd)
        self.children[pid] = None
        self._send({"op": "spawned", "id": message["id"], "pid": pid})
        self._reap()  # it may have ended before the SIGCHLD handler saw it as ours

    def _kill(self, pid: int, signum: int) -> None:
        if pid in self.children and self.children[pid] is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _send(self, message: dict[str, Any]) -> None:
        # The forked roar may be gone: _serve then sees the closed connection next.
        with contextlib.suppress(OSError):
            protocol.send(self.conn, message)

    def _orphaned(self) -> int:
        """The forked roar went away before saying how it ended: wait for what it started."""
        sys.stderr.write("roar: the resident roar ended unexpectedly; the job was not recorded\n")
        code = 1
        for pid, status in self.children.items():
            if status is None:
                try:
                    _, status = os.waitpid(pid, 0)
                except ChildProcessError:
                    continue
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
        return code


def _drain(fd: int) -> bytes:
    try:
        return os.read(fd, 256)
    except BlockingIOError:
        return b""


def _noted(signum: int, frame: object) -> None:
    """Python-level handler: the signal's number is on the wake-up pipe; _serve acts on it."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
