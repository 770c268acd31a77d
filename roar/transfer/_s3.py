"""S3 for `roar get` / `roar put`: aiohttp on the event loop, requests signed by botocore's SigV4.

The same pieces as the proxy (credentials through botocore's chain, ``S3SigV4Auth``, path-style
URLs for custom endpoints and virtual-host ones for AWS): no boto3 client, so one loop and one
connection pool drive hundreds of transfers at once. The endpoint is ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` when set (MinIO, moto, R2...), else AWS in ``AWS_REGION`` (us-east-1).

Downloads resume where they stopped (``Range`` + ``If-Match`` on the ETag) after a dropped
connection; uploads over :data:`MULTIPART_THRESHOLD` go in parts, several at a time, each part
retried on its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.to_thread
from yarl import URL

from roar.s3.urls import AWS_UPSTREAM, host_header, upstream_url
from roar.s3.xml import (
    complete_request,
    read_error,
    read_list_page,
    read_result,
    read_upload_id,
    unquote_etag,
)
from roar.transfer._backend import CHUNK, RemoteObject, objects_at, read_chunks
from roar.transfer._retry import TRANSIENT_STATUS, Transient, with_retries
from roar.transfer._sink import PartDigest, Sink, StreamDigest, TransferError
from roar.transfer.locations import Location

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MIN_PART = 64 * 1024 * 1024
MAX_PARTS = 10_000


class S3Backend:
    def __init__(self, concurrency: int) -> None:
        self._concurrency = concurrency
        self._identity: Any = None
        self._session: aiohttp.ClientSession | None = None
        self._parts = anyio.CapacityLimiter(concurrency)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        self._upstream = (endpoint or AWS_UPSTREAM).rstrip("/")
        self._region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    async def _ready(self) -> tuple[aiohttp.ClientSession, Any, str]:
        if self._identity is None:
            from roar.s3.signing import CredentialsError, load_identity

            try:
                self._identity = await anyio.to_thread.run_sync(load_identity)
            except CredentialsError as exc:
                raise TransferError(
                    "no AWS credentials for S3 (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or AWS_PROFILE, or run 'aws configure')",
                    exit_code=2,
                ) from exc
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._concurrency * 2)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False
            )
        region = self._region or self._identity.region or "us-east-1"
        return self._session, self._identity, region

    async def _request(
        self,
        method: str,
        bucket: str,
        key: str | None,
        query: list[tuple[str, str | None]],
        *,
        headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
        data: Any = None,
        length: int | None = None,
    ) -> aiohttp.ClientResponse:
        """A signed request; the response is the caller's to read and release."""
        from roar.s3.signing import frozen, needs_refresh, sign

        session, identity, region = await self._ready()
        credentials = (
            await anyio.to_thread.run_sync(frozen, identity)
            if needs_refresh(identity)
            else frozen(identity)
        )
        url = upstream_url(self._upstream, region, bucket, key, query)
        to_sign = [("host", host_header(url)), *headers]
        signed = sign(
            credentials, method, url, to_sign, region=region, payload_hash=UNSIGNED_PAYLOAD
        )
        if length is not None:
            signed.append(("Content-Length", str(length)))
        return await session.request(
            method, URL(url, encoded=True), headers=signed, data=data, allow_redirects=False
        )

    async def _fail(self, response: aiohttp.ClientResponse, what: str) -> TransferError:
        body = await response.read()
        code, message = read_error(body)
        if response.status in TRANSIENT_STATUS or code in ("SlowDown", "InternalError"):
            raise Transient(f"{what}: {response.status} {code or response.reason}")
        detail = f"{response.status} {code or response.reason}" + (
            f": {message}" if message else ""
        )
        if response.status == 403:
            return TransferError(f"access denied to {what} ({detail})")
        if response.status == 404:
            return TransferError(f"{what} does not exist ({detail})")
        return TransferError(f"{what}: {detail}")

    async def resolve(self, location: Location) -> tuple[list[RemoteObject], bool]:
        return objects_at(location, await self._list(location.bucket, location.key))

    async def _list(self, bucket: str, prefix: str) -> list[tuple[str, int, str | None]]:
        found: list[tuple[str, int, str | None]] = []
        token: str | None = None
        while True:
            query: list[tuple[str, str | None]] = [("list-type", "2"), ("prefix", prefix)]
            if token:
                query.append(("continuation-token", token))

            async def attempt(_: int, query: list[tuple[str, str | None]] = query) -> bytes:
                async with await self._request("GET", bucket, None, query) as response:
                    if response.status != 200:
                        raise await self._fail(response, f"s3://{bucket}/{prefix}")
                    return await response.read()

            page = read_list_page(await with_retries(attempt, f"listing s3://{bucket}/{prefix}"))
            if page is None:
                raise TransferError(f"listing s3://{bucket}/{prefix}: unreadable answer")
            found += page.objects
            token = page.next_token
            if token is None:
                return found

    async def download(self, obj: RemoteObject, sink: Sink) -> str | None:
        bucket, _, key = obj.url.removeprefix("s3://").partition("/")
        etag = obj.etag
        await sink.open()

        async def attempt(number: int) -> str | None:
            nonlocal etag
            headers: list[tuple[str, str]] = []
            if sink.written and etag:
                headers = [("range", f"bytes={sink.written}-"), ("if-match", f'"{etag}"')]
            elif sink.written:
                await sink.restart()
            async with await self._request("GET", bucket, key, [], headers=headers) as response:
                if response.status == 412:  # changed while we were reading it: start over
                    await sink.restart()
                    raise Transient(f"{obj.url} changed during the download")
                if response.status not in (200, 206):
                    raise await self._fail(response, obj.url)
                if response.status == 200 and sink.written:
                    await sink.restart()
                etag = unquote_etag(response.headers.get("ETag")) or etag
                async for chunk in response.content.iter_chunked(CHUNK):
                    await sink.write(chunk)
            if obj.size is not None and sink.written != obj.size:
                raise Transient(f"{obj.url}: got {sink.written} of {obj.size} bytes")
            return etag

        return await with_retries(attempt, f"downloading {obj.url}")

    async def upload(
        self,
        path: Path,
        size: int,
        url: str,
        progress: Callable[[int], None],
        digest: StreamDigest,
    ) -> str | None:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if size <= MULTIPART_THRESHOLD:
            etag = await self._put(bucket, key, path, 0, size, [], url, progress, digest)
            digest.complete = digest.size == size
            return etag
        # BLAKE3 only can be had in the same pass (part subtrees combine); others are not.
        parts: dict[int, PartDigest] | None = {} if set(digest.algorithms) <= {"blake3"} else None
        etag = await self._multipart(bucket, key, path, size, url, progress, parts)
        if parts is not None:
            from roar.hashing.tree import combine

            ordered = sorted(parts)
            outputs = [parts[n].output() for n in ordered]
            sizes = [parts[n].size for n in ordered]
            if sum(sizes) == size:
                digest.set_result({"blake3": combine(outputs, sizes)}, size)
        return etag

    async def _put(
        self,
        bucket: str,
        key: str,
        path: Path,
        start: int,
        length: int,
        query: list[tuple[str, str | None]],
        url: str,
        progress: Callable[[int], None],
        digest: StreamDigest | PartDigest | None = None,
    ) -> str | None:
        async def attempt(_: int) -> str | None:
            sent = 0
            if digest is not None:
                digest.reset()

            def count(n: int) -> None:
                nonlocal sent
                sent += n
                progress(n)

            try:
                async with await self._request(
                    "PUT",
                    bucket,
                    key,
                    query,
                    data=read_chunks(path, start, length, count, digest),
                    length=length,
                ) as response:
                    if response.status != 200:
                        raise await self._fail(response, url)
                    return unquote_etag(response.headers.get("ETag"))
            except BaseException:
                progress(-sent)  # the retry sends these bytes again
                raise

        async with self._parts:
            return await with_retries(attempt, f"uploading {url}")

    async def _multipart(
        self,
        bucket: str,
        key: str,
        path: Path,
        size: int,
        url: str,
        progress: Callable[[int], None],
        subtrees: dict[int, PartDigest] | None,
    ) -> str | None:
        # A power of two: each part is then a whole BLAKE3 subtree of the object.
        part_size = max(MIN_PART, 1 << (math.ceil(size / MAX_PARTS) - 1).bit_length())
        count = math.ceil(size / part_size)

        async def create(_: int) -> str:
            async with await self._request("POST", bucket, key, [("uploads", "")]) as response:
                if response.status != 200:
                    raise await self._fail(response, url)
                upload_id = read_upload_id(await response.read())
            if not upload_id:
                raise TransferError(f"{url}: the server started no multipart upload")
            return upload_id

        upload_id = await with_retries(create, f"starting the upload of {url}")
        etags: dict[int, str] = {}
        try:
            async with anyio.create_task_group() as tg:
                for number in range(1, count + 1):

                    async def part(number: int = number) -> None:
                        start = (number - 1) * part_size
                        query: list[tuple[str, str | None]] = [
                            ("partNumber", str(number)),
                            ("uploadId", upload_id),
                        ]
                        length = min(part_size, size - start)
                        digest = None
                        if subtrees is not None:
                            digest = subtrees[number] = PartDigest(start)
                        etag = await self._put(
                            bucket, key, path, start, length, query, url, progress, digest
                        )
                        etags[number] = etag or ""

                    tg.start_soon(part)
            body = complete_request(etags)

            async def complete(_: int) -> str | None:
                async with await self._request(
                    "POST", bucket, key, [("uploadId", upload_id)], data=body, length=len(body)
                ) as response:
                    if response.status != 200:
                        raise await self._fail(response, url)
                    # S3 may answer 200 and an <Error> document once the parts are joined.
                    result = read_result(await response.read())
                if result.error in ("SlowDown", "InternalError"):
                    raise Transient(f"{url}: {result.error}")
                if result.error:
                    raise TransferError(f"{url}: completing the upload failed: {result.error}")
                return result.etag

            return await with_retries(complete, f"completing the upload of {url}")
        except BaseException:
            with anyio.CancelScope(shield=True):
                try:
                    async with await self._request(
                        "DELETE", bucket, key, [("uploadId", upload_id)]
                    ) as response:
                        await response.read()
                except (aiohttp.ClientError, TransferError):
                    pass  # the bucket's lifecycle rules clean up what is left
            raise

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
