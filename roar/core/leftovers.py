"""What a killed roar leaves behind, and removing it on the next run.

A ``roar run`` holds scratch space while the command runs: `.roar/tmp/<job>/` (snapshots, the
environment log), the preload tracer's socket directory (`/tmp/roar-preload-<owner>-*`) and its
snapshot table (`/dev/shm/roar-preload-snap-<owner>-*`, 16 MiB). A normal exit removes them; a
``kill -9`` cannot. Each is therefore named or marked with its *owner*: the pid and the kernel's
start time of the roar process, so a recycled pid never makes a live run's files look dead. The
next run removes only what belongs to owners that are gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

OWNER_FILE = "owner"
PRELOAD_PREFIX = "roar-preload-"
SNAPSHOT_PREFIX = "roar-preload-snap-"
# A scratch directory from a roar that predates owner files is removed once it is this old.
_UNMARKED_GRACE_SECONDS = 600.0
_OWNER = re.compile(r"(\d+)\.(\d+)")


def _start_time(pid: int) -> str | None:
    """The start time (clock ticks since boot) of ``pid``, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def owner_token(pid: int | None = None) -> str:
    """``<pid>.<start time>`` of this process (or ``pid``): unique for the life of the system."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{_start_time(pid) or 0}"


def is_alive(token: str) -> bool:
    """Whether the process a token names still runs (an unreadable token counts as alive)."""
    match = _OWNER.fullmatch(token)
    if match is None:
        return True
    return _start_time(int(match.group(1))) == match.group(2)


def mark_owner(directory: Path) -> None:
    """Mark a scratch directory as this process's."""
    (directory / OWNER_FILE).write_text(owner_token())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _dead_scratch(tmp_dir: Path, now: float) -> list[Path]:
    dead = []
    with contextlib.suppress(OSError):
        for entry in tmp_dir.iterdir():
            try:
                token = (entry / OWNER_FILE).read_text().strip()
            except FileNotFoundError:
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _UNMARKED_GRACE_SECONDS:
                        dead.append(entry)
                continue
            except OSError:
                continue
            if not is_alive(token):
                dead.append(entry)
    return dead


def _dead_named(directory: Path, prefix: str) -> list[Path]:
    """Entries ``<prefix><owner>-*`` in ``directory`` that belong to this user and a dead owner."""
    dead = []
    uid = os.getuid()
    with contextlib.suppress(OSError):
        for entry in directory.iterdir():
            name = entry.name
            if not name.startswith(prefix):
                continue
            token = name[len(prefix) :].partition("-")[0]
            if not _OWNER.fullmatch(token) or is_alive(token):
                continue
            with contextlib.suppress(OSError):
                if entry.lstat().st_uid == uid:
                    dead.append(entry)
    return dead


def sweep(roar_tmp: Path) -> int:
    """Remove what dead roar processes left in ``roar_tmp`` (a project's `.roar/tmp`), `/tmp` and
    `/dev/shm`; return how many entries went."""
    now = time.time()
    found = _dead_scratch(roar_tmp, now)
    temp_dirs = list(dict.fromkeys((Path(tempfile.gettempdir()), Path("/tmp"))))
    for directory in temp_dirs:
        found += [
            p for p in _dead_named(directory, PRELOAD_PREFIX)
            if not p.name.startswith(SNAPSHOT_PREFIX)
        ]  # fmt: skip
    for directory in (Path("/dev/shm"), *temp_dirs):
        found += _dead_named(directory, SNAPSHOT_PREFIX)
    for path in found:
        _remove(path)
    return len(found)
