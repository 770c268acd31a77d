"""The note a running `roar server` leaves for the user's other roar commands.

While it serves, ``$XDG_STATE_HOME/roar/server.json`` holds its URL and process id; `roar
register` and `roar reproduce HASH` use it when neither ``GLAAS_URL`` nor ``glaas.url`` names a
registry. A note whose process is gone is ignored, so a crash never leaves roar pointing nowhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def note_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "roar" / "server.json"


def announce(url: str) -> Path:
    path = note_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(temp, path)
    return path


def withdraw() -> None:
    """Remove the note if it is this process's."""
    path = note_path()
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def running_server() -> str | None:
    try:
        note = json.loads(note_path().read_text())
        pid, url = int(note["pid"]), str(note["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return url.rstrip("/")
