"""Messages between `roar run` and the resident roar: length-prefixed ``marshal`` frames.

Both ends are the same interpreter running the same roar (the socket's name says so), which is
what makes ``marshal`` safe and cheap here: no import, no schema, dicts of str/int/list/None.
File descriptors travel with the frame header as SCM_RIGHTS, so they arrive with their message.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import socket
import struct

# `typing` and `collections.abc` cost ~9 ms to import, more than a resident `roar run` spends
# before its command starts: this module is on that path, so they are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

_HEADER = struct.Struct("<II")  # payload length, number of descriptors
MAX_FDS = 16
MAX_FRAME = 64 << 20


class ProtocolError(Exception):
    """The peer closed the connection or sent something that is not a frame."""


def send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    payload = marshal.dumps(message)
    header = _HEADER.pack(len(payload), len(fds))
    if fds:
        socket.send_fds(sock, [header], list(fds))
        sock.sendall(payload)
    else:
        sock.sendall(header + payload)


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The next message and the descriptors that came with it (owned by the caller)."""
    header, fds, _flags, _address = socket.recv_fds(sock, _HEADER.size, MAX_FDS)
    try:
        if not header:
            raise ProtocolError("connection closed")
        header += _exactly(sock, _HEADER.size - len(header))
        length, count = _HEADER.unpack(header)
        if length > MAX_FRAME or count != len(fds):
            raise ProtocolError("malformed frame")
        try:
            message = marshal.loads(_exactly(sock, length))
        except (ValueError, EOFError, TypeError) as exc:
            raise ProtocolError(f"malformed frame: {exc}") from None
        if not isinstance(message, dict):
            raise ProtocolError("malformed frame")
    except BaseException:
        for fd in fds:
            _close(fd)
        raise
    return message, fds


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed mid-frame")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
