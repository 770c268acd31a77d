"""https:// and http:// downloads (`roar get` only: there is no standard way to upload)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp

from roar.transfer._backend import CHUNK, RemoteObject
from roar.transfer._retry import TRANSIENT_STATUS, Transient, with_retries
from roar.transfer._sink import Sink, StreamDigest, TransferError
from roar.transfer.locations import Location


class HttpBackend:
    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._concurrency),
                timeout=timeout,
                auto_decompress=False,  # the bytes as served are what is recorded
            )
        return self._session

    async def resolve(self, location: Location) -> tuple[list[RemoteObject], bool]:
        name = location.basename
        if not name:
            raise TransferError(f"{location.raw}: the URL names no file; give a DEST file name")
        return [RemoteObject(location.raw, name, None)], False

    async def download(self, obj: RemoteObject, sink: Sink) -> str | None:
        await sink.open()
        validator: str | None = None
        resumable = False

        async def attempt(_: int) -> str | None:
            nonlocal validator, resumable
            headers = {}
            if sink.written and resumable and validator:
                headers = {"Range": f"bytes={sink.written}-", "If-Range": validator}
            elif sink.written:
                await sink.restart()
            async with self._client().get(obj.url, headers=headers) as response:
                if response.status in TRANSIENT_STATUS:
                    raise Transient(f"{obj.url}: {response.status} {response.reason}")
                if response.status == 404:
                    raise TransferError(f"{obj.url} does not exist (404 {response.reason})")
                if response.status in (401, 403):
                    raise TransferError(f"access denied to {obj.url} ({response.status})")
                if response.status not in (200, 206):
                    raise TransferError(f"{obj.url}: {response.status} {response.reason}")
                if response.status == 200 and sink.written:
                    await sink.restart()  # the server sent it whole again
                validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
                resumable = response.headers.get("Accept-Ranges", "").lower() == "bytes"
                expected = response.content_length
                got = 0
                async for chunk in response.content.iter_chunked(CHUNK):
                    await sink.write(chunk)
                    got += len(chunk)
                if expected is not None and got < expected:
                    raise Transient(f"{obj.url}: the connection closed after {got} bytes")
            # The validator only resumes the download. An HTTP ETag (or a date) is no content
            # digest: recorded as roar's "etag" it would make unrelated files one artifact.
            return None

        return await with_retries(attempt, f"downloading {obj.url}")

    async def upload(
        self,
        path: Path,
        size: int,
        url: str,
        progress: Callable[[int], None],
        digest: StreamDigest,
    ) -> str | None:
        raise TransferError(f"{url}: http(s) is download only; put to s3://, gs:// or a directory")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
