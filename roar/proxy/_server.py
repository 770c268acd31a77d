"""The aiohttp side of the proxy: accept, re-sign, forward, stream back, report (asyncio only).

The handler moves bytes and counts them; every decision about what a request is, how its body
crosses, and what lineage it makes is taken by the pure modules beside this one. Bodies are
streamed in both directions through aiohttp's flow-controlled readers (64 KiB buffers), so memory
stays flat whatever the object size; only the small XML bodies whose outcome matters (multipart
completion, copies, multi-object deletes) are also kept, capped at 4 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import ssl
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.to_thread
import blake3
from aiohttp import web
from yarl import URL

from roar.proxy import _signing
from roar.proxy._chunked import ChunkedDecoder, ChunkedEncoder, ChunkedFormatError
from roar.proxy._classify import (
    AWS_UPSTREAM,
    MalformedRequest,
    S3Call,
    bucket_region,
    check_upstream,
    classify,
    copy_source,
    forward_response_headers,
    must_sign,
    region_routed,
    signed_service,
    upstream_url,
    valid_job_id,
)
from roar.proxy._errors import ProxyError
from roar.proxy._event import S3Event
from roar.proxy._forward import REENCODE_CHUNK, BodyPlan, plan_body
from roar.proxy._multipart import (
    ObjectDigest,
    PartHashing,
    PartRecord,
    object_digest,
    plan_part,
)
from roar.proxy._record import Exchange, build_events, multipart_size
from roar.proxy._verify import ClientKey, Refused, verify
from roar.proxy._xml import MAX_XML_BYTES, error_body, read_complete_parts, unquote_etag

log = logging.getLogger("roar.proxy")

_REQUEST_XML_OPS = frozenset({"CompleteMultipartUpload", "DeleteObjects"})
_RESPONSE_XML_OPS = frozenset(
    {"CompleteMultipartUpload", "CopyObject", "UploadPartCopy", "DeleteObjects"}
)
_MAX_TRACKED_UPLOADS = 10_000
_READ_BUFSIZE = 256 * 1024
# How long a part that cannot be placed yet waits for part 1 (and so the part size) to arrive.
_PART_SIZE_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """How long the proxy waits on a client, and how many uploads one client may stream at once.

    ``idle_timeout``: a connection that has not sent a complete request head within this many
    seconds of connecting, or of its last answer, is closed (slow or half-sent headers, idle
    keep-alive connections). ``body_timeout``: an upload whose client sends nothing for this
    long while the proxy waits for it is cut with S3's ``RequestTimeout``. Uploads hold an
    upstream connection for as long as their body takes, so each client (one signing key) may
    stream ``uploads_per_client`` at once -- more wait their turn -- out of ``upload_pool``
    upstream connections kept apart from the ``read_pool`` that serves GET, HEAD, list and
    delete: however many slow uploads there are, reads still go through.
    """

    idle_timeout: float = 30.0
    body_timeout: float = 30.0
    uploads_per_client: int = 64
    upload_pool: int = 256
    read_pool: int = 256


class _ClientGone(Exception):
    """The client's request body failed or stopped early (not the upstream's fault)."""


class _BodyTimeout(_ClientGone):
    """The client sent nothing for ``Limits.body_timeout`` seconds while the proxy waited."""


class _BodyWatch:
    """Cuts a request body whose client goes silent, without per-chunk timers.

    The reader marks when it starts waiting on the client; a timer, rearmed a few times per
    timeout, fails the body's stream if one wait has lasted too long. Time the proxy spends
    waiting on the upstream (back-pressure) is never counted against the client.
    """

    def __init__(self, request: web.BaseRequest, timeout: float) -> None:
        self._request = request
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self.waiting_since = 0.0
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(timeout / 4, self._check)

    def _check(self) -> None:
        since = self.waiting_since
        if since and self._loop.time() - since >= self._timeout:
            self._handle = None
            self._request.content.set_exception(
                _BodyTimeout(f"the client sent no body bytes for {self._timeout:g} s")
            )
            return
        self._handle = self._loop.call_later(self._timeout / 4, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


@dataclass
class _BodyState:
    """Why the upstream body generator stopped, if it was the client's fault.

    aiohttp re-raises a failing request body as its own ClientConnectionError; this keeps the
    original so the answer is a 400 about the client's body, not a 502 about the upstream.
    """

    error: Exception | None = None


@dataclass
class _Counter:
    """Counts (and optionally hashes, optionally keeps) the bytes of one body as they pass."""

    hashing: bool = False
    keep: bool = False
    count: int = 0
    kept: bytearray = field(default_factory=bytearray)
    digest: str | None = None
    # A multipart part hashed as a BLAKE3 subtree of its object (roar.hashing._b3tree.Subtree).
    subtree: Any = None
    _hasher: Any = None

    def update(self, data: bytes) -> None:
        self.count += len(data)
        if self.subtree is not None:
            self.subtree.update(data)
        if self.hashing:
            if self._hasher is None:
                self._hasher = blake3.blake3()
            # Hashed on the loop, in order, as each piece passes. Measured on the 2-CPU bench
            # box, handing pieces to a hashing thread was slower (~1.0 vs ~1.3 GB/s per GET):
            # the copying already keeps the other core busy. BLAKE3 runs at ~3 GB/s here.
            self._hasher.update(data)
        if self.keep and len(self.kept) + len(data) <= MAX_XML_BYTES:
            self.kept += data

    def finish(self, complete: bool) -> None:
        """Settle the hash: ``digest`` is set only for a body that passed whole."""
        if self.hashing and complete:
            hasher = self._hasher if self._hasher is not None else blake3.blake3()
            self.digest = str(hasher.hexdigest())


def _xml_response(status: int, code: str, message: str, resource: str = "") -> web.Response:
    response = web.Response(
        status=status,
        body=error_body(code, message, resource),
        content_type="application/xml",
    )
    response.force_close()
    return response


def _host_header(url: str) -> str:
    # The Host botocore signs for a URL (default ports omitted), sent as signed.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return host


class _XmlErrorProtocol(web.RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse in S3's XML format.

    Only the status phrase goes back: the parser's message may quote request bytes.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)  # logs, checks state
        code = "InternalError" if status >= 500 else "InvalidRequest"
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        xml = _xml_response(status, code, f"roar proxy: malformed HTTP request ({phrase})")
        xml.force_close()
        del response
        return xml


class _XmlErrorServer(web.Server):
    # web.Server builds one RequestHandler per connection in __call__ (aiohttp 3.9 to 3.14).
    def __call__(self) -> web.RequestHandler:
        return _XmlErrorProtocol(self, loop=self._loop, **self._kwargs)


class _Forwarder:
    """One proxy's state: signer, HTTP client pool, bucket regions, multipart bookkeeping."""

    def __init__(
        self,
        *,
        identity: _signing.Identity,
        upstream: str,
        region: str,
        http: aiohttp.ClientSession,
        uploads_http: aiohttp.ClientSession,
        limits: Limits,
        sink: _EventQueue,
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
            response, summary = _xml_response(exc.status, exc.code, str(exc)), f"{exc.code}"
        except Refused as exc:
            response, summary = _xml_response(exc.status, exc.code, str(exc)), f"{exc.code}"
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug must cost one request, never the daemon
            log.error("internal error on %s: %s: %s", request.method, type(exc).__name__, exc)
            response = _xml_response(500, "InternalError", f"roar proxy: {type(exc).__name__}")
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

        req_counter = _Counter(
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
        state = _BodyState()
        if plan.mode == "none":
            return await self._exchange(
                request, call, plan, None, lower, job_id, req_counter, state, source, summary, part
            )
        slots = self._upload_slots.get(client)
        if slots is None:
            slots = self._upload_slots[client] = asyncio.Semaphore(self._limits.uploads_per_client)
        async with slots:
            watch = _BodyWatch(request, self._limits.body_timeout)
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
        req_counter: _Counter,
        state: _BodyState,
        source: tuple[int | None, str | None] | None,
        summary: str,
        part: PartHashing | None,
    ) -> tuple[web.StreamResponse, str]:
        """Send one request upstream, relay the answer, record what it did."""
        try:
            upstream = await self._send(request.method, call, plan, body, job_id=job_id)
        except (aiohttp.ClientError, OSError, TimeoutError, _ClientGone, ChunkedFormatError) as exc:
            if isinstance(state.error, _BodyTimeout):
                return _xml_response(400, "RequestTimeout", f"roar proxy: {state.error}"), summary
            if isinstance(state.error, ChunkedFormatError):
                return _xml_response(400, "InvalidRequest", str(state.error)), summary
            if state.error is not None:
                return _xml_response(400, "IncompleteBody", f"roar proxy: {state.error}"), summary
            where = self._upstream.replace("{region}", self._region_of(call.bucket))
            reason = str(exc) or type(exc).__name__
            return (
                _xml_response(
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
        req_counter: _Counter,
        resp_counter: _Counter,
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
        counter: _Counter,
        state: _BodyState,
        watch: _BodyWatch,
    ) -> AsyncIterator[bytes]:
        """The upstream body: the client's bytes, decoded/re-framed per ``plan`` as they arrive."""
        try:
            async for frame in self._frames(request, plan, counter, watch):
                yield frame
        except (_ClientGone, ChunkedFormatError) as exc:
            state.error = exc
            raise

    async def _frames(
        self, request: web.BaseRequest, plan: BodyPlan, counter: _Counter, watch: _BodyWatch
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
            raise _ClientGone(f"the client's request body stopped early ({exc})") from exc
        if decoder is not None:
            decoder.finish()
        if counter.count != plan.payload_length:
            raise _ClientGone(
                f"the request body had {counter.count} of {plan.payload_length} declared bytes"
            )
        if encoder is not None and decoder is not None:
            yield encoder.finish(decoder.signed_trailers(), list(plan.trailers))

    # -- upstream side -----------------------------------------------------------------------

    def _region_of(self, bucket: str | None) -> str:
        return self._regions.get(bucket, self._region) if bucket else self._region

    async def _credentials(self) -> Any:
        if _signing.needs_refresh(self._identity):
            return await anyio.to_thread.run_sync(_signing.frozen, self._identity)
        return _signing.frozen(self._identity)

    def _signed(
        self, method: str, call: S3Call, plan: BodyPlan, region: str, credentials: Any
    ) -> tuple[str, list[tuple[str, str]]]:
        url = upstream_url(self._upstream, region, call.bucket, call.key, call.query)
        to_sign = [("host", _host_header(url))]
        unsigned: list[tuple[str, str]] = []
        for name, value in plan.headers:
            (to_sign if must_sign(name) else unsigned).append((name, value))
        if plan.length is not None:
            unsigned.append(("content-length", str(plan.length)))
        signed = _signing.sign(
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
    ) -> tuple[web.StreamResponse, _Counter, bool]:
        """Stream the upstream response to the client; returns whether it arrived whole."""
        counter = _Counter(
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

    async def _plan_part(self, call: S3Call, size: int, counter: _Counter) -> PartHashing | None:
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
        self, call: S3Call, counter: _Counter, etag: str | None, hashing: PartHashing
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


class _EventQueue:
    """Unbounded FIFO of events between the handlers and one consumer, closed at shutdown.

    Events are small (a few hundred bytes) and a lineage event must not be dropped, so nothing
    is bounded here: a consumer that never reads holds every event in memory until the proxy
    and this queue are gone.
    """

    def __init__(self) -> None:
        self._items: deque[S3Event] = deque()
        self._closed = False
        self._wakeup = anyio.Event()

    def put(self, event: S3Event) -> None:
        if self._closed:
            raise RuntimeError("the proxy has shut down")
        self._items.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def take_all(self) -> list[S3Event]:
        items = list(self._items)
        self._items.clear()
        return items

    def __aiter__(self) -> _EventQueue:
        return self

    async def __anext__(self) -> S3Event:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            # No await between the emptiness check and the wait: a put cannot slip between.
            self._wakeup = anyio.Event()
            await self._wakeup.wait()
        return self._items.popleft()


@dataclass(frozen=True, slots=True)
class Proxy:
    """A running proxy: where to point S3 clients, and the lineage events it records.

    ``url`` is ``http://127.0.0.1:<port>``. :meth:`events` yields each :class:`S3Event` as its
    request completes and ends once the proxy has shut down and every event was delivered.
    """

    url: str
    port: int
    upstream: str
    region: str
    session_id: str | None
    client_key: ClientKey
    _queue: _EventQueue

    def events(self) -> AsyncIterator[S3Event]:
        """The event stream (one consumer; events wait, unbounded, until it reads them)."""
        return self._queue

    def pending(self) -> list[S3Event]:
        """Events recorded and not yet consumed, without waiting (they are consumed now)."""
        return self._queue.take_all()


def _tls_context(upstream: str) -> ssl.SSLContext | bool:
    """Verify HTTPS upstreams against ``AWS_CA_BUNDLE`` when set, as boto3 would; else defaults."""
    bundle = os.environ.get("AWS_CA_BUNDLE")
    if not upstream.startswith("https://") or not bundle:
        return True
    try:
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ProxyError(f"cannot use AWS_CA_BUNDLE={bundle}: {exc}", exit_code=2) from None


def _points_at(upstream: str, host: str, port: int) -> bool:
    parts = urlsplit(upstream.replace("{region}", "region"))
    local = {host, "127.0.0.1", "localhost", "::1"}
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname in local and (parts.port or default) == port


def _require_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ProxyError(
            "roar.proxy.serve needs asyncio (aiohttp is asyncio-only); under trio run the proxy "
            "daemon ('roar proxy start') and point clients at it"
        ) from None


@asynccontextmanager
async def serve(
    *,
    upstream: str | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    region: str | None = None,
    job_id: str | None = None,
    session_id: str | None = None,
    profile: str | None = None,
    shutdown_timeout: float = 5.0,
    upstream_is_roar: bool = False,
    client_key: ClientKey | None = None,
    verify_clients: bool = True,
    limits: Limits | None = None,
) -> AsyncIterator[Proxy]:
    """Run an S3 lineage proxy for the duration of the ``async with`` block (asyncio only).

    ``upstream`` is the S3 endpoint to forward to (default AWS, ``https://s3.{region}.
    amazonaws.com``; a ``{region}`` placeholder lets bucket-region redirects move the host).
    ``port=0`` picks a free port. Credentials come from botocore's chain (``profile`` selects a
    named profile) and are resolved once, before listening: none found raises
    :class:`ProxyError` with exit code 2, and so does a port already in use. ``job_id`` is the
    default attribution for events whose request carries no ``Roar-Job-Id`` header;
    ``upstream_is_roar`` says the upstream is another roar proxy, which is then told each
    request's job (a ``Roar-Job-Id`` header; never sent to S3 itself).

    Only signed requests are forwarded: each must carry a valid AWS signature (SigV4, or SigV2)
    made with the owner's own credentials (those the proxy re-signs with) or with
    ``client_key``, the proxy's own key pair (a fresh one unless given; ``Proxy.client_key``),
    for clients that have no AWS credentials. Anything else gets S3's ``AccessDenied`` /
    ``SignatureDoesNotMatch`` XML. ``verify_clients=False`` turns the check off (tests only:
    then anyone who can reach the port uses the owner's credentials). ``limits`` bounds what a
    slow or idle client can hold (:class:`Limits`).
    """
    _require_asyncio()
    try:
        target = check_upstream(upstream) if upstream else AWS_UPSTREAM
    except ValueError as exc:
        raise ProxyError(str(exc), exit_code=2) from None
    identity = await anyio.to_thread.run_sync(_signing.load_identity, profile)
    signing_region = region or identity.region or "us-east-1"
    key = client_key if client_key is not None else ClientKey.generate()
    queue = _EventQueue()
    limits = limits if limits is not None else Limits()
    async with (
        _upstream_session(target, limits.read_pool) as http,
        _upstream_session(target, limits.upload_pool) as uploads_http,
    ):
        forwarder = _Forwarder(
            identity=identity,
            upstream=target,
            region=signing_region,
            http=http,
            uploads_http=uploads_http,
            limits=limits,
            sink=queue,
            job_id=job_id,
            session_id=session_id,
            client_key=key,
            verify_clients=verify_clients,
            upstream_is_roar=upstream_is_roar,
        )
        server = _XmlErrorServer(
            forwarder.handle,
            access_log=None,
            keepalive_timeout=limits.idle_timeout,
        )
        runner = web.ServerRunner(server, shutdown_timeout=shutdown_timeout)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ProxyError(
                        f"port {port} on {host} is in use (choose another with --port, or stop "
                        "what holds it, e.g. 'roar proxy stop')",
                        exit_code=2,
                    ) from None
                raise ProxyError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
            bound = int(runner.addresses[0][1])
            if _points_at(target, host, bound):
                raise ProxyError(
                    f"the upstream {target} is this proxy itself; give the real S3 endpoint",
                    exit_code=2,
                )
            yield Proxy(
                url=f"http://{host}:{bound}",
                port=bound,
                upstream=target,
                region=signing_region,
                session_id=session_id,
                client_key=key,
                _queue=queue,
            )
        finally:
            await runner.cleanup()
            queue.close()


def _upstream_session(target: str, pool: int) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30, sock_read=300)
    connector = aiohttp.TCPConnector(limit=pool, ttl_dns_cache=300, ssl=_tls_context(target))
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        # HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply to the upstream, as for any AWS client; a
        # loopback upstream (moto, MinIO, another roar proxy) is always reached directly.
        trust_env=not _is_loopback(target),
        read_bufsize=_READ_BUFSIZE,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def new_session_id() -> str:
    """A fresh proxy session id (what events are attributed to without a job id)."""
    return uuid.uuid4().hex


def _is_loopback(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url.replace("{region}", "region")).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
