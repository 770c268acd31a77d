"""Local paths as a source (`roar get /mnt/data`) or a destination (`roar put x /backup/`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread

from roar.transfer._backend import RemoteObject, read_chunks
from roar.transfer._sink import Sink, StreamDigest, TransferError
from roar.transfer.locations import Location

# A roar project's own state is never part of a directory that is copied or uploaded.
SKIPPED_DIRS = frozenset({".roar"})


def files_under(root: Path) -> list[tuple[Path, str]]:
    """Every regular file under ``root`` with its POSIX path relative to it, sorted by that
    path (blocking: run it on a worker thread)."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            path = Path(directory) / name
            if path.is_file():
                found.append((path, path.relative_to(root).as_posix()))
    return sorted(found, key=lambda item: item[1])


class LocalBackend:
    async def resolve(self, location: Location) -> tuple[list[RemoteObject], bool]:
        root = Path(location.key).expanduser().absolute()
        if root.is_file():
            return [RemoteObject(str(root), root.name, root.stat().st_size)], False
        if not root.is_dir():
            raise TransferError(f"{location.raw} does not exist")
        files = await anyio.to_thread.run_sync(files_under, root)
        if not files:
            raise TransferError(f"{location.raw} is an empty directory")
        return [RemoteObject(str(p), rel, p.stat().st_size) for p, rel in files], True

    async def download(self, obj: RemoteObject, sink: Sink) -> str | None:
        await sink.open()
        try:
            async for chunk in read_chunks(Path(obj.url), 0, obj.size or 0, lambda _: None):
                await sink.write(chunk)
        except OSError as exc:
            raise TransferError(f"cannot read {obj.url}: {exc.strerror or exc}") from exc
        return None

    async def upload(
        self,
        path: Path,
        size: int,
        url: str,
        progress: Callable[[int], None],
        digest: StreamDigest,
    ) -> str | None:
        """A copy is a download the other way round: whole at the target or not at all."""
        target = Path(url.removeprefix("file://"))
        sink = Sink(target, digest.algorithms, progress)
        await sink.open()
        try:
            async for chunk in read_chunks(path, 0, size, lambda _: None):
                await sink.write(chunk)
            digests = await sink.commit()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sink.discard()
            raise
        await anyio.to_thread.run_sync(shutil.copymode, path, target)
        digest.set_result(digests, sink.written)
        return None

    async def aclose(self) -> None:
        pass
