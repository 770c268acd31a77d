"""gs:// through google-cloud-storage (its own client on worker threads), when it is installed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread

from roar.transfer._backend import CHUNK, RemoteObject, objects_at
from roar.transfer._sink import Sink, StreamDigest, TransferError
from roar.transfer.locations import Location

MISSING = (
    "gs:// needs the google-cloud-storage package, which is not installed "
    "(pip install google-cloud-storage)"
)


async def _call(what: str, function: Any, *args: Any) -> Any:
    """``function(*args)`` on a worker thread, Google's errors turned into one-line ones."""
    from google.api_core import exceptions  # type: ignore[import-not-found,import-untyped,unused-ignore]

    try:
        return await anyio.to_thread.run_sync(function, *args)
    except exceptions.NotFound as exc:
        raise TransferError(f"{what} does not exist ({exc.code} {exc.message})") from exc
    except exceptions.Forbidden as exc:
        raise TransferError(f"access denied to {what} ({exc.code} {exc.message})") from exc
    except exceptions.GoogleAPIError as exc:
        raise TransferError(f"{what}: {exc}") from exc


class GcsBackend:
    def __init__(self) -> None:
        try:
            from google.cloud import storage  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError as exc:
            raise TransferError(MISSING, exit_code=2) from exc
        self._storage: Any = storage
        self._client: Any = None

    def _bucket(self, name: str) -> Any:
        if self._client is None:
            try:
                self._client = self._storage.Client()
            except Exception as exc:  # google.auth raises its own DefaultCredentialsError
                raise TransferError(
                    f"no Google Cloud credentials for gs://: {exc}", exit_code=2
                ) from exc
        return self._client.bucket(name)

    async def resolve(self, location: Location) -> tuple[list[RemoteObject], bool]:
        def listing() -> list[tuple[str, int, str | None]]:
            blobs = self._bucket(location.bucket).list_blobs(prefix=location.key)
            # Not the blob's etag: GCS's is an opaque version tag, and under roar's "etag"
            # digest it would claim content identity with unrelated objects.
            return [(b.name, int(b.size or 0), None) for b in blobs]

        return objects_at(location, await _call(location.raw, listing))

    async def download(self, obj: RemoteObject, sink: Sink) -> str | None:
        bucket, _, key = obj.url.removeprefix("gs://").partition("/")
        await sink.open()
        blob = self._bucket(bucket).blob(key)
        reader = await _call(obj.url, lambda: blob.open("rb"))
        try:
            while chunk := await _call(obj.url, reader.read, CHUNK):
                await sink.write(chunk)
        finally:
            reader.close()
        return None

    async def upload(
        self,
        path: Path,
        size: int,
        url: str,
        progress: Callable[[int], None],
        digest: StreamDigest,
    ) -> str | None:
        bucket, _, key = url.removeprefix("gs://").partition("/")
        blob = self._bucket(bucket).blob(key)
        await _call(url, blob.upload_from_filename, str(path))
        progress(size)
        return None

    async def aclose(self) -> None:
        pass
