"""Retrying transient failures: dropped connections, timeouts, 5xx and S3's SlowDown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import anyio

T = TypeVar("T")

ATTEMPTS = 5
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Transient(Exception):
    """A failure worth another attempt (its text is what to say if it was the last one)."""


async def with_retries(attempt: Callable[[int], Awaitable[T]], what: str) -> T:
    """Run ``attempt(n)`` until it succeeds, up to ATTEMPTS times with exponential backoff.

    ``Transient``, connection errors and timeouts are retried; anything else propagates.
    """
    from roar.transfer._sink import TransferError

    last = ""
    for number in range(ATTEMPTS):
        try:
            return await attempt(number)
        except Transient as exc:
            last = str(exc)
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            last = str(exc) or type(exc).__name__
        if number + 1 < ATTEMPTS:
            await anyio.sleep(min(5.0, 0.2 * 2**number))
    raise TransferError(f"{what} failed after {ATTEMPTS} attempts: {last}")
