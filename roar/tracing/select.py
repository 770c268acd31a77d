"""Choosing a tracer backend: the configured default, an explicit choice, or ``auto``."""

from __future__ import annotations

from roar.core.config import Config
from roar.errors import TracerError, UsageError
from roar.tracing.base import Availability, Backend
from roar.tracing.ptrace import PtraceBackend

KNOWN = ("ptrace", "preload", "ebpf")
AUTO_ORDER = ("ptrace",)


def backends() -> dict[str, Backend]:
    return {"ptrace": PtraceBackend()}


def statuses() -> list[Availability]:
    built = backends()
    result = []
    for name in KNOWN:
        backend = built.get(name)
        if backend is None:
            result.append(Availability(name, False, False, "not built yet"))
        else:
            result.append(backend.availability())
    return result


def choose_backend(config: Config, requested: str | None = None) -> Backend:
    """The backend to trace with; a one-line error when none can run."""
    name = requested or config.get_str("tracer.default") or "auto"
    built = backends()
    if name == "auto":
        reasons = []
        for candidate in AUTO_ORDER:
            backend = built[candidate]
            status = backend.availability()
            if status.usable:
                return backend
            reasons.append(f"{candidate}: {status.reason}")
        raise TracerError("no usable tracer backend (" + "; ".join(reasons) + ")")
    if name not in KNOWN:
        raise UsageError(f"unknown tracer backend {name!r} (choose from auto, {', '.join(KNOWN)})")
    chosen = built.get(name)
    if chosen is None:
        raise TracerError(f"the {name} tracer backend is not built yet; use ptrace or auto")
    status = chosen.availability()
    if not status.usable:
        raise TracerError(f"the {name} tracer cannot run here: {status.reason}")
    return chosen
