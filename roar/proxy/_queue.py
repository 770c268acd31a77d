"""The event stream between the request handlers and one consumer, and the running `Proxy`."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import anyio.to_thread

from roar.proxy._event import S3Event
from roar.proxy._verify import ClientKey


class EventQueue:
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

    def __aiter__(self) -> EventQueue:
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
    _queue: EventQueue

    def events(self) -> AsyncIterator[S3Event]:
        """The event stream (one consumer; events wait, unbounded, until it reads them)."""
        return self._queue

    def pending(self) -> list[S3Event]:
        """Events recorded and not yet consumed, without waiting (they are consumed now)."""
        return self._queue.take_all()
