"""The eBPF backend: ``roar-ebpf`` (C, ``ext/ebpf``) runs the command while BPF programs in the
kernel report its process tree's syscalls, and streams the same wire records as ``roar-ptrace``.

Unlike ptrace, the traced processes never stop for the tracer (except, with snapshots, at calls
that would destroy a file the job read): the kernel half copies what a syscall did into a ring
buffer and the loader turns it into records. It needs root (or CAP_BPF and CAP_PERFMON) and a
kernel with BTF; whether it works here is decided by a self-test
(:mod:`roar.tracing._ebpf_selftest`), never assumed. A second Ctrl-C makes the loader kill every
process of the traced tree (SIGUSR1).

``ROAR_EBPF_OBJECT`` names another BPF object than the one installed next to the loader, and
``ROAR_EBPF_RING_BYTES`` another ring buffer size (a power of two): tests use both.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from anyio.abc import Process

from roar.errors import TracerError
from roar.tracing._ebpf_selftest import SelfTest, self_test
from roar.tracing._native import run_tracer_program
from roar.tracing.base import (
    SKIP_NOTHING,
    Availability,
    EventSink,
    SkipReads,
    TraceOutcome,
    native_binary,
)

__all__ = ("EbpfBackend",)

OBJECT_NAME = "roar-ebpf.bpf.o"


def _tracefs_note() -> str:
    mounted = any(
        line.split()[2:3] == ["tracefs"]
        for line in Path("/proc/self/mounts").read_text().splitlines()
    )
    state = "mounted" if mounted else "not mounted"
    return f"tracefs is {state}; roar-ebpf does not need it (raw tracepoints attach by name)"


def _ring_bytes(value: str) -> str:
    """ROAR_EBPF_RING_BYTES checked before the loader refuses it less plainly."""
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 4096 or size & (size - 1):
        raise TracerError(
            f"ROAR_EBPF_RING_BYTES={value}: the ring buffer size must be a power of two, "
            "at least 4096"
        )
    return str(size)


def _abort_tree(process: Process) -> None:
    process.send_signal(signal.SIGUSR1)  # the loader kills every process of the traced tree


class EbpfBackend:
    name = "ebpf"

    def __init__(self, binary: Path | None = None, *, fresh_self_test: bool = False) -> None:
        self.binary = binary or native_binary("roar-ebpf")
        override = os.environ.get("ROAR_EBPF_OBJECT")
        self.bpf_object = Path(override) if override else self.binary.parent / OBJECT_NAME
        self.fresh_self_test = fresh_self_test
        self.last_self_test: SelfTest | None = None

    def availability(self) -> Availability:
        location = str(self.binary)
        if not os.access(self.binary, os.X_OK):
            return Availability(
                self.name,
                False,
                False,
                f"{location} is missing (it is built when clang, bpftool and libbpf-dev are "
                "installed: reinstall roar after installing them)",
                location,
            )
        if not self.bpf_object.is_file():
            return Availability(
                self.name, True, False, f"the BPF object {self.bpf_object} is missing", location
            )
        result = self_test(self.binary, self.bpf_object, use_cache=not self.fresh_self_test)
        self.last_self_test = result
        if not result.passed:
            reason = f"self-test failed: {result.detail}"
            return Availability(self.name, True, False, reason, location)
        return Availability(self.name, True, True, None, location)

    def notes(self) -> list[str]:
        """What ``roar tracer status`` says besides usable or not (a failed self-test is the
        reason already)."""
        notes = [_tracefs_note()]
        test = self.last_self_test
        if test is not None and test.passed:
            when = " (kept from an earlier test this boot)" if test.cached else ""
            notes.insert(0, f"self-test passed{when}: {test.detail}")
        return notes

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
            raise TracerError(f"the ebpf tracer cannot run: {available.reason}")
        options = ["--bpf-object", str(self.bpf_object)]
        ring_bytes = os.environ.get("ROAR_EBPF_RING_BYTES")
        if ring_bytes:
            options += ["--ring-bytes", _ring_bytes(ring_bytes)]
        return await run_tracer_program(
            self.name, self.binary, options, argv, env=env, cwd=cwd, sink=sink,
            abort=_abort_tree, snapshot_dir=snapshot_dir, skip_reads=skip_reads,
        )  # fmt: skip
