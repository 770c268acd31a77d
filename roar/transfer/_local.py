"""Local paths as a source (`roar get /mnt/data`) or a destination (`roar put x /backup/`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread

from roar.transfer._backend import CHUNK, RemoteObject, read_chunks
from roar.transfer._sink import Sink, StreamDigest, TransferError, disk_error
from roar.transfer.locations import Location


class LocalBackend:
    async def resolve(self, location: Location) -> tuple[list[RemoteObject], bool]:
        root = Path(location.key).expanduser().absolute()
        if root.is_file():
            return [RemoteObject(str(root), root.name, root.stat().st_size)], False
        if not root.is_dir():
            raise TransferError(f"{location.raw} does not exist")

        def walk() -> list[RemoteObject]:
            found = []
            for directory, _, files in os.walk(root):
                for name in files:
                    path = Path(directory) / name
                    if path.is_file():
                        rel = path.relative_to(root).as_posix()
                        found.append(RemoteObject(str(path), rel, path.stat().st_size))
            return sorted(found, key=lambda o: o.relpath)

        objects = await anyio.to_thread.run_sync(walk)
        if not objects:
            raise TransferError(f"{location.raw} is an empty directory")
        return objects, True

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
        target = Path(url.removeprefix("file://"))
        temp = target.with_name(f".{target.name}.roar-part")

        def copy() -> None:
            digest.reset()
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as src, open(temp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    digest.update(chunk)
                    progress(len(chunk))
            shutil.copymode(path, temp)
            os.replace(temp, target)

        try:
            await anyio.to_thread.run_sync(copy)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise disk_error(exc, target) from exc
        digest.complete = True
        return None

    async def aclose(self) -> None:
        pass
