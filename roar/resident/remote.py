"""Processes started by the `roar` the user typed, on behalf of the forked resident roar.

:class:`RemoteStarter` is what ``tracing._launch.launched`` uses instead of
``anyio.open_process`` when a resident roar serves the run: it sends the command, its
environment, working directory and descriptors to the client, which starts it in the terminal's
session and reports its wait status when it ends. :class:`RemoteProcess` is the anyio ``Process``
the tracing backends hold, so they do not know the difference.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

from roar.errors import RoarError
from roar.resident import protocol


class ClientGone(RoarError):
    """The `roar` the user typed went away while its command ran."""

    def __init__(self) -> None:
        super().__init__("the roar command that started this run went away; nothing was recorded")


class RemoteProcess(Process):
    def __init__(self, starter: RemoteStarter, pid: int) -> None:
        self._starter = starter
        self._pid = pid
        self._returncode: int | None = None

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    @property
    def stdin(self) -> ByteSendStream | None:
        return None

    @property
    def stdout(self) -> ByteReceiveStream | None:
        return None

    @property
    def stderr(self) -> ByteReceiveStream | None:
        return None

    async def wait(self) -> int:
        await self._starter.until(lambda: self._returncode is not None)
        assert self._returncode is not None
        return self._returncode

    def send_signal(self, signal: signal.Signals) -> None:
        if self._returncode is None:
            self._starter.send({"op": "kill", "pid": self._pid, "sig": int(signal)})

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def aclose(self) -> None:
        await self.wait()

    def ended(self, status: int) -> None:
        # Popen's convention, as anyio's processes report it: negative for a signal.
        self._returncode = os.waitstatus_to_exitcode(status)


class RemoteStarter:
    """Starts processes through the client on ``conn`` and hears how they end."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._ids = itertools.count(1)
        self._reading = anyio.Lock()
        self._replies: dict[int, dict[str, Any]] = {}
        self._processes: dict[int, RemoteProcess] = {}
        self._early: dict[int, int] = {}  # statuses that came before their "spawned" was read
        self._peer_pid = _peer_pid(conn)

    @property
    def parent_pid(self) -> int:
        """The pid the started processes have as their parent: the client's."""
        return self._peer_pid

    def send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        try:
            protocol.send(self._conn, message, fds)
        except OSError as exc:
            raise ClientGone() from exc

    async def open_process(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        pass_fds: Sequence[int] = (),
    ) -> Process:
        path = _executable(command[0], env, cwd)
        ident = next(self._ids)
        self.send(
            {
                "op": "spawn",
                "id": ident,
                "path": path,
                "argv": list(command),
                "env": dict(env),
                "cwd": str(cwd),
                "targets": list(pass_fds),
            },
            pass_fds,
        )
        await self.until(lambda: ident in self._replies)
        reply = self._replies.pop(ident)
        if reply["op"] == "failed":
            code = int(reply["errno"])
            raise OSError(code, reply["strerror"], reply.get("filename") or command[0])
        process = RemoteProcess(self, int(reply["pid"]))
        self._processes[process.pid] = process
        if process.pid in self._early:
            process.ended(self._early.pop(process.pid))
        return process

    async def until(self, done: Callable[[], bool]) -> None:
        """Read and dispatch messages until ``done()``; one task reads at a time, and each
        looks at its condition again before reading (another may have read its message)."""
        while not done():
            async with self._reading:
                if done():
                    return
                await anyio.wait_readable(self._conn)
                try:
                    message, fds = protocol.receive(self._conn)
                except (OSError, protocol.ProtocolError) as exc:
                    raise ClientGone() from exc
                self._dispatch(message, fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        op = message.get("op")
        if op in ("spawned", "failed"):
            self._replies[int(message["id"])] = message
        elif op == "status":
            pid, status = int(message["pid"]), int(message["status"])
            process = self._processes.pop(pid, None)
            if process is None:
                self._early[pid] = status
            else:
                process.ended(status)


def _executable(name: str, env: Mapping[str, str], cwd: Path) -> str:
    """The file the client should execute for ``name``, found as subprocess finds it: a name
    with a slash as it is (relative to ``cwd``), else the first executable on the command's own
    PATH. A name found nowhere raises FileNotFoundError, as starting it locally would."""
    if "/" in name:
        return name
    denied: OSError | None = None
    for directory in os.get_exec_path(dict(env)):
        candidate = os.path.join(cwd, directory, name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = denied or PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    if denied is not None:
        raise denied
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _peer_pid(conn: socket.socket) -> int:
    import struct

    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[0])
