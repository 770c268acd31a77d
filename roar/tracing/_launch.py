"""Starting a traced command and ending it: one path for every backend.

Each backend decides *what* it starts (the command under ``LD_PRELOAD``, or a native tracer
program that starts it) and how it reads the events; how the process is started and ended is the
same for all of them: signals are relayed with system(3) semantics (``_signals``) from before the
process exists until it has been waited for, the process is always waited for (shielded from
cancellation, so roar never leaves a child behind), and when the backend's body leaves early (its
caller was cancelled, or the event stream broke) while the process still runs, the backend's
``on_abandon`` ends it first, since nothing it did would be recorded.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

import anyio
from anyio.abc import Process

from roar.tracing._signals import relay_signals


class ProcessStarter(Protocol):
    """Starts the command somewhere else than in this process (``roar.resident.remote``)."""

    @property
    def parent_pid(self) -> int: ...

    async def open_process(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        pass_fds: Sequence[int] = (),
    ) -> Process: ...


# Set by a resident roar's forked copy for the run it serves: the command is then started by the
# `roar` the user typed, in the terminal's session. A context variable, not a module global: it
# belongs to that run's context (and an embedding application never sees it).
STARTER: ContextVar[ProcessStarter | None] = ContextVar("roar_process_starter", default=None)


def parent_pid() -> int:
    """The pid the command will have as its parent (a native tracer dies with it)."""
    starter = STARTER.get()
    return starter.parent_pid if starter is not None else os.getpid()


@asynccontextmanager
async def launched(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    on_interrupt: Callable[[int], None],
    on_forward: Callable[[int], None],
    on_abandon: Callable[[Process], None],
    pass_fds: Sequence[int] = (),
) -> AsyncIterator[Process]:
    """Run ``command`` for the duration of the block; the process is the block's value.

    ``on_interrupt(count)`` and ``on_forward(signum)`` are the signal relay's callbacks
    (``_signals.relay_signals``). An ``OSError`` starting the command propagates: each backend
    tells the user in its own terms (the command, or its tracer, could not run).
    """
    # Errors are carried out of the relay's task group and raised after it, so that a caller
    # sees the error itself, not a group wrapping it (trio, and anyio's strict groups, wrap).
    failure: Exception | None = None
    async with anyio.create_task_group() as relay:
        await relay.start(relay_signals, on_interrupt, on_forward)
        starter = STARTER.get()
        try:
            if starter is not None:
                process = await starter.open_process(command, env=env, cwd=cwd, pass_fds=pass_fds)
            else:
                process = await anyio.open_process(
                    list(command),
                    stdin=None,
                    stdout=None,
                    stderr=None,
                    pass_fds=pass_fds,
                    env=dict(env),
                    cwd=cwd,
                )
        except OSError as exc:
            failure = exc
            relay.cancel_scope.cancel()
        else:
            try:
                yield process
            except Exception as exc:
                if process.returncode is None:
                    on_abandon(process)
                failure = exc
            except BaseException:  # cancelled: the cancellation goes on as it came
                if process.returncode is None:
                    on_abandon(process)
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    await process.wait()
                relay.cancel_scope.cancel()
    if failure is not None:
        raise failure
