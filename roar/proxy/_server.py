"""Running a proxy: `serve()` listens, builds the upstream connection pools, hands requests to
the :class:`~roar.proxy._forwarder.Forwarder`, and shuts down cleanly (asyncio only).

The parts, one job each: ``_forwarder`` handles one request end to end; ``_body`` counts, hashes
and times out bodies; ``_verify`` checks who signed a request; ``_classify``, ``_body_plan``,
``_record`` and ``_multipart`` are the pure decisions (what a request is, how its body crosses,
what lineage it makes); ``_queue`` is the event stream; ``_errors_http`` the XML refusals.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.to_thread
from aiohttp import web

from roar.core.listening import in_use, listening
from roar.proxy._body import Limits
from roar.proxy._classify import check_upstream
from roar.proxy._errors import ProxyError
from roar.proxy._errors_http import XmlErrorServer
from roar.proxy._forwarder import Forwarder
from roar.proxy._queue import EventQueue, Proxy
from roar.proxy._verify import ClientKey
from roar.s3 import signing
from roar.s3.urls import AWS_UPSTREAM

__all__ = ("Limits", "Proxy", "new_session_id", "serve")


_READ_BUFSIZE = 256 * 1024
_SERVER_READ_BUFSIZE = 64 * 1024


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
    try:
        identity = await anyio.to_thread.run_sync(signing.load_identity, profile)
    except signing.CredentialsError as exc:
        raise ProxyError(str(exc), exit_code=2) from None
    signing_region = region or identity.region or "us-east-1"
    key = client_key if client_key is not None else ClientKey.generate()
    queue = EventQueue()
    limits = limits if limits is not None else Limits()
    async with (
        _upstream_session(target, limits.read_pool) as http,
        _upstream_session(target, limits.upload_pool) as uploads_http,
    ):
        forwarder = Forwarder(
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
        server = XmlErrorServer(
            forwarder.handle,
            access_log=None,
            keepalive_timeout=limits.idle_timeout,
            # Request bodies are read 64 KiB at a time: aiohttp's own default (DEFAULT_CHUNK_SIZE)
            # buffers far more per upload, and eight concurrent 64 MiB parts then cost ~14 MiB of
            # RSS instead of ~5 (measured: peak 66.5 -> 57 MiB), for no measurable throughput.
            read_bufsize=_SERVER_READ_BUFSIZE,
        )
        runner = web.ServerRunner(server, shutdown_timeout=shutdown_timeout)

        def refused(exc: OSError) -> Exception:
            if in_use(exc):
                return ProxyError(
                    f"port {port} on {host} is in use (choose another with --port, or stop "
                    "what holds it, e.g. 'roar proxy stop')",
                    exit_code=2,
                )
            return ProxyError(f"cannot listen on {host}:{port}: {exc.strerror}")

        try:
            async with listening(runner, host, port, refused) as bound:
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
