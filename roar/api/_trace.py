"""The iterator `Project.trace` returns: events of a run that belongs to the project, not the loop.

The traced run is a task in the project's own task group (opened by ``open_project``), and the
iterator only receives from it. So the consumer may ``break`` out of ``async for`` at any point,
be cancelled, or drop the iterator, on asyncio or trio: nothing spans a ``yield`` (an async
generator holding a task group breaks when closed early, or closed by the garbage collector in
another task), the command runs to its end and is recorded, and the project waits for it before
it closes.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from roar.api._events import Event, JobRecorded, trace_event
from roar.tracing.wire import Record

__all__ = ("Observer", "TraceStream")

# A tracer batch as record_command hands it to its observer.
Batch = list[Record]
Observer = Callable[[Batch], None]


class _Failed:
    """The run raised: delivered in place of the next event, re-raised by ``__anext__``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class TraceStream:
    """Yields :class:`TraceEvent` items as the command runs, then one :class:`JobRecorded`.

    The command starts on the first ``__anext__``. Events wait in memory (unbounded: none is
    dropped) while the consumer is busy; once the consumer has stopped listening (``break``,
    :meth:`aclose`, the iterator dropped) they are no longer kept.
    """

    def __init__(self, background: TaskGroup, run: Callable[[Observer], Awaitable[Event]]) -> None:
        self._background = background
        self._run = run
        self._receive: MemoryObjectReceiveStream[Event | _Failed] | None = None
        self._done = False

    def __aiter__(self) -> TraceStream:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        if self._receive is None:
            send, self._receive = anyio.create_memory_object_stream[Event | _Failed](math.inf)
            self._background.start_soon(_deliver, send, self._run)
        try:
            item = await self._receive.receive()
        except anyio.EndOfStream:
            self._finish()
            raise StopAsyncIteration from None
        if isinstance(item, _Failed):
            self._finish()
            raise item.error
        if isinstance(item, JobRecorded):
            self._finish()  # the last event: the next call ends the iteration
            return item
        return item

    async def aclose(self) -> None:
        """Stop listening (the command still runs to its end and is recorded)."""
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._receive is not None:
            self._receive.close()

    def __del__(self) -> None:
        # Dropped mid-way (a plain `break`): stop buffering events nobody will read.
        if self._receive is not None:
            self._receive.close()


async def _deliver(
    send: MemoryObjectSendStream[Event | _Failed], run: Callable[[Observer], Awaitable[Event]]
) -> None:
    listening = True

    def offer(item: Event | _Failed) -> None:
        nonlocal listening
        if listening:
            try:
                send.send_nowait(item)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                listening = False

    def observe(batch: Batch) -> None:
        if listening:
            for record in batch:
                event = trace_event(record)
                if event is not None:
                    offer(event)

    with send:
        try:
            last = await run(observe)
        except Exception as exc:
            offer(_Failed(exc))
            if not listening:
                raise  # nobody left to tell: the project's `async with` raises it
            return
        offer(last)
