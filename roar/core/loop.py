"""The one event loop every roar command runs on.

Each CLI command is an ``async def``; :func:`run` drives it on a fresh loop, using uvloop when it is
importable because the proxy and the tracer's event stream are both I/O-bound hot paths.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    if os.environ.get("ROAR_NO_UVLOOP"):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    loop_class: type[asyncio.AbstractEventLoop] = uvloop.Loop
    return loop_class


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a new event loop (uvloop when available) and return its result."""
    factory = _loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
