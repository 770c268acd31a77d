"""Which program a replayed step runs: the recorded virtual environment's interpreter and
scripts are swapped for the rebuilt environment's (pure functions).

A step recorded as ``/home/u/proj/.venv/bin/python train.py`` (or ``.venv/bin/mytool``, a
console script of that venv) would otherwise run the original environment, or fail with 127 when
it is gone. The rule: an absolute ``argv[0]`` in a ``bin/`` directory outside the system's own
prefixes is a virtual environment's program; an interpreter maps to the rebuilt venv's
``python``, a script to the rebuilt venv's script of the same name when it has one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from roar.tracing.programs import is_python_program

# bin/ directories of the system itself: their programs are the machine's, not a venv's.
SYSTEM_PREFIXES = ("/usr", "/usr/local", "/", "")


def venv_program(argv0: str) -> bool:
    """Whether ``argv0`` looks like a program of a virtual environment (``<prefix>/bin/x``)."""
    if not os.path.isabs(argv0):
        return False
    bin_dir = os.path.dirname(argv0)
    return os.path.basename(bin_dir) == "bin" and os.path.dirname(bin_dir) not in SYSTEM_PREFIXES


def rebuilt_program(
    argv0: str, venv_bin: str, exists: Callable[[str], bool] = os.path.exists
) -> str | None:
    """The rebuilt environment's program for a recorded ``argv0``, or None to run it as is."""
    if not venv_program(argv0):
        return None
    name = os.path.basename(argv0)
    if is_python_program(argv0):
        candidate = os.path.join(venv_bin, name)
        return candidate if exists(candidate) else os.path.join(venv_bin, "python")
    candidate = os.path.join(venv_bin, name)
    return candidate if exists(candidate) else None


def replay_argv(
    argv: Sequence[str], venv_bin: str | None, exists: Callable[[str], bool] = os.path.exists
) -> list[str]:
    """``argv`` as the replay runs it: argv[0] in the rebuilt environment where it maps."""
    if not argv or venv_bin is None:
        return list(argv)
    mapped = rebuilt_program(argv[0], venv_bin, exists)
    return [mapped, *argv[1:]] if mapped else list(argv)


def interpreter_note(argv: Sequence[str]) -> str | None:
    """For the preview: what a step's program becomes in the replay, or None if unchanged."""
    if not argv or not venv_program(argv[0]):
        return None
    name = os.path.basename(argv[0])
    target = "python" if is_python_program(argv[0]) else name
    return f"runs the rebuilt environment's {target} (recorded {argv[0]})"
