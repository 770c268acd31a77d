"""Choosing a tracer backend: the configured default, an explicit choice, or ``auto``."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from roar.core.config import Config
from roar.errors import TracerError, UsageError
from roar.tracing._ebpf_selftest import SelfTest
from roar.tracing.base import Availability, Backend
from roar.tracing.ebpf import EbpfBackend
from roar.tracing.preload import PreloadBackend
from roar.tracing.programs import inspect_program, preload_obstacle
from roar.tracing.ptrace import PtraceBackend

KNOWN = ("ptrace", "preload", "ebpf")
# eBPF first: it sees every program (static, setuid) at the lowest cost, and it is only usable
# once its self-test traced a real open on this machine.
AUTO_ORDER = ("ebpf", "preload", "ptrace")


def backends(*, fresh_self_test: bool = False) -> dict[str, Backend]:
    """Every backend; ``fresh_self_test`` makes eBPF test itself again rather than trust the
    answer kept from an earlier test in this boot."""
    return {
        "ptrace": PtraceBackend(),
        "preload": PreloadBackend(),
        "ebpf": EbpfBackend(fresh_self_test=fresh_self_test),
    }


def preload_blind_spot(
    argv: Sequence[str] | None, env: Mapping[str, str] | None, cwd: Path | None
) -> str | None:
    """Why the preload shim could not see the command ``argv`` (a static or setuid/setgid
    program, possibly behind a ``#!`` line), or None. Reads the program's first bytes."""
    if not argv:
        return None
    path_env = env.get("PATH") if env is not None else None
    program = inspect_program(argv[0], path_env=path_env, cwd=cwd)
    return preload_obstacle(program) if program is not None else None


@dataclass(frozen=True, slots=True)
class BackendReport:
    """What `roar tracer status` says of one backend."""

    status: Availability
    notes: list[str]
    self_test: SelfTest | None  # eBPF only: the test behind its verdict


def statuses(*, fresh_self_test: bool = False) -> list[BackendReport]:
    """Each known backend's availability, with the notes it adds (the eBPF self-test)."""
    built = backends(fresh_self_test=fresh_self_test)
    result = []
    for name in KNOWN:
        backend = built[name]
        status = backend.availability()
        if isinstance(backend, EbpfBackend):
            result.append(BackendReport(status, backend.notes(), backend.last_self_test))
        else:
            result.append(BackendReport(status, [], None))
    return result


def choose_backend(
    config: Config,
    requested: str | None = None,
    *,
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Backend:
    """The backend to trace with; a one-line error when none can run.

    With ``argv`` (and the ``env``/``cwd`` it will run with), ``auto`` looks at the program first:
    preload cannot see inside a static or setuid/setgid program, so such a command is traced with
    ptrace, and one line on stderr says so.
    """
    name = requested or config.get_str("tracer.default") or "auto"
    built = backends()
    if (
        requested is None
        and name in built
        and config.get_bool("tracer.fallback_enabled")
        and not (status := built[name].availability()).usable
    ):
        # A configured default that cannot run here falls through to what can (an explicit
        # --tracer is honoured or refused, never swapped).
        _notice(f"the {name} tracer cannot run here ({status.reason}); choosing another")
        name = "auto"
    if name == "auto":
        reasons = []
        blind_spot: str | None = None
        for candidate in AUTO_ORDER:
            backend = built[candidate]
            status = backend.availability()
            if not status.usable:
                reasons.append(f"{candidate}: {status.reason}")
                continue
            if candidate == "preload" and argv:
                blind_spot = preload_blind_spot(argv, env, cwd)
                if blind_spot is not None:
                    continue
            if blind_spot is not None:
                _notice(f"{blind_spot}; tracing with {candidate} instead of preload")
            return backend
        if blind_spot is not None:
            # Nothing else can run: preload still sees the rest of the tree.
            _notice(f"{blind_spot}; the preload tracer cannot see inside it")
            return built["preload"]
        raise TracerError("no usable tracer backend (" + "; ".join(reasons) + ")")
    if name not in KNOWN:
        raise UsageError(f"unknown tracer backend {name!r} (choose from auto, {', '.join(KNOWN)})")
    chosen = built[name]
    status = chosen.availability()
    if not status.usable:
        raise TracerError(f"the {name} tracer cannot run here: {status.reason}")
    if name == "preload" and argv:
        blind_spot = preload_blind_spot(argv, env, cwd)
        if blind_spot is not None:
            _notice(f"{blind_spot}; the preload tracer cannot see inside it (use ptrace)")
    return chosen


def _notice(message: str) -> None:
    sys.stderr.write(f"roar: {message}\n")
    sys.stderr.flush()
