"""One proxy's request handling: check, re-sign, forward, stream back, record (asyncio only).

The handler moves bytes and counts them; every decision about what a request is, how its body
crosses, and what lineage it makes is taken by the pure modules beside this one. Bodies are
streamed in both directions through aiohttp's flow-controlled readers, so memory stays flat
whatever the object size; only the small XML bodies whose outcome matters (multipart
completion, copies, multi-object deletes) are also kept, capped at 4 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import anyio.to_thread
from aiohttp import web
from yarl import URL

from roar.proxy._body import BodyState, BodyTimeout, BodyWatch, ClientGone, Counter, Limits
from roar.proxy._body_plan import REENCODE_CHUNK, BodyPlan, plan_body
from roar.proxy._chunked import ChunkedDecoder, ChunkedEncoder, ChunkedFormatError
from roar.proxy._classify import (
    MalformedRequest,
    S3Call,
    bucket_region,
    classify,
    copy_source,
    forward_response_headers,
    must_sign,
    signed_service,
    valid_job_id,
)
from roar.proxy._errors_http import xml_response
from roar.proxy._multipart import (
    ObjectDigest,
    PartHashing,
    PartRecord,
    object_digest,
    plan_part,
)
from roar.proxy._queue import EventQueue
from roar.proxy._record import Exchange, build_events, multipart_size
from roar.proxy._verify import ClientKey, Refused, verify
from roar.s3 import signing
from roar.s3.urls import host_header, region_routed, upstream_url
from roar.s3.xml import read_complete_parts, unquote_etag

log = logging.getLogger("roar.proxy")


_REQUEST_XML_OPS = frozenset({"CompleteMultipartUpload", "DeleteObjects"})


_RESPONSE_XML_OPS = frozenset(
    {"CompleteMultipartUpload", "CopyObject", "UploadPartCopy", "DeleteObjects"}
)


_MAX_TRACKED_UPLOADS = 10_000


# How long a part that cannot be placed yet waits for part 1 (and so the part size) to arrive.
_PART_SIZE_WAIT = 1.0


class Forwarder:
    """One proxy's state: signer, HTTP client pool, bucket regions, multipart bookkeeping."""

    def __init__(
        self,
        *,
        identity: signing.Identity,
        upstream: str,
        region: str,
        http: aiohttp.ClientSession,
        uploads_http: aiohttp.ClientSession,
        limits: Limits,
        sink: EventQueue,
        job_id: str | None,
        session_id: str | None,
        client_key: ClientKey,
        verify_clients: bool = True,
        upstream_is_roar: bool = False,
    ) -> None:
        self._identity = identity
        self._client_key = client_key
        self._verify_clients = verify_clients
        self._upstream = upstream
        self._region = region
        self._http = http
        self._uploads_http = uploads_http
        self._limits = limits
        # One semaphore per signing key: lazily made, a handful per proxy (the owner's key,
        # the proxy's own pair), so never trimmed.
        self._upload_slots: dict[str, asyncio.Semaphore] = {}
        self._sink = sink
        self._job_id = job_id
        self._session_id = session_id
        # The upstream is another roar proxy (a job's proxy chained to the project's daemon):
        # it is told whose request this is, so it files the event under the same job instead of
        # a session job of its own -- the job's edges are then recorded once, not twice.
        self._upstream_is_roar = upstream_is_roar
        self._regions: dict[str, str] = {}
        self._uploads: OrderedDict[str, _Upload] = OrderedDict()

    # -- entry point -------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """aiohttp handler: never raises for a bad request, answers in S3's XML error format."""
        started = time.monotonic()
        try:
            response, summary = await self._handle(request)
        except MalformedRequest as exc:
            response, summary = xml_response(exc.status, exc.code, str(exc)), f"{exc.code}"
        except Refused as exc:
            response, summary = xml_response(exc.status, exc.code, str(exc)), f"{exc.code}"
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug must cost one request, never the daemon
            log.error("internal error on %s: %s: %s", request.method, type(exc).__name__, exc)
            response = xml_response(500, "InternalError", f"roar proxy: {type(exc).__name__}")
            summary = "InternalError"
        log.info("%s %s %.1f ms", summary, response.status, (time.monotonic() - started) * 1000)
        return response

    async def _handle(self, request: web.BaseRequest) -> tuple[web.StreamResponse, str]:
        headers = [(k, v) for k, v in request.headers.items()]
        lower = {k.lower(): v for k, v in reversed(headers)}
        service = signed_service(lower.get("authorization"))
        if service is not None and service not in {"s3", "s3express"}:
            raise MalformedRequest(
                f"the roar S3 proxy received a request signed for '{service}'; point only S3 at "
                "it (set AWS_ENDPOINT_URL_S3 rather than AWS_ENDPOINT_URL)",
                code="NotS3Request",
            )
        call = classify(request.method, lower.get("host", ""), request.raw_path, lower)
        client = "*"
        if self._verify_clients:
            # Before anything goes upstream (and before a 100 Continue invites the body).
            client = await self._authorize(request.method, request.raw_path, headers, call)
        plan = plan_body(request.method, headers)
        job_id = valid_job_id(lower.get("roar-job-id")) or self._job_id
        summary = call.loggable
        if plan.mode != "none" and lower.get("expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        req_counter = Counter(
            hashing=call.op == "PutObject",
            keep=call.op in _REQUEST_XML_OPS,
        )
        part = None
        if call.op == "UploadPart" and plan.mode != "none":
            part = await self._plan_part(call, plan.payload_length, req_counter)
        if plan.mode != "none" and call.bucket is not None and call.bucket not in self._regions:
            await self._learn_region(call.bucket)
        source = None
        if call.op in {"CopyObject", "UploadPartCopy"}:
            # A copy's answer names neither the source's size nor its ETag. One HEAD first
            # makes the source an identifiable input, as it is when copied: asked afterwards,
            # a copy-then-delete ("move") would race it.
            source = await self._head_source(lower.get("x-amz-copy-source", ""))
        state = BodyState()
        if plan.mode == "none":
            return await self._exchange(
                request, call, plan, None, lower, job_id, req_counter, state, source, summary, part
            )
        slots = self._upload_slots.get(client)
        if slots is None:
            slots = self._upload_slots[client] = asyncio.Semaphore(self._limits.uploads_per_client)
        async with slots:
            watch = BodyWatch(request, self._limits.body_timeout)
            try:
                body = self._body(request, plan, req_counter, state, watch)
                return await self._exchange(
                    request,
                    call,
                    plan,
                    body,
                    lower,
                    job_id,
                    req_counter,
                    state,
                    source,
                    summary,
                    part,
                )
            finally:
                watch.stop()

    async def _exchange(
        self,
        request: web.BaseRequest,
        call: S3Call,
        plan: BodyPlan,
        body: AsyncIterator[bytes] | None,
        lower: dict[str, str],
        job_id: str | None,
        req_counter: Counter,
        state: BodyState,
        source: tuple[int | None, str | None] | None,
        summary: str,
        part: PartHashing | None,
    ) -> tuple[web.StreamResponse, str]:
        """Send one request upstream, relay the answer, record what it did."""
        try:
            upstream = await self._send(request.method, call, plan, body, job_id=job_id)
        except (aiohttp.ClientError, OSError, TimeoutError, ClientGone, ChunkedFormatError) as exc:
            if isinstance(state.error, BodyTimeout):
                return xml_response(400, "RequestTimeout", f"roar proxy: {state.error}"), summary
            if isinstance(state.error, ChunkedFormatError):
                return xml_response(400, "InvalidRequest", str(state.error)), summary
            if state.error is not None:
                return xml_response(400, "IncompleteBody", f"roar proxy: {state.error}"), summary
            where = self._upstream.replace("{region}", self._region_of(call.bucket))
            reason = str(exc) or type(exc).__name__
            return (
                xml_response(
                    502,
                    "BadGateway",
                    f"roar proxy: cannot reach the S3 upstream {where}: {reason}",
                    call.url,
                ),
                summary,
            )

        try:
            response, resp_counter, complete = await self._relay(request, call, upstream)
        finally:
            upstream.release()
        req_counter.finish(state.error is None and req_counter.count == plan.payload_length)
        resp_counter.finish(complete)
        if state.error is not None:
            # The upstream answered although the body broke off; nothing was stored whole.
            return response, summary
        try:
            self._record(
                call, lower, upstream, job_id, req_counter, resp_counter, complete, source, part
            )
        except Exception as exc:  # lineage bookkeeping must never break the transfer
            log.error("%s: events not recorded: %s: %s", summary, type(exc).__name__, exc)
        return response, summary

    async def _authorize(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], call: S3Call
    ) -> str:
        """Refuse a request not signed with the proxy's key pair or the owner's credentials.

        Returns the access key id that signed it (the client, for the per-client upload cap).
        """
        owner = await self._credentials()
        client = self._client_key

        def secret_for(key_id: str) -> str | None:
            if key_id == client.access_key_id:
                return client.secret_access_key
            if key_id == owner.access_key:
                return str(owner.secret_key)
            return None

        return verify(
            method,
            raw_path,
            headers,
            secret_for,
            bucket=call.bucket,
            virtual_host=call.style == "virtual",
        )

    def _record(
        self,
        call: S3Call,
        lower: dict[str, str],
        upstream: aiohttp.ClientResponse,
        job_id: str | None,
        req_counter: Counter,
        resp_counter: Counter,
        complete: bool,
        source: tuple[int | None, str | None] | None,
        part: PartHashing | None,
    ) -> None:
        status = upstream.status
        resp_headers = {k.lower(): v for k, v in reversed(list(upstream.headers.items()))}
        if call.op == "UploadPart" and status == 200 and part is not None:
            self._remember_part(call, req_counter, resp_headers.get("etag"), part)
        size = None
        digest: ObjectDigest | None = None
        if call.op == "CompleteMultipartUpload" and status == 200:
            upload = self._uploads.pop(call.param("uploadId") or "", _Upload())
            request_xml = bytes(req_counter.kept)
            size = multipart_size(
                request_xml, {n: (r.size, r.etag) for n, r in upload.parts.items()}
            )
            listed = read_complete_parts(request_xml) or []
            if size is None:
                digest = ObjectDigest(
                    note="some parts did not pass through the proxy whole, or were uploaded "
                    "again since: the object was not hashed"
                )
            else:
                digest = object_digest([n for n, _ in listed], upload.parts)
        elif call.op == "AbortMultipartUpload" and status in {200, 204}:
            self._uploads.pop(call.param("uploadId") or "", None)
        exchange = Exchange(
            call=call,
            request_headers=lower,
            status=status,
            response_headers=resp_headers,
            request_bytes=req_counter.count,
            request_blake3=req_counter.digest,
            response_bytes=resp_counter.count,
            response_blake3=resp_counter.digest,
            response_complete=complete,
            request_xml=bytes(req_counter.kept),
            response_xml=bytes(resp_counter.kept),
            multipart_size=size,
            multipart_digest=digest,
            copy_source_head=source,
        )
        for event in build_events(
            exchange, job_id=job_id, session_id=self._session_id, now=time.time()
        ):
            self._sink.put(event)
            log.debug("event %s %s %s", event.direction, event.op, event.url)

    # -- request side ------------------------------------------------------------------------

    async def _body(
        self,
        request: web.BaseRequest,
        plan: BodyPlan,
        counter: Counter,
        state: BodyState,
        watch: BodyWatch,
    ) -> AsyncIterator[bytes]:
        """The upstream body: the client's bytes, decoded/re-framed per ``plan`` as they arrive."""
        try:
            async for frame in self._frames(request, plan, counter, watch):
                yield frame
        except (ClientGone, ChunkedFormatError) as exc:
            state.error = exc
            raise

    async def _frames(
        self, request: web.BaseRequest, plan: BodyPlan, counter: Counter, watch: BodyWatch
    ) -> AsyncIterator[bytes]:
        decoder = ChunkedDecoder() if plan.mode in {"decode", "reencode"} else None
        encoder = ChunkedEncoder(REENCODE_CHUNK) if plan.mode == "reencode" else None
        loop = asyncio.get_running_loop()
        content = request.content
        try:
            while True:
                watch.waiting_since = loop.time()
                data = await content.readany()
                watch.waiting_since = 0.0
                if not data:
                    break
                pieces = [data] if decoder is None else decoder.feed(data)
                for piece in pieces:
                    counter.update(piece)
                    if counter.count > plan.payload_length:
                        raise ChunkedFormatError("the body is longer than its declared length")
                    if encoder is None:
                        yield piece
                    else:
                        for frame in encoder.push(piece):
                            yield frame
        except (ConnectionError, aiohttp.ClientPayloadError, asyncio.IncompleteReadError) as exc:
            raise ClientGone(f"the client's request body stopped early ({exc})") from exc
        if decoder is not None:
            decoder.finish()
        if counter.count != plan.payload_length:
            raise ClientGone(
                f"the request body had {counter.count} of {plan.payload_length} declared bytes"
            )
        if encoder is not None and decoder is not None:
            yield encoder.finish(decoder.signed_trailers(), list(plan.trailers))

    # -- upstream side -----------------------------------------------------------------------

    def _region_of(self, bucket: str | None) -> str:
        return self._regions.get(bucket, self._region) if bucket else self._region

    async def _credentials(self) -> Any:
        if signing.needs_refresh(self._identity):
            return await anyio.to_thread.run_sync(signing.frozen, self._identity)
        return signing.frozen(self._identity)

    def _signed(
        self, method: str, call: S3Call, plan: BodyPlan, region: str, credentials: Any
    ) -> tuple[str, list[tuple[str, str]]]:
        url = upstream_url(self._upstream, region, call.bucket, call.key, call.query)
        to_sign = [("host", host_header(url))]
        unsigned: list[tuple[str, str]] = []
        for name, value in plan.headers:
            (to_sign if must_sign(name) else unsigned).append((name, value))
        if plan.length is not None:
            unsigned.append(("content-length", str(plan.length)))
        signed = signing.sign(
            credentials, method, url, to_sign, region=region, payload_hash=plan.payload_hash
        )
        return url, signed + unsigned

    async def _send(
        self,
        method: str,
        call: S3Call,
        plan: BodyPlan,
        body: AsyncIterator[bytes] | None,
        *,
        job_id: str | None = None,
    ) -> aiohttp.ClientResponse:
        """Sign and send; bodiless requests follow a bucket-region redirect once."""
        credentials = await self._credentials()
        region = self._region_of(call.bucket)
        for _attempt in range(2):
            url, headers = self._signed(method, call, plan, region, credentials)
            if job_id and self._upstream_is_roar:
                headers.append(("roar-job-id", job_id))
            # Uploads hold their connection for as long as the client takes to send the body:
            # they draw from a pool of their own, so reads are never queued behind them.
            http = self._http if body is None else self._uploads_http
            response = await http.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            )
            moved = bucket_region(response.status, response.headers, region)
            if moved is None or body is not None or call.bucket is None:
                return response
            # The bucket lives in another region: remember it and ask again there.
            response.release()
            self._regions[call.bucket] = region = moved
        return response

    async def _head_source(self, header: str) -> tuple[int | None, str | None] | None:
        """Size and ETag of a copy's source object, or None if it cannot be asked."""
        source = copy_source(header)
        if source is None:
            return None
        bucket, key, version = source
        query = (("versionId", version),) if version else ()
        call = S3Call(op="HeadObject", bucket=bucket, key=key, query=query, style="path")
        plan = BodyPlan(
            mode="none", length=None, payload_length=0, payload_hash="UNSIGNED-PAYLOAD", headers=[]
        )
        try:
            response = await self._send("HEAD", call, plan, None)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        try:
            if response.status != 200:
                return None
            length = response.headers.get("Content-Length", "")
            etag = unquote_etag(response.headers.get("ETag"))
            return (int(length) if length.isdigit() else None), etag
        finally:
            response.release()

    async def _learn_region(self, bucket: str) -> None:
        """Find a bucket's region before streaming a body to it (a body cannot be replayed).

        Only for region-routed upstreams (the AWS default): one HEAD per bucket per proxy.
        """
        if not region_routed(self._upstream):
            return
        call = S3Call(op="HeadBucket", bucket=bucket, key=None, query=(), style="path")
        plan = BodyPlan(
            mode="none", length=None, payload_length=0, payload_hash="UNSIGNED-PAYLOAD", headers=[]
        )
        try:
            response = await self._send("HEAD", call, plan, None)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return  # the real request will report the upstream as unreachable
        region = response.headers.get("x-amz-bucket-region")
        response.release()
        # A redirect followed by _send has already stored the region; else trust the header.
        if region or bucket not in self._regions:
            self._regions[bucket] = region or self._region

    # -- response side -----------------------------------------------------------------------

    async def _relay(
        self, request: web.BaseRequest, call: S3Call, upstream: aiohttp.ClientResponse
    ) -> tuple[web.StreamResponse, Counter, bool]:
        """Stream the upstream response to the client; returns whether it arrived whole."""
        counter = Counter(
            hashing=call.op == "GetObject" and upstream.status == 200,
            keep=call.op in _RESPONSE_XML_OPS,
        )
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in forward_response_headers(upstream.headers.items()):
            response.headers.add(name, value)
        length = upstream.headers.get("Content-Length")
        head = request.method == "HEAD" or upstream.status in {204, 304}
        if length is not None and length.isdigit():
            if head:
                # aiohttp would send 0 for a HEAD answer; S3 clients read the object size here.
                response.headers["Content-Length"] = length
            else:
                response.content_length = int(length)
        await response.prepare(request)
        if head:
            await response.write_eof()
            return response, counter, True
        try:
            async for chunk in upstream.content.iter_any():
                counter.update(chunk)
                await response.write(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as exc:
            # Either side broke mid-body. The client must not take a short body for a whole
            # one, so its connection is dropped; what it did receive is still recorded.
            log.warning("%s: transfer cut after %d bytes (%s)", call.loggable, counter.count, exc)
            upstream.close()
            response.force_close()
            if request.transport is not None:
                request.transport.close()
            return response, counter, False
        await response.write_eof()
        expected = int(length) if length is not None and length.isdigit() else None
        return response, counter, expected is None or expected == counter.count

    async def _plan_part(self, call: S3Call, size: int, counter: Counter) -> PartHashing | None:
        """Choose how an UploadPart is hashed (see roar.proxy._multipart) and arm ``counter``."""
        import roar.hashing._b3tree as _b3tree
        from roar.hashing.tree import subtree_sized

        upload_id = call.param("uploadId") or ""
        number = call.param("partNumber") or ""
        if not upload_id or not number.isdigit():
            return None
        upload = self._uploads.get(upload_id)
        if upload is None:
            upload = self._uploads[upload_id] = _Upload()
            while len(self._uploads) > _MAX_TRACKED_UPLOADS:
                self._uploads.popitem(last=False)
        self._uploads.move_to_end(upload_id)
        if int(number) == 1:
            # Part 1 is always a full part: its size is the upload's part size.
            upload.part_size = size if subtree_sized(size) else None
            upload.sized.set()
        elif not upload.sized.is_set():
            # Parts go concurrently; this one's place needs part 1's size, which is usually a
            # moment away (and never comes for a part 1 sent around the proxy).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_PART_SIZE_WAIT):
                    await upload.sized.wait()
        hashing = plan_part(
            int(number), size, upload.part_size, first_part_seen=upload.sized.is_set()
        )
        if hashing.subtree:
            counter.subtree = _b3tree.Subtree(chunk_offset=hashing.chunk_offset)
        else:
            counter.hashing = True
        return hashing

    def _remember_part(
        self, call: S3Call, counter: Counter, etag: str | None, hashing: PartHashing
    ) -> None:
        upload = self._uploads.get(call.param("uploadId") or "")
        number = call.param("partNumber") or ""
        if upload is None or not number.isdigit():
            return
        upload.parts[int(number)] = PartRecord(
            size=counter.count,
            etag=unquote_etag(etag),
            hashing=hashing,
            output=bytes(counter.subtree.output()) if counter.subtree is not None else None,
            digest=bytes.fromhex(counter.digest) if counter.digest else None,
        )


@dataclass
class _Upload:
    """One multipart upload in progress: its full-part size once seen, and its parts."""

    part_size: int | None = None
    parts: dict[int, PartRecord] = field(default_factory=dict)
    sized: asyncio.Event = field(default_factory=asyncio.Event)  # set once part 1 is seen
