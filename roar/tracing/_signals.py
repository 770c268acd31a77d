"""Signals while a traced command runs, the same for every backend (system(3) semantics).

Ctrl-C and Ctrl-\\ reach the command from the terminal directly (it shares roar's process group),
so roar only counts them and keeps waiting, and the job is still recorded; a second one aborts
the whole traced tree. SIGTERM and SIGHUP sent to roar are passed on to the command.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import anyio
import anyio.abc

INTERRUPTS = (signal.SIGINT, signal.SIGQUIT)
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


async def relay_signals(
    on_interrupt: Callable[[int], None],
    on_forward: Callable[[int], None],
    *,
    task_status: anyio.abc.TaskStatus[None],
) -> None:
    """Until cancelled: ``on_interrupt(count)`` for each Ctrl-C/Ctrl-\\ (count from 1), and
    ``on_forward(signum)`` for SIGTERM/SIGHUP. Started with ``TaskGroup.start`` before the
    command, so no signal is missed; outside the main thread (an embedding application) signals
    stay with the host and this returns at once."""
    try:
        receiver = anyio.open_signal_receiver(*INTERRUPTS, *FORWARDED)
        signals = receiver.__enter__()
    except (NotImplementedError, RuntimeError, ValueError):
        task_status.started()
        return
    interrupts = 0
    try:
        task_status.started()
        async for signum in signals:
            if signum in INTERRUPTS:
                interrupts += 1
                on_interrupt(interrupts)
            else:
                on_forward(signum)
    finally:
        receiver.__exit__(None, None, None)
