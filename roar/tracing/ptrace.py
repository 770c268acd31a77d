"""The ptrace backend: ``roar-ptrace`` (C, ``ext/ptrace``) runs the command and streams events.

The tracer writes wire records to a pipe whose read end this process owns; the loop decodes them in
batches as they arrive. Signals follow system(3): Ctrl-C and Ctrl-\\ reach the traced command from
the terminal directly and roar waits for it to finish, so the job is still recorded; SIGTERM and
SIGHUP sent to roar are forwarded; a second Ctrl-C kills the whole traced tree (the tracer runs
with PTRACE_O_EXITKILL, so killing it kills every tracee).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from anyio.abc import Process

from roar.errors import TracerError
from roar.tracing._native import pump_events, run_tracer_program, skip_read_options
from roar.tracing.base import (
    SKIP_NOTHING,
    Availability,
    EventSink,
    SkipReads,
    TraceOutcome,
    native_binary,
)

__all__ = ("PtraceBackend", "pump_events", "skip_read_options")


def _ptrace_scope() -> int:
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip())
    except (OSError, ValueError):
        return 0


def _kill_tracer(process: Process) -> None:
    process.kill()  # EXITKILL: the kernel kills every tracee with the tracer


class PtraceBackend:
    name = "ptrace"

    def __init__(self, binary: Path | None = None) -> None:
        self.binary = binary or native_binary("roar-ptrace")

    def availability(self) -> Availability:
        location = str(self.binary)
        if not os.access(self.binary, os.X_OK):
            return Availability(
                self.name, False, False, f"{location} is missing (reinstall roar)", location
            )
        if _ptrace_scope() >= 3:
            return Availability(
                self.name,
                True,
                False,
                "ptrace is disabled (kernel.yama.ptrace_scope = 3)",
                location,
            )
        return Availability(self.name, True, True, None, location)

    async def trace(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        sink: EventSink,
        snapshot_dir: Path | None = None,
        skip_reads: SkipReads = SKIP_NOTHING,
    ) -> TraceOutcome:
        available = self.availability()
        if not available.usable:
            raise TracerError(f"the ptrace tracer cannot run: {available.reason}")
        return await run_tracer_program(
            self.name, self.binary, [], argv, env=env, cwd=cwd, sink=sink,
            abort=_kill_tracer, snapshot_dir=snapshot_dir, skip_reads=skip_reads,
        )  # fmt: skip
