"""Running a tracer program (``roar-ptrace``, ``roar-ebpf``) and reading its event stream.

Both launch the command themselves and write wire records to a pipe whose read end this process
owns; the loop decodes them in batches as they arrive. Signals follow system(3): Ctrl-C and
Ctrl-\\ reach the traced command from the terminal directly and roar waits for it to finish, so
the job is still recorded; SIGTERM and SIGHUP sent to roar are forwarded (the tracer passes them to
the command); a second Ctrl-C aborts the whole traced tree, in the way each tracer says.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import anyio
from anyio.abc import Process

from roar.errors import TracerError
from roar.tracing._launch import launched, parent_pid
from roar.tracing.base import SKIP_NOTHING, EventSink, SkipReads, TraceOutcome
from roar.tracing.decoder import Decoder
from roar.tracing.wire import EVK_END, WireFormatError

PIPE_SIZE = 1 << 20
READ_SIZE = 1 << 20
COALESCE_MIN_SECONDS = 0.001
COALESCE_MAX_SECONDS = 0.02
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

Abort = Callable[[Process], None]


async def pump_events(read_fd: int, sink: EventSink) -> None:
    """Decode everything written to ``read_fd`` (non-blocking) until end of file."""
    decoder = Decoder()
    delay = COALESCE_MIN_SECONDS
    while True:
        try:
            data = os.read(read_fd, READ_SIZE)
        except BlockingIOError:
            delay = COALESCE_MIN_SECONDS  # a quiet stream: answer the next record at once
            await anyio.wait_readable(read_fd)
            continue
        if not data:
            break
        batch = decoder.feed(data)
        if batch:
            sink(batch)
        if len(data) < READ_SIZE and not (batch and batch[-1].kind == EVK_END):
            # The tracer flushes whenever it would block, often one record at a time. Letting
            # records pile up in the (1 MiB) pipe for a moment turns thousands of wake-ups into
            # a few large batches; the traced program never waits for roar meanwhile, and roar's
            # wake-ups stop competing with the tracer for the CPUs. The pause grows while
            # records keep coming (500 short processes: 3.3x -> 2.5x the bare run with 20 ms
            # instead of 2 ms) and starts small, so a short command's end is not held up.
            # After END only end of file can follow.
            await anyio.sleep(delay)
            delay = min(delay * 2, COALESCE_MAX_SECONDS)
    if decoder.pending:
        raise WireFormatError("the event stream ended inside a record")


def skip_read_options(skip_reads: SkipReads) -> list[str]:
    """A tracer program's options for ``skip_reads`` (none when it skips nothing)."""
    prefixes = [p for p in skip_reads.under if p.startswith("/")]
    if not prefixes:
        return []
    options: list[str] = []
    for option, values in (
        ("--skip-reads-under", prefixes),
        ("--keep-reads-under", [p for p in skip_reads.keep_under if p.startswith("/")]),
        ("--keep-reads-containing", [s for s in skip_reads.keep_containing if s]),
    ):
        for value in values:
            options += [option, value]
    return options


class _SignalState:
    """Shared with the relay task, which starts before the process so no signal is missed."""

    def __init__(self, abort: Abort) -> None:
        self.process: Process | None = None
        self.aborted = False
        self.abort = abort


def _on_interrupt(state: _SignalState, count: int) -> None:
    process = state.process
    if count >= 2 and process is not None and process.returncode is None:
        state.aborted = True
        state.abort(process)


def _on_forward(state: _SignalState, signum: int) -> None:
    process = state.process
    if process is not None and process.returncode is None:
        process.send_signal(signal.Signals(signum))  # the tracer passes it to the root


async def run_tracer_program(
    name: str,
    binary: Path,
    options: Sequence[str],
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    sink: EventSink,
    abort: Abort,
    snapshot_dir: Path | None = None,
    skip_reads: SkipReads = SKIP_NOTHING,
) -> TraceOutcome:
    """Run ``binary --event-fd N --parent-pid P OPTIONS -- ARGV`` and feed its records to
    ``sink`` until it closes the pipe; ``abort`` ends the traced tree on a second Ctrl-C.

    ``snapshot_dir`` and ``skip_reads`` become the options every tracer program takes for them
    (``ext/tracer_cli.h``); ``options`` are the program's own."""
    snapshots = ["--snapshot-dir", str(snapshot_dir)] if snapshot_dir is not None else []
    options = [*options, *snapshots, *skip_read_options(skip_reads)]
    read_fd, write_fd = os.pipe()
    state = _SignalState(abort)
    try:
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(read_fd, False)
        # The tracer dies with roar (PR_SET_PDEATHSIG) rather than trace into a dead pipe.
        command = [str(binary), "--event-fd", str(write_fd), "--parent-pid", str(parent_pid())]
        command += [*options, "--", *argv]
        started = False
        try:
            async with launched(
                command,
                env=env,
                cwd=cwd,
                on_interrupt=functools.partial(_on_interrupt, state),
                on_forward=functools.partial(_on_forward, state),
                # Cancelled from outside, or the stream broke: nothing would be recorded.
                on_abandon=lambda process: process.kill(),
                pass_fds=(write_fd,),
            ) as process:
                started = True
                os.close(write_fd)
                write_fd = -1
                state.process = process
                try:
                    await pump_events(read_fd, sink)
                except WireFormatError as exc:
                    raise TracerError(
                        f"the {name} tracer's event stream is damaged: {exc}"
                    ) from exc
        except OSError as exc:
            if started:
                raise
            raise TracerError(f"cannot start {binary}: {exc.strerror}") from exc
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    return TraceOutcome(
        wait_status=None,
        tracer_exit_code=process.returncode if process.returncode is not None else 1,
        completed=False,
        interrupted=state.aborted,
    )
