"""Serving an aiohttp runner on a host and port: the one way roar's servers start listening."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any


def in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


@asynccontextmanager
async def listening(
    runner: Any, host: str, port: int, refused: Callable[[OSError], Exception]
) -> AsyncIterator[int]:
    """Set ``runner`` up, listen on ``host:port`` and yield the bound port; ``refused`` turns
    a failure to listen into the caller's own error. Cleaned up however the block ends."""
    from aiohttp import web

    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise refused(exc) from None
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
