"""Finding the recorded Python on this machine: the exact version, else the same minor.

Looked for in order: the interpreter running roar, ``python3.X``/``python3``/``python`` on PATH,
and pyenv's ``~/.pyenv/versions/*/bin/python`` (``$PYENV_ROOT`` honoured). Candidates are asked
for their version in parallel, each with a short time limit.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec

from roar.errors import UsageError

_NAME = re.compile(r"python(3(\.\d+)?)?$")
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
PROBE_SECONDS = 10.0


class Interpreter(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    version: str
    exact: bool  # the recorded version exactly (else the same minor, or chosen by the user)


def _key(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if match is None:
        return (0, 0, 0)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def pick_interpreter(recorded: str, found: Sequence[tuple[str, str]]) -> Interpreter | None:
    """From (path, version) pairs, the first with the recorded version, else the newest with the
    same major.minor; None when neither exists."""
    for path, version in found:
        if version == recorded:
            return Interpreter(path=path, version=version, exact=True)
    minor = _key(recorded)[:2]
    same = [(p, v) for p, v in found if _key(v)[:2] == minor]
    if not same:
        return None
    path, version = max(same, key=lambda pv: _key(pv[1]))
    return Interpreter(path=path, version=version, exact=False)


def candidate_paths(path_env: str, pyenv_root: Path) -> list[str]:
    """Executables that may be Pythons, in search order, without duplicates."""
    found: list[str] = []
    for directory in path_env.split(os.pathsep):
        try:
            names = sorted(os.listdir(directory or "."), reverse=True)
        except OSError:
            continue
        for name in names:
            candidate = os.path.join(directory or ".", name)
            if _NAME.fullmatch(name) and os.access(candidate, os.X_OK):
                found.append(candidate)
    for exe in sorted(pyenv_root.glob("versions/*/bin/python"), reverse=True):
        found.append(str(exe))
    return list(dict.fromkeys(found))


async def probe(executable: str) -> str | None:
    """The version an interpreter reports, or None if it does not run (pyenv shims of versions
    not selected, broken links)."""
    code = "import platform; print(platform.python_version())"
    try:
        with anyio.fail_after(PROBE_SECONDS):
            result = await anyio.run_process(
                [executable, "-I", "-c", code],
                check=False,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    except (OSError, TimeoutError):
        return None
    if result.returncode != 0:
        return None
    version = result.stdout.decode(errors="replace").strip()
    return version if _VERSION.fullmatch(version) else None


async def find_python(recorded: str | None, explicit: str | None = None) -> Interpreter:
    """The interpreter to create the virtual environment with."""
    if explicit is not None:
        version = await probe(explicit)
        if version is None:
            raise UsageError(f"--python {explicit}: not a working Python interpreter")
        return Interpreter(path=explicit, version=version, exact=version == recorded)
    current = platform.python_version()
    if recorded is None or current == recorded:
        return Interpreter(path=sys.executable, version=current, exact=recorded is not None)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    paths = candidate_paths(os.environ.get("PATH", os.defpath), pyenv_root)
    versions: dict[str, str | None] = {}

    async def ask(path: str) -> None:
        versions[path] = await probe(path)

    async with anyio.create_task_group() as tg:
        for path in paths:
            tg.start_soon(ask, path)
    found = [(sys.executable, current)]
    found += [(p, v) for p in paths if (v := versions.get(p))]
    chosen = pick_interpreter(recorded, found)
    if chosen is None:
        raise UsageError(
            f"Python {recorded} is not installed (looked on PATH and in {pyenv_root}/versions): "
            f"install it (e.g. 'pyenv install {recorded}') or pass --python EXE"
        )
    return chosen
