"""Writing a download: hashed as it arrives, in a temporary file renamed over the target at the end.

So the target is whole or untouched: a failed, cut or mismatched download leaves no partial file
where the final one should be (the temporary ``.<name>.roar-part`` is removed). Writes and hash
updates run on a worker thread per batch (blake3 and hashlib release the GIL), so many downloads
hash in parallel while the loop keeps the sockets busy.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import blake3

from roar.errors import RoarError


class TransferError(RoarError):
    """A transfer failed: one line for the user, exit 1 (2 for what they must fix first)."""


def new_hashers(algorithms: Sequence[str]) -> dict[str, Any]:
    hashers: dict[str, Any] = {"blake3": blake3.blake3(max_threads=1)}
    for name in algorithms:
        if name != "blake3":
            hashers[name] = hashlib.new(name)
    return hashers


def disk_error(exc: OSError, target: Path) -> TransferError:
    if exc.errno == errno.ENOSPC:
        return TransferError(f"no space left on the device writing {target}")
    if exc.errno == errno.EDQUOT:
        return TransferError(f"disk quota exceeded writing {target}")
    return TransferError(f"cannot write {target}: {exc.strerror or exc}")


class StreamDigest:
    """Digests of bytes as they are sent (an upload hashed in the same pass that reads it).

    ``complete`` is set by the backend once the bytes it hashed are exactly what was stored; a
    retry starts over with :meth:`reset`."""

    def __init__(self, algorithms: Sequence[str]) -> None:
        self.algorithms = tuple(algorithms)
        self.reset()

    def reset(self) -> None:
        self._hashers = new_hashers(self.algorithms)
        self.size = 0
        self.complete = False
        self._final: dict[str, str] | None = None

    def set_result(self, digests: dict[str, str], size: int) -> None:
        """The digests found another way (a multipart upload's combined part subtrees)."""
        self._final = dict(digests)
        self.size = size
        self.complete = True

    def update(self, chunk: bytes | bytearray) -> None:
        for hasher in self._hashers.values():
            hasher.update(chunk)
        self.size += len(chunk)

    def digests(self) -> dict[str, str]:
        if self._final is not None:
            return dict(self._final)
        return {name: h.hexdigest() for name, h in self._hashers.items()}


class PartDigest:
    """The BLAKE3 subtree of one part of a multipart upload (combined into the object's BLAKE3
    by :func:`roar.hashing.tree.combine`: the object is hashed in the pass that sends it)."""

    def __init__(self, offset: int) -> None:
        from roar.hashing.tree import CHUNK_LEN

        self._first_chunk = offset // CHUNK_LEN
        self.reset()

    def reset(self) -> None:
        import roar.hashing._b3tree as b3tree

        self._subtree = b3tree.Subtree(self._first_chunk)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._subtree.update(chunk)
        self.size += len(chunk)

    def output(self) -> bytes:
        return self._subtree.output()


# Socket reads arrive in pieces of a few KiB; they are gathered to this size before one trip
# to the worker thread writes and hashes them.
BATCH = 256 * 1024


class Sink:
    """One file being downloaded. ``restart`` discards what was written (a retry from zero)."""

    def __init__(
        self, target: Path, algorithms: Sequence[str], progress: Callable[[int], None]
    ) -> None:
        self.target = target
        self._progress = progress
        self.temp = target.with_name(f".{target.name}.roar-part")
        self._file: Any = None
        self._digest = StreamDigest(algorithms)
        self.written = 0
        self._pending = bytearray()

    async def open(self) -> None:
        def _open() -> Any:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            return open(self.temp, "wb")

        try:
            self._file = await anyio.to_thread.run_sync(_open)
        except OSError as exc:
            raise disk_error(exc, self.target) from exc

    async def write(self, chunk: bytes) -> None:
        """Take ``chunk`` (written out once a batch has gathered; ``flush`` writes the rest)."""
        self._pending += chunk
        self.written += len(chunk)
        self._progress(len(chunk))
        if len(self._pending) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        data, self._pending = self._pending, bytearray()  # handed over, not copied

        def _write() -> None:
            self._file.write(data)
            self._digest.update(data)

        try:
            await anyio.to_thread.run_sync(_write)
        except OSError as exc:
            raise disk_error(exc, self.target) from exc

    async def restart(self) -> None:
        """Back to an empty file (the server could not resume)."""
        self._progress(-self.written)
        self.written = 0
        self._pending.clear()
        self._digest.reset()
        await anyio.to_thread.run_sync(lambda: (self._file.seek(0), self._file.truncate()))

    def digests(self) -> dict[str, str]:
        """Of everything written so far (after :meth:`flush`)."""
        return self._digest.digests()

    async def commit(self) -> dict[str, str]:
        """Flush, close and rename over the target; the digests of what was written."""
        await self.flush()

        def _commit() -> None:
            # No fsync: like curl and the aws CLI (a thousand fsyncs cost more than the
            # transfer of small files); a file lost to a crash is downloaded again.
            self._file.close()
            os.replace(self.temp, self.target)

        try:
            await anyio.to_thread.run_sync(_commit)
        except OSError as exc:
            await self.discard()
            raise disk_error(exc, self.target) from exc
        return self.digests()

    async def discard(self) -> None:
        def _discard() -> None:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
            with contextlib.suppress(OSError):
                self.temp.unlink()

        await anyio.to_thread.run_sync(_discard)
