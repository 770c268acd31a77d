"""What every object store does for `roar get` and `roar put`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from roar.transfer._sink import PartDigest, Sink, StreamDigest
    from roar.transfer.locations import Location

CHUNK = 1 << 20  # bytes read from a socket or a file at a time


@dataclass(frozen=True, slots=True)
class RemoteObject:
    url: str  # where it is (s3://bucket/key, https://..., a local path)
    relpath: str  # its path under the requested prefix (its name, for a single object)
    size: int | None
    etag: str | None = None


def objects_at(
    location: Location, listed: list[tuple[str, int, str | None]]
) -> tuple[list[RemoteObject], bool]:
    """What a bucket listing under ``location.key`` means (pure): the object of that very key,
    else everything under ``key/`` (or under the prefix it names) as one composite. "Directory"
    marker keys ending in ``/`` are not objects. Raises TransferError when nothing is there."""
    from roar.transfer._sink import TransferError

    base = location.key
    if not location.names_prefix:
        exact = [item for item in listed if item[0] == location.key]
        if exact:
            _, size, etag = exact[0]
            return [RemoteObject(location.raw, location.basename, size, etag)], False
        base = location.key + "/"
    objects = [
        RemoteObject(f"{location.scheme}://{location.bucket}/{key}", key[len(base) :], size, etag)
        for key, size, etag in listed
        if key.startswith(base) and not key.endswith("/")
    ]
    if not objects:
        raise TransferError(f"{location.raw} does not exist (no object at that key or under it)")
    return objects, True


class Backend(Protocol):
    async def resolve(self, location: Location) -> tuple[list[RemoteObject], bool]:
        """The objects at ``location`` and whether it is a prefix (a composite) rather than one
        object; raises TransferError when there is nothing there."""
        ...

    async def download(self, obj: RemoteObject, sink: Sink) -> str | None:
        """Stream ``obj`` into ``sink`` (retrying and resuming); its ETag when known."""
        ...

    async def upload(
        self,
        path: Path,
        size: int,
        url: str,
        progress: Callable[[int], None],
        digest: StreamDigest,
    ) -> str | None:
        """Send the file at ``path`` to ``url``; the stored object's ETag when known. Hashes
        what it sends into ``digest`` (and marks it complete) when it can do so in one pass."""
        ...

    async def aclose(self) -> None: ...


async def read_chunks(  # type: ignore[no-untyped-def]
    path: Path,
    start: int,
    length: int,
    progress: Callable[[int], None],
    digest: StreamDigest | PartDigest | None = None,
):
    """The bytes [start, start+length) of ``path``, CHUNK at a time, read (and hashed into
    ``digest``, in the same trip) on a worker thread."""
    import anyio.to_thread

    handle = await anyio.to_thread.run_sync(lambda: open(path, "rb"))  # noqa: SIM115

    def read(size: int) -> bytes:
        chunk: bytes = handle.read(size)
        if digest is not None:
            digest.update(chunk)
        return chunk

    try:
        await anyio.to_thread.run_sync(handle.seek, start)
        left = length
        while left > 0:
            chunk = await anyio.to_thread.run_sync(read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            progress(len(chunk))
            yield chunk
    finally:
        handle.close()
