"""The environment-read probe: what a traced Python program read from ``os.environ``.

roar puts a small ``sitecustomize`` (``roar/_inject``) on the command's ``PYTHONPATH``; it logs
each variable a process reads, with the value it saw, under the job's scratch directory. This
module sets that up for a command (:func:`probe_env`) and reads the logs back, merged with what
the preload shim saw C programs look up with ``getenv`` (:func:`env_vars_read`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

from roar.core.context import RoarContext
from roar.recording.secrets import REDACTED, redact_env

INJECT_DIR = str(Path(__file__).resolve().parent.parent / "_inject")


def probe_env(ctx: RoarContext, job_uid: str, env_log: Path) -> dict[str, str]:
    """The command's environment: the user's, the project's ``[env]``, the job's identity and
    the probe."""
    env = dict(os.environ)
    env.update(ctx.config.env)
    env["ROAR_JOB_ID"] = job_uid
    env["ROAR_PROJECT_DIR"] = str(ctx.project.root)
    # The environment-read probe for Python programs (roar/_inject/sitecustomize.py).
    env["ROAR_ENV_LOG"] = str(env_log)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (INJECT_DIR, env.get("PYTHONPATH")) if p)
    return env


# Variables roar itself set or changed for the command: not the program's to read.
_HIDDEN_ENV = frozenset({"PYTHONPATH", "LD_PRELOAD"})  # the Python probe / the preload shim


def env_vars_read(
    env_log: Path,
    launched_with: Mapping[str, str],
    looked_up: Mapping[str, str] | None = None,
    cut: Collection[str] = (),
) -> dict[str, str | None]:
    """Variables the job read: name -> value it saw (None: unset; secret-looking names and values
    hidden).

    Two sources. Python code's reads through ``os.environ``: roar's probe
    (``roar/_inject/sitecustomize.py``) logs each under ``env_log`` with the value the process
    saw at its first read (``python_env_reads``); a name logged without a value falls back to
    the environment roar launched (``launched_with``). And ``looked_up``: what any dynamically
    linked program found with C ``getenv`` (ENV records, preload backend only), set variables
    only, with the value the process saw. Where both saw a value, getenv's (the first process's)
    is kept. ``cut`` names those whose value was cut to fit a record: the launched value is used
    when it starts with the cut one, else the cut value is kept.
    """
    values: dict[str, str | None] = {}
    for name, (state, value) in python_env_reads(env_log).items():
        if state == "seen":
            values[name] = value
        elif state == "withheld":
            values[name] = REDACTED  # set, and a credential by its name
        else:
            values[name] = launched_with.get(name)
    for name, value in (looked_up or {}).items():
        launched = launched_with.get(name)
        if name in cut and launched is not None and launched.startswith(value):
            value = launched
        values[name] = value
    return {
        _text(n): None if v is None else redact_env({n: _text(v)})[n]
        for n, v in sorted(values.items())
        if n not in _HIDDEN_ENV and not n.startswith("ROAR_")
    }


def env_vars_launched(
    read: Mapping[str, str | None], launched_with: Mapping[str, str]
) -> dict[str, str | None]:
    """For each variable the job read, the value roar launched the command with (None: unset),
    credentials hidden as in ``env_vars_read``."""
    return {
        name: None
        if launched_with.get(name) is None
        else redact_env({name: _text(launched_with[name])})[name]
        for name in read
    }


def python_env_reads(env_log: Path) -> dict[str, tuple[str, str | None]]:
    """The probe's logs: name -> ("seen", value), ("unset", None) or ("withheld", None) -- a
    credential-looking variable that was set, whose value the probe never writes down. The first
    process to log a name wins (logs are read in pid order, which is start order but for wraps)."""
    reads: dict[str, tuple[str, str | None]] = {}
    try:
        entries = sorted(os.scandir(env_log), key=lambda e: (len(e.name), e.name))
    except OSError:
        return reads
    for entry in entries:
        try:
            with open(entry.path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        for record in data.split(b"\0"):
            if not record:
                continue
            name, sep, value = record.partition(b"=")
            if sep:
                parsed: tuple[str, str | None] = ("seen", os.fsdecode(value))
            elif name.endswith(b"\x01"):
                name, parsed = name[:-1], ("withheld", None)
            else:
                parsed = ("unset", None)
            reads.setdefault(os.fsdecode(name), parsed)
    return reads


def _text(value: str) -> str:
    """``value`` storable as JSON: bytes that were not UTF-8 (surrogate escapes) become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
