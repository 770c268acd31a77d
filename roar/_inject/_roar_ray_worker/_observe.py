"""What the running task opens, renames and removes, seen by a Python audit hook.

Why an audit hook (``sys.addaudithook``) rather than LD_PRELOAD: the workers are not children of
the traced command, and roar's preload tracer and its decoder are compiled parts of roar that need
not exist on the cluster, while an audit hook needs nothing but the interpreter. It sees every open
made through Python (``builtins.open``, ``io``, ``os.open``, ``pathlib``, ``shutil``, and the
libraries that write through Python file objects) with its mode, so a read and a write are told
apart as the program asked for them, not guessed. Python processes the task starts are observed
the same way (``child/sitecustomize.py``). Not seen: files a C extension or a non-Python program
opens with libc directly.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import _noise
from ._record import TaskRecord

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_state = threading.local()  # .busy: the hook is running (its own opens are not the task's)
_current: TaskRecord | None = None
_installed = False


def current() -> TaskRecord | None:
    return _current


def begin(record: TaskRecord) -> TaskRecord | None:
    """From now on, the accesses of this process are ``record``'s; returns the one before."""
    global _current
    previous, _current = _current, record
    return previous


def end(previous: TaskRecord | None) -> None:
    global _current
    _current = previous


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """roar's own file accesses in this thread (hashing, sending fragments) are no task's."""
    was = getattr(_state, "busy", False)
    _state.busy = True
    try:
        yield
    finally:
        _state.busy = was


def install(workdir: str | None) -> None:
    """Install the hook once per process (audit hooks cannot be removed: it idles when no task
    runs)."""
    global _installed
    _noise.configure(workdir)
    if not _installed:
        _installed = True
        sys.addaudithook(_on_event)


def _path(raw: Any) -> str | None:
    if isinstance(raw, int):
        return None  # a file descriptor: its open was seen
    try:
        path = os.fsdecode(os.fspath(raw))
    except TypeError:
        return None
    path = os.path.abspath(path)
    return None if _noise.is_noise(path) else path


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _on_event(event: str, args: tuple[Any, ...]) -> None:
    record = _current
    if record is None or getattr(_state, "busy", False):
        return
    if event not in ("open", "os.rename", "os.remove", "os.truncate"):
        return
    _state.busy = True
    try:
        if event == "open":
            path = _path(args[0])
            if path is not None:
                if _is_write(args[1], args[2]):
                    record.wrote(path)
                else:
                    record.read(path)
        elif event == "os.rename":
            src, dst = _path(args[0]), _path(args[1])
            if dst is not None:
                record.renamed(src, dst)
        elif event == "os.remove":
            path = _path(args[0])
            if path is not None:
                record.removed(path)
        else:  # os.truncate
            path = _path(args[0])
            if path is not None:
                record.wrote(path)
    except Exception:
        pass
    finally:
        _state.busy = False
