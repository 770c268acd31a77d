"""Request and response bodies as they cross the proxy: counting, hashing, keeping, timing out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import blake3
from aiohttp import web

from roar.s3.xml import MAX_XML_BYTES


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


class ClientGone(Exception):
    """The client's request body failed or stopped early (not the upstream's fault)."""


class BodyTimeout(ClientGone):
    """The client sent nothing for ``Limits.body_timeout`` seconds while the proxy waited."""


class BodyWatch:
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
                BodyTimeout(f"the client sent no body bytes for {self._timeout:g} s")
            )
            return
        self._handle = self._loop.call_later(self._timeout / 4, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


@dataclass
class BodyState:
    """Why the upstream body generator stopped, if it was the client's fault.

    aiohttp re-raises a failing request body as its own ClientConnectionError; this keeps the
    original so the answer is a 400 about the client's body, not a 502 about the upstream.
    """

    error: Exception | None = None


@dataclass
class Counter:
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
